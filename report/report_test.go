package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/compare"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// synthetic is a two-minute run with a pod kill at +40s and an upgrade at
// +70s, throughput dipping at the kill, three controller pods of which one
// dies, and a v1 queue that drains into v2 across the upgrade.
func synthetic(scale float64) *result.Run {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Minute)
	kill := start.Add(40 * time.Second)
	up := start.Add(70 * time.Second)
	sc := &scenario.Scenario{APIVersion: scenario.APIVersion, Kind: scenario.Kind, Metadata: scenario.Metadata{Name: "controller-kill"},
		Spec: scenario.Spec{Load: scenario.Load{Script: "fixtures/load/authrep.js", Duration: scenario.D(2 * time.Minute)}}}
	series := func(labels map[string]string, f func(s float64) float64) assertions.Series {
		s := assertions.Series{Labels: labels}
		for t := start; !t.After(end.Add(10 * time.Second)); t = t.Add(5 * time.Second) {
			if v := f(t.Sub(start).Seconds()); !math.IsNaN(v) { // NaN: a gap, as Prometheus leaves one
				s.Points = append(s.Points, assertions.Point{T: t.UnixMilli(), V: v})
			}
		}
		return s
	}
	dip := func(s float64) float64 {
		if s >= 40 && s < 55 {
			return 0.6
		}
		return 1
	}
	p95 := 4.2
	k6p95 := assertions.Result{Name: "k6:backend_call_duration{call:authrep}:p(95)<100", Kind: assertions.KindK6Threshold,
		Description: "k6 threshold p(95)<100 on backend_call_duration{call:authrep}", Op: "<", Bound: 100, Value: &p95,
		Stat: "p(95)", Unit: "ms", Status: assertions.Pass}
	r := &result.Run{RunID: "20261123-100000-abcd", Scenario: sc, Provider: "local", Namespace: "perfrun-controller-kill-abcd", TestID: "abcd",
		Versions: map[string]string{"perfrun": "dev", "listener": "v1.2.0"},
		Started:  start.Add(-30 * time.Second), Finished: end.Add(40 * time.Second), LoadStart: start, LoadEnd: end, Drained: end.Add(10 * time.Second),
		Steps: []result.Step{{Name: "deploy", Start: start.Add(-30 * time.Second), End: start, Seconds: 30}, {Name: "load", Start: start, End: end, Seconds: 120}},
		Chaos: []result.Event{
			{Name: "kill_one", Kind: "podKill", Planned: 40 * time.Second, Start: kill, End: kill.Add(time.Second), Targets: []string{"controller-1"}},
			{Name: "upgrade", Kind: "upgrade", Planned: 70 * time.Second, Start: up, End: up.Add(30 * time.Second),
				Steps: []result.ActionStep{{Name: "migration", Start: up.Add(5 * time.Second), End: up.Add(15 * time.Second)}}},
		},
		Restarts: []result.Restart{{Pod: "listener-7f9c-abcde", Container: "listener", Count: 2, Reason: "Completed", Cause: "Container listener failed liveness probe, will be restarted"}},
		Assertions: []assertions.Result{
			assertions.Check("throughput", assertions.KindThroughput, "successful requests per second ≥ 800", ">=", 950*scale, 800),
			assertions.Check("spread", assertions.KindEvenDistribution, "max/mean of reconciles per pod ≤ 1.2", "<=", 1.1, 1.2),
			assertions.Check("disruption", assertions.KindDisruption, "share of items past deadline ≤ 1/3 + 0.05", "<=", 0.4, 0.38),
			k6p95,
		},
		Timeseries: []result.Timeseries{
			{Name: SeriesThroughput, Unit: "req/s", Series: []assertions.Series{
				series(map[string]string{"request_type": "authrep"}, func(s float64) float64 { return 700 * scale * dip(s) }),
				series(map[string]string{"request_type": "authorize"}, func(s float64) float64 { return 300 * scale * dip(s) }),
			}},
			{Name: SeriesLatency, Unit: "s", Series: []assertions.Series{
				series(map[string]string{"quantile": "p50"}, func(s float64) float64 { return 0.002 / dip(s) }),
				series(map[string]string{"quantile": "p95"}, func(s float64) float64 { return 0.008 / dip(s) }),
				series(map[string]string{"quantile": "p99"}, func(s float64) float64 { return 0.015 / dip(s) }),
			}},
			{Name: SeriesClientLatency, Unit: "s", Series: []assertions.Series{
				series(map[string]string{"quantile": "p50"}, func(s float64) float64 { return 0.003 / dip(s) }),
				series(map[string]string{"quantile": "p95"}, func(s float64) float64 { return 0.010 / dip(s) }),
				series(map[string]string{"quantile": "p99"}, func(s float64) float64 { return 0.020 / dip(s) }),
			}},
			{Name: SeriesReconciles, Unit: "reconciles/s", Series: []assertions.Series{
				series(map[string]string{"pod": "controller-0"}, func(s float64) float64 { return 100 }),
				series(map[string]string{"pod": "controller-1"}, func(s float64) float64 {
					if s >= 40 && s < 60 {
						return math.NaN()
					}
					return 95
				}),
				series(map[string]string{"pod": "controller-2"}, func(s float64) float64 { return 105 }),
			}},
			{Name: SeriesBuckets, Unit: "buckets", Series: []assertions.Series{
				series(map[string]string{"pod": "controller-0"}, func(s float64) float64 { return 1 }),
				series(map[string]string{"pod": "controller-1"}, func(s float64) float64 {
					if s >= 40 && s < 60 {
						return 0
					}
					return 1
				}),
				series(map[string]string{"pod": "controller-2"}, func(s float64) float64 { return 1 }),
			}},
			{Name: SeriesMissed, Unit: "items/s", Series: []assertions.Series{
				series(nil, func(s float64) float64 {
					if s >= 40 && s < 65 {
						return 30
					}
					return 0
				}),
			}},
			{Name: SeriesQueueDepth, Unit: "jobs", Series: []assertions.Series{
				series(map[string]string{"format": "v1"}, func(s float64) float64 { return math.Max(0, 500-math.Max(0, s-75)*50) }),
				series(map[string]string{"format": "v2"}, func(s float64) float64 {
					if s < 75 {
						return 0
					}
					return math.Max(0, 400-(s-80)*10)
				}),
			}},
			{Name: SeriesPending, Unit: "items", Error: "query returned no data"},
		},
	}
	// What the kinds' evaluation sets (assertions.Check cannot know it).
	r.Assertions[0].Stat, r.Assertions[0].Unit = "served", "req/s"
	r.Assertions[1].Stat = "max/mean"
	r.Decide()
	return r
}

func TestRenderIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, synthetic(1)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<h2>Verdict</h2>", "kill_one", "controller-1", "Queue depth by format", "Disruption window", "Reconciles per pod over the run", "badge fail", "could not collect", "Container restarts", "listener-7f9c-abcde", "failed liveness probe",
		// A k6 threshold's row: what was measured, in its unit, against the bound.
		"p(95) = 4.2 ms", "&lt; 100 ms", "served = 950 req/s", "&gt;= 800 req/s", "max/mean = 1.1"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Index(page, "<h2>Verdict</h2>") > strings.Index(page, "<h2>Plots</h2>") {
		t.Error("the verdict table does not come first")
	}
	var quiet bytes.Buffer
	calm := synthetic(1)
	calm.Restarts = nil
	if err := Render(&quiet, calm); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(quiet.String(), "Container restarts") {
		t.Error("a run with no restarts shows a restarts section")
	}
	if n := strings.Count(page, "<svg"); n < 7 {
		t.Errorf("%d plots, want ≥ 7", n)
	}
	// Nothing fetched: no script, no external href/src (SVG's xmlns is a name, not a fetch).
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q: it must open with no network", bad)
		}
	}
}

// figure is the HTML of one plot of a page, by its series name.
func figure(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `<div class="figure" data-plot="`+name+`">`)
	if i < 0 {
		t.Fatalf("no %s figure", name)
	}
	j := strings.Index(page[i:], "</svg>")
	if j < 0 {
		t.Fatalf("%s figure has no svg", name)
	}
	return page[i : i+j]
}

