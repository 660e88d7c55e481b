package compare

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/perfrun/perfrun/assertions"
)

// Directions of a metric.
const (
	HigherIsBetter = "higher"
	LowerIsBetter  = "lower"
)

// Metric kinds of the k6 summary's figures. A metric taken from an
// assertion has the assertion's kind, whose default tolerance the kind
// itself gives (assertions.Kinds).
const (
	KindThroughput   = assertions.KindThroughput
	KindLatencyP95   = "latencyP95"
	KindLatencyP99   = "latencyP99"
	KindErrorRate    = "errorRate"
	KindDisruption   = assertions.KindDisruption
	KindDistribution = assertions.KindEvenDistribution
)

// Rule is the tolerance of one metric: which way is better, how far it may
// move the wrong way relative to the base (Keptn's `<=+10%` notation), and
// an absolute floor under which a move is noise whatever its percentage
// (an error rate going from 0.01% to 0.02% is +100% and still nothing).
type Rule struct {
	Direction string `yaml:"direction,omitempty" json:"direction"`
	// Bound is relative to the base: `<=+10%` (lower is better, may rise
	// 10%), `>=-5%` (higher is better, may fall 5%).
	Bound string `yaml:"bound" json:"bound"`
	// Floor is an absolute change, in the metric's unit, that a regression
	// must exceed as well.
	Floor float64 `yaml:"floor,omitempty" json:"floor,omitempty"`

	op    string
	limit float64 // the relative bound as a fraction: +0.10
}

// Tolerances is the tolerance file: rules keyed by metric name or by kind
// (a metric's name wins over its kind), and the significance level.
type Tolerances struct {
	// Alpha is the level below which the Mann–Whitney U test's p-value
	// counts as a real change (default 0.05).
	Alpha float64 `yaml:"alpha,omitempty" json:"alpha"`
	// Metrics maps a metric name or kind to its rule.
	Metrics map[string]Rule `yaml:"metrics" json:"metrics"`
}

// DefaultTolerances are used for every kind the tolerance file leaves out:
// each assertion kind's own, and the k6 summary's latency and error kinds.
func DefaultTolerances() Tolerances {
	t := Tolerances{
		Alpha: 0.05,
		Metrics: map[string]Rule{
			KindLatencyP95: {Direction: LowerIsBetter, Bound: "<=+10%", Floor: 0.001},
			KindLatencyP99: {Direction: LowerIsBetter, Bound: "<=+15%", Floor: 0.001},
			KindErrorRate:  {Direction: LowerIsBetter, Bound: "<=+10%", Floor: 0.001},
		},
	}
	for _, k := range assertions.Kinds() {
		if r, ok := k.Tolerance(); ok {
			t.Metrics[k.Name()] = Rule{Direction: r.Direction, Bound: r.Bound, Floor: r.Floor}
		}
	}
	return t
}

var boundRE = regexp.MustCompile(`^(<=|<|>=|>)\s*([+-]?[0-9]+(?:\.[0-9]+)?)%$`)

// compile checks the rule and fills in its direction when the bound implies it.
func (r *Rule) compile() error {
	m := boundRE.FindStringSubmatch(r.Bound)
	if m == nil {
		return fmt.Errorf("bound %q: want a relative bound such as <=+10%% or >=-5%%", r.Bound)
	}
	r.op = m[1]
	pct, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return fmt.Errorf("bound %q: %w", r.Bound, err)
	}
	r.limit = pct / 100
	implied := HigherIsBetter
	if r.op[0] == '<' {
		implied = LowerIsBetter
	}
	switch r.Direction {
	case "":
		r.Direction = implied
	case HigherIsBetter, LowerIsBetter:
		if r.Direction != implied {
			return fmt.Errorf("direction %q contradicts bound %q (which says %s is better)", r.Direction, r.Bound, implied)
		}
	default:
		return fmt.Errorf("direction %q: want %q or %q", r.Direction, HigherIsBetter, LowerIsBetter)
	}
	if r.Floor < 0 || math.IsNaN(r.Floor) {
		return fmt.Errorf("floor %v: want a number ≥ 0", r.Floor)
	}
	return nil
}

// within says whether moving from base to cand keeps to the rule.
func (r Rule) within(base, cand float64) bool {
	if math.Abs(cand-base) <= r.Floor {
		return true
	}
	var rel float64
	switch {
	case base != 0:
		rel = (cand - base) / math.Abs(base)
	case cand > base:
		rel = math.Inf(1)
	case cand < base:
		rel = math.Inf(-1)
	}
	switch r.op {
	case "<=":
		return rel <= r.limit
	case "<":
		return rel < r.limit
	case ">=":
		return rel >= r.limit
	case ">":
		return rel > r.limit
	}
	return false
}

// better says whether cand is better than base in the rule's direction.
func (r Rule) better(base, cand float64) bool {
	if r.Direction == HigherIsBetter {
		return cand > base
	}
	return cand < base
}

// ParseTolerances reads a tolerance file; kinds it leaves out keep their
// defaults. Unknown fields are errors, each naming the metric.
func ParseTolerances(b []byte) (Tolerances, error) {
	var t Tolerances
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return Tolerances{}, fmt.Errorf("tolerances: %w", err)
	}
	def := DefaultTolerances()
	if t.Alpha == 0 {
		t.Alpha = def.Alpha
	}
	if t.Alpha <= 0 || t.Alpha >= 1 {
		return Tolerances{}, fmt.Errorf("tolerances: alpha %v: want 0 < alpha < 1", t.Alpha)
	}
	for k, r := range def.Metrics {
		if _, ok := t.Metrics[k]; !ok {
			if t.Metrics == nil {
				t.Metrics = map[string]Rule{}
			}
			t.Metrics[k] = r
		}
	}
	return t, t.compile()
}

// LoadTolerances reads a tolerance file from disk; "" gives the defaults.
func LoadTolerances(path string) (Tolerances, error) {
	if path == "" {
		t := DefaultTolerances()
		return t, t.compile()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Tolerances{}, fmt.Errorf("reading tolerances: %w", err)
	}
	t, err := ParseTolerances(b)
	if err != nil {
		return Tolerances{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func (t Tolerances) compile() error {
	for k, r := range t.Metrics {
		if err := r.compile(); err != nil {
			return fmt.Errorf("tolerances: metrics.%s: %w", k, err)
		}
		t.Metrics[k] = r
	}
	return nil
}

// rule finds the rule of a metric: by name, then by kind. A metric with
// neither gets a rule from its assertion's operator when it has one (a
// `>=` assertion is higher-is-better) with a ±10% bound.
func (t Tolerances) rule(name, kind, op string) (Rule, bool) {
	if r, ok := t.Metrics[name]; ok {
		return r, true
	}
	if r, ok := t.Metrics[kind]; ok {
		return r, true
	}
	var r Rule
	switch op {
	case ">", ">=":
		r = Rule{Bound: ">=-10%"}
	case "<", "<=":
		r = Rule{Bound: "<=+10%"}
	default:
		return Rule{}, false
	}
	if err := r.compile(); err != nil {
		return Rule{}, false
	}
	return r, true
}
