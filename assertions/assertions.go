// Package assertions decides a run: every kind of assertion is one file
// implementing Kind (kinds.go lists them), evaluated after the run. The
// ready-made properties (throughput, even distribution, disruption) are
// PromQL written once here over the system's metric contract, in the style
// of clusterloader2's GenericPrometheusQuery and kube-burner's alert
// profiles, so that a scenario names the property rather than the PromQL;
// noLoss reads the system's ground truth; k6 thresholds come from the load.
package assertions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

// Spec is one assertion in PromQL form.
type Spec struct {
	Name        string
	Description string
	Kind        string
	// Query is a template over scenario.Window.
	Query string
	Op    string
	Bound float64
	// Range, when set, evaluates from start (+Range.Skip) to end.
	Range *scenario.Range
	// Skip moves the window's start forward (warm-up) for instant queries.
	Skip time.Duration
	// Stat and Unit say what the value is (Result.Stat, Result.Unit).
	Stat, Unit string
	// Counter, when set instead of Query, is a counter selector template:
	// the value is the counter's increase over the window per second,
	// counted from its raw samples (see CounterIncrease) rather than by
	// PromQL's increase().
	Counter string
}

// Status of an evaluated assertion.
const (
	Pass  = "pass"
	Fail  = "fail"
	Error = "error" // could not be evaluated: the harness cannot decide
)

