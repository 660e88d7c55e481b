package queue

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
)

func report(id string) usage.Report {
	return usage.Report{
		ID:        id,
		ServiceID: "svc-1",
		AppID:     "app-1",
		Usage:     map[string]int64{"hits": 3, "search": 2},
		Timestamp: time.Date(2026, 11, 23, 14, 48, 1, 123456789, time.UTC),
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"v1", "v2"} {
		f, err := ParseFormat(s)
		if err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "V1", "v3", "resque"} {
		_, err := ParseFormat(s)
		if err == nil || !strings.Contains(err.Error(), "queue format") {
			t.Errorf("ParseFormat(%q) error = %v, want one naming the queue format", s, err)
		}
	}
}

func TestV1EncodingIsApisonatorShaped(t *testing.T) {
	r := report("0123456789abcdef0123456789abcdef")
	enq := time.Date(2026, 11, 23, 14, 48, 2, 500000000, time.UTC)
	b, err := EncodeV1(r, enq)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Class string `json:"class"`
		Args  []any  `json:"args"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, b)
	}
	if got.Class != "ReportJob" || len(got.Args) != 4 {
		t.Fatalf("payload = %s, want class ReportJob and 4 args", b)
	}
	if got.Args[0] != "svc-1" {
		t.Errorf("args[0] = %v, want the service id", got.Args[0])
	}
	txs, ok := got.Args[1].(map[string]any)
	if !ok || len(txs) != 1 {
		t.Fatalf("args[1] = %v, want transactions indexed by position", got.Args[1])
	}
	tx := txs["0"].(map[string]any)
	if tx["app_id"] != "app-1" || !reflect.DeepEqual(tx["usage"], map[string]any{"hits": "3", "search": "2"}) {
		t.Errorf("transaction = %v, want app_id and usage as strings", tx)
	}
	if got.Args[2] != 1795445282.5 {
		t.Errorf("args[2] = %v, want enqueue time in float seconds", got.Args[2])
	}
	if got.Args[3].(map[string]any)["report_id"] != r.ID {
		t.Errorf("args[3] = %v, want the report id in context_info", got.Args[3])
	}

	back, err := DecodeV1(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip = %+v, want %+v", back, r)
	}
}

func TestDecodeV1Variants(t *testing.T) {
	// As a real Apisonator queues it: full class name, no report id,
	// Apisonator's timestamp form, numeric service id, array of transactions.
	real := `{"class":"ThreeScale::Backend::Transactor::ReportJob","args":[42,[{"app_id":"a","usage":{"hits":1},"timestamp":"2026-11-23 14:48:00 +0000"}],1795445280.25,{"request":{"extensions":{}}}]}`
	r, err := DecodeV1([]byte(real))
	if err != nil {
		t.Fatal(err)
	}
	if r.ServiceID != "42" || r.AppID != "a" || r.Usage["hits"] != 1 {
		t.Errorf("decoded %+v", r)
	}
	if !r.Timestamp.Equal(time.Date(2026, 11, 23, 14, 48, 0, 0, time.UTC)) {
		t.Errorf("timestamp = %v", r.Timestamp)
	}
	if !strings.HasPrefix(r.ID, "v1-") || len(r.ID) != 3+32 {
		t.Errorf("derived id = %q, want v1- and 32 hex digits", r.ID)
	}
	again, _ := DecodeV1([]byte(real))
	if again.ID != r.ID {
		t.Errorf("derived id not stable: %q then %q", r.ID, again.ID)
	}
	// No transaction timestamp: the enqueue time stands in.
	r, err = DecodeV1([]byte(`{"class":"ReportJob","args":["s",{"0":{"app_id":"a","usage":{"hits":"2"}}},1795445280.5]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Timestamp.Equal(time.Unix(1795445280, 5e8)) {
		t.Errorf("timestamp = %v, want the enqueue time", r.Timestamp)
	}
}

func TestDecodeV1Errors(t *testing.T) {
	for _, c := range []struct{ payload, want string }{
		{`not json`, "not a Resque JSON job"},
		{`{"class":"NotifyJob","args":[]}`, `class "NotifyJob"`},
		{`{"class":"ReportJob","args":["s"]}`, "want at least [service_id, transactions]"},
		{`{"class":"ReportJob","args":["",{}]}`, "args[0] (service_id)"},
		{`{"class":"ReportJob","args":["s",{"0":{"app_id":"a"},"1":{"app_id":"b"}}]}`, "want exactly 1 transaction, got 2"},
		{`{"class":"ReportJob","args":["s","x"]}`, "args[1] (transactions)"},
		{`{"class":"ReportJob","args":["s",{"0":{"usage":{"hits":"1"}}}]}`, "no app_id"},
		{`{"class":"ReportJob","args":["s",{"0":{"app_id":"a","usage":{"hits":"1.5"}}}]}`, "usage[hits]"},
		{`{"class":"ReportJob","args":["s",{"0":{"app_id":"a","usage":{"hits":"1"},"timestamp":"yesterday"}}]}`, `timestamp "yesterday"`},
		{`{"class":"ReportJob","args":["s",{"0":{"app_id":"a","usage":{"hits":"1"}}},"soon"]}`, "args[2] (enqueue time)"},
		{`{"class":"ReportJob","args":["s",{"0":{"app_id":"a","usage":{"hits":"1"}}},1.0,[1]]}`, "args[3] (context_info)"},
	} {
		_, err := DecodeV1([]byte(c.payload))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeV1(%s) error = %v, want it to contain %q", c.payload, err, c.want)
		}
	}
}

