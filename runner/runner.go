// Package runner is perfrun's main job: one scenario, start to end.
// validate → cluster → deploy and wait Ready → load with the chaos
// timeline → drain → evaluate → write results → tear down. Teardown and
// the result folder happen on every path out, Ctrl-C and failures included.
package runner

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/chaos"
	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/loadgen"
	"github.com/perfrun/perfrun/report"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/systems"
)

// Options are a run's settings beside the scenario.
type Options struct {
	// Repo is the repository root the scenario's paths are relative to.
	Repo string
	// ResultsDir receives the run's folder (ResultsDir/NAME-RUNID).
	ResultsDir string
	// K6 is the k6 binary built with the extension (bin/k6).
	K6 string
	// ScenarioFile is recorded in the result.
	ScenarioFile string
	// Vars are the --set values the scenario was loaded with; the result
	// records the file's references as they resolved (inputs.go).
	Vars map[string]string
	// Keep leaves the namespace in place after the run, for debugging.
	Keep bool
	// Progress receives progress lines.
	Progress *Progress
	// TeardownTimeout bounds teardown (default 2m).
	TeardownTimeout time.Duration
	// CacheDir keeps the programs a third-party system or kwok is built
	// into between runs (default $PERFRUN_CACHE or ~/.cache/perfrun).
	CacheDir string
	// Started, when set, is told the run's namespace and result folder
	// before anything is deployed: the CLI names them if it has to exit
	// without tearing down (a second Ctrl-C).
	Started func(namespace, dir string)
}

// NewRunID is a short random id for namespaces and k6's testid.
func NewRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run carries out a validated scenario and returns its result, already
// written to its folder (Dir says where). The error is a harness error;
// assertion failures are in the result's verdict.
func Run(ctx context.Context, s *scenario.Scenario, provider cluster.Provider, opts Options) (res *result.Run, dir string, err error) {
	runID := NewRunID()
	ns := s.Spec.System.Namespace
	if ns == "" {
		ns = fmt.Sprintf("perfrun-%s-%s", s.Metadata.Name, runID)
	}
	dir = filepath.Join(opts.ResultsDir, s.Metadata.Name+"-"+time.Now().UTC().Format("20060102T150405Z")+"-"+runID)
	p := opts.Progress
	if p == nil {
		p = NewProgress(io.Discard, ModeQuiet)
	}
	r := &runState{s: s, opts: opts, p: p, dir: dir, ns: ns, provider: provider,
		res: &result.Run{SchemaVersion: result.SchemaVersion, RunID: runID, ScenarioFile: opts.ScenarioFile, Scenario: s,
			Namespace: ns, TestID: runID, Started: time.Now(), Versions: map[string]string{}, Provider: provider.Name(),
			Inputs: inputsOf(opts)}}
	r.res.Versions["perfrun"] = r.res.Inputs.Perfrun
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("creating result folder: %w", err)
	}
	// Written before anything touches the cluster, so that the folder says
	// how far the run got whatever ends the process.
	r.enter(result.PhaseStart)
	if opts.Started != nil {
		opts.Started(ns, dir)
	}
	tornDown := false
	defer func() {
		// A panic still removes what the run made; the error path below
		// does it otherwise.
		if !tornDown {
			_ = r.tearDown()
		}
	}()
	err = r.run(ctx, provider)
	if ctx.Err() != nil {
		// Whatever the step made of the cancelled context (an error, or
		// assertions that could not be evaluated), say why: an interrupted
		// run is a harness error, never a verdict.
		err = fmt.Errorf("interrupted during %s: %w", r.res.Phase, cmp.Or(err, ctx.Err()))
	}
	tornDown = true
	terr := r.tearDown()
	r.finish(err, terr)
	return r.res, dir, runError(err, terr, r.res.Verdict)
}

