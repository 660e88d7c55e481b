package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

func writeResult(t *testing.T, name string, throughput float64) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := &result.Run{RunID: filepath.Base(dir), Started: start, Finished: start.Add(time.Minute), LoadStart: start, LoadEnd: start.Add(time.Minute),
		Scenario:   &scenario.Scenario{Metadata: scenario.Metadata{Name: name}, Spec: scenario.Spec{Load: scenario.Load{Script: "fixtures/load/throughput.js", Duration: scenario.D(time.Minute)}}},
		Assertions: []assertions.Result{assertions.Check("throughput", assertions.KindThroughput, "", ">=", throughput, 100)}}
	run.Decide()
	if err := result.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	return dir
}

func execute(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return exitHarness
	}
	return exitOK
}

func TestCompareCommand(t *testing.T) {
	var base, slow, same []string
	for i := range 5 {
		w := 1 + 0.01*float64(i)
		base = append(base, writeResult(t, "steady", 1000*w))
		slow = append(slow, writeResult(t, "steady", 600*w))
		same = append(same, writeResult(t, "steady", 1000*w))
	}
	out, err := execute(append(append(append([]string{"compare", "--format", "markdown"}, base...), "--"), slow...)...)
	if exitCode(err) != exitAssertion || !strings.Contains(out, "**regressed**") {
		t.Fatalf("regression: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	html := filepath.Join(t.TempDir(), "cmp.html")
	out, err = execute(append(append(append([]string{"compare", "--html", html}, base...), "--"), same...)...)
	if exitCode(err) != exitOK || !strings.Contains(out, "PASS") {
		t.Fatalf("same: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if fi, err := os.Stat(html); err != nil || fi.Size() < 1000 {
		t.Errorf("--html: %v", err)
	}
	for _, bad := range [][]string{
		{"compare", base[0]},
		{"compare", base[0], writeResult(t, "other", 1000)},
		{"compare", "--format", "yaml", base[0], slow[0]},
		{"compare", base[0], filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := execute(bad...); exitCode(err) != exitBadInput {
			t.Errorf("%v: exit %d (%v), want %d", bad, exitCode(err), err, exitBadInput)
		}
	}
}

func TestReportAndDashboardsCommands(t *testing.T) {
	dir := writeResult(t, "steady", 1000)
	if _, err := execute("report", dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "report.html")); err != nil || !strings.Contains(string(b), "<h2>Verdict</h2>") {
		t.Fatalf("report.html: %v", err)
	}
	out := t.TempDir()
	if _, err := execute("dashboards", "-o", out); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"system.json", "load.json", "chaos.json"} {
		if _, err := os.Stat(filepath.Join(out, n)); err != nil {
			t.Error(err)
		}
	}
	if got, err := execute("dashboards", "--annotations", dir); err != nil || strings.TrimSpace(got) != "[]" {
		t.Errorf("annotations: %v %q", err, got)
	}
}

// A killed run's folder (phase load, not complete, no verdict) still gets
// its report, which says it has no verdict; compare leaves it out by name.
func TestUnfinishedRunInReportAndCompare(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := &result.Run{RunID: "killed1", Started: start, Phase: result.PhaseLoad,
		Scenario: &scenario.Scenario{Metadata: scenario.Metadata{Name: "steady"}, Spec: scenario.Spec{Load: scenario.Load{Script: "fixtures/load/throughput.js", Duration: scenario.D(time.Minute)}}}}
	if err := result.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	out, err := execute("report", dir)
	if err != nil || !strings.Contains(out, "the run did not finish (stopped in phase load): no verdict") {
		t.Errorf("report of an unfinished run: %v\n%s", err, out)
	}
	var base, cand []string
	for i := range 4 {
		base = append(base, writeResult(t, "steady", 1000+float64(i)))
		cand = append(cand, writeResult(t, "steady", 1000+float64(i)))
	}
	out, err = execute(append(append(append([]string{"compare"}, append(base, dir)...), "--"), cand...)...)
	if err != nil || !strings.Contains(out, dir+" (no verdict: unfinished: stopped in phase load)") {
		t.Errorf("compare with an unfinished run: %v\n%s", err, out)
	}
}
