// Package watcher fills package objects' records from the API server: an
// object watcher per resource (TaskRuns, Pods...) and a Lease watcher, each
// a List then a Watch of one namespace through the dynamic client, resumed
// from the last resourceVersion when the watch closes and relisted when it
// expires, until stopped.
package watcher

import (
	"context"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"
)

// sink is what a watcher does with what the loop sees; the loop calls it
// under the watcher's lock.
type sink interface {
	// list is a full list; first says it is the first one.
	list(now time.Time, items []unstructured.Unstructured, first bool)
	event(now time.Time, typ watch.EventType, u *unstructured.Unstructured)
}

// loop is List+Watch of one resource in one namespace.
type loop struct {
	ri       dynamic.ResourceInterface
	selector string
	clock    clock.PassiveClock
	backoff  time.Duration
	sink     sink

	mu      *sync.Mutex // the watcher's: guards sink and the counts
	relists int
	errors  int
	lastErr error

	synced     chan struct{}
	syncedOnce sync.Once
	cancel     context.CancelFunc
	done       chan struct{}
	stopped    time.Time
}

func newLoop(ri dynamic.ResourceInterface, selector string, c clock.PassiveClock, backoff time.Duration, mu *sync.Mutex, s sink) *loop {
	if c == nil {
		c = clock.RealClock{}
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	return &loop{ri: ri, selector: selector, clock: c, backoff: backoff, sink: s, mu: mu,
		synced: make(chan struct{}), done: make(chan struct{})}
}

func (l *loop) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	go func() {
		defer close(l.done)
		l.run(ctx)
	}()
}

// stop ends the loop, waits for it and returns when it stopped.
func (l *loop) stop() time.Time {
	if l.cancel == nil {
		return time.Time{}
	}
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped.IsZero() {
		l.stopped = l.clock.Now()
	}
	return l.stopped
}

// waitSynced waits for the first list and watch, so that what the load
// creates next is seen being created.
func (l *loop) waitSynced(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.lastErr != nil {
			return l.lastErr
		}
		return context.DeadlineExceeded
	}
}

func (l *loop) fail(err error) {
	l.mu.Lock()
	l.errors++
	l.lastErr = err
	l.mu.Unlock()
}

func (l *loop) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		list, err := l.ri.List(ctx, metav1.ListOptions{LabelSelector: l.selector})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.fail(err)
			if !sleep(ctx, l.backoff) {
				return
			}
			continue
		}
		l.mu.Lock()
		l.sink.list(l.clock.Now(), list.Items, first)
		if !first {
			l.relists++
		}
		l.mu.Unlock()
		first = false
		l.watch(ctx, list.GetResourceVersion())
	}
}

// watch follows events from rv, watching again from the last version seen
// whenever a watch closes, until the watch expires (then run relists) or
// ctx ends.
func (l *loop) watch(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		w, err := l.ri.Watch(ctx, metav1.ListOptions{LabelSelector: l.selector, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.fail(err)
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || !sleep(ctx, l.backoff) {
				return
			}
			continue
		}
		l.syncedOnce.Do(func() { close(l.synced) })
		began := time.Now()
		relist, events := l.follow(ctx, w, &rv)
		if relist {
			return
		}
		// A watch that closes at once with nothing in it must not spin.
		if events == 0 && time.Since(began) < l.backoff && !sleep(ctx, l.backoff) {
			return
		}
	}
}

// follow reads one watch until it closes; relist says it ended in an
// error event (expired, or anything else the API server sent).
func (l *loop) follow(ctx context.Context, w watch.Interface, rv *string) (relist bool, events int) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, events
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, events
			}
			events++
			switch ev.Type {
			case watch.Error:
				l.fail(apierrors.FromObject(ev.Object))
				return true, events
			case watch.Bookmark:
				if u, ok := ev.Object.(*unstructured.Unstructured); ok && u.GetResourceVersion() != "" {
					*rv = u.GetResourceVersion()
				}
			case watch.Added, watch.Modified, watch.Deleted:
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				l.mu.Lock()
				l.sink.event(l.clock.Now(), ev.Type, u)
				l.mu.Unlock()
				if v := u.GetResourceVersion(); v != "" {
					*rv = v
				}
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
