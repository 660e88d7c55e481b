package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Output formats.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
)

// Formats lists the output formats, for flag help and errors.
var Formats = []string{FormatText, FormatMarkdown, FormatJSON}

// Write writes the comparison in one of Formats.
func (c *Comparison) Write(w io.Writer, format string) error {
	switch format {
	case FormatText, "":
		return c.writeText(w)
	case FormatMarkdown:
		return c.writeMarkdown(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	return fmt.Errorf("format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// Row is one metric as table cells, shared by the text, markdown and HTML
// renderings.
type Row struct {
	Metric, Base, Candidate, Change, Significance, Verdict, Tolerance string
}

// Rows renders every metric as table cells.
func (c *Comparison) Rows() []Row {
	rows := make([]Row, 0, len(c.Metrics))
	for _, m := range c.Metrics {
		r := Row{Metric: m.Name, Base: fmtStat(m.Base), Candidate: fmtStat(m.Candidate), Change: "-", Significance: "-", Verdict: m.Verdict}
		if m.Change != nil {
			r.Change = fmtPct(*m.Change)
		}
		if m.P != nil {
			r.Significance = fmt.Sprintf("p=%.3f n=%d+%d", *m.P, m.Base.N, m.Candidate.N)
		}
		if m.Rule != nil {
			r.Tolerance = m.Rule.Bound
			if m.Rule.Floor > 0 {
				r.Tolerance += " (floor " + FormatNumber(m.Rule.Floor) + ")"
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// Summary is one line that says what the comparison decided.
func (c *Comparison) Summary() string {
	var reg, imp int
	for _, m := range c.Metrics {
		switch m.Verdict {
		case Regressed:
			reg++
		case Improved:
			imp++
		}
	}
	if reg > 0 {
		return fmt.Sprintf("FAIL: %d metric(s) regressed beyond tolerance, %d improved", reg, imp)
	}
	return fmt.Sprintf("PASS: no significant regression beyond tolerance, %d improved", imp)
}

// Notes lists the weak verdicts' reasons, once each.
func (c *Comparison) Notes() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range c.Metrics {
		if m.Note != "" && !seen[m.Note] {
			seen[m.Note] = true
			out = append(out, m.Note)
		}
	}
	return out
}

// Remarks say what the comparison left out or did not check: runs
// without a verdict, the input differences allowed, runs whose inputs are
// unknown.
func (c *Comparison) Remarks() []string {
	var out []string
	if n := len(c.Excluded); n > 0 {
		out = append(out, fmt.Sprintf("left out %d run(s) that did not reach a verdict:", n))
		for _, e := range c.Excluded {
			out = append(out, "  "+e.String())
		}
	}
	if len(c.Intended) > 0 {
		out = append(out, "inputs that differ, as --allow-different allows:")
		for _, d := range c.Intended {
			out = append(out, "  "+d.String())
		}
	}
	if n := len(c.UnknownInputs); n > 0 {
		out = append(out, fmt.Sprintf("inputs unknown for %d run(s) (result.json from a perfrun that did not record them: only the scenario's name, load script, duration and env checked): %s",
			n, strings.Join(c.UnknownInputs, ", ")))
	}
	return out
}

var header = Row{"metric", "base", "candidate", "change", "significance", "verdict", "tolerance"}

func (r Row) cells() []string {
	return []string{r.Metric, r.Base, r.Candidate, r.Change, r.Significance, r.Verdict, r.Tolerance}
}

func (c *Comparison) writeText(w io.Writer) error {
	fmt.Fprintf(w, "scenario: %s\nbase: %d run(s)  candidate: %d run(s)  alpha: %g\n", c.Scenario, len(c.Base), len(c.Candidate), c.Alpha)
	for _, r := range c.Remarks() {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header.cells(), "\t"))
	for _, r := range c.Rows() {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range c.Notes() {
		fmt.Fprintln(w, "note:", n)
	}
	_, err := fmt.Fprintln(w, "\n"+c.Summary())
	return err
}

func (c *Comparison) writeMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "### perfrun compare: %s\n\nbase: %d run(s), candidate: %d run(s), alpha %g\n\n", mdEscape(c.Scenario), len(c.Base), len(c.Candidate), c.Alpha)
	if rs := c.Remarks(); len(rs) > 0 {
		for _, r := range rs {
			fmt.Fprintf(w, "> %s  \n", mdEscape(r))
		}
		fmt.Fprintln(w)
	}
	line := func(cells []string) {
		for i := range cells {
			cells[i] = mdEscape(cells[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	line(header.cells())
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|---|")
	for _, r := range c.Rows() {
		if r.Verdict == Regressed {
			r.Verdict = "**" + r.Verdict + "**"
		}
		line(r.cells())
	}
	fmt.Fprintln(w)
	for _, n := range c.Notes() {
		fmt.Fprintf(w, "> note: %s\n", mdEscape(n))
	}
	_, err := fmt.Fprintf(w, "\n**%s**\n", c.Summary())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func fmtStat(s *Stat) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%s ± %.0f%%", FormatNumber(s.Median), 100*s.Spread)
}

func fmtPct(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+∞"
	case math.IsInf(f, -1):
		return "-∞"
	}
	return fmt.Sprintf("%+.2f%%", 100*f)
}

// FormatNumber writes a value with four significant digits, without a
// trailing exponent for everyday magnitudes.
func FormatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
