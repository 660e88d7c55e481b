// Package scenario is the model of one perfrun run: the versioned YAML schema
// (apiVersion perfrun/v1, kind Scenario), its strict decoding, its defaults
// and its validation. A scenario says everything about a run: the system to
// deploy, the load, the chaos timeline and the assertions that decide it.
package scenario

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// The schema this package reads.
const (
	APIVersion = "perfrun/v1"
	Kind       = "Scenario"
)

// Scenario is one run, as the file says it.
type Scenario struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`
}

// Metadata names the scenario.
type Metadata struct {
	Name        string            `yaml:"name" json:"name"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Spec is what the run does.
type Spec struct {
	System     System      `yaml:"system" json:"system"`
	Load       Load        `yaml:"load" json:"load"`
	Drain      Drain       `yaml:"drain" json:"drain"`
	Chaos      []Action    `yaml:"chaos,omitempty" json:"chaos,omitempty"`
	Assertions []Assertion `yaml:"assertions,omitempty" json:"assertions,omitempty"`
}

// System is what gets deployed: a kustomize overlay and per-component
// changes applied to its rendered objects.
type System struct {
	// Overlay is a kustomize directory, relative to the repository root and
	// under fixtures/.
	Overlay string `yaml:"overlay" json:"overlay"`
	// Namespace overrides the per-run namespace (perfrun-NAME-RUNID).
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// ReadyTimeout bounds the wait for every pod to be Ready.
	ReadyTimeout Duration `yaml:"readyTimeout,omitempty" json:"readyTimeout,omitempty"`
	// Components are keyed by workload name (Deployment or StatefulSet).
	Components map[string]Component `yaml:"components,omitempty" json:"components,omitempty"`
	// Metrics is the system's metric contract; what it leaves out is the
	// reference system's (ReferenceMetrics).
	Metrics Metrics `yaml:"metrics,omitempty" json:"metrics,omitempty"`
	// Source, when set, is a system perfrun builds from a pinned upstream
	// module (package systems, e.g. tekton v1.6.0) instead of the reference
	// system: its programs, images and release manifests come from that
	// module, and Overlay is a kustomize overlay over them.
	Source *Source `yaml:"source,omitempty" json:"source,omitempty"`
	// Kwok, when set, adds simulated nodes (sigs.k8s.io/kwok) for the run:
	// the system's own pods stay on the real node, the pods it creates go
	// to the simulated ones and never run.
	Kwok *Kwok `yaml:"kwok,omitempty" json:"kwok,omitempty"`
}

// Source is a third-party system by name and version.
type Source struct {
	Name    string `yaml:"name" json:"name"`
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
}

// Kwok are the run's simulated nodes.
type Kwok struct {
	// Nodes is how many (1..100).
	Nodes int `yaml:"nodes" json:"nodes"`
}

// Component changes one workload of the overlay.
type Component struct {
	Replicas *int32            `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	Image    string            `yaml:"image,omitempty" json:"image,omitempty"`
	Args     []string          `yaml:"args,omitempty" json:"args,omitempty"`
	Env      map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Resources set the container's requests and limits by resource name
	// (cpu, memory): a CPU limit is how a scenario pins a component below
	// what its load costs.
	Resources *Resources `yaml:"resources,omitempty" json:"resources,omitempty"`
}

// Resources are Kubernetes quantities by resource name, as in a container
// spec ("cpu: 50m", "memory: 64Mi"). A key given here replaces the
// overlay's; the others are kept.
type Resources struct {
	Requests map[string]string `yaml:"requests,omitempty" json:"requests,omitempty"`
	Limits   map[string]string `yaml:"limits,omitempty" json:"limits,omitempty"`
}

// Load runners.
const (
	RunnerAuto  = "auto"
	RunnerLocal = "local"
	RunnerJob   = "job"
)

// Load is the k6 run.
type Load struct {
	// Script is a k6 script relative to the repository root, under fixtures/load/.
	Script string `yaml:"script" json:"script"`
	// Duration is how long the load runs; the script gets it as DURATION.
	Duration Duration `yaml:"duration" json:"duration"`
	// Env is passed to k6 (-e KEY=VALUE).
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Runner says where k6 runs: auto (local when pods are reachable, else a
	// Job), local or job.
	Runner string `yaml:"runner,omitempty" json:"runner,omitempty"`
	// Target is the Service k6 aims at (TARGET=http://SERVICE.NS:PORT).
	Target Target `yaml:"target,omitempty" json:"target,omitempty"`
	// Thresholds, when true (the default), makes every k6 threshold an assertion.
	Thresholds *bool `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
	// Timeout bounds the k6 process beyond Duration (setup, teardown, grace).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Generators, when set, runs the load as that many k6 Jobs in the
	// cluster, each an execution segment of the rate and a slice of the key
	// space, judged together (package loadgen). 0: one k6 as Runner says.
	Generators int `yaml:"generators,omitempty" json:"generators,omitempty"`
	// Distributed tunes a load with Generators.
	Distributed *Distributed `yaml:"distributed,omitempty" json:"distributed,omitempty"`
	// Image is the k6 image of k6 Jobs (default: built from bin/k6 and
	// loaded into the cluster by its provider).
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
}

