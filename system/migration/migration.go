// Package migration is the 2.7 → 2.8 upgrade step of the reference system:
// it moves the report jobs waiting in the V1 queue (the Resque list) into the
// V2 stream, without losing or doubling one, while old and new listeners and
// workers keep running.
//
// # How a job moves
//
// One Lua script per batch reads up to BatchSize jobs from the head of the V1
// list, adds each to the V2 stream as it is (field "resque", the payload byte
// for byte; V2 consumers decode it), and only then trims them off the list.
// Redis runs a script as one step, so a V1 worker's BLPOP or a listener's
// RPUSH happens wholly before or wholly after it: a job is in the list or in
// the stream, never in both and never in neither. Killing the migration
// between two batches leaves everything in one place or the other; running
// it again just moves what is left. If a script fails halfway (say the
// stream key has the wrong type), the list is not trimmed: the jobs added
// before the failure are added again by the next attempt, and since V2
// applies a report at most once per report id (which the payload carries,
// or is derived from its bytes) that duplicate is harmless. So the script
// errs towards at-least-once, which V2 turns into exactly-once; it never
// errs towards loss.
//
// # The zero-loss upgrade
//
//  1. Start V2 workers beside the V1 workers (both run; each takes its own
//     queue).
//  2. Roll the listeners to V2, and start `migrate -drain` as the roll begins.
//     Old listeners still push to V1 until they are gone; the drain keeps
//     moving what they push until V1 has stayed empty for -quiet.
//  3. When the last old listener is gone and the drain has finished, stop the
//     V1 workers with SIGTERM (never SIGKILL; give them a grace period longer
//     than a job): they finish the jobs in hand and exit.
//  4. Run `migrate` once more. It moves whatever arrived late (usually
//     nothing) and proves V1 is empty.
//
// What loses jobs: killing V1 workers (SIGKILL, an eviction, a grace period
// shorter than a job) loses the jobs in their hands, whatever else is done;
// rolling the workers to V2 before the listeners, without migrating, strands
// what V1 holds (nothing takes it again); migrating once, before the old
// listeners are gone, strands what they push afterwards; and a migration done
// as LRANGE, XADD, DEL from a client, not atomically, loses jobs pushed or
// popped in between (or doubles those popped by V1 workers too).
//
// The script touches two keys, so the V1 list and the V2 stream must live on
// one Redis (as in the reference system), not on two Cluster slots.
package migration

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/queue"
)

// Options tune a migration.
type Options struct {
	// BatchSize is how many jobs one atomic step moves (default 500). The
	// script blocks Redis while it runs: keep it to a few milliseconds.
	BatchSize int
	// Drain keeps migrating until V1 has stayed empty for Quiet.
	Drain bool
	// Quiet is how long V1 must stay empty before a drain ends (default 30s).
	Quiet time.Duration
	// Poll is how often a drain looks at an empty V1 (default 250ms).
	Poll time.Duration
	// Progress, if set, is called after every batch that moved jobs.
	Progress func(Result)
}

