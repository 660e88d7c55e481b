package watcher

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/perfrun/perfrun/objects"
)

const ns = "perfrun-t"

var (
	taskRuns = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"}
	t0       = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
)

func fakeClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{taskRuns: "TaskRunList", LeaseGVR: "LeaseList"}, objs...)
}

func taskRun(name, rv string, created time.Time, conds ...map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": "uid-" + name, "resourceVersion": rv,
			"creationTimestamp": created.Format(time.RFC3339), "labels": map[string]any{"app": "load"}}}}
	if len(conds) > 0 {
		list := make([]any, len(conds))
		for i, c := range conds {
			list[i] = c
		}
		u.Object["status"] = map[string]any{"conditions": list}
	}
	return u
}

func cond(status, reason string, at time.Time) map[string]any {
	return map[string]any{"type": "Succeeded", "status": status, "reason": reason, "lastTransitionTime": at.Format(time.RFC3339)}
}

// eventually polls f until it holds (the watcher runs on its own goroutine).
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func record(w *Objects, name string) (objects.Record, bool) {
	for _, r := range w.Snapshot() {
		if r.Name == name {
			return r, true
		}
	}
	return objects.Record{}, false
}

// An object created, given its first status, then Succeeded=True, then
// deleted, on the watcher's clock; one that existed before is listed.
func TestObjectsLifecycle(t *testing.T) {
	old := taskRun("old", "1", t0.Add(-time.Hour), cond("True", "Succeeded", t0.Add(-time.Hour)))
	dc := fakeClient(old)
	clk := clocktesting.NewFakePassiveClock(t0)
	w := NewObjects(dc, Config{Resource: "taskruns.tekton.dev/v1", GVR: taskRuns, Namespace: ns, Clock: clk, Backoff: 10 * time.Millisecond})
	ctx := context.Background()
	w.Start(ctx)
	defer w.Stop()
	if err := w.WaitSynced(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ri := dc.Resource(taskRuns).Namespace(ns)
	if r, ok := record(w, "old"); !ok || !r.Listed || !r.Seen.Equal(t0) || r.Condition("Succeeded") == nil {
		t.Fatalf("pre-existing object %+v", r)
	}

	clk.SetTime(t0.Add(1 * time.Second))
	if _, err := ri.Create(ctx, taskRun("a", "", t0.Add(time.Second)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a seen", func() bool { _, ok := record(w, "a"); return ok })

	clk.SetTime(t0.Add(1500 * time.Millisecond))
	if _, err := ri.Update(ctx, taskRun("a", "", t0.Add(time.Second), cond("Unknown", "Running", t0.Add(time.Second))), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's first status", func() bool { r, _ := record(w, "a"); return !r.FirstStatus.IsZero() })

	clk.SetTime(t0.Add(4 * time.Second))
	if _, err := ri.Update(ctx, taskRun("a", "", t0.Add(time.Second), cond("True", "Succeeded", t0.Add(4*time.Second))), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a done", func() bool {
		r, _ := record(w, "a")
		c := r.Condition("Succeeded")
		return c != nil && !c.Done.IsZero()
	})

	clk.SetTime(t0.Add(5 * time.Second))
	if err := ri.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a deleted", func() bool { r, _ := record(w, "a"); return !r.Deleted.IsZero() })

	r, _ := record(w, "a")
	if r.Listed || !r.Seen.Equal(t0.Add(time.Second)) || !r.Created.Equal(t0.Add(time.Second)) ||
		!r.FirstStatus.Equal(t0.Add(1500*time.Millisecond)) || !r.FirstStatusTransition.Equal(t0.Add(time.Second)) {
		t.Errorf("record a %+v", r)
	}
	c := r.Condition("Succeeded")
	if !c.Done.Equal(t0.Add(4*time.Second)) || !c.DoneTransition.Equal(t0.Add(4*time.Second)) || !c.Failed.IsZero() {
		t.Errorf("condition %+v", c)
	}
	if d, ok := r.Latency(objects.ToStatus, ""); !ok || d != 500*time.Millisecond {
		t.Errorf("status latency %v", d)
	}
	if d, ok := r.Latency(objects.ToCondition, objects.DefaultCondition); !ok || d != 3*time.Second {
		t.Errorf("condition latency %v", d)
	}
	if !r.Deleted.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("deleted %v", r.Deleted)
	}
}

// The watch is resumed from the last resourceVersion when it closes, and
// relisted when the API server says it expired (410); a failed TaskRun is
// recorded as such.
func TestObjectsWatchRestart(t *testing.T) {
	dc := fakeClient()
	var mu sync.Mutex
	var watches []*watch.FakeWatcher
	var rvs []string
	lists := 0
	dc.PrependReactor("list", "taskruns", func(clienttesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		lists++
		mu.Unlock()
		return false, nil, nil
	})
	dc.PrependWatchReactor("taskruns", func(a clienttesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		fw := watch.NewFakeWithChanSize(10, false)
		watches = append(watches, fw)
		rvs = append(rvs, a.(clienttesting.WatchActionImpl).GetWatchRestrictions().ResourceVersion)
		return true, fw, nil
	})
	current := func(n int) *watch.FakeWatcher {
		eventually(t, "watch", func() bool { mu.Lock(); defer mu.Unlock(); return len(watches) >= n })
		mu.Lock()
		defer mu.Unlock()
		return watches[n-1]
	}
	clk := clocktesting.NewFakePassiveClock(t0)
	w := NewObjects(dc, Config{Resource: "taskruns.tekton.dev", GVR: taskRuns, Namespace: ns, Selector: "app=load", Clock: clk, Backoff: 10 * time.Millisecond})
	ctx := context.Background()
	w.Start(ctx)
	defer w.Stop()
	if err := w.WaitSynced(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	current(1).Add(taskRun("a", "10", t0))
	eventually(t, "a", func() bool { _, ok := record(w, "a"); return ok })
	current(1).Stop() // the API server closes the watch
	w2 := current(2)
	mu.Lock()
	if rvs[1] != "10" {
		t.Errorf("second watch from resourceVersion %q, want 10 (the last seen)", rvs[1])
	}
	mu.Unlock()

	clk.SetTime(t0.Add(2 * time.Second))
	w2.Modify(taskRun("a", "11", t0, cond("False", "Failed", t0.Add(2*time.Second))))
	eventually(t, "a failed", func() bool { r, _ := record(w, "a"); return r.Failed(objects.DefaultCondition) })

	// While the watch is down, b is created and a stays: the relist sees
	// b (listed) and keeps a.
	for _, o := range []*unstructured.Unstructured{taskRun("a", "11", t0, cond("False", "Failed", t0.Add(2*time.Second))), taskRun("b", "12", t0.Add(3*time.Second))} {
		if err := dc.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	clk.SetTime(t0.Add(4 * time.Second))
	w2.Error(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
		"code": int64(410), "reason": "Expired", "message": "too old resource version: 10 (12)"}})
	current(3)
	eventually(t, "b listed", func() bool { _, ok := record(w, "b"); return ok })

	set := w.Set()
	mu.Lock()
	if lists != 2 || set.Relists != 1 || set.Errors != 1 {
		t.Errorf("lists %d, relists %d, errors %d; want 2, 1, 1", lists, set.Relists, set.Errors)
	}
	mu.Unlock()
	b, _ := record(w, "b")
	if !b.Listed || !b.Seen.Equal(t0.Add(4*time.Second)) {
		t.Errorf("b %+v: want listed at the relist", b)
	}
	a, _ := record(w, "a")
	if !a.Deleted.IsZero() || a.Condition("Succeeded").Reason != "Failed" || !a.Condition("Succeeded").Done.IsZero() {
		t.Errorf("a %+v", a)
	}
	if set.Selector != "app=load" || set.Resource != "taskruns.tekton.dev" || set.GVR != "tekton.dev/v1, Resource=taskruns" {
		t.Errorf("set %+v", set)
	}
}

// Past the cap, objects are counted, not recorded.
func TestObjectsCap(t *testing.T) {
	dc := fakeClient(taskRun("a", "1", t0), taskRun("b", "2", t0), taskRun("c", "3", t0))
	w := NewObjects(dc, Config{GVR: taskRuns, Namespace: ns, Max: 2, Backoff: 10 * time.Millisecond})
	w.Start(context.Background())
	if err := w.WaitSynced(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if s := w.Set(); len(s.Records) != 2 || s.Dropped != 1 {
		t.Errorf("records %d dropped %d, want 2 and 1", len(s.Records), s.Dropped)
	}
}

func lease(name, holder string) *unstructured.Unstructured {
	spec := map[string]any{"leaseDurationSeconds": int64(15)}
	if holder != "" {
		spec["holderIdentity"] = holder
		spec["acquireTime"] = t0.Format(time.RFC3339Nano)
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": "u-" + name}, "spec": spec}}
}

// Spans of holderIdentity: a takes over b's lease, a lease is released,
// one is deleted, and what is still held ends when watching stops.
func TestLeases(t *testing.T) {
	dc := fakeClient(lease("l0", "ctl-a_1"), lease("l1", "ctl-b_2"), lease("l2", "ctl-b_2"))
	clk := clocktesting.NewFakePassiveClock(t0)
	w := NewLeases(dc, LeaseConfig{Namespace: ns, Clock: clk, Backoff: 10 * time.Millisecond})
	ctx := context.Background()
	w.Start(ctx)
	if err := w.WaitSynced(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ri := dc.Resource(LeaseGVR).Namespace(ns)
	spans := func() int { return len(w.Spans()) }

	clk.SetTime(t0.Add(10 * time.Second))
	if _, err := ri.Update(ctx, lease("l1", "ctl-a_1"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "l1 taken over", func() bool { return spans() == 4 })
	clk.SetTime(t0.Add(12 * time.Second))
	if _, err := ri.Update(ctx, lease("l2", ""), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "l2 released", func() bool {
		for _, s := range w.Spans() {
			if s.Lease == "l2" && !s.Open {
				return true
			}
		}
		return false
	})
	clk.SetTime(t0.Add(20 * time.Second))
	w.Stop()
	clk.SetTime(t0.Add(99 * time.Second))

	got := w.File()
	want := map[string]objects.LeaseSpan{
		"l1 ctl-b_2": {Lease: "l1", Holder: "ctl-b_2", From: t0, To: t0.Add(10 * time.Second)},
		"l2 ctl-b_2": {Lease: "l2", Holder: "ctl-b_2", From: t0, To: t0.Add(12 * time.Second)},
		"l0 ctl-a_1": {Lease: "l0", Holder: "ctl-a_1", From: t0, To: t0.Add(20 * time.Second), Open: true},
		"l1 ctl-a_1": {Lease: "l1", Holder: "ctl-a_1", From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second), Open: true},
	}
	if len(got.Spans) != len(want) {
		t.Fatalf("spans %+v", got.Spans)
	}
	for _, s := range got.Spans {
		w, ok := want[s.Lease+" "+s.Holder]
		s.Acquired = time.Time{}
		if !ok || s != w {
			t.Errorf("span %+v, want %+v", s, w)
		}
	}
	sum := got.Summary
	if sum.Leases != 3 || sum.Holders[0].Pod != "ctl-a" || sum.Holders[0].AtEnd != 2 || !sum.Holders[0].Since.Equal(t0.Add(10*time.Second)) {
		t.Errorf("summary %+v", sum)
	}
	if d := sum.Describe(t0); d != "ctl-a held 2/3 leases from 10s to the end (20s); ctl-b held 2/3 until 12s" {
		t.Errorf("describe %q", d)
	}
}