// Distributed are the settings of a load split over generators.
type Distributed struct {
	// Provision is a k6 script under fixtures/load/ run once by a Job before
	// the generators start (they get SKIP_PROVISION=1). Empty: none.
	Provision string `yaml:"provision,omitempty" json:"provision,omitempty"`
	// KeySpace is how many keys (applications) the generators split between
	// them (KEY_OFFSET, KEY_COUNT); default: load.env.APPS, 0 to not split.
	KeySpace *int `yaml:"keySpace,omitempty" json:"keySpace,omitempty"`
	// CPU is each generator's CPU request and limit (e.g. 500m).
	CPU string `yaml:"cpu,omitempty" json:"cpu,omitempty"`
}

// Target is a Service and port of the deployed system.
type Target struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty"`
	Port    int32  `yaml:"port,omitempty" json:"port,omitempty"`
	// Kubernetes aims the load at the cluster's API server instead of a
	// Service (object load: k6 creates objects with the run's kubeconfig,
	// given to the script as KUBECONFIG).
	Kubernetes bool `yaml:"kubernetes,omitempty" json:"kubernetes,omitempty"`
}

// Drain is the wait after load for the system to finish its queued work.
type Drain struct {
	// Query is PromQL whose value must reach 0 (e.g. the queue depth).
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
	// Timeout bounds the wait; a drain that times out is recorded, not fatal:
	// the assertions say what it cost.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Stall ends the wait early when the query's value has not moved for
	// this long: nothing is draining the queue (jobs stranded in a format no
	// worker reads), and waiting out the timeout would only cost time. 0
	// waits the whole timeout.
	Stall Duration `yaml:"stall,omitempty" json:"stall,omitempty"`
	// Settle, with a query, is the longest the drain waits after it reads 0
	// for Prometheus to scrape every pod once more (the final counters); the
	// drain ends at that scrape. Without a query it is a pause after the
	// load: the system's time to finish, since nothing says it is done.
	Settle Duration `yaml:"settle,omitempty" json:"settle,omitempty"`
}

// Action is one chaos event at an offset from load start. Exactly one of
// its kinds is set; each kind is a type of its own file (podkill.go,
// upgrade.go) and one row of actionKinds.
type Action struct {
	// Name is an identifier ([A-Za-z_][A-Za-z0-9_]*) so that assertions can
	// write {{.chaos.NAME.start}}.
	Name       string      `yaml:"name" json:"name"`
	At         Duration    `yaml:"at" json:"at"`
	PodKill    *PodKill    `yaml:"podKill,omitempty" json:"podKill,omitempty"`
	PodFailure *PodFailure `yaml:"podFailure,omitempty" json:"podFailure,omitempty"`
	Upgrade    *Upgrade    `yaml:"upgrade,omitempty" json:"upgrade,omitempty"`
}

// ActionSpec is the settings of one kind of chaos action (*PodKill,
// *Upgrade): what the file says under the kind's key, its defaults and
// its checks. Package chaos carries each kind out.
type ActionSpec interface {
	// Kind is the kind's key on an action (podKill, upgrade).
	Kind() string
	// Default fills what the file leaves out.
	Default()
	// Validate returns the problems of the defaulted settings, each with
	// a field path under p (spec.chaos[N].KIND); s is the whole scenario.
	Validate(p string, s *Scenario) []FieldError
}

