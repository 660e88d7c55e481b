package report

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// Names of the time series the report plots (result.Timeseries.Name).
const (
	SeriesThroughput = "throughput"
	SeriesErrors     = "errors"
	SeriesLatency    = "latency"
	// SeriesClientLatency is k6's side of the latency: call or request
	// durations as the load generator measured them.
	SeriesClientLatency = "clientLatency"
	SeriesReconciles    = "reconcilesPerPod"
	SeriesBuckets       = "bucketsPerPod"
	SeriesPending       = "itemsPending"
	SeriesMissed        = assertions.SeriesMissed
	SeriesQueueDepth    = "queueDepth"
	SeriesWorkerJobs    = "workerJobs"
	SeriesReconcileP9   = "reconcileLatency"
	SeriesPods          = "podsUp"
	SeriesEndpoints     = "endpoints"
)

// Query is one range query the report plots: a template over
// scenario.Window, as assertions are.
type Query struct {
	Name, Unit, Query string
}

const ns = `namespace="{{.namespace}}"`

// Rates span rateWindow: three scrapes at the 5s interval perfrun's
// Prometheus uses (the fewest that still give a rate when one scrape is
// late), short enough that a pod kill's dip of a few seconds shows.
const rateWindow = "15s"

// HistogramQuantile is the q-quantile of histogram metric (its name
// without _bucket) over sel, summed by the labels by (none: one series):
// from the native histogram where Prometheus stores one, from the classic
// _bucket series where it does not. The listener and worker export both
// forms; Prometheus 3 with scrape_native_histograms (the local cluster,
// kind's fixtures) keeps only the native one, Prometheus 2 or a scrape
// without native histograms only the classic one, and with
// always_scrape_classic_histograms both are stored and the native one
// wins. One query is right on every Prometheus perfrun may be aimed at.
func HistogramQuantile(q float64, metric, sel, by, window string) string {
	native, classic := "sum", "sum by (le)"
	if by != "" {
		native, classic = "sum by ("+by+")", "sum by (le, "+by+")"
	}
	return fmt.Sprintf(`histogram_quantile(%g, %s (rate(%s{%s}[%s]))) or histogram_quantile(%g, %s (rate(%s_bucket{%s}[%s])))`,
		q, native, metric, sel, window, q, classic, metric, sel, window)
}

// ClientTrends are the k6 trends whose percentiles are the client's side
// of the latency plot, the first that the run wrote: the extension's
// calls (perfrun's scripts), k6/http's requests (a plain k6 script), the
// object load's creates.
var ClientTrends = []string{"backend_call_duration", "http_req_duration", "backend_kube_create_duration"}

// k6Quantile is the q-quantile of a k6 trend as k6 remote-wrote it for the
// run's testid: a native histogram (k6_NAME_seconds, what perfrun's k6
// writes) over the rate window; until k6 has pushed twice (no rate yet:
// the load's first 5-10 s), the histogram itself, which then holds exactly
// what k6 measured since the load started; else k6's trend stat gauge
// (k6_NAME_pNN, cumulative since the load's start: what a k6 with
// K6_PROMETHEUS_RW_TREND_STATS writes).
func k6Quantile(q float64, trend string) string {
	sel := `testid="{{.testid}}"`
	return fmt.Sprintf(`histogram_quantile(%g, sum(rate(k6_%s_seconds{%s}[%s]))) or histogram_quantile(%g, sum(k6_%s_seconds{%s})) or max(k6_%s_p%d{%s})`,
		q, trend, sel, rateWindow, q, trend, sel, trend, int(math.Round(q*100)), sel)
}

// percentiles is p50, p95 and p99 of quantile(q) as three series told
// apart by their quantile label.
func percentiles(quantile func(float64) string) string {
	var parts []string
	for _, p := range []struct {
		q     float64
		label string
	}{{0.5, "p50"}, {0.95, "p95"}, {0.99, "p99"}} {
		parts = append(parts, fmt.Sprintf(`label_replace(%s, "quantile", %q, "", "")`, quantile(p.q), p.label))
	}
	return strings.Join(parts, " or ")
}