// runError is what Run returns: the run's own error, else a teardown error
// when the run passed. The figures stand, but something of the run is left
// in the cluster: that is the harness failing (exit 1), not a pass. A
// failed run keeps its exit 3; its table and result.json name the
// teardown error.
func runError(err, teardownErr error, verdict string) error {
	if err == nil && teardownErr != nil && verdict == result.VerdictPass {
		return fmt.Errorf("teardown: %w (perfrun clean removes what is left)", teardownErr)
	}
	return err
}

type runState struct {
	s    *scenario.Scenario
	opts Options
	p    *Progress
	dir  string
	ns   string
	res  *result.Run

	kube      kubernetes.Interface
	dc        *deploy.Client
	chaosMesh bool // PodChaos is served: pod kills go through Chaos Mesh
	prom      v1.API
	access    *cluster.Access
	provider  cluster.Provider
	nsMade    bool

	// k6 is the run's load, however k6 was launched (nil before it started).
	k6 loadgen.Run
	// objw is the object and Lease watchers (objects.go).
	objw *objectWatch
	// src is what a third-party system put outside the namespace (source.go).
	src sourceState
	// pollScrapes is how often the scrape waits poll (scraped.go; 0: 500ms).
	pollScrapes time.Duration
}

// enter records that the run is in phase and rewrites result.json (no
// verdict yet), so that a run killed from here on says so. Entering the
// phase it is in does nothing.
func (r *runState) enter(phase string) {
	if r.res.Phase == phase {
		return
	}
	r.res.Phase = phase
	if err := result.Write(r.dir, r.res); err != nil {
		r.p.Linef("writing results (phase %s): %v", phase, err)
	}
}

// step runs one named, timed step; each step is a phase of the same name.
func (r *runState) step(name string, f func() error) error {
	r.enter(name)
	st := result.Step{Name: name, Start: time.Now()}
	r.p.Step(name)
	err := f()
	st.End = time.Now()
	st.Seconds = st.End.Sub(st.Start).Seconds()
	if err != nil {
		st.Error = err.Error()
	}
	r.res.Steps = append(r.res.Steps, st)
	r.p.StepDone(name, st.End.Sub(st.Start), err)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (r *runState) run(ctx context.Context, provider cluster.Provider) error {
	sp := r.s.Spec
	if err := r.step("cluster", func() error { return r.connect(ctx, provider) }); err != nil {
		return err
	}
	if err := r.step("deploy", func() error { return r.deploy(ctx) }); err != nil {
		return err
	}
	if err := r.watchObjects(ctx); err != nil {
		return err
	}
	loadErr := r.step("load", func() error { return r.load(ctx) })
	if ctx.Err() != nil {
		// k6 stopped by the interrupt may end without an error of its own.
		return cmp.Or(loadErr, ctx.Err())
	}
	r.res.Drained = r.res.LoadEnd
	if err := r.step("drain", func() error { return r.drain(ctx, sp.Drain) }); err != nil {
		return errors.Join(loadErr, err)
	}
	evalErr := r.step("evaluate", func() error { return r.evaluate(ctx) })
	return errors.Join(loadErr, evalErr)
}

func (r *runState) connect(ctx context.Context, provider cluster.Provider) error {
	acc, err := provider.Ensure(ctx, r.p.Writer())
	if err != nil {
		return fmt.Errorf("cluster %s: %w", provider.Name(), err)
	}
	r.access = acc
	cfg, err := clientcmd.BuildConfigFromFlags("", acc.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", acc.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := kube.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("reaching the API server: %w", err)
	}
	r.kube = kube
	// Pod kills go through Chaos Mesh when its CRDs are installed (kind
	// nightly), by a direct API delete otherwise (the local cluster).
	if r.chaosMesh, err = chaos.HasChaosMesh(kube.Discovery()); err != nil {
		return err
	}
	r.dc = &deploy.Client{Kube: kube, Dynamic: dyn,
		Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))}
	if acc.PrometheusURL == "" {
		return errors.New("the cluster has no Prometheus (Access.PrometheusURL); deploying fixtures/prometheus from a run is not supported yet")
	}
	pc, err := api.NewClient(api.Config{Address: acc.PrometheusURL})
	if err != nil {
		return fmt.Errorf("prometheus client: %w", err)
	}
	r.prom = v1.NewAPI(pc)
	if _, err := r.prom.Buildinfo(ctx); err != nil {
		return fmt.Errorf("reaching prometheus at %s: %w", acc.PrometheusURL, err)
	}
	return nil
}

