package items_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/items"
	"github.com/perfrun/perfrun/system/redistest"
)

func TestCreateGetMark(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s := items.NewStore(srv.Client(t))

	before := time.Now()
	it, created, err := s.Create(ctx, "ns/a")
	if err != nil || !created {
		t.Fatalf("Create = %+v, %v, %v; want created", it, created, err)
	}
	if it.Key != "ns/a" || it.CreatedAt.Before(before.Add(-time.Second)) || it.Reconciled() {
		t.Fatalf("new item = %+v", it)
	}
	again, created, err := s.Create(ctx, "ns/a")
	if err != nil || created || !again.CreatedAt.Equal(it.CreatedAt) {
		t.Fatalf("second Create = %+v, %v, %v; want the same item, not created", again, created, err)
	}
	if n, _ := s.PendingCount(ctx); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}

	at := time.Now()
	if m, err := s.MarkReconciled(ctx, "ns/a", "controller-1", "b.01-of-03", at); err != nil || m != (items.Mark{Reconciles: 1, Reconcilers: 1}) {
		t.Fatalf("MarkReconciled = %+v, %v; want 1 reconcile by 1 pod", m, err)
	}
	got, err := s.Get(ctx, "ns/a")
	if err != nil {
		t.Fatal(err)
	}
	if got.ReconciledBy != "controller-1" || got.Bucket != "b.01-of-03" || got.Reconciles != 1 || !slices.Equal(got.Reconcilers, []string{"controller-1"}) || !got.ReconciledAt.Equal(time.Unix(0, at.UnixNano()).UTC()) {
		t.Fatalf("reconciled item = %+v", got)
	}
	if n, _ := s.PendingCount(ctx); n != 0 {
		t.Fatalf("pending after reconcile = %d, want 0", n)
	}
	if m, _ := s.MarkReconciled(ctx, "ns/a", "controller-2", "b.02-of-03", at); m != (items.Mark{Reconciles: 2, Reconcilers: 2, Foreign: true}) {
		t.Fatalf("second reconcile by another pod = %+v, want 2 reconciles by 2 pods, foreign", m)
	}
	if _, err := s.MarkReconciled(ctx, "missing", "p", "b", at); !errors.Is(err, items.ErrNotFound) {
		t.Fatalf("MarkReconciled(missing) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, items.ErrNotFound) {
		t.Fatalf("Get(missing) err = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "a b", "a\nb", strings.Repeat("x", items.MaxKeyLen+1)} {
		if _, _, err := s.Create(ctx, bad); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
	}
}

// Who reconciled a key is kept per key: the same pod again (a duplicate,
// or the same StatefulSet pod after its restart) is still one reconciler;
// a second pod makes the key shared, once, whether it did the work or
// found it done.
func TestReconcilers(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s := items.NewStore(srv.Client(t))
	for _, k := range []string{"a", "b", "c"} {
		if _, _, err := s.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now()
	steps := []struct {
		key, pod string
		seen     bool // RecordReconciler, not MarkReconciled
		want     items.Mark
	}{
		{"a", "controller-0", false, items.Mark{Reconciles: 1, Reconcilers: 1}},
		{"a", "controller-0", false, items.Mark{Reconciles: 2, Reconcilers: 1}}, // restarted under its name
		{"a", "controller-0", true, items.Mark{Reconciles: 2, Reconcilers: 1}},  // event and resync
		{"b", "controller-1", false, items.Mark{Reconciles: 1, Reconcilers: 1}},
		{"b", "controller-0", true, items.Mark{Reconciles: 1, Reconcilers: 2, Foreign: true}}, // found done by a second owner
		{"b", "controller-0", true, items.Mark{Reconciles: 1, Reconcilers: 2}},                // counted once per pod
		{"b", "controller-2", false, items.Mark{Reconciles: 2, Reconcilers: 3, Foreign: true}},
		{"c", "controller-2", true, items.Mark{Reconciles: 0, Reconcilers: 1}},
	}
	for i, st := range steps {
		var m items.Mark
		var err error
		if st.seen {
			m, err = s.RecordReconciler(ctx, st.key, st.pod)
		} else {
			m, err = s.MarkReconciled(ctx, st.key, st.pod, "bucket", at)
		}
		if err != nil || m != st.want {
			t.Fatalf("step %d (%s by %s): %+v, %v; want %+v", i, st.key, st.pod, m, err, st.want)
		}
	}
	if n, err := s.SharedCount(ctx); err != nil || n != 1 {
		t.Fatalf("SharedCount = %d, %v; want 1 (b)", n, err)
	}
	var shared []string
	if err := s.ListShared(ctx, func(k string) error { shared = append(shared, k); return nil }); err != nil || !slices.Equal(shared, []string{"b"}) {
		t.Fatalf("ListShared = %v, %v; want [b]", shared, err)
	}
	b, err := s.Get(ctx, "b")
	if err != nil || !slices.Equal(b.Reconcilers, []string{"controller-0", "controller-1", "controller-2"}) || b.ReconciledBy != "controller-2" {
		t.Fatalf("b = %+v, %v", b, err)
	}
	if _, err := s.RecordReconciler(ctx, "missing", "p"); !errors.Is(err, items.ErrNotFound) {
		t.Fatalf("RecordReconciler(missing) err = %v, want ErrNotFound", err)
	}
	if _, err := s.MarkReconciled(ctx, "a", "", "bucket", at); err == nil {
		t.Fatal("MarkReconciled with no pod accepted")
	}
}

func TestListAndPending(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s := items.NewStore(srv.Client(t))
	var want []string
	for i := range 2500 { // more than one SSCAN page
		k := fmt.Sprintf("k%04d", i)
		want = append(want, k)
		if _, _, err := s.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range want[:1000] {
		if _, err := s.MarkReconciled(ctx, k, "p", "b", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var all, pending []string
	if err := s.List(ctx, func(k string) error { all = append(all, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.ListPending(ctx, func(k string) error { pending = append(pending, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	slices.Sort(pending)
	if !slices.Equal(all, want) {
		t.Errorf("List returned %d keys, want %d", len(all), len(want))
	}
	if !slices.Equal(pending, want[1000:]) {
		t.Errorf("ListPending returned %d keys, want %d", len(pending), len(want)-1000)
	}
	if n, _ := s.Count(ctx); n != 2500 {
		t.Errorf("Count = %d", n)
	}
}

// Every watcher sees every event: two independent readers both get all.
func TestEveryWatcherSeesEveryEvent(t *testing.T) {
	srv := redistest.Start(t)
	s := items.NewStore(srv.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, _, err := s.Create(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	start, err := s.LastEventID(ctx)
	if err != nil || start == "0-0" {
		t.Fatalf("LastEventID = %q, %v", start, err)
	}

	const n = 200
	var wg sync.WaitGroup
	got := make([][]string, 2)
	for w := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			err := items.NewStore(srv.Client(t)).Watch(wctx, start, 100*time.Millisecond, func(ev items.Event) error {
				if ev.CreatedAt.IsZero() || ev.ID == "" {
					t.Errorf("event without time or ID: %+v", ev)
				}
				got[w] = append(got[w], ev.Key)
				if len(got[w]) == n {
					wcancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("watcher %d: %v", w, err)
			}
		}()
	}
	var want []string
	for i := range n {
		k := fmt.Sprintf("ev-%d", i)
		want = append(want, k)
		if _, _, err := s.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 { // an existing key publishes nothing
			if _, _, err := s.Create(ctx, "before"); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	for w := range got {
		if !slices.Equal(got[w], want) {
			t.Errorf("watcher %d saw %d events (first %v), want %d in order", w, len(got[w]), head(got[w]), n)
		}
	}
}

func head(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

func TestHandler(t *testing.T) {
	srv := redistest.Start(t)
	s := items.NewStore(srv.Client(t))
	mux := http.NewServeMux()
	mux.Handle(items.Prefix, s.Handler()) // as the listener mounts it
	ts := httptest.NewServer(mux)
	defer ts.Close()

	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s %s: body not JSON: %v", method, path, err)
		}
		return resp.StatusCode, m
	}

	code, m := do("POST", "/internal/items/", `{"item":{"key":"ns/x"}}`)
	if code != 201 || m["status"] != "created" {
		t.Fatalf("create: %d %v", code, m)
	}
	item := m["item"].(map[string]any)
	if item["key"] != "ns/x" || item["reconciles"] != 0.0 || item["reconciled_by"] != nil || item["reconciled_at"] != nil || item["reconcilers"] != nil {
		t.Fatalf("created item JSON = %v", item)
	}
	if _, err := time.Parse(time.RFC3339Nano, item["created_at"].(string)); err != nil {
		t.Fatalf("created_at: %v", err)
	}
	if code, m := do("POST", "/internal/items/", `{"item":{"key":"ns/x"}}`); code != 200 || m["status"] != "found" {
		t.Fatalf("create again: %d %v", code, m)
	}

	if _, err := s.MarkReconciled(context.Background(), "ns/x", "controller-0", "c.q.00-of-03", time.Now()); err != nil {
		t.Fatal(err)
	}
	code, m = do("GET", "/internal/items/"+url.PathEscape("ns/x"), "")
	if code != 200 || m["status"] != "found" {
		t.Fatalf("get: %d %v", code, m)
	}
	item = m["item"].(map[string]any)
	if item["reconciled_by"] != "controller-0" || item["bucket"] != "c.q.00-of-03" || item["reconciles"] != 1.0 || fmt.Sprint(item["reconcilers"]) != "[controller-0]" {
		t.Fatalf("reconciled item JSON = %v", item)
	}
	if _, err := time.Parse(time.RFC3339Nano, item["reconciled_at"].(string)); err != nil {
		t.Fatalf("reconciled_at: %v", err)
	}
	// Unescaped slash works too.
	if code, _ := do("GET", "/internal/items/ns/x", ""); code != 200 {
		t.Fatalf("get with raw slash: %d", code)
	}

	code, m = do("GET", "/internal/items/nope", "")
	if code != 404 || m["status"] != "not_found" || m["error"] != "item not found" {
		t.Fatalf("get missing: %d %v", code, m)
	}

	for body, wantErr := range map[string]string{
		`not json`:               "not valid JSON",
		`{}`:                     "missing parameter 'item'",
		`{"item":{}}`:            "item.key",
		`{"item":{"key":""}}`:    "item.key is empty",
		`{"item":{"key":"a b"}}`: "item.key",
		`{"item":{"key":5}}`:     "not valid JSON",
	} {
		code, m := do("POST", "/internal/items/", body)
		if code != 400 || !strings.Contains(m["error"].(string), wantErr) {
			t.Errorf("POST %s: %d %v, want 400 mentioning %q", body, code, m, wantErr)
		}
	}
}

// BenchmarkCreateAndMark is the Redis cost of one item's life: the create
// script (hash, two sets, stream entry) and the mark script.
func BenchmarkCreateAndMark(b *testing.B) {
	srv := redistest.Start(b)
	s := items.NewStore(srv.Client(b))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := fmt.Sprintf("bench-%d", i)
		if _, _, err := s.Create(ctx, k); err != nil {
			b.Fatal(err)
		}
		if _, err := s.MarkReconciled(ctx, k, "p", "b", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