// PodAction is an action on picked pods of one component (podKill,
// podFailure): what it picks, for preflight and the assertions that
// count a component's replicas.
type PodAction interface {
	ActionSpec
	Pods() PodPick
}

// actionKinds are the kinds an action may have, in the order error
// messages list them: a kind's key, its field on Action, and whether it
// lasts (holds its fault from its start to its end, so its end closes a
// disruption window; a kill or an upgrade only starts one).
var actionKinds = []struct {
	key   string
	spec  func(*Action) ActionSpec
	lasts bool
}{
	{KindPodKill, func(a *Action) ActionSpec { return nilOr(a.PodKill) }, false},
	{KindPodFailure, func(a *Action) ActionSpec { return nilOr(a.PodFailure) }, true},
	{KindUpgrade, func(a *Action) ActionSpec { return nilOr(a.Upgrade) }, false},
}

// Lasts says an action of the kind holds its fault until it ends.
func Lasts(kind string) bool {
	for _, k := range actionKinds {
		if k.key == kind {
			return k.lasts
		}
	}
	return false
}

// nilOr keeps a nil *T from becoming a non-nil interface.
func nilOr[T any, P interface {
	*T
	ActionSpec
}](p P) ActionSpec {
	if p == nil {
		return nil
	}
	return p
}

// ActionKinds are the keys of every kind of action.
func ActionKinds() []string {
	keys := make([]string, len(actionKinds))
	for i, k := range actionKinds {
		keys[i] = k.key
	}
	return keys
}

// Specs are the kinds set on the action (one, when it is valid).
func (a *Action) Specs() []ActionSpec {
	var out []ActionSpec
	for _, k := range actionKinds {
		if sp := k.spec(a); sp != nil {
			out = append(out, sp)
		}
	}
	return out
}

// Spec is the action's kind, nil unless exactly one is set.
func (a *Action) Spec() ActionSpec {
	if sp := a.Specs(); len(sp) == 1 {
		return sp[0]
	}
	return nil
}

// Kind is the key of the action's kind, "" unless exactly one is set.
func (a *Action) Kind() string {
	if sp := a.Spec(); sp != nil {
		return sp.Kind()
	}
	return ""
}

