package accuracy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// report builds a Ginkgo report the way the suite leaves one: a spec per
// run, its verdict in a report entry, plus entries that are not verdicts.
func report(vs ...Verdict) types.Report {
	var r types.Report
	for _, v := range vs {
		r.SpecReports = append(r.SpecReports, types.SpecReport{
			LeafNodeText: v.Property + " " + v.Mode,
			ReportEntries: types.ReportEntries{
				{Name: "other", Value: types.WrapEntryValue("not a verdict")},
				{Name: EntryName, Value: types.WrapEntryValue(v)},
			},
		})
	}
	// A spec without entries (say, the scenario file checks).
	r.SpecReports = append(r.SpecReports, types.SpecReport{LeafNodeText: "scenario files validate"})
	return r
}

func good(prop, got string) Verdict {
	return Verdict{Property: prop, Mode: ModeGood, Scenario: prop + "-good.yaml", Want: Pass, Got: got}
}

func bad(prop, got string) Verdict {
	return Verdict{Property: prop, Mode: ModeBad, Scenario: prop + "-bad.yaml", Want: Fail, Got: got}
}

func TestReadReportRoundTrip(t *testing.T) {
	in := []Verdict{good("no-loss", Pass), bad("no-loss", Fail), bad("no-loss", Pass)}
	in[1].Failed = []string{"no-loss"}
	b, err := json.Marshal([]types.Report{report(in...)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("got %d verdicts, want %d: %+v", len(got), len(in), got)
	}
	for i := range in {
		if got[i].Property != in[i].Property || got[i].Mode != in[i].Mode || got[i].Got != in[i].Got || got[i].Want != in[i].Want {
			t.Errorf("verdict %d: got %+v, want %+v", i, got[i], in[i])
		}
	}
	if len(got[1].Failed) != 1 || got[1].Failed[0] != "no-loss" {
		t.Errorf("failed assertions lost: %+v", got[1])
	}
}

func TestReadReportErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadReport(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
	junk := filepath.Join(dir, "junk.json")
	os.WriteFile(junk, []byte("{not json"), 0o644)
	if _, err := ReadReport(junk); err == nil || !strings.Contains(err.Error(), "junk.json") {
		t.Errorf("junk file: error %v does not name the file", err)
	}
}

func TestTally(t *testing.T) {
	vs := []Verdict{
		bad("upgrade", Fail), good("upgrade", Pass),
		good("no-loss", Pass), good("no-loss", Pass), good("no-loss", Fail),
		bad("no-loss", Fail), bad("no-loss", Pass), bad("no-loss", Error),
		good("distribution", Pass),
		good("custom", Pass),
	}
	rows := Tally(vs)
	want := []Row{
		{Property: "distribution", Mode: ModeGood, Want: Pass, Runs: 1, Passes: 1},
		{Property: "upgrade", Mode: ModeGood, Want: Pass, Runs: 1, Passes: 1},
		{Property: "upgrade", Mode: ModeBad, Want: Fail, Runs: 1, Fails: 1},
		{Property: "no-loss", Mode: ModeGood, Want: Pass, Runs: 3, Passes: 2, Fails: 1},
		{Property: "no-loss", Mode: ModeBad, Want: Fail, Runs: 3, Passes: 1, Fails: 1, Errors: 1},
		{Property: "custom", Mode: ModeGood, Want: Pass, Runs: 1, Passes: 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, rows[i], want[i])
		}
	}
	if rows[3].Right() != 2 || rows[3].Accurate() {
		t.Errorf("good no-loss with a fail: right %d accurate %v", rows[3].Right(), rows[3].Accurate())
	}
	// A bad mode that passes, or that the harness could not decide, is not
	// a right verdict.
	if rows[4].Right() != 1 || rows[4].Accurate() {
		t.Errorf("bad no-loss: right %d accurate %v", rows[4].Right(), rows[4].Accurate())
	}
	if !rows[2].Accurate() || !rows[1].Accurate() {
		t.Error("upgrade rows should be accurate")
	}
	if Accurate(rows) {
		t.Error("Accurate: true with wrong rows")
	}
	if !Accurate(rows[:3]) {
		t.Error("Accurate: false with only right rows")
	}
	if Accurate(nil) {
		t.Error("Accurate: true with no runs at all")
	}
}

func TestWriteTable(t *testing.T) {
	rows := Tally([]Verdict{good("no-loss", Pass), bad("no-loss", Pass), bad("no-loss", Fail)})
	var buf bytes.Buffer
	if err := WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header and 2 rows, got:\n%s", buf.String())
	}
	for i, want := range [][]string{
		{"PROPERTY", "MODE", "RUNS", "PASSES", "FAILS", "ERRORS", "WANT", "RIGHT"},
		{"no-loss", "good", "1", "1", "0", "0", "pass", "1/1", "ok"},
		{"no-loss", "bad", "2", "1", "1", "0", "fail", "1/2", "WRONG"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d: got %q, want %q", i, got, want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	v := bad("no-loss", Fail)
	v.Failed = []string{"no-loss"}
	if s := v.String(); !strings.Contains(s, "want fail, got fail") || !strings.Contains(s, "no-loss") {
		t.Errorf("String() = %q", s)
	}
	if !v.Right() {
		t.Error("a bad mode that failed is right")
	}
	if good("x", Error).Right() {
		t.Error("an error is never right")
	}
}
