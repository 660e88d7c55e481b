package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// writeRun writes a result folder through the result package, with a
// throughput assertion (higher is better) and a distribution one (lower is
// better), and a k6 summary in --summary-export's shape.
func writeRun(t *testing.T, name string, throughput, ratio, p95ms float64) string {
	t.Helper()
	dir := t.TempDir()
	sc := &scenario.Scenario{APIVersion: scenario.APIVersion, Kind: scenario.Kind,
		Metadata: scenario.Metadata{Name: name},
		Spec:     scenario.Spec{Load: scenario.Load{Script: "fixtures/load/authrep.js", Duration: scenario.D(time.Minute)}}}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := &result.Run{RunID: t.Name() + "/" + filepath.Base(dir), Scenario: sc, Started: start, Finished: start.Add(2 * time.Minute),
		Assertions: []assertions.Result{
			assertions.Check("throughput", assertions.KindThroughput, "", ">=", throughput, 100),
			assertions.Check("spread", assertions.KindEvenDistribution, "", "<=", ratio, 1.5),
		}}
	run.Decide()
	if err := result.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	k6 := fmt.Sprintf(`{"metrics":{"http_reqs":{"count":1000,"rate":%g},"http_req_duration":{"avg":3,"p(95)":%g,"p(99)":%g},"http_req_failed":{"passes":0,"fails":1000,"value":0}}}`,
		throughput, p95ms, p95ms*1.5)
	if err := os.WriteFile(filepath.Join(dir, result.K6Summary), []byte(k6), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// side writes n runs whose values wobble a little around the given ones.
func side(t *testing.T, n int, throughput, ratio, p95 float64) []Run {
	t.Helper()
	var dirs []string
	for i := range n {
		w := 1 + 0.01*float64(i-n/2)
		dirs = append(dirs, writeRun(t, "authrep-steady", throughput*w, ratio*w, p95*w))
	}
	runs, err := Load(dirs)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func mustCompare(t *testing.T, base, cand []Run) *Comparison {
	t.Helper()
	tol, err := LoadTolerances("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(base, cand, tol)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func metric(t *testing.T, c *Comparison, name string) Metric {
	t.Helper()
	for _, m := range c.Metrics {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no metric %q in %+v", name, c.Metrics)
	return Metric{}
}

func TestIdenticalSidesNoChange(t *testing.T) {
	base := side(t, 5, 1000, 1.1, 20)
	cand := side(t, 5, 1000, 1.1, 20)
	c := mustCompare(t, base, cand)
	if c.Regressed {
		t.Fatalf("identical sides regressed: %+v", c.Metrics)
	}
	for _, name := range []string{"throughput", "spread", K6Throughput, K6LatencyP95, K6LatencyP99, K6ErrorRate} {
		m := metric(t, c, name)
		if m.Verdict != Same || m.Change == nil || *m.Change != 0 {
			t.Errorf("%s: verdict %q change %v, want ~ and 0", name, m.Verdict, m.Change)
		}
	}
	if got := metric(t, c, K6LatencyP95).Base.Median; got != 0.020 {
		t.Errorf("k6 p95 median = %v s, want 0.020 (ms converted)", got)
	}
}

func TestClearRegressionFails(t *testing.T) {
	base := side(t, 5, 1000, 1.1, 20)
	cand := side(t, 5, 700, 1.1, 20) // throughput -30%, beyond >=-10%
	c := mustCompare(t, base, cand)
	if !c.Regressed {
		t.Fatalf("30%% throughput drop not a regression: %+v", c.Metrics)
	}
	m := metric(t, c, "throughput")
	if m.Verdict != Regressed || !m.Significant || *m.P >= 0.05 {
		t.Fatalf("throughput: %+v", m)
	}
	if c.Metrics[0].Verdict != Regressed {
		t.Errorf("regression not first in the table: %q", c.Metrics[0].Name)
	}
	if m := metric(t, c, "spread"); m.Verdict != Same {
		t.Errorf("unchanged spread: verdict %q", m.Verdict)
	}
	var text bytes.Buffer
	if err := c.Write(&text, FormatText); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "regressed") || !strings.Contains(text.String(), "FAIL:") {
		t.Errorf("text output lacks the regression:\n%s", text.String())
	}
}

func TestSmallSignificantChangeIsTolerated(t *testing.T) {
	base := side(t, 5, 1000, 1.1, 20)
	cand := side(t, 5, 950, 1.1, 20) // -5%: significant, inside >=-10%
	c := mustCompare(t, base, cand)
	if c.Regressed {
		t.Fatal("a 5% drop inside a 10% tolerance failed the comparison")
	}
	if m := metric(t, c, "throughput"); m.Verdict != Tolerated {
		t.Errorf("throughput verdict %q, want %q", m.Verdict, Tolerated)
	}
	if m := metric(t, c, K6LatencyP95); m.Verdict != Same {
		t.Errorf("p95 verdict %q, want ~", m.Verdict)
	}
}

func TestImprovement(t *testing.T) {
	c := mustCompare(t, side(t, 5, 1000, 1.5, 20), side(t, 5, 1000, 1.05, 20))
	if m := metric(t, c, "spread"); m.Verdict != Improved {
		t.Errorf("lower distribution ratio: verdict %q, want improved", m.Verdict)
	}
}

func TestBelowSignificanceIsSame(t *testing.T) {
	// One run a side: a 30% drop, but the U test cannot tell from one sample.
	c := mustCompare(t, side(t, 1, 1000, 1.1, 20), side(t, 1, 700, 1.1, 20))
	m := metric(t, c, "throughput")
	if m.Verdict != Same || m.Significant || c.Regressed {
		t.Fatalf("1+1 runs: %+v", m)
	}
	if !strings.Contains(m.Note, "samples") {
		t.Errorf("note %q does not say more runs are needed", m.Note)
	}
	// Overlapping samples: no significant difference at all.
	base := side(t, 5, 1000, 1.1, 20)
	cand := side(t, 5, 1005, 1.1, 20)
	if m := metric(t, mustCompare(t, base, cand), "throughput"); m.Verdict != Same {
		t.Errorf("0.5%% shift inside the noise: verdict %q", m.Verdict)
	}
}

func TestRefusesDifferentScenarios(t *testing.T) {
	base := side(t, 1, 1000, 1.1, 20)
	other, err := Load([]string{writeRun(t, "controller-kill", 1000, 1.1, 20)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compare(base, other, DefaultTolerances())
	if err == nil || !strings.Contains(err.Error(), "different scenarios") || !strings.Contains(err.Error(), "controller-kill") {
		t.Fatalf("err = %v, want a refusal naming the scenarios", err)
	}
}

func TestRefusesOtherSchemaVersion(t *testing.T) {
	dir := writeRun(t, "authrep-steady", 1000, 1.1, 20)
	path := filepath.Join(dir, result.ResultFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["schemaVersion"] = "perfrun.dev/result/v0"
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load([]string{writeRun(t, "authrep-steady", 1000, 1.1, 20), dir})
	if err == nil || !strings.Contains(err.Error(), "perfrun.dev/result/v0") || !strings.Contains(err.Error(), "schemaVersion") {
		t.Fatalf("err = %v, want a refusal naming the schema version", err)
	}
}

func TestTolerances(t *testing.T) {
	tol, err := ParseTolerances([]byte("alpha: 0.01\nmetrics:\n  throughput: {bound: \">=-2%\"}\n  spread: {direction: lower, bound: \"<=+50%\", floor: 0.1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tol.Alpha != 0.01 || tol.Metrics[KindLatencyP95].Bound != "<=+10%" || tol.Metrics["throughput"].Direction != HigherIsBetter {
		t.Fatalf("tolerances: %+v", tol)
	}
	r := tol.Metrics["spread"]
	if !r.within(1.0, 1.09) || !r.within(1.0, 1.5) || r.within(1.0, 1.6) {
		t.Error("spread rule: floor 0.1 and +50% bound not applied")
	}
	for _, bad := range []string{
		"metrics:\n  x: {bound: \"10%\"}\n",
		"metrics:\n  x: {direction: higher, bound: \"<=+10%\"}\n",
		"metrics:\n  x: {bound: \"<=+10%\", flor: 1}\n",
		"alpha: 2\n",
	} {
		if _, err := ParseTolerances([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseTolerances([]byte("metrics:\n  latency: {direction: higher, bound: \"<=+10%\"}\n")); err == nil || !strings.Contains(err.Error(), "metrics.latency") {
		t.Errorf("error %v does not name the metric", err)
	}
}

func TestFormats(t *testing.T) {
	c := mustCompare(t, side(t, 5, 1000, 1.1, 20), side(t, 5, 700, 1.1, 20))
	var md, js bytes.Buffer
	if err := c.Write(&md, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| throughput |") || !strings.Contains(md.String(), "**regressed**") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if err := c.Write(&js, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !back.Regressed || len(back.Metrics) != len(c.Metrics) {
		t.Errorf("json round trip: %v %+v", err, back)
	}
	if err := c.Write(&js, "yaml"); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("unknown format: %v", err)
	}
}

func TestK6SummaryShapes(t *testing.T) {
	dir := writeRun(t, "authrep-steady", 1000, 1.1, 20)
	// handleSummary's shape, from a script that only used the extension.
	k6 := `{"metrics":{"backend_results":{"type":"counter","values":{"count":500,"rate":250}},
		"backend_call_duration":{"type":"trend","values":{"p(95)":12,"p(99)":30}},
		"backend_item_deadline_missed":{"type":"rate","values":{"rate":0.02}}}}`
	if err := os.WriteFile(filepath.Join(dir, result.K6Summary), []byte(k6), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"k6 backend calls/s": 250, "k6 backend_call_duration p(95) s": 0.012, "k6 backend_call_duration p(99) s": 0.030, "k6 backend_item_deadline_missed rate": 0.02}
	for n, v := range want {
		if got, ok := r.Values[n]; !ok || math.Abs(got.V-v) > 1e-12 {
			t.Errorf("%s = %+v, want %v", n, got, v)
		}
	}
	if _, ok := r.Values[K6Throughput]; ok {
		t.Error("http_reqs/s present without http_reqs in the summary")
	}
	if err := os.WriteFile(filepath.Join(dir, result.K6Summary), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRun(dir); err == nil || !strings.Contains(err.Error(), result.K6Summary) {
		t.Errorf("bad summary: %v", err)
	}
}
