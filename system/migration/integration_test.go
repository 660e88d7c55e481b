package migration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/migration"
	"github.com/perfrun/perfrun/system/proctest"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
)

var workerBin, migrateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "perfrun-migration-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&workerBin, "github.com/perfrun/perfrun/system/cmd/worker"}, {&migrateBin, "github.com/perfrun/perfrun/system/cmd/migrate"}} {
		if *b.dst, err = proctest.Build(dir, b.pkg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const svc = "svc-mig"

var apps = []string{"app-0", "app-1", "app-2", "app-3"}

// ledger is what the producers were told was accepted: the ground truth.
type ledger struct {
	mu   sync.Mutex
	want map[string]map[string]int64 // app → metric → sum
	n    int
}

func (l *ledger) add(r usage.Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.want == nil {
		l.want = map[string]map[string]int64{}
	}
	if l.want[r.AppID] == nil {
		l.want[r.AppID] = map[string]int64{}
	}
	for m, v := range r.Usage {
		l.want[r.AppID][m] += v
	}
	l.n++
}

func randInt(n int64) int64 {
	b, _ := rand.Int(rand.Reader, big.NewInt(n))
	return b.Int64()
}

// produce enqueues n reports of random usage on format f, one every gap,
// recording each in l once the enqueue succeeded.
func produce(ctx context.Context, t *testing.T, rdb redis.UniversalClient, f queue.Format, n int, gap time.Duration, l *ledger) {
	p := queue.NewProducer(rdb, f)
	for i := range n {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		r := usage.Report{
			ID:        hex.EncodeToString(id),
			ServiceID: svc,
			AppID:     apps[i%len(apps)],
			Usage:     map[string]int64{"hits": 1 + randInt(5), "bytes": randInt(1000)},
			Timestamp: time.Now(),
		}
		if err := p.Enqueue(ctx, r); err != nil {
			t.Errorf("enqueue %s: %v", f, err)
			return
		}
		l.add(r)
		time.Sleep(gap)
	}
}

func runMigrate(t *testing.T, url string, args ...string) migration.Result {
	t.Helper()
	out, err := exec.Command(migrateBin, append([]string{"-redis", url, "-json", "-metrics-listen", ""}, args...)...).Output()
	if err != nil {
		t.Fatalf("migrate %v: %v\n%s", args, err, out)
	}
	var res migration.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("migrate -json output %q: %v", out, err)
	}
	return res
}

// TestMigrationUnderTraffic is a rolling upgrade compressed into seconds:
// old listeners keep pushing V1 and an old worker keeps popping it, new
// listeners push V2 and two new workers take it, while the migration runs
// (one run is SIGKILLed midway, then it runs again, and again). Following
// the zero-loss procedure, the old worker is stopped with SIGTERM, and a
// last migration runs. Every report must then be counted exactly once.
func TestMigrationUnderTraffic(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	url := "redis://" + rdb.Options().Addr
	ctx := context.Background()

	oldWorker := proctest.StartWorker(t, workerBin, "-redis", url, "-queue", "v1", "-concurrency", "2", "-job-work", "5ms", "-consumer", "old-0")
	var newWorkers []*proctest.Proc
	for i := range 2 {
		newWorkers = append(newWorkers, proctest.StartWorker(t, workerBin, "-redis", url, "-queue", "v2",
			"-concurrency", "4", "-consumer", fmt.Sprintf("new-%d", i), "-claim-idle", "2s"))
	}

	// Old listeners push faster than the old worker takes (~1000/s against
	// ~400/s), so V1 has a backlog for the migration to move.
	var l ledger
	var producers sync.WaitGroup
	producers.Go(func() { produce(ctx, t, rdb, queue.V1, 2000, time.Millisecond, &l) })
	producers.Go(func() { produce(ctx, t, rdb, queue.V2, 1000, 2*time.Millisecond, &l) })

	time.Sleep(300 * time.Millisecond)
	killed := proctest.Start(t, migrateBin, "-redis", url, "-drain", "-quiet", "10s", "-poll", "10ms", "-batch", "50", "-metrics-listen", "")
	time.Sleep(700 * time.Millisecond)
	killed.Kill(t) // killed midway: every batch is atomic, nothing in between

	time.Sleep(300 * time.Millisecond)
	second := runMigrate(t, url) // once, with traffic still flowing
	producers.Wait()
	if t.Failed() {
		return
	}
	third := runMigrate(t, url, "-drain", "-quiet", "500ms", "-poll", "20ms")

	// The procedure: the old worker stops cleanly, then a last migration.
	if err := oldWorker.Term(t, 10*time.Second); err != nil {
		t.Fatalf("old worker after SIGTERM: %v", err)
	}
	last := runMigrate(t, url)
	if last.V1Remaining != 0 {
		t.Errorf("v1 holds %d jobs after the last migration, want 0", last.V1Remaining)
	}
	t.Logf("migrations: second moved %d, third (drain) %d, last %d; the SIGKILLed first run moved what it moved", second.Moved, third.Moved, last.Moved)
	if second.Moved+third.Moved == 0 {
		t.Errorf("the migration runs during traffic moved nothing: the recipe did not exercise it")
	}

	proctest.Eventually(t, 20*time.Second, "v2 drained", func() bool {
		n, err := queue.Depth(ctx, rdb, queue.V2)
		return err == nil && n == 0
	})
	for _, w := range newWorkers {
		if err := w.Term(t, 10*time.Second); err != nil {
			t.Fatalf("new worker after SIGTERM: %v", err)
		}
	}

	store := usage.NewStore(rdb)
	for _, a := range apps {
		got, err := store.Totals(ctx, svc, a)
		if err != nil {
			t.Fatal(err)
		}
		for m, want := range l.want[a] {
			if got[m] != want {
				t.Errorf("%s %s = %d, want %d (sum of what was enqueued): %+d", a, m, got[m], want, got[m]-want)
			}
		}
	}
	t.Logf("%d reports enqueued (v1 and v2), every one counted once", l.n)
}
