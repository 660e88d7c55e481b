package controller

import (
	"context"
	"log/slog"
	"time"
)

// elector decides which buckets this replica owns, calling promote when it
// gains one and demote when it loses one, until ctx ends. When it returns,
// whatever it held is given up (leases released).
type elector interface {
	run(ctx context.Context, promote, demote func(bucket string))
}

// ordinalElector owns fixed buckets, without asking anyone (knative's
// unopposedElector in StatefulSet mode): its ordinal's one, and another's
// too in the known-bad SplitBrain mode.
type ordinalElector struct {
	buckets []string
}

func (e *ordinalElector) run(ctx context.Context, promote, demote func(string)) {
	for _, b := range e.buckets {
		promote(b)
	}
	<-ctx.Done()
	for _, b := range e.buckets {
		demote(b)
	}
}

// leaseClient is the part of lease.Client the elector needs.
type leaseClient interface {
	TryAcquire(ctx context.Context, name string) (bool, error)
	Renew(ctx context.Context, name string) (bool, error)
	Release(ctx context.Context, name string) (bool, error)
	Duration() time.Duration
}

// leaseElector holds one lease per bucket. Every retry period it renews the
// leases it holds and tries to take every one it does not; it never gives a
// lease up while it runs. A replica that starts while another holds every
// lease gets nothing until a holder stops: that is knative's behaviour and
// the hot-spot the harness must be able to show.
type leaseElector struct {
	leases  leaseClient
	buckets []string
	retry   time.Duration
	log     *slog.Logger
	now     func() time.Time // for tests; time.Now when nil
}

func (e *leaseElector) run(ctx context.Context, promote, demote func(string)) {
	now := e.now
	if now == nil {
		now = time.Now
	}
	renewed := map[string]time.Time{} // bucket -> last successful renewal, for held buckets
	t := time.NewTicker(e.retry)
	defer t.Stop()
	for {
		for _, b := range e.buckets {
			if ctx.Err() != nil {
				break
			}
			e.tick(ctx, b, renewed, now, promote, demote)
		}
		select {
		case <-ctx.Done():
			e.releaseAll(renewed, demote)
			return
		case <-t.C:
		}
	}
}

func (e *leaseElector) tick(ctx context.Context, b string, renewed map[string]time.Time, now func() time.Time, promote, demote func(string)) {
	last, holding := renewed[b]
	if holding {
		ok, err := e.leases.Renew(ctx, b)
		switch {
		case err == nil && ok:
			renewed[b] = now()
		case err == nil && !ok:
			// Expired and possibly taken: someone else may be reconciling.
			delete(renewed, b)
			demote(b)
		default:
			// Redis did not answer. The lease may still be ours; give the
			// bucket up only once it has surely expired.
			if ctx.Err() == nil && now().Sub(last) >= e.leases.Duration() {
				delete(renewed, b)
				demote(b)
			}
			if ctx.Err() == nil {
				e.log.Warn("renewing lease", "bucket", b, "err", err)
			}
		}
		return
	}
	ok, err := e.leases.TryAcquire(ctx, b)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("acquiring lease", "bucket", b, "err", err)
		}
		return
	}
	if ok {
		renewed[b] = now()
		promote(b)
	}
}

// releaseAll gives every held lease back so that the survivors take the
// buckets at once instead of after expiry (ReleaseOnCancel in client-go).
func (e *leaseElector) releaseAll(renewed map[string]time.Time, demote func(string)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for b := range renewed {
		demote(b)
		if _, err := e.leases.Release(ctx, b); err != nil {
			e.log.Warn("releasing lease", "bucket", b, "err", err)
		}
	}
}
