package assertions

import (
	"cmp"
	"context"
	"fmt"

	"github.com/perfrun/perfrun/scenario"
)

// KindDisruption is the share of items whose reconcile missed its deadline
// from a chaos action's start to the end of the drain, bounded by
// 1/replicas + tolerance.
const KindDisruption = "disruption"

type disruptionKind struct{}

func (disruptionKind) Name() string                 { return KindDisruption }
func (disruptionKind) Of(a scenario.Assertion) bool { return a.Disruption != nil }
func (disruptionKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "lower", Bound: "<=+10%", Floor: 0.02}, true
}
func (k disruptionKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	return evaluatePromQL(ctx, env, k, a)
}

func (disruptionKind) histogram(a scenario.Assertion, m scenario.Metrics) string {
	return cmp.Or(a.Disruption.Histogram, m.WorkLatency)
}

// spec: items reconciled from the kill to the end of the drain; the share
// whose latency is above the deadline bucket.
func (k disruptionKind) spec(a scenario.Assertion, m scenario.Metrics) Spec {
	d := a.Disruption
	h := k.histogram(a, m)
	win := fmt.Sprintf("[{{.chaos.%s.untilDrained}}] @ {{.drained}}", d.Chaos)
	s := Spec{Name: a.Name, Description: a.Description, Kind: KindDisruption, Op: "<=", Stat: "share past deadline",
		Bound: 1/float64(max(d.Replicas, 1)) + d.Tolerance,
		Query: fmt.Sprintf(`1 - sum(increase(%s_bucket{namespace="{{.namespace}}",le=%q}%s)) / sum(increase(%s_count{namespace="{{.namespace}}"}%s))`,
			h, d.Deadline, win, h, win)}
	if s.Description == "" {
		s.Description = fmt.Sprintf("share of items past their %ss deadline after %s ≤ 1/%d + %g", d.Deadline, d.Chaos, d.Replicas, d.Tolerance)
	}
	return s
}

// SeriesMissed is the report's plot of a disruption: reconciles per second
// whose latency passed the deadline.
const SeriesMissed = "missedDeadline"

// Plot is the disruption window over time.
func (k disruptionKind) Plot(a scenario.Assertion, m scenario.Metrics) (name, unit, query string) {
	h := k.histogram(a, m)
	ns := `namespace="{{.namespace}}"`
	return SeriesMissed, "items/s", fmt.Sprintf(`sum(rate(%s_count{%s}[20s])) - sum(rate(%s_bucket{%s,le=%q}[20s]))`, h, ns, h, ns, a.Disruption.Deadline)
}
