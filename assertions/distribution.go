package assertions

import (
	"cmp"
	"context"
	"fmt"

	"github.com/perfrun/perfrun/scenario"
)

// KindEvenDistribution is max/mean over pods of a per-pod counter (or
// gauge): 1 is perfectly even.
const KindEvenDistribution = "evenDistribution"

type evenDistributionKind struct{}

func (evenDistributionKind) Name() string                 { return KindEvenDistribution }
func (evenDistributionKind) Of(a scenario.Assertion) bool { return a.EvenDistribution != nil }
func (evenDistributionKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "lower", Bound: "<=+10%", Floor: 0.05}, true
}
func (k evenDistributionKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	return withLeases(env, evaluatePromQL(ctx, env, k, a))
}

// spec reads the system's per-pod work (Metrics.Work) unless the assertion
// names its own metric.
func (evenDistributionKind) spec(a scenario.Assertion, m scenario.Metrics) Spec {
	e := a.EvenDistribution
	metric, by := cmp.Or(e.Metric, m.Work), cmp.Or(e.By, "pod")
	per := fmt.Sprintf(`sum by (%s) (increase(%s{namespace="{{.namespace}}"}[{{.duration}}] @ {{.end}}))`, by, metric)
	if e.Gauge {
		per = fmt.Sprintf(`sum by (%s) (%s{namespace="{{.namespace}}"} @ {{.end}})`, by, metric)
	}
	s := Spec{Name: a.Name, Description: a.Description, Kind: KindEvenDistribution, Op: "<=", Bound: e.Max,
		Query: fmt.Sprintf("max(%s) / avg(%s)", per, per)}
	if s.Description == "" {
		s.Description = fmt.Sprintf("max/mean of %s per %s ≤ %g", metric, by, e.Max)
	}
	return s
}
