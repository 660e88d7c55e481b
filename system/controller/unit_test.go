package controller

import (
	"context"
	"errors"
	"github.com/perfrun/perfrun/system/sharding"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidateNamesTheFlag(t *testing.T) {
	good := DefaultConfig()
	good.Pod = "controller-0"
	if err := good.Validate(); err != nil {
		t.Fatalf("default config with a pod: %v", err)
	}
	for flag, mutate := range map[string]func(*Config){
		"-mode":           func(c *Config) { c.Mode = "round-robin" },
		"-pod":            func(c *Config) { c.Pod = "" },
		"-replicas":       func(c *Config) { c.Replicas = 0 },
		"-ordinal":        func(c *Config) { c.Mode, c.Replicas, c.Ordinal = StatefulSet, 3, 3 },
		"-work":           func(c *Config) { c.Work = -time.Second },
		"-work-kind":      func(c *Config) { c.WorkKind = "gpu" },
		"-threads":        func(c *Config) { c.Threads = 0 },
		"-resync":         func(c *Config) { c.Resync = 0 },
		"-lease-duration": func(c *Config) { c.LeaseDuration = time.Millisecond },
		"-lease-retry":    func(c *Config) { c.LeaseRetry = c.LeaseDuration },
		"-component":      func(c *Config) { c.Component = "" },
		"-split-brain":    func(c *Config) { c.SplitBrain = true }, // leader-election mode
	} {
		c := good
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), flag+":") {
			t.Errorf("bad %s: error %v, want one starting %q", flag, err, flag+":")
		}
	}
	// Lease settings do not matter in statefulset mode; the naming does.
	c := good
	c.Mode, c.Replicas, c.Ordinal, c.LeaseRetry = StatefulSet, 3, 2, 0
	c.StatefulSet = testNaming
	if err := c.Validate(); err != nil {
		t.Errorf("statefulset mode rejected lease settings: %v", err)
	}
	c.SplitBrain = true
	if err := c.Validate(); err != nil {
		t.Errorf("split-brain in statefulset mode with 3 replicas: %v", err)
	}
	one := c
	one.Replicas, one.Ordinal = 1, 0
	if err := one.Validate(); err == nil || !strings.HasPrefix(err.Error(), "-split-brain: needs -replicas of 2") {
		t.Errorf("split-brain with one replica: %v, want an error naming -split-brain", err)
	}
	c.StatefulSet.Service = ""
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "-stateful-service-name") {
		t.Errorf("statefulset mode without STATEFUL_SERVICE_NAME: %v, want an error naming it", err)
	}
}

// testNaming is the naming of a StatefulSet controller-N behind Service
// controller in namespace ns.
var testNaming = sharding.StatefulSetNaming{SetName: "controller", Service: "controller", Protocol: "http", Port: "80",
	Namespace: "ns", ClusterDomain: "cluster.local"}

func TestBucketNamesByOrdinal(t *testing.T) {
	c := DefaultConfig()
	c.Replicas = 3
	want := []string{"perfrun-controller.items.00-of-03", "perfrun-controller.items.01-of-03", "perfrun-controller.items.02-of-03"}
	if got := c.BucketNames(); !slices.Equal(got, want) {
		t.Errorf("BucketNames = %v, want %v", got, want)
	}
	// statefulset mode: knative's StatefulSet names, the pod's own the
	// ordinal-th of them sorted.
	c.Mode, c.Ordinal, c.StatefulSet = StatefulSet, 1, testNaming
	want = []string{"http://controller-0.controller.ns.svc.cluster.local:80", "http://controller-1.controller.ns.svc.cluster.local:80",
		"http://controller-2.controller.ns.svc.cluster.local:80"}
	if got := c.BucketNames(); !slices.Equal(got, want) {
		t.Errorf("statefulset BucketNames = %v, want %v", got, want)
	}
	if got := c.OwnBucket(); got != want[1] {
		t.Errorf("OwnBucket of ordinal 1 = %q, want %q", got, want[1])
	}
	if got := c.OwnedBuckets(); !slices.Equal(got, want[1:2]) {
		t.Errorf("OwnedBuckets of ordinal 1 = %v, want its own only", got)
	}
	// Split brain: the next ordinal's bucket too, the last wrapping to 0.
	c.SplitBrain = true
	if got := c.OwnedBuckets(); !slices.Equal(got, want[1:3]) {
		t.Errorf("split-brain OwnedBuckets of ordinal 1 = %v, want %v", got, want[1:3])
	}
	c.Ordinal = 2
	if got := c.OwnedBuckets(); !slices.Equal(got, []string{want[2], want[0]}) {
		t.Errorf("split-brain OwnedBuckets of ordinal 2 = %v, want %v", got, []string{want[2], want[0]})
	}
}

func TestWorkQueueDedupesAndStops(t *testing.T) {
	q := newWorkQueue()
	for _, k := range []string{"a", "b", "a", "c", "b"} {
		q.add(k)
	}
	if q.len() != 3 {
		t.Fatalf("len = %d, want 3 (a, b, c once each)", q.len())
	}
	for _, want := range []string{"a", "b", "c"} {
		if got, ok := q.get(); !ok || got != want {
			t.Fatalf("get = %q, %v; want %q", got, ok, want)
		}
	}
	q.add("a") // in a worker's hands: not queued again
	if q.len() != 0 {
		t.Fatalf("re-adding a key being processed: len = %d, want 0", q.len())
	}
	q.done("a")
	q.add("a") // done, so it may wait again
	if q.len() != 1 {
		t.Fatalf("re-adding a done key: len = %d, want 1", q.len())
	}
	done := make(chan bool)
	go func() {
		q.get()
		_, ok := q.get() // blocks until shutdown
		done <- ok
	}()
	time.Sleep(20 * time.Millisecond)
	q.shutDown()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("get after shutdown returned a key")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("get did not return after shutdown")
	}
	q.add("z")
	if q.len() != 0 {
		t.Fatal("add after shutdown queued a key")
	}
}

