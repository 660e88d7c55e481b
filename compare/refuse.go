package compare

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
)

// Excluded is a run compare left out: it did not reach a verdict (the
// harness failed, an assertion could not be evaluated, or the run never
// finished), so its figures say nothing about the system.
type Excluded struct {
	Side    string `json:"side"`
	Dir     string `json:"dir"`
	Verdict string `json:"verdict"`
	Why     string `json:"why,omitempty"`
}

func (e Excluded) String() string {
	v := e.Verdict
	if v == "" {
		v = "no verdict"
	}
	if e.Why != "" {
		return fmt.Sprintf("%s %s (%s: %s)", e.Side, e.Dir, v, e.Why)
	}
	return fmt.Sprintf("%s %s (%s)", e.Side, e.Dir, v)
}

// Usable splits runs into those that reached a verdict (pass or fail) and
// those that did not.
func Usable(runs []Run) (ok, left []Run) {
	for _, r := range runs {
		switch r.Result.Verdict {
		case result.VerdictPass, result.VerdictFail:
			ok = append(ok, r)
		default:
			left = append(left, r)
		}
	}
	return ok, left
}

// usable leaves out a side's runs without a verdict, and refuses a side
// left with none.
func usable(side string, runs []Run) ([]Run, []Excluded, error) {
	ok, left := Usable(runs)
	var ex []Excluded
	for _, r := range left {
		ex = append(ex, Excluded{Side: side, Dir: r.Dir, Verdict: r.Result.Verdict, Why: why(r.Result)})
	}
	if len(ok) == 0 {
		names := make([]string, len(ex))
		for i, e := range ex {
			names[i] = e.String()
		}
		return nil, ex, fmt.Errorf("%s: %w: all %d run(s) are left out:\n  %s", side, ErrNoUsableRuns, len(runs), strings.Join(names, "\n  "))
	}
	return ok, ex, nil
}

// why is the first reason a run has no verdict.
func why(r *result.Run) string {
	// A killed run's folder says where it stopped; that comes first.
	if r.Unfinished() {
		return "unfinished: stopped in phase " + r.Phase
	}
	if r.Error != "" {
		return firstLine(r.Error)
	}
	for _, a := range r.Assertions {
		if a.Status == assertions.Error {
			return fmt.Sprintf("assertion %s: %s", a.Name, firstLine(a.Error))
		}
	}
	if r.Verdict == "" {
		return "unfinished"
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// checkDuplicates refuses a run given twice, on one side or both: the same
// folder (however it is spelt) or a copy of it (the same run ID).
func checkDuplicates(base, cand []Run) error {
	type seen struct{ side, dir string }
	byPath, byID := map[string]seen{}, map[string]seen{}
	var dups []string
	for _, s := range []struct {
		side string
		runs []Run
	}{{"base", base}, {"candidate", cand}} {
		for _, r := range s.runs {
			here := seen{s.side, r.Dir}
			p := canonical(r.Dir)
			if prev, ok := byPath[p]; ok {
				dups = append(dups, fmt.Sprintf("%s given twice (%s %s, %s %s)", p, prev.side, prev.dir, here.side, here.dir))
				continue
			}
			byPath[p] = here
			if id := r.Result.RunID; id != "" {
				if prev, ok := byID[id]; ok {
					dups = append(dups, fmt.Sprintf("run %s twice (%s %s, %s %s: a copy of one result folder)", id, prev.side, prev.dir, here.side, here.dir))
					continue
				}
				byID[id] = here
			}
		}
	}
	if len(dups) > 0 {
		more := ""
		if len(dups) > 3 {
			dups, more = dups[:3], fmt.Sprintf("; and %d more", len(dups)-3)
		}
		return fmt.Errorf("refusing to compare a run with itself: %s%s", strings.Join(dups, "; "), more)
	}
	return nil
}

// canonical is a folder's absolute path with symbolic links resolved, so
// that results/a, ./results/a/ and a link to it are one folder.
func canonical(dir string) string {
	if p, err := filepath.EvalSymlinks(dir); err == nil {
		dir = p
	}
	if p, err := filepath.Abs(dir); err == nil {
		dir = p
	}
	return dir
}

// knownKinds are the metric kinds a tolerance may be keyed by.
func knownKinds() []string {
	kinds := []string{KindLatencyP95, KindLatencyP99, KindErrorRate}
	for _, k := range assertions.Kinds() {
		kinds = append(kinds, k.Name())
	}
	for _, m := range k6Metrics {
		kinds = append(kinds, m.kind)
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// checkTolerances refuses tolerance keys that are neither a metric kind
// nor a metric of the runs compared: a misspelt key would otherwise leave
// its metric on the default rule without a word.
func checkTolerances(tol Tolerances, names map[string]Value) error {
	kinds := knownKinds()
	var bad []string
	for k := range tol.Metrics {
		if _, ok := names[k]; !ok && !slices.Contains(kinds, k) {
			bad = append(bad, fmt.Sprintf("%q", k))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	metrics := slices.Sorted(maps.Keys(names))
	return fmt.Errorf("tolerances: metrics %s: no such metric or kind (kinds: %s; metrics of these runs: %s)",
		strings.Join(bad, ", "), strings.Join(kinds, ", "), strings.Join(metrics, ", "))
}
