package runner

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/cluster/kubeconfig"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

type failingProvider struct{ calls int }

func (f *failingProvider) Name() string { return "failing" }
func (f *failingProvider) Ensure(context.Context, io.Writer) (*cluster.Access, error) {
	f.calls++
	return nil, errors.New("no cluster here")
}
func (f *failingProvider) LoadImages(context.Context, []string) error { return nil }

func smoke(t *testing.T) *scenario.Scenario {
	s, err := scenario.LoadFile("../suites/scenarios/smoke.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A run whose cluster cannot be had still writes its result folder, with
// the error and verdict error, and deploys nothing.
func TestFailedRunWritesResults(t *testing.T) {
	p := &failingProvider{}
	res, dir, err := Run(context.Background(), smoke(t), p, Options{Repo: "..", ResultsDir: t.TempDir(), K6: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "cluster: cluster failing: no cluster here") {
		t.Fatalf("err = %v", err)
	}
	got, rerr := result.Read(filepath.Join(dir, result.ResultFile))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if got.Verdict != result.VerdictError || got.Error == "" || got.RunID != res.RunID {
		t.Errorf("result %+v", got)
	}
	if len(got.Steps) != 1 || got.Steps[0].Name != "cluster" || got.Steps[0].Error == "" {
		t.Errorf("steps %+v", got.Steps)
	}
	if !strings.HasPrefix(got.Namespace, "perfrun-smoke-") || got.Scenario.Metadata.Name != "smoke" {
		t.Errorf("namespace %q / scenario not recorded", got.Namespace)
	}
}

// An unreachable API server is a harness error after Ensure, still with results.
func TestUnreachableCluster(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	writeKubeconfig(t, kc, "https://127.0.0.1:1")
	p := &kubeconfig.Provider{Path: kc, PrometheusURL: "http://127.0.0.1:1"}
	_, dir, err := Run(context.Background(), smoke(t), p, Options{Repo: "..", ResultsDir: t.TempDir(), K6: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "reaching the API server") {
		t.Fatalf("err = %v", err)
	}
	if _, err := result.Read(filepath.Join(dir, result.ResultFile)); err != nil {
		t.Fatal(err)
	}
}

func TestPreflight(t *testing.T) {
	s := smoke(t)
	if err := Preflight(context.Background(), s, "..", "/bin/true"); err != nil {
		t.Fatalf("smoke preflight: %v", err)
	}
	s.Spec.Chaos[0].PodKill.Component = "nope"
	if err := Preflight(context.Background(), s, "..", "/bin/true"); err == nil || !strings.Contains(err.Error(), "spec.chaos[0].podKill.component") {
		t.Errorf("unknown component: %v", err)
	}
	s = smoke(t)
	many := 99
	s.Spec.Chaos[0].PodKill.Count = &many
	if err := Preflight(context.Background(), s, "..", "/bin/true"); err == nil || !strings.Contains(err.Error(), "spec.chaos[0].podKill.count: asks for 99 pods") {
		t.Errorf("count above replicas: %v", err)
	}
	s = smoke(t)
	if err := Preflight(context.Background(), s, "..", "/nonexistent/k6"); err == nil || !strings.Contains(err.Error(), "--k6") {
		t.Errorf("missing k6: %v", err)
	}
	// Validation alone needs no k6.
	if err := Preflight(context.Background(), s, "..", ""); err != nil {
		t.Errorf("preflight without k6: %v", err)
	}
	s = smoke(t)
	s.Spec.System.Metrics.AnswerLabels = "a b"
	if err := Preflight(context.Background(), s, "..", ""); err == nil || !strings.Contains(err.Error(), "spec.system.metrics: the report's errors query") {
		t.Errorf("report query: %v", err)
	}
}

// blockingProvider's Ensure hands the test a look at the result folder
// while the run is in its cluster phase, then fails.
type blockingProvider struct {
	dir  string
	seen *result.Run
	err  error
}

func (b *blockingProvider) Name() string { return "blocking" }
func (b *blockingProvider) Ensure(context.Context, io.Writer) (*cluster.Access, error) {
	b.seen, b.err = result.Read(filepath.Join(b.dir, result.ResultFile))
	return nil, errors.New("no cluster here")
}
func (b *blockingProvider) LoadImages(context.Context, []string) error { return nil }

// result.json is on disk before the cluster is touched and says which
// phase the run is in, with no verdict, until the run's last write makes
// it complete.
func TestResultSaysHowFarTheRunGot(t *testing.T) {
	p := &blockingProvider{}
	var startedNS string
	opts := Options{Repo: "..", ResultsDir: t.TempDir(), K6: "/bin/true",
		Started: func(ns, dir string) { startedNS, p.dir = ns, dir }}
	res, dir, err := Run(context.Background(), smoke(t), p, opts)
	if err == nil {
		t.Fatal("want the cluster's error")
	}
	if p.err != nil {
		t.Fatalf("result.json during the cluster phase: %v", p.err)
	}
	if p.seen.Phase != result.PhaseCluster || p.seen.Complete || p.seen.Verdict != "" || !p.seen.Unfinished() {
		t.Errorf("during the cluster phase: phase %q complete %v verdict %q", p.seen.Phase, p.seen.Complete, p.seen.Verdict)
	}
	if startedNS != res.Namespace || p.dir != dir {
		t.Errorf("Started told %q %q, want %q %q", startedNS, p.dir, res.Namespace, dir)
	}
	got, err := result.Read(filepath.Join(dir, result.ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.Phase != result.PhaseDone || !got.Complete || got.Unfinished() || got.Verdict != result.VerdictError {
		t.Errorf("at the end: phase %q complete %v verdict %q", got.Phase, got.Complete, got.Verdict)
	}
}

// A teardown error fails a run that passed (exit 1), and is only recorded
// beside a failed or errored one.
func TestRunError(t *testing.T) {
	terr := errors.New("namespace x still terminating after 2m0s")
	if err := runError(nil, terr, result.VerdictPass); err == nil || !strings.Contains(err.Error(), "teardown: namespace x still terminating") {
		t.Errorf("passed run, teardown error: %v", err)
	}
	if err := runError(nil, terr, result.VerdictFail); err != nil {
		t.Errorf("failed run (exit 3 stays): %v", err)
	}
	own := errors.New("load: k6 exited 107")
	if err := runError(own, terr, result.VerdictError); err != own {
		t.Errorf("errored run: %v, want its own error", err)
	}
	if err := runError(nil, nil, result.VerdictPass); err != nil {
		t.Errorf("clean pass: %v", err)
	}
}