func (r *runState) deploy(ctx context.Context) error {
	sys := r.s.Spec.System
	var (
		objs []*unstructured.Unstructured
		src  *systems.Rendered // a third-party system (source.go)
		err  error
	)
	if sys.Source != nil {
		if src, err = r.prepareSource(ctx); err != nil {
			return err
		}
		objs = src.Namespaced
	} else {
		if objs, err = deploy.Render(filepath.Join(r.opts.Repo, sys.Overlay)); err != nil {
			return err
		}
		if err := deploy.Customize(objs, sys.Components); err != nil {
			return err
		}
	}
	if err := r.ensureMetricsAPI(ctx, objs); err != nil {
		return err
	}
	for k, v := range deploy.Images(objs) {
		r.res.Versions[k] = v
	}
	if err := r.ensureImages(ctx, objs); err != nil {
		return err
	}
	r.res.Inputs.Components = componentsOf(objs)
	if err := r.dc.CreateNamespace(ctx, r.ns, r.res.RunID); err != nil {
		return err
	}
	r.nsMade = true
	r.p.Linef("namespace %s", r.ns)
	if src != nil {
		if err := r.installSource(ctx, src); err != nil {
			return err
		}
	}
	if err := r.dc.Apply(ctx, r.ns, objs); err != nil {
		return err
	}
	if err := r.dc.WaitReady(ctx, r.ns, deploy.Workloads(objs), sys.ReadyTimeout.Duration); err != nil {
		return err
	}
	if src != nil {
		if err := src.Source.WaitServing(ctx, r.dc, r.ns, sys.ReadyTimeout.Duration); err != nil {
			return err
		}
	}
	if err := r.dc.WaitEndpoints(ctx, r.ns, sys.ReadyTimeout.Duration); err != nil {
		return err
	}
	return r.waitScraped(ctx)
}

