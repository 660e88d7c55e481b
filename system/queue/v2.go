package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/usage"
)

// A V2 job is one stream entry with the fields
//
//	type    "ReportJob"
//	id      the report id (for humans and XRANGE; the report carries it too)
//	report  the usage.Report as JSON
//
// or, for a job the migration moved from V1, the fields type and
// resque (the V1 payload byte for byte). An entry is deleted once it is
// acknowledged, so the stream's length is the number of jobs not yet done.

// Entry field names.
const (
	fieldType   = "type"
	fieldID     = "id"
	fieldReport = "report"
	// FieldResque holds a V1 payload moved as is by the migration.
	FieldResque = "resque"
)

// EnsureGroup creates the V2 stream and its consumer group if they are
// missing. The group starts at the stream's beginning ("0", not "$") so that
// jobs added before any worker ever started are still delivered.
func EnsureGroup(ctx context.Context, rdb redis.UniversalClient) error {
	err := rdb.XGroupCreateMkStream(ctx, V2Stream, V2Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating consumer group %s on %s: %w", V2Group, V2Stream, err)
	}
	return nil
}

// EncodeV2 is the report as a V2 entry's report field.
func EncodeV2(r usage.Report) ([]byte, error) {
	if r.ID == "" {
		return nil, fmt.Errorf("encoding v2 report job: the report has no id (v2 applies idempotently by id)")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding v2 report job %s: %w", r.ID, err)
	}
	return b, nil
}

// DecodeV2 decodes a V2 entry's report field.
func DecodeV2(b []byte) (usage.Report, error) {
	var r usage.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("v2 job report is not JSON: %w", err)
	}
	switch {
	case r.ID == "":
		return r, fmt.Errorf("v2 job report: id is empty")
	case r.ServiceID == "":
		return r, fmt.Errorf("v2 job report %s: service_id is empty", r.ID)
	case r.AppID == "":
		return r, fmt.Errorf("v2 job report %s: app_id is empty", r.ID)
	}
	return r, nil
}

type v2Producer struct {
	rdb redis.UniversalClient
}

// Enqueue adds the job to the stream. The stream is never trimmed by
// length: trimming would drop jobs no worker has applied yet.
func (p *v2Producer) Enqueue(ctx context.Context, r usage.Report) error {
	b, err := EncodeV2(r)
	if err != nil {
		return err
	}
	err = p.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: V2Stream,
		Values: []string{fieldType, JobType, fieldID, r.ID, fieldReport, string(b)},
	}).Err()
	if err != nil {
		return fmt.Errorf("enqueueing v2 report job %s: %w", r.ID, err)
	}
	return nil
}

type v2Consumer struct {
	rdb   redis.UniversalClient
	block time.Duration
	name  string
}

func (c *v2Consumer) Format() Format { return V2 }
func (c *v2Consumer) Dedupe() bool   { return true }

// Take reads one new entry for this consumer. The entry stays pending on
// this consumer until Done; if the process dies first, another consumer
// claims it.
func (c *v2Consumer) Take(ctx context.Context) (*Job, error) {
	res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    V2Group,
		Consumer: c.name,
		Streams:  []string{V2Stream, ">"},
		Count:    1,
		Block:    c.block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("taking a v2 job as %s: %w", c.name, err)
	}
	for _, s := range res {
		for _, m := range s.Messages {
			return v2Job(m), nil
		}
	}
	return nil, nil
}

// Claim takes over entries pending on any consumer for at least minIdle.
// A slow but living consumer may lose its entry this way and apply it too;
// idempotent applying makes that harmless.
func (c *v2Consumer) Claim(ctx context.Context, minIdle time.Duration, cursor string, count int) ([]*Job, string, error) {
	if cursor == "" {
		cursor = "0-0"
	}
	msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream:   V2Stream,
		Group:    V2Group,
		Consumer: c.name,
		MinIdle:  minIdle,
		Start:    cursor,
		Count:    int64(count),
	}).Result()
	if err != nil {
		return nil, cursor, fmt.Errorf("claiming idle v2 jobs as %s: %w", c.name, err)
	}
	jobs := make([]*Job, 0, len(msgs))
	for _, m := range msgs {
		j := v2Job(m)
		j.Claimed = true
		jobs = append(jobs, j)
	}
	return jobs, next, nil
}

// Done acknowledges the entry and deletes it, in one transaction. Deleting
// keeps the stream as long as the work left; it is safe even when another
// consumer claimed the entry meanwhile, because the report was applied
// before Done and applying again is a no-op.
func (c *v2Consumer) Done(ctx context.Context, j *Job) error {
	pipe := c.rdb.TxPipeline()
	pipe.XAck(ctx, V2Stream, V2Group, j.entryID)
	pipe.XDel(ctx, V2Stream, j.entryID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("acknowledging v2 job %s (entry %s): %w", j.Report.ID, j.entryID, err)
	}
	return nil
}

func v2Job(m redis.XMessage) *Job {
	j := &Job{Type: JobType, entryID: m.ID}
	if t, ok := m.Values[fieldType].(string); ok && t != JobType {
		j.Type = t
		j.Invalid = fmt.Errorf("v2 entry %s: job type %q, only %s is supported", m.ID, t, JobType)
		return j
	}
	if s, ok := m.Values[fieldReport].(string); ok {
		j.Raw = s
		j.Report, j.Invalid = DecodeV2([]byte(s))
		return j
	}
	if s, ok := m.Values[FieldResque].(string); ok {
		j.Raw = s
		j.Report, j.Invalid = DecodeV1([]byte(s))
		return j
	}
	j.Invalid = fmt.Errorf("v2 entry %s has neither a %s nor a %s field", m.ID, fieldReport, FieldResque)
	return j
}
