package watcher

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/perfrun/perfrun/objects"
)

// DefaultMaxObjects bounds an object watcher's records (a few hundred bytes
// each); objects past it are counted, not recorded.
const DefaultMaxObjects = 200_000

// Config is what an object watcher watches.
type Config struct {
	// Resource is as the scenario wrote it (recorded as is); GVR is what
	// it resolved to.
	Resource  string
	GVR       schema.GroupVersionResource
	Namespace string
	// Selector is a label selector ("" for every object).
	Selector string
	// Max bounds the records (default DefaultMaxObjects).
	Max int
	// Clock is the watcher's clock (default the real one).
	Clock clock.PassiveClock
	// Backoff is the wait after a failed list or watch (default 1s).
	Backoff time.Duration
}

// Objects records, per object of one resource, when it appeared, when its
// status was first written and when each condition first turned True and
// False.
type Objects struct {
	cfg     Config
	mu      sync.Mutex
	loop    *loop
	recs    []objects.Record
	index   map[string]int
	dropped int
}

// NewObjects makes an object watcher; Start starts it.
func NewObjects(dyn dynamic.Interface, cfg Config) *Objects {
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxObjects
	}
	w := &Objects{cfg: cfg, index: map[string]int{}}
	w.loop = newLoop(dyn.Resource(cfg.GVR).Namespace(cfg.Namespace), cfg.Selector, cfg.Clock, cfg.Backoff, &w.mu, w)
	return w
}

// Start watches until ctx ends or Stop.
func (w *Objects) Start(ctx context.Context) { w.loop.start(ctx) }

// WaitSynced waits for the first list and the watch after it.
func (w *Objects) WaitSynced(ctx context.Context, timeout time.Duration) error {
	return w.loop.waitSynced(ctx, timeout)
}

// Stop stops watching and waits for it.
func (w *Objects) Stop() { w.loop.stop() }

// Snapshot is the records so far, in the order the objects were seen.
func (w *Objects) Snapshot() []objects.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]objects.Record, len(w.recs))
	for i, r := range w.recs {
		r.Conditions = slices.Clone(r.Conditions)
		out[i] = r
	}
	return out
}

// Set is the records with what was watched and how it went (objects.json).
func (w *Objects) Set() objects.Set {
	recs := w.Snapshot()
	w.mu.Lock()
	defer w.mu.Unlock()
	return objects.Set{Resource: w.cfg.Resource, GVR: w.cfg.GVR.String(), Namespace: w.cfg.Namespace, Selector: w.cfg.Selector,
		Dropped: w.dropped, Relists: w.loop.relists, Errors: w.loop.errors, Records: recs}
}

func key(u *unstructured.Unstructured) string { return string(u.GetUID()) + "/" + u.GetName() }

func (w *Objects) list(now time.Time, items []unstructured.Unstructured, _ bool) {
	present := make(map[string]bool, len(items))
	for i := range items {
		present[key(&items[i])] = true
		w.observe(now, &items[i], true, false)
	}
	// What went while the watch was down: deleted at the latest now.
	for k, i := range w.index {
		if !present[k] && w.recs[i].Deleted.IsZero() {
			w.recs[i].Deleted = now
		}
	}
}

func (w *Objects) event(now time.Time, typ watch.EventType, u *unstructured.Unstructured) {
	// Only an ADDED event is the object's creation; a first sight in a
	// later event is like one in a list.
	w.observe(now, u, typ != watch.Added, typ == watch.Deleted)
}

func (w *Objects) observe(now time.Time, u *unstructured.Unstructured, late, deleted bool) {
	k := key(u)
	i, ok := w.index[k]
	if !ok {
		if len(w.recs) >= w.cfg.Max {
			w.dropped++
			return
		}
		w.recs = append(w.recs, objects.Record{Name: u.GetName(), UID: string(u.GetUID()), Seen: now,
			Created: u.GetCreationTimestamp().Time, Listed: late})
		i = len(w.recs) - 1
		w.index[k] = i
	}
	r := &w.recs[i]
	conds := conditions(u)
	if len(conds) > 0 && r.FirstStatus.IsZero() {
		r.FirstStatus = now
		for _, c := range conds {
			if !c.transition.IsZero() && (r.FirstStatusTransition.IsZero() || c.transition.Before(r.FirstStatusTransition)) {
				r.FirstStatusTransition = c.transition
			}
		}
	}
	for _, c := range conds {
		rc := r.Condition(c.typ)
		if rc == nil {
			if len(r.Conditions) >= objects.MaxConditions {
				continue
			}
			r.Conditions = append(r.Conditions, objects.Condition{Type: c.typ})
			rc = &r.Conditions[len(r.Conditions)-1]
		}
		switch c.status {
		case "True":
			if rc.Done.IsZero() {
				rc.Done, rc.DoneTransition = now, c.transition
			}
		case "False":
			if rc.Failed.IsZero() {
				rc.Failed, rc.FailedTransition, rc.Reason = now, c.transition, c.reason
			}
		}
	}
	if deleted && r.Deleted.IsZero() {
		r.Deleted = now
	}
}

type condition struct {
	typ, status, reason string
	transition          time.Time
}

// conditions reads status.conditions without copying the object.
func conditions(u *unstructured.Unstructured) []condition {
	st, _ := u.Object["status"].(map[string]any)
	list, _ := st["conditions"].([]any)
	out := make([]condition, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		c := condition{}
		c.typ, _ = m["type"].(string)
		c.status, _ = m["status"].(string)
		c.reason, _ = m["reason"].(string)
		if s, ok := m["lastTransitionTime"].(string); ok {
			c.transition, _ = time.Parse(time.RFC3339Nano, s)
		}
		if c.typ != "" {
			out = append(out, c)
		}
	}
	return out
}
