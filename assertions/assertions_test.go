package assertions

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

func TestCompare(t *testing.T) {
	cases := []struct {
		op       string
		v, bound float64
		want     bool
	}{
		{"<", 1, 2, true}, {"<", 2, 2, false}, {"<=", 2, 2, true}, {"<=", 2.1, 2, false},
		{">", 3, 2, true}, {">", 2, 2, false}, {">=", 2, 2, true}, {">=", 1.9, 2, false},
		{"==", 0, 0, true}, {"==", 1, 0, false}, {"!=", 1, 0, true}, {"!=", 0, 0, false},
		{">=", math.NaN(), 0, false}, {"~", 1, 1, false},
	}
	for _, c := range cases {
		if got := Compare(c.op, c.v, c.bound); got != c.want {
			t.Errorf("Compare(%q, %v, %v) = %v, want %v", c.op, c.v, c.bound, got, c.want)
		}
	}
}

func TestReduce(t *testing.T) {
	vals := []float64{3, 1, 4, 1, 5}
	for how, want := range map[string]float64{"max": 5, "min": 1, "avg": 2.8, "first": 3, "last": 5} {
		got, err := Reduce(how, vals)
		if err != nil || math.Abs(got-want) > 1e-9 {
			t.Errorf("Reduce(%s) = %v, %v; want %v", how, got, err, want)
		}
	}
	if _, err := Reduce("max", nil); err == nil {
		t.Error("Reduce of no samples must fail")
	}
}

