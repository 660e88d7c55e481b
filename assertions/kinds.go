package assertions

import (
	"context"
	"net/http"

	"github.com/perfrun/perfrun/objects"
	"github.com/perfrun/perfrun/scenario"
)

// Kind is one kind of assertion, in one file: plain PromQL, or a property
// the harness knows how to measure (throughput, even distribution,
// disruption, no loss, exclusive ownership), or k6's own thresholds. The run evaluates, compare
// picks tolerances and the report picks plots through Kinds, and nothing
// else lists them.
type Kind interface {
	// Name is the kind as scenarios write it and results record it.
	Name() string
	// Of says whether a scenario assertion is of this kind.
	Of(a scenario.Assertion) bool
	// Evaluate decides the assertion after the run.
	Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result
	// Tolerance is perfrun compare's default rule for the kind's values
	// (ok false: the kind's value is not a figure to compare).
	Tolerance() (t Tolerance, ok bool)
}

// Tolerance is compare's default rule for a kind: which way is better,
// Keptn's relative bound and an absolute floor (see package compare).
type Tolerance struct {
	Direction string
	Bound     string
	Floor     float64
}

// Plotter is a Kind whose assertion adds a series to the report.
type Plotter interface {
	Plot(a scenario.Assertion, m scenario.Metrics) (name, unit, query string)
}

// Kinds is every kind of assertion, in the order results list them.
func Kinds() []Kind {
	return []Kind{queryKind{}, throughputKind{}, evenDistributionKind{}, disruptionKind{}, noLossKind{}, k6ThresholdKind{},
		objectLatencyKind{}, objectDisruptionKind{}, coreUtilizationKind{}, exclusiveOwnershipKind{}}
}

// KindOf is the kind of a scenario assertion (nil if none matches: the
// scenario's validation refuses such an assertion first).
func KindOf(a scenario.Assertion) Kind {
	for _, k := range Kinds() {
		if k.Of(a) {
			return k
		}
	}
	return nil
}

// Env is what evaluation may read about the run.
type Env struct {
	// Q is the run's Prometheus.
	Q Querier
	// Window is the run's timeline ({{.start}}, {{.chaos.NAME.start}}...).
	Window scenario.Window
	// Metrics is the system's metric contract.
	Metrics scenario.Metrics
	// K6Count is the total of a k6 counter over the run (loadgen's Run).
	K6Count func(ctx context.Context, metric string) (float64, error)
	// ServiceURL is a base URL, reachable from here, of a Service of the
	// run's namespace (for ground-truth reads).
	ServiceURL func(ctx context.Context, t scenario.Target) (string, error)
	// HTTP reads ground truth from the system (default: 10 s timeout).
	HTTP *http.Client
	// Secret reads a Secret of the run's namespace (found false when it
	// does not exist); nil when there is no cluster to read.
	Secret func(ctx context.Context, name string) (data map[string][]byte, found bool, err error)
	// Objects are the records of the run's watcher of a resource (as an
	// assertion writes it) and label selector (objectLatency,
	// objectDisruption); nil when the run watched no objects.
	Objects func(ctx context.Context, resource, selector string) ([]objects.Record, error)
	// Leases are the holder spans of the run's namespace's Leases (nil or
	// empty: none watched or none held).
	Leases func() []objects.LeaseSpan
	// PodsCPU lists the pods of the named workloads (Deployments or
	// StatefulSets) in the run's namespace, each with its containers' CPU
	// limits (coreUtilization); nil when there is no cluster to read.
	PodsCPU func(ctx context.Context, workloads []string) ([]PodCPU, error)
}

// Evaluate decides every assertion of a scenario. It never stops early: an
// assertion that cannot be evaluated becomes its error, and the others
// still run.
func Evaluate(ctx context.Context, env *Env, as []scenario.Assertion) []Result {
	out := make([]Result, 0, len(as))
	for _, a := range as {
		k := KindOf(a)
		if k == nil {
			out = append(out, Result{Name: a.Name, Status: Error, Error: "assertion of no known kind"})
			continue
		}
		out = append(out, k.Evaluate(ctx, env, a))
	}
	return out
}

// promQL is a kind that is one PromQL Spec; its Evaluate runs it.
type promQL interface {
	spec(a scenario.Assertion, m scenario.Metrics) Spec
}

func evaluatePromQL(ctx context.Context, env *Env, k promQL, a scenario.Assertion) Result {
	return (&Evaluator{Q: env.Q}).evaluate(ctx, k.spec(a, env.Metrics), env.Window)
}

// Resolve writes a PromQL-backed scenario assertion as a Spec, with the
// reference system's metrics; ok is false for kinds that are not PromQL.
func Resolve(a scenario.Assertion) (spec Spec, ok bool) {
	k, isPromQL := KindOf(a).(promQL)
	if !isPromQL {
		return Spec{}, false
	}
	return k.spec(a, scenario.ReferenceMetrics()), true
}
