package assertions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/perfrun/perfrun/objects"
	"github.com/perfrun/perfrun/scenario"
)

// KindObjectLatency is percentiles of the time from an object's creation
// to its first status or a condition True, from watching the objects (as
// clusterloader2's PodStartupLatency and kube-burner's podLatency do),
// each bounded. The value is the highest bounded percentile, in seconds.
const KindObjectLatency = "objectLatency"

// KindObjectDisruption is the share of objects created from a chaos
// action's start to the load's end that missed a deadline (or never got
// there), bounded by 1/replicas + tolerance.
const KindObjectDisruption = "objectDisruption"

type objectLatencyKind struct{}

func (objectLatencyKind) Name() string                 { return KindObjectLatency }
func (objectLatencyKind) Of(a scenario.Assertion) bool { return a.ObjectLatency != nil }
func (objectLatencyKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "lower", Bound: "<=+15%", Floor: 0.5}, true
}

type objectDisruptionKind struct{}

func (objectDisruptionKind) Name() string                 { return KindObjectDisruption }
func (objectDisruptionKind) Of(a scenario.Assertion) bool { return a.ObjectDisruption != nil }
func (objectDisruptionKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "lower", Bound: "<=+10%", Floor: 0.02}, true
}

// objectRecords are the records of the objects created from `from` to `to`
// (either zero: unbounded), on the clock their latencies use.
func objectRecords(ctx context.Context, env *Env, resource, selector string, from, to time.Time) (in []objects.Record, watched int, err error) {
	if env.Objects == nil {
		return nil, 0, errors.New("this run watched no objects")
	}
	recs, err := env.Objects(ctx, resource, selector)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range recs {
		start, lo := r.Start(), from
		if r.Listed {
			lo = from.Truncate(time.Second) // creationTimestamp is whole seconds
		}
		if (!from.IsZero() && start.Before(lo)) || (!to.IsZero() && start.After(to)) {
			continue
		}
		in = append(in, r)
	}
	return in, len(recs), nil
}

// target says what is timed: "Succeeded=True", "first status".
func target(to, cond string) string {
	if to == objects.ToStatus {
		return "first status"
	}
	return cond + "=True"
}

func seconds(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
}

func (objectLatencyKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	o := a.ObjectLatency
	res := Result{Name: a.Name, Kind: KindObjectLatency, Description: a.Description, Op: "<=", Unit: "s", Status: Error}
	in, watched, err := objectRecords(ctx, env, o.Resource, o.Selector, env.Window.Start, env.Window.End)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if len(in) == 0 {
		res.Error = fmt.Sprintf("no %s created during the load in namespace %s (%d watched in all)", o.Resource, env.Window.Namespace, watched)
		return res
	}
	secs, never, failed := objects.Latencies(in, o.To, o.Condition)
	slices.Sort(secs)
	type bound struct {
		key   string
		p, b  float64
		value float64
	}
	var bounds []bound
	for k, d := range o.Percentiles {
		p, ok := scenario.ParsePercentile(k)
		if !ok {
			res.Error = fmt.Sprintf("percentiles.%s: not a percentile", k)
			return res
		}
		bounds = append(bounds, bound{key: k, p: p, b: d.Seconds(), value: objects.Percentile(secs, p)})
	}
	slices.SortFunc(bounds, func(x, y bound) int { return cmp.Compare(x.p, y.p) })

	res.Status = Pass
	parts := make([]string, 0, len(bounds))
	at := env.Window.End.UnixMilli()
	for _, b := range bounds {
		if b.value > b.b {
			res.Status = Fail
			parts = append(parts, fmt.Sprintf("%s %s exceeds %s", b.key, seconds(b.value), seconds(b.b)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s ≤ %s", b.key, seconds(b.value), seconds(b.b)))
		}
		if !math.IsInf(b.value, 0) {
			res.Series = append(res.Series, Series{Labels: map[string]string{"percentile": b.key}, Points: []Point{{T: at, V: b.value}}})
		}
	}
	// The figure compared across runs is the highest bounded percentile
	// (+Inf has no JSON: no value then, and the description says it).
	top := bounds[len(bounds)-1]
	res.Bound, res.Stat = top.b, top.key
	if !math.IsInf(top.value, 0) {
		v := top.value
		res.Value = &v
	}
	what := fmt.Sprintf("time from creation to %s of %s created during the load: %d objects", target(o.To, o.Condition), o.Resource, len(in))
	if never > 0 {
		what += fmt.Sprintf(", %d never got there (+Inf", never)
		if failed > 0 {
			what += fmt.Sprintf("; %d %s=False", failed, o.Condition)
		}
		what += ")"
	}
	res.Description = joinDesc(a.Description, what+"; "+strings.Join(parts, ", "))
	return res
}

func (objectDisruptionKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	o := a.ObjectDisruption
	bound := 1/float64(max(o.Replicas, 1)) + o.Tolerance
	res := Result{Name: a.Name, Kind: KindObjectDisruption, Description: a.Description, Op: "<=", Bound: bound, Stat: "share past deadline", Status: Error}
	w, ok := env.Window.Chaos[o.Chaos]
	if !ok || w.Start.IsZero() {
		res.Error = fmt.Sprintf("chaos action %s never ran", o.Chaos)
		return res
	}
	// A fault that lasts (podFailure) is judged on what was created while
	// it held: after it, the pods are back and nothing more is at stake.
	end, until := env.Window.End, "the load's end"
	if w.Lasts && !w.End.IsZero() && w.End.Before(end) {
		end, until = w.End, "its end"
	}
	in, watched, err := objectRecords(ctx, env, o.Resource, o.Selector, w.Start, end)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if len(in) == 0 {
		res.Error = fmt.Sprintf("no %s created from %s's start to %s in namespace %s (%d watched in all)", o.Resource, o.Chaos, until, env.Window.Namespace, watched)
		return res
	}
	secs, never, _ := objects.Latencies(in, o.To, o.Condition)
	missed := 0
	for _, s := range secs {
		if s > o.Deadline.Seconds() {
			missed++
		}
	}
	share := float64(missed) / float64(len(in))
	what := fmt.Sprintf("share of %s created from %s's start to %s past %s to %s: %d of %d (%s; %d never got there) ≤ 1/%d + %g = %s",
		o.Resource, o.Chaos, until, o.Deadline, target(o.To, o.Condition), missed, len(in), FormatValue(&share), never, o.Replicas, o.Tolerance, FormatValue(&bound))
	r := Check(a.Name, KindObjectDisruption, joinDesc(a.Description, what), "<=", share, bound)
	r.Stat = "share past deadline"
	r.Series = []Series{{Labels: map[string]string{"objects": "missed"}, Points: []Point{{T: env.Window.End.UnixMilli(), V: float64(missed)}}},
		{Labels: map[string]string{"objects": "created"}, Points: []Point{{T: env.Window.End.UnixMilli(), V: float64(len(in))}}}}
	return r
}

// joinDesc puts the scenario's description before what was measured.
func joinDesc(desc, measured string) string {
	if desc == "" {
		return measured
	}
	return desc + ": " + measured
}
