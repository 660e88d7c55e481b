// Package items stores the work items (keys) that perfrun's controller
// reconciles, and publishes an event for every created item that every
// controller replica reads on its own, as every informer sees every object.
//
// Layout in Redis (one hash slot, "{items}", so the scripts that touch several
// keys at once also run on a Redis Cluster):
//
//	{items}:item:KEY   hash: key, created_at, reconciled_at, reconciled_by, bucket, reconciles
//	                   (times as Unix nanoseconds); reconcilers, the number of
//	                   distinct pods that reconciled it, and one field
//	                   "by:POD" = 1 for each of them
//	{items}:all        set of every key (what a full resync lists)
//	{items}:pending    set of keys never reconciled (what a catch-up lists,
//	                   and perfrun_controller_items_pending counts)
//	{items}:shared     set of keys reconciled by more than one pod (what
//	                   perfrun_controller_items_shared counts: in
//	                   statefulset mode, each one is a split brain)
//	{items}:events     stream of "created" events (fields: key, created_at),
//	                   trimmed to about MaxEvents entries; read with plain
//	                   XREAD by each replica, never with a consumer group,
//	                   so that every replica sees every event.
package items

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

const (
	prefix     = "{items}:"
	allKey     = prefix + "all"
	pendingKey = prefix + "pending"
	sharedKey  = prefix + "shared"
	// EventsKey is the stream every replica reads item events from.
	EventsKey = prefix + "events"

	// MaxEvents bounds the event stream. A replica that falls further behind
	// than this misses events; its periodic resync catches the items up.
	MaxEvents = 100000

	// MaxKeyLen bounds a key's length in bytes.
	MaxKeyLen = 253
)

// ErrNotFound is returned for a key that has no item.
var ErrNotFound = errors.New("item not found")

func itemKey(key string) string { return prefix + "item:" + key }

// Item is one work item and its reconcile status.
type Item struct {
	Key          string
	CreatedAt    time.Time
	ReconciledAt time.Time // zero until reconciled
	ReconciledBy string    // pod that reconciled it last
	Bucket       string    // bucket the reconciling pod owned it through
	Reconciles   int64     // how many times it was reconciled (1 when all is well)
	// Reconcilers are the distinct pods that reconciled it, sorted: one
	// when its bucket had one owner all along.
	Reconcilers []string
}

// Reconciled reports whether the item was reconciled at least once.
func (it Item) Reconciled() bool { return it.Reconciles > 0 }

// Event is the creation of an item, as read from the event stream.
type Event struct {
	ID        string // stream entry ID, to resume reading after it
	Key       string
	CreatedAt time.Time
}

// Store reads and writes items in Redis.
type Store struct {
	rdb redis.UniversalClient
	now func() time.Time
}

// NewStore returns a store on rdb.
func NewStore(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, now: time.Now}
}

// ValidateKey says what is wrong with a key, or nil.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return errors.New("item.key is empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("item.key is %d bytes long, longer than %d", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return errors.New("item.key is not valid UTF-8")
	}
	for _, r := range key {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("item.key %q contains a space or control character", key)
		}
	}
	return nil
}