// Assertion decides part of the verdict. Either Query (with Op and Bound)
// or exactly one ready-made kind is set.
type Assertion struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`

	// Query is PromQL, a Go template over the run ({{.start}}, {{.end}},
	// {{.duration}}, {{.namespace}}, {{.testid}}, {{.chaos.NAME.start}}...).
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
	// Op compares the query's value with Bound: < <= > >= == !=.
	Op    string   `yaml:"op,omitempty" json:"op,omitempty"`
	Bound *float64 `yaml:"bound,omitempty" json:"bound,omitempty"`
	// Range, when set, evaluates over a range and reduces it to one value;
	// otherwise the query is instant at the end of the load.
	Range *Range `yaml:"range,omitempty" json:"range,omitempty"`

	Throughput       *Throughput       `yaml:"throughput,omitempty" json:"throughput,omitempty"`
	EvenDistribution *EvenDistribution `yaml:"evenDistribution,omitempty" json:"evenDistribution,omitempty"`
	Disruption       *Disruption       `yaml:"disruption,omitempty" json:"disruption,omitempty"`
	NoLoss           *NoLoss           `yaml:"noLoss,omitempty" json:"noLoss,omitempty"`
	// ObjectLatency and ObjectDisruption watch objects (objects.go).
	ObjectLatency    *ObjectLatency    `yaml:"objectLatency,omitempty" json:"objectLatency,omitempty"`
	ObjectDisruption *ObjectDisruption `yaml:"objectDisruption,omitempty" json:"objectDisruption,omitempty"`
	// CoreUtilization is each pod's CPU use against its allocation
	// (coreutilization.go).
	CoreUtilization *CoreUtilization `yaml:"coreUtilization,omitempty" json:"coreUtilization,omitempty"`
	// ExclusiveOwnership is the count of keys reconciled by more than one
	// replica (ownership.go).
	ExclusiveOwnership *ExclusiveOwnership `yaml:"exclusiveOwnership,omitempty" json:"exclusiveOwnership,omitempty"`
}

// Reducers of a range.
var Reducers = []string{"max", "min", "avg", "last", "first"}

// Range is a range evaluation: from start+Skip to end every Step.
type Range struct {
	Step   Duration `yaml:"step,omitempty" json:"step,omitempty"`
	Skip   Duration `yaml:"skip,omitempty" json:"skip,omitempty"`
	Reduce string   `yaml:"reduce,omitempty" json:"reduce,omitempty"`
}

// Throughput: the rate of successful requests over the steady window ≥ Floor.
type Throughput struct {
	Floor float64 `yaml:"floor" json:"floor"`
	// Selector is the series counted (default: the listener's 2xx authrep
	// and authorize answers in the run's namespace).
	Selector string `yaml:"selector,omitempty" json:"selector,omitempty"`
	// Skip leaves the warm-up out of the window.
	Skip Duration `yaml:"skip,omitempty" json:"skip,omitempty"`
}

// EvenDistribution: max/mean over pods of a per-pod counter ≤ Max.
type EvenDistribution struct {
	Max float64 `yaml:"max" json:"max"`
	// Metric is a counter with a pod label (default
	// perfrun_controller_reconciles_total); Gauge says it is a gauge (e.g.
	// perfrun_controller_buckets_held) read at the end instead of increased.
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
	Gauge  bool   `yaml:"gauge,omitempty" json:"gauge,omitempty"`
	By     string `yaml:"by,omitempty" json:"by,omitempty"`
	// Selector narrows the metric's series with label matchers (e.g.
	// success="true": a Tekton replica counts the keys it does not own as
	// success="false"). A pod whose series all miss it counts as 0 work.
	Selector string `yaml:"selector,omitempty" json:"selector,omitempty"`
	// After names a chaos action: the window starts at its end, so that a
	// restart's aftermath is judged on its own (default: the whole load).
	After string `yaml:"after,omitempty" json:"after,omitempty"`
}

// Disruption: the share of items whose reconcile missed its deadline from a
// chaos action's start to the end of load ≤ 1/replicas + tolerance.
type Disruption struct {
	// Chaos names the action (a podKill) whose window is measured.
	Chaos string `yaml:"chaos" json:"chaos"`
	// Replicas of the killed component (default: spec.system.components'
	// replicas of the podKill's component, else the rendered overlay's).
	Replicas  int32   `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	Tolerance float64 `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	// Deadline is the latency histogram bucket (le) an item must make.
	Deadline string `yaml:"deadline,omitempty" json:"deadline,omitempty"`
	// Histogram is the latency histogram's name without _bucket (default
	// perfrun_controller_reconcile_latency_seconds).
	Histogram string `yaml:"histogram,omitempty" json:"histogram,omitempty"`
}

// NoLoss: k6's accepted hits equal the system's usage totals after draining.
type NoLoss struct {
	// Service is the service id the load reports to.
	Service string `yaml:"service" json:"service"`
	// Apps is how many applications the load used, with ids AppPrefix0..N-1.
	Apps      int    `yaml:"apps" json:"apps"`
	AppPrefix string `yaml:"appPrefix,omitempty" json:"appPrefix,omitempty"`
	// Metric is the usage metric read back (default hits).
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
	// K6Metric is k6's counter of accepted hits (default backend_hits_accepted{metric:hits}, falling back to backend_hits_accepted).
	K6Metric string `yaml:"k6Metric,omitempty" json:"k6Metric,omitempty"`
	// Tolerance is how many hits may differ (default 0: exactly once).
	Tolerance float64 `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	// Listener is the Service serving the internal API (default listener:3000).
	Listener Target `yaml:"listener,omitempty" json:"listener,omitempty"`
	// Secret is a Secret of the run's namespace with the internal API's
	// basic-auth credentials (keys username and password, as the 3scale
	// operator's backend-internal-api). Empty: backend-internal-api when the
	// namespace has it, else no credentials.
	Secret string `yaml:"secret,omitempty" json:"secret,omitempty"`
}

// Duration is a time.Duration written as "30s", "2m".
type Duration struct{ time.Duration }

// D makes a Duration.
func D(d time.Duration) Duration { return Duration{d} }

// UnmarshalYAML reads "30s" (or 0).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", n.Value, err)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes "30s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// IsZero lets omitempty drop unset durations.
func (d Duration) IsZero() bool { return d.Duration == 0 }
