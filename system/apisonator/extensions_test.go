package apisonator

import (
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/usage"
)

func TestParseExtensions(t *testing.T) {
	yes, no := "true", "0"
	for _, tc := range []struct {
		header string
		param  *string
		want   Extensions
	}{
		{"", nil, Extensions{}},
		{"rejection_reason_header=1&limit_headers=1&flat_usage=1&hierarchy=1&list_app_keys=1", nil,
			Extensions{RejectionReasonHeader: true, LimitHeaders: true, FlatUsage: true, Hierarchy: true, ListAppKeys: true}},
		{"limit_headers=true&hierarchy=2", nil, Extensions{}}, // only "1"
		{"", &yes, Extensions{NoBody: true}},
		{"", &no, Extensions{}},
		{"no_body=0", &yes, Extensions{}}, // the header wins
		{"no_body=anything", nil, Extensions{NoBody: true}},
	} {
		got, err := ParseExtensions(tc.header, tc.param)
		if err != nil || got != tc.want {
			t.Errorf("ParseExtensions(%q, %v) = %+v, %v; want %+v", tc.header, tc.param, got, err, tc.want)
		}
	}
	if _, err := ParseExtensions("a=%zz", nil); err == nil || err.Status != 400 {
		t.Errorf("a malformed header: %v, want 400", err)
	}
}

// The most constrained report decides: fewest identical calls left, a
// longer period on a tie; reset counts to the period's end.
func TestLimitHeadersPicksTheMostConstrained(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 15, 0, time.UTC)
	rs := []UsageReport{
		{Metric: "hits", Period: usage.Minute, Max: 10, Current: 8}, // 2 left, 2 calls of 1
		{Metric: "hits", Period: usage.Day, Max: 100, Current: 98},  // 2 calls too: the day wins
		{Metric: "hits", Period: usage.Eternity, Max: 1000, Current: 0},
	}
	h := limitHeaders(rs, func(string) int64 { return 1 }, now)
	if h != (LimitHeaders{Remaining: 2, Reset: 13*3600 + 59*60 + 45, MaxValue: 100, HasMax: true}) {
		t.Errorf("got %+v, want 2 calls left until the day ends", h)
	}
	if h := limitHeaders(rs, func(string) int64 { return 3 }, now); h.Remaining != 0 || h.MaxValue != 100 {
		t.Errorf("usage 3: %+v, want 0 left, the day before the minute", h)
	}
	if h := limitHeaders(rs[2:], func(string) int64 { return 0 }, now); h != (LimitHeaders{Remaining: -1, Reset: -1}) {
		t.Errorf("no usage: %+v, want unconstrained", h)
	}
	if h := limitHeaders(rs[2:], func(string) int64 { return 1 }, now); h.Reset != -1 || h.Remaining != 1000 {
		t.Errorf("eternity: %+v, want 1000 left and no reset", h)
	}
}