// Result is an evaluated assertion with the data behind it.
type Result struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Description string   `json:"description,omitempty"`
	Query       string   `json:"query,omitempty"`
	Op          string   `json:"op"`
	Bound       float64  `json:"bound"`
	Value       *float64 `json:"value,omitempty"`
	// Stat is what the value measures ("p(95)", "max/mean", "req/s
	// served"), Unit the unit of value and bound ("ms", "req/s"; none for
	// a count or a share): a verdict row reads "p(95) = 4.2 ms < 100 ms".
	Stat   string `json:"stat,omitempty"`
	Unit   string `json:"unit,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Series are the samples the value came from (one point each for an
	// instant query).
	Series []Series `json:"series,omitempty"`
}

// Measured is the value as a verdict row shows it, with what it is and
// its unit: "p(95) = 4.2 ms", "max/mean = 1.03", "-" when there is none.
func (r Result) Measured() string {
	v := FormatValue(r.Value)
	if r.Value != nil && r.Unit != "" {
		v += " " + r.Unit
	}
	if r.Stat != "" {
		return r.Stat + " = " + v
	}
	return v
}

// Limit is the bound as a verdict row shows it: "< 100 ms".
func (r Result) Limit() string {
	b := r.Op + " " + FormatValue(&r.Bound)
	if r.Unit != "" {
		b += " " + r.Unit
	}
	return b
}

// Passed says the assertion held.
func (r Result) Passed() bool { return r.Status == Pass }

// Series is one labelled time series.
type Series struct {
	Labels map[string]string `json:"labels,omitempty"`
	Points []Point           `json:"points"`
}

// Point is a sample: unix milliseconds and value.
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// Check compares a value computed outside PromQL (no loss, k6 thresholds)
// and makes its Result.
func Check(name, kind, desc, op string, value, bound float64) Result {
	r := Result{Name: name, Kind: kind, Description: desc, Op: op, Bound: bound, Value: &value, Status: Fail}
	if Compare(op, value, bound) {
		r.Status = Pass
	}
	return r
}

// Compare applies op (< <= > >= == !=) to value and bound. NaN never passes.
func Compare(op string, v, bound float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch op {
	case "<":
		return v < bound
	case "<=":
		return v <= bound
	case ">":
		return v > bound
	case ">=":
		return v >= bound
	case "==":
		return v == bound
	case "!=":
		return v != bound
	}
	return false
}

// worst picks, among values, the one that most threatens the bound, so that
// an assertion over many series reports the series that decides it.
func worst(op string, bound float64, vals []float64) float64 {
	w := vals[0]
	for _, v := range vals[1:] {
		switch op {
		case "<", "<=":
			if v > w || math.IsNaN(v) {
				w = v
			}
		case ">", ">=":
			if v < w || math.IsNaN(v) {
				w = v
			}
		default:
			if !Compare(op, v, bound) && Compare(op, w, bound) {
				w = v
			}
		}
	}
	return w
}

// Reduce folds a series' values to one (max min avg last first).
func Reduce(how string, vals []float64) (float64, error) {
	if len(vals) == 0 {
		return 0, errors.New("no samples")
	}
	switch how {
	case "max", "":
		m := vals[0]
		for _, v := range vals[1:] {
			m = math.Max(m, v)
		}
		return m, nil
	case "min":
		m := vals[0]
		for _, v := range vals[1:] {
			m = math.Min(m, v)
		}
		return m, nil
	case "avg":
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		return sum / float64(len(vals)), nil
	case "last":
		return vals[len(vals)-1], nil
	case "first":
		return vals[0], nil
	}
	return 0, fmt.Errorf("unknown reducer %q", how)
}

// Querier is the part of client_golang's v1.API that evaluation needs.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// Evaluator evaluates Specs against one Prometheus.
type Evaluator struct {
	Q Querier
	// Timeout bounds each query (default 30s).
	Timeout time.Duration
}

// Evaluate runs every spec over the window. It never stops early: a query
// that fails becomes that assertion's error, and the others still run.
func (e *Evaluator) Evaluate(ctx context.Context, specs []Spec, w scenario.Window) []Result {
	out := make([]Result, 0, len(specs))
	for _, s := range specs {
		out = append(out, e.evaluate(ctx, s, w))
	}
	return out
}

func (e *Evaluator) evaluate(ctx context.Context, s Spec, w scenario.Window) Result {
	r := Result{Name: s.Name, Kind: s.Kind, Description: s.Description, Op: s.Op, Bound: s.Bound, Stat: s.Stat, Unit: s.Unit, Status: Error}
	skip := s.Skip
	if s.Range != nil {
		skip = s.Range.Skip.Duration
	}
	skipped := skip > 0 && w.Start.Add(skip).Before(w.End)
	if skipped {
		w.Start = w.Start.Add(skip)
	}
	if s.Counter != "" {
		return e.counter(ctx, s, w, skipped, r)
	}
	q, err := scenario.Expand(s.Query, w)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Query = q
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()

	var vals []float64
	if s.Range != nil {
		v, _, _, err := e.Q.QueryRange(ctx, q, v1.Range{Start: w.Start, End: w.End, Step: s.Range.Step.Duration})
		if err != nil {
			r.Error = fmt.Sprintf("range query: %v", err)
			return r
		}
		r.Series = toSeries(v)
		for _, ser := range r.Series {
			pv := make([]float64, len(ser.Points))
			for i, p := range ser.Points {
				pv[i] = p.V
			}
			rv, err := Reduce(s.Range.Reduce, pv)
			if err != nil {
				continue
			}
			vals = append(vals, rv)
		}
	} else {
		v, _, _, err := e.Q.Query(ctx, q, w.End)
		if err != nil {
			r.Error = fmt.Sprintf("query: %v", err)
			return r
		}
		r.Series = toSeries(v)
		for _, ser := range r.Series {
			for _, p := range ser.Points {
				vals = append(vals, p.V)
			}
		}
	}
	if len(vals) == 0 {
		r.Error = "query returned no data (is the metric scraped, the namespace label right, the window long enough?)"
		return r
	}
	val := worst(s.Op, s.Bound, vals)
	r.Value = &val
	r.Status = Fail
	if Compare(s.Op, val, s.Bound) {
		r.Status = Pass
	}
	return r
}

func (e *Evaluator) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := e.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return context.WithTimeout(ctx, timeout)
}

// ToSeries converts a Prometheus query result to Series (the report's
// range queries use it too).
func ToSeries(v model.Value) []Series { return toSeries(v) }

func toSeries(v model.Value) []Series {
	switch v := v.(type) {
	case *model.Scalar:
		return []Series{{Points: []Point{{T: int64(v.Timestamp), V: float64(v.Value)}}}}
	case model.Vector:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			out = append(out, Series{Labels: labels(s.Metric), Points: []Point{{T: int64(s.Timestamp), V: float64(s.Value)}}})
		}
		return out
	case model.Matrix:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			ps := make([]Point, 0, len(s.Values))
			for _, p := range s.Values {
				ps = append(ps, Point{T: int64(p.Timestamp), V: float64(p.Value)})
			}
			out = append(out, Series{Labels: labels(s.Metric), Points: ps})
		}
		return out
	}
	return nil
}

func labels(m model.Metric) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// FormatValue writes a value for tables: integers as integers, others with
// four significant digits.
func FormatValue(v *float64) string {
	if v == nil {
		return "-"
	}
	if *v == math.Trunc(*v) && math.Abs(*v) < 1e15 {
		return strconv.FormatFloat(*v, 'f', 0, 64)
	}
	return strings.TrimRight(strings.TrimRight(strconv.FormatFloat(*v, 'f', 4, 64), "0"), ".")
}
