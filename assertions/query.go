package assertions

import (
	"context"

	"github.com/perfrun/perfrun/scenario"
)

// KindQuery is an assertion written as PromQL, an op and a bound.
const KindQuery = "query"

type queryKind struct{}

func (queryKind) Name() string                 { return KindQuery }
func (queryKind) Of(a scenario.Assertion) bool { return a.Query != "" }
func (queryKind) Tolerance() (Tolerance, bool) { return Tolerance{}, false }
func (k queryKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	return evaluatePromQL(ctx, env, k, a)
}

func (queryKind) spec(a scenario.Assertion, _ scenario.Metrics) Spec {
	s := Spec{Name: a.Name, Description: a.Description, Kind: KindQuery, Query: a.Query, Op: a.Op, Range: a.Range}
	if a.Bound != nil {
		s.Bound = *a.Bound
	}
	return s
}
