package assertions

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/objects"
	"github.com/perfrun/perfrun/scenario"
)

var (
	objStart = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	objWin   = scenario.Window{Start: objStart, End: objStart.Add(60 * time.Second), Namespace: "ns",
		Chaos: map[string]scenario.ActionWindow{"kill": {Start: objStart.Add(20 * time.Second), End: objStart.Add(21 * time.Second)}}}
)

func sec(s float64) time.Time { return objStart.Add(time.Duration(s * float64(time.Second))) }

// rec is an object seen at `at`, Succeeded after `took` seconds (< 0:
// never; a failed one when failed).
func rec(name string, at, took float64, failed bool) objects.Record {
	r := objects.Record{Name: name, Seen: sec(at), Created: sec(at).Truncate(time.Second), FirstStatus: sec(at + 0.1)}
	c := objects.Condition{Type: "Succeeded"}
	if took >= 0 {
		c.Done = sec(at + took)
	}
	if failed {
		c.Failed, c.Reason = sec(at+1), "Failed"
	}
	r.Conditions = []objects.Condition{c}
	return r
}

func objectsEnv(recs []objects.Record) *Env {
	return &Env{Window: objWin, Objects: func(_ context.Context, resource, selector string) ([]objects.Record, error) {
		if resource != "taskruns.tekton.dev/v1" || selector != "" {
			return nil, nil
		}
		return recs, nil
	}}
}

func latencyAssertion(bounds map[string]time.Duration, to string) scenario.Assertion {
	ps := map[string]scenario.Duration{}
	for k, d := range bounds {
		ps[k] = scenario.D(d)
	}
	return scenario.Assertion{Name: "lat", ObjectLatency: &scenario.ObjectLatency{Resource: "taskruns.tekton.dev/v1",
		Condition: "Succeeded", To: to, Percentiles: ps}}
}

// 100 objects during the load taking 1..100 s, plus one before the load
// and one after it, which do not count.
func hundred() []objects.Record {
	recs := []objects.Record{rec("before", -5, 1000, false), rec("after", 61, 1000, false)}
	for i := 1; i <= 100; i++ {
		recs = append(recs, rec("tr", 1+float64(i)*0.5, float64(i), false))
	}
	return recs
}

func TestObjectLatencyPass(t *testing.T) {
	a := latencyAssertion(map[string]time.Duration{"p50": 60 * time.Second, "p99": 100 * time.Second}, objects.ToCondition)
	r := evaluate(objectsEnv(hundred()), a)
	if r.Status != Pass || r.Value == nil || *r.Value != 99 || r.Bound != 100 || r.Op != "<=" {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Description, "100 objects; p50 50s ≤ 1m0s, p99 1m39s ≤ 1m40s") {
		t.Errorf("description %q", r.Description)
	}
	if len(r.Series) != 2 || r.Series[0].Labels["percentile"] != "p50" || r.Series[0].Points[0].V != 50 {
		t.Errorf("series %+v", r.Series)
	}
}

