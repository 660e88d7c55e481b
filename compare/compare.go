// Package compare compares the results of two releases: each side is one
// or more result folders of the same scenario. For every metric (each
// assertion's value, and k6's throughput, latency percentiles and error
// rate) it gives each side's median with its spread, the change, whether the
// change is significant by the Mann–Whitney U test (benchstat's, from
// golang.org/x/perf/benchmath) and, against a per-metric tolerance in
// Keptn's relative notation, a verdict. A significant regression beyond
// tolerance fails the comparison.
package compare

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"

	"github.com/perfrun/perfrun/result"
)

// Verdicts of one metric.
const (
	// Regressed: a significant change the wrong way, beyond tolerance.
	Regressed = "regressed"
	// Tolerated: a significant change the wrong way, within tolerance.
	Tolerated = "within tolerance"
	// Improved: a significant change the right way.
	Improved = "improved"
	// Same: no significant change (benchstat's "~"), or no change at all.
	Same = "~"
	// Missing: the metric is on one side only, or has no rule saying which
	// way is better; it is shown but never fails the comparison.
	Missing = "n/a"
)

// Confidence of the spread shown beside each median.
const Confidence = 0.95

// Comparison is the outcome of comparing two sides.
type Comparison struct {
	Scenario  string   `json:"scenario"`
	Base      []string `json:"base"`
	Candidate []string `json:"candidate"`
	Alpha     float64  `json:"alpha"`
	Metrics   []Metric `json:"metrics"`
	// Regressed is true when any metric regressed beyond its tolerance.
	Regressed bool `json:"regressed"`
	// Excluded are the runs left out: they did not reach a verdict.
	Excluded []Excluded `json:"excluded,omitempty"`
	// Intended are the input differences --allow-different allowed.
	Intended []Difference `json:"intended,omitempty"`
	// UnknownInputs are runs whose result.json predates recorded inputs:
	// of those only the scenario's name, load script, duration and env
	// were checked.
	UnknownInputs []string `json:"unknownInputs,omitempty"`
}

// Metric is one row of the comparison.
type Metric struct {
	Name      string `json:"name"`
	Kind      string `json:"kind,omitempty"`
	Base      *Stat  `json:"base,omitempty"`
	Candidate *Stat  `json:"candidate,omitempty"`
	// Change is (candidate - base) / |base| of the medians, as a fraction.
	Change *float64 `json:"change,omitempty"`
	// P is the Mann–Whitney U p-value; Significant is P < alpha.
	P           *float64 `json:"p,omitempty"`
	Significant bool     `json:"significant"`
	Rule        *Rule    `json:"rule,omitempty"`
	Verdict     string   `json:"verdict"`
	// Note says why a verdict is weak (too few runs for the test).
	Note string `json:"note,omitempty"`
}

// Stat summarises one side of a metric.
type Stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	// Spread is the half-width of the median's 95% confidence interval
	// relative to the median (benchstat's ±), or, with too few runs for an
	// interval, of the range of the values.
	Spread float64   `json:"spread"`
	Values []float64 `json:"values"`
}

