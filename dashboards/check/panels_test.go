package check

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/dashboards"
	"github.com/perfrun/perfrun/internal/gotool"
	"github.com/perfrun/perfrun/internal/promconf"
	"github.com/perfrun/perfrun/report"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// The run TestPanelsHaveData makes, as a run on the local cluster would
// label it: the namespace and pod labels kubernetes_sd's relabelling gives,
// and k6's testid tag.
const (
	checkNamespace = "perfrun-check"
	checkTestID    = "dashcheck"
)

// prometheus3 is the Prometheus the local cluster runs (built by `make
// cluster-tools` into the cache). Debian's Prometheus 2 stores classic
// histograms and would hide exactly what this check is for.
func prometheus3(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(gotool.DefaultCacheDir(), "prometheus-"+promconf.Version, "prometheus")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("PERFRUN_REQUIRE_PROMETHEUS") != "" {
			t.Fatalf("%s missing (make cluster-tools builds it): %v", bin, err)
		}
		t.Skipf("%s missing: make cluster-tools builds it, make test-dashboards requires it", bin)
	}
	return bin
}

// startPrometheus3 runs the local cluster's Prometheus with the local
// cluster's global scrape settings (promconf.Global: 5s, native
// histograms), its two jobs given the labels their relabelling gives a
// pod (static targets stand for kubernetes_sd here), and the remote-write
// receiver k6 pushes to.
func startPrometheus3(t *testing.T, bin string, s system) string {
	t.Helper()
	dir := t.TempDir()
	pod := func(addr, name, container string) string {
		return fmt.Sprintf("  - targets: [%q]\n    labels: {namespace: %q, pod: %q, container: %q}\n", addr, checkNamespace, name, container)
	}
	cfg := promconf.Global + "scrape_configs:\n- job_name: kubernetes-pods\n  static_configs:\n" +
		pod(s.listener, "listener-0", "listener") + pod(s.worker, "worker-0", "worker") + pod(s.controller, "controller-0", "controller") +
		// The listener's endpoint as the service-endpoints job records it:
		// up only, with the EndpointSlice's conditions.
		fmt.Sprintf("- job_name: service-endpoints\n  static_configs:\n  - targets: [%q]\n    labels: {namespace: %q, service: listener, pod: listener-0, ready: \"true\", serving: \"true\", terminating: \"false\"}\n", s.listener, checkNamespace) +
		"  metric_relabel_configs:\n  - source_labels: [__name__]\n    action: drop\n    regex: .+\n"
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus exited before ready: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus not ready within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// panelQuery is one query the check runs, and where it comes from.
type panelQuery struct {
	where string // "system.json panel \"…\"/A", "report latency"
	expr  string
	// need is the part a dashboard panel shows (dashboards.Needs), series
	// the report's series name.
	need, series string
}

// fill gives a dashboard expression's variables the values Grafana would
// give them for the run of w: its namespace and testid, and the intervals
// of a datasource whose scrape interval is the local cluster's.
func fill(expr string, w scenario.Window) string {
	scrape := time.Duration(promconf.ScrapeInterval) * time.Second
	rng := w.End.Sub(w.Start)
	return strings.NewReplacer(
		"${namespace}", w.Namespace, "$namespace", w.Namespace,
		"${testid}", w.TestID, "$testid", w.TestID,
		// Grafana: max(4 × scrape interval, interval + scrape interval).
		"${__rate_interval}", scenario.PromDuration(4*scrape), "$__rate_interval", scenario.PromDuration(4*scrape),
		"${__interval}", scenario.PromDuration(scrape), "$__interval", scenario.PromDuration(scrape),
		"${__range}", scenario.PromDuration(rng), "$__range", scenario.PromDuration(rng),
	).Replace(expr)
}

// checkQueries are every dashboard panel's, annotation's and variable's
// query with the variables filled for the run of w, and every series the
// report collects for a run of sc.
func checkQueries(t *testing.T, w scenario.Window, sc *scenario.Scenario) []panelQuery {
	t.Helper()
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	for _, q := range qs {
		expr := q.Expr
		if strings.HasPrefix(expr, "label_values(") {
			expr = dashboards.PromQL(expr) // the metric selector it lists labels of
		}
		out = append(out, panelQuery{where: q.Dashboard + " " + q.Where, expr: fill(expr, w), need: dashboards.Needs(q)})
	}
	for _, q := range report.QueriesFor(sc) {
		expr, err := scenario.Expand(q.Query, w)
		if err != nil {
			t.Fatalf("report %s: %v", q.Name, err)
		}
		out = append(out, panelQuery{where: "report " + q.Name, expr: expr, series: q.Name})
	}
	return out
}

// series counts the series of a range query that have at least one finite
// sample (a percentile over windows with no observation is NaN, which
// plots as nothing), and says when the first finite sample of any is.
func series(ctx context.Context, prom, expr string, start, end time.Time, step time.Duration) (int, time.Time, error) {
	v := url.Values{"query": {expr}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, prom+"/api/v1/query_range", strings.NewReader(v.Encode()))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("range query %s: %w", expr, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("range query %s: %w", expr, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status, Error string
		Data          struct {
			Result []struct {
				Values [][2]any `json:"values"`
				// A native histogram result (a panel that forgot its
				// histogram_quantile) is not a line: it counts as none.
				Histograms []any `json:"histograms"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, time.Time{}, fmt.Errorf("range query %s: decoding: %w", expr, err)
	}
	if body.Status != "success" {
		return 0, time.Time{}, fmt.Errorf("range query %s: %s", expr, body.Error)
	}
	n := 0
	var first time.Time
	for _, s := range body.Data.Result {
		for _, p := range s.Values {
			str, _ := p[1].(string)
			if f, err := strconv.ParseFloat(str, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				ts, _ := p[0].(float64)
				if at := time.UnixMilli(int64(ts * 1000)); first.IsZero() || at.Before(first) {
					first = at
				}
				n++
				break
			}
		}
	}
	return n, first, nil
}

// waitScrapes waits until Prometheus has n samples of sel (60s at most).
func waitScrapes(t *testing.T, prom, sel string, n int) {
	t.Helper()
	q := fmt.Sprintf("count_over_time(%s[5m])", sel)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, _, err := series(ctx, prom, fmt.Sprintf("%s >= %d", q, n), time.Now(), time.Now(), time.Second)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has not scraped %s %d times within 60s", sel, n)
		}
		time.Sleep(time.Second)
	}
}

// TestPanelsHaveData cannot pass on an empty panel. It runs the reference
// system (real redis-server, listener, worker, controller) scraped by the
// Prometheus the local cluster runs with the local cluster's scrape
// settings, drives load at it with real k6 (bin/k6) remote-writing native
// histograms as perfrun run's k6 does, then runs every dashboard query and
// every report series over the load and fails on any that has no data.
// The load exercises everything the dashboards show (authrep, reports,
// items reconciled and given up on, a plain k6/http script), so nothing is
// not applicable here but what marks an event the load does not cause (a
// process restart: dashboards.PartRestarts).
func TestPanelsHaveData(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs the system, Prometheus 3 and k6")
	}
	promBin := prometheus3(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	k6 := filepath.Join(root, "bin", "k6")
	if _, err := os.Stat(k6); err != nil {
		t.Fatalf("bin/k6 missing (make k6 builds it; make test-dashboards does): %v", err)
	}
	sys := startSystem(t, root)
	prom := startPrometheus3(t, promBin, sys)
	// Three scrapes before the load, so that rates at its first second
	// have samples to start from, as on a cluster, where pods are scraped
	// from their start, long before the load (Prometheus takes up to
	// 5s more to apply its targets at all).
	waitScrapes(t, prom, `up{job="kubernetes-pods",pod="listener-0"}`, 3)

	// k6 as perfrun run starts it (loadgen's k6Environ): native
	// histograms, 5s pushes, tagged with the run's testid.
	env := append(os.Environ(),
		"K6_PROMETHEUS_RW_SERVER_URL="+prom+"/api/v1/write",
		"K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true",
		"K6_PROMETHEUS_RW_PUSH_INTERVAL=5s",
		"K6_NO_USAGE_REPORT=true",
	)
	plain := filepath.Join(t.TempDir(), "plain.js")
	if err := os.WriteFile(plain, []byte(`import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '20s', preAllocatedVUs: 4 } } };
export default function () { http.get(__ENV.TARGETS + '/status'); }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// All at once over the same 20s, bounded: a few hundred requests to
	// 127.0.0.1 in all.
	loads := []struct {
		script string
		env    []string
	}{
		{"fixtures/load/throughput.js", []string{"RATE=40", "DURATION=20s", "APPS=5"}},
		{"fixtures/load/items.js", []string{"RATE=5", "DURATION=20s", "DEADLINE=2s", "WAIT_TIMEOUT=5s", "RUN_ID=panelcheck"}},
		// Items given up on at once: backend_items_unreconciled has samples
		// only when an item was never reconciled.
		{"fixtures/load/items.js", []string{"RATE=2", "DURATION=20s", "DEADLINE=1ms", "WAIT_TIMEOUT=1ms", "RUN_ID=panelcheck-giveup"}},
		{plain, nil},
		// smoke.js: the checks k6_checks_rate counts.
		{"fixtures/load/smoke.js", []string{"ITERATIONS=200", "APPS=5"}},
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(loads))
	for i, l := range loads {
		// Each k6 its own generator tag, as perfrun's generators have: two
		// processes writing the same series (k6_vus{testid}) collide, and
		// Prometheus refuses the whole push that holds the out-of-order one.
		args := []string{"run", "-q", "--no-thresholds", "--no-summary", "--tag", "testid=" + checkTestID, "--tag", "generator=" + strconv.Itoa(i), "-o", "experimental-prometheus-rw", "-e", "TARGETS=http://" + sys.listener}
		for _, e := range l.env {
			args = append(args, "-e", e)
		}
		script := l.script
		if !filepath.IsAbs(script) {
			script = filepath.Join(root, script)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, k6, append(args, script)...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("k6 %s: %w\n%s", l.script, err, out)
			}
		}()
	}
	wg.Wait()
	loadEnd := time.Now()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// k6's last push and the last scrape of the counters land.
	time.Sleep(time.Duration(2*promconf.ScrapeInterval) * time.Second)
	end := time.Now()

	w := scenario.Window{Start: start, End: loadEnd, Drained: end, Namespace: checkNamespace, TestID: checkTestID,
		Chaos: map[string]scenario.ActionWindow{"kill": {Start: start.Add(5 * time.Second), End: start.Add(6 * time.Second)}}}
	// The run's result folder as perfrun run writes it (report.Collect's
	// series included), checked as a real run's is (TestRunPanelsHaveData):
	// the load above exercises every part but a restart.
	checkResult(t, prom, checkReport(t, prom, w))
}

// checkScenario is what the check's run stands for: a run with a
// disruption assertion (whose missed-deadline plot the report adds).
func checkScenario() *scenario.Scenario {
	return &scenario.Scenario{APIVersion: scenario.APIVersion, Kind: scenario.Kind, Metadata: scenario.Metadata{Name: "panelcheck"},
		Spec: scenario.Spec{Assertions: []scenario.Assertion{
			{Name: "disruption", Disruption: &scenario.Disruption{Chaos: "kill", Deadline: "2.048", Replicas: 1}},
		}}}
}

// checkPanels runs every dashboard query and report series of the run of
// w (its scenario sc) over the load and the drain, and fails on any that
// has no data unless it is not applicable: a dashboard panel of a part
// the run did not exercise, a report series the report leaves out
// (leftOut, report.LeftOut). It logs the number of series each returned.
func checkPanels(t *testing.T, prom string, w scenario.Window, sc *scenario.Scenario, exercised map[string]bool, leftOut map[string]string) {
	t.Helper()
	end := w.Drained
	if end.Before(w.End) {
		end = w.End
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type row struct {
		where, note string
		n           int
	}
	var rows []row
	for _, q := range checkQueries(t, w, sc) {
		n, first, err := series(ctx, prom, q.expr, w.Start, end, report.DefaultStep)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		if q.series == report.SeriesThroughput && n > 0 && first.Sub(w.Start) > report.DefaultStep {
			// The plot covers the load from its first second: the
			// counters exist before it (the listener starts its 2xx
			// series at 0), so a rate is there at once.
			t.Errorf("report throughput starts %s after the load", first.Sub(w.Start))
		}
		r := row{where: q.where, n: n}
		switch why, skip := leftOut[q.series]; {
		case q.need != "" && !exercised[q.need]:
			r.note = "not applicable: the run did not exercise " + q.need
		case q.series != "" && skip:
			r.note = "not applicable: " + why
		case n == 0:
			t.Errorf("%s: no data from the run's Prometheus (%s)", q.where, q.expr)
			r.note = "EMPTY"
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].where < rows[j].where })
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%4d  %s", r.n, r.where)
		if r.note != "" {
			fmt.Fprintf(&b, "  (%s)", r.note)
		}
		b.WriteString("\n")
	}
	t.Logf("series with data per query (load %s → %s):\n%s", w.Start.Format(time.TimeOnly), w.End.Format(time.TimeOnly), b.String())
}