func TestDecodeV2Errors(t *testing.T) {
	for _, c := range []struct{ payload, want string }{
		{`{`, "not JSON"},
		{`{"service_id":"s","app_id":"a"}`, "id is empty"},
		{`{"id":"x","app_id":"a"}`, "service_id is empty"},
		{`{"id":"x","service_id":"s"}`, "app_id is empty"},
	} {
		_, err := DecodeV2([]byte(c.payload))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeV2(%s) error = %v, want it to contain %q", c.payload, err, c.want)
		}
	}
	if _, err := EncodeV2(usage.Report{ServiceID: "s", AppID: "a"}); err == nil {
		t.Error("EncodeV2 of a report without id: no error")
	}
}

func TestV1ProduceTake(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	p := NewProducer(rdb, V1)
	for _, id := range []string{"a", "b", "c"} {
		if err := p.Enqueue(ctx, report(id)); err != nil {
			t.Fatal(err)
		}
	}
	if q, _ := rdb.SMembers(ctx, V1QueuesSet).Result(); !reflect.DeepEqual(q, []string{"priority"}) {
		t.Errorf("resque:queues = %v, want [priority] as Resque records it", q)
	}
	mustDepth(t, rdb, V1, 3)
	c, err := NewConsumer(ctx, rdb, V1, ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dedupe() {
		t.Error("v1 consumer asks for dedupe; v1 is the old, at-most-once release")
	}
	for _, id := range []string{"a", "b", "c"} { // FIFO, as Resque
		j, err := c.Take(ctx)
		if err != nil || j == nil {
			t.Fatalf("Take = %v, %v", j, err)
		}
		if j.Invalid != nil || j.Report.ID != id || j.Type != JobType {
			t.Fatalf("took %+v, want report %s", j, id)
		}
	}
	// Taken is gone: nothing waits, nothing to acknowledge.
	mustDepth(t, rdb, V1, 0)
	start := time.Now()
	j, err := c.Take(ctx)
	if j != nil || err != nil {
		t.Fatalf("Take on empty queue = %v, %v; want nil, nil", j, err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Take on empty queue returned after %v, want it to block ~1s", d)
	}
	// A bad payload comes out as an invalid job, not an error that stops the loop.
	rdb.RPush(ctx, V1Key, `{"class":"ReportJob","args":[]}`)
	j, err = c.Take(ctx)
	if err != nil || j == nil || j.Invalid == nil {
		t.Fatalf("Take of a bad payload = %+v, %v; want an invalid job", j, err)
	}
}

func TestV2ProduceTakeDone(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	p := NewProducer(rdb, V2)
	// Produced before any consumer exists: the group created later must
	// still deliver it.
	if err := p.Enqueue(ctx, report("early")); err != nil {
		t.Fatal(err)
	}
	c, err := NewConsumer(ctx, rdb, V2, ConsumerOptions{Name: "w1", Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dedupe() {
		t.Error("v2 consumer does not ask for dedupe")
	}
	if err := p.Enqueue(ctx, report("late")); err != nil {
		t.Fatal(err)
	}
	mustDepth(t, rdb, V2, 2)
	for i, id := range []string{"early", "late"} {
		j, err := c.Take(ctx)
		if err != nil || j == nil || j.Invalid != nil {
			t.Fatalf("Take = %+v, %v", j, err)
		}
		if !reflect.DeepEqual(j.Report, report(id)) {
			t.Fatalf("took %+v, want %+v", j.Report, report(id))
		}
		// Taken but not done: still counted, still pending.
		mustDepth(t, rdb, V2, int64(2-i))
		if err := c.Done(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	mustDepth(t, rdb, V2, 0)
	if n, _ := rdb.XPending(ctx, V2Stream, V2Group).Result(); n.Count != 0 {
		t.Errorf("pending after Done = %d, want 0", n.Count)
	}
	if j, err := c.Take(ctx); j != nil || err != nil {
		t.Fatalf("Take on empty stream = %v, %v", j, err)
	}
	if _, err := NewConsumer(ctx, rdb, V2, ConsumerOptions{}); err == nil {
		t.Error("v2 consumer without a name: no error")
	}
}

func TestV2ClaimFromDeadConsumer(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	opts := func(n string) ConsumerOptions { return ConsumerOptions{Name: n, Block: 20 * time.Millisecond} }
	dead, err := NewConsumer(ctx, rdb, V2, opts("dead"))
	if err != nil {
		t.Fatal(err)
	}
	alive, _ := NewConsumer(ctx, rdb, V2, opts("alive"))
	p := NewProducer(rdb, V2)
	for _, id := range []string{"x", "y"} {
		if err := p.Enqueue(ctx, report(id)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if j, err := dead.Take(ctx); j == nil || err != nil {
			t.Fatalf("Take = %v, %v", j, err)
		}
	}
	cl := alive.(Claimer)
	// Not idle long enough yet: nothing to claim.
	jobs, _, err := cl.Claim(ctx, time.Hour, "0-0", 10)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("early Claim = %d jobs, %v; want none", len(jobs), err)
	}
	time.Sleep(60 * time.Millisecond)
	jobs, next, err := cl.Claim(ctx, 50*time.Millisecond, "0-0", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || next != "0-0" {
		t.Fatalf("Claim = %d jobs, cursor %s; want 2, 0-0", len(jobs), next)
	}
	for i, id := range []string{"x", "y"} {
		if !jobs[i].Claimed || jobs[i].Report.ID != id {
			t.Errorf("claimed job %d = %+v, want report %s marked claimed", i, jobs[i], id)
		}
		if err := alive.Done(ctx, jobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	mustDepth(t, rdb, V2, 0)
	// The dead consumer, back from the grave, acknowledging late is harmless.
	if err := dead.Done(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
}

func TestV2DecodesMigratedAndBadEntries(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	c, err := NewConsumer(ctx, rdb, V2, ConsumerOptions{Name: "w", Block: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := EncodeV1(report("moved"), time.Now())
	for _, vals := range [][]string{
		{fieldType, JobType, FieldResque, string(v1)},
		{fieldType, JobType, "other", "x"},
		{fieldType, "NotifyJob", fieldReport, "{}"},
	} {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: V2Stream, Values: vals})
	}
	j, _ := c.Take(ctx)
	if j == nil || j.Invalid != nil || !reflect.DeepEqual(j.Report, report("moved")) {
		t.Fatalf("migrated entry decoded as %+v", j)
	}
	for _, want := range []string{"neither", `job type "NotifyJob"`} {
		j, _ = c.Take(ctx)
		if j == nil || j.Invalid == nil || !strings.Contains(j.Invalid.Error(), want) {
			t.Fatalf("bad entry decoded as %+v, want invalid with %q", j, want)
		}
	}
}

func mustDepth(t *testing.T, rdb redis.UniversalClient, f Format, want int64) {
	t.Helper()
	n, err := Depth(context.Background(), rdb, f)
	if err != nil || n != want {
		t.Fatalf("%s depth = %d, %v; want %d", f, n, err, want)
	}
}
