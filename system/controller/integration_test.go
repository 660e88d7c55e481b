package controller_test

// Integration tests: real bin/controller processes (built here with go build)
// on a real redis-server, items created through the items HTTP handler.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/items"
	"github.com/perfrun/perfrun/system/lease"
	"github.com/perfrun/perfrun/system/proctest"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/sharding"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// controllerBin builds bin/controller once per test binary run.
func controllerBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "perfrun-controller-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath, buildErr = proctest.Build(dir, "github.com/perfrun/perfrun/system/cmd/controller")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// proc is one controller replica: a real process (system/proctest) that
// can be started again under the same name.
type proc struct {
	t    *testing.T
	name string
	args []string
	env  []string
	*proctest.Proc
}

// startController starts one replica named name and waits for /readyz.
func startController(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, env: env}
	p.start()
	return p
}

// start (re)starts the replica on a free metrics port and waits for /readyz.
func (p *proc) start() {
	p.t.Helper()
	p.Proc = proctest.StartServingEnv(p.t, controllerBin(p.t), p.env, "-metrics-listen", append([]string{"-pod", p.name}, p.args...)...)
}

func (p *proc) kill() {
	p.t.Helper()
	p.Kill(p.t)
}

// term sends SIGTERM and requires a clean exit within 5s.
func (p *proc) term() {
	p.t.Helper()
	if err := p.Term(p.t, 5*time.Second); err != nil {
		p.t.Fatalf("%s exited with %v after SIGTERM:\n%s", p.name, err, p.Output())
	}
}

// metric reads this replica's /metrics for one series by its full name as
// exposed (e.g. `perfrun_controller_buckets_held{pod="x"}`).
func (p *proc) metric(series string) float64 {
	p.t.Helper()
	return p.Metric(p.t, series)
}

// createItems posts keys to the items handler as a client of the listener
// would, and returns the keys.
func createItems(t *testing.T, base string, prefix string, n int) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("%s/item-%04d", prefix, i)
		resp, err := http.Post(base+items.Prefix, "application/json",
			strings.NewReader(fmt.Sprintf(`{"item":{"key":%q}}`, keys[i])))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("creating %s: %d %s", keys[i], resp.StatusCode, body)
		}
	}
	return keys
}

func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s (%s)", within, what, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type fixture struct {
	srv   *redistest.Server
	store *items.Store
	api   string // base URL of the items handler
}