// createScript creates the item, indexes it and publishes its event in one
// step, so that no replica can see an event for an item it cannot read and
// no item exists without its event.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'created_at', ARGV[2], 'reconciles', 0)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'key', ARGV[1], 'created_at', ARGV[2])
return 1`)

// Create creates the item for key unless it exists, and returns the item and
// whether this call created it. Creating is idempotent per key.
func (s *Store) Create(ctx context.Context, key string) (Item, bool, error) {
	if err := ValidateKey(key); err != nil {
		return Item{}, false, err
	}
	n, err := createScript.Run(ctx, s.rdb,
		[]string{itemKey(key), allKey, pendingKey, EventsKey},
		key, s.now().UnixNano(), MaxEvents).Int()
	if err != nil {
		return Item{}, false, fmt.Errorf("creating item %q: %w", key, err)
	}
	it, err := s.Get(ctx, key)
	if err != nil {
		return Item{}, false, err
	}
	return it, n == 1, nil
}

// Get reads the item for key; ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, key string) (Item, error) {
	m, err := s.rdb.HGetAll(ctx, itemKey(key)).Result()
	if err != nil {
		return Item{}, fmt.Errorf("reading item %q: %w", key, err)
	}
	if len(m) == 0 {
		return Item{}, fmt.Errorf("item %q: %w", key, ErrNotFound)
	}
	return parseItem(key, m)
}

func parseItem(key string, m map[string]string) (Item, error) {
	it := Item{Key: key, ReconciledBy: m["reconciled_by"], Bucket: m["bucket"]}
	for f := range m {
		if pod, ok := strings.CutPrefix(f, reconcilerField); ok {
			it.Reconcilers = append(it.Reconcilers, pod)
		}
	}
	slices.Sort(it.Reconcilers)
	var err error
	if it.CreatedAt, err = parseNanos(m["created_at"]); err != nil {
		return Item{}, fmt.Errorf("item %q created_at: %w", key, err)
	}
	if v := m["reconciled_at"]; v != "" {
		if it.ReconciledAt, err = parseNanos(v); err != nil {
			return Item{}, fmt.Errorf("item %q reconciled_at: %w", key, err)
		}
	}
	if v := m["reconciles"]; v != "" {
		if it.Reconciles, err = strconv.ParseInt(v, 10, 64); err != nil {
			return Item{}, fmt.Errorf("item %q reconciles: %w", key, err)
		}
	}
	return it, nil
}

func parseNanos(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, n).UTC(), nil
}

// reconcilerField prefixes the hash field that records one pod among the
// item's reconcilers.
const reconcilerField = "by:"

// recordLua adds pod ARGV[3] to the item's reconcilers and, when that makes
// two, the key to the shared set; it leaves {added (0 or 1), reconcilers}
// in the locals added and owners. Both scripts below include it.
const recordLua = `
local added = redis.call('HSETNX', KEYS[1], 'by:' .. ARGV[3], 1)
local owners
if added == 1 then
  owners = redis.call('HINCRBY', KEYS[1], 'reconcilers', 1)
  if owners == 2 then redis.call('SADD', KEYS[3], ARGV[1]) end
else
  owners = tonumber(redis.call('HGET', KEYS[1], 'reconcilers')) or 1
end`

// markScript records a reconcile: who, when, through which bucket, one more
// in the count, the pod among the key's reconcilers, and the key leaves the
// pending set.
var markScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'reconciled_at', ARGV[2], 'reconciled_by', ARGV[3], 'bucket', ARGV[4])
local n = redis.call('HINCRBY', KEYS[1], 'reconciles', 1)
redis.call('SREM', KEYS[2], ARGV[1])` + recordLua + `
return {n, added, owners}`)

