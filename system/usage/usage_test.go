package usage

import (
	"testing"
	"time"
)

// Stamps, cached per minute, is every period's Stamp, across minute, day,
// week and year boundaries, forwards and backwards.
func TestStampsMatchStamp(t *testing.T) {
	base := time.Date(2026, 12, 31, 23, 58, 30, 0, time.UTC)
	var times []time.Time
	for i := range 200 {
		times = append(times, base.Add(time.Duration(i)*17*time.Second))
	}
	times = append(times, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), base, time.Date(2027, 1, 4, 0, 0, 0, 0, time.FixedZone("x", 3600)))
	for _, tm := range times {
		got := Stamps(tm)
		for i, p := range Periods {
			if want := p.Stamp(tm); got[i] != want {
				t.Fatalf("Stamps(%v)[%s] = %q, want %q", tm, p, got[i], want)
			}
		}
	}
}
