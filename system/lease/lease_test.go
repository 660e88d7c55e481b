package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/lease"
	"github.com/perfrun/perfrun/system/redistest"
)

func mustNew(t *testing.T, srv *redistest.Server, holder string, d time.Duration) *lease.Client {
	t.Helper()
	c, err := lease.New(srv.Client(t), holder, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func holder(t *testing.T, srv *redistest.Server, name string) string {
	t.Helper()
	h, err := lease.HolderOf(context.Background(), srv.Client(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestFirstAskerWinsAndKeeps(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := mustNew(t, srv, "a", 10*time.Second)
	b := mustNew(t, srv, "b", 10*time.Second)

	if ok, err := a.TryAcquire(ctx, "bucket"); err != nil || !ok {
		t.Fatalf("a.TryAcquire = %v, %v; want true", ok, err)
	}
	if ok, err := b.TryAcquire(ctx, "bucket"); err != nil || ok {
		t.Fatalf("b.TryAcquire of a held lease = %v, %v; want false", ok, err)
	}
	// Asking again as the holder keeps (renews) it.
	if ok, err := a.TryAcquire(ctx, "bucket"); err != nil || !ok {
		t.Fatalf("a.TryAcquire again = %v, %v; want true", ok, err)
	}
	if got := holder(t, srv, "bucket"); got != "a" {
		t.Fatalf("holder = %q, want a", got)
	}
	// Only the holder renews or releases.
	if ok, err := b.Renew(ctx, "bucket"); err != nil || ok {
		t.Errorf("b.Renew = %v, %v; want false", ok, err)
	}
	if ok, err := b.Release(ctx, "bucket"); err != nil || ok {
		t.Errorf("b.Release = %v, %v; want false", ok, err)
	}
	if got := holder(t, srv, "bucket"); got != "a" {
		t.Fatalf("holder after b's attempts = %q, want a", got)
	}
	if ok, err := a.Release(ctx, "bucket"); err != nil || !ok {
		t.Fatalf("a.Release = %v, %v; want true", ok, err)
	}
	if got := holder(t, srv, "bucket"); got != "" {
		t.Fatalf("holder after release = %q, want free", got)
	}
	if ok, err := b.TryAcquire(ctx, "bucket"); err != nil || !ok {
		t.Fatalf("b.TryAcquire after release = %v, %v; want true", ok, err)
	}
}

func TestExpiresWhenNotRenewed(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	const d = 300 * time.Millisecond
	a := mustNew(t, srv, "a", d)
	b := mustNew(t, srv, "b", d)

	if ok, _ := a.TryAcquire(ctx, "x"); !ok {
		t.Fatal("a could not take a free lease")
	}
	time.Sleep(d + 150*time.Millisecond)
	if got := holder(t, srv, "x"); got != "" {
		t.Fatalf("holder after expiry = %q, want free", got)
	}
	if ok, err := a.Renew(ctx, "x"); err != nil || ok {
		t.Fatalf("a.Renew after expiry = %v, %v; want false", ok, err)
	}
	if ok, _ := b.TryAcquire(ctx, "x"); !ok {
		t.Fatal("b could not take an expired lease")
	}
	// The old holder cannot renew the new holder's lease.
	if ok, _ := a.Renew(ctx, "x"); ok {
		t.Fatal("a renewed b's lease")
	}
	if got := holder(t, srv, "x"); got != "b" {
		t.Fatalf("holder = %q, want b", got)
	}
}

func TestRenewalKeepsLeaseAlive(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	const d = 300 * time.Millisecond
	a := mustNew(t, srv, "a", d)
	b := mustNew(t, srv, "b", d)
	if ok, _ := a.TryAcquire(ctx, "x"); !ok {
		t.Fatal("a could not take a free lease")
	}
	// Renew every 100ms for 4 lease durations; b must never get in.
	deadline := time.Now().Add(4 * d)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if ok, err := a.Renew(ctx, "x"); err != nil || !ok {
			t.Fatalf("a.Renew = %v, %v; want true", ok, err)
		}
		if ok, _ := b.TryAcquire(ctx, "x"); ok {
			t.Fatal("b took a lease that a keeps renewing")
		}
	}
	ttl, err := srv.Client(t).PTTL(ctx, lease.Key("x")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > d {
		t.Fatalf("TTL after renewal = %v, want in (0, %v]", ttl, d)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := lease.New(srv.Client(t), "", time.Second); err == nil {
		t.Error("empty holder accepted")
	}
	if _, err := lease.New(srv.Client(t), "a", time.Microsecond); err == nil {
		t.Error("sub-millisecond duration accepted")
	}
}
