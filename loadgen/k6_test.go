package loadgen

import (
	"testing"
	"time"
)

// DURATION is whole seconds however long the load: fixtures/load/lib.js
// once refused Go's "1m0s", and every scenario of a minute or more failed.
func TestK6DurationIsSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{40 * time.Second: "40s", time.Minute: "60s", 90 * time.Second: "90s", 1500 * time.Millisecond: "1.5s"} {
		if got := k6Duration(d); got != want {
			t.Errorf("%s: got %q, want %q", d, got, want)
		}
	}
}
