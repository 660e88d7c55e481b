package assertions

import (
	"cmp"
	"context"
	"fmt"

	"github.com/perfrun/perfrun/scenario"
)

// KindThroughput is successful calls per second over the load after its
// warm-up, counted from the counter's raw samples (see CounterIncrease).
const KindThroughput = "throughput"

type throughputKind struct{}

func (throughputKind) Name() string                 { return KindThroughput }
func (throughputKind) Of(a scenario.Assertion) bool { return a.Throughput != nil }
func (throughputKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "higher", Bound: ">=-10%"}, true
}
func (k throughputKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	return evaluatePromQL(ctx, env, k, a)
}

// spec counts the system's served answers (Metrics.Served) unless the
// assertion names its own selector.
func (throughputKind) spec(a scenario.Assertion, m scenario.Metrics) Spec {
	t := a.Throughput
	s := Spec{Name: a.Name, Description: a.Description, Kind: KindThroughput, Op: ">=", Bound: t.Floor, Skip: t.Skip.Duration,
		Stat: "served", Unit: "req/s",
		Counter: cmp.Or(t.Selector, m.Served)}
	if s.Description == "" {
		s.Description = fmt.Sprintf("successful requests per second over the steady window ≥ %g", t.Floor)
	}
	return s
}
