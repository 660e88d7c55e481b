package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/perfrun/perfrun/dashboards"
	"github.com/perfrun/perfrun/internal/promtest"
	"github.com/perfrun/perfrun/system/redistest"
)

// metricNames parses every dashboard query with Prometheus's parser and
// returns the metric names each one selects, by query.
func metricNames(t *testing.T) map[string][]dashboards.Query {
	t.Helper()
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 30 {
		t.Fatalf("only %d queries in the dashboards", len(qs))
	}
	p := parser.NewParser(parser.Options{})
	names := map[string][]dashboards.Query{}
	for _, q := range qs {
		expr, err := p.ParseExpr(dashboards.PromQL(q.Expr))
		if err != nil {
			t.Errorf("%s %s: %q does not parse: %v", q.Dashboard, q.Where, q.Expr, err)
			continue
		}
		found := false
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%s %s: a selector without a metric name: %s", q.Dashboard, q.Where, vs)
				return nil
			}
			found = true
			names[name] = append(names[name], q)
			return nil
		})
		if !found {
			t.Errorf("%s %s: %q selects no metric", q.Dashboard, q.Where, q.Expr)
		}
	}
	return names
}

// alternatives are, for each query (by "DASHBOARD WHERE"), the sets of
// metric names of its top-level "or" operands: the query can be answered
// when every name of one set is there.
func alternatives(t *testing.T) map[string][][]string {
	t.Helper()
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]string{}
	for _, q := range qs {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(dashboards.PromQL(q.Expr))
		if err != nil {
			continue // TestPanelsParse reports it
		}
		var ops []parser.Expr
		var split func(parser.Expr)
		split = func(e parser.Expr) {
			switch e := e.(type) {
			case *parser.BinaryExpr:
				if e.Op == parser.LOR {
					split(e.LHS)
					split(e.RHS)
					return
				}
			case *parser.ParenExpr:
				split(e.Expr)
				return
			}
			ops = append(ops, e)
		}
		split(expr)
		key := q.Dashboard + " " + q.Where
		for _, op := range ops {
			var names []string
			parser.Inspect(op, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
					names = append(names, vs.Name)
				}
				return nil
			})
			if len(names) > 0 { // vector(0) is always there
				out[key] = append(out[key], names)
			}
		}
	}
	return out
}

func TestPanelsParse(t *testing.T) {
	names := metricNames(t)
	// The parser is the real check; this says it saw what the panels are about.
	for _, want := range []string{"apisonator_listener_response_codes", "apisonator_worker_queue_depth", "perfrun_controller_buckets_held", "k6_http_reqs_total"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no query names %s", want)
		}
	}
	// A broken expression must fail: the check is not vacuous.
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(dashboards.PromQL(`sum(rate(x{namespace=~"$namespace"}[$__rate_interval])`)); err == nil {
		t.Error("an unbalanced expression parsed")
	}
}

