package compare

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// inputs are a run's recorded inputs as a run of scenario authrep-steady
// with RATE=200 on listener v1 would record them.
func inputs() *result.Inputs {
	return &result.Inputs{ScenarioDigest: "sha256:aaaa", Perfrun: "0123abcd", Vars: map[string]string{"RATE": "200"},
		Components: map[string]result.Component{
			"listener": {Replicas: 2, Containers: map[string]result.Container{"listener": {Image: "perfrun/listener:v1", Args: []string{"-queue", "v2"}}}},
			"worker":   {Replicas: 1, Containers: map[string]result.Container{"worker": {Image: "perfrun/worker:v1"}}},
		}}
}

// writeWith writes one result folder of scenario authrep-steady (load env
// RATE=200, inputs()), changed by mut before it is written.
func writeWith(t *testing.T, throughput float64, mut func(*result.Run)) string {
	t.Helper()
	dir := t.TempDir()
	sc := &scenario.Scenario{APIVersion: scenario.APIVersion, Kind: scenario.Kind, Metadata: scenario.Metadata{Name: "authrep-steady"},
		Spec: scenario.Spec{Load: scenario.Load{Script: "fixtures/load/authrep.js", Duration: scenario.D(time.Minute), Env: map[string]string{"RATE": "200"}}}}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := &result.Run{RunID: t.Name() + "/" + filepath.Base(dir), Scenario: sc, Started: start, Finished: start.Add(time.Minute),
		Inputs:     inputs(),
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

func load(t *testing.T, dirs ...string) []Run {
	t.Helper()
	runs, err := Load(dirs)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func sides(t *testing.T, n int, base, cand func(*result.Run)) ([]Run, []Run) {
	t.Helper()
	var b, c []string
	for i := range n {
		w := 1 + 0.01*float64(i)
		b = append(b, writeWith(t, 1000*w, base))
		c = append(c, writeWith(t, 1000*w, cand))
	}
	return load(t, b...), load(t, c...)
}

func rate(v string) func(*result.Run) {
	return func(r *result.Run) {
		r.Scenario.Spec.Load.Env["RATE"] = v
		r.Inputs.Vars["RATE"] = v
	}
}

// RATE 200 against RATE 500 is not a comparison of releases.
func TestRefusesDifferentInputs(t *testing.T) {
	base, cand := sides(t, 4, nil, rate("500"))
	_, err := Compare(base, cand, Tolerances{})
	var ie *InputsError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an InputsError", err)
	}
	msg := err.Error()
	for _, want := range []string{"env.RATE, set.RATE", `"200" in ` + base[0].Dir, `"500" in ` + cand[0].Dir, "and 1 more", "--allow-different"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// Told it is intended, by key or by family, compare goes on and says so.
	for _, allow := range [][]string{{"env.RATE", "set.RATE"}, {"env", "set"}} {
		c, err := Compare(base, cand, Tolerances{}, allow...)
		if err != nil {
			t.Fatalf("--allow-different %v: %v", allow, err)
		}
		if len(c.Intended) != 2 || c.Intended[0].Key != "env.RATE" || !strings.Contains(strings.Join(c.Remarks(), "\n"), "set.RATE") {
			t.Errorf("--allow-different %v: intended %+v, remarks %q", allow, c.Intended, c.Remarks())
		}
	}
	// Allowing one of the two still refuses the other, and only it.
	_, err = Compare(base, cand, Tolerances{}, "set.RATE")
	if !errors.As(err, &ie) || len(ie.Differences) != 1 || ie.Differences[0].Key != "env.RATE" {
		t.Errorf("--allow-different set.RATE: %v", err)
	}
}

// Every recorded input is a key: the scenario file's digest, the perfrun
// that ran it, images, args and replicas of each workload.
func TestInputKeys(t *testing.T) {
	for _, tc := range []struct {
		key   string
		allow string
		mut   func(*result.Run)
	}{
		{"scenario", "scenario", func(r *result.Run) { r.Inputs.ScenarioDigest = "sha256:bbbb" }},
		{"perfrun", "perfrun", func(r *result.Run) { r.Inputs.Perfrun = "4567cdef+dirty" }},
		{"image.listener/listener", "image", func(r *result.Run) {
			r.Inputs.Components["listener"].Containers["listener"] = result.Container{Image: "perfrun/listener:v2", Args: []string{"-queue", "v2"}}
		}},
		{"args.listener/listener", "args.listener", func(r *result.Run) {
			r.Inputs.Components["listener"].Containers["listener"] = result.Container{Image: "perfrun/listener:v1", Args: []string{"-queue", "v1"}}
		}},
		{"replicas.worker", "replicas.worker", func(r *result.Run) {
			r.Inputs.Components["worker"] = result.Component{Replicas: 3, Containers: r.Inputs.Components["worker"].Containers}
		}},
		{"set.VUS", "set", func(r *result.Run) { r.Inputs.Vars["VUS"] = "10" }},
	} {
		base, cand := sides(t, 1, nil, tc.mut)
		_, err := Compare(base, cand, Tolerances{})
		var ie *InputsError
		if !errors.As(err, &ie) || len(ie.Differences) != 1 || ie.Differences[0].Key != tc.key {
			t.Errorf("%s: err %v, want a refusal naming %s alone", tc.key, err, tc.key)
			continue
		}
		if tc.key == "set.VUS" && !strings.Contains(err.Error(), `"(unset)" in `+base[0].Dir) {
			t.Errorf("a key on one side only: %v", err)
		}
		if c, err := Compare(base, cand, Tolerances{}, tc.allow); err != nil || len(c.Intended) != 1 {
			t.Errorf("%s with --allow-different %s: %v", tc.key, tc.allow, err)
		}
	}
	// A difference within one side is refused too.
	a, b := writeWith(t, 1000, nil), writeWith(t, 1000, rate("300"))
	if _, err := Compare(load(t, a, b), load(t, writeWith(t, 1000, nil)), Tolerances{}); err == nil || !strings.Contains(err.Error(), "env.RATE") {
		t.Errorf("base runs differing among themselves: %v", err)
	}
}

func TestRefusesUnknownAllowKeys(t *testing.T) {
	base, cand := sides(t, 1, nil, nil)
	_, err := Compare(base, cand, Tolerances{}, "image", "imgae.listener", "scenario.name", "env.")
	if err == nil || !strings.Contains(err.Error(), `"imgae.listener", "scenario.name", "env."`) || strings.Contains(err.Error(), `"image"`) {
		t.Errorf("err = %v, want a refusal naming the three bad keys", err)
	}
}

// Results from before perfrun recorded inputs still load and compare,
// with a remark saying what could not be checked; their env still is.
func TestUnknownInputs(t *testing.T) {
	old := func(r *result.Run) { r.Inputs = nil }
	base, cand := sides(t, 1, old, nil)
	c, err := Compare(base, cand, Tolerances{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.UnknownInputs) != 1 || c.UnknownInputs[0] != base[0].Dir || !strings.Contains(strings.Join(c.Remarks(), "\n"), "inputs unknown for 1 run(s)") {
		t.Errorf("unknown inputs: %v %q", c.UnknownInputs, c.Remarks())
	}
	// An old result.json has no "inputs" at all.
	b, _ := os.ReadFile(filepath.Join(base[0].Dir, result.ResultFile))
	if strings.Contains(string(b), `"inputs"`) {
		t.Error("a run without inputs writes an inputs field")
	}
	base, cand = sides(t, 1, old, func(r *result.Run) { rate("500")(r); r.Inputs = nil })
	if _, err := Compare(base, cand, Tolerances{}); err == nil || !strings.Contains(err.Error(), "env.RATE") {
		t.Errorf("old results with different env: %v", err)
	}
}

func harnessError(r *result.Run) {
	r.Error = "deploy: pods not Ready within 2m0s\nmore detail"
	r.Decide()
}

// Runs that did not reach a verdict are left out, named and counted; a
// side with none left is an error.
func TestLeavesOutRunsWithoutVerdict(t *testing.T) {
	var b []string
	for i := range 4 {
		b = append(b, writeWith(t, 1000+float64(i), nil))
	}
	errored := writeWith(t, 0, harnessError)
	unevaluated := writeWith(t, 1000, func(r *result.Run) {
		r.Assertions = append(r.Assertions, assertions.Result{Name: "no-loss", Kind: assertions.KindNoLoss, Status: assertions.Error, Error: "no series"})
		r.Decide()
	})
	unfinished := writeWith(t, 1000, func(r *result.Run) { r.Verdict = "" })
	// What a run killed during its load leaves: phase load, not complete.
	killed := writeWith(t, 1000, func(r *result.Run) { r.Verdict, r.Phase, r.Complete = "", result.PhaseLoad, false })
	var cd []string
	for i := range 4 {
		cd = append(cd, writeWith(t, 1000+float64(i), nil))
	}
	base, cand := load(t, append([]string{errored, unevaluated, unfinished, killed}, b...)...), load(t, cd...)
	c, err := Compare(base, cand, Tolerances{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Base) != 4 || len(c.Excluded) != 4 {
		t.Fatalf("base %d runs, %d left out; want 4 and 4", len(c.Base), len(c.Excluded))
	}
	remarks := strings.Join(c.Remarks(), "\n")
	for _, want := range []string{"left out 4 run(s) that did not reach a verdict",
		"base " + errored + " (error: deploy: pods not Ready within 2m0s)", "assertion no-loss: no series", unfinished + " (no verdict: unfinished)",
		killed + " (no verdict: unfinished: stopped in phase load)"} {
		if !strings.Contains(remarks, want) {
			t.Errorf("remarks lack %q:\n%s", want, remarks)
		}
	}
	if strings.Contains(remarks, "more detail") {
		t.Error("remark carries the error's whole text")
	}
	_, err = Compare(load(t, errored, unfinished), cand, Tolerances{})
	if !errors.Is(err, ErrNoUsableRuns) || !strings.Contains(err.Error(), "base: no run that reached a verdict: all 2 run(s) are left out") || !strings.Contains(err.Error(), errored) {
		t.Errorf("a side with no usable run: %v", err)
	}
}

func TestRefusesDuplicateRuns(t *testing.T) {
	a, b := writeWith(t, 1000, nil), writeWith(t, 1000, nil)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-r", a, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	for _, tc := range []struct {
		name       string
		base, cand []string
		want       string
	}{
		{"both sides", []string{a}, []string{a}, a + " given twice (base " + a + ", candidate " + a + ")"},
		{"twice on a side", []string{a, a + "/."}, []string{b}, "given twice (base " + a + ", base " + a + "/.)"},
		{"through a link", []string{a}, []string{link}, "given twice"},
		{"a copy", []string{a}, []string{copied}, "a copy of one result folder"},
	} {
		_, err := Compare(load(t, tc.base...), load(t, tc.cand...), Tolerances{})
		if err == nil || !strings.Contains(err.Error(), "refusing to compare a run with itself") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRefusesUnknownToleranceKeys(t *testing.T) {
	p95 := func(r *result.Run) {
		r.Assertions = append(r.Assertions, assertions.Check("authrep p95", assertions.KindQuery, "q", "<=", 0.01, 0.05))
	}
	base, cand := sides(t, 1, p95, p95)
	tol, err := ParseTolerances([]byte("metrics:\n  throughputt: {bound: \">=-5%\"}\n  latencyp95: {bound: \"<=+5%\"}\n  throughput: {bound: \">=-5%\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compare(base, cand, tol)
	if err == nil || !strings.Contains(err.Error(), `metrics "latencyp95", "throughputt": no such metric or kind`) || !strings.Contains(err.Error(), "latencyP95") {
		t.Errorf("err = %v, want both misspelt keys named, and the known ones listed", err)
	}
	// A metric's own name is a key too.
	tol, err = ParseTolerances([]byte("metrics:\n  \"authrep p95\": {bound: \">=-5%\"}\n  throughput: {bound: \">=-5%\"}\n  objectLatency: {bound: \"<=+5%\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(base, cand, tol); err != nil {
		t.Errorf("known keys refused: %v", err)
	}
}

// A folder of result folders (perfrun run --count) is one side.
func TestLoadFolderOfRuns(t *testing.T) {
	parent := t.TempDir()
	for i := range 3 {
		d := writeWith(t, 1000, nil)
		if err := os.Rename(d, filepath.Join(parent, fmt.Sprintf("run-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(parent, "not-a-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	runs := load(t, parent)
	if len(runs) != 3 || runs[0].Dir != filepath.Join(parent, "run-0") || runs[2].Dir != filepath.Join(parent, "run-2") {
		t.Fatalf("runs %d: %v", len(runs), runs)
	}
	if _, err := Load([]string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a result folder") {
		t.Errorf("empty folder: %v", err)
	}
}