// secret reads a Secret of the run's namespace.
func (r *runState) secret(ctx context.Context, name string) (map[string][]byte, bool, error) {
	s, err := r.kube.CoreV1().Secrets(r.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return s.Data, true, nil
}

// serviceURL is a Service of the run's namespace as a URL.
func (r *runState) serviceURL(ctx context.Context, t scenario.Target) (string, error) {
	return deploy.ServiceURL(ctx, r.kube, r.ns, t)
}

func (r *runState) load(ctx context.Context) error {
	l := r.s.Spec.Load
	if v := loadgen.Version(ctx, r.opts.K6); v != "" {
		r.res.Versions["k6"] = v
	}
	k6, err := loadgen.Start(ctx, loadgen.Config{Load: l, K6: r.opts.K6, Repo: r.opts.Repo, Dir: r.dir, Namespace: r.ns,
		TestID: r.res.TestID, RunID: r.res.RunID, PrometheusURL: r.access.PrometheusURL, Kube: r.kube, Kubeconfig: r.access.Kubeconfig,
		PodsReachable: r.access.PodsReachable, LoadImages: r.provider.LoadImages, Logf: r.p.Linef})
	if err != nil {
		return err
	}
	r.k6 = k6
	if img := k6.Image(); img != "" {
		r.res.Versions["k6-image"] = img
	}
	start := k6.Started()
	r.res.LoadStart = start
	inj := &chaos.Injector{Client: r.kube, Dynamic: r.dc.Dynamic, ChaosMesh: r.chaosMesh, Namespace: r.ns, Seed: int64(start.UnixNano()),
		Repo: r.opts.Repo, System: r.s.Spec.System, Deploy: r.dc, PauseImage: pauseImage(r.provider),
		Upgraded: func(images map[string]string) {
			for k, v := range images {
				r.res.Versions["upgraded:"+k] = v
			}
		}}
	chaosDone := make(chan []result.Event, 1)
	cctx, stopChaos := context.WithCancel(ctx)
	go func() {
		chaosDone <- chaos.Timeline(cctx, clock.RealClock{}, start, r.s.Spec.Chaos, inj.Do, r.p.Chaos)
	}()
	stopLive := r.p.Live(ctx, r.prom, r.s.Spec.System.Metrics, r.ns, r.res.TestID, start, l.Duration.Duration)
	werr := k6.Wait(ctx)
	r.res.LoadEnd = time.Now()
	stopLive()
	stopChaos()
	r.res.Chaos = <-chaosDone
	if werr != nil {
		return werr
	}
	for _, ev := range r.res.Chaos {
		if ev.Error != "" {
			return fmt.Errorf("chaos action %s: %s", ev.Name, ev.Error)
		}
	}
	return nil
}

func (r *runState) drain(ctx context.Context, d scenario.Drain) error {
	if d.Query != "" {
		q, err := scenario.Expand(d.Query, r.window())
		if err != nil {
			return err
		}
		w, err := collectors.WaitZero(ctx, r.prom, q, d.Timeout.Duration, d.Stall.Duration, 2*time.Second)
		if err != nil {
			return fmt.Errorf("spec.drain.query: %w", err)
		}
		r.res.Drained = w.At
		switch {
		case w.Stalled:
			r.p.Linef("drain: %s stayed at %g for %s (nothing is draining it); evaluating anyway", q, w.Last, d.Stall)
		case !w.Zero:
			r.p.Linef("drain: %s did not reach 0 within %s (last %g); evaluating anyway", q, d.Timeout, w.Last)
		}
	}
	if d.Query != "" {
		// The queue is empty: what is left is for Prometheus to scrape
		// every pod once more, so that the final counters are in.
		return r.waitLastScrape(ctx, r.res.Drained, d.Settle.Duration)
	}
	// Without a query nothing says the system is done (a controller still
	// finishing the objects the load made): the whole settle is its time.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d.Settle.Duration):
	}
	r.res.Drained = time.Now()
	return nil
}

func (r *runState) window() scenario.Window {
	return scenario.Window{Start: r.res.LoadStart, End: r.res.LoadEnd, Drained: r.res.Drained, Namespace: r.ns,
		TestID: r.res.TestID, Chaos: chaos.Windows(r.res.Chaos)}
}

func (r *runState) evaluate(ctx context.Context) error {
	w := r.window()
	env := &assertions.Env{Q: r.prom, Window: w, Metrics: r.s.Spec.System.Metrics, ServiceURL: r.serviceURL, Secret: r.secret,
		K6Count: func(ctx context.Context, metric string) (float64, error) {
			if r.k6 == nil {
				return 0, errors.New("k6 never started")
			}
			return r.k6.Count(ctx, r.prom, metric, r.res.Drained)
		}}
	r.objectsEnv(env)
	env.PodsCPU = func(ctx context.Context, workloads []string) ([]assertions.PodCPU, error) {
		return podsCPU(ctx, r.kube, r.ns, workloads)
	}
	results := assertions.Evaluate(ctx, env, r.s.Spec.Assertions)
	// The report's plots: throughput, latency, per-pod series, queue depth.
	report.Collect(ctx, r.prom, r.res, w, 0)
	if r.k6 != nil {
		results = append(results, r.k6.Results(ctx, r.prom, r.res.LoadEnd)...)
	}
	r.res.Assertions = results
	return nil
}

// tearDown stops what the run started, with its own context: a Ctrl-C
// must not stop the cleanup of what it interrupted. Its error is what it
// could not remove.
func (r *runState) tearDown() error {
	r.stopObjects()
	if !r.nsMade {
		return nil
	}
	r.enter(result.PhaseTeardown)
	timeout := r.opts.TeardownTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.savePodLogs(ctx)
	if r.opts.Keep {
		r.p.Linef("keeping namespace %s (--keep)", r.ns)
		return nil
	}
	var err error
	_ = r.step("teardown", func() error {
		err = errors.Join(r.dc.StopNamespace(ctx, r.ns, timeout), r.tearDownSource(ctx))
		return err
	})
	return err
}

