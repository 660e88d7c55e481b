package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/deploy"
)

// Files k6 here writes into the result folder.
const (
	SummaryFile = "k6-summary.json"
	LogFile     = "k6.log"
)

// localRun is one k6 process on this machine, aimed at the target
// Service's cluster IP and remote-writing to the run's Prometheus.
type localRun struct {
	c       Config
	start   time.Time
	cmd     *exec.Cmd
	kctx    context.Context
	cancel  context.CancelFunc
	logf    *os.File
	limit   time.Duration
	summary *collectors.K6Summary
	sumErr  error
}

func startLocal(ctx context.Context, c Config) (*localRun, error) {
	l := c.Load
	own := map[string]string{"DURATION": k6Duration(l.Duration.Duration), "NAMESPACE": c.Namespace, "TESTID": c.TestID}
	if l.Target.Kubernetes {
		// An object load: the script creates objects through the API server
		// with the run's kubeconfig (backend.kube).
		if c.Kubeconfig == "" {
			return nil, errors.New("spec.load.target.kubernetes: the cluster gave no kubeconfig")
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", c.Kubeconfig, err)
		}
		own["TARGETS"], own["KUBECONFIG"] = cfg.Host, c.Kubeconfig
	} else {
		target, err := deploy.ServiceURL(ctx, c.Kube, c.Namespace, l.Target)
		if err != nil {
			return nil, err
		}
		// The first connection k6 makes must not race kube-proxy.
		if err := deploy.WaitDial(ctx, strings.TrimPrefix(target, "http://"), 30*time.Second); err != nil {
			return nil, fmt.Errorf("load target: %w", err)
		}
		own["TARGETS"] = target
	}
	inv := invocation{testID: c.TestID, remoteWrite: true, env: c.scriptEnv(),
		own:    own,
		flags:  []string{"--summary-export", filepath.Join(c.Dir, SummaryFile), "--summary-trend-stats", summaryTrendStats},
		script: filepath.Join(c.Repo, l.Script)}
	logf, err := os.Create(filepath.Join(c.Dir, LogFile))
	if err != nil {
		return nil, err
	}
	r := &localRun{c: c, logf: logf, limit: l.Duration.Duration + l.Timeout.Duration}
	r.kctx, r.cancel = context.WithTimeout(ctx, r.limit)
	cmd := exec.CommandContext(r.kctx, c.K6, inv.args()...)
	cmd.Dir = c.Repo
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	env := k6Environ(c.remoteWriteURL(), true)
	for k, v := range maps.All(env) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// k6 stops gracefully on SIGTERM (its summary still written); it is
	// killed if it lingers.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r.cmd = cmd
	r.start = time.Now()
	if err := cmd.Start(); err != nil {
		r.cancel()
		logf.Close()
		return nil, fmt.Errorf("starting k6: %w", err)
	}
	return r, nil
}

func (r *localRun) Started() time.Time { return r.start }

func (r *localRun) Image() string { return "" }

func (r *localRun) Wait(context.Context) error {
	defer r.cancel()
	defer r.logf.Close()
	werr := r.cmd.Wait()
	r.summary, r.sumErr = collectors.ReadK6Summary(filepath.Join(r.c.Dir, SummaryFile))
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return nil
	case errors.As(werr, &ee) && ee.ExitCode() == ExitThresholds:
		return nil // thresholds crossed: Results reports them
	case r.kctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("k6 ran past %s (duration + load.timeout); see %s", r.limit, LogFile)
	default:
		return fmt.Errorf("k6: %w; see %s", werr, filepath.Join(r.c.Dir, LogFile))
	}
}

// Results are k6's thresholds as its summary judged them.
func (r *localRun) Results(context.Context, assertions.Querier, time.Time) []assertions.Result {
	if !*r.c.Load.Thresholds || r.summary == nil {
		return nil
	}
	var out []assertions.Result
	for _, t := range r.summary.Thresholds() {
		th, err := ParseThreshold(t.Metric, t.Expr)
		if err != nil { // k6 accepted it, so it is one we cannot read: keep k6's verdict
			out = append(out, assertions.K6ThresholdCrossed(t.Metric, t.Expr, t.Failed))
			continue
		}
		out = append(out, ThresholdResult(th, t.Failed, r.summary.Metrics[t.Metric].Values))
	}
	return out
}

// Count reads the counter from k6's summary: with its tags if the summary
// has that sub-metric, else the whole counter.
// Without a summary (k6 did not get to write it) it is read from what k6
// remote-wrote.
func (r *localRun) Count(ctx context.Context, q assertions.Querier, metric string, at time.Time) (float64, error) {
	if r.summary == nil {
		v, err := promCount(ctx, q, r.c.TestID, metric, r.start, at)
		if err != nil {
			return 0, fmt.Errorf("%w (and %w)", r.sumErr, err)
		}
		return v, nil
	}
	if v, ok := r.summary.Count(metric); ok {
		return v, nil
	}
	base, _, _ := strings.Cut(metric, "{")
	if v, ok := r.summary.Count(base); ok {
		return v, nil
	}
	return 0, fmt.Errorf("k6 summary has no counter %s", metric)
}
