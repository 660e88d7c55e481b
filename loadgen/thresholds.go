package loadgen

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/assertions"
)

// Threshold is one k6 threshold expression on a metric, as `k6 inspect`
// lists them: "p(95)<100" on "backend_call_duration{call:authrep}".
type Threshold struct {
	// Metric is the k6 metric name, Tags its submetric filter.
	Metric string
	Tags   map[string]string
	// Source is the metric as written, with its tags.
	Source string
	// Agg is count, rate, value, avg, min, max, med or p(N).
	Agg string
	// Quantile is N/100 for p(N) (0.5 for med).
	Quantile float64
	Op       string
	Bound    float64
	// Expr is the expression as written.
	Expr string
}

var thresholdExpr = regexp.MustCompile(`^\s*(count|rate|value|avg|min|max|med|p\((\d+(?:\.\d+)?)\))\s*(<=|>=|===|==|!=|<|>)\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$`)

// ParseThreshold reads one k6 threshold of metric (which may carry a
// submetric filter "name{tag:value,...}").
func ParseThreshold(metric, expr string) (Threshold, error) {
	t := Threshold{Source: metric, Expr: expr, Tags: map[string]string{}}
	name, tags, hasTags := strings.Cut(metric, "{")
	t.Metric = strings.TrimSpace(name)
	if t.Metric == "" {
		return t, fmt.Errorf("threshold %q: empty metric name", metric)
	}
	if hasTags {
		tags, ok := strings.CutSuffix(strings.TrimSpace(tags), "}")
		if !ok {
			return t, fmt.Errorf("threshold metric %q: missing }", metric)
		}
		for _, kv := range strings.Split(tags, ",") {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return t, fmt.Errorf("threshold metric %q: tag %q is not key:value", metric, kv)
			}
			t.Tags[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	m := thresholdExpr.FindStringSubmatch(expr)
	if m == nil {
		return t, fmt.Errorf("threshold %q on %s: not AGG OP NUMBER (aggregations: count rate value avg min max med p(N))", expr, metric)
	}
	t.Agg, t.Op = m[1], m[3]
	if t.Op == "===" {
		t.Op = "=="
	}
	switch {
	case m[2] != "":
		q, _ := strconv.ParseFloat(m[2], 64)
		if q > 100 {
			return t, fmt.Errorf("threshold %q on %s: percentile above 100", expr, metric)
		}
		t.Quantile = q / 100
	case t.Agg == "med":
		t.Quantile = 0.5
	}
	t.Bound, _ = strconv.ParseFloat(m[4], 64)
	return t, nil
}

// ParseThresholds reads the thresholds object of k6's options (`k6
// inspect`): metric → list of expressions, each a string or an object with
// a "threshold" field. The result is sorted for stable reports.
func ParseThresholds(raw map[string][]any) ([]Threshold, error) {
	var out []Threshold
	for metric, exprs := range raw {
		for _, e := range exprs {
			var expr string
			switch v := e.(type) {
			case string:
				expr = v
			case map[string]any:
				s, ok := v["threshold"].(string)
				if !ok {
					return nil, fmt.Errorf("threshold on %s: object without a threshold string", metric)
				}
				expr = s
			default:
				return nil, fmt.Errorf("threshold on %s: %T is neither a string nor an object", metric, e)
			}
			t, err := ParseThreshold(metric, expr)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Expr < out[j].Expr
	})
	return out, nil
}

// Aggregator evaluates k6 thresholds over every generator of a run at once,
// from what they remote-wrote to Prometheus (each sample carries the run's
// testid and the generator's index as tags). k6-operator's runners each
// judge their own slice; here a threshold such as count<10 is judged on the
// whole run, exactly as one k6 process doing all the load would.
//
// How each aggregation combines generators:
//   - count on a counter: the sum of the generators' final counts (exact);
//   - count/avg/p(N)/med on a trend: computed on the sum of the generators'
//     native histograms (k6's K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM;
//     percentiles exact to the histogram's ~10% bucket width);
//   - min/max on a trend: the lowest/highest bucket bound (conservative);
//   - rate: the generators' rates weighted by their iteration counts (k6
//     remote-writes a rate without its sample count; exact when the metric
//     is added once per iteration, as checks and deadline misses are);
//   - value on a gauge: the sum over generators (vus adds up).
type Aggregator struct {
	Q      assertions.Querier
	TestID string
	// Start and End bound the run; queries are evaluated at End over the
	// whole run.
	Start, End time.Time
}

// Evaluate judges every threshold; a query that fails is that threshold's
// error, the others still run.
func (a *Aggregator) Evaluate(ctx context.Context, ts []Threshold) []assertions.Result {
	out := make([]assertions.Result, 0, len(ts))
	for _, t := range ts {
		name := "k6:" + t.Source + ":" + t.Expr
		desc := fmt.Sprintf("k6 threshold %s on %s, all generators together", t.Expr, t.Source)
		v, unit, note, err := a.value(ctx, t)
		if unit == "" {
			unit = t.Unit() // no series to tell by: what k6 would say
		}
		if err != nil {
			out = append(out, assertions.Result{Name: name, Kind: assertions.KindK6Threshold, Description: desc,
				Op: t.Op, Bound: t.Bound, Stat: t.Agg, Unit: unit, Status: assertions.Error, Error: err.Error()})
			continue
		}
		if note != "" {
			desc += " (" + note + ")"
		}
		if math.IsNaN(v) {
			// k6 passes a threshold whose metric got no sample; so do we,
			// and say so.
			r := assertions.Result{Name: name, Kind: assertions.KindK6Threshold, Description: desc + " (no samples)",
				Op: t.Op, Bound: t.Bound, Stat: t.Agg, Unit: unit, Status: assertions.Pass}
			out = append(out, r)
			continue
		}
		r := assertions.Check(name, assertions.KindK6Threshold, desc, t.Op, v, t.Bound)
		r.Stat, r.Unit = t.Agg, unit
		out = append(out, r)
	}
	return out
}

// timeTrends are the trends k6 and perfrun's extension record as times
// (metrics.Time), whose thresholds and summary values are in ms. k6's
// summary file does not say which trends are times; its remote write
// does, by the _seconds suffix, which the Aggregator reads instead.
var timeTrends = map[string]bool{
	"http_req_duration": true, "http_req_blocked": true, "http_req_connecting": true, "http_req_tls_handshaking": true,
	"http_req_sending": true, "http_req_waiting": true, "http_req_receiving": true, "iteration_duration": true,
	"group_duration": true, "ws_connecting": true, "ws_session_duration": true, "ws_ping": true, "grpc_req_duration": true,
	// xk6-backend (backend.go: metrics.Time)
	"backend_call_duration": true, "backend_item_reconcile_latency": true, "backend_kube_create_duration": true,
}

// Unit is the unit of the threshold's value and bound: ms for an
// aggregate of a time trend other than its count, none otherwise (a
// count, a rate's share, a gauge's value).
func (t Threshold) Unit() string {
	switch t.Agg {
	case "count", "rate", "value":
		return ""
	}
	if timeTrends[t.Metric] {
		return "ms"
	}
	return ""
}

// ThresholdResult is a threshold as k6 itself judged it (its summary),
// crossed or not, with the value k6 measured when the summary has it
// (values: the metric's numbers by k6's name for them). The verdict is
// k6's: the value shows how close it was.
func ThresholdResult(t Threshold, crossed bool, values map[string]float64) assertions.Result {
	r := assertions.Result{Name: "k6:" + t.Source + ":" + t.Expr, Kind: assertions.KindK6Threshold,
		Description: "k6 threshold " + t.Expr + " on " + t.Source, Op: t.Op, Bound: t.Bound, Stat: t.Agg, Unit: t.Unit(), Status: assertions.Pass}
	if crossed {
		r.Status = assertions.Fail
	}
	key := t.Agg
	if key == "rate" {
		if _, ok := values["rate"]; !ok {
			key = "value" // a Rate metric: k6's summary file calls its rate value
		}
	}
	if v, ok := values[key]; ok {
		r.Value = &v
	} else {
		r.Description += fmt.Sprintf(" (k6's summary has no %s of it: --summary-trend-stats %s)", t.Agg, summaryTrendStats)
	}
	return r
}

// selector is the series of metric name with the run's testid and the
// threshold's tags.
func (a *Aggregator) selector(name string, t Threshold) string {
	keys := make([]string, 0, len(t.Tags))
	for k := range t.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := []string{fmt.Sprintf("testid=%q", a.TestID)}
	for _, k := range keys {
		m = append(m, fmt.Sprintf("%s=%q", promLabel(k), t.Tags[k]))
	}
	return name + "{" + strings.Join(m, ",") + "}"
}

// promLabel maps a k6 tag name to the label the remote-write output gives
// it (characters outside [a-zA-Z0-9_] become _).
func promLabel(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, k)
}

func (a *Aggregator) window() string {
	d := a.End.Sub(a.Start) + 2*time.Minute
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// value is the threshold's aggregate; NaN when the metric has no sample.
func (a *Aggregator) value(ctx context.Context, t Threshold) (v float64, unit, note string, err error) {
	base := "k6_" + promLabel(t.Metric)
	last := func(name string) string {
		return fmt.Sprintf("last_over_time(%s[%s])", a.selector(name, t), a.window())
	}
	switch t.Agg {
	case "count":
		if v, ok, err := a.scalar(ctx, "sum("+last(base+"_total")+")"); err != nil || ok {
			return v, "", "", err
		}
		// A count threshold on a trend counts its samples.
		if v, _, ok, err := a.trend(ctx, t, "histogram_count(%s)"); err != nil || ok {
			return v, "", "", err
		}
		// A counter that never moved was never written: zero, as k6 says.
		return 0, "", "", nil
	case "rate":
		v, note, err := a.rate(ctx, t, base)
		return v, "", note, err
	case "value":
		v, ok, err := a.scalar(ctx, "sum("+last(base)+")")
		if err != nil || !ok {
			return math.NaN(), "", "", err
		}
		return v, "", "sum over generators", nil
	case "avg":
		// histogram_sum/histogram_count, not histogram_avg: Prometheus
		// before 2.53 (Debian's 2.42) has no histogram_avg.
		v, ms, ok, err := a.trend(ctx, t, "histogram_sum(%[1]s) / histogram_count(%[1]s)")
		return trendValue(v, ms, ok, err, "")
	case "min":
		v, ms, ok, err := a.trend(ctx, t, "histogram_quantile(0, %s)")
		return trendValue(v, ms, ok, err, "lowest bucket bound")
	case "max":
		v, ms, ok, err := a.trend(ctx, t, "histogram_quantile(1, %s)")
		return trendValue(v, ms, ok, err, "highest bucket bound")
	default: // p(N), med
		v, ms, ok, err := a.trend(ctx, t, fmt.Sprintf("histogram_quantile(%g, %%s)", t.Quantile))
		return trendValue(v, ms, ok, err, "")
	}
}

// trendValue is a trend's aggregate as k6 states it: in ms when the trend
// is a time (its series in seconds), and unit says so.
func trendValue(v float64, ms, ok bool, err error, note string) (float64, string, string, error) {
	unit := ""
	if ms {
		unit = "ms"
	}
	if err != nil || !ok {
		return math.NaN(), unit, note, err
	}
	if ms {
		v *= 1000 // k6 thresholds on time are in milliseconds
	}
	return v, unit, note, nil
}

// trend evaluates f (a format with one %s for the summed native histogram)
// on the trend's series, trying the unit suffixes k6 gives them. ms says
// the series was in seconds.
func (a *Aggregator) trend(ctx context.Context, t Threshold, f string) (float64, bool, bool, error) {
	base := "k6_" + promLabel(t.Metric)
	for _, suffix := range []string{"_seconds", "", "_bytes"} {
		// An instant selector at End (the last sample within Prometheus's
		// 5m lookback), not last_over_time: before Prometheus 2.5x,
		// last_over_time drops native histograms to a float 0.
		sum := fmt.Sprintf("sum(%s)", a.selector(base+suffix, t))
		v, ok, err := a.scalar(ctx, fmt.Sprintf(f, sum))
		if err != nil {
			return 0, false, false, err
		}
		if ok {
			return v, suffix == "_seconds", true, nil
		}
	}
	return 0, false, false, nil
}

// rate weights each generator's rate by its iterations.
func (a *Aggregator) rate(ctx context.Context, t Threshold, base string) (float64, string, error) {
	rates, err := a.byGenerator(ctx, fmt.Sprintf("avg by (generator) (last_over_time(%s[%s]))", a.selector(base+"_rate", t), a.window()))
	if err != nil {
		return 0, "", err
	}
	if len(rates) == 0 {
		return math.NaN(), "", nil
	}
	iters, err := a.byGenerator(ctx, fmt.Sprintf(`sum by (generator) (last_over_time(k6_iterations_total{testid=%q}[%s]))`, a.TestID, a.window()))
	if err != nil {
		return 0, "", err
	}
	return WeightedRate(rates, iters), "generators weighted by iterations", nil
}

// WeightedRate combines per-generator rates, each weighted by its
// generator's weight (iterations); generators without a weight count as
// the mean weight, so that a missing counter never drops a generator.
func WeightedRate(rates, weights map[string]float64) float64 {
	var wsum, n float64
	for g := range rates {
		if w, ok := weights[g]; ok && w > 0 {
			wsum += w
			n++
		}
	}
	mean := 1.0
	if n > 0 {
		mean = wsum / n
	}
	var num, den float64
	for g, r := range rates {
		w, ok := weights[g]
		if !ok || w <= 0 {
			w = mean
		}
		num += r * w
		den += w
	}
	if den == 0 {
		return math.NaN()
	}
	return num / den
}

func (a *Aggregator) scalar(ctx context.Context, q string) (float64, bool, error) {
	v, _, _, err := a.Q.Query(ctx, q, a.End)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return 0, false, fmt.Errorf("query %s: got %s, want a vector", q, v.Type())
	}
	if len(vec) == 0 {
		return 0, false, nil
	}
	return float64(vec[0].Value), true, nil
}

func (a *Aggregator) byGenerator(ctx context.Context, q string) (map[string]float64, error) {
	v, _, _, err := a.Q.Query(ctx, q, a.End)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: got %s, want a vector", q, v.Type())
	}
	out := map[string]float64{}
	for _, s := range vec {
		out[string(s.Metric["generator"])] = float64(s.Value)
	}
	return out, nil
}
