package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/scenario"
)

// StatsFile records, in the result folder, what each generator of a Job
// load offered and achieved.
const StatsFile = "loadgen.json"

// jobRun is k6 as Jobs inside the cluster (clusters whose pods this machine
// cannot reach: kind, remote ones; or load.generators > 0): the generators
// start together, the script and its imports in a ConfigMap, samples
// tagged with the run's testid and remote-written to the run's Prometheus.
type jobRun struct {
	c          Config
	cluster    *Cluster
	rendered   *Rendered
	start      time.Time
	thresholds []Threshold
	// offered is the whole load's arrival-rate iterations (k6 inspect).
	offered  float64
	outcomes []Outcome
}

func startJobs(ctx context.Context, c Config) (*jobRun, error) {
	l := c.Load
	image := l.Image
	if image == "" {
		cache := filepath.Join(os.TempDir(), "perfrun-images")
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return nil, err
		}
		built, err := BuildImage(c.K6, cache)
		if err != nil {
			return nil, err
		}
		if c.LoadImages == nil {
			return nil, errors.New("no image loader for the k6 image: set spec.load.image to use one from a registry")
		}
		if err := c.LoadImages(ctx, []string{built.Tarball}); err != nil {
			return nil, fmt.Errorf("loading the k6 image (set spec.load.image to use one from a registry): %w", err)
		}
		image = built.Ref
	}
	scriptPath := filepath.Join(c.Repo, l.Script)
	files, err := scriptFiles(filepath.Dir(scriptPath))
	if err != nil {
		return nil, err
	}
	env := c.scriptEnv()
	r := &jobRun{c: c, cluster: &Cluster{Kube: c.Kube, Logf: c.Logf}}
	if opts, err := Inspect(ctx, c.K6, filepath.Dir(scriptPath), filepath.Base(scriptPath), env); err == nil {
		r.offered, _, _ = opts.OfferedIterations()
		if ts, err := ParseThresholds(opts.Thresholds); err == nil {
			r.thresholds = ts
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
	r.rendered, err = Render(Spec{
		Namespace:      c.Namespace,
		TestID:         c.TestID,
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
		RemoteWriteURL: c.remoteWriteURL(),
		Deadline:       l.Duration.Duration + l.Timeout.Duration,
	})
	if err != nil {
		return nil, fmt.Errorf("rendering the k6 Job: %w", err)
	}
	if r.start, err = r.cluster.Start(ctx, r.rendered, l.Timeout.Duration); err != nil {
		return nil, fmt.Errorf("starting k6 in the cluster: %w", err)
	}
	return r, nil
}

func (r *jobRun) Image() string {
	return r.rendered.Generators[0].Job.Spec.Template.Spec.Containers[0].Image
}

func (r *jobRun) Started() time.Time { return r.start }

func (r *jobRun) Wait(ctx context.Context) error {
	out, err := r.cluster.Wait(ctx, r.rendered)
	r.outcomes = out
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

// Results judge the script's k6 thresholds over every generator at once
// from Prometheus (no summary file comes back from a pod), then each
// generator: finished, kept up with its share, dropped no iteration; the
// figures are printed and kept in loadgen.json, so that a run whose load
// fell short fails as such rather than being taken for the system's limit.
func (r *jobRun) Results(ctx context.Context, q assertions.Querier, end time.Time) []assertions.Result {
	var out []assertions.Result
	if *r.c.Load.Thresholds && len(r.thresholds) > 0 {
		agg := &Aggregator{Q: q, TestID: r.c.TestID, Start: r.start, End: end}
		out = append(out, agg.Evaluate(ctx, r.thresholds)...)
	}
	if r.outcomes == nil { // Wait never returned: nothing to judge the generators by
		return out
	}
	stats, err := Stats(ctx, q, r.c.TestID, r.start, end, r.rendered, r.outcomes, r.offered)
	if err != nil {
		return append(out, assertions.Result{Name: "load-generators", Kind: KindGenerator, Op: "==",
			Status: assertions.Error, Error: err.Error()})
	}
	for _, s := range stats {
		var flags []string
		if s.Outcome.Failed {
			flags = append(flags, "FAILED "+s.Outcome.Reason)
		}
		if s.Lagging {
			flags = append(flags, "LAGGING")
		}
		if s.Starved {
			flags = append(flags, "STARVED: dropped iterations, the generator limited the load")
		}
		r.c.logf("generator %d %-9s offered %7.1f/s achieved %7.1f/s dropped %.0f %s", s.Index, s.Segment,
			s.OfferedRate, s.AchievedRate, s.Dropped, strings.Join(flags, ", "))
	}
	if b, err := json.MarshalIndent(map[string]any{"offeredIterations": r.offered, "generators": stats}, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(r.c.Dir, StatsFile), b, 0o644)
	}
	return append(out, Judge(stats)...)
}

// Count reads the counter k6 remote-wrote.
func (r *jobRun) Count(ctx context.Context, q assertions.Querier, metric string, at time.Time) (float64, error) {
	return promCount(ctx, q, r.c.TestID, metric, r.start, at)
}

// promCount is a k6 counter's total over every generator of the run, from
// its remote-written series (k6_NAME_total), tags as labels.
func promCount(ctx context.Context, q assertions.Querier, testID, metric string, start, at time.Time) (float64, error) {
	name, tags, _ := strings.Cut(strings.TrimSuffix(metric, "}"), "{")
	sel := []string{fmt.Sprintf("testid=%q", testID)}
	if tags != "" {
		for _, kv := range strings.Split(tags, ",") {
			k, v, _ := strings.Cut(kv, ":")
			sel = append(sel, fmt.Sprintf("%s=%q", strings.TrimSpace(k), strings.TrimSpace(v)))
		}
	}
	win := scenario.PromDuration(at.Sub(start) + time.Minute)
	query := fmt.Sprintf("sum(last_over_time(k6_%s_total{%s}[%s]))", name, strings.Join(sel, ","), win)
	v, ok, err := collectors.Scalar(ctx, q, query, at)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("no k6 samples for %s", query)
	}
	return v, nil
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
