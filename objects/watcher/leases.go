package watcher

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/perfrun/perfrun/objects"
)

// LeaseGVR is coordination.k8s.io/v1 leases.
var LeaseGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// DefaultMaxSpans bounds a Lease watcher's closed spans.
const DefaultMaxSpans = 100_000

// LeaseConfig is what a Lease watcher watches.
type LeaseConfig struct {
	Namespace string
	// Max bounds the spans kept (default DefaultMaxSpans).
	Max     int
	Clock   clock.PassiveClock
	Backoff time.Duration
}

// Leases records who held each Lease of a namespace, and from when to when.
type Leases struct {
	cfg     LeaseConfig
	mu      sync.Mutex
	loop    *loop
	closed  []objects.LeaseSpan
	open    map[string]*objects.LeaseSpan
	dropped int
}

// NewLeases makes a Lease watcher; Start starts it.
func NewLeases(dyn dynamic.Interface, cfg LeaseConfig) *Leases {
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxSpans
	}
	w := &Leases{cfg: cfg, open: map[string]*objects.LeaseSpan{}}
	w.loop = newLoop(dyn.Resource(LeaseGVR).Namespace(cfg.Namespace), "", cfg.Clock, cfg.Backoff, &w.mu, w)
	return w
}

// Start watches until ctx ends or Stop.
func (w *Leases) Start(ctx context.Context) { w.loop.start(ctx) }

// WaitSynced waits for the first list and the watch after it.
func (w *Leases) WaitSynced(ctx context.Context, timeout time.Duration) error {
	return w.loop.waitSynced(ctx, timeout)
}

// Stop stops watching; the spans still held end then, Open.
func (w *Leases) Stop() { w.loop.stop() }

// Spans are the spans so far, closed ones first, then the ones still held
// (Open, ending now or when watching stopped).
func (w *Leases) Spans() []objects.LeaseSpan {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.loop.stopped
	if end.IsZero() {
		end = w.loop.clock.Now()
	}
	out := make([]objects.LeaseSpan, 0, len(w.closed)+len(w.open))
	out = append(out, w.closed...)
	for _, name := range sortedKeys(w.open) {
		sp := *w.open[name]
		sp.To, sp.Open = end, true
		out = append(out, sp)
	}
	return out
}

// File is leases.json.
func (w *Leases) File() objects.Leases {
	spans := w.Spans()
	w.mu.Lock()
	defer w.mu.Unlock()
	return objects.Leases{Namespace: w.cfg.Namespace, Spans: spans, Dropped: w.dropped, Summary: objects.Summarize(spans)}
}

func (w *Leases) list(now time.Time, items []unstructured.Unstructured, _ bool) {
	present := map[string]bool{}
	for i := range items {
		present[items[i].GetName()] = true
		w.observe(now, &items[i], false)
	}
	for _, name := range sortedKeys(w.open) {
		if !present[name] {
			w.end(now, name)
		}
	}
}

func (w *Leases) event(now time.Time, typ watch.EventType, u *unstructured.Unstructured) {
	w.observe(now, u, typ == watch.Deleted)
}

func (w *Leases) observe(now time.Time, u *unstructured.Unstructured, deleted bool) {
	name := u.GetName()
	spec, _ := u.Object["spec"].(map[string]any)
	holder, _ := spec["holderIdentity"].(string)
	if deleted {
		holder = ""
	}
	if cur := w.open[name]; cur != nil {
		if cur.Holder == holder {
			return
		}
		w.end(now, name)
	}
	if holder == "" {
		return
	}
	sp := &objects.LeaseSpan{Lease: name, Holder: holder, From: now}
	if s, ok := spec["acquireTime"].(string); ok {
		sp.Acquired, _ = time.Parse(time.RFC3339Nano, s)
	}
	w.open[name] = sp
}

func (w *Leases) end(now time.Time, name string) {
	sp := w.open[name]
	delete(w.open, name)
	if len(w.closed) >= w.cfg.Max {
		w.dropped++
		return
	}
	sp.To = now
	w.closed = append(w.closed, *sp)
}
