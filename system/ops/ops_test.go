package ops

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "perfrun_ops_test_things", Help: "h"})
	reg.MustRegister(c)
	c.Inc()
	var notReady error
	s, err := Serve("127.0.0.1:0", "-metrics-listen", Handler(reg, func() error { return notReady }), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "perfrun_ops_test_things 1") || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_cpu_seconds_total") {
		t.Errorf("/metrics = %d, missing the counter (as declared, no _total) or the Go/process collectors:\n%.400s", code, body)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	notReady = errors.New("warming up")
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "warming up") {
		t.Errorf("/readyz = %d %q, want 503 saying why", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if _, err := Serve("256.0.0.1:1", "-metrics-listen", Handler(reg, nil), nil); err == nil || !strings.Contains(err.Error(), "-metrics-listen") {
		t.Errorf("a bad address must fail naming the flag, got %v", err)
	}
}
