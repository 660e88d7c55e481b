package loadgen

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/assertions"
)

func TestSliceCoversEverythingOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 7, 10, 64, MaxGenerators} {
		segs, err := Slice(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) != n {
			t.Fatalf("n=%d: %d segments", n, len(segs))
		}
		// Contiguous from 0 to 1 in exact rationals: no gap, no overlap.
		end := new(big.Rat)
		sum := new(big.Rat)
		for i, s := range segs {
			from, to := big.NewRat(s.From, s.Den), big.NewRat(s.To, s.Den)
			if from.Cmp(end) != 0 {
				t.Fatalf("n=%d: segment %d starts at %s, previous ended at %s", n, i, from, end)
			}
			if to.Cmp(from) <= 0 {
				t.Fatalf("n=%d: segment %d is empty", n, i)
			}
			end = to
			sum.Add(sum, new(big.Rat).Sub(to, from))
		}
		if end.Cmp(big.NewRat(1, 1)) != 0 || sum.Cmp(big.NewRat(1, 1)) != 0 {
			t.Fatalf("n=%d: segments end at %s and add up to %s, want 1", n, end, sum)
		}
		// The sequence k6 gets has every boundary once.
		seq := strings.Split(Sequence(segs), ",")
		if len(seq) != n+1 || seq[0] != "0" || seq[n] != "1" {
			t.Fatalf("n=%d: sequence %q", n, Sequence(segs))
		}
		for i, s := range segs {
			if want := seq[i] + ":" + seq[i+1]; s.String() != want {
				t.Fatalf("n=%d: segment %d is %s, sequence says %s", n, i, s, want)
			}
		}
	}
}

func TestSliceRejectsBadCounts(t *testing.T) {
	for _, n := range []int{0, -1, MaxGenerators + 1} {
		if _, err := Slice(n); err == nil || !strings.Contains(err.Error(), "generators") {
			t.Errorf("Slice(%d) = %v, want an error naming generators", n, err)
		}
	}
}

func TestSegmentStringsAreReduced(t *testing.T) {
	segs, _ := Slice(4)
	got := []string{}
	for _, s := range segs {
		got = append(got, s.String())
	}
	want := []string{"0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"}
	if !slices.Equal(got, want) {
		t.Fatalf("segments %q, want %q", got, want)
	}
	if Sequence(segs) != "0,1/4,1/2,3/4,1" {
		t.Fatalf("sequence %q", Sequence(segs))
	}
}

func TestOfferedRatesAddUp(t *testing.T) {
	for _, n := range []int{1, 2, 3, 6, 7, 10} {
		for _, rate := range []float64{1, 10, 333, 1000, 2500.5} {
			segs, _ := Slice(n)
			var sum float64
			for _, s := range segs {
				sum += s.OfferedRate(rate)
			}
			if math.Abs(sum-rate) > 1e-9*rate {
				t.Errorf("n=%d rate=%g: shares add up to %g", n, rate, sum)
			}
		}
	}
}

func TestKeySlicesDisjointAndComplete(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 7, 10} {
		for _, keys := range []int{n, n + 1, 10, 99, 100, 101, 1000, 12345} {
			if keys < n {
				continue
			}
			segs, _ := Slice(n)
			ks, err := Keys(segs, keys)
			if err != nil {
				t.Fatal(err)
			}
			seen := make([]int, keys)
			for _, k := range ks {
				if k.Count < 1 {
					t.Fatalf("n=%d keys=%d: empty slice %+v", n, keys, k)
				}
				for j := k.Offset; j < k.Offset+k.Count; j++ {
					seen[j]++
				}
			}
			for j, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d keys=%d: key %d used by %d generators", n, keys, j, c)
				}
			}
			// Balanced: slices differ by at most one key.
			minC, maxC := keys, 0
			for _, k := range ks {
				minC, maxC = min(minC, k.Count), max(maxC, k.Count)
			}
			if maxC-minC > 1 {
				t.Errorf("n=%d keys=%d: slices from %d to %d keys", n, keys, minC, maxC)
			}
		}
	}
	segs, _ := Slice(4)
	if _, err := Keys(segs, 3); err == nil || !strings.Contains(err.Error(), "key space") {
		t.Fatalf("3 keys over 4 generators: %v, want an error", err)
	}
}