// Queries are what Collect asks Prometheus for over the run, written over
// the system's metric contract m. Latency is three series (p50, p95, p99)
// from one query by quantile label, the server's and k6's alike.
func Queries(m scenario.Metrics) []Query {
	rate := func(sel string) string { return "rate(" + sel + "[" + rateWindow + "])" }
	client := func(q float64) string {
		var alts []string
		for _, t := range ClientTrends {
			alts = append(alts, "("+k6Quantile(q, t)+")")
		}
		return strings.Join(alts, " or ")
	}
	return []Query{
		{SeriesThroughput, "req/s", `sum by (request_type) (` + rate(m.Served) + `)`},
		// No failure at all is a line at zero (while answers flowed), not
		// an empty plot: the counter of failed answers has no series until
		// the first one. The zero line ("none") only where there is no
		// failure line.
		{SeriesErrors, "req/s", `sum by (` + m.AnswerLabels + `) (` + rate(m.Failed) + `) or (label_replace(0 * sum(` + rate(m.Answers) +
			`), "failed", "none", "", "") unless on() sum(` + rate(m.Failed) + `))`},
		{SeriesLatency, "s", percentiles(func(q float64) string { return HistogramQuantile(q, m.Latency, ns, "", rateWindow) })},
		{SeriesClientLatency, "s", percentiles(client)},
		{SeriesReconciles, "reconciles/s", `sum by (pod) (` + rate(m.Work+`{`+ns+`}`) + `)`},
		{SeriesBuckets, "buckets", `sum by (pod) (` + m.Owned + `{` + ns + `})`},
		{SeriesPending, "items", `sum(` + m.Pending + `{` + ns + `})`},
		{SeriesReconcileP9, "s", HistogramQuantile(0.99, m.WorkLatency, ns, "", rateWindow)},
		{SeriesQueueDepth, "jobs", `max by (format) (` + m.QueueDepth + `{` + ns + `})`},
		{SeriesWorkerJobs, "jobs/s", `sum by (pod) (` + rate(m.Jobs+`{`+ns+`}`) + `)`},
		// Replicas as Prometheus scrapes them: an autoscaler adding and
		// removing pods, a killed pod and its replacement.
		{SeriesPods, "pods", `count by (container) (up{job="kubernetes-pods",` + ns + `} == 1)`},
		// The Services' endpoints by readiness, as their EndpointSlices say.
		{SeriesEndpoints, "endpoints", `count by (service, ready) (up{job="service-endpoints",` + ns + `})`},
	}
}

// QueriesFor are the queries Collect runs for a run of sc: Queries over
// its metric contract (the reference system's when sc is nil: a result
// written before the contract existed has none), and the plot each of its
// assertions' kinds adds (a disruption its window), once per series name.
func QueriesFor(sc *scenario.Scenario) []Query {
	m := scenario.ReferenceMetrics()
	if sc != nil {
		m = sc.Spec.System.Metrics.WithDefaults(m)
	}
	queries := Queries(m)
	if sc == nil {
		return queries
	}
	seen := map[string]bool{}
	for _, a := range sc.Spec.Assertions {
		if p, ok := assertions.KindOf(a).(assertions.Plotter); ok {
			name, unit, q := p.Plot(a, m)
			if !seen[name] {
				seen[name] = true
				queries = append(queries, Query{name, unit, q})
			}
		}
	}
	return queries
}

// DefaultStep is Collect's query step when the caller gives none.
const DefaultStep = time.Second

// Collect range-queries Prometheus over the run (load start to the end of
// the drain) and sets run.Timeseries. A query that fails is recorded with
// its error and the others still run: a report with a gap beats none.
func Collect(ctx context.Context, q assertions.Querier, run *result.Run, w scenario.Window, step time.Duration) {
	if q == nil { // no Prometheus (a run that never got that far): nothing to plot
		return
	}
	if step <= 0 {
		// Finer than the 5s scrape interval, so that where a dip starts
		// and ends reads to the second rather than to the scrape.
		step = DefaultStep
	}
	end := w.Drained
	if end.IsZero() || end.Before(w.End) {
		end = w.End
	}
	queries := QueriesFor(run.Scenario)
	run.Timeseries = run.Timeseries[:0]
	for _, qu := range queries {
		ts := result.Timeseries{Name: qu.Name, Unit: qu.Unit}
		expr, err := scenario.Expand(qu.Query, w)
		if err != nil {
			ts.Error = err.Error()
			run.Timeseries = append(run.Timeseries, ts)
			continue
		}
		ts.Query = expr
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		v, _, _, err := q.QueryRange(qctx, expr, v1.Range{Start: w.Start, End: end, Step: step})
		cancel()
		if err != nil {
			ts.Error = fmt.Sprintf("range query: %v", err)
		} else {
			ts.Series = finite(assertions.ToSeries(v))
		}
		run.Timeseries = append(run.Timeseries, ts)
	}
}

// finite drops NaN and infinite samples (histogram_quantile over an empty
// window gives NaN): JSON cannot carry them, and a gap plots as a gap.
func finite(ss []assertions.Series) []assertions.Series {
	for i, s := range ss {
		pts := s.Points[:0]
		for _, p := range s.Points {
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				pts = append(pts, p)
			}
		}
		ss[i].Points = pts
	}
	return ss
}
