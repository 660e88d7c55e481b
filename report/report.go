// Package report writes a run's report.html: one self-contained page (no
// script, no font or style from the network) with the verdict table first,
// then plots drawn as inline SVG: throughput and latency percentiles over
// time with chaos events marked, reconciles and buckets per pod, the
// disruption window, queue depth across an upgrade. A comparison of two
// sides gets a page in the same style with the plots side by side.
package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/compare"
	"github.com/perfrun/perfrun/result"
)

// File is the report's name in a result folder.
const File = "report.html"

// Write renders run's report into dir/report.html.
func Write(dir string, run *result.Run) error {
	return WriteFile(filepath.Join(dir, File), run)
}

// WriteFile renders run's report into path.
func WriteFile(path string, run *result.Run) error {
	return writeFile(path, func(w io.Writer) error { return Render(w, run) })
}

// WriteCompare renders a comparison into path.
func WriteCompare(path string, c *compare.Comparison, base, cand []compare.Run) error {
	return writeFile(path, func(w io.Writer) error { return RenderCompare(w, c, base, cand) })
}

func writeFile(path string, render func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	defer os.Remove(f.Name()) // no-op once renamed
	if err := render(f); err != nil {
		f.Close()
		return fmt.Errorf("rendering report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// plot is one figure on the page.
type plot struct {
	Name  string
	Title string
	Note  string
	chart *Chart
	bars  []Bar
	unit  string
}

func (p plot) max() float64 {
	if p.chart != nil {
		return p.chart.DataMax()
	}
	m := 0.0
	for _, b := range p.bars {
		m = math.Max(m, b.V)
	}
	return m
}

func (p plot) svg(ymax float64) template.HTML {
	if p.chart != nil {
		c := *p.chart
		c.YMax = ymax
		return template.HTML(c.SVG()) // #nosec: built by this package, every text escaped
	}
	return template.HTML(BarsSVG(p.Title, p.unit, p.bars, ymax))
}

// titles of the collected series, in page order.
var titles = []struct{ name, title, note string }{
	{SeriesThroughput, "Throughput: successful requests per second", "listener 2xx answers by request type"},
	{SeriesLatency, "Latency percentiles: server and client", "p50 / p95 / p99 of the listener's response time (server) beside k6's call duration (k6: the server's time plus the network and k6's own queueing), one scale"},
	{SeriesErrors, "Errors: non-2xx answers per second", ""},
	{SeriesReconciles, "Reconciles per pod", "controller reconciles per second, one line per pod"},
	{SeriesBuckets, "Buckets (keys) held per pod", "a lost pod's buckets, and who takes them over"},
	{SeriesMissed, "Disruption window: items past their deadline", "reconciles per second whose latency passed the disruption deadline"},
	{SeriesPending, "Items pending", ""},
	{SeriesReconcileP9, "Reconcile latency p99", "item created to reconciled"},
	{SeriesQueueDepth, "Queue depth by format", "v1 list and v2 stream: the upgrade's migration moves v1 into v2"},
	{SeriesWorkerJobs, "Worker jobs per second per pod", ""},
	{SeriesPods, "Pods up by component", "replicas Prometheus scrapes: an autoscaler adding and removing pods, a killed pod coming back"},
	{SeriesEndpoints, "Service endpoints, ready and not", "from the EndpointSlices: a listener saturated past its readiness CPU threshold leaves (ready=false) and comes back"},
}

// groups are the plots that only a scenario exercising a part of the
// system shows, with what exercising it means; the others (throughput,
// latency, errors, pods, endpoints) are every run's.
var groups = []struct {
	what   string
	series []string
	// exercised says the run gave these plots something to show.
	exercised func(run *result.Run, byName map[string]result.Timeseries) bool
	why       string
}{
	{"controller (reconciles, buckets per pod, items pending, reconcile latency, disruption window)",
		[]string{SeriesReconciles, SeriesBuckets, SeriesPending, SeriesReconcileP9, SeriesMissed},
		func(run *result.Run, byName map[string]result.Timeseries) bool {
			return hasAssertion(run, assertions.KindEvenDistribution, assertions.KindDisruption, assertions.KindObjectLatency, assertions.KindObjectDisruption) ||
				positive(byName[SeriesReconciles])
		}, "no item was reconciled"},
	{"workers (jobs per pod, queue depth)",
		[]string{SeriesWorkerJobs, SeriesQueueDepth},
		func(run *result.Run, byName map[string]result.Timeseries) bool {
			return hasAssertion(run, assertions.KindNoLoss) || hasChaos(run, "upgrade") ||
				positive(byName[SeriesWorkerJobs]) || positive(byName[SeriesQueueDepth])
		}, "no job was queued or applied"},
	// A load of items or Kubernetes objects only never calls the listener,
	// whose histograms then have no rate; k6's call durations exist only
	// for the calls it made.
	{"server latency",
		[]string{SeriesLatency},
		func(run *result.Run, byName map[string]result.Timeseries) bool {
			return positive(byName[SeriesThroughput])
		}, "the listener answered no request"},
	{"client latency",
		[]string{SeriesClientLatency},
		func(run *result.Run, byName map[string]result.Timeseries) bool {
			return positive(byName[SeriesThroughput]) || hasPoints(byName[SeriesClientLatency])
		}, "k6 timed no call"},
}

// hasPoints says a series has any sample at all.
func hasPoints(ts result.Timeseries) bool {
	return slices.ContainsFunc(ts.Series, func(s assertions.Series) bool { return len(s.Points) > 0 })
}

func hasAssertion(run *result.Run, kinds ...string) bool {
	for _, a := range run.Assertions {
		if slices.Contains(kinds, a.Kind) {
			return true
		}
	}
	return false
}

func hasChaos(run *result.Run, kind string) bool {
	return slices.ContainsFunc(run.Chaos, func(e result.Event) bool { return e.Kind == kind })
}

// positive says a series has a sample above zero: a counter that moved, a
// gauge that held something.
func positive(ts result.Timeseries) bool {
	for _, s := range ts.Series {
		for _, p := range s.Points {
			if p.V > 0 {
				return true
			}
		}
	}
	return false
}

// LeftOut are the report's series that the run did not exercise, each
// with why: the plots the page leaves out, and the series a check of the
// run may find empty.
func LeftOut(run *result.Run) map[string]string {
	byName := map[string]result.Timeseries{}
	for _, ts := range run.Timeseries {
		byName[ts.Name] = ts
	}
	out := map[string]string{}
	for _, g := range groups {
		if !g.exercised(run, byName) {
			for _, s := range g.series {
				out[s] = g.what + ": " + g.why
			}
		}
	}
	return out
}

// leftOut names the plots the run did not exercise, and why, by series.
func leftOut(run *result.Run, byName map[string]result.Timeseries) (skip map[string]bool, notes []string) {
	skip = map[string]bool{}
	for _, g := range groups {
		if g.exercised(run, byName) {
			continue
		}
		for _, s := range g.series {
			skip[s] = true
		}
		notes = append(notes, g.what+": "+g.why)
	}
	return skip, notes
}

// plots builds the run's figures from its time series, then from the series
// behind its range assertions when nothing was collected for them.
func plots(run *result.Run) []plot {
	ps, _ := plotsAndLeftOut(run)
	return ps
}

// plotsAndLeftOut is plots, and what it left out for the run did not
// exercise it.
func plotsAndLeftOut(run *result.Run) ([]plot, []string) {
	from, to := run.LoadStart, run.Drained
	if to.IsZero() || to.Before(run.LoadEnd) {
		to = run.LoadEnd
	}
	bands := bands(run)
	byName := map[string]result.Timeseries{}
	for _, ts := range run.Timeseries {
		byName[ts.Name] = ts
	}
	skip, left := leftOut(run, byName)
	var out []plot
	for _, t := range titles {
		ts, ok := byName[t.name]
		if t.name == SeriesLatency {
			// The client's percentiles beside the server's, one scale.
			cl, cok := byName[SeriesClientLatency]
			ts, ok = mergeLatency(ts, ok, cl, cok)
		}
		if !ok || skip[t.name] {
			continue
		}
		note := t.note
		if ts.Error != "" {
			note = "could not collect: " + ts.Error
		}
		out = append(out, plot{Name: t.name, Title: t.title, Note: note,
			chart: &Chart{Title: t.title, Unit: ts.Unit, Lines: lines(ts.Series), Bands: bands, Origin: run.LoadStart, From: from, To: to}})
		if t.name == SeriesReconciles && len(ts.Series) > 0 {
			out = append(out, plot{Name: "reconcileTotals", Title: "Reconciles per pod over the run", unit: "reconciles",
				Note: "the even-distribution property: bars of equal length are an even spread", bars: totals(ts.Series)})
		}
	}
	for _, a := range run.Assertions {
		if !hasRange(a) {
			continue
		}
		c := &Chart{Title: a.Name, Lines: lines(a.Series), Bands: bands, Origin: run.LoadStart, From: from, To: to}
		if first, last, ok := span(a.Series); ok {
			c.Lines = append(c.Lines, Line{Label: "bound " + a.Op + " " + assertions.FormatValue(&a.Bound),
				Points: []XY{{first, a.Bound}, {last, a.Bound}}})
		}
		out = append(out, plot{Name: "assertion:" + a.Name, Title: "Assertion " + a.Name, Note: a.Description, chart: c})
	}
	return out, left
}

// mergeLatency puts the server's and the client's percentiles in one
// series set, labelled "server p95" and "k6 p95"; an error of either is
// kept.
func mergeLatency(server result.Timeseries, sok bool, client result.Timeseries, cok bool) (result.Timeseries, bool) {
	if !cok {
		return server, sok
	}
	out := result.Timeseries{Name: SeriesLatency, Unit: cmp.Or(server.Unit, client.Unit)}
	var errs []string
	for _, side := range []struct {
		who string
		ts  result.Timeseries
		ok  bool
	}{{"server", server, sok}, {"k6", client, cok}} {
		if !side.ok {
			continue
		}
		if side.ts.Error != "" {
			errs = append(errs, side.who+": "+side.ts.Error)
		}
		for _, s := range side.ts.Series {
			s.Labels = map[string]string{"quantile": side.who + " " + cmp.Or(s.Labels["quantile"], seriesLabel(s.Labels))}
			out.Series = append(out.Series, s)
		}
	}
	out.Error = strings.Join(errs, "; ")
	return out, true
}

func hasRange(a assertions.Result) bool {
	for _, s := range a.Series {
		if len(s.Points) > 1 {
			return true
		}
	}
	return false
}

func span(ss []assertions.Series) (first, last time.Time, ok bool) {
	for _, s := range ss {
		for _, p := range s.Points {
			t := time.UnixMilli(p.T)
			if !ok || t.Before(first) {
				first = t
			}
			if !ok || t.After(last) {
				last = t
			}
			ok = true
		}
	}
	return first, last, ok
}

// bands marks chaos events (and the parts of compound ones) and the drain.
func bands(run *result.Run) []Band {
	var out []Band
	if !run.LoadEnd.IsZero() && run.Drained.After(run.LoadEnd) {
		out = append(out, Band{Label: "drain", Start: run.LoadEnd, End: run.Drained})
	}
	for _, e := range run.Chaos {
		for _, s := range e.Steps {
			out = append(out, Band{Label: e.Name + ": " + s.Name, Start: s.Start, End: s.End})
		}
		out = append(out, Band{Label: e.Name + " (" + e.Kind + ")", Start: e.Start, End: e.End, Marker: true})
	}
	return out
}

func lines(ss []assertions.Series) []Line {
	out := make([]Line, 0, len(ss))
	for _, s := range ss {
		l := Line{Label: seriesLabel(s.Labels)}
		for _, p := range s.Points {
			l.Points = append(l.Points, XY{time.UnixMilli(p.T), p.V})
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Line) int { return cmp.Compare(a.Label, b.Label) })
	return out
}

func seriesLabel(ls map[string]string) string {
	if len(ls) == 0 {
		return "total"
	}
	if len(ls) == 1 {
		for _, v := range ls {
			return v
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		parts = append(parts, k+"="+ls[k])
	}
	return strings.Join(parts, ",")
}

// totals integrates per-second rates over time: reconciles per pod.
func totals(ss []assertions.Series) []Bar {
	var out []Bar
	for _, s := range ss {
		sum := 0.0
		for i := 1; i < len(s.Points); i++ {
			v := s.Points[i].V
			if math.IsNaN(v) {
				continue
			}
			sum += v * float64(s.Points[i].T-s.Points[i-1].T) / 1000
		}
		out = append(out, Bar{Label: seriesLabel(s.Labels), V: math.Round(sum)})
	}
	slices.SortFunc(out, func(a, b Bar) int { return cmp.Compare(a.Label, b.Label) })
	return out
}

type runView struct {
	Run      *result.Run
	Name     string
	Duration string
	Versions [][2]string
	Plots    []plotView
	// LeftOut are the plots left out, for the run did not exercise them.
	LeftOut []string
}

type plotView struct {
	Name, Title, Note string
	SVG               template.HTML
}

func view(run *result.Run) runView {
	v := runView{Run: run, Duration: run.Finished.Sub(run.Started).Round(time.Second).String()}
	if run.Scenario != nil {
		v.Name = run.Scenario.Metadata.Name
	}
	for _, k := range slices.Sorted(maps.Keys(run.Versions)) {
		v.Versions = append(v.Versions, [2]string{k, run.Versions[k]})
	}
	ps, left := plotsAndLeftOut(run)
	for _, p := range ps {
		v.Plots = append(v.Plots, plotView{Name: p.Name, Title: p.Title, Note: p.Note, SVG: p.svg(0)})
	}
	v.LeftOut = left
	return v
}

// Render writes the run's report.
func Render(w io.Writer, run *result.Run) error {
	return pageTmpl.ExecuteTemplate(w, "run", view(run))
}

type compareView struct {
	C         *compare.Comparison
	Rows      []compare.Row
	Base      runView
	Candidate runView
	Pairs     []pairView
	Summary   string
}

type pairView struct {
	Title, Note string
	Base, Cand  template.HTML
}

// RenderCompare writes a comparison's report: the comparison table, then
// each plot of the first base run beside the first candidate run's, on one
// scale.
func RenderCompare(w io.Writer, c *compare.Comparison, base, cand []compare.Run) error {
	if len(base) == 0 || len(cand) == 0 {
		return fmt.Errorf("compare report needs a run on each side")
	}
	v := compareView{C: c, Rows: c.Rows(), Summary: c.Summary(),
		Base: view(base[0].Result), Candidate: view(cand[0].Result)}
	bp, cp := plots(base[0].Result), plots(cand[0].Result)
	byName := map[string]plot{}
	for _, p := range cp {
		byName[p.Name] = p
	}
	empty := func(p plot) plot { p.chart, p.bars = &Chart{Title: p.Title}, nil; return p }
	seen := map[string]bool{}
	for _, b := range bp {
		c, ok := byName[b.Name]
		if !ok {
			c = empty(b)
		}
		seen[b.Name] = true
		ymax := math.Max(b.max(), c.max())
		v.Pairs = append(v.Pairs, pairView{Title: b.Title, Note: b.Note, Base: b.svg(ymax), Cand: c.svg(ymax)})
	}
	for _, c := range cp {
		if !seen[c.Name] {
			v.Pairs = append(v.Pairs, pairView{Title: c.Title, Note: c.Note, Base: empty(c).svg(0), Cand: c.svg(0)})
		}
	}
	return pageTmpl.ExecuteTemplate(w, "compare", v)
}

var funcs = template.FuncMap{
	"value": func(v *float64) string { return assertions.FormatValue(v) },
	"num":   func(v float64) string { return assertions.FormatValue(&v) },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("15:04:05")
	},
	"offset": func(origin, t time.Time) string {
		if origin.IsZero() || t.IsZero() {
			return "-"
		}
		return offsetLabel(t.Sub(origin).Seconds())
	},
	"secs": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.1fs", b.Sub(a).Seconds())
	},
	"join": strings.Join,
	"cls": func(s string) string {
		switch s {
		case result.VerdictPass, compare.Improved: // assertions.Pass too
			return "pass"
		case result.VerdictFail, compare.Regressed:
			return "fail"
		case result.VerdictError:
			return "error"
		}
		return "neutral"
	},
}

var pageTmpl = template.Must(template.New("page").Funcs(funcs).Parse(page))