func TestOfferedIterations(t *testing.T) {
	o := &Options{Scenarios: map[string]ScenarioOptions{
		"flat": {Executor: "constant-arrival-rate", Rate: 100, TimeUnit: "1s", Duration: "30s"},
		"ramp": {Executor: "ramping-arrival-rate", StartRate: 0, TimeUnit: "1m", Stages: []Stage{
			{Duration: "1m", Target: 60}, {Duration: "2m", Target: 60}, {Duration: "1m", Target: 0}}},
		"closed": {Executor: "constant-vus", Duration: "10s"},
	}}
	got, ok, err := o.OfferedIterations()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// 100/s·30s + (30 + 120 + 30) per minute-units.
	if want := 3000.0 + 30 + 120 + 30; got != want {
		t.Fatalf("offered %g, want %g", got, want)
	}
	closed := &Options{Scenarios: map[string]ScenarioOptions{"c": {Executor: "constant-vus"}}}
	if _, ok, _ := closed.OfferedIterations(); ok {
		t.Fatal("a closed-model load has no offered rate")
	}
}

func TestParseThreshold(t *testing.T) {
	cases := []struct {
		metric, expr string
		agg, op      string
		q, bound     float64
		tags         map[string]string
	}{
		{"backend_call_duration{call:authrep}", "p(95)<100", "p(95)", "<", 0.95, 100, map[string]string{"call": "authrep"}},
		{"backend_results{call:authrep,outcome:rejected}", "count==0", "count", "==", 0, 0, map[string]string{"call": "authrep", "outcome": "rejected"}},
		{"checks", "rate===1", "rate", "==", 0, 1, map[string]string{}},
		{"dropped_iterations", " count < 2 ", "count", "<", 0, 2, map[string]string{}},
		{"http_req_duration", "med<=1.5e2", "med", "<=", 0.5, 150, map[string]string{}},
		{"x", "p(99.9)<250", "p(99.9)", "<", 0.999, 250, map[string]string{}},
	}
	for _, c := range cases {
		th, err := ParseThreshold(c.metric, c.expr)
		if err != nil {
			t.Fatalf("%s %s: %v", c.metric, c.expr, err)
		}
		if th.Agg != c.agg || th.Op != c.op || math.Abs(th.Quantile-c.q) > 1e-12 || th.Bound != c.bound || fmt.Sprint(th.Tags) != fmt.Sprint(c.tags) {
			t.Errorf("%s %s: got %+v", c.metric, c.expr, th)
		}
	}
	for _, bad := range [][2]string{{"m", "p95<1"}, {"m", "count<"}, {"m{a}", "count<1"}, {"m{a:b", "count<1"}, {"", "count<1"}, {"m", "p(101)<1"}} {
		if _, err := ParseThreshold(bad[0], bad[1]); err == nil {
			t.Errorf("%q %q: no error", bad[0], bad[1])
		}
	}
}