// Compare compares two sides. It refuses what it cannot compare: a run
// given twice; runs of different scenarios (the scenario's name and its
// load script and duration must be the same on every run of both sides);
// runs whose inputs differ (inputs.go) beyond the keys allow names; a
// tolerance keyed by neither a kind nor a metric of these runs. Runs that
// did not reach a verdict are left out (Comparison.Excluded), and a side
// left with none is an error.
func Compare(base, cand []Run, tol Tolerances, allow ...string) (*Comparison, error) {
	if len(base) == 0 || len(cand) == 0 {
		return nil, fmt.Errorf("compare needs at least one run on each side (base %d, candidate %d)", len(base), len(cand))
	}
	if err := checkAllow(allow); err != nil {
		return nil, err
	}
	if err := checkDuplicates(base, cand); err != nil {
		return nil, err
	}
	base, exBase, errBase := usable("base", base)
	cand, exCand, errCand := usable("candidate", cand)
	if err := errors.Join(errBase, errCand); err != nil {
		return nil, err
	}
	if err := sameScenario(base, cand); err != nil {
		return nil, err
	}
	intended, err := checkInputs(slices.Concat(base, cand), allow)
	if err != nil {
		return nil, err
	}
	if tol.Alpha == 0 {
		tol = DefaultTolerances()
		if err := tol.compile(); err != nil {
			return nil, err
		}
	}
	c := &Comparison{Scenario: scenarioName(base[0].Result), Alpha: tol.Alpha,
		Excluded: slices.Concat(exBase, exCand), Intended: intended}
	for _, r := range slices.Concat(base, cand) {
		if r.Result.Inputs == nil {
			c.UnknownInputs = append(c.UnknownInputs, r.Dir)
		}
	}
	for _, r := range base {
		c.Base = append(c.Base, r.Dir)
	}
	for _, r := range cand {
		c.Candidate = append(c.Candidate, r.Dir)
	}
	th := &benchmath.Thresholds{CompareAlpha: tol.Alpha}
	names := map[string]Value{}
	for _, r := range slices.Concat(base, cand) {
		for n, v := range r.Values {
			names[n] = v
		}
	}
	if err := checkTolerances(tol, names); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		proto := names[name]
		m := Metric{Name: name, Kind: proto.Kind, Verdict: Missing}
		bv, cv := values(base, name), values(cand, name)
		var bs, cs *benchmath.Sample
		if len(bv) > 0 {
			bs = benchmath.NewSample(bv, th)
			m.Base = stat(bs)
		}
		if len(cv) > 0 {
			cs = benchmath.NewSample(cv, th)
			m.Candidate = stat(cs)
		}
		if r, ok := tol.rule(name, proto.Kind, proto.Op); ok {
			m.Rule = &r
		}
		if bs == nil || cs == nil {
			m.Note = "only on one side"
			c.Metrics = append(c.Metrics, m)
			continue
		}
		change := relChange(m.Base.Median, m.Candidate.Median)
		m.Change = &change
		cmpr := benchmath.AssumeNothing.Compare(bs, cs)
		p := cmpr.P
		m.P = &p
		m.Significant = p < tol.Alpha
		for _, w := range cmpr.Warnings {
			m.Note = w.Error()
		}
		m.Verdict = verdict(m)
		if m.Verdict == Regressed {
			c.Regressed = true
		}
		c.Metrics = append(c.Metrics, m)
	}
	slices.SortStableFunc(c.Metrics, func(a, b Metric) int { return cmp.Compare(rank(a.Verdict), rank(b.Verdict)) })
	return c, nil
}

// rank orders the table worst first, so that a regression leads.
func rank(v string) int {
	return slices.Index([]string{Regressed, Tolerated, Improved, Same, Missing}, v)
}

func verdict(m Metric) string {
	switch {
	case m.Rule == nil:
		return Missing
	case !m.Significant || m.Base.Median == m.Candidate.Median:
		return Same
	case m.Rule.better(m.Base.Median, m.Candidate.Median):
		return Improved
	case m.Rule.within(m.Base.Median, m.Candidate.Median):
		return Tolerated
	}
	return Regressed
}

func values(runs []Run, name string) []float64 {
	var out []float64
	for _, r := range runs {
		if v, ok := r.Values[name]; ok {
			out = append(out, v.V)
		}
	}
	return out
}

func stat(s *benchmath.Sample) *Stat {
	sum := benchmath.AssumeNothing.Summary(s, Confidence)
	lo, hi := sum.Lo, sum.Hi
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = s.Values[0], s.Values[len(s.Values)-1]
	}
	spread := 0.0
	if sum.Center != 0 {
		spread = math.Max(hi-sum.Center, sum.Center-lo) / math.Abs(sum.Center)
	}
	return &Stat{N: len(s.Values), Median: sum.Center, Spread: spread, Values: slices.Clone(s.Values)}
}

func relChange(base, cand float64) float64 {
	switch {
	case base == cand:
		return 0
	case base != 0:
		return (cand - base) / math.Abs(base)
	case cand > base:
		return math.Inf(1)
	}
	return math.Inf(-1)
}

func scenarioName(r *result.Run) string {
	if r.Scenario == nil {
		return ""
	}
	return r.Scenario.Metadata.Name
}

// sameScenario refuses runs that did not run the same scenario: the same
// name, load script and load duration. Images and flags may differ: that is
// what a release comparison compares.
func sameScenario(base, cand []Run) error {
	ref := base[0]
	key := func(r Run) (name, script, dur string) {
		if r.Result.Scenario == nil {
			return "", "", ""
		}
		l := r.Result.Scenario.Spec.Load
		return r.Result.Scenario.Metadata.Name, l.Script, l.Duration.Duration.String()
	}
	rn, rs, rd := key(ref)
	if rn == "" {
		return fmt.Errorf("%s: result has no scenario; cannot tell what it ran", ref.Dir)
	}
	for _, r := range slices.Concat(base[1:], cand) {
		n, s, d := key(r)
		switch {
		case n != rn:
			return fmt.Errorf("refusing to compare different scenarios: %s ran %q, %s ran %q", ref.Dir, rn, r.Dir, n)
		case s != rs:
			return fmt.Errorf("refusing to compare scenario %q with different load scripts: %s used %q, %s used %q", rn, ref.Dir, rs, r.Dir, s)
		case d != rd:
			return fmt.Errorf("refusing to compare scenario %q with different load durations: %s ran %s, %s ran %s", rn, ref.Dir, rd, r.Dir, d)
		}
	}
	return nil
}
