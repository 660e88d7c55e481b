package result

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/scenario"
)

func sample() *Run {
	start := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	v := func(f float64) *float64 { return &f }
	return &Run{
		RunID:    "abc123",
		Scenario: &scenario.Scenario{APIVersion: scenario.APIVersion, Kind: scenario.Kind, Metadata: scenario.Metadata{Name: "smoke"}},
		Versions: map[string]string{"perfrun": "dev", "worker": "perfrun/worker:v2"},
		Started:  start, Finished: start.Add(95 * time.Second),
		Steps: []Step{{Name: "deploy", Start: start, End: start.Add(10 * time.Second), Seconds: 10}},
		Chaos: []Event{{Name: "kill", Kind: "podKill", Start: start.Add(30 * time.Second), End: start.Add(31 * time.Second), Targets: []string{"controller-1"}}},
		Assertions: []assertions.Result{
			{Name: "throughput", Kind: assertions.KindThroughput, Op: ">=", Bound: 100, Value: v(150), Status: assertions.Pass, Query: "sum(x)",
				Series: []assertions.Series{{Labels: map[string]string{"pod": "a"}, Points: []assertions.Point{{T: 1, V: 150}}}}},
			{Name: "even", Kind: assertions.KindEvenDistribution, Op: "<=", Bound: 1.5, Value: v(2.25), Status: assertions.Fail},
			{Name: "missing", Kind: assertions.KindQuery, Op: "<", Bound: 1, Status: assertions.Error, Error: "no data"},
		},
	}
}

func TestDecide(t *testing.T) {
	r := sample()
	if got := r.Decide(); got != VerdictError {
		t.Errorf("with an evaluation error: %s, want error", got)
	}
	r.Assertions = r.Assertions[:2]
	if got := r.Decide(); got != VerdictFail {
		t.Errorf("with a failure: %s, want fail", got)
	}
	r.Assertions = r.Assertions[:1]
	if got := r.Decide(); got != VerdictPass {
		t.Errorf("all pass: %s", got)
	}
	r.Error = "deploy: timeout"
	if got := r.Decide(); got != VerdictError {
		t.Errorf("harness error: %s", got)
	}
}

func TestWriteAndRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	r := sample()
	r.Error = "teardown: namespace stuck"
	r.Decide()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := Read(filepath.Join(dir, ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.SchemaVersion != SchemaVersion || got.RunID != "abc123" || len(got.Assertions) != 3 || got.Verdict != VerdictError {
		t.Errorf("round trip lost data: %+v", got)
	}
	if p := got.Assertions[0].Series[0].Points[0]; p.V != 150 {
		t.Errorf("series not kept: %+v", got.Assertions[0].Series)
	}
	if got.Chaos[0].Targets[0] != "controller-1" || !got.Chaos[0].Start.Equal(r.Chaos[0].Start) {
		t.Errorf("chaos not kept: %+v", got.Chaos)
	}

	raw, err := os.ReadFile(filepath.Join(dir, JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var j junitSuites
	if err := xml.Unmarshal(raw, &j); err != nil {
		t.Fatalf("junit.xml is not XML: %v\n%s", err, raw)
	}
	if j.Tests != 4 || j.Failures != 1 || j.Errors != 2 {
		t.Errorf("junit counts tests=%d failures=%d errors=%d, want 4 1 2\n%s", j.Tests, j.Failures, j.Errors, raw)
	}
	for _, want := range []string{`<failure message="even = 2.25, want &lt;= 1.5" type="AssertionFailed">`, `<error message="no data" type="EvaluationError">`,
		`name="run"`, `teardown: namespace stuck`, `<property name="version.worker" value="perfrun/worker:v2">`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("junit.xml lacks %s\n%s", want, raw)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ResultFile+".tmp")); !os.IsNotExist(err) {
		t.Error("temporary file left behind")
	}
}

func TestReadRejectsOtherSchema(t *testing.T) {
	p := filepath.Join(t.TempDir(), ResultFile)
	os.WriteFile(p, []byte(`{"schemaVersion":"perfrun.dev/result/v0"}`), 0o644)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "schemaVersion") {
		t.Fatalf("err = %v", err)
	}
}

// A run that never finished is an error in junit.xml, and results from
// before phases were recorded read as finished.
func TestUnfinishedRun(t *testing.T) {
	r := sample()
	r.Assertions = nil
	if r.Unfinished() {
		t.Error("a result with no phase (older perfrun) reads as unfinished")
	}
	r.Phase = PhaseLoad
	if !r.Unfinished() {
		t.Error("phase load, not complete: want unfinished")
	}
	j, err := JUnit(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), "unfinished: the run stopped in phase load") || !strings.Contains(string(j), `errors="1"`) {
		t.Errorf("junit of an unfinished run:\n%s", j)
	}
	r.Phase, r.Complete, r.TeardownError = PhaseDone, true, "namespace x still terminating after 2m0s"
	j, _ = JUnit(r)
	if !strings.Contains(string(j), "teardown: namespace x still terminating") || strings.Contains(string(j), "unfinished") {
		t.Errorf("junit of a run whose teardown failed:\n%s", j)
	}
}
