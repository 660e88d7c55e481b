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
// names its own metric. With a selector, a pod that exports the metric but
// none of the selected series counts as 0 work rather than dropping out
// of the mean: an idle replica is the unevenness being looked for.
func (evenDistributionKind) spec(a scenario.Assertion, m scenario.Metrics) Spec {
	e := a.EvenDistribution
	metric, by := cmp.Or(e.Metric, m.Work), cmp.Or(e.By, "pod")
	all := `namespace="{{.namespace}}"`
	sel := all
	if e.Selector != "" {
		sel += "," + e.Selector
	}
	rng, at := "{{.duration}}", "{{.end}}"
	if e.After != "" {
		rng = "{{.chaos." + e.After + ".afterEnd}}"
	}
	per := fmt.Sprintf(`sum by (%s) (increase(%s{%s}[%s] @ %s))`, by, metric, sel, rng, at)
	if e.Selector != "" {
		per = fmt.Sprintf(`(%s or 0 * sum by (%s) (increase(%s{%s}[%s] @ %s)))`, per, by, metric, all, rng, at)
	}
	if e.Gauge {
		per = fmt.Sprintf(`sum by (%s) (%s{%s} @ %s)`, by, metric, sel, at)
	}
	s := Spec{Name: a.Name, Description: a.Description, Kind: KindEvenDistribution, Op: "<=", Bound: e.Max, Stat: "max/mean",
		Query: fmt.Sprintf("max(%s) / avg(%s)", per, per)}
	if s.Description == "" {
		what := metric
		if e.Selector != "" {
			what += "{" + e.Selector + "}"
		}
		s.Description = fmt.Sprintf("max/mean of %s per %s ≤ %g", what, by, e.Max)
		if e.After != "" {
			s.Description += " after " + e.After
		}
	}
	return s
}
