package assertions

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

// scrapes samples a counter that rises at rate per second from loadStart to
// loadEnd (0 before, flat after) every 5s from first, skipping the scrapes
// at the offsets in missed (seconds from first).
func scrapes(first, loadStart, loadEnd time.Time, n int, rate float64, missed ...int) []Point {
	var ps []Point
next:
	for i := range n {
		t := first.Add(time.Duration(i) * 5 * time.Second)
		for _, m := range missed {
			if i*5 == m {
				continue next
			}
		}
		ran := t.Sub(loadStart).Seconds()
		if t.After(loadEnd) {
			ran = loadEnd.Sub(loadStart).Seconds()
		}
		ps = append(ps, Point{T: t.UnixMilli(), V: max(ran, 0) * rate})
	}
	return ps
}

func TestCounterIncrease(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	loadStart := t0.Add(12 * time.Second) // between two scrapes
	loadEnd := loadStart.Add(40 * time.Second)
	const rate = 300.0

	cases := []struct {
		name        string
		ps          []Point
		start       time.Time
		startInside bool
		want        float64
	}{
		// The load is the window: every call counted, whatever the phase.
		{"whole load", scrapes(t0, loadStart, loadEnd, 16, rate), loadStart, false, 40 * rate},
		// A scrape missed right after the load's end (the case increase()
		// read 19% short): the next one still has the final count.
		{"missed scrape at the end", scrapes(t0, loadStart, loadEnd, 16, rate, 55), loadStart, false, 40 * rate},
		// Warm-up skipped: the start is inside the load and interpolated.
		{"warm-up skipped", scrapes(t0, loadStart, loadEnd, 16, rate), loadStart.Add(10 * time.Second), true, 30 * rate},
		{"warm-up skipped, scrape missed at the start", scrapes(t0, loadStart, loadEnd, 16, rate, 20, 25), loadStart.Add(10 * time.Second), true, 30 * rate},
	}
	for _, c := range cases {
		got := CounterIncrease(c.ps, c.start, loadEnd, c.startInside)
		if math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}

	// A reset (the pod restarted mid-load) is undone: 100 before, then 0
	// and 50 from the new process.
	ps := []Point{{T: 0, V: 0}, {T: 5000, V: 100}, {T: 10000, V: 20}, {T: 15000, V: 50}, {T: 20000, V: 50}}
	if got := CounterIncrease(ps, time.UnixMilli(0), time.UnixMilli(17000), false); got != 150 {
		t.Errorf("reset: %v, want 150", got)
	}
	// A series that starts inside the window counts from 0 (a pod started
	// during the load); one that ends inside it counts to its last sample
	// (a pod deleted); samples may come in any order.
	ps = []Point{{T: 15000, V: 30}, {T: 10000, V: 10}}
	if got := CounterIncrease(ps, time.UnixMilli(5000), time.UnixMilli(20000), true); got != 30 {
		t.Errorf("started and stopped inside: %v, want 30", got)
	}
	if got := CounterIncrease(nil, time.UnixMilli(0), time.UnixMilli(1), false); got != 0 {
		t.Errorf("no samples: %v", got)
	}
}

func TestEvaluateCounter(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	loadStart := t0.Add(12 * time.Second)
	w := scenario.Window{Start: loadStart, End: loadStart.Add(40 * time.Second), Namespace: "ns"}
	matrix := model.Matrix{}
	for pod, rate := range map[string]float64{"a": 200, "b": 100} {
		ss := &model.SampleStream{Metric: model.Metric{"pod": model.LabelValue(pod)}}
		for _, p := range scrapes(t0, loadStart, w.End, 16, rate, 55) {
			ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.V)})
		}
		matrix = append(matrix, ss)
	}
	f := &fakeQuerier{instant: matrix}
	s, _ := Resolve(scenario.Assertion{Name: "t", Throughput: &scenario.Throughput{Floor: 290, Skip: scenario.D(10 * time.Second)}})
	r := (&Evaluator{Q: f}).Evaluate(context.Background(), []Spec{s}, w)[0]
	if r.Status != Pass || r.Value == nil || math.Abs(*r.Value-300) > 1e-9 {
		t.Fatalf("throughput: %+v, want pass at 300/s", r)
	}
	// The samples read reach CounterPad past each edge of the skipped window.
	want := `apisonator_listener_response_codes{namespace="ns",request_type=~"authrep|authorize",resp_code="2xx"}[60s] @ 1800000067`
	if f.queries[0] != want || r.Query != want {
		t.Errorf("query %q, want %q", f.queries[0], want)
	}
	if len(r.Series) != 2 {
		t.Errorf("series %d, want the 2 raw series", len(r.Series))
	}
	r = (&Evaluator{Q: &fakeQuerier{instant: model.Matrix{}}}).Evaluate(context.Background(), []Spec{s}, w)[0]
	if r.Status != Error || !strings.Contains(r.Error, "no samples") {
		t.Errorf("no samples: %+v, want an error", r)
	}
}
