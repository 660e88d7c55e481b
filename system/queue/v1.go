package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/usage"
)

// V1 payloads are shaped as Apisonator's listener enqueues a ReportJob
// (Transactor#report_enqueue: Resque.enqueue(ReportJob, service_id, data,
// Time.now.getutc.to_f, context_info)), encoded as Resque encodes any job:
//
//	{"class":"ReportJob","args":[
//	  "SERVICE_ID",
//	  {"0":{"app_id":"APP","usage":{"hits":"1"},"timestamp":"2026-11-23T14:48:00.123456789Z"}},
//	  1795445280.123456,
//	  {"report_id":"0123...cdef"}]}
//
// The transactions are indexed by position as Rails params are, usage values
// are decimal strings as they arrive in a query string, the third argument is
// the enqueue time in float seconds, and perfrun's report id rides in the
// context_info hash (Apisonator keeps request info there) so that a job
// moved to V2 keeps its identity.

// resqueJob is Resque's job encoding.
type resqueJob struct {
	Class string            `json:"class"`
	Args  []json.RawMessage `json:"args"`
}

type v1Transaction struct {
	AppID     string            `json:"app_id"`
	Usage     map[string]string `json:"usage"`
	Timestamp string            `json:"timestamp,omitempty"`
}

// v1RawTransaction is a transaction as decoded: usage values may be strings
// or numbers.
type v1RawTransaction struct {
	AppID     string                     `json:"app_id"`
	Usage     map[string]json.RawMessage `json:"usage"`
	Timestamp string                     `json:"timestamp"`
}

type v1Context struct {
	ReportID string `json:"report_id,omitempty"`
}

// apisonatorReportJobClass is the class's full name in a real Apisonator
// queue; a payload naming it decodes too.
const apisonatorReportJobClass = "ThreeScale::Backend::Transactor::ReportJob"

// EncodeV1 encodes r as a V1 (Resque) ReportJob payload enqueued at t.
func EncodeV1(r usage.Report, enqueued time.Time) ([]byte, error) {
	u := make(map[string]string, len(r.Usage))
	for m, v := range r.Usage {
		u[m] = strconv.FormatInt(v, 10)
	}
	tx := v1Transaction{AppID: r.AppID, Usage: u}
	if !r.Timestamp.IsZero() {
		tx.Timestamp = r.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	job := struct {
		Class string `json:"class"`
		Args  []any  `json:"args"`
	}{
		Class: JobType,
		Args: []any{
			r.ServiceID,
			map[string]v1Transaction{"0": tx},
			float64(enqueued.UnixMicro()) / 1e6,
			v1Context{ReportID: r.ID},
		},
	}
	b, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("encoding v1 report job %s: %w", r.ID, err)
	}
	return b, nil
}