// checkReport collects the report's series for the check's run from its
// Prometheus as a run does (report.Collect), renders report.html and checks
// what the plots drew: the latency plot a server and a k6 line for each of
// p50, p95 and p99, and no plot of the run's says "no data".
// PERFRUN_KEEP_REPORT=FILE keeps the page. It returns the result folder
// it wrote (result.json, report.html).
func checkReport(t *testing.T, prom string, w scenario.Window) string {
	t.Helper()
	client, err := api.NewClient(api.Config{Address: prom})
	if err != nil {
		t.Fatal(err)
	}
	sc := checkScenario()
	run := &result.Run{RunID: "panelcheck", Scenario: sc, Namespace: w.Namespace, TestID: w.TestID,
		Started: w.Start, Finished: w.Drained, LoadStart: w.Start, LoadEnd: w.End, Drained: w.Drained,
		Assertions: []assertions.Result{{Name: "disruption", Kind: assertions.KindDisruption, Status: assertions.Pass}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report.Collect(ctx, v1.NewAPI(client), run, w, 0)
	// The latency plot starts with the load: the server's at the first
	// scrape after the first requests (the listener starts its histograms
	// empty, so a rate is there at once), k6's at its first push (the
	// histogram itself until there are two for a rate). A scrape or a
	// push each, and k6's start, at most.
	early := time.Duration(2*promconf.ScrapeInterval)*time.Second + 2*time.Second
	for _, ts := range run.Timeseries {
		if ts.Error != "" {
			t.Errorf("report %s: %s", ts.Name, ts.Error)
		}
		if ts.Name != report.SeriesLatency && ts.Name != report.SeriesClientLatency {
			continue
		}
		for _, s := range ts.Series {
			if len(s.Points) == 0 {
				continue
			}
			first := time.UnixMilli(s.Points[0].T).Sub(w.Start)
			t.Logf("report %s %v: first point %s after the load's start", ts.Name, s.Labels, first.Round(time.Second))
			if first > early {
				t.Errorf("report %s %v starts %s after the load, want within %s", ts.Name, s.Labels, first, early)
			}
		}
	}
	dir := t.TempDir()
	if err := result.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, report.File)
	if keep := os.Getenv("PERFRUN_KEEP_REPORT"); keep != "" {
		path = keep
	}
	if err := report.WriteFile(path, run); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	figures := regexp.MustCompile(`(?s)<div class="figure" data-plot="([^"]+)">(.*?)</svg>`).FindAllStringSubmatch(page, -1)
	if len(figures) < 10 {
		t.Errorf("report.html has %d plots, want every series the check's run exercises", len(figures))
	}
	paths := regexp.MustCompile(`<path d="([^"]*)"[^>]*data-line="([^"]*)"`)
	for _, f := range figures {
		if strings.Contains(f[2], ">no data</text>") {
			t.Errorf("report.html: the %s plot says no data", f[1])
		}
		if f[1] != report.SeriesLatency {
			continue
		}
		var drawn []string
		for _, m := range paths.FindAllStringSubmatch(f[2], -1) {
			if strings.Contains(m[1], "L") {
				drawn = append(drawn, m[2])
			}
		}
		sort.Strings(drawn)
		if want := []string{"k6 p50", "k6 p95", "k6 p99", "server p50", "server p95", "server p99"}; !slices.Equal(drawn, want) {
			t.Errorf("report.html: the latency plot draws %q, want %q", drawn, want)
		}
	}
	return dir
}

// checkResult checks a run's result folder dir against the Prometheus the
// run used: checkPanels over the run's window, its scenario, and what it
// exercised: the controller and the workers as the report judges it
// (report.LeftOut), the k6 parts by the metrics in k6's summary, restarts
// by the containers that restarted.
func checkResult(t *testing.T, prom, dir string) {
	t.Helper()
	run, err := result.Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Scenario == nil || run.LoadStart.IsZero() {
		t.Fatalf("%s: no scenario or no load in the result", dir)
	}
	w := scenario.Window{Start: run.LoadStart, End: run.LoadEnd, Drained: run.Drained, Namespace: run.Namespace, TestID: run.TestID,
		Chaos: map[string]scenario.ActionWindow{}}
	for _, e := range run.Chaos {
		w.Chaos[e.Name] = scenario.ActionWindow{Start: e.Start, End: e.End}
	}
	leftOut := report.LeftOut(run)
	exercised := map[string]bool{
		dashboards.PartController: leftOut[report.SeriesReconciles] == "",
		dashboards.PartWorkers:    leftOut[report.SeriesWorkerJobs] == "",
		dashboards.PartRestarts:   len(run.Restarts) > 0,
	}
	// What k6 measured says which of its parts the script exercised.
	if s, err := collectors.ReadK6Summary(filepath.Join(dir, "k6-summary.json")); err == nil {
		for name := range s.Metrics {
			base, _, _ := strings.Cut(name, "{")
			switch {
			case base == "http_reqs":
				exercised[dashboards.PartHTTP] = true
			case base == "backend_results":
				exercised[dashboards.PartCalls] = true
			case strings.HasPrefix(base, "backend_item"):
				exercised[dashboards.PartItems] = true
			case base == "checks":
				exercised[dashboards.PartChecks] = true
			}
		}
	} else {
		t.Logf("no k6 summary (%v): every k6 panel must have data", err)
		for _, p := range []string{dashboards.PartHTTP, dashboards.PartCalls, dashboards.PartItems, dashboards.PartChecks} {
			exercised[p] = true
		}
	}
	exercised[dashboards.PartListener] = exercised[dashboards.PartHTTP] || exercised[dashboards.PartCalls]
	var parts []string
	for p, ok := range exercised {
		if ok {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	t.Logf("run %s (%s): exercised %v", run.RunID, run.Scenario.Metadata.Name, parts)
	checkPanels(t, prom, w, run.Scenario, exercised, leftOut)
}
