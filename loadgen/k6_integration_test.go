package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/system/proctest"
	"github.com/perfrun/perfrun/system/redistest"
)

// TestGeneratorsWithRealK6 runs the generators Render makes as real k6
// processes (here, not in Jobs) against a real listener, worker and Redis:
// provisioning once, every generator paused until all are, resumed through
// k6's REST API as the cluster path does, then checks that the segments
// together ran the whole offered load once and that the key slices kept
// each generator to its keys.
func TestGeneratorsWithRealK6(t *testing.T) {
	if testing.Short() {
		t.Skip("builds k6 and runs it for seconds; not in -short")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k6 := buildK6(t)
	listenerBin, err := proctest.Build(dir, "github.com/perfrun/perfrun/system/cmd/listener")
	if err != nil {
		t.Fatal(err)
	}
	workerBin, err := proctest.Build(dir, "github.com/perfrun/perfrun/system/cmd/worker")
	if err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t)
	listener := proctest.StartServing(t, listenerBin, "-listen", "-redis", rs.URL(), "-queue", "v2")
	proctest.StartWorker(t, workerBin, "-redis", rs.URL(), "-queue", "v2")
	target := "http://" + listener.Addr
	prom := startPrometheus(t)

	const (
		generators = 3
		apps       = 10
		keys       = 6 // apps 6..9 are provisioned but outside every slice
		rate       = 60
		duration   = 4 * time.Second
	)
	files := map[string]string{}
	for _, f := range []string{"lib.js", "throughput.js", "provision.js"} {
		b, err := os.ReadFile(filepath.Join(repo, "fixtures", "load", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	r, err := Render(Spec{Namespace: "local", TestID: "it", Image: "none", Script: "throughput.js", Files: files,
		Provision: "provision.js", Targets: target, Duration: duration, Generators: generators, Keys: keys,
		RemoteWriteURL: prom + "/api/v1/write",
		Env:            map[string]string{"RATE": fmt.Sprint(rate), "APPS": fmt.Sprint(apps)}})
	if err != nil {
		t.Fatal(err)
	}
	local := func(args []string) []string {
		var out []string
		for i := 0; i < len(args); i++ {
			switch {
			case strings.HasPrefix(args[i], scriptsDir+"/"):
				out = append(out, filepath.Join(repo, "fixtures", "load", strings.TrimPrefix(args[i], scriptsDir+"/")))
			default:
				out = append(out, args[i])
			}
		}
		return out
	}
	prov := exec.Command(k6, local(r.Provision.Spec.Template.Spec.Containers[0].Args)...)
	if b, err := prov.CombinedOutput(); err != nil {
		t.Fatalf("provisioning: %v\n%s", err, b)
	}

	type gen struct {
		api     string
		summary string
		cmd     *exec.Cmd
		out     bytes.Buffer
	}
	gens := make([]*gen, generators)
	for i, g := range r.Generators {
		args := local(g.Job.Spec.Template.Spec.Containers[0].Args)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		api := ln.Addr().String()
		ln.Close()
		for j := range args {
			if args[j] == "--address" {
				args[j+1] = api
			}
		}
		gn := &gen{api: api, summary: filepath.Join(dir, fmt.Sprintf("summary-%d.json", i))}
		args = append([]string{args[0], "--summary-export", gn.summary}, args[1:]...)
		gn.cmd = exec.Command(k6, args...)
		gn.cmd.Stdout, gn.cmd.Stderr = &gn.out, &gn.out
		// The Job's environment: remote write with native histograms.
		gn.cmd.Env = os.Environ()
		for _, e := range g.Job.Spec.Template.Spec.Containers[0].Env {
			gn.cmd.Env = append(gn.cmd.Env, e.Name+"="+e.Value)
		}
		if err := gn.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gn.cmd.Process.Kill() })
		gens[i] = gn
	}
	// All paused (k6 status 4) before any starts.
	proctest.Eventually(t, 60*time.Second, "every generator paused before run", func() bool {
		for _, g := range gens {
			if st, err := k6Status(g.api); err != nil || st != pausedBeforeRun {
				return false
			}
		}
		return true
	})
	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPatch, "http://"+g.api+"/v1/status",
				strings.NewReader(`{"data":{"type":"status","id":"default","attributes":{"paused":false}}}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("resuming %s: %v", g.api, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("resuming %s: %s", g.api, resp.Status)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	var iterations, dropped float64
	perGen := make([]float64, generators)
	var p95s []float64
	for i, g := range gens {
		done := make(chan error, 1)
		go func() { done <- g.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("generator %d: %v\n%s", i, err, g.out.String())
			}
		case <-time.After(duration + time.Minute):
			t.Fatalf("generator %d did not end", i)
		}
		var s struct {
			Metrics map[string]struct {
				Count float64 `json:"count"`
				P95   float64 `json:"p(95)"`
			} `json:"metrics"`
		}
		b, err := os.ReadFile(g.summary)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		iterations += s.Metrics["iterations"].Count
		perGen[i] = s.Metrics["iterations"].Count
		p95s = append(p95s, s.Metrics["backend_call_duration{call:authrep}"].P95)
		dropped += s.Metrics["dropped_iterations"].Count
		t.Logf("generator %d (%s): %g iterations", i, r.Generators[i].Segment, s.Metrics["iterations"].Count)
	}
	offered := float64(rate) * duration.Seconds()
	_ = offered
	// k6 starts an iteration at t=0 in each segment that owns one: at most
	// one more per generator, never fewer than offered minus dropped.
	if iterations+dropped < offered || iterations > offered+generators {
		t.Fatalf("generators ran %g iterations (+%g dropped), offered %g: segments did not cover the rate once", iterations, dropped, offered)
	}
	// Usage lands through the queue; wait for it to add up.
	var hits []float64
	proctest.Eventually(t, 20*time.Second, "usage totals equal iterations", func() bool {
		hits = hits[:0]
		var sum float64
		for a := range apps {
			v, err := appHits(target, fmt.Sprintf("app-%d", a))
			if err != nil {
				return false
			}
			hits = append(hits, v)
			sum += v
		}
		return sum == iterations
	})
	for a, h := range hits {
		inSlice := a < keys
		if inSlice && h == 0 || !inSlice && h != 0 {
			t.Errorf("app-%d got %g hits; the slices cover apps 0..%d only, each of them used", a, h, keys-1)
		}
	}

	// One verdict from what the generators remote-wrote: the same counts as
	// their summaries added up, a p95 from the summed native histograms.
	end := time.Now()
	q := promAPI(t, prom)
	agg := &Aggregator{Q: q, TestID: "it", Start: start, End: end}
	ths, err := ParseThresholds(map[string][]any{
		"iterations":                          {fmt.Sprintf("count==%g", iterations)},
		"backend_results{outcome:error}":      {"count==0"},
		"backend_call_duration{call:authrep}": {"p(95)<1000", "avg<1000", "max>0"},
		"backend_hits_accepted{metric:hits}":  {fmt.Sprintf("count==%g", iterations)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		results = results[:0]
		ok := true
		for _, r := range agg.Evaluate(context.Background(), ths) {
			results = append(results, fmt.Sprintf("%s %s %s %s", r.Name, r.Status, fmtValue(r.Value), r.Error))
			ok = ok && r.Status == assertions.Pass && r.Value != nil
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thresholds over all generators, from Prometheus:\n%s", strings.Join(results, "\n"))
		}
		time.Sleep(time.Second)
	}
	t.Logf("aggregated thresholds: %s", strings.Join(results, "; "))
	// The whole run's p95 lies between the generators' own p95s (within
	// the native histogram's ~10% buckets).
	for _, r := range agg.Evaluate(context.Background(), ths) {
		if strings.Contains(r.Name, "p(95)") && (*r.Value < 0.9*slices.Min(p95s) || *r.Value > 1.1*slices.Max(p95s)) {
			t.Errorf("p95 over all generators %g ms, generators' own p95s %v", *r.Value, p95s)
		}
	}
	stats, err := Stats(context.Background(), q, "it", start, end, r, nil, offered)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range stats {
		if st.Iterations != perGen[i] || st.Starved || st.Lagging {
			t.Errorf("generator %d: stats %+v, its summary says %g iterations", i, st, perGen[i])
		}
	}
}

func fmtValue(v *float64) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprint(*v)
}

func promAPI(t *testing.T, url string) assertions.Querier {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return promv1.NewAPI(c)
}

// startPrometheus runs this machine's Prometheus with the remote-write
// receiver and native histograms on (what the generators need), on a free
// loopback port, for the test's life.
func startPrometheus(t *testing.T) string {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not installed (bash scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := proctest.Start(t, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--enable-feature=native-histograms", "--log.level=warn")
	url := "http://" + addr
	proctest.Eventually(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	_ = p
	return url
}

var (
	k6Once sync.Once
	k6Bin  string
	k6Err  error
)

// buildK6 builds bin/k6's main (k6 with the k6/x/backend extension) once
// per test binary, into a folder removed when the package's tests end.
func buildK6(t *testing.T) string {
	t.Helper()
	k6Once.Do(func() {
		dir, err := os.MkdirTemp("", "loadgen-k6-")
		if err != nil {
			k6Err = err
			return
		}
		k6Bin = filepath.Join(dir, "k6")
		build := exec.Command("go", "build", "-o", k6Bin, "./cmd/k6")
		build.Dir = filepath.Join("..", "xk6-backend")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			k6Err = fmt.Errorf("building k6: %w\n%s", err, b)
		}
	})
	if k6Err != nil {
		t.Fatal(k6Err)
	}
	return k6Bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if k6Bin != "" {
		_ = os.RemoveAll(filepath.Dir(k6Bin))
	}
	os.Exit(code)
}

func k6Status(api string) (int, error) {
	resp, err := http.Get("http://" + api + "/v1/status")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Data struct {
			Attributes struct {
				Status int `json:"status"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Data.Attributes.Status, nil
}

func appHits(base, app string) (float64, error) {
	resp, err := http.Get(base + "/internal/services/perfrun-svc/applications/" + app + "/usage/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var u struct {
		Totals map[string]float64 `json:"totals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		return 0, err
	}
	return u.Totals["hits"], nil
}

// The scripts' seconds() (fixtures/load/lib.js) reads every DURATION
// perfrun or a user may give, Go's compound form included, in real k6.
func TestLibSecondsWithRealK6(t *testing.T) {
	if testing.Short() {
		t.Skip("builds k6; not in -short")
	}
	lib, err := filepath.Abs(filepath.Join("..", "fixtures", "load", "lib.js"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "seconds.js")
	src := fmt.Sprintf(`import { seconds } from %q;
const cases = { '1m0s': 60, '60s': 60, '1m30s': 90, '500ms': 0.5, '1h': 3600, '1.5s': 1.5, '2m': 120 };
for (const [k, v] of Object.entries(cases)) { if (seconds(k) !== v) throw new Error(k + ' read as ' + seconds(k)); }
for (const bad of ['abc', '', '10', '1m0', 's']) {
  let threw = false; try { seconds(bad); } catch (e) { threw = true; }
  if (!threw) throw new Error('accepted ' + JSON.stringify(bad));
}
export const options = { iterations: 1, vus: 1 };
export default function () {}
`, "file://"+lib)
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, buildK6(t), "run", "-q", "--summary-mode=disabled", script).CombinedOutput()
	if err != nil {
		t.Fatalf("k6: %v\n%s", err, out)
	}
}