// savePodLogs records the containers that restarted and keeps their
// previous logs.
func (r *runState) savePodLogs(ctx context.Context) {
	pods, err := r.kube.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	// Best effort: without the events a restart is still recorded.
	var events []corev1.Event
	if list, err := r.kube.CoreV1().Events(r.ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=Killing"}); err == nil {
		events = list.Items
	}
	r.res.Restarts = restartsOf(pods.Items, events)
	if len(r.res.Restarts) == 0 {
		return
	}
	for _, rs := range r.res.Restarts {
		r.p.Linef("%s/%s restarted %d× (%slast exit: %s, %d); its previous log is in %s/", rs.Pod, rs.Container, rs.Count,
			cmp.Or(rs.Cause+"; ", ""), cmp.Or(rs.Reason, "unknown"), rs.ExitCode, result.PodLogsDir)
	}
	dir := filepath.Join(r.dir, result.PodLogsDir)
	_ = os.MkdirAll(dir, 0o755)
	for _, rs := range r.res.Restarts {
		b, err := r.kube.CoreV1().Pods(r.ns).GetLogs(rs.Pod, &corev1.PodLogOptions{Container: rs.Container, Previous: true}).DoRaw(ctx)
		if err == nil {
			_ = os.WriteFile(filepath.Join(dir, rs.Pod+"_"+rs.Container+".log"), b, 0o644)
		}
	}
}

// restartsOf lists the containers of pods that restarted, in pod order,
// each with the cause the kubelet gave in its newest Killing event.
func restartsOf(pods []corev1.Pod, events []corev1.Event) []result.Restart {
	var out []result.Restart
	for _, p := range pods {
		for _, st := range p.Status.ContainerStatuses {
			if st.RestartCount == 0 {
				continue
			}
			rs := result.Restart{Pod: p.Name, Container: st.Name, Count: st.RestartCount}
			if t := st.LastTerminationState.Terminated; t != nil {
				rs.Reason, rs.ExitCode = t.Reason, t.ExitCode
			}
			rs.Cause = killCause(events, p.Name, st.Name)
			out = append(out, rs)
		}
	}
	return out
}

// killCause is the message of the newest Killing event for the pod's
// container. The kubelet names the container in the event's field path.
func killCause(events []corev1.Event, pod, container string) string {
	var newest *corev1.Event
	for i := range events {
		e := &events[i]
		if e.Reason != "Killing" || e.InvolvedObject.Name != pod || e.InvolvedObject.FieldPath != "spec.containers{"+container+"}" {
			continue
		}
		if newest == nil || eventTime(e).After(eventTime(newest)) {
			newest = e
		}
	}
	if newest == nil {
		return ""
	}
	return newest.Message
}

// eventTime is when an event last happened, whichever API wrote it.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// finish decides the verdict and writes the result folder, complete.
// A teardown error is recorded beside the verdict, which it does not
// change (the figures were taken before).
func (r *runState) finish(err, teardownErr error) {
	r.res.Finished = time.Now()
	if err != nil {
		r.res.Error = err.Error()
	}
	if teardownErr != nil {
		r.res.TeardownError = teardownErr.Error()
	}
	r.res.Decide()
	r.res.Phase, r.res.Complete = result.PhaseDone, true
	if werr := result.Write(r.dir, r.res); werr != nil {
		r.p.Linef("writing results: %v", werr)
	}
	if werr := report.Write(r.dir, r.res); werr != nil {
		r.p.Linef("writing report: %v", werr)
	}
}

// pauseImage is the provider's pod sandbox image, "" for chaos's default.
func pauseImage(p cluster.Provider) string {
	if pi, ok := p.(cluster.PauseImager); ok {
		return pi.PauseImage()
	}
	return ""
}