// DecodeV1 decodes a V1 (Resque) ReportJob payload holding one transaction.
// A payload without a report id (one a real Apisonator queued) gets one
// derived from its bytes, so that moving it to V2 twice still names it once.
func DecodeV1(payload []byte) (usage.Report, error) {
	var r usage.Report
	var job resqueJob
	if err := json.Unmarshal(payload, &job); err != nil {
		return r, fmt.Errorf("v1 job is not a Resque JSON job: %w", err)
	}
	if job.Class != JobType && job.Class != apisonatorReportJobClass {
		return r, fmt.Errorf("v1 job class %q: only %s is supported", job.Class, JobType)
	}
	if len(job.Args) < 2 {
		return r, fmt.Errorf("v1 job args: want at least [service_id, transactions], got %d args", len(job.Args))
	}
	sid, err := scalarString(job.Args[0])
	if err != nil || sid == "" {
		return r, fmt.Errorf("v1 job args[0] (service_id): want a non-empty string or number, got %s", job.Args[0])
	}
	tx, err := oneTransaction(job.Args[1])
	if err != nil {
		return r, err
	}
	if tx.AppID == "" {
		return r, fmt.Errorf("v1 job args[1] (transactions): transaction has no app_id")
	}
	r.ServiceID, r.AppID = sid, tx.AppID
	r.Usage = make(map[string]int64, len(tx.Usage))
	for m, raw := range tx.Usage {
		s, err := scalarString(raw)
		if err != nil {
			return r, fmt.Errorf("v1 job usage[%s]: %w", m, err)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return r, fmt.Errorf("v1 job usage[%s]: %q is not an integer", m, s)
		}
		r.Usage[m] = n
	}
	var enqueued time.Time
	if len(job.Args) > 2 {
		var f float64
		if err := json.Unmarshal(job.Args[2], &f); err != nil {
			return r, fmt.Errorf("v1 job args[2] (enqueue time): want float seconds, got %s", job.Args[2])
		}
		sec, frac := math.Modf(f)
		enqueued = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	switch {
	case tx.Timestamp != "":
		ts, err := parseTimestamp(tx.Timestamp)
		if err != nil {
			return r, err
		}
		r.Timestamp = ts
	case !enqueued.IsZero():
		r.Timestamp = enqueued
	}
	if len(job.Args) > 3 && !bytes.Equal(bytes.TrimSpace(job.Args[3]), []byte("null")) {
		var c v1Context
		if err := json.Unmarshal(job.Args[3], &c); err != nil {
			return r, fmt.Errorf("v1 job args[3] (context_info): want an object, got %s", job.Args[3])
		}
		r.ID = c.ReportID
	}
	if r.ID == "" {
		sum := sha256.Sum256(payload)
		r.ID = "v1-" + hex.EncodeToString(sum[:16])
	}
	return r, nil
}

// oneTransaction reads the transactions argument, an object indexed by
// position ({"0":{...}}) or an array, holding exactly one transaction: the
// listener enqueues one report per transaction.
func oneTransaction(raw json.RawMessage) (v1RawTransaction, error) {
	type tx = v1RawTransaction
	var list []tx
	if err := json.Unmarshal(raw, &list); err != nil {
		var byIndex map[string]tx
		if err := json.Unmarshal(raw, &byIndex); err != nil {
			return tx{}, fmt.Errorf("v1 job args[1] (transactions): want an object or array of transactions, got %.80s", raw)
		}
		for _, t := range byIndex {
			list = append(list, t)
		}
	}
	if len(list) != 1 {
		return tx{}, fmt.Errorf("v1 job args[1] (transactions): want exactly 1 transaction, got %d", len(list))
	}
	return list[0], nil
}

// scalarString reads a JSON string or number as its text.
func scalarString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("want a string or number, got %.40s", raw)
}

// timestampLayouts are the forms a transaction timestamp takes: ours, and
// the ones Apisonator's clients send.
var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05"}

func parseTimestamp(s string) (time.Time, error) {
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("v1 job transaction timestamp %q: want RFC 3339 or \"YYYY-MM-DD hh:mm:ss ZONE\"", s)
}

type v1Producer struct {
	rdb redis.UniversalClient
}

// Enqueue pushes the job as Resque.enqueue does: the queue's name into the
// set of queues, the payload to the list's tail.
func (p *v1Producer) Enqueue(ctx context.Context, r usage.Report) error {
	b, err := EncodeV1(r, time.Now())
	if err != nil {
		return err
	}
	pipe := p.rdb.Pipeline()
	pipe.SAdd(ctx, V1QueuesSet, V1QueueName)
	pipe.RPush(ctx, V1Key, b)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("enqueueing v1 report job %s: %w", r.ID, err)
	}
	return nil
}

type v1Consumer struct {
	rdb   redis.UniversalClient
	block time.Duration
}

func (c *v1Consumer) Format() Format { return V1 }
func (c *v1Consumer) Dedupe() bool   { return false }

// Take pops the head of the list. From here on the job exists only in this
// process: that is V1's at-most-once.
func (c *v1Consumer) Take(ctx context.Context) (*Job, error) {
	kv, err := c.rdb.BLPop(ctx, c.block, V1Key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("taking a v1 job: %w", err)
	}
	if len(kv) != 2 {
		return nil, fmt.Errorf("taking a v1 job: BLPOP answered %d elements", len(kv))
	}
	return v1Job(kv[1]), nil
}

func v1Job(payload string) *Job {
	j := &Job{Type: JobType, Raw: payload}
	r, err := DecodeV1([]byte(payload))
	if err != nil {
		j.Invalid = err
		return j
	}
	j.Report = r
	return j
}

// Done has nothing to do: the job left Redis when it was taken.
func (c *v1Consumer) Done(context.Context, *Job) error { return nil }