func TestWorst(t *testing.T) {
	if got := worst("<=", 1.5, []float64{1.1, 1.9, 1.2}); got != 1.9 {
		t.Errorf("worst <= = %v, want the largest", got)
	}
	if got := worst(">=", 100, []float64{150, 90, 120}); got != 90 {
		t.Errorf("worst >= = %v, want the smallest", got)
	}
	if got := worst("==", 0, []float64{0, 3, 0}); got != 3 {
		t.Errorf("worst == = %v, want the failing one", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestResolve(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	w := scenario.Window{Start: start, End: start.Add(60 * time.Second), Drained: start.Add(70 * time.Second), Namespace: "perfrun-x",
		Chaos: map[string]scenario.ActionWindow{"kill": {Start: start.Add(20 * time.Second)}}}
	cases := []struct {
		a         scenario.Assertion
		kind, op  string
		bound     float64
		wantQuery string
	}{
		{scenario.Assertion{Name: "q", Query: "up{namespace=\"{{.namespace}}\"}", Op: "==", Bound: ptr(1.0)}, KindQuery, "==", 1,
			`up{namespace="perfrun-x"}`},
		{scenario.Assertion{Name: "t", Throughput: &scenario.Throughput{Floor: 100, Selector: `x{a="b"}`}}, KindThroughput, ">=", 100,
			`x{a="b"}`}, // a Counter: its raw samples are counted (counter_test.go)
		{scenario.Assertion{Name: "e", EvenDistribution: &scenario.EvenDistribution{Max: 1.5}}, KindEvenDistribution, "<=", 1.5,
			`max(sum by (pod) (increase(perfrun_controller_reconciles_total{namespace="perfrun-x"}[60s] @ 1800000060))) / avg(sum by (pod) (increase(perfrun_controller_reconciles_total{namespace="perfrun-x"}[60s] @ 1800000060)))`},
		{scenario.Assertion{Name: "g", EvenDistribution: &scenario.EvenDistribution{Max: 2, Metric: "held", Gauge: true, By: "instance"}}, KindEvenDistribution, "<=", 2,
			`max(sum by (instance) (held{namespace="perfrun-x"} @ 1800000060)) / avg(sum by (instance) (held{namespace="perfrun-x"} @ 1800000060))`},
		{scenario.Assertion{Name: "d", Disruption: &scenario.Disruption{Chaos: "kill", Replicas: 3, Tolerance: 0.05, Deadline: "1"}}, KindDisruption, "<=", 1.0/3 + 0.05,
			`1 - sum(increase(perfrun_controller_reconcile_latency_seconds_bucket{namespace="perfrun-x",le="1"}[50s] @ 1800000070)) / sum(increase(perfrun_controller_reconcile_latency_seconds_count{namespace="perfrun-x"}[50s] @ 1800000070))`},
	}
	for _, c := range cases {
		s, ok := Resolve(c.a)
		if !ok {
			t.Fatalf("%s: not resolved", c.a.Name)
		}
		if s.Kind != c.kind || s.Op != c.op || math.Abs(s.Bound-c.bound) > 1e-12 {
			t.Errorf("%s: kind/op/bound = %s %s %v, want %s %s %v", c.a.Name, s.Kind, s.Op, s.Bound, c.kind, c.op, c.bound)
		}
		tmpl := s.Query
		if s.Counter != "" {
			tmpl = s.Counter
		}
		q, err := scenario.Expand(tmpl, w)
		if err != nil {
			t.Fatalf("%s: %v", c.a.Name, err)
		}
		if q != c.wantQuery {
			t.Errorf("%s: query\n got %s\nwant %s", c.a.Name, q, c.wantQuery)
		}
	}
	if _, ok := Resolve(scenario.Assertion{Name: "n", NoLoss: &scenario.NoLoss{Service: "s", Apps: 1}}); ok {
		t.Error("noLoss is not PromQL and must not resolve")
	}
}

// fakeQuerier answers with fixed values and records the queries.
type fakeQuerier struct {
	instant model.Value
	rng     model.Value
	err     error
	queries []string
	ranges  []v1.Range
}

func (f *fakeQuerier) Query(_ context.Context, q string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.queries = append(f.queries, q)
	return f.instant, nil, nil, f.err
}

func (f *fakeQuerier) QueryRange(_ context.Context, q string, r v1.Range, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.queries = append(f.queries, q)
	f.ranges = append(f.ranges, r)
	return f.rng, nil, nil, f.err
}

func TestEvaluateWithFake(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	w := scenario.Window{Start: start, End: start.Add(60 * time.Second), Namespace: "ns"}
	vec := model.Vector{
		{Metric: model.Metric{"pod": "a"}, Value: 120, Timestamp: 1},
		{Metric: model.Metric{"pod": "b"}, Value: 80, Timestamp: 1},
	}
	f := &fakeQuerier{instant: vec}
	e := &Evaluator{Q: f}
	res := e.Evaluate(context.Background(), []Spec{
		{Name: "floor", Kind: KindQuery, Query: "x", Op: ">=", Bound: 100},
		{Name: "ceiling", Kind: KindQuery, Query: "x", Op: "<=", Bound: 150, Skip: 10 * time.Second},
		{Name: "bad-template", Kind: KindQuery, Query: "{{.nope}}", Op: "<", Bound: 1},
	}, w)
	if res[0].Status != Fail || *res[0].Value != 80 || len(res[0].Series) != 2 {
		t.Errorf("floor: %+v; want fail with the worst series value 80 and both series", res[0])
	}
	if res[1].Status != Pass || *res[1].Value != 120 {
		t.Errorf("ceiling: %+v; want pass at 120", res[1])
	}
	if res[2].Status != Error || !strings.Contains(res[2].Error, "nope") {
		t.Errorf("bad template: %+v", res[2])
	}

	// Range: reduce per series, then the worst.
	f = &fakeQuerier{rng: model.Matrix{
		{Metric: model.Metric{"pod": "a"}, Values: []model.SamplePair{{Timestamp: 1, Value: 1}, {Timestamp: 2, Value: 9}}},
		{Metric: model.Metric{"pod": "b"}, Values: []model.SamplePair{{Timestamp: 1, Value: 3}, {Timestamp: 2, Value: 4}}},
	}}
	e = &Evaluator{Q: f}
	res = e.Evaluate(context.Background(), []Spec{{Name: "r", Query: "{{.start}}", Op: "<", Bound: 5,
		Range: &scenario.Range{Step: scenario.D(time.Second), Skip: scenario.D(10 * time.Second), Reduce: "max"}}}, w)
	if res[0].Status != Fail || *res[0].Value != 9 {
		t.Errorf("range: %+v; want fail at 9 (max of pod a)", res[0])
	}
	if got := f.ranges[0]; !got.Start.Equal(start.Add(10*time.Second)) || got.Step != time.Second {
		t.Errorf("range = %+v; want start moved by skip and step 1s", got)
	}
	if f.queries[0] != "1800000010" {
		t.Errorf("query = %q; want the skipped start in the template", f.queries[0])
	}

	// Errors and empty answers are errors, not passes.
	e = &Evaluator{Q: &fakeQuerier{err: errors.New("boom")}}
	if r := e.Evaluate(context.Background(), []Spec{{Name: "x", Query: "x", Op: "<", Bound: 1}}, w)[0]; r.Status != Error || !strings.Contains(r.Error, "boom") {
		t.Errorf("query error: %+v", r)
	}
	e = &Evaluator{Q: &fakeQuerier{instant: model.Vector{}}}
	if r := e.Evaluate(context.Background(), []Spec{{Name: "x", Query: "x", Op: "<", Bound: 1}}, w)[0]; r.Status != Error || !strings.Contains(r.Error, "no data") {
		t.Errorf("no data: %+v", r)
	}
}

func TestCheck(t *testing.T) {
	if r := Check("no-loss", KindNoLoss, "", "==", 0, 0); !r.Passed() {
		t.Errorf("%+v", r)
	}
	if r := Check("no-loss", KindNoLoss, "", "==", -3, 0); r.Passed() || *r.Value != -3 {
		t.Errorf("%+v", r)
	}
	if FormatValue(ptr(3.0)) != "3" || FormatValue(ptr(1.33333)) != "1.3333" || FormatValue(nil) != "-" {
		t.Error("FormatValue")
	}
}
