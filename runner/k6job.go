package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/loadgen"
	"github.com/perfrun/perfrun/scenario"
)

// jobLoad runs k6 as Jobs inside the cluster (clusters whose pods this
// machine cannot reach: kind, remote ones; or load.generators > 0), through
// loadgen: the generators start together, the script and its imports in a ConfigMap, samples tagged with
// the run's testid and remote-written to the run's Prometheus. It returns
// when k6 started; wait blocks until it ended.
func (r *runState) jobLoad(ctx context.Context) (start time.Time, wait func(context.Context) error, err error) {
	l := r.s.Spec.Load
	image := l.Image
	if image == "" {
		cache := filepath.Join(os.TempDir(), "perfrun-images")
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return time.Time{}, nil, err
		}
		built, err := loadgen.BuildImage(r.opts.K6, cache)
		if err != nil {
			return time.Time{}, nil, err
		}
		if err := r.provider.LoadImages(ctx, []string{built.Tarball}); err != nil {
			return time.Time{}, nil, fmt.Errorf("loading the k6 image (set spec.load.image to use one from a registry): %w", err)
		}
		image = built.Ref
	}
	r.res.Versions["k6-image"] = image
	scriptPath := filepath.Join(r.opts.Repo, l.Script)
	files, err := scriptFiles(filepath.Dir(scriptPath))
	if err != nil {
		return time.Time{}, nil, err
	}
	env := r.k6Env()
	var offered float64
	if opts, err := loadgen.Inspect(ctx, r.opts.K6, filepath.Dir(scriptPath), filepath.Base(scriptPath), env); err == nil {
		offered, _, _ = opts.OfferedIterations()
		if ts, err := loadgen.ParseThresholds(opts.Thresholds); err == nil {
			r.jobThresholds = ts
		}
	}
	gens, keys, cpu, provision := 1, 0, "", ""
	if l.Generators > 0 {
		gens = l.Generators
		keys, _ = strconv.Atoi(env["APPS"])
		if d := l.Distributed; d != nil {
			if d.KeySpace != nil {
				keys = *d.KeySpace
			}
			cpu = d.CPU
			if d.Provision != "" {
				provision = filepath.Base(d.Provision)
			}
		}
	}
	rendered, err := loadgen.Render(loadgen.Spec{
		Namespace:      r.ns,
		TestID:         r.res.TestID,
		Image:          image,
		Script:         filepath.Base(scriptPath),
		Files:          files,
		Targets:        fmt.Sprintf("http://%s:%d", l.Target.Service, l.Target.Port),
		Duration:       l.Duration.Duration,
		Env:            env,
		Generators:     gens,
		Keys:           keys,
		CPU:            cpu,
		Provision:      provision,
		RemoteWriteURL: strings.TrimSuffix(r.access.PrometheusURL, "/") + "/api/v1/write",
		Deadline:       l.Duration.Duration + l.Timeout.Duration,
	})
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("rendering the k6 Job: %w", err)
	}
	lc := &loadgen.Cluster{Kube: r.kube, Logf: r.p.Linef}
	start, err = lc.Start(ctx, rendered, l.Timeout.Duration)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("starting k6 in the cluster: %w", err)
	}
	wait = func(ctx context.Context) error {
		out, err := lc.Wait(ctx, rendered)
		r.gens = &generatorRun{rendered: rendered, outcomes: out, offered: offered}
		if err != nil {
			return fmt.Errorf("waiting for k6 in the cluster: %w", err)
		}
		var failed []string
		for _, o := range out {
			if o.Failed {
				failed = append(failed, fmt.Sprintf("generator %d: %s", o.Index, o.Reason))
			}
		}
		if len(failed) > 0 {
			return errors.New(strings.Join(failed, "; "))
		}
		return nil
	}
	return start, wait, nil
}

// scriptFiles reads the scripts beside the load script (it imports them).
func scriptFiles(dir string) (map[string]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.js"))
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			return nil, fmt.Errorf("reading load script: %w", err)
		}
		files[filepath.Base(m)] = string(b)
	}
	return files, nil
}

// k6Env is what every k6 of the run gets with -e.
func (r *runState) k6Env() map[string]string {
	l := r.s.Spec.Load
	env := map[string]string{"DURATION": l.Duration.String(), "RUN_ID": r.res.RunID}
	for k, v := range l.Env {
		env[k] = v
	}
	return env
}

// jobThresholdResults judges the k6 thresholds of a Job load from
// Prometheus (no summary file comes back from a pod).
func (r *runState) jobThresholdResults(ctx context.Context) []assertions.Result {
	if len(r.jobThresholds) == 0 {
		return nil
	}
	agg := &loadgen.Aggregator{Q: r.prom, TestID: r.res.TestID, Start: r.res.LoadStart, End: r.res.LoadEnd}
	return agg.Evaluate(ctx, r.jobThresholds)
}

// acceptedFromPrometheus reads k6's accepted hits from its remote-written
// counter when there is no summary file (Job load).
func (r *runState) acceptedFromPrometheus(ctx context.Context, n *scenario.NoLoss) (float64, error) {
	name, tags, _ := strings.Cut(strings.TrimSuffix(n.K6Metric, "}"), "{")
	sel := []string{fmt.Sprintf("testid=%q", r.res.TestID)}
	if tags != "" {
		for _, kv := range strings.Split(tags, ",") {
			k, v, _ := strings.Cut(kv, ":")
			sel = append(sel, fmt.Sprintf("%s=%q", strings.TrimSpace(k), strings.TrimSpace(v)))
		}
	}
	win := scenario.PromDuration(r.res.Drained.Sub(r.res.LoadStart) + time.Minute)
	q := fmt.Sprintf("sum(last_over_time(k6_%s_total{%s}[%s]))", name, strings.Join(sel, ","), win)
	v, ok, err := collectors.Scalar(ctx, r.prom, q, r.res.Drained)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("no k6 samples for %s", q)
	}
	return v, nil
}
