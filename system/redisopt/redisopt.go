// Package redisopt builds the go-redis client options the reference
// system's programs share, so that the listener, the worker, the migration
// and the controller (and the benchmarks that stand for them) talk to Redis
// the same way.
package redisopt

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// ParseURL reads a redis:// URL (redis.ParseURL) and, for a plain TCP or
// unix connection, dials with dial.
func ParseURL(url string) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	Apply(opt)
	return opt, nil
}

// Apply sets opt's Dialer to dial unless opt already has one or speaks TLS
// (go-redis's own dialer does the handshake, and a TLS connection is not
// peeked anyway).
func Apply(opt *redis.Options) {
	if opt.Dialer != nil || opt.TLSConfig != nil {
		return
	}
	timeout := opt.DialTimeout
	if timeout == 0 {
		timeout = 5 * time.Second // go-redis's default
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Minute}
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial(ctx, d, network, addr)
	}
}

// dial connects with d and hands go-redis a connection that hides its file
// descriptor. Why: go-redis's pool checks every connection it hands out
// with a non-blocking recvfrom(MSG_PEEK) on the socket (pool.connCheck),
// one system call per command, about 6% of an authrep's CPU in
// BenchmarkAuthrep; it skips that check for a connection that is not a
// syscall.Conn. What the check would have caught, a connection the server
// closed while it sat in the pool, then fails on its first command instead,
// before the server has read it, and go-redis retries that command on a new
// connection (TestDeadConnectionRetried).
func dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dialing redis at %s: %w", addr, err)
	}
	return unpeeked{c}, nil
}

// unpeeked is a net.Conn with only net.Conn's methods: no SyscallConn.
type unpeeked struct{ net.Conn }
