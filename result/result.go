// Package result writes a run's result folder: result.json (versioned:
// the scenario as run, versions, timings, chaos events, every assertion
// with its query, value, bound, verdict and the series behind it) and
// junit.xml for CI (one test case per assertion). The k6 summary and pod
// logs are written beside them by the run.
package result

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/objects"
	"github.com/perfrun/perfrun/scenario"
)

// SchemaVersion is result.json's schema; readers check it.
const SchemaVersion = "perfrun.dev/result/v1"

// File names in a result folder.
const (
	ResultFile  = "result.json"
	JUnitFile   = "junit.xml"
	K6Summary   = "k6-summary.json"
	PodLogsDir  = "pod-logs"
	ScenarioOut = "scenario.yaml"
)

// Verdicts of a run.
const (
	VerdictPass  = "pass"
	VerdictFail  = "fail"  // an assertion failed (exit 3)
	VerdictError = "error" // the harness could not finish or decide (exit 1)
)

// Run is result.json: the result of one run.
type Run struct {
	SchemaVersion string             `json:"schemaVersion"`
	RunID         string             `json:"runID"`
	ScenarioFile  string             `json:"scenarioFile,omitempty"`
	Scenario      *scenario.Scenario `json:"scenario"`
	// Versions: perfrun, k6, the images of each component.
	Versions  map[string]string `json:"versions,omitempty"`
	Provider  string            `json:"provider,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	TestID    string            `json:"testid,omitempty"`

	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Phase is how far the run got: result.json is written when the run
	// starts and again as each phase begins (PhaseCluster … PhaseTeardown),
	// so that a run killed by anything, SIGKILL included, leaves a folder
	// that says where it stopped. PhaseDone once it is complete. Results
	// written before perfrun recorded phases have none.
	Phase string `json:"phase,omitempty"`
	// Complete is false until the run's last write. An incomplete run has
	// no verdict (Verdict stays ""), so compare and report treat it as
	// undecided.
	Complete bool   `json:"complete"`
	Steps    []Step `json:"steps"`
	// The load window and the end of the drain: what {{.start}}, {{.end}}
	// and {{.drained}} were.
	LoadStart time.Time `json:"loadStart,omitzero"`
	LoadEnd   time.Time `json:"loadEnd,omitzero"`
	Drained   time.Time `json:"drained,omitzero"`

	Chaos []Event `json:"chaos,omitempty"`
	// Restarts are the containers in the run's namespace that restarted;
	// their previous logs are in pod-logs/.
	Restarts   []Restart           `json:"restarts,omitempty"`
	Assertions []assertions.Result `json:"assertions"`
	Verdict    string              `json:"verdict"`
	// Error is the harness error that ended or spoiled the run.
	Error string `json:"error,omitempty"`
	// TeardownError is what teardown could not remove (the namespace still
	// terminating, a cluster-scoped object left). The verdict is still the
	// system's: the figures were taken before teardown; but perfrun exits 1
	// when the run would otherwise pass, and `perfrun clean` removes what is
	// left.
	TeardownError string `json:"teardownError,omitempty"`

	// Timeseries are range queries collected over the run for the report's
	// plots (throughput, latency percentiles, per-pod reconciles and
	// buckets, queue depth); report.Collect fills them.
	Timeseries []Timeseries `json:"timeseries,omitempty"`

	// Leases is who held the namespace's Leases over the run (leases.json
	// has every span; objects.go).
	Leases *objects.LeaseSummary `json:"leases,omitempty"`

	// Inputs are what the run's figures depend on beside the system's own
	// code, so that compare can tell whether two runs are comparable. nil
	// in results written before perfrun recorded them.
	Inputs *Inputs `json:"inputs,omitempty"`
}

// Inputs are what a run was given: the scenario file as written, the
// values its ${NAME} references took, what each workload was deployed
// with and the perfrun that ran it. The load's env as k6 got it is the
// scenario's spec.load.env (Scenario is recorded after substitution).
type Inputs struct {
	// ScenarioDigest is "sha256:HEX" of the scenario file's bytes, before
	// ${NAME} substitution ("" when there was no file to read).
	ScenarioDigest string `json:"scenarioDigest,omitempty"`
	// Vars are the ${NAME} references of the file as resolved: the --set
	// value, or the reference's default. A --set the file does not
	// reference changed nothing and is not listed.
	Vars map[string]string `json:"vars,omitempty"`
	// Components are the rendered Deployments and StatefulSets as they
	// were deployed (the overlay with spec.system.components applied),
	// before any chaos action changed them.
	Components map[string]Component `json:"components,omitempty"`
	// Perfrun is the version of perfrun that ran it (its module version or
	// VCS revision, "+dirty" for a modified tree; "devel" when the binary
	// carries neither).
	Perfrun string `json:"perfrun,omitempty"`
}

// Component is one deployed workload.
type Component struct {
	Replicas int32 `json:"replicas"`
	// Containers by name.
	Containers map[string]Container `json:"containers,omitempty"`
}

// Container is one container of a deployed workload.
type Container struct {
	Image   string   `json:"image"`
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
}

// Timeseries is one named range query's result over the run.
type Timeseries struct {
	Name  string `json:"name"`
	Query string `json:"query,omitempty"`
	// Unit of the values: "req/s", "s", "items"...
	Unit   string              `json:"unit,omitempty"`
	Series []assertions.Series `json:"series"`
	Error  string              `json:"error,omitempty"`
}

// Restart is a container that restarted during the run. A verdict alone
// does not tell a pod that served slowly from one its liveness probe or the
// OOM killer took down; this does.
type Restart struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Count     int32  `json:"count"`
	// Reason and ExitCode of the last termination (Error, OOMKilled, ...).
	// A container killed for a failed liveness probe that shuts down
	// cleanly reads Completed, exit 0: Cause says why it was killed.
	Reason   string `json:"reason,omitempty"`
	ExitCode int32  `json:"exitCode,omitempty"`
	// Cause is the kubelet's last Killing event for the container, when
	// the cluster still holds it ("Container listener failed liveness
	// probe, will be restarted").
	Cause string `json:"cause,omitempty"`
}

// Phases of a run, in order, as Phase records them.
const (
	PhaseStart    = "start" // the folder exists, nothing touched the cluster yet
	PhaseCluster  = "cluster"
	PhaseDeploy   = "deploy"
	PhaseLoad     = "load"
	PhaseDrain    = "drain"
	PhaseEvaluate = "evaluate"
	PhaseTeardown = "teardown"
	PhaseDone     = "done"
)

// Unfinished says the run never got to its last write: it was killed, or
// is still going. Results from before phases were recorded count as
// finished.
func (r *Run) Unfinished() bool { return r.Phase != "" && !r.Complete }

// Step is one step of the run with its timing.
type Step struct {
	Name    string    `json:"name"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	Error   string    `json:"error,omitempty"`
}

