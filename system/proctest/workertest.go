// Package proctest runs the real system programs (bin/listener, bin/worker,
// bin/migrate...) as processes in integration tests: built from source by
// the test, started on a free port, waited for until ready, signalled,
// scraped.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the main package pkg (an import path) into dir and returns
// the binary's path.
func Build(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// Proc is a running program.
type Proc struct {
	// Addr is the program's metrics/health address.
	Addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // exit status, set when done is closed
}

// StartWorker starts bin with args plus a free -metrics-listen port and
// waits until /readyz answers 200. The process is killed when the test ends
// if it is still running.
func StartWorker(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartServing(t, bin, "-metrics-listen", args...)
}

// StartServing starts bin with args plus listenFlag set to a free loopback
// address, and waits until /readyz there answers 200.
func StartServing(t testing.TB, bin, listenFlag string, args ...string) *Proc {
	t.Helper()
	return StartServingEnv(t, bin, nil, listenFlag, args...)
}

// StartServingEnv is StartServing with env (KEY=VALUE) added to the
// process's environment.
func StartServingEnv(t testing.TB, bin string, env []string, listenFlag string, args ...string) *Proc {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	p := start(t, bin, env, append(args, listenFlag, addr)...)
	p.Addr = addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v\n%s", filepath.Base(bin), p.err, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready on %s within 10s\n%s", filepath.Base(bin), addr, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Start starts bin with args, its output captured.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return start(t, bin, nil, args...)
}

func start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// Kill sends SIGKILL, as a node losing a pod does, and waits for the end.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing: %v", err)
	}
	<-p.done
}

// Term sends SIGTERM and returns the exit error (nil for status 0); it
// fails the test if the process is still running after within.
func (p *Proc) Term(t testing.TB, within time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sending SIGTERM: %v", err)
	}
	return p.Wait(t, within)
}

// Wait waits for the process to exit by itself and returns its exit error.
func (p *Proc) Wait(t testing.TB, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("process still running %v later\n%s", within, p.Output())
		return nil
	}
}

// Output is what the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Metric scrapes /metrics and sums the samples of the series whose name
// and labels start with prefix, e.g. `apisonator_worker_job_count{type="ReportJob"}`
// or `apisonator_worker_jobs_claimed_total`. It fails the test when no
// sample matches.
func (p *Proc) Metric(t testing.TB, prefix string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		rest := line[len(prefix):]
		// A bare name must end where the prefix does (not a longer name).
		if !strings.Contains(prefix, "{") && rest != "" && rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		t.Fatalf("no metric %s in /metrics", prefix)
	}
	return sum
}

// Eventually polls cond every 20ms until it holds or within passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ExitCode is err's exit status (0 for nil, -1 when killed by a signal).
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

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
