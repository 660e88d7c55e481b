package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The first signal cancels the context and says teardown started; the
// second exits at once with code 1, naming the namespace and perfrun clean.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	for _, json := range []bool{false, true} {
		var out syncBuffer
		exited := make(chan int, 1)
		in := &interrupts{stderr: &out, exit: func(code int) { exited <- code }}
		in.running("perfrun-smoke-1234abcd", "results/smoke-x-1234abcd", json)
		ctx, cancel := context.WithCancel(context.Background())
		sigs := make(chan os.Signal, 2)
		go in.watch(sigs, cancel)

		sigs <- os.Interrupt
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			t.Fatal("the first signal did not cancel the context")
		}
		select {
		case code := <-exited:
			t.Fatalf("exited (%d) on the first signal", code)
		case <-time.After(100 * time.Millisecond):
		}
		sent := time.Now()
		sigs <- syscall.SIGTERM
		select {
		case code := <-exited:
			if code != exitHarness {
				t.Errorf("exit code %d, want %d", code, exitHarness)
			}
			t.Logf("json=%v: exited %v after the second signal", json, time.Since(sent))
		case <-time.After(2 * time.Second):
			t.Fatal("no exit within 2s of the second signal")
		}
		got := out.String()
		for _, want := range []string{"tearing down", "interrupt again to exit at once", "exiting without finishing teardown",
			"namespace perfrun-smoke-1234abcd", "perfrun clean removes it", "results/smoke-x-1234abcd"} {
			if !strings.Contains(got, want) {
				t.Errorf("json=%v: stderr lacks %q:\n%s", json, want, got)
			}
		}
		if json {
			lines := strings.Split(strings.TrimSpace(got), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, `"event":"done"`) || !strings.Contains(last, `"exitCode":1`) {
				t.Errorf("last JSON event is not done with exit 1: %s", last)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "{") {
					t.Errorf("not a JSON line: %s", l)
				}
			}
		}
	}
}

// Outside a run (compare, cluster up) the first signal only stops.
func TestInterruptOutsideARun(t *testing.T) {
	var out syncBuffer
	exited := make(chan int, 1)
	in := &interrupts{stderr: &out, exit: func(code int) { exited <- code }}
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	go in.watch(sigs, cancel)
	sigs <- os.Interrupt
	<-ctx.Done()
	sigs <- os.Interrupt
	if code := <-exited; code != exitHarness {
		t.Errorf("exit %d", code)
	}
	got := out.String()
	if !strings.Contains(got, "interrupt: stopping (interrupt again to exit at once)") || strings.Contains(got, "namespace") || strings.Contains(got, "tearing down") {
		t.Errorf("stderr:\n%s", got)
	}
}
