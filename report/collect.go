package report

import (
	"context"
	"fmt"
	"math"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// Names of the time series the report plots (result.Timeseries.Name).
const (
	SeriesThroughput  = "throughput"
	SeriesErrors      = "errors"
	SeriesLatency     = "latency"
	SeriesReconciles  = "reconcilesPerPod"
	SeriesBuckets     = "bucketsPerPod"
	SeriesPending     = "itemsPending"
	SeriesMissed      = assertions.SeriesMissed
	SeriesQueueDepth  = "queueDepth"
	SeriesWorkerJobs  = "workerJobs"
	SeriesReconcileP9 = "reconcileLatency"
	SeriesPods        = "podsUp"
	SeriesEndpoints   = "endpoints"
)

// Query is one range query the report plots: a template over
// scenario.Window, as assertions are.
type Query struct {
	Name, Unit, Query string
}

const ns = `namespace="{{.namespace}}"`

// Queries are what Collect asks Prometheus for over the run, written over
// the system's metric contract m. Latency is three series (p50, p95, p99)
// from one query by quantile label. Rates span 20s: four scrapes at the 5s
// interval perfrun's Prometheus uses.
func Queries(m scenario.Metrics) []Query {
	quantile := func(q float64, label string) string {
		return fmt.Sprintf(`label_replace(histogram_quantile(%g, sum by (le) (rate(%s_bucket{%s}[20s]))), "quantile", %q, "", "")`, q, m.Latency, ns, label)
	}
	return []Query{
		{SeriesThroughput, "req/s", `sum by (request_type) (rate(` + m.Served + `[20s]))`},
		{SeriesErrors, "req/s", `sum by (` + m.AnswerLabels + `) (rate(` + m.Failed + `[20s]))`},
		{SeriesLatency, "s", quantile(0.5, "p50") + " or " + quantile(0.95, "p95") + " or " + quantile(0.99, "p99")},
		{SeriesReconciles, "reconciles/s", `sum by (pod) (rate(` + m.Work + `{` + ns + `}[20s]))`},
		{SeriesBuckets, "buckets", `sum by (pod) (` + m.Owned + `{` + ns + `})`},
		{SeriesPending, "items", `sum(` + m.Pending + `{` + ns + `})`},
		{SeriesReconcileP9, "s", `histogram_quantile(0.99, sum by (le) (rate(` + m.WorkLatency + `_bucket{` + ns + `}[20s])))`},
		{SeriesQueueDepth, "jobs", `max by (format) (` + m.QueueDepth + `{` + ns + `})`},
		{SeriesWorkerJobs, "jobs/s", `sum by (pod) (rate(` + m.Jobs + `{` + ns + `}[20s]))`},
		// Replicas as Prometheus scrapes them: an autoscaler adding and
		// removing pods, a killed pod and its replacement.
		{SeriesPods, "pods", `count by (container) (up{job="kubernetes-pods",` + ns + `} == 1)`},
		// The Services' endpoints by readiness, as their EndpointSlices say.
		{SeriesEndpoints, "endpoints", `count by (service, ready) (up{job="service-endpoints",` + ns + `})`},
	}
}

// Collect range-queries Prometheus over the run (load start to the end of
// the drain) and sets run.Timeseries. A query that fails is recorded with
// its error and the others still run: a report with a gap beats none.
func Collect(ctx context.Context, q assertions.Querier, run *result.Run, w scenario.Window, step time.Duration) {
	if q == nil { // no Prometheus (a run that never got that far): nothing to plot
		return
	}
	if step <= 0 {
		step = 5 * time.Second
	}
	end := w.Drained
	if end.IsZero() || end.Before(w.End) {
		end = w.End
	}
	// A result written before the contract existed has none: the
	// reference system's.
	m := scenario.ReferenceMetrics()
	if run.Scenario != nil {
		m = run.Scenario.Spec.System.Metrics.WithDefaults(m)
	}
	queries := Queries(m)
	// An assertion's kind may add its own plot (a disruption its window),
	// once per series name.
	if run.Scenario != nil {
		seen := map[string]bool{}
		for _, a := range run.Scenario.Spec.Assertions {
			if p, ok := assertions.KindOf(a).(assertions.Plotter); ok {
				name, unit, q := p.Plot(a, m)
				if !seen[name] {
					seen[name] = true
					queries = append(queries, Query{name, unit, q})
				}
			}
		}
	}
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