// seenScript records pod among the key's reconcilers without changing its
// reconcile: the pod reconciled it and found it done.
var seenScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = tonumber(redis.call('HGET', KEYS[1], 'reconciles')) or 0` + recordLua + `
return {n, added, owners}`)

// Mark is what recording a reconcile found.
type Mark struct {
	// Reconciles is how many times the key has been reconciled in all.
	Reconciles int64
	// Reconcilers is how many distinct pods have reconciled it.
	Reconcilers int64
	// Foreign is true when this pod was new among the key's reconcilers
	// and another pod had reconciled it before: the key has more than one
	// owner. A pod records it once per key.
	Foreign bool
}

// MarkReconciled records that pod reconciled key at the given time through
// bucket.
func (s *Store) MarkReconciled(ctx context.Context, key, pod, bucket string, at time.Time) (Mark, error) {
	return s.record(ctx, markScript, key, at.UnixNano(), pod, bucket)
}

// RecordReconciler records that pod reconciled key and found it already
// reconciled (the desired state held): the pod acted as the key's owner all
// the same, so it is one of the key's reconcilers. The reconcile's time,
// pod and bucket stay the last work done.
func (s *Store) RecordReconciler(ctx context.Context, key, pod string) (Mark, error) {
	return s.record(ctx, seenScript, key, 0, pod, "")
}

func (s *Store) record(ctx context.Context, script *redis.Script, key string, at int64, pod, bucket string) (Mark, error) {
	if pod == "" {
		return Mark{}, fmt.Errorf("recording a reconcile of item %q: empty pod", key)
	}
	res, err := script.Run(ctx, s.rdb, []string{itemKey(key), pendingKey, sharedKey},
		key, at, pod, bucket).Result()
	if err != nil {
		return Mark{}, fmt.Errorf("recording a reconcile of item %q: %w", key, err)
	}
	if n, ok := res.(int64); ok && n < 0 {
		return Mark{}, fmt.Errorf("recording a reconcile of item %q: %w", key, ErrNotFound)
	}
	vals, ok := res.([]any)
	if !ok || len(vals) != 3 {
		return Mark{}, fmt.Errorf("recording a reconcile of item %q: unexpected answer %v", key, res)
	}
	var nums [3]int64
	for i, v := range vals {
		if nums[i], ok = v.(int64); !ok {
			return Mark{}, fmt.Errorf("recording a reconcile of item %q: unexpected answer %v", key, res)
		}
	}
	return Mark{Reconciles: nums[0], Reconcilers: nums[2], Foreign: nums[1] == 1 && nums[2] > 1}, nil
}

// SharedCount is the number of items reconciled by more than one pod.
func (s *Store) SharedCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.SCard(ctx, sharedKey).Result()
	if err != nil {
		return 0, fmt.Errorf("counting shared items: %w", err)
	}
	return n, nil
}

// ListShared calls fn with every key reconciled by more than one pod, as
// List does.
func (s *Store) ListShared(ctx context.Context, fn func(key string) error) error {
	return s.scan(ctx, sharedKey, fn)
}

// PendingCount is the number of items never reconciled.
func (s *Store) PendingCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.SCard(ctx, pendingKey).Result()
	if err != nil {
		return 0, fmt.Errorf("counting pending items: %w", err)
	}
	return n, nil
}

// Count is the number of items.
func (s *Store) Count(ctx context.Context) (int64, error) {
	n, err := s.rdb.SCard(ctx, allKey).Result()
	if err != nil {
		return 0, fmt.Errorf("counting items: %w", err)
	}
	return n, nil
}

// List calls fn with every key, in no particular order, without holding the
// whole key space in memory (SSCAN). A key created during the listing may be
// missed; its event delivers it.
func (s *Store) List(ctx context.Context, fn func(key string) error) error {
	return s.scan(ctx, allKey, fn)
}

// ListPending calls fn with every key never reconciled, as List does.
func (s *Store) ListPending(ctx context.Context, fn func(key string) error) error {
	return s.scan(ctx, pendingKey, fn)
}

func (s *Store) scan(ctx context.Context, set string, fn func(string) error) error {
	var cursor uint64
	for {
		keys, next, err := s.rdb.SScan(ctx, set, cursor, "", 1000).Result()
		if err != nil {
			return fmt.Errorf("listing %s: %w", set, err)
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// LastEventID is the ID of the newest event, or "0-0" when there is none.
// A replica lists the items first and then watches from this ID, as an
// informer lists then watches from the list's resource version.
func (s *Store) LastEventID(ctx context.Context) (string, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, EventsKey, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("reading the last item event: %w", err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// Watch calls fn with every event after the one with ID after, in order,
// until ctx ends or fn fails. It blocks on Redis at most block at a time, so
// a cancelled ctx is noticed within that.
func (s *Store) Watch(ctx context.Context, after string, block time.Duration, fn func(Event) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		streams, err := s.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{EventsKey, after},
			Count:   500,
			Block:   block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue // nothing new within block
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading item events after %s: %w", after, err)
		}
		for _, st := range streams {
			for _, m := range st.Messages {
				ev := Event{ID: m.ID}
				ev.Key, _ = m.Values["key"].(string)
				if v, ok := m.Values["created_at"].(string); ok {
					ev.CreatedAt, _ = parseNanos(v)
				}
				if err := fn(ev); err != nil {
					return err
				}
				after = m.ID
			}
		}
	}
}
