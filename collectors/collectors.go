// Package collectors reads what a run measured outside its assertions'
// PromQL: k6's end-of-test summary (counts and thresholds), the system's
// ground truth (usage totals through the listener's internal API), and
// single values from Prometheus for the drain and the live progress.
package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"
)

// K6Summary is k6's --summary-export file.
type K6Summary struct {
	Metrics map[string]K6Metric `json:"metrics"`
}

// K6Metric is one metric of the summary: counters have count and rate,
// trends avg/p(95)..., rates value; thresholds map each expression to
// whether it failed (k6 writes true for a crossed threshold).
type K6Metric struct {
	Count      *float64        `json:"count,omitempty"`
	Value      *float64        `json:"value,omitempty"`
	Thresholds map[string]bool `json:"thresholds,omitempty"`
	// Values are every number of the metric by k6's name for it ("count",
	// "rate", "value", "avg", "med", "p(95)"...), time trends in ms: what
	// a threshold's verdict row shows as the measured value.
	Values map[string]float64 `json:"-"`
}

// UnmarshalJSON reads the fields above and keeps every number in Values.
func (m *K6Metric) UnmarshalJSON(b []byte) error {
	type plain K6Metric // no UnmarshalJSON: no recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Values = map[string]float64{}
	for k, v := range raw {
		var f float64
		if json.Unmarshal(v, &f) == nil { // thresholds (an object) are not a value
			p.Values[k] = f
		}
	}
	*m = K6Metric(p)
	return nil
}

// ReadK6Summary reads a --summary-export file.
func ReadK6Summary(path string) (*K6Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading k6 summary: %w", err)
	}
	var s K6Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding k6 summary %s: %w", path, err)
	}
	return &s, nil
}

// Count is a counter's total; a sub-metric such as
// backend_hits_accepted{metric:hits} exists in the summary only when a
// threshold names it.
func (s *K6Summary) Count(metric string) (float64, bool) {
	m, ok := s.Metrics[metric]
	if !ok || m.Count == nil {
		return 0, false
	}
	return *m.Count, true
}

// Threshold is one k6 threshold and whether it held.
type Threshold struct {
	Metric, Expr string
	Failed       bool
}

// Thresholds lists every threshold, sorted by metric and expression.
func (s *K6Summary) Thresholds() []Threshold {
	var out []Threshold
	for name, m := range s.Metrics {
		for expr, failed := range m.Thresholds {
			out = append(out, Threshold{Metric: name, Expr: expr, Failed: failed})
		}
	}
	slices.SortFunc(out, func(a, b Threshold) int {
		return strings.Compare(a.Metric+" "+a.Expr, b.Metric+" "+b.Expr)
	})
	return out
}

// UsageTotals sums one metric's eternity usage over applications, read
// from the listener's internal API (GET
// /internal/services/S/applications/A/usage/), a few at a time.
func UsageTotals(ctx context.Context, hc *http.Client, baseURL, service string, apps []string, metric string) (float64, error) {
	var (
		mu    sync.Mutex
		total float64
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, 8)
	for _, app := range apps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := appUsage(ctx, hc, baseURL, service, app, metric)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			total += v
		})
	}
	wg.Wait()
	return total, first
}

