// Package accuracy counts how often each property's verdict came out right.
// The suites record one Verdict per perfrun run as a Ginkgo report entry;
// this package reads them back from Ginkgo's JSON reports and tallies them
// per property and mode, so that `make verdict-accuracy` can print how many
// runs of a good mode passed and how many runs of a known-bad mode failed.
package accuracy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// EntryName is the name of the Ginkgo report entry that carries a Verdict.
const EntryName = "perfrun-verdict"

// Modes of a property's scenario pair.
const (
	ModeGood = "good" // the scenario must pass
	ModeBad  = "bad"  // the known-bad scenario must fail
)

// Outcomes of a run, as result.json's verdict spells them.
const (
	Pass  = "pass"
	Fail  = "fail"
	Error = "error" // the harness could not decide: counts as neither
)

// Verdict is one perfrun run of one scenario and what the suite wanted of it.
type Verdict struct {
	Property string `json:"property"`
	Mode     string `json:"mode"`
	Scenario string `json:"scenario"`
	// Want is Pass for a good mode, Fail for a known-bad one.
	Want string `json:"want"`
	// Got is the run's verdict: Pass, Fail or Error.
	Got string `json:"got"`
	// Failed names the assertions that failed.
	Failed []string `json:"failed,omitempty"`
	// Error is the harness error, when Got is Error.
	Error string `json:"error,omitempty"`
	// ResultDir is the run's result folder (kept as an artifact).
	ResultDir string        `json:"resultDir,omitempty"`
	Took      time.Duration `json:"took,omitempty"`
}

// Right says the run's verdict is the one the mode wants.
func (v Verdict) Right() bool { return v.Got == v.Want }

// String is how the verdict shows in Ginkgo's output.
func (v Verdict) String() string {
	s := fmt.Sprintf("%s/%s %s: want %s, got %s", v.Property, v.Mode, v.Scenario, v.Want, v.Got)
	if len(v.Failed) > 0 {
		s += fmt.Sprintf(" (failed: %v)", v.Failed)
	}
	if v.Error != "" {
		s += " (error: " + v.Error + ")"
	}
	return s
}

// FromReports returns the verdicts recorded in Ginkgo reports, in order.
func FromReports(reports []types.Report) ([]Verdict, error) {
	var out []Verdict
	for _, r := range reports {
		for _, sr := range r.SpecReports {
			for _, e := range sr.ReportEntries {
				if e.Name != EntryName {
					continue
				}
				var v Verdict
				if err := json.Unmarshal([]byte(e.Value.AsJSON), &v); err != nil {
					return nil, fmt.Errorf("spec %q: report entry %s: %w", sr.FullText(), EntryName, err)
				}
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// ReadReport reads the verdicts of a Ginkgo JSON report file
// (-ginkgo.json-report / --json-report).
func ReadReport(path string) ([]Verdict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading Ginkgo report: %w", err)
	}
	var reports []types.Report
	if err := json.Unmarshal(b, &reports); err != nil {
		return nil, fmt.Errorf("decoding Ginkgo report %s: %w", path, err)
	}
	vs, err := FromReports(reports)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vs, nil
}

// Row is the tally of one property's mode.
type Row struct {
	Property string
	Mode     string
	Want     string
	Runs     int
	Passes   int
	Fails    int
	Errors   int
}

// Right is how many runs got the verdict the mode wants.
func (r Row) Right() int {
	if r.Want == Pass {
		return r.Passes
	}
	return r.Fails
}

// Accurate says every run got the verdict its mode wants.
func (r Row) Accurate() bool { return r.Runs > 0 && r.Right() == r.Runs }

// Properties in the order tables list them; others follow by name.
var Properties = []string{"smoke", "throughput", "distribution", "disruption", "upgrade", "no-loss", "core-utilization"}

// Tally counts verdicts per property and mode: properties in the order of
// Properties, the good mode before the bad one.
func Tally(vs []Verdict) []Row {
	type key struct{ prop, mode string }
	rows := map[key]*Row{}
	for _, v := range vs {
		k := key{v.Property, v.Mode}
		r := rows[k]
		if r == nil {
			r = &Row{Property: v.Property, Mode: v.Mode, Want: v.Want}
			rows[k] = r
		}
		r.Runs++
		switch v.Got {
		case Pass:
			r.Passes++
		case Fail:
			r.Fails++
		default:
			r.Errors++
		}
	}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	rank := func(p string) int {
		if i := slices.Index(Properties, p); i >= 0 {
			return i
		}
		return len(Properties)
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(rank(a.Property), rank(b.Property)), cmp.Compare(a.Property, b.Property),
			cmp.Compare(modeRank(a.Mode), modeRank(b.Mode)), cmp.Compare(a.Mode, b.Mode))
	})
	return out
}

func modeRank(m string) int {
	switch m {
	case ModeGood:
		return 0
	case ModeBad:
		return 1
	}
	return 2
}

// Accurate says every row is accurate (and there is at least one).
func Accurate(rows []Row) bool {
	if len(rows) == 0 {
		return false
	}
	for _, r := range rows {
		if !r.Accurate() {
			return false
		}
	}
	return true
}

// WriteTable prints the rows: property, mode, runs, passes, fails, then the
// runs the harness could not decide and whether the mode came out right
// every time.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROPERTY\tMODE\tRUNS\tPASSES\tFAILS\tERRORS\tWANT\tRIGHT")
	for _, r := range rows {
		mark := "ok"
		if !r.Accurate() {
			mark = "WRONG"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d/%d %s\n",
			r.Property, r.Mode, r.Runs, r.Passes, r.Fails, r.Errors, r.Want, r.Right(), r.Runs, mark)
	}
	return tw.Flush()
}
