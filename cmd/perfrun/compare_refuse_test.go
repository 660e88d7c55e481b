package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// writeRun writes a result folder of scenario steady with load env RATE
// and recorded inputs, changed by mut.
func writeRun(t *testing.T, rate string, throughput float64, mut func(*result.Run)) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := &result.Run{RunID: t.Name() + filepath.Base(dir), Started: start, Finished: start.Add(time.Minute),
		Scenario: &scenario.Scenario{Metadata: scenario.Metadata{Name: "steady"}, Spec: scenario.Spec{Load: scenario.Load{
			Script: "fixtures/load/throughput.js", Duration: scenario.D(time.Minute), Env: map[string]string{"RATE": rate}}}},
		Inputs: &result.Inputs{ScenarioDigest: "sha256:1", Perfrun: "v1.0.0", Vars: map[string]string{"RATE": rate},
			Components: map[string]result.Component{"listener": {Replicas: 2, Containers: map[string]result.Container{"listener": {Image: "perfrun/listener:v1"}}}}},
		Assertions: []assertions.Result{assertions.Check("throughput", assertions.KindThroughput, "", ">=", throughput, 100)}}
	run.Decide()
	if mut != nil {
		mut(run)
	}
	if err := result.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	return dir
}

func compareArgs(base, cand []string, flags ...string) []string {
	return append(append(append(append([]string{"compare"}, flags...), base...), "--"), cand...)
}

func runs(t *testing.T, n int, rate string, mut func(*result.Run)) []string {
	var dirs []string
	for i := range n {
		dirs = append(dirs, writeRun(t, rate, 1000+float64(i), mut))
	}
	return dirs
}

// Each refusal is exit 2 with one message naming what is wrong.
func TestCompareRefusals(t *testing.T) {
	base := runs(t, 4, "200", nil)
	v2 := func(r *result.Run) {
		r.Inputs.Components["listener"].Containers["listener"] = result.Container{Image: "perfrun/listener:v2"}
	}
	tol := filepath.Join(t.TempDir(), "tol.yaml")
	if err := os.WriteFile(tol, []byte("metrics:\n  thruput: {bound: \">=-5%\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errored := func(r *result.Run) { r.Error = "cluster: unreachable"; r.Decide() }
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"different --set and env", compareArgs(base, runs(t, 4, "500", nil)),
			[]string{"refusing to compare runs whose inputs differ: env.RATE, set.RATE", `"500" in `, "--allow-different"}},
		{"another image, not allowed", compareArgs(base, runs(t, 4, "200", v2)),
			[]string{"inputs differ: image.listener/listener", `"perfrun/listener:v2"`}},
		{"allowing the wrong key", compareArgs(base, runs(t, 4, "200", v2), "--allow-different", "replicas"),
			[]string{"inputs differ: image.listener/listener"}},
		{"unknown --allow-different key", compareArgs(base, runs(t, 4, "200", v2), "--allow-different", "images"),
			[]string{`--allow-different "images": not an input key`}},
		{"same folder on both sides", []string{"compare", base[0], base[0]},
			[]string{"refusing to compare a run with itself", base[0] + " given twice"}},
		{"same folder twice on a side", compareArgs([]string{base[0], base[1], base[0]}, runs(t, 1, "200", nil)),
			[]string{base[0] + " given twice (base " + base[0] + ", base " + base[0] + ")"}},
		{"unknown tolerance key", compareArgs(base, runs(t, 4, "200", nil), "--tolerances", tol),
			[]string{`metrics "thruput": no such metric or kind`}},
		{"a side with no verdict", compareArgs(base, runs(t, 2, "200", errored)),
			[]string{"candidate: no run that reached a verdict: all 2 run(s) are left out", "cluster: unreachable"}},
	} {
		_, err := execute(tc.args...)
		if exitCode(err) != exitBadInput {
			t.Errorf("%s: exit %d (%v), want %d", tc.name, exitCode(err), err, exitBadInput)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, w, err)
			}
		}
	}
}

// What compare goes on with it says: the differences allowed, the runs
// left out, the runs whose inputs are unknown.
func TestCompareSaysWhatItDidNotCompare(t *testing.T) {
	base := runs(t, 4, "200", nil)
	cand := append(runs(t, 4, "200", func(r *result.Run) {
		r.Inputs.Components["listener"].Containers["listener"] = result.Container{Image: "perfrun/listener:v2"}
	}), writeRun(t, "200", 0, func(r *result.Run) { r.Error = "deploy: timed out"; r.Decide() }))
	out, err := execute(compareArgs(base, cand, "--allow-different", "image.listener")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"base: 4 run(s)  candidate: 4 run(s)", "left out 1 run(s) that did not reach a verdict", cand[4] + " (error: deploy: timed out)",
		"inputs that differ, as --allow-different allows:", `image.listener/listener: "perfrun/listener:v1" in `, `"perfrun/listener:v2" in `} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Results written before perfrun recorded inputs load, and say so.
	old := runs(t, 4, "200", func(r *result.Run) { r.Inputs = nil })
	out, err = execute(compareArgs(old, runs(t, 4, "200", nil), "--format", "markdown")...)
	if err != nil || !strings.Contains(out, "> inputs unknown for 4 run(s)") {
		t.Errorf("old results: %v\n%s", err, out)
	}
}
