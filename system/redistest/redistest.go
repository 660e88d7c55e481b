// Package redistest starts a real redis-server on a free loopback port for
// integration tests. It never fakes Redis: when redis-server is missing the
// test fails with the install hint (the project's scripts install it), unless
// PERFRUN_ALLOW_NO_REDIS=1 asks for a skip, which then says why.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/redisopt"
	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process owned by a test.
type Server struct {
	Addr string // host:port on 127.0.0.1
	cmd  *exec.Cmd
}

// Client returns a new client for the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	opt := &redis.Options{Addr: s.Addr, PoolSize: 64}
	redisopt.Apply(opt) // as the programs dial
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// URL is the redis:// URL of the server, as the programs' -redis flag takes it.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Start launches redis-server on a free 127.0.0.1 port and stops it when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("PERFRUN_ALLOW_NO_REDIS") == "1" {
			t.Skip("redis-server not installed (PERFRUN_ALLOW_NO_REDIS=1); install it with: apt-get install redis-server")
		}
		t.Fatalf("redis-server not found in PATH: install it with `apt-get install redis-server` (bash .ci/run does)")
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		s, err := start(bin, dir, port)
		if err != nil {
			t.Logf("redis-server on port %d: %v (retrying)", port, err)
			continue
		}
		t.Cleanup(s.stop)
		return s
	}
	t.Fatalf("could not start redis-server after 5 attempts")
	return nil
}

func start(bin, dir string, port int) (*Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--protected-mode", "yes", "--loglevel", "warning",
		"--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	s := &Server{Addr: addr, cmd: cmd}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			s.stop()
			return nil, fmt.Errorf("redis-server on %s not answering PING within 10s", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