func newFixture(t *testing.T) *fixture {
	srv := redistest.Start(t)
	store := items.NewStore(srv.Client(t))
	mux := http.NewServeMux()
	mux.Handle(items.Prefix, store.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &fixture{srv: srv, store: store, api: ts.URL}
}

func (f *fixture) pending(t *testing.T) int64 {
	t.Helper()
	n, err := f.store.PendingCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) get(t *testing.T, key string) items.Item {
	t.Helper()
	it, err := f.store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

const (
	component = "perfrun-controller"
	queue     = "items"
)

// statefulSetBuckets is the set of knative's StatefulSet bucket names for
// replicas controller pods (the cluster domain from the flag: the test
// machine's resolv.conf names none), and each name's ordinal.
func statefulSetBuckets(replicas int) (*sharding.BucketSet, map[string]int) {
	naming := sharding.StatefulSetNaming{SetName: "controller", Service: "controller", Protocol: "http", Port: "80",
		Namespace: "perfrun-test", ClusterDomain: "cluster.local"}
	names, _ := naming.Buckets(0, replicas)
	ordinalOf := map[string]int{}
	for i, n := range names {
		ordinalOf[n] = i // fewer than 11 replicas: sorted order is ordinal order
	}
	return sharding.NewBucketSet(names), ordinalOf
}

func TestStatefulSetOwnersReconcileAndNoFailover(t *testing.T) {
	f := newFixture(t)
	const replicas = 3
	bs, ordinalOf := statefulSetBuckets(replicas)
	owner := func(key string) int { return ordinalOf[bs.Owner(key)] }

	args := []string{"-redis", f.srv.URL(), "-mode", "statefulset", "-replicas", "3",
		"-work", "1ms", "-work-kind", "cpu", "-resync", "300ms", "-cluster-domain", "cluster.local"}
	procs := make([]*proc, replicas)
	for i := range procs {
		name := fmt.Sprintf("controller-%d", i)
		// The ordinal, Service and namespace come from the environment, as
		// a Tekton StatefulSet sets them.
		procs[i] = startController(t, name, []string{"STATEFUL_CONTROLLER_ORDINAL=" + name, "STATEFUL_SERVICE_NAME=controller",
			"SYSTEM_NAMESPACE=perfrun-test"}, args...)
	}

	// 1. Every key is reconciled once, by the replica of its bucket.
	first := createItems(t, f.api, "a", 300)
	eventually(t, 10*time.Second, "all 300 items reconciled", func() (bool, string) {
		n := f.pending(t)
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	perPod := map[string]int{}
	for _, k := range first {
		it := f.get(t, k)
		want := fmt.Sprintf("controller-%d", owner(k))
		if it.ReconciledBy != want || it.Bucket != bs.Owner(k) || it.Reconciles != 1 {
			t.Fatalf("item %s: reconciled by %q through %q %d times; want by %s through %s once",
				k, it.ReconciledBy, it.Bucket, it.Reconciles, want, bs.Owner(k))
		}
		if !it.ReconciledAt.After(it.CreatedAt) {
			t.Errorf("item %s reconciled at %v, before its creation %v", k, it.ReconciledAt, it.CreatedAt)
		}
		perPod[it.ReconciledBy]++
	}
	for i, p := range procs {
		got := p.metric(fmt.Sprintf(`perfrun_controller_reconciles_total{pod="controller-%d"}`, i))
		if int(got) != perPod[p.name] || got == 0 {
			t.Errorf("%s reconciles_total = %v, want %d", p.name, got, perPod[p.name])
		}
		if held := p.metric(fmt.Sprintf(`perfrun_controller_buckets_held{pod="controller-%d"}`, i)); held != 1 {
			t.Errorf("%s buckets_held = %v, want 1", p.name, held)
		}
		if n := p.metric("perfrun_controller_reconcile_latency_seconds_count"); int(n) != perPod[p.name] {
			t.Errorf("%s latency count = %v, want %d", p.name, n, perPod[p.name])
		}
	}
	t.Logf("keys per pod: %v", perPod)

	// 2. controller-1 dies: its keys wait, everyone else's are done.
	procs[1].kill()
	second := createItems(t, f.api, "b", 300)
	var orphans, others []string
	for _, k := range second {
		if owner(k) == 1 {
			orphans = append(orphans, k)
		} else {
			others = append(others, k)
		}
	}
	eventually(t, 10*time.Second, "the live owners' items reconciled", func() (bool, string) {
		left := 0
		for _, k := range others {
			if !f.get(t, k).Reconciled() {
				left++
			}
		}
		return left == 0, fmt.Sprintf("%d of %d left", left, len(others))
	})
	time.Sleep(1 * time.Second) // more than three resync periods: no one else picks them up
	for _, k := range orphans {
		if it := f.get(t, k); it.Reconciled() {
			t.Fatalf("item %s of dead controller-1 reconciled by %s: statefulset mode must not fail over", k, it.ReconciledBy)
		}
	}
	if got := f.pending(t); got != int64(len(orphans)) {
		t.Fatalf("pending = %d, want exactly controller-1's %d keys", got, len(orphans))
	}
	share := float64(len(orphans)) / float64(len(second))
	t.Logf("with controller-1 dead: %d of %d keys (%.1f%%) unserved", len(orphans), len(second), 100*share)
	if share < 0.2 || share > 0.45 {
		t.Errorf("dead pod's share = %.2f, want about a third", share)
	}
	if p := procs[0].metric("perfrun_controller_items_pending"); int(p) != len(orphans) {
		// Refreshed every second; allow one refresh.
		time.Sleep(1200 * time.Millisecond)
		if p = procs[0].metric("perfrun_controller_items_pending"); int(p) != len(orphans) {
			t.Errorf("items_pending on controller-0 = %v, want %d", p, len(orphans))
		}
	}

	// 3. controller-1 comes back and catches its keys up.
	procs[1].start()
	eventually(t, 10*time.Second, "controller-1 catching up", func() (bool, string) {
		n := f.pending(t)
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	for _, k := range orphans {
		if it := f.get(t, k); it.ReconciledBy != "controller-1" || it.Reconciles != 1 {
			t.Fatalf("orphan %s reconciled by %q %d times, want controller-1 once", k, it.ReconciledBy, it.Reconciles)
		}
	}

	// 4. Exclusive ownership: every key, before and after controller-1's
	// restart, has one reconciler, its owner (a restarted pod keeps its
	// name), and no pod counts a key another had.
	for _, k := range append(first, second...) {
		want := fmt.Sprintf("controller-%d", owner(k))
		if it := f.get(t, k); !slices.Equal(it.Reconcilers, []string{want}) {
			t.Fatalf("item %s reconciled by %v, want by %s alone", k, it.Reconcilers, want)
		}
	}
	if n, err := f.store.SharedCount(context.Background()); err != nil || n != 0 {
		t.Fatalf("SharedCount = %d, %v; want 0 in statefulset mode", n, err)
	}
	for _, p := range procs {
		if n := p.metric(`perfrun_controller_items_shared{mode="statefulset"}`); n != 0 {
			t.Errorf("%s items_shared = %v, want 0", p.name, n)
		}
		if n := p.metric(fmt.Sprintf(`perfrun_controller_foreign_reconciles_total{pod=%q}`, p.name)); n != 0 {
			t.Errorf("%s foreign_reconciles_total = %v, want 0", p.name, n)
		}
	}

	for _, p := range procs {
		p.term()
	}
}

// The known-bad split brain: with -split-brain every replica also owns the
// next ordinal's bucket while that ordinal's pod still does. Every key is
// still served, once worked or not, and reconciles stay even, but every key
// has two reconcilers, its owner and the intruder, whichever came first:
// the count exclusive ownership reads is every key, on every replica.
func TestSplitBrainKeysHaveTwoReconcilers(t *testing.T) {
	f := newFixture(t)
	const replicas = 3
	bs, ordinalOf := statefulSetBuckets(replicas)
	args := []string{"-redis", f.srv.URL(), "-mode", "statefulset", "-replicas", "3", "-split-brain",
		"-work", "2ms", "-work-kind", "cpu", "-resync", "300ms", "-cluster-domain", "cluster.local",
		"-stateful-service-name", "controller", "-namespace", "perfrun-test"}
	procs := make([]*proc, replicas)
	for i := range procs {
		name := fmt.Sprintf("controller-%d", i)
		procs[i] = startController(t, name, []string{"STATEFUL_CONTROLLER_ORDINAL=" + name}, args...)
	}
	keys := createItems(t, f.api, "s", 300)
	eventually(t, 10*time.Second, "all 300 items reconciled", func() (bool, string) {
		n := f.pending(t)
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	// Both owners of a key see its event and reconcile it; the second may
	// find it done only after the first has marked it: wait for both.
	eventually(t, 10*time.Second, "every item reconciled by both its owners", func() (bool, string) {
		n, err := f.store.SharedCount(context.Background())
		return err == nil && n == int64(len(keys)), fmt.Sprintf("%d of %d shared, %v", n, len(keys), err)
	})
	for _, k := range keys {
		o := ordinalOf[bs.Owner(k)]
		want := []string{fmt.Sprintf("controller-%d", o), fmt.Sprintf("controller-%d", (o+replicas-1)%replicas)}
		slices.Sort(want)
		if it := f.get(t, k); !slices.Equal(it.Reconcilers, want) {
			t.Fatalf("item %s of ordinal %d's bucket reconciled by %v, want %v", k, o, it.Reconcilers, want)
		}
	}
	foreign := 0.0
	for _, p := range procs {
		if held := p.metric(fmt.Sprintf(`perfrun_controller_buckets_held{pod=%q}`, p.name)); held != 2 {
			t.Errorf("%s buckets_held = %v, want 2", p.name, held)
		}
		foreign += p.metric(fmt.Sprintf(`perfrun_controller_foreign_reconciles_total{pod=%q}`, p.name))
	}
	if int(foreign) != len(keys) {
		t.Errorf("foreign_reconciles_total summed over pods = %v, want %d (one per key)", foreign, len(keys))
	}
	eventually(t, 3*time.Second, "items_shared on every replica", func() (bool, string) {
		var got []float64
		for _, p := range procs {
			got = append(got, p.metric(`perfrun_controller_items_shared{mode="statefulset"}`))
		}
		return slices.Equal(got, []float64{300, 300, 300}), fmt.Sprint(got)
	})
	for _, p := range procs {
		p.term()
	}
}

func holders(t *testing.T, f *fixture, buckets []string) []string {
	t.Helper()
	out := make([]string, len(buckets))
	for i, b := range buckets {
		h, err := lease.HolderOf(context.Background(), f.srv.Client(t), b)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = h
	}
	return out
}

func TestLeaderElectionSurvivorKeepsEveryBucket(t *testing.T) {
	f := newFixture(t)
	const replicas = 3
	var buckets []string
	for i := range replicas {
		buckets = append(buckets, sharding.BucketName(component, queue, i, replicas))
	}
	args := []string{"-redis", f.srv.URL(), "-mode", "leader-election", "-replicas", "3",
		"-lease-duration", "1s", "-lease-retry", "100ms", "-resync", "300ms", "-work", "1ms"}
	// Start from a spread: le-i holds bucket i, as after a rollout in which
	// the three pods came up together and split the leases. (Started one by
	// one here, the first replica would take every free lease at once.) The
	// seeded leases carry the replicas' own identities, so each replica
	// simply keeps renewing the one it finds in its name.
	controllerBin(t) // build first: a slow build must not outlast the seeds
	for i, b := range buckets {
		lc, err := lease.New(f.srv.Client(t), fmt.Sprintf("le-%d", i), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := lc.TryAcquire(context.Background(), b); err != nil || !ok {
			t.Fatalf("seeding lease %s: %v %v", b, ok, err)
		}
	}
	procs := map[string]*proc{}
	for i := range replicas {
		name := fmt.Sprintf("le-%d", i)
		procs[name] = startController(t, name, nil, args...)
	}
	for name, p := range procs {
		series := fmt.Sprintf(`perfrun_controller_buckets_held{pod=%q}`, name)
		eventually(t, 5*time.Second, name+" holding its one bucket", func() (bool, string) {
			v := p.metric(series)
			return v == 1, fmt.Sprint(v)
		})
	}
	time.Sleep(1500 * time.Millisecond) // longer than a lease: each replica keeps its own by renewing it
	if hs := holders(t, f, buckets); hs[0] != "le-0" || hs[1] != "le-1" || hs[2] != "le-2" {
		t.Fatalf("holders = %v, want le-0, le-1, le-2: a replica keeps the lease it holds", hs)
	}

	// Two of three die.
	const survivor = "le-0"
	var restarted []*proc
	for name, p := range procs {
		if name != survivor {
			p.kill()
			restarted = append(restarted, p)
		}
	}

	// The dead holders' leases expire and the survivor takes them all.
	eventually(t, 5*time.Second, survivor+" holding every lease", func() (bool, string) {
		hs := holders(t, f, buckets)
		for _, h := range hs {
			if h != survivor {
				return false, fmt.Sprint(hs)
			}
		}
		return true, ""
	})

	// The others come back and get nothing: the survivor keeps what it holds.
	for _, p := range restarted {
		p.start()
	}
	time.Sleep(3 * time.Second) // three lease durations, thirty retries
	if hs := holders(t, f, buckets); hs[0] != survivor || hs[1] != survivor || hs[2] != survivor {
		t.Fatalf("after restarts the leases are held by %v, want all by %s (the hot-spot)", hs, survivor)
	}
	if got := procs[survivor].metric(fmt.Sprintf(`perfrun_controller_buckets_held{pod=%q}`, survivor)); got != 3 {
		t.Errorf("%s buckets_held = %v, want 3", survivor, got)
	}
	for _, p := range restarted {
		if got := p.metric(fmt.Sprintf(`perfrun_controller_buckets_held{pod=%q}`, p.name)); got != 0 {
			t.Errorf("restarted %s buckets_held = %v, want 0", p.name, got)
		}
	}

	// So the survivor reconciles every key.
	keys := createItems(t, f.api, "le", 150)
	eventually(t, 10*time.Second, "all items reconciled", func() (bool, string) {
		n := f.pending(t)
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	for _, k := range keys {
		if it := f.get(t, k); it.ReconciledBy != survivor || it.Reconciles != 1 {
			t.Fatalf("item %s reconciled by %q %d times, want %s once", k, it.ReconciledBy, it.Reconciles, survivor)
		}
	}

	// A clean stop releases the leases at once (no waiting for expiry),
	// and the others take them.
	procs[survivor].term()
	for _, h := range holders(t, f, buckets) {
		if h == survivor {
			t.Fatalf("%s still holds a lease right after a clean exit", survivor)
		}
	}
	eventually(t, 5*time.Second, "the restarted replicas taking the released leases", func() (bool, string) {
		hs := holders(t, f, buckets)
		for _, h := range hs {
			if h == "" || h == survivor {
				return false, fmt.Sprint(hs)
			}
		}
		return true, ""
	})
	for _, p := range restarted {
		p.term()
	}
}

// A replica with bad flags exits 2 with one clear error naming the flag.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "round-robin"}, "-mode:"},
		{[]string{"-mode", "statefulset", "-replicas", "3", "-ordinal", "controller-3"}, "-ordinal:"},
		{[]string{"-mode", "statefulset", "-ordinal", "controller"}, "-ordinal"},
		{[]string{"-mode", "statefulset", "-replicas", "3", "-ordinal", "controller-1", "-namespace", "ns"}, "-stateful-service-name"},
		{[]string{"-mode", "statefulset", "-replicas", "3", "-ordinal", "controller-1", "-stateful-service-name", "controller"}, "-namespace"},
		{[]string{"-redis", "http://x"}, "-redis:"},
		{[]string{"-work-kind", "gpu"}, "-work-kind:"},
		{[]string{"-lease-retry", "20s"}, "-lease-retry:"},
		{[]string{"-split-brain"}, "-split-brain: only in statefulset mode"},
	} {
		cmd := exec.Command(controllerBin(t), append([]string{"-pod", "p-0"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: err %v, want exit status 2\n%s", tc.args, err, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%v: output %q, want one line mentioning %q", tc.args, out, tc.want)
		}
	}
}