// drawn are the labels of the lines a figure drew with at least two
// points (a path that moves and then draws).
func drawn(fig string) []string {
	var out []string
	for _, m := range pathRE.FindAllStringSubmatch(fig, -1) {
		if strings.Count(m[1], "L") >= 1 {
			out = append(out, m[2])
		}
	}
	return out
}

var pathRE = regexp.MustCompile(`<path d="([^"]*)"[^>]*data-line="([^"]*)"`)

func TestLatencyPlotHasServerAndClientPercentiles(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, synthetic(1)); err != nil {
		t.Fatal(err)
	}
	got := drawn(figure(t, b.String(), SeriesLatency))
	want := []string{"k6 p50", "k6 p95", "k6 p99", "server p50", "server p95", "server p99"}
	if !slices.Equal(got, want) {
		t.Errorf("latency plot draws %q, want %q", got, want)
	}
	if strings.Contains(b.String(), `data-plot="`+SeriesClientLatency+`"`) {
		t.Error("the client latency has a plot of its own besides the shared one")
	}
}

// A run that reconciled no item (smoke: controllers deployed, no items
// load) shows no controller plots, and says so.
func TestPlotsOnlyForWhatTheRunExercised(t *testing.T) {
	run := synthetic(1)
	run.Assertions = run.Assertions[:1] // throughput only: no controller assertion
	for i, ts := range run.Timeseries {
		if ts.Name == SeriesReconciles {
			for j := range ts.Series {
				for k := range ts.Series[j].Points {
					run.Timeseries[i].Series[j].Points[k].V = 0
				}
			}
		}
	}
	var b bytes.Buffer
	if err := Render(&b, run); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, name := range []string{SeriesReconciles, SeriesBuckets, SeriesMissed, SeriesPending} {
		if strings.Contains(page, `data-plot="`+name+`"`) {
			t.Errorf("a run with no item reconciled plots %s", name)
		}
	}
	if !strings.Contains(page, "left out, as this run did not exercise them: controller (") || !strings.Contains(page, "no item was reconciled") {
		t.Error("the page does not say what it left out")
	}
	// The workers did work (queue depth moved): their plots stay.
	if !strings.Contains(page, `data-plot="`+SeriesQueueDepth+`"`) {
		t.Error("queue depth left out of a run whose queue held jobs")
	}
	// And the full run keeps them.
	b.Reset()
	if err := Render(&b, synthetic(1)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `data-plot="`+SeriesReconciles+`"`) || strings.Contains(b.String(), "left out") {
		t.Error("a run with items lost its controller plots")
	}
}

func TestBarsTotalsIntegrateRates(t *testing.T) {
	ss := []assertions.Series{{Labels: map[string]string{"pod": "a"}, Points: []assertions.Point{{T: 0, V: 10}, {T: 5000, V: 10}, {T: 10000, V: 20}}}}
	if got := totals(ss); len(got) != 1 || got[0].V != 150 || got[0].Label != "a" {
		t.Fatalf("totals = %+v, want a: 10*5 + 20*5 = 150", got)
	}
}

func TestOffsetLabel(t *testing.T) {
	for s, want := range map[float64]string{0: "0", 30: "+30s", 60: "+1m", 90: "+1m30s", 3600: "+1h", -15: "-15s"} {
		if got := offsetLabel(s); got != want {
			t.Errorf("offsetLabel(%v) = %q, want %q", s, got, want)
		}
	}
}

// chromium finds the browser. make test-report installs it
// (scripts/deps-browser.sh) and sets PERFRUN_REQUIRE_BROWSER=1, so that
// there a missing browser fails rather than skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PERFRUN_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium not found; bash scripts/deps-browser.sh installs it")
	}
	t.Skip("chromium not installed: this render check runs under `make test-report`, which installs it")
	return ""
}