// Result is what a migration did.
type Result struct {
	Mode string `json:"mode"` // "once" or "drain"
	// Moved is how many V1 jobs were added to the V2 stream.
	Moved   int64 `json:"moved"`
	Batches int64 `json:"batches"`
	// V1Remaining and V2Length are the queues' lengths when it ended.
	V1Remaining     int64     `json:"v1_remaining"`
	V2Length        int64     `json:"v2_length"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Interrupted says it was stopped (its context ended) before its mode
	// was done; every batch it ran is complete all the same.
	Interrupted bool `json:"interrupted"`
}

// Migrator moves jobs from V1 to V2.
type Migrator struct {
	rdb     redis.UniversalClient
	opts    Options
	moved   prometheus.Counter
	batches prometheus.Counter
}

// New returns a migrator on rdb. Its metrics are registered on reg when reg
// is not nil.
func New(rdb redis.UniversalClient, opts Options, reg prometheus.Registerer) (*Migrator, error) {
	if opts.BatchSize == 0 {
		opts.BatchSize = 500
	}
	if opts.BatchSize < 1 {
		return nil, fmt.Errorf("migration: batch size must be at least 1, got %d", opts.BatchSize)
	}
	if opts.Quiet == 0 {
		opts.Quiet = 30 * time.Second
	}
	if opts.Poll == 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.Quiet < 0 || opts.Poll < 0 {
		return nil, fmt.Errorf("migration: quiet and poll must not be negative")
	}
	m := &Migrator{
		rdb:  rdb,
		opts: opts,
		moved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "perfrun_migration_jobs_moved_total",
			Help: "Report jobs moved from the v1 queue to the v2 stream",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "perfrun_migration_batches_total",
			Help: "Atomic migration steps that moved at least one job",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.moved, m.batches} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering migration metrics: %w", err)
			}
		}
	}
	return m, nil
}

// moveScript moves up to ARGV[1] jobs from the head of the list KEYS[1] to
// the stream KEYS[2], adding before trimming (see the package doc), and
// returns {moved, left in list}.
var moveScript = redis.NewScript(`
local jobs = redis.call("LRANGE", KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, job in ipairs(jobs) do
  redis.call("XADD", KEYS[2], "*", ARGV[2], job)
end
if #jobs > 0 then
  redis.call("LTRIM", KEYS[1], #jobs, -1)
end
return {#jobs, redis.call("LLEN", KEYS[1])}
`)

// MoveBatch moves up to n jobs from V1 to V2 in one atomic step and returns
// how many it moved and how many are left in V1.
func MoveBatch(ctx context.Context, rdb redis.UniversalClient, n int) (moved, left int64, err error) {
	res, err := moveScript.Run(ctx, rdb, []string{queue.V1Key, queue.V2Stream}, n, queue.FieldResque).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("moving v1 jobs to v2: %w", err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("moving v1 jobs to v2: script answered %v", res)
	}
	return res[0], res[1], nil
}

// Run migrates: once, until V1 is found empty; or, with Drain, until V1
// has stayed empty for Quiet. When ctx ends it stops between two batches
// and returns what it did, Interrupted, and ctx's error.
func (m *Migrator) Run(ctx context.Context) (Result, error) {
	res := Result{Mode: "once", StartedAt: time.Now().UTC()}
	if m.opts.Drain {
		res.Mode = "drain"
	}
	// The group must exist before the first job lands, starting at "0", so
	// that no consumer group created later skips the moved jobs.
	err := queue.EnsureGroup(ctx, m.rdb)
	if err == nil {
		err = m.loop(ctx, &res)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		res.Interrupted = true
	}
	// Final lengths are worth reporting even after an interruption.
	end := context.WithoutCancel(ctx)
	end, cancel := context.WithTimeout(end, 5*time.Second)
	defer cancel()
	if n, lerr := queue.Depth(end, m.rdb, queue.V1); lerr == nil {
		res.V1Remaining = n
	}
	if n, lerr := queue.Depth(end, m.rdb, queue.V2); lerr == nil {
		res.V2Length = n
	}
	res.FinishedAt = time.Now().UTC()
	res.DurationSeconds = res.FinishedAt.Sub(res.StartedAt).Seconds()
	return res, err
}

func (m *Migrator) loop(ctx context.Context, res *Result) error {
	lastSeen := time.Now() // V1 was last seen holding jobs
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		moved, left, err := MoveBatch(ctx, m.rdb, m.opts.BatchSize)
		if err != nil {
			return err
		}
		if moved > 0 {
			res.Moved += moved
			res.Batches++
			m.moved.Add(float64(moved))
			m.batches.Inc()
			if m.opts.Progress != nil {
				m.opts.Progress(*res)
			}
		}
		if moved > 0 || left > 0 {
			lastSeen = time.Now()
			if moved == int64(m.opts.BatchSize) || m.opts.Drain {
				continue
			}
		}
		// V1 was found empty (a batch came back short).
		if !m.opts.Drain || time.Since(lastSeen) >= m.opts.Quiet {
			return nil
		}
		t := time.NewTimer(m.opts.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
