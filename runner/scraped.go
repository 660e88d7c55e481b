package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/perfrun/perfrun/collectors"
)

// scrapeWait bounds how long the deploy waits for Prometheus's first
// scrapes: two intervals of the local cluster's 5 s and its discovery, with
// room for a slower Prometheus. Past it the run goes on and says which
// pods were not scraped: a Prometheus that does not honour the
// annotations must not hold every run.
const scrapeWait = 30 * time.Second

// waitScraped ends the deploy when Prometheus has scraped every running pod
// of the run that asks to be scraped (prometheus.io/scrape: "true") at least
// twice. Without it the load starts before Prometheus has discovered the new
// pods: the first seconds of the load have no samples, and a rate needs two,
// so the throughput plot and the first window of every rate began 7–15 s
// into the load.
func (r *runState) waitScraped(ctx context.Context) error {
	start := time.Now()
	announced := false
	pods, missing, err := r.untilScraped(ctx, start.Add(scrapeWait), func(ctx context.Context, pods []string) ([]string, error) {
		if !announced {
			r.p.Linef("waiting for Prometheus to scrape %d pods twice", len(pods))
			announced = true
		}
		n, err := collectors.Scrapes(ctx, r.prom, r.ns, 2*time.Minute, time.Now())
		if err != nil {
			return nil, fmt.Errorf("reading the pods' scrapes from prometheus: %w", err)
		}
		var missing []string
		for _, p := range pods {
			if n[p] < 2 {
				missing = append(missing, p)
			}
		}
		return missing, nil
	})
	switch {
	case err != nil || len(pods) == 0:
		return err
	case len(missing) == 0:
		r.p.Linef("prometheus has scraped every pod twice (%s)", time.Since(start).Round(100*time.Millisecond))
	default:
		r.p.Linef("prometheus has not scraped %s twice within %s (does it scrape pods by their prometheus.io annotations?): the first seconds of their series will be missing",
			strings.Join(missing, ", "), scrapeWait)
	}
	return nil
}

// untilScraped polls the run's pods that ask to be scraped, listed at every
// poll (a pod replaced meanwhile, a Deployment's new name, is waited for,
// the one it replaced is not), until pending names none of them or the
// deadline passes; it returns the pods and what was still pending. No such
// pods ends it at once.
func (r *runState) untilScraped(ctx context.Context, deadline time.Time, pending func(context.Context, []string) ([]string, error)) (pods, left []string, err error) {
	for {
		if pods, err = scrapedPods(ctx, r.kube, r.ns); err != nil || len(pods) == 0 {
			return pods, nil, err
		}
		if left, err = pending(ctx, pods); err != nil || len(left) == 0 || !time.Now().Before(deadline) {
			return pods, left, err
		}
		select {
		case <-ctx.Done():
			return pods, left, ctx.Err()
		case <-time.After(r.scrapePoll()):
		}
	}
}

// scrapePoll is how often the scrape waits ask Prometheus.
func (r *runState) scrapePoll() time.Duration {
	if r.pollScrapes > 0 {
		return r.pollScrapes
	}
	return 500 * time.Millisecond
}

// scrapedPods names the running pods of ns that ask to be scraped.
func scrapedPods(ctx context.Context, kube kubernetes.Interface, ns string) ([]string, error) {
	list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	var out []string
	for _, p := range list.Items {
		if p.Annotations["prometheus.io/scrape"] == "true" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitLastScrape waits, at most settle, until Prometheus has scraped every
// running pod that asks to be scraped after since (and a second more, for
// work that was in flight when the drain query read 0): the drain ends
// (Drained, the `@ {{.drained}}` of every assertion) when the final
// counters are in, not at a fixed pause after the queue read empty. A run
// with no such pods waits the whole settle, as before.
func (r *runState) waitLastScrape(ctx context.Context, since time.Time, settle time.Duration) error {
	deadline := time.Now().Add(settle)
	after := since.Add(time.Second)
	pods, left, err := r.untilScraped(ctx, deadline, func(ctx context.Context, pods []string) ([]string, error) {
		last, err := collectors.LastScrapes(ctx, r.prom, r.ns, time.Now())
		if err != nil {
			return nil, fmt.Errorf("reading the pods' last scrapes from prometheus: %w", err)
		}
		var left []string
		for _, p := range pods {
			if !last[p].After(after) {
				left = append(left, p)
			}
		}
		return left, nil
	})
	if err != nil {
		return err
	}
	switch {
	case len(pods) == 0:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(deadline)):
		}
	case len(left) > 0:
		r.p.Linef("drain: %d of %d pods not scraped again within the settle (%s); evaluating anyway", len(left), len(pods), settle)
	}
	r.res.Drained = time.Now()
	return nil
}