func TestParseThresholdsFromInspect(t *testing.T) {
	ts, err := ParseThresholds(map[string][]any{
		"b": {"count<1", map[string]any{"threshold": "count<5", "abortOnFail": true}},
		"a": {"rate>0.9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, t := range ts {
		got = append(got, t.Source+" "+t.Expr)
	}
	if want := []string{"a rate>0.9", "b count<1", "b count<5"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := ParseThresholds(map[string][]any{"a": {42}}); err == nil {
		t.Fatal("a number is not a threshold")
	}
}

// fakeProm answers instant queries by the metric name they contain, with
// one sample per generator, as Prometheus would after the generators
// remote-wrote; aggregate queries (sum/histogram_*) get the given totals.
type fakeProm struct {
	answers map[string]model.Vector
	queries []string
}

func (f *fakeProm) Query(_ context.Context, q string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.queries = append(f.queries, q)
	// Longest match first, so k6_x_total does not answer for k6_x_total_y.
	keys := make([]string, 0, len(f.answers))
	for k := range f.answers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	for _, k := range keys {
		if strings.Contains(q, k) {
			return f.answers[k], nil, nil, nil
		}
	}
	return model.Vector{}, nil, nil, nil
}

func (f *fakeProm) QueryRange(context.Context, string, v1.Range, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	return nil, nil, nil, fmt.Errorf("not used")
}

func vec(vals map[string]float64) model.Vector {
	var v model.Vector
	for g, x := range vals {
		v = append(v, &model.Sample{Metric: model.Metric{"generator": model.LabelValue(g)}, Value: model.SampleValue(x)})
	}
	return v
}

func one(x float64) model.Vector { return model.Vector{&model.Sample{Value: model.SampleValue(x)}} }

func TestAggregatorJudgesTheWholeRun(t *testing.T) {
	// Two generators each dropped 1 iteration: each alone passes count<2,
	// the run (2 dropped) does not; the same for errors.
	prom := &fakeProm{answers: map[string]model.Vector{
		`sum(last_over_time(k6_dropped_iterations_total{testid="t1"}`:                             one(2),
		`sum(last_over_time(k6_backend_results_total{testid="t1",call="authrep",outcome="error"}`: one(0),
		// p95 of the summed native histograms, in seconds.
		`histogram_quantile(0.95, sum(k6_backend_call_duration_seconds{testid="t1",call="authrep"})`: one(0.080),
		`histogram_sum(sum(k6_backend_call_duration_seconds{testid="t1",call="authrep"})`:            one(0.120),
		`k6_checks_rate{testid="t1"}`:      vec(map[string]float64{"0": 1, "1": 0.5}),
		`k6_iterations_total{testid="t1"}`: vec(map[string]float64{"0": 300, "1": 100}),
	}}
	ts, err := ParseThresholds(map[string][]any{
		"dropped_iterations":                          {"count<2"},
		"backend_results{call:authrep,outcome:error}": {"count==0"},
		"backend_call_duration{call:authrep}":         {"p(95)<100", "avg<100"},
		"checks":                                      {"rate>0.8"},
		"never_written":                               {"p(99)<1"},
		"counter_never_moved":                         {"count==0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &Aggregator{Q: prom, TestID: "t1", Start: time.Unix(0, 0), End: time.Unix(60, 0)}
	got := map[string]assertions.Result{}
	for _, r := range a.Evaluate(context.Background(), ts) {
		got[r.Name] = r
	}
	check := func(name, status string, value float64) {
		t.Helper()
		r, ok := got[name]
		if !ok {
			t.Fatalf("no result %s; have %v", name, got)
		}
		if r.Status != status {
			t.Errorf("%s: status %s, want %s (%+v)", name, r.Status, status, r)
		}
		if !math.IsNaN(value) && (r.Value == nil || math.Abs(*r.Value-value) > 1e-9) {
			t.Errorf("%s: value %v, want %g", name, r.Value, value)
		}
	}
	check("k6:dropped_iterations:count<2", assertions.Fail, 2)
	check("k6:backend_results{call:authrep,outcome:error}:count==0", assertions.Pass, 0)
	check("k6:backend_call_duration{call:authrep}:p(95)<100", assertions.Pass, 80)
	check("k6:backend_call_duration{call:authrep}:avg<100", assertions.Fail, 120)
	// (1·300 + 0.5·100) / 400.
	check("k6:checks:rate>0.8", assertions.Pass, 0.875)
	check("k6:never_written:p(99)<1", assertions.Pass, math.NaN())
	check("k6:counter_never_moved:count==0", assertions.Pass, 0)
	for _, q := range prom.queries {
		if !strings.Contains(q, `testid="t1"`) {
			t.Errorf("query without the run's testid: %s", q)
		}
	}
}

func TestAggregatorReportsQueryErrors(t *testing.T) {
	a := &Aggregator{Q: &errProm{}, TestID: "t", End: time.Now()}
	ts, _ := ParseThresholds(map[string][]any{"x": {"count<1"}})
	rs := a.Evaluate(context.Background(), ts)
	if len(rs) != 1 || rs[0].Status != assertions.Error || !strings.Contains(rs[0].Error, "boom") {
		t.Fatalf("got %+v", rs)
	}
}

type errProm struct{ fakeProm }

func (*errProm) Query(context.Context, string, time.Time, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	return nil, nil, nil, fmt.Errorf("boom")
}

func TestWeightedRate(t *testing.T) {
	if got := WeightedRate(map[string]float64{"0": 1, "1": 0}, map[string]float64{"0": 1, "1": 3}); got != 0.25 {
		t.Fatalf("got %g", got)
	}
	// A generator without a weight counts as the mean weight, not zero.
	if got := WeightedRate(map[string]float64{"0": 1, "1": 0}, map[string]float64{"0": 10}); got != 0.5 {
		t.Fatalf("got %g", got)
	}
	if got := WeightedRate(nil, nil); !math.IsNaN(got) {
		t.Fatalf("no rates: %g", got)
	}
}

func TestJudgeFlagsFailedLaggingAndStarvedGenerators(t *testing.T) {
	stats := []GeneratorStats{
		{Index: 0, Segment: "0:1/3", Iterations: 1000, OfferedIterations: 1000, AchievedRate: 100, OfferedRate: 100},
		{Index: 1, Segment: "1/3:2/3", Iterations: 800, OfferedIterations: 1000, Dropped: 200, Starved: true},
		// A few drops (k6 growing its VUs) are not starvation.
		{Index: 3, Segment: "x", Iterations: 1000, OfferedIterations: 1000, Dropped: 4},
		{Index: 2, Segment: "2/3:1", Outcome: Outcome{Index: 2, Failed: true, Reason: "BackoffLimitExceeded"}},
	}
	status := map[string]string{}
	for _, r := range Judge(stats) {
		status[r.Name] = r.Status
	}
	want := map[string]string{
		"generator-0-finished": assertions.Pass, "generator-0-kept-up": assertions.Pass, "generator-0-not-starved": assertions.Pass,
		"generator-1-finished": assertions.Pass, "generator-1-kept-up": assertions.Fail, "generator-1-not-starved": assertions.Fail,
		"generator-2-finished": assertions.Fail, "generator-2-not-starved": assertions.Pass,
		"generator-3-finished": assertions.Pass, "generator-3-kept-up": assertions.Pass, "generator-3-not-starved": assertions.Pass,
	}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", status, want)
	}
}

// TestInspectRelativeK6 runs the repository's k6 by a relative path with
// the scripts' folder as working directory, as the runner does.
func TestInspectRelativeK6(t *testing.T) {
	bin := buildK6(t)
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, bin)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Inspect(context.Background(), rel, "../fixtures/load", "throughput.js", map[string]string{"RATE": "10", "DURATION": "30s"})
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := o.OfferedIterations()
	if err != nil || !ok || n != 300 {
		t.Fatalf("offered %g %v %v, want 300", n, ok, err)
	}
	if len(o.Thresholds) == 0 {
		t.Fatal("no thresholds")
	}
}

func TestStatsPerGenerator(t *testing.T) {
	r, err := Render(spec())
	if err != nil {
		t.Fatal(err)
	}
	prom := &fakeProm{answers: map[string]model.Vector{
		`k6_iterations_total{testid="abc"}`:         vec(map[string]float64{"0": 2000, "1": 2000, "2": 1500}),
		`k6_dropped_iterations_total{testid="abc"}`: vec(map[string]float64{"2": 500}),
	}}
	start := time.Unix(0, 0)
	stats, err := Stats(context.Background(), prom, "abc", start, start.Add(100*time.Second), r,
		[]Outcome{{Index: 0}, {Index: 1}, {Index: 2}}, 6000)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 {
		t.Fatalf("%d stats", len(stats))
	}
	for i, s := range stats {
		if s.OfferedIterations != 2000 || s.OfferedRate != 20 {
			t.Errorf("generator %d: offered %g (%g/s), want a third of 6000 over 100s", i, s.OfferedIterations, s.OfferedRate)
		}
	}
	if stats[0].Starved || stats[0].Lagging || stats[0].AchievedRate != 20 {
		t.Errorf("generator 0: %+v", stats[0])
	}
	if !stats[2].Starved || !stats[2].Lagging || stats[2].Dropped != 500 {
		t.Errorf("generator 2 dropped a quarter: %+v", stats[2])
	}
	if stats[0].Keys != "0..2" || stats[2].Keys != "6..9" {
		t.Errorf("key slices %q %q", stats[0].Keys, stats[2].Keys)
	}
}