// fakeLeases is an in-memory lease table shared by several fake clients.
type fakeLeases struct {
	mu      sync.Mutex
	holders map[string]string
	fail    bool
}

type fakeClient struct {
	t      *fakeLeases
	holder string
}

func (f *fakeClient) TryAcquire(_ context.Context, name string) (bool, error) {
	f.t.mu.Lock()
	defer f.t.mu.Unlock()
	if f.t.fail {
		return false, errors.New("redis down")
	}
	if h := f.t.holders[name]; h == "" || h == f.holder {
		f.t.holders[name] = f.holder
		return true, nil
	}
	return false, nil
}

func (f *fakeClient) Renew(_ context.Context, name string) (bool, error) {
	f.t.mu.Lock()
	defer f.t.mu.Unlock()
	if f.t.fail {
		return false, errors.New("redis down")
	}
	return f.t.holders[name] == f.holder, nil
}

func (f *fakeClient) Release(_ context.Context, name string) (bool, error) {
	f.t.mu.Lock()
	defer f.t.mu.Unlock()
	if f.t.holders[name] == f.holder {
		delete(f.t.holders, name)
		return true, nil
	}
	return false, nil
}

func (f *fakeClient) Duration() time.Duration { return time.Hour }

// recorder tracks what an elector promoted and demoted.
type recorder struct {
	mu   sync.Mutex
	held map[string]bool
	log  []string
}

func (r *recorder) promote(b string) {
	r.mu.Lock()
	r.held[b] = true
	r.log = append(r.log, "+"+b)
	r.mu.Unlock()
}
func (r *recorder) demote(b string) {
	r.mu.Lock()
	delete(r.held, b)
	r.log = append(r.log, "-"+b)
	r.mu.Unlock()
}
func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.held) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLeaseElectorFirstTakesAllAndKeeps(t *testing.T) {
	table := &fakeLeases{holders: map[string]string{}}
	buckets := []string{"b0", "b1", "b2"}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(name string) (*recorder, context.CancelFunc, chan struct{}) {
		r := &recorder{held: map[string]bool{}}
		e := &leaseElector{leases: &fakeClient{table, name}, buckets: buckets, retry: 5 * time.Millisecond, log: quiet}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.run(ctx, r.promote, r.demote) }()
		return r, cancel, done
	}

	a, stopA, doneA := start("a")
	waitFor(t, "a to hold every bucket", func() bool { return a.count() == 3 })
	b, stopB, doneB := start("b")
	time.Sleep(50 * time.Millisecond) // ten retry periods
	if b.count() != 0 || a.count() != 3 {
		t.Fatalf("after b joined: a holds %d, b holds %d; want 3 and 0 (a keeps what it holds)", a.count(), b.count())
	}

	// Another holder takes b1 behind a's back (a's lease expired): a demotes it.
	table.mu.Lock()
	table.holders["b1"] = "intruder"
	table.mu.Unlock()
	waitFor(t, "a to lose b1", func() bool { return a.count() == 2 })

	// Redis errors shorter than the lease do not demote.
	table.mu.Lock()
	table.fail = true
	table.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	if a.count() != 2 {
		t.Fatalf("a holds %d after transient errors, want 2", a.count())
	}
	table.mu.Lock()
	table.fail = false
	table.mu.Unlock()

	// a stops cleanly: its leases are released and b takes them.
	stopA()
	<-doneA
	if a.count() != 0 {
		t.Fatalf("a still holds %d after stopping", a.count())
	}
	waitFor(t, "b to take a's released buckets", func() bool { return b.count() == 2 })
	stopB()
	<-doneB
	table.mu.Lock()
	defer table.mu.Unlock()
	if table.holders["b0"] != "" || table.holders["b2"] != "" || table.holders["b1"] != "intruder" {
		t.Fatalf("lease table after both stopped: %v", table.holders)
	}
}

func TestOrdinalElectorOwnsOneBucket(t *testing.T) {
	r := &recorder{held: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); (&ordinalElector{buckets: []string{"x"}}).run(ctx, r.promote, r.demote) }()
	waitFor(t, "the ordinal bucket", func() bool { return r.count() == 1 })
	cancel()
	<-done
	if !slices.Equal(r.log, []string{"+x", "-x"}) {
		t.Fatalf("log = %v", r.log)
	}
}

func TestOrdinalElectorSplitBrainOwnsTwo(t *testing.T) {
	r := &recorder{held: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&ordinalElector{buckets: []string{"x", "y"}}).run(ctx, r.promote, r.demote)
	}()
	waitFor(t, "both buckets", func() bool { return r.count() == 2 })
	cancel()
	<-done
	if !slices.Equal(r.log, []string{"+x", "+y", "-x", "-y"}) {
		t.Fatalf("log = %v", r.log)
	}
}

func TestDoWorkTakesTheTime(t *testing.T) {
	for _, kind := range []WorkKind{CPU, Sleep} {
		start := time.Now()
		doWork(kind, 20*time.Millisecond)
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("%s work took %v, want at least 20ms", kind, d)
		}
	}
}
