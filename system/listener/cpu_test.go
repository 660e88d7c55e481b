package listener

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSamplerFraction(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := sampler{last: 0, lastAt: t0}
	if got := s.sample(t0.Add(time.Second), 900*time.Millisecond); got < 0.899 || got > 0.901 {
		t.Errorf("0.9s CPU over 1s = %v cores, want 0.9", got)
	}
	if got := s.sample(t0.Add(3*time.Second), 1900*time.Millisecond); got < 0.499 || got > 0.501 {
		t.Errorf("1s CPU over 2s = %v cores, want 0.5", got)
	}
	if got := s.sample(t0.Add(3*time.Second), 5*time.Second); got != 0 {
		t.Errorf("no wall time passed = %v, want 0", got)
	}
}

// TestReadinessFollowsCPU: /readyz fails while the gate sees CPU above its
// threshold and comes back when it falls; liveness is unaffected.
func TestReadinessFollowsCPU(t *testing.T) {
	g := NewCPUGate(0.8)
	s := New(Options{ReadyCheck: g.Check})
	h := s.Handler()
	code := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	g.set(0.3)
	if c := code("/readyz"); c != 200 {
		t.Fatalf("readyz at 0.3 cores = %d, want 200", c)
	}
	g.set(0.95)
	if c := code("/readyz"); c != 503 {
		t.Fatalf("readyz at 0.95 cores = %d, want 503", c)
	}
	if c := code("/healthz"); c != 200 {
		t.Fatalf("healthz while saturated = %d, want 200", c)
	}
	g.set(0.5)
	if c := code("/readyz"); c != 200 {
		t.Fatalf("readyz after falling to 0.5 = %d, want 200", c)
	}
	s.SetReady(false)
	if c := code("/readyz"); c != 503 {
		t.Fatalf("readyz while shutting down = %d, want 503", c)
	}
	if NewCPUGate(0).Check() != nil {
		t.Error("a gate with threshold 0 must never fail")
	}
}
