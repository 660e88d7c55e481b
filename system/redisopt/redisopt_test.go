package redisopt_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/redisopt"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/redis/go-redis/v9"
)

// TestDeadConnectionRetried: with the pool's peek gone, connections the
// server closed while idle still do not fail a command: go-redis retries it
// on a fresh one. Against a real redis-server.
func TestDeadConnectionRetried(t *testing.T) {
	rs := redistest.Start(t)
	opt, err := redisopt.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize = 4
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// a conn through Dial is not a syscall.Conn (what the pool peeks)
	c, err := opt.Dialer(ctx, "tcp", rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(syscall.Conn); ok {
		t.Error("Dial's connection is a syscall.Conn: go-redis would peek it on every command")
	}
	_ = c.Close()

	// fill the pool, then have the server close every connection but the killer's
	for i := 0; i < 4; i++ {
		if err := rdb.Set(ctx, "k", i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	admin := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "KILL", "SKIPME", "yes").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // the FINs arrive
	for i := 0; i < 8; i++ {
		if err := rdb.Incr(ctx, "n").Err(); err != nil {
			t.Fatalf("INCR %d after the server closed the pool's connections: %v", i, err)
		}
	}
	if n, err := rdb.Get(ctx, "n").Int(); err != nil || n != 8 {
		t.Errorf("n = %d (%v), want 8: a retried command ran twice or not at all", n, err)
	}
}

func TestApplyKeepsTLSAndOwnDialer(t *testing.T) {
	opt, err := redisopt.ParseURL("rediss://127.0.0.1:6380")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Dialer != nil {
		t.Error("rediss:// got redisopt's dialer: go-redis's own does the TLS handshake")
	}
	if _, err := redisopt.ParseURL("http://x"); err == nil {
		t.Error("http:// URL: no error")
	}
}
