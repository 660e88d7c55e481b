// Package promtest starts a real Prometheus (Debian's prometheus package,
// installed by scripts/deps.sh) for integration tests: a free 127.0.0.1
// port, a temporary TSDB, a 1s scrape of the given targets and the
// remote-write receiver on. It is stopped when the test ends.
package promtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start runs Prometheus scraping targets (host:port, path /metrics) every
// second with honor_labels, and returns its base URL.
func Start(t testing.TB, targets ...string) string {
	t.Helper()
	ts := make([]Target, len(targets))
	for i, a := range targets {
		ts[i] = Target{Addr: a}
	}
	return StartTargets(t, ts...)
}

// Target is a scrape target with the labels Prometheus gives its samples,
// as a Kubernetes discovery would give namespace and pod.
type Target struct {
	Addr   string
	Labels map[string]string
}

// StartTargets is Start with labelled targets.
func StartTargets(t testing.TB, targets ...Target) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not installed (bash scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	var static strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&static, "      - targets: [%q]\n", tg.Addr)
		if len(tg.Labels) > 0 {
			static.WriteString("        labels:\n")
			for k, v := range tg.Labels {
				fmt.Fprintf(&static, "          %s: %q\n", k, v)
			}
		}
	}
	if len(targets) == 0 {
		static.WriteString("      - targets: []\n")
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: test
    honor_labels: true
    static_configs:
%s`, static.String())
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
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
	})
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus exited before ready: %v\n%s", err, log)
		case <-ctx.Done():
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus not ready within 30s\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
