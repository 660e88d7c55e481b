package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/runner"
	"github.com/perfrun/perfrun/scenario"
)

// noCluster is a provider with no cluster behind it: a run through it
// ends at its first step, with its result folder written.
type noCluster struct{}

func (noCluster) Name() string { return "none" }
func (noCluster) Ensure(context.Context, io.Writer) (*cluster.Access, error) {
	return nil, errors.New("no cluster here")
}
func (noCluster) LoadImages(context.Context, []string) error { return nil }

func withRunScenario(t *testing.T, f func(context.Context, *scenario.Scenario, cluster.Provider, runner.Options) (*result.Run, string, error)) {
	t.Helper()
	saved := runScenario
	runScenario = f
	t.Cleanup(func() { runScenario = saved })
}

func countArgs(results string, extra ...string) []string {
	return append(append([]string{"run", "--count", "3", "--results", results, "--repo", "../..", "--k6", "/bin/true", "--output", "quiet"}, extra...),
		"../../suites/scenarios/smoke.yaml")
}

// --count N through the real runner: N result folders in one folder, each
// run with its own ID and namespace, and the inputs recorded.
func TestRunCountLayout(t *testing.T) {
	withRunScenario(t, func(ctx context.Context, s *scenario.Scenario, _ cluster.Provider, o runner.Options) (*result.Run, string, error) {
		return runner.Run(ctx, s, noCluster{}, o)
	})
	results := t.TempDir()
	out, err := runCLI(t, countArgs(results, "--set", "RATE=300")...)
	if exitCode(err) != exitHarness || !strings.Contains(err.Error(), "3 of 3 run(s) ended in a harness error") {
		t.Fatalf("exit %d (%v), want 1 for three harness errors\n%s", exitCode(err), err, out)
	}
	parents, _ := filepath.Glob(filepath.Join(results, "smoke-*-x3"))
	if len(parents) != 1 {
		t.Fatalf("want one folder smoke-TIME-x3 in %s, got %v", results, parents)
	}
	parent := parents[0]
	entries, _ := os.ReadDir(parent)
	if len(entries) != 3 {
		t.Fatalf("%s holds %d entries, want 3 result folders", parent, len(entries))
	}
	ids, nss := map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		dir := filepath.Join(parent, e.Name())
		r, err := result.Read(filepath.Join(dir, result.ResultFile))
		if err != nil {
			t.Fatal(err)
		}
		ids[r.RunID], nss[r.Namespace] = true, true
		if !strings.Contains(out, dir) {
			t.Errorf("output does not list %s:\n%s", dir, out)
		}
		in := r.Inputs
		if in == nil || !strings.HasPrefix(in.ScenarioDigest, "sha256:") || in.Vars["RATE"] != "300" || in.Vars["FLOOR"] != "150" || in.Perfrun == "" {
			t.Errorf("%s: inputs %+v", dir, in)
		}
		if r.Scenario.Spec.Load.Env["RATE"] != "300" || r.Verdict != result.VerdictError || !strings.Contains(r.Error, "no cluster here") {
			t.Errorf("%s: env %v verdict %q error %q", dir, r.Scenario.Spec.Load.Env, r.Verdict, r.Error)
		}
	}
	if len(ids) != 3 || len(nss) != 3 {
		t.Errorf("run IDs %v, namespaces %v: want 3 of each", ids, nss)
	}
	if !strings.Contains(out, "3 of 3 run(s) of smoke in "+parent+": 0 pass, 0 fail, 3 error") || !strings.Contains(out, "perfrun compare "+parent) {
		t.Errorf("summary:\n%s", out)
	}
	// Runs that never reached a verdict are no side to compare.
	_, err = execute("compare", parent, writeResult(t, "smoke", 1000))
	if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "base: no run that reached a verdict: all 3 run(s) are left out") {
		t.Errorf("compare of errored runs: exit %d (%v)", exitCode(err), err)
	}
}

// fakeRun writes a passing result as runner.Run would place it, with the
// inputs a real run records.
func fakeRun(_ context.Context, s *scenario.Scenario, _ cluster.Provider, o runner.Options) (*result.Run, string, error) {
	id := runner.NewRunID()
	dir := filepath.Join(o.ResultsDir, s.Metadata.Name+"-"+id)
	start := time.Now()
	r := &result.Run{RunID: id, Scenario: s, Namespace: "perfrun-" + s.Metadata.Name + "-" + id, Started: start, Finished: start,
		Inputs:     &result.Inputs{ScenarioDigest: "sha256:1", Vars: o.Vars, Perfrun: "devel"},
		Assertions: []assertions.Result{assertions.Check("throughput", assertions.KindThroughput, "", ">=", 200+float64(len(id)%3), 150)}}
	r.Decide()
	return r, dir, result.Write(dir, r)
}

// Two --count runs are two sides, each named by its folder.
func TestRunCountFeedsCompare(t *testing.T) {
	withRunScenario(t, fakeRun)
	results := t.TempDir()
	var parents []string
	for _, rate := range []string{"200", "200", "500"} {
		sub := filepath.Join(results, rate+"-"+strings.Repeat("x", len(parents)))
		out, err := runCLI(t, countArgs(sub, "--set", "RATE="+rate)...)
		if err != nil {
			t.Fatalf("--count with passing runs: %v\n%s", err, out)
		}
		p, _ := filepath.Glob(filepath.Join(sub, "smoke-*-x3"))
		parents = append(parents, p...)
	}
	out, err := execute("compare", parents[0], parents[1])
	if err != nil || !strings.Contains(out, "base: 3 run(s)  candidate: 3 run(s)") {
		t.Fatalf("compare of two --count folders: %v\n%s", err, out)
	}
	_, err = execute("compare", parents[0], parents[2])
	if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "inputs differ: env.RATE, set.RATE") {
		t.Errorf("RATE 200 against 500: exit %d (%v)", exitCode(err), err)
	}
	for _, bad := range []string{"0", "-1", "two"} {
		if _, err := runCLI(t, "run", "--count", bad, "--validate", "../../suites/scenarios/smoke.yaml"); exitCode(err) != exitBadInput || !strings.Contains(err.Error(), "--count") {
			t.Errorf("--count %s: exit %d (%v), want 2 naming the flag", bad, exitCode(err), err)
		}
	}
}
