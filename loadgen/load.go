package loadgen

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/scenario"
)

// Config is what a run's load needs beside the scenario's spec.load.
type Config struct {
	Load scenario.Load
	// K6 is the k6 binary built with the extension (bin/k6); Jobs run an
	// image made from it.
	K6 string
	// Repo is the root the scenario's paths are relative to.
	Repo string
	// Dir is the run's result folder: k6-summary.json, k6.log, loadgen.json.
	Dir       string
	Namespace string
	// TestID tags every sample; RunID is the scripts' default RUN_ID.
	TestID, RunID string
	// PrometheusURL is the run's Prometheus, which takes k6's remote write.
	PrometheusURL string
	Kube          kubernetes.Interface
	// Kubeconfig is the cluster's, given to an object load's script
	// (spec.load.target.kubernetes) as KUBECONFIG.
	Kubeconfig string
	// PodsReachable says pods and ClusterIPs are routable from here, so that
	// load.runner auto runs one k6 here instead of a Job.
	PodsReachable bool
	// LoadImages makes the k6 image tarball available to the nodes (the
	// cluster provider's), for Jobs without spec.load.image.
	LoadImages func(ctx context.Context, tarballs []string) error
	// Logf receives progress (optional).
	Logf func(format string, args ...any)
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Run is a started load, here or in the cluster: what the runner needs of
// it, whichever way k6 was launched.
type Run interface {
	// Started is when the load began (k6 started, or the generators resumed).
	Started() time.Time
	// Wait blocks until k6 has ended. Crossed k6 thresholds are not an
	// error: Results reports them.
	Wait(ctx context.Context) error
	// Results are the load's own verdicts: k6's thresholds (from the
	// summary, or judged over every generator from Prometheus) and, for
	// Jobs, whether each generator kept up. end is the end of the load.
	Results(ctx context.Context, q assertions.Querier, end time.Time) []assertions.Result
	// Count is the total of a k6 counter over the run, read at at: name as
	// in the script (backend_hits_accepted), optionally with tags
	// (backend_hits_accepted{metric:hits}).
	Count(ctx context.Context, q assertions.Querier, metric string, at time.Time) (float64, error)
	// Image is the k6 image of Jobs (empty for k6 here).
	Image() string
}

// Start starts the load of c.Load: one k6 here when load.runner is local
// (or auto with pods reachable and no generators), else Jobs. It returns
// once the load has begun.
func Start(ctx context.Context, c Config) (Run, error) {
	if c.Local() {
		return startLocal(ctx, c)
	}
	c.logf("k6 runs as a Job in the cluster (pods are not reachable from here, or load.runner: job, or load.generators)")
	return startJobs(ctx, c)
}

// Local says whether k6 runs here.
func (c Config) Local() bool {
	l := c.Load
	return l.Generators == 0 && (l.Runner == scenario.RunnerLocal || (l.Runner == scenario.RunnerAuto && c.PodsReachable))
}

// Version is what `k6 version` prints (empty when it cannot run).
func Version(ctx context.Context, k6 string) string {
	out, err := exec.CommandContext(ctx, k6, "version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// scriptEnv is the scripts' -e: the harness's defaults under the
// scenario's spec.load.env.
func (c Config) scriptEnv() map[string]string {
	env := map[string]string{"RUN_ID": c.RunID}
	for k, v := range c.Load.Env {
		env[k] = v
	}
	return env
}

// remoteWriteURL is the run's Prometheus remote-write endpoint.
func (c Config) remoteWriteURL() string {
	return strings.TrimSuffix(c.PrometheusURL, "/") + "/api/v1/write"
}
