package apisonator

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/perfrun/perfrun/system/catalog"
	"github.com/perfrun/perfrun/system/usage"
)

// Extensions are the options of Apisonator's 3scale-options request header
// (docs/extensions.md; Listener.threescale_extensions), a query string such
// as "rejection_reason_header=1&limit_headers=1".
type Extensions struct {
	// NoBody: answer authorizations with the status and headers only. From
	// the header or, when the header does not set it, the no_body query
	// parameter; any value but "false" and "0" asks for it.
	NoBody bool
	// RejectionReasonHeader: a denied authorization carries its reason's
	// code in the 3scale-rejection-reason response header.
	RejectionReasonHeader bool
	// LimitHeaders: 3scale-limit-remaining, -reset and -max-value on an
	// authorization that passed or was denied for its limits.
	LimitHeaders bool
	// FlatUsage: the usage already holds every parent's share; it is
	// checked and applied as given, without the metric hierarchy.
	FlatUsage bool
	// Hierarchy: the answer lists each reported metric's children.
	Hierarchy bool
	// ListAppKeys: the answer lists the application's keys.
	ListAppKeys bool
}

// ParseExtensions reads the 3scale-options header (parsed as Rack parses a
// query, so a malformed one is a 400 as any malformed query is). noBody is
// the no_body query parameter, nil when absent. Every extension but no_body
// is on for the value "1" only, as Apisonator compares them.
func ParseExtensions(header string, noBody *string) (Extensions, *Error) {
	var x Extensions
	root, e := ParseQuery(header)
	if e != nil {
		return x, e
	}
	one := func(k string) bool { v, _ := root.Get(k).String(); return v == "1" }
	x.RejectionReasonHeader = one("rejection_reason_header")
	x.LimitHeaders = one("limit_headers")
	x.FlatUsage = one("flat_usage")
	x.Hierarchy = one("hierarchy")
	x.ListAppKeys = one("list_app_keys")
	if n := root.Get("no_body"); n != nil {
		v, _ := n.String()
		noBody = &v
	}
	if noBody != nil {
		x.NoBody = *noBody != "false" && *noBody != "0"
	}
	return x, nil
}

// LimitHeaders are the limit_headers extension's values
// (Transactor::LimitHeaders): the most constrained limit of the metrics
// authorized (all limits without a usage).
type LimitHeaders struct {
	// Remaining is how many identical calls are left, -1 for no limit.
	Remaining int64
	// Reset is the seconds until the limit's period ends, -1 for none.
	Reset int64
	// MaxValue is the limit's maximum; absent (HasMax false) with no limit.
	MaxValue int64
	HasMax   bool
}

// Headers are the response headers, by name.
func (h LimitHeaders) Headers() [][2]string {
	out := [][2]string{{"3scale-limit-remaining", itoa(h.Remaining)}, {"3scale-limit-reset", itoa(h.Reset)}}
	if h.HasMax {
		out = append(out, [2]string{"3scale-limit-max-value", itoa(h.MaxValue)})
	}
	return out
}

// limitHeaders computes the headers over reports (those of the metrics in
// the usage and their parents, or all without a usage). usageOf is a
// metric's share of this call's usage, the hierarchy applied (what
// Apisonator's compute_usage adds up), 0 when it has none.
func limitHeaders(reports []UsageReport, usageOf func(metric string) int64, now time.Time) LimitHeaders {
	// remaining_same_calls: 0 when nothing is left, -1 when this call uses
	// none of the metric, else how many times this call's usage still fits.
	rem := func(r UsageReport) int64 {
		left := r.Max - r.Current
		if left <= 0 {
			return 0
		}
		if u := usageOf(r.Metric); u > 0 {
			return left / u
		}
		return -1
	}
	// Apisonator takes Enumerable#min with its comparator, keeping the
	// first of equals: fewer calls left wins, a longer period breaks ties.
	// The comparator puts an unconstrained report (-1) before another
	// depending on which is compared with which; the same walk is kept, so
	// the answer is the same for the same order of reports.
	var best *UsageReport
	var bestRem int64
	for i := range reports {
		r := &reports[i]
		rr := rem(*r)
		if best == nil {
			best, bestRem = r, rr
			continue
		}
		var c int
		switch {
		case rr == bestRem:
			c = granularity(best.Period) - granularity(r.Period)
		case bestRem == -1 || rr < bestRem:
			c = -1
		default:
			c = 1
		}
		if c < 0 {
			best, bestRem = r, rr
		}
	}
	if best == nil || bestRem == -1 {
		return LimitHeaders{Remaining: -1, Reset: -1}
	}
	h := LimitHeaders{Remaining: bestRem, Reset: -1, MaxValue: best.Max, HasMax: true}
	if best.Period != usage.Eternity {
		h.Reset = int64(math.Ceil(best.Period.End(now).Sub(now).Seconds()))
	}
	return h
}

// granularity orders periods from minute (0) to eternity.
func granularity(p usage.Period) int { return slices.Index(usage.Periods, p) }

// children is the hierarchy extension's metric → children names, sorted.
func children(m catalog.Metrics) map[string][]string {
	out := map[string][]string{}
	for id, parent := range m.Parent {
		pn, cn := m.NameByID[parent], m.NameByID[id]
		if pn == "" || cn == "" {
			continue
		}
		out[pn] = append(out[pn], cn)
	}
	for _, c := range out {
		slices.Sort(c)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
