// Package lease keeps named leases in Redis, the way Kubernetes Lease objects
// back leader election: a lease is taken by whoever asks first while it is
// free (SET NX PX), kept only by renewing it before it expires, renewed and
// released only by its holder (a compare-and-set in Lua), and free again once
// its holder stops renewing. A holder that keeps renewing keeps the lease
// forever, which is what makes the leader-election hot-spot reproducible.
//
// Layout: one string key per lease, "{lease}:NAME", holding the holder's
// identity with a millisecond TTL.
package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyPrefix puts every lease in one hash slot, so a Redis Cluster never
// splits them (and a future multi-lease script stays possible).
const keyPrefix = "{lease}:"

// Key is the Redis key of the lease called name.
func Key(name string) string { return keyPrefix + name }

// renewScript extends the lease only while it is still ours. Without the
// compare a holder that paused past expiry would steal the lease back from
// its new holder.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes the lease only while it is still ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Client takes, renews and releases leases for one holder identity.
type Client struct {
	rdb      redis.UniversalClient
	holder   string
	duration time.Duration
}

// New returns a Client acting as holder, whose leases last duration unless
// renewed. duration is rounded to milliseconds and must be at least 1ms.
func New(rdb redis.UniversalClient, holder string, duration time.Duration) (*Client, error) {
	if holder == "" {
		return nil, errors.New("lease holder identity is empty")
	}
	if duration < time.Millisecond {
		return nil, fmt.Errorf("lease duration %v is shorter than 1ms", duration)
	}
	return &Client{rdb: rdb, holder: holder, duration: duration}, nil
}

// Holder is this client's identity.
func (c *Client) Holder() string { return c.holder }

// Duration is how long a lease lasts without renewal.
func (c *Client) Duration() time.Duration { return c.duration }

// TryAcquire takes the lease if it is free and reports whether this client
// holds it afterwards. A lease this client already holds is renewed (and true
// returned), so callers can call TryAcquire in a loop without tracking state.
func (c *Client) TryAcquire(ctx context.Context, name string) (bool, error) {
	ok, err := c.rdb.SetNX(ctx, Key(name), c.holder, c.duration).Result()
	if err != nil {
		return false, fmt.Errorf("acquiring lease %s: %w", name, err)
	}
	if ok {
		return true, nil
	}
	return c.Renew(ctx, name)
}

// Renew extends the lease by the full duration if this client still holds
// it, and reports whether it does. False means the lease expired or was
// taken by another holder: the caller must stop acting as its holder.
func (c *Client) Renew(ctx context.Context, name string) (bool, error) {
	n, err := renewScript.Run(ctx, c.rdb, []string{Key(name)}, c.holder, c.duration.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renewing lease %s: %w", name, err)
	}
	return n == 1, nil
}

// Release frees the lease if this client holds it, so another holder can
// take it at once instead of after expiry. It reports whether it did.
func (c *Client) Release(ctx context.Context, name string) (bool, error) {
	n, err := releaseScript.Run(ctx, c.rdb, []string{Key(name)}, c.holder).Int()
	if err != nil {
		return false, fmt.Errorf("releasing lease %s: %w", name, err)
	}
	return n == 1, nil
}

// HolderOf returns who holds the lease called name, or "" when it is free.
func HolderOf(ctx context.Context, rdb redis.UniversalClient, name string) (string, error) {
	h, err := rdb.Get(ctx, Key(name)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading lease %s: %w", name, err)
	}
	return h, nil
}