// screenshot opens page in headless Chromium and returns the PNG it took.
func screenshot(t *testing.T, page string, height int) image.Image {
	t.Helper()
	bin := chromium(t)
	dir := t.TempDir()
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot, "--window-size=1400,"+strconv.Itoa(height), "file://"+page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() < 20_000 {
		t.Errorf("screenshot is %d bytes: a blank page?", fi.Size())
	}
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding screenshot: %v", err)
	}
	if keep := os.Getenv("PERFRUN_KEEP_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(keep, b, 0o644)
	}
	return img
}

// near counts pixels within tol of the colour c (r, g, b in 0..255).
func near(img image.Image, c [3]int, tol int) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-c[0]) <= tol && abs(int(g>>8)-c[1]) <= tol && abs(int(b>>8)-c[2]) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// dumpDOM opens page in headless Chromium and returns the document as the
// browser built it (its SVG elements parsed, as drawn).
func dumpDOM(t *testing.T, page string) string {
	t.Helper()
	bin := chromium(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+page)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, errb.String())
	}
	return out.String()
}

func TestReportRendersInChromium(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, synthetic(1)); err != nil {
		t.Fatal(err)
	}
	// What Chromium drew, not only that something did: the latency plot
	// has its six percentile lines (server and k6), throughput one line
	// per request type, and none of the plots with data says "no data".
	dom := dumpDOM(t, filepath.Join(dir, File))
	if got, want := drawn(figure(t, dom, SeriesLatency)), []string{"k6 p50", "k6 p95", "k6 p99", "server p50", "server p95", "server p99"}; !slices.Equal(got, want) {
		t.Errorf("latency plot in Chromium draws %q, want %q", got, want)
	}
	if got := drawn(figure(t, dom, SeriesThroughput)); !slices.Equal(got, []string{"authorize", "authrep"}) {
		t.Errorf("throughput plot in Chromium draws %q, want authorize and authrep", got)
	}
	for _, name := range []string{SeriesLatency, SeriesThroughput, SeriesReconciles, SeriesQueueDepth} {
		if strings.Contains(figure(t, dom, name), ">no data</text>") {
			t.Errorf("%s plot says no data", name)
		}
	}
	img := screenshot(t, filepath.Join(dir, File), 3000)
	// The plots drew: the first line colour (#1f77b4), the chaos marks
	// (#fdd bands), and the failed verdict's red badge (#c62828).
	for name, c := range map[string][3]int{"line #1f77b4": {0x1f, 0x77, 0xb4}, "chaos band #fdd": {0xff, 0xdd, 0xdd}, "fail badge #c62828": {0xc6, 0x28, 0x28}} {
		if n := near(img, c, 12); n < 100 {
			t.Errorf("%s: %d pixels in the screenshot, want ≥ 100 (did the SVG render?)", name, n)
		}
	}
}

func TestCompareReportRendersInChromium(t *testing.T) {
	var base, cand []compare.Run
	for i, scale := range []float64{1, 1, 1, 0.7, 0.7, 0.7} {
		dir := t.TempDir()
		r := synthetic(scale * (1 + 0.01*float64(i%3)))
		r.RunID += "-" + strconv.Itoa(i) // six runs, not one given six times
		if err := result.Write(dir, r); err != nil {
			t.Fatal(err)
		}
		run, err := compare.LoadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			base = append(base, run)
		} else {
			cand = append(cand, run)
		}
	}
	c, err := compare.Compare(base, cand, compare.DefaultTolerances())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "compare.html")
	if err := WriteCompare(path, c, base, cand); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "candidate") || strings.Count(string(b), "<svg") < 14 {
		t.Fatalf("compare report lacks the side-by-side plots")
	}
	img := screenshot(t, path, 2400)
	if n := near(img, [3]int{0x1f, 0x77, 0xb4}, 12); n < 100 {
		t.Errorf("line colour: %d pixels, want ≥ 100", n)
	}
}