// Decide sets the verdict: error if the run had a harness error or an
// assertion could not be evaluated, fail if one failed, else pass.
func (r *Run) Decide() string {
	r.Verdict = VerdictPass
	for _, a := range r.Assertions {
		switch a.Status {
		case assertions.Error:
			r.Verdict = VerdictError
		case assertions.Fail:
			if r.Verdict == VerdictPass {
				r.Verdict = VerdictFail
			}
		}
	}
	if r.Error != "" {
		r.Verdict = VerdictError
	}
	return r.Verdict
}

// Write writes result.json and junit.xml into dir (created if needed).
func Write(dir string, r *Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating result folder: %w", err)
	}
	if r.SchemaVersion == "" {
		r.SchemaVersion = SchemaVersion
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, ResultFile), append(b, '\n')); err != nil {
		return err
	}
	j, err := JUnit(r)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, JUnitFile), j)
}

// Read reads a result.json, checking its schema version.
func Read(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading result: %w", err)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: schemaVersion %q, this perfrun reads %q", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// writeAtomic writes via a temporary file so that a run interrupted while
// writing leaves the previous file or the new one, never half of one.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("writing %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// JUnit renders the result as JUnit XML: one test case per assertion, plus
// one named "run" when the harness itself failed.
func JUnit(r *Run) ([]byte, error) {
	name := "perfrun"
	if r.Scenario != nil {
		name = r.Scenario.Metadata.Name
	}
	secs := fmt.Sprintf("%.3f", r.Finished.Sub(r.Started).Seconds())
	s := junitSuite{Name: name, Time: secs, Timestamp: r.Started.UTC().Format(time.RFC3339),
		Properties: []junitProperty{{"runID", r.RunID}, {"namespace", r.Namespace}, {"verdict", r.Verdict}}}
	for _, k := range slices.Sorted(maps.Keys(r.Versions)) {
		s.Properties = append(s.Properties, junitProperty{"version." + k, r.Versions[k]})
	}
	for _, a := range r.Assertions {
		c := junitCase{Name: a.Name, Classname: "perfrun." + name + "." + a.Kind, Time: "0"}
		sep := " = " // "even = 2.25, want <= 1.5"
		if a.Stat != "" {
			sep = ": " // "k6:…: p(95) = 4.2 ms, want < 100 ms"
		}
		msg := fmt.Sprintf("%s%s%s, want %s", a.Name, sep, a.Measured(), a.Limit())
		body := a.Description
		if a.Query != "" {
			body += "\nquery: " + a.Query
		}
		switch a.Status {
		case assertions.Fail:
			c.Failure = &junitMessage{Message: msg, Type: "AssertionFailed", Body: body}
			s.Failures++
		case assertions.Error:
			c.Error = &junitMessage{Message: a.Error, Type: "EvaluationError", Body: body}
			s.Errors++
		default:
			c.SystemOut = msg
		}
		s.Cases = append(s.Cases, c)
	}
	// A harness error, a teardown that left something behind and a run
	// that never finished are each an error CI must see.
	harness := []string{r.Error}
	if r.TeardownError != "" {
		harness = append(harness, "teardown: "+r.TeardownError)
	}
	if r.Unfinished() {
		harness = append(harness, "unfinished: the run stopped in phase "+r.Phase)
	}
	for _, msg := range harness {
		if msg == "" {
			continue
		}
		s.Cases = append(s.Cases, junitCase{Name: "run", Classname: "perfrun." + name, Time: secs,
			Error: &junitMessage{Message: msg, Type: "HarnessError"}})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	out := junitSuites{Name: "perfrun", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: secs, Suites: []junitSuite{s}}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding junit: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
