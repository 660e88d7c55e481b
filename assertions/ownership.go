package assertions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

// KindExclusiveOwnership is the number of keys that more than one replica
// reconciled over the run and its drain: every key must be reconciled by
// its one owner only (≤ max, default 0). It reads the system's own count
// (the contract's sharedItems: the reference controller counts, in Redis,
// the keys whose distinct reconcilers by pod name are two or more), taken
// at its highest from the load's start to the end of the drain, so that a
// replica killed before its last scrape loses nothing of it. A restarted
// StatefulSet pod keeps its name and is still the one owner; a split
// brain, two replicas reconciling one bucket's keys, counts every key
// both touched, even when every key is served and reconciles stay even.
const KindExclusiveOwnership = "exclusiveOwnership"

type exclusiveOwnershipKind struct{}

func (exclusiveOwnershipKind) Name() string                 { return KindExclusiveOwnership }
func (exclusiveOwnershipKind) Of(a scenario.Assertion) bool { return a.ExclusiveOwnership != nil }

// Tolerance: a count of keys that should be 0; from a base of 0 any
// percentage is infinite, so the floor decides: one key more is a
// regression.
func (exclusiveOwnershipKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "lower", Bound: "<=+10%", Floor: 0.5}, true
}

func (k exclusiveOwnershipKind) spec(a scenario.Assertion, m scenario.Metrics) Spec {
	o := a.ExclusiveOwnership
	s := Spec{Name: a.Name, Description: a.Description, Kind: KindExclusiveOwnership, Op: "<=", Bound: float64(o.Max),
		Stat:  "keys reconciled by more than one replica",
		Query: fmt.Sprintf("max(max_over_time(%s[{{.untilDrained}}] @ {{.drained}}))", m.SharedItems)}
	if s.Description == "" {
		s.Description = fmt.Sprintf("keys reconciled by more than one replica (pod) over the load and drain ≤ %d: each key by its one owner only", o.Max)
	}
	return s
}

func (k exclusiveOwnershipKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	r := evaluatePromQL(ctx, env, k, a)
	if r.Status == Error && r.Value == nil && strings.HasPrefix(r.Error, "query returned no data") {
		r.Error = k.noData(ctx, env)
	}
	return r
}

// noData says why the count has no series: the system exports none, or
// (the reference controller) it exports it for a mode the contract's
// selector leaves out, where ownership moves by design.
func (exclusiveOwnershipKind) noData(ctx context.Context, env *Env) string {
	sel, _ := scenario.Expand(env.Metrics.SharedItems, env.Window)
	msg := fmt.Sprintf("no series for %s from the load's start to the end of the drain (spec.system.metrics.sharedItems: the system's count of keys reconciled by more than one replica)", sel)
	name, _, _ := strings.Cut(sel, "{")
	if name == "" || env.Window.Namespace == "" {
		return msg
	}
	q := fmt.Sprintf(`group by (mode) (%s{namespace=%q})`, name, env.Window.Namespace)
	ctx, cancel := (&Evaluator{Q: env.Q}).withTimeout(ctx)
	defer cancel()
	v, _, _, err := env.Q.Query(ctx, q, env.Window.End)
	vec, ok := v.(model.Vector)
	if err != nil || !ok || len(vec) == 0 {
		return msg + "; the run's namespace has no " + name + " at all: the system does not export it"
	}
	var modes []string
	for _, s := range vec {
		if m := s.Metric["mode"]; m != "" {
			modes = append(modes, fmt.Sprintf("mode=%q", string(m)))
		}
	}
	if len(modes) == 0 {
		return msg + "; the run's namespace has " + name + ", but no series the selector matches"
	}
	slices.Sort(modes)
	return fmt.Sprintf("%s; the run's namespace has %s only with %s: exclusive ownership is a statefulset-mode verdict "+
		"(in leader-election mode a lease that moves hands its keys to a new owner, so a second reconciler is no failure there)",
		msg, name, strings.Join(modes, ", "))
}
