package backend_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The integration test runs the real thing: bin/k6 built from this module,
// a real redis-server, and the reference system's listener and worker built
// from the repository, all on loopback. It checks that every hit k6 counts
// as accepted is in the system's usage totals once the queue drained, and
// that k6's outcome counts equal the listener's response codes.

const smokeApps = 20

func TestSmokeScriptCountsEqualTheSystems(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds k6 and the system and runs them; run without -short for the default path")
	}
	bins := buildBinaries(t)
	for _, format := range []string{"v2", "v1"} {
		t.Run("queue="+format, func(t *testing.T) {
			redisURL := startRedis(t)
			listen := freeAddr(t)
			// The internal API behind basic auth, with the credentials the
			// scripts send by default (fixtures/load/lib.js).
			startEnv(t, []string{"CONFIG_INTERNAL_API_USER=perfrun", "CONFIG_INTERNAL_API_PASSWORD=perfrun-internal-api"},
				"listener", bins["listener"], "-listen", listen, "-redis", redisURL, "-queue", format)
			start(t, "worker", bins["worker"], "-redis", redisURL, "-queue", format, "-metrics-listen", freeAddr(t), "-block", "100ms")
			base := "http://" + listen
			waitHTTP(t, base+"/readyz")

			const iterations = 150
			summary := filepath.Join(t.TempDir(), "smoke.json")
			cmd := exec.Command(bins["k6"], "run", "--quiet", "--no-color", "--summary-export", summary, "../fixtures/load/smoke.js")
			cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true", "TARGETS="+base, "ITERATIONS="+strconv.Itoa(iterations), "APPS="+strconv.Itoa(smokeApps), "SEED=7")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("k6 run: %v\n%s", err, out)
			}
			k6 := readSummary(t, summary)

			accepted := k6["backend_hits_accepted{metric:hits}"]
			authorized := k6["backend_results{call:authrep,outcome:authorized}"]
			rejected := k6["backend_results{call:authrep,outcome:rejected}"]
			if authorized != iterations || accepted != 2*iterations || rejected != (iterations+9)/10 {
				t.Fatalf("k6 counted authorized=%v accepted hits=%v rejected=%v; want %d, %d, %d", authorized, accepted, rejected, iterations, 2*iterations, (iterations+9)/10)
			}

			codes := listenerCodes(t, base)
			if got := codes[`request_type="authrep",resp_code="2xx"`]; got != authorized {
				t.Errorf("listener answered %v authreps with 2xx, k6 counted %v authorized", got, authorized)
			}
			if got := codes[`request_type="authrep",resp_code="403"`]; got != rejected {
				t.Errorf("listener answered %v authreps with 403, k6 counted %v rejected", got, rejected)
			}

			// The usage lands through the queue: wait, bounded, for it to drain.
			var total float64
			deadline := time.Now().Add(20 * time.Second)
			for {
				total = usageTotal(t, base)
				if total >= accepted || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // anything beyond the count would show now
			if total = usageTotal(t, base); total != accepted {
				t.Fatalf("usage totals in the system: %v hits; k6 accepted %v", total, accepted)
			}
		})
	}
}

// buildBinaries builds bin/k6 from this module (once per test binary: see
// k6Binary) and the listener and worker from the repository root into a
// temporary directory.
func buildBinaries(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{"k6": k6Binary(t)}
	for name, pkg := range map[string]string{
		"listener": "./system/cmd/listener",
		"worker":   "./system/cmd/worker",
	} {
		out := filepath.Join(dir, name)
		goBuild(t, "..", pkg, out)
		bins[name] = out
	}
	return bins
}

// k6 is built once for every test that runs it, into a folder TestMain
// removes.
var (
	k6Once  sync.Once
	k6Path  string
	k6Err   error
	k6Build string // the folder
)

func TestMain(m *testing.M) {
	code := m.Run()
	if k6Build != "" {
		os.RemoveAll(k6Build)
	}
	os.Exit(code)
}

func k6Binary(t *testing.T) string {
	t.Helper()
	k6Once.Do(func() {
		if k6Build, k6Err = os.MkdirTemp("", "perfrun-k6-"); k6Err != nil {
			return
		}
		out := filepath.Join(k6Build, "k6")
		if b, err := goBuildCmd(".", "./cmd/k6", out).CombinedOutput(); err != nil {
			k6Err = fmt.Errorf("building k6: %v\n%s", err, b)
			return
		}
		k6Path = out
	})
	if k6Err != nil {
		t.Fatal(k6Err)
	}
	return k6Path
}

func goBuild(t *testing.T, dir, pkg, out string) {
	t.Helper()
	if b, err := goBuildCmd(dir, pkg, out).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
}

// goBuildCmd builds as the Makefile does (-trimpath, no cgo), so that both
// share the build cache.
func goBuildCmd(dir, pkg, out string) *exec.Cmd {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
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

// startRedis runs a real redis-server on a free loopback port, without
// persistence, and stops it when the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed (scripts/deps.sh installs it): %v", err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	start(t, "redis-server", path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return "redis://" + addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer PING", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start runs a program until the test ends, then stops it with SIGTERM (and
// SIGKILL if it does not go within 10s; on Linux it is killed too if the
// test binary dies first, e.g. on go test's timeout). Its output goes to
// the test log on failure.
func start(t *testing.T, name, path string, args ...string) {
	t.Helper()
	startEnv(t, nil, name, path, args...)
}

// startEnv is start with env added to this process's environment.
func startEnv(t *testing.T, env []string, name, path string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
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
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s output:\n%s", name, b)
		}
		logf.Close()
	})
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready: %v", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readSummary returns count of every counter in a --summary-export file.
func readSummary(t *testing.T, path string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	out := map[string]float64{}
	for name, m := range s.Metrics {
		if c, ok := m["count"].(float64); ok {
			out[name] = c
		}
	}
	return out
}

var codeLine = regexp.MustCompile(`^apisonator_listener_response_codes\{(.*)\} (\S+)$`)

func listenerCodes(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := codeLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
}

// usageTotal reads the hits of every provisioned application back from the
// system's ground-truth endpoint and adds them up.
func usageTotal(t *testing.T, base string) float64 {
	t.Helper()
	var total float64
	for i := range smokeApps {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/internal/services/perfrun-svc/applications/app-%d/usage/", base, i), nil)
		req.SetBasicAuth("perfrun", "perfrun-internal-api")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Status string             `json:"status"`
			Totals map[string]float64 `json:"totals"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("usage of app-%d: HTTP %d, %v", i, resp.StatusCode, err)
		}
		total += ans.Totals["hits"]
	}
	return total
}
