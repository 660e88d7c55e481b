package assertions

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

// byQuery answers each query with the value of the first key it contains
// (an empty vector otherwise) and records the queries.
type byQuery struct {
	answers map[string]model.Value
	queries []string
}

func (f *byQuery) Query(_ context.Context, q string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.queries = append(f.queries, q)
	for k, v := range f.answers {
		if strings.Contains(q, k) {
			return v, nil, nil, nil
		}
	}
	return model.Vector{}, nil, nil, nil
}

func (f *byQuery) QueryRange(context.Context, string, v1.Range, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	panic("exclusiveOwnership makes no range query")
}

func TestExclusiveOwnership(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	w := scenario.Window{Start: start, End: start.Add(60 * time.Second), Drained: start.Add(75 * time.Second), Namespace: "ns"}
	m := scenario.ReferenceMetrics()
	count := func(v float64) model.Value { return model.Vector{{Value: model.SampleValue(v), Timestamp: 1}} }
	const wantQuery = `max(max_over_time(perfrun_controller_items_shared{namespace="ns",mode="statefulset"}[75s] @ 1800000075))`

	for _, tc := range []struct {
		name   string
		max    int
		shared model.Value // the count's answer; nil: no series
		other  model.Value // the diagnostic's answer (every mode)
		status string
		value  float64
		errHas string
	}{
		{name: "one owner each", shared: count(0), status: Pass},
		{name: "split brain", shared: count(412), status: Fail, value: 412},
		{name: "one key over", shared: count(1), status: Fail, value: 1},
		{name: "within a max", max: 5, shared: count(5), status: Pass, value: 5},
		{name: "leader election", other: model.Vector{{Metric: model.Metric{"mode": "leader-election"}, Value: 1}},
			status: Error, errHas: `perfrun_controller_items_shared only with mode="leader-election": exclusive ownership is a statefulset-mode verdict`},
		{name: "not exported", status: Error, errHas: "the run's namespace has no perfrun_controller_items_shared at all: the system does not export it"},
		{name: "no mode label", other: model.Vector{{Metric: model.Metric{"pod": "p"}, Value: 1}},
			status: Error, errHas: "but no series the selector matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &byQuery{answers: map[string]model.Value{}}
			if tc.shared != nil {
				f.answers["max_over_time"] = tc.shared
			}
			if tc.other != nil {
				f.answers["group by (mode)"] = tc.other
			}
			a := scenario.Assertion{Name: "one-owner", ExclusiveOwnership: &scenario.ExclusiveOwnership{Max: tc.max}}
			k := KindOf(a)
			if k == nil || k.Name() != KindExclusiveOwnership {
				t.Fatalf("KindOf = %v", k)
			}
			r := k.Evaluate(context.Background(), &Env{Q: f, Window: w, Metrics: m}, a)
			if r.Status != tc.status || r.Kind != KindExclusiveOwnership || r.Op != "<=" || r.Bound != float64(tc.max) {
				t.Fatalf("result %+v, want %s", r, tc.status)
			}
			if f.queries[0] != wantQuery || r.Query != wantQuery {
				t.Errorf("query\n got %s\nwant %s", f.queries[0], wantQuery)
			}
			if tc.errHas == "" {
				if r.Value == nil || *r.Value != tc.value {
					t.Errorf("value %s, want %g", FormatValue(r.Value), tc.value)
				}
				if got := r.Measured() + " " + r.Limit(); !strings.HasPrefix(got, "keys reconciled by more than one replica = ") {
					t.Errorf("verdict row %q", got)
				}
				return
			}
			if !strings.Contains(r.Error, tc.errHas) || !strings.Contains(r.Error, "spec.system.metrics.sharedItems") {
				t.Errorf("error %q, want it to say %q", r.Error, tc.errHas)
			}
			if len(f.queries) != 2 || f.queries[1] != `group by (mode) (perfrun_controller_items_shared{namespace="ns"})` {
				t.Errorf("diagnostic queries %q", f.queries)
			}
		})
	}
	if tol, ok := (exclusiveOwnershipKind{}).Tolerance(); !ok || tol.Direction != "lower" || tol.Floor >= 1 {
		t.Errorf("tolerance %+v: one key more must be a regression", tol)
	}
	d := (exclusiveOwnershipKind{}).spec(scenario.Assertion{ExclusiveOwnership: &scenario.ExclusiveOwnership{}}, m).Description
	if d != "keys reconciled by more than one replica (pod) over the load and drain ≤ 0: each key by its one owner only" {
		t.Errorf("description %q", d)
	}
}

// The query perfrun builds parses for a scenario with the assertion, and a
// contract selector that cannot be ranged over is refused by name.
func TestExclusiveOwnershipCheckQueries(t *testing.T) {
	s := &scenario.Scenario{}
	s.Spec.Load.Duration = scenario.D(time.Minute)
	s.Spec.System.Metrics = scenario.ReferenceMetrics()
	s.Spec.Assertions = []scenario.Assertion{{Name: "one-owner", ExclusiveOwnership: &scenario.ExclusiveOwnership{}}}
	if err := CheckQueries(s); err != nil {
		t.Fatalf("CheckQueries: %v", err)
	}
	s.Spec.System.Metrics.SharedItems = `sum(x)`
	if err := CheckQueries(s); err == nil || !strings.Contains(err.Error(), "spec.assertions[0].exclusiveOwnership") {
		t.Fatalf("CheckQueries with a function as the selector: %v", err)
	}
}
