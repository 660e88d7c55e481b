// Package queue carries report jobs from the listener to the workers, in the
// two formats of the upgrade story:
//
//   - V1, the old release (3scale Apisonator 2.7-like): a Resque list
//     "resque:queue:priority" of JSON jobs {"class":"ReportJob","args":[...]},
//     pushed with RPUSH and taken with BLPOP. Taking a job removes it from
//     Redis, so a job held by a worker that dies is gone: at-most-once. That
//     is the known-bad behaviour the harness must detect, and it is kept.
//   - V2, the new release: a Redis stream with a consumer group. A job stays
//     in the group's pending list until the worker acknowledges it after
//     applying it; jobs pending on a consumer that went quiet are claimed by
//     a living one (XAUTOCLAIM), and applying is idempotent per report id, so
//     a report counts exactly once even when it is delivered twice.
//
// The migration (package migration) moves V1 jobs into the V2 stream as they
// are, so a V2 consumer also decodes Resque payloads.
package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/usage"
)

// Format is a queue format: which release's queue a producer writes to and a
// consumer takes from.
type Format string

const (
	V1 Format = "v1"
	V2 Format = "v2"
)

// Formats lists every format, oldest first.
var Formats = []Format{V1, V2}

// ParseFormat validates a queue format name.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case V1, V2:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown queue format %q (want v1 or v2)", s)
}

// Redis keys of the two formats. V1's are Resque's own (namespace "resque",
// queue "priority", where Apisonator's ReportJob goes).
const (
	V1Key       = "resque:queue:priority"
	V1QueuesSet = "resque:queues"
	V1QueueName = "priority"
	V2Stream    = "apisonator:v2:jobs:priority"
	V2Group     = "workers"
)

// JobType is the type of every job this package carries, as Apisonator
// names the class (and labels its worker metrics).
const JobType = "ReportJob"

// Producer enqueues report jobs.
type Producer interface {
	Enqueue(ctx context.Context, r usage.Report) error
}

// NewProducer returns the producer of format f. It panics on an unknown
// format: callers hold a Format that ParseFormat validated.
func NewProducer(rdb redis.UniversalClient, f Format) Producer {
	switch f {
	case V1:
		return &v1Producer{rdb: rdb}
	case V2:
		return &v2Producer{rdb: rdb}
	}
	panic(fmt.Sprintf("queue.NewProducer: unknown format %q", f))
}

// Job is one report job taken from a queue.
type Job struct {
	// Type is the job's class, JobType for every valid job.
	Type string
	// Report is what to apply; zero when Invalid is set.
	Report usage.Report
	// Invalid is why the payload could not be decoded. Such a job is never
	// applied; the worker hands it to Done so that it leaves the queue.
	Invalid error
	// Claimed says the job was taken over from another consumer (V2).
	Claimed bool
	// Raw is the payload as it was queued (for logs).
	Raw string

	entryID string // stream entry id (V2)
}

// Consumer takes jobs of one format. Its methods are safe for concurrent
// use; a worker runs one Take loop per unit of concurrency.
type Consumer interface {
	// Format is the consumer's queue format.
	Format() Format
	// Take waits up to the consumer's block time for one job; it returns
	// nil, nil when none came. Taking a V1 job removes it from Redis.
	Take(ctx context.Context) (*Job, error)
	// Done acknowledges a job that was applied (or found invalid). V1 has
	// nothing to acknowledge.
	Done(ctx context.Context, j *Job) error
	// Dedupe says whether the jobs must be applied idempotently per report
	// id (usage.Store.Apply's dedupe).
	Dedupe() bool
}

// Claimer is a Consumer that can take over the jobs other consumers left
// pending (V2).
type Claimer interface {
	// Claim takes over up to count jobs that have been pending on any
	// consumer for at least minIdle, continuing from cursor ("0-0" to
	// start); it returns the jobs and the cursor to continue from, "0-0"
	// when the whole pending list was scanned.
	Claim(ctx context.Context, minIdle time.Duration, cursor string, count int) ([]*Job, string, error)
}

// ConsumerOptions tune a consumer.
type ConsumerOptions struct {
	// Block is how long one Take waits for a job (default 1s). V1 waits in
	// whole seconds (BLPOP's unit as go-redis sends it), at least one.
	Block time.Duration
	// Name is the V2 consumer's name in the group: the pod name, so that
	// what a dead pod held is visible as its pending entries. Required for V2.
	Name string
}

// NewConsumer returns the consumer of format f. For V2 it makes sure the
// stream and its consumer group exist.
func NewConsumer(ctx context.Context, rdb redis.UniversalClient, f Format, o ConsumerOptions) (Consumer, error) {
	if o.Block <= 0 {
		o.Block = time.Second
	}
	switch f {
	case V1:
		if o.Block < time.Second {
			o.Block = time.Second
		}
		return &v1Consumer{rdb: rdb, block: o.Block}, nil
	case V2:
		if o.Name == "" {
			return nil, fmt.Errorf("v2 consumer: a consumer name is required")
		}
		if err := EnsureGroup(ctx, rdb); err != nil {
			return nil, err
		}
		return &v2Consumer{rdb: rdb, block: o.Block, name: o.Name}, nil
	}
	return nil, fmt.Errorf("unknown queue format %q (want v1 or v2)", f)
}

// Depth is the number of jobs of format f in Redis: for V1 those waiting
// (a job a worker holds is no longer in Redis), for V2 those waiting or held
// by a worker and not yet acknowledged.
func Depth(ctx context.Context, rdb redis.UniversalClient, f Format) (int64, error) {
	var (
		n   int64
		err error
	)
	switch f {
	case V1:
		n, err = rdb.LLen(ctx, V1Key).Result()
	case V2:
		n, err = rdb.XLen(ctx, V2Stream).Result()
	default:
		return 0, fmt.Errorf("queue depth: unknown format %q", f)
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s queue depth: %w", f, err)
	}
	return n, nil
}
