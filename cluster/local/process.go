package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/perfrun/perfrun/internal/gotool"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// component is one long-running process of the cluster.
type component struct {
	name  string
	bin   string
	args  []string
	ready func(ctx context.Context) error
}

// pidFile is where a component's PID is kept; down stops exactly that PID.
func (c *Cluster) pidFile(name string) string { return filepath.Join(c.runDir, "pids", name+".pid") }

// logFile is where a component writes; it is appended to across ups.
func (c *Cluster) logFile(name string) string { return c.path("logs", name+".log") }

// running returns the PID of the component if its PID file names a live
// process running its binary (a stale file, or a PID reused by something
// else, counts as not running).
func (c *Cluster) running(name, bin string) (int, bool) {
	b, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, processRuns(pid, bin)
}

// processRuns says whether pid is alive (not a zombie) and runs bin.
func processRuns(pid int, bin string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return strings.TrimSuffix(exe, " (deleted)") == bin
}

// start starts comp detached (own session, so a Ctrl-C to perfrun does not
// reach the cluster), its output appended to its log, and records its PID.
// A component already running is left alone.
func (c *Cluster) start(comp component) (started bool, err error) {
	if _, ok := c.running(comp.name, comp.bin); ok {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(c.pidFile(comp.name)), 0o755); err != nil {
		return false, err
	}
	logf, err := os.OpenFile(c.logFile(comp.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("opening log of %s: %w", comp.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== perfrun: starting %s at %s: %s %s\n", comp.name, time.Now().Format(time.RFC3339), comp.bin, strings.Join(comp.args, " "))
	cmd := exec.Command(comp.bin, comp.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.stateDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("starting %s: %w", comp.name, err)
	}
	// Reap it if it dies while we run, so running() sees it gone rather
	// than a zombie; after perfrun exits, init reaps it.
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(c.pidFile(comp.name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return false, fmt.Errorf("writing PID file of %s: %w", comp.name, err)
	}
	return true, nil
}

// waitReady polls comp's readiness until it passes, the process dies, or the
// timeout passes; the error then carries the tail of its log.
func (c *Cluster) waitReady(ctx context.Context, comp component, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if _, ok := c.running(comp.name, comp.bin); !ok {
			return c.failed(comp.name, errors.New("process exited"))
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = comp.ready(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return c.failed(comp.name, fmt.Errorf("not ready after %s: %w", timeout, last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// failed is the error for a component that did not come up: why, the tail
// of its log, and where the whole log is.
func (c *Cluster) failed(name string, err error) error {
	return fmt.Errorf("%s: %w\nlast lines of its log:\n%sfull log: %s", name, err, gotool.Tail(c.logFile(name), 25), c.logFile(name))
}

// stop stops the component named by its PID file: SIGTERM, then SIGKILL
// after grace. Only that PID is signalled, never processes found by name.
func (c *Cluster) stop(name, bin string, grace time.Duration) error {
	pid, ok := c.running(name, bin)
	defer os.Remove(c.pidFile(name))
	if !ok {
		return nil
	}
	return stopPID(pid, grace)
}

func stopPID(pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("signalling %d: %w", pid, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %d: %w", pid, err)
	}
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// alive says whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// run runs a short command and returns its combined output in the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