func TestObjectLatencyFails(t *testing.T) {
	// p50 is over its bound, p99 is not: the message names p50.
	a := latencyAssertion(map[string]time.Duration{"p50": 40 * time.Second, "p99": 100 * time.Second}, objects.ToCondition)
	r := evaluate(objectsEnv(hundred()), a)
	if r.Status != Fail || *r.Value != 99 {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Description, "p50 50s exceeds 40s") || !strings.Contains(r.Description, "p99 1m39s ≤ 1m40s") {
		t.Errorf("description %q", r.Description)
	}

	// Two of 100 never finish (one failed): p99 is +Inf, no value, and
	// the result still encodes as JSON.
	recs := hundred()
	recs[2], recs[3] = rec("stuck", 10, -1, false), rec("failed", 11, -1, true)
	a = latencyAssertion(map[string]time.Duration{"p90": 200 * time.Second, "p99": 200 * time.Second}, objects.ToCondition)
	r = evaluate(objectsEnv(recs), a)
	if r.Status != Fail || r.Value != nil || r.Bound != 200 {
		t.Fatalf("result %+v", r)
	}
	for _, want := range []string{"2 never got there (+Inf; 1 Succeeded=False)", "p99 +Inf exceeds 3m20s", "p90 1m32s ≤ 3m20s"} {
		if !strings.Contains(r.Description, want) {
			t.Errorf("description %q lacks %q", r.Description, want)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("an +Inf percentile must still encode: %v", err)
	}
}

func TestObjectLatencyToStatus(t *testing.T) {
	a := latencyAssertion(map[string]time.Duration{"p99": 200 * time.Millisecond}, objects.ToStatus)
	r := evaluate(objectsEnv(hundred()), a)
	if r.Status != Pass || *r.Value != 0.1 || !strings.Contains(r.Description, "to first status") {
		t.Errorf("result %+v (value %v)", r, *r.Value)
	}
	a = latencyAssertion(map[string]time.Duration{"p99": 50 * time.Millisecond}, objects.ToStatus)
	if r := evaluate(objectsEnv(hundred()), a); r.Status != Fail || !strings.Contains(r.Description, "p99 100ms exceeds 50ms") {
		t.Errorf("result %+v", r)
	}
}

func TestObjectLatencyErrors(t *testing.T) {
	a := latencyAssertion(map[string]time.Duration{"p99": time.Second}, objects.ToCondition)
	if r := evaluate(&Env{Window: objWin}, a); r.Status != Error || !strings.Contains(r.Error, "watched no objects") {
		t.Errorf("no watcher: %+v", r)
	}
	if r := evaluate(objectsEnv([]objects.Record{rec("before", -5, 1, false)}), a); r.Status != Error ||
		r.Error != "no taskruns.tekton.dev/v1 created during the load in namespace ns (1 watched in all)" {
		t.Errorf("none in the window: %+v", r)
	}
}

func TestObjectDisruption(t *testing.T) {
	// After the kill at 20s: 10 objects; 3 take over 30s, 1 never
	// finishes. Before it: slow ones that must not count.
	var recs []objects.Record
	for i := range 5 {
		recs = append(recs, rec("early", float64(i), 100, false))
	}
	for i := range 10 {
		took := 2.0
		switch {
		case i < 3:
			took = 31
		case i == 3:
			took = -1
		}
		recs = append(recs, rec("late", 20+float64(i), took, false))
	}
	d := &scenario.ObjectDisruption{Resource: "taskruns.tekton.dev/v1", Condition: "Succeeded", To: objects.ToCondition,
		Chaos: "kill", Deadline: scenario.D(30 * time.Second), Replicas: 2, Tolerance: 0.1}
	a := scenario.Assertion{Name: "dis", ObjectDisruption: d}
	r := evaluate(objectsEnv(recs), a)
	if r.Status != Pass || *r.Value != 0.4 || r.Bound != 0.6 {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Description, "4 of 10 (0.4; 1 never got there) ≤ 1/2 + 0.1 = 0.6") {
		t.Errorf("description %q", r.Description)
	}
	d.Replicas, d.Tolerance = 5, 0.05
	r = evaluate(objectsEnv(recs), a)
	if r.Status != Fail || *r.Value != 0.4 || r.Bound != 0.25 || !strings.Contains(r.Description, "4 of 10 (0.4; 1 never got there) ≤ 1/5 + 0.05 = 0.25") {
		t.Errorf("result %+v", r)
	}
	// A failure that lasts from 20s to 23s: only the 4 objects created
	// while it held count (3 slow, 1 never).
	env := objectsEnv(recs)
	env.Window.Chaos = map[string]scenario.ActionWindow{"kill": {Start: sec(20), End: sec(23), Lasts: true}}
	d.Replicas, d.Tolerance = 2, 0.1
	r = evaluate(env, a)
	if r.Status != Fail || *r.Value != 1 || !strings.Contains(r.Description, "from kill's start to its end past 30s to Succeeded=True: 4 of 4") {
		t.Errorf("lasting action: %+v", r)
	}
	d.Chaos = "other"
	if r := evaluate(objectsEnv(recs), a); r.Status != Error || r.Error != "chaos action other never ran" {
		t.Errorf("chaos that never ran: %+v", r)
	}
}

// A failed evenDistribution names who held the Leases; a passing one
// does not.
func TestEvenDistributionNamesLeaseHolders(t *testing.T) {
	var spans []objects.LeaseSpan
	for _, l := range []string{"l0", "l1", "l2", "l3", "l4"} {
		spans = append(spans, objects.LeaseSpan{Lease: l, Holder: "tekton-pipelines-controller-abc_9f2", From: sec(12), To: sec(48), Open: true})
	}
	spans = append(spans, objects.LeaseSpan{Lease: "l0", Holder: "tekton-pipelines-controller-def_77a", From: sec(0), To: sec(10)})
	a := scenario.Assertion{Name: "even", EvenDistribution: &scenario.EvenDistribution{Max: 1.2}}
	env := &Env{Q: &fakeQuerier{instant: model.Vector{{Value: 2}}}, Window: objWin, Metrics: scenario.ReferenceMetrics(),
		Leases: func() []objects.LeaseSpan { return spans }}
	r := evaluate(env, a)
	want := "leases: tekton-pipelines-controller-abc held 5/5 leases from 12s to the end (48s); tekton-pipelines-controller-def held 1/5 until 10s"
	if r.Status != Fail || !strings.HasSuffix(r.Description, "; "+want) {
		t.Errorf("failed evenDistribution: %+v\nwant it to end with %q", r, want)
	}
	env.Q = &fakeQuerier{instant: model.Vector{{Value: 1.1}}}
	if r := evaluate(env, a); r.Status != Pass || strings.Contains(r.Description, "leases") {
		t.Errorf("passing evenDistribution: %+v", r)
	}
	env.Q, env.Leases = &fakeQuerier{instant: model.Vector{{Value: 2}}}, func() []objects.LeaseSpan { return nil }
	if r := evaluate(env, a); r.Status != Fail || strings.Contains(r.Description, "leases") {
		t.Errorf("no leases: %+v", r)
	}
}

func TestObjectKindsListed(t *testing.T) {
	for _, a := range []scenario.Assertion{{ObjectLatency: &scenario.ObjectLatency{}}, {ObjectDisruption: &scenario.ObjectDisruption{}}} {
		k := KindOf(a)
		if k == nil {
			t.Fatalf("no kind for %+v", a)
		}
		if tol, ok := k.Tolerance(); !ok || tol.Direction != "lower" {
			t.Errorf("%s tolerance %+v %v", k.Name(), tol, ok)
		}
	}
}

func evaluate(env *Env, a scenario.Assertion) Result {
	return Evaluate(context.Background(), env, []scenario.Assertion{a})[0]
}