func appUsage(ctx context.Context, hc *http.Client, baseURL, service, app, metric string) (float64, error) {
	url := fmt.Sprintf("%s/internal/services/%s/applications/%s/usage/", strings.TrimSuffix(baseURL, "/"), service, app)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading usage of %s: %w", app, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, nil // an app the load never used
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading usage of %s: HTTP %d", app, resp.StatusCode)
	}
	var body struct {
		Totals map[string]float64 `json:"totals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decoding usage of %s: %w", app, err)
	}
	return body.Totals[metric], nil
}

// Scalar evaluates an instant query expected to give one number (a scalar
// or a single-series vector; no series reads as ok=false).
func Scalar(ctx context.Context, q Querier, query string, at time.Time) (v float64, ok bool, err error) {
	val, _, _, err := q.Query(ctx, query, at)
	if err != nil {
		return 0, false, err
	}
	switch x := val.(type) {
	case *model.Scalar:
		return float64(x.Value), true, nil
	case model.Vector:
		if len(x) == 0 {
			return 0, false, nil
		}
		sum := 0.0
		for _, s := range x {
			sum += float64(s.Value)
		}
		return sum, true, nil
	}
	return 0, false, fmt.Errorf("query %q: unexpected result type %s", query, val.Type())
}

// Querier is the instant query of client_golang's v1.API.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// Drain says how a wait for a query to reach 0 ended.
type Drain struct {
	At      time.Time // when the wait ended
	Zero    bool      // the query read 0
	Stalled bool      // the value stayed the same for the whole stall
	Last    float64   // the last value read
}

// ErrNoSeries is a drain query that matches nothing: a wrong metric or
// namespace, never a drained queue.
var ErrNoSeries = errors.New("returned no series (is the metric scraped, the namespace label right?): no series is not 0")

// WaitZero polls query until it reads 0, its value has not changed for
// stall (when stall > 0: nothing is draining it), or timeout passes. A
// timeout or a stall is not an error: the caller evaluates what the drain
// cost. A query with no series at its first read is ErrNoSeries; one whose
// series go away later (pods replaced) is waited for, and an error if
// they are still gone when the wait ends.
func WaitZero(ctx context.Context, q Querier, query string, timeout, stall, poll time.Duration) (Drain, error) {
	var d Drain
	var since time.Time // when the value last changed
	seen, missing := false, false
	err := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
		v, ok, err := Scalar(ctx, q, query, time.Now())
		d.At = time.Now()
		switch {
		case err != nil && ctx.Err() == nil:
			return false, err
		case err != nil:
			return false, nil // the timeout ended this query
		case !ok && !seen:
			return false, fmt.Errorf("%s %w", query, ErrNoSeries)
		case !ok:
			missing = true
			return false, nil
		case v == 0:
			d.Zero, d.Last, missing = true, 0, false
			return true, nil
		case since.IsZero() || v != d.Last:
			since, d.Last = d.At, v
		}
		seen, missing = true, false
		d.Stalled = stall > 0 && d.At.Sub(since) >= stall
		return d.Stalled, nil
	})
	if err != nil && !wait.Interrupted(err) {
		return d, err
	}
	if missing && ctx.Err() == nil {
		return d, fmt.Errorf("%s: its series went away after reading %g and did not come back within %s", query, d.Last, timeout)
	}
	return d, nil
}

// Scrapes is how many times in the last lookback Prometheus scraped each
// pod of ns and kept samples from it (scrape_samples_post_metric_relabeling,
// which every scrape job writes, so that a job that only keeps `up`, like
// the local cluster's service-endpoints job, does not count), and whether
// its last scrape kept any. Keyed by the pod label.
func Scrapes(ctx context.Context, q Querier, ns string, lookback time.Duration, at time.Time) (map[string]int, error) {
	sel := scrapeSamples(ns)
	// A pod whose last scrape kept nothing is left out: its counters are
	// not there yet.
	return perPod(ctx, q, fmt.Sprintf(`max by (pod) (count_over_time(%s[%s])) and on (pod) max by (pod) (%s) > 0`,
		sel, model.Duration(lookback), sel), at, func(v model.SampleValue) int { return int(v) })
}

// LastScrapes is when Prometheus last scraped each pod of ns and kept
// samples from it (see Scrapes), keyed by the pod label.
func LastScrapes(ctx context.Context, q Querier, ns string, at time.Time) (map[string]time.Time, error) {
	sel := scrapeSamples(ns)
	// timestamp() of the selector itself: of an operator's result (`sel >
	// 0`) it is the evaluation time, which would read every pod as just
	// scraped.
	return perPod(ctx, q, fmt.Sprintf(`max by (pod) (timestamp(%s) and on (pod, instance) (%s > 0))`, sel, sel), at,
		func(v model.SampleValue) time.Time { return time.UnixMilli(int64(float64(v) * 1000)) })
}

func scrapeSamples(ns string) string {
	return fmt.Sprintf(`scrape_samples_post_metric_relabeling{namespace=%q}`, ns)
}

// perPod evaluates a query aggregated by pod into a map by pod label.
func perPod[T any](ctx context.Context, q Querier, query string, at time.Time, conv func(model.SampleValue) T) (map[string]T, error) {
	val, _, _, err := q.Query(ctx, query, at)
	if err != nil {
		return nil, err
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %q: unexpected result type %s", query, val.Type())
	}
	out := make(map[string]T, len(vec))
	for _, s := range vec {
		out[string(s.Metric["pod"])] = conv(s.Value)
	}
	return out, nil
}
