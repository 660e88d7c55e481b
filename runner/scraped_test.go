package runner

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/perfrun/perfrun/result"
)

// scrapeProm answers the scrape waits' queries from per-pod tables the
// test moves; every other method of v1.API is unused.
type scrapeProm struct {
	v1.API
	mu     sync.Mutex
	counts map[string]int       // Scrapes
	last   map[string]time.Time // LastScrapes
}

func (p *scrapeProm) Query(_ context.Context, q string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var vec model.Vector
	if strings.Contains(q, "timestamp(") {
		for pod, t := range p.last {
			vec = append(vec, &model.Sample{Metric: model.Metric{"pod": model.LabelValue(pod)}, Value: model.SampleValue(float64(t.UnixMilli()) / 1000)})
		}
	} else {
		for pod, n := range p.counts {
			vec = append(vec, &model.Sample{Metric: model.Metric{"pod": model.LabelValue(pod)}, Value: model.SampleValue(n)})
		}
	}
	return vec, nil, nil, nil
}

func scrapedPod(name string, annotated bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if annotated {
		p.Annotations = map[string]string{"prometheus.io/scrape": "true"}
	}
	return p
}

// TestWaitScraped: the deploy's wait ends when every annotated running pod
// has two scrapes, follows a pod replaced while it waits, and ignores pods
// that do not ask to be scraped.
func TestWaitScraped(t *testing.T) {
	kube := fake.NewSimpleClientset(scrapedPod("a", true), scrapedPod("b", true), scrapedPod("quiet", false))
	prom := &scrapeProm{counts: map[string]int{"a": 2, "b": 1}}
	r := &runState{ns: "ns", kube: kube, prom: prom, p: NewProgress(io.Discard, ModeQuiet), res: &result.Run{}, pollScrapes: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- r.waitScraped(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("the wait ended (%v) while b had one scrape", err)
	case <-time.After(100 * time.Millisecond):
	}
	// b is replaced by c: c is waited for, b no longer.
	ctx := context.Background()
	if err := kube.CoreV1().Pods("ns").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Pods("ns").Create(ctx, scrapedPod("c", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	prom.mu.Lock()
	prom.counts["c"] = 1
	prom.mu.Unlock()
	select {
	case err := <-done:
		t.Fatalf("the wait ended (%v) while c had one scrape", err)
	case <-time.After(100 * time.Millisecond):
	}
	prom.mu.Lock()
	prom.counts["c"] = 2
	prom.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the wait did not end once every pod had two scrapes")
	}
}

// TestWaitLastScrape: the drain ends, and Drained is set, once every pod
// has been scraped more than a second after the queue read empty; a pod
// that never is holds it to the settle, not longer.
func TestWaitLastScrape(t *testing.T) {
	kube := fake.NewSimpleClientset(scrapedPod("a", true), scrapedPod("b", true))
	since := time.Now()
	prom := &scrapeProm{last: map[string]time.Time{"a": since.Add(1500 * time.Millisecond), "b": since.Add(500 * time.Millisecond)}}
	r := &runState{ns: "ns", kube: kube, prom: prom, p: NewProgress(io.Discard, ModeQuiet), res: &result.Run{Drained: since}, pollScrapes: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- r.waitLastScrape(context.Background(), since, 5*time.Second) }()
	select {
	case err := <-done:
		t.Fatalf("the drain ended (%v) before b was scraped after the queue emptied", err)
	case <-time.After(100 * time.Millisecond):
	}
	prom.mu.Lock()
	prom.last["b"] = since.Add(1200 * time.Millisecond)
	prom.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the drain did not end once every pod was scraped again")
	}
	if !r.res.Drained.After(since) {
		t.Errorf("Drained %v not moved past the queue's empty read %v", r.res.Drained, since)
	}

	// A pod never scraped again: the settle bounds the wait.
	prom.mu.Lock()
	prom.last["b"] = since
	prom.mu.Unlock()
	began := time.Now()
	if err := r.waitLastScrape(context.Background(), since, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the drain waited %s for a pod never scraped, settle 200ms", took)
	}
}
