package scenario

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// CheckPromQL parses an expanded query with Prometheus's own parser, with
// the options a default Prometheus runs with (no experimental functions),
// so that a query Prometheus would refuse is bad input before the run, not
// an assertion error after it.
func CheckPromQL(query string) error {
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(query); err != nil {
		return fmt.Errorf("not valid PromQL: %v", err)
	}
	return nil
}

// checkSelector says whether sel is a series selector (name{labels}, no
// function, offset or @), which the harness puts in its own PromQL as
// sel[range] or rate(sel[20s]).
func checkSelector(sel string) error {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(sel)
	if err != nil {
		return fmt.Errorf("not a valid PromQL series selector: %v", err)
	}
	vs, ok := expr.(*parser.VectorSelector)
	if !ok || vs.Timestamp != nil || vs.StartOrEnd != 0 || vs.OriginalOffset != 0 {
		return fmt.Errorf("must be a series selector such as name{label=\"v\"} (no function, offset or @), got %q", sel)
	}
	return nil
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func checkMetricName(name string) error {
	if !metricName.MatchString(name) {
		return fmt.Errorf("must be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got %q", name)
	}
	return nil
}

// checkLabelNames checks a comma-separated list of label names (by, the
// report's answer labels).
func checkLabelNames(list string) error {
	for l := range strings.SplitSeq(list, ",") {
		if !labelName.MatchString(strings.TrimSpace(l)) {
			return fmt.Errorf("must be label names separated by commas, got %q", list)
		}
	}
	return nil
}

// metricShapes says what each field of the metric contract is, as the
// harness uses it: a selector it ranges over, a name it adds a suffix or
// matchers to, or a list of labels.
var metricShapes = map[string]func(string) error{
	"answers": checkSelector, "served": checkSelector, "failed": checkSelector, "serverErrors": checkSelector, "sharedItems": checkSelector,
	"answerLabels": checkLabelNames,
	"latency":      checkMetricName, "work": checkMetricName, "owned": checkMetricName, "pending": checkMetricName,
	"workLatency": checkMetricName, "queueDepth": checkMetricName, "jobs": checkMetricName,
}