// TestMetricsAreExported runs the real system (redis-server, bin listener,
// worker and controller built here) and real k6 with the backend extension
// (bin/k6, `make k6`), all on 127.0.0.1, with a real Prometheus that scrapes
// the programs and receives k6's remote write. Every metric a dashboard
// names must then be one Prometheus has.
func TestMetricsAreExported(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	k6 := filepath.Join(root, "bin", "k6")
	if _, err := os.Stat(k6); err != nil {
		t.Fatalf("bin/k6 missing (make k6 builds it; make test-dashboards does): %v", err)
	}
	names := metricNames(t)
	sys := startSystem(t, root)
	prom := promtest.Start(t, sys.listener, sys.worker, sys.controller)

	// k6: the smoke script (authrep, authorize, provisioning) and the items
	// script (controller items), pushing to Prometheus as perfrun run does.
	env := append(os.Environ(),
		"K6_PROMETHEUS_RW_SERVER_URL="+prom+"/api/v1/write",
		"K6_PROMETHEUS_RW_TREND_STATS=p(50),p(95),p(99),avg,max",
		"K6_PROMETHEUS_RW_PUSH_INTERVAL=1s",
		"K6_NO_USAGE_REPORT=true",
	)
	// perfrun's scripts speak to the system through the extension's own
	// client, so k6's http_* metrics come from a plain k6/http script, as a
	// user aiming k6 at another backend would write.
	plain := filepath.Join(t.TempDir(), "plain.js")
	if err := os.WriteFile(plain, []byte(`import http from 'k6/http';
export const options = { vus: 2, iterations: 40 };
export default function () { http.get(__ENV.TARGETS + '/status'); }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		script string
		env    []string
	}{
		{"fixtures/load/smoke.js", []string{"ITERATIONS=40", "APPS=5"}},
		{"fixtures/load/items.js", []string{"RATE=5", "DURATION=3s", "DEADLINE=2s", "WAIT_TIMEOUT=5s", "RUN_ID=dashcheck"}},
		// Items given up on at once: backend_items_unreconciled has samples
		// only when an item was never reconciled.
		{"fixtures/load/items.js", []string{"RATE=5", "DURATION=1s", "DEADLINE=1ms", "WAIT_TIMEOUT=1ms", "RUN_ID=dashcheck-giveup"}},
		{plain, nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		args := []string{"run", "-q", "--no-thresholds", "--tag", "testid=dashcheck", "-o", "experimental-prometheus-rw", "-e", "TARGETS=http://" + sys.listener}
		for _, e := range s.env {
			args = append(args, "-e", e)
		}
		script := s.script
		if !filepath.IsAbs(script) {
			script = filepath.Join(root, script)
		}
		cmd := exec.CommandContext(ctx, k6, append(args, script)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("k6 %s: %v\n%s", s.script, err, out)
		}
	}

	// Prometheus scrapes every second; wait until every query has a way
	// to be answered, or 30s. A query "A or B" needs the names of A or
	// those of B: a percentile reads the native histogram or, where
	// Prometheus keeps none (this one: Prometheus 2 without native
	// histograms, k6 writing trend stats), the classic buckets or k6's
	// trend gauges. The native side is checked by TestPanelsHaveData.
	alts := alternatives(t)
	var unmet []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		have, err := labelValues(prom)
		if err != nil {
			t.Fatal(err)
		}
		unmet = unmet[:0]
		for key, as := range alts {
			if !slices.ContainsFunc(as, func(ns []string) bool {
				return !slices.ContainsFunc(ns, func(n string) bool { return !slices.Contains(have, n) })
			}) {
				unmet = append(unmet, key)
			}
		}
		if len(unmet) == 0 || time.Now().After(deadline) {
			if len(unmet) > 0 {
				t.Logf("Prometheus has: %s", strings.Join(have, " "))
			}
			break
		}
		time.Sleep(time.Second)
	}
	slices.Sort(unmet)
	for _, key := range unmet {
		t.Errorf("%s names metrics that neither the system nor k6 exports, in every alternative: %v", key, alts[key])
	}
	t.Logf("%d metric names checked against the live system and k6", len(names))
}

// system is the reference system's programs running on 127.0.0.1, each
// at its metrics address.
type system struct{ listener, worker, controller string }

// startSystem builds the listener, worker and controller from root and
// runs them on a real redis-server until the test ends.
func startSystem(t *testing.T, root string) system {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./system/cmd/listener", "./system/cmd/worker", "./system/cmd/controller")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the system: %v\n%s", err, out)
	}
	rds := redistest.Start(t)
	s := system{freeAddr(t), freeAddr(t), freeAddr(t)}
	start(t, filepath.Join(bin, "listener"), "-listen", s.listener, "-redis", rds.URL(), "-queue", "v2")
	start(t, filepath.Join(bin, "worker"), "-redis", rds.URL(), "-queue", "v2", "-metrics-listen", s.worker, "-block", "100ms", "-consumer", "worker-0")
	start(t, filepath.Join(bin, "controller"), "-redis", rds.URL(), "-mode", "statefulset", "-pod", "controller-0", "-replicas", "1",
		"-metrics-listen", s.controller, "-work", "1ms", "-resync", "500ms", "-stateful-service-name", "controller", "-namespace", "perfrun-test")
	for _, a := range []string{s.listener, s.worker, s.controller} {
		waitReady(t, "http://"+a+"/readyz")
	}
	return s
}

func labelValues(prom string) ([]string, error) {
	resp, err := http.Get(prom + "/api/v1/label/__name__/values")
	if err != nil {
		return nil, fmt.Errorf("asking prometheus for names: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		return nil, fmt.Errorf("decoding names (status %q): %v", body.Status, err)
	}
	return body.Data, nil
}

// start runs a program until the test ends; SIGTERM then, SIGKILL if it
// does not stop within 10s.
func start(t *testing.T, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
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
			t.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 20s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
