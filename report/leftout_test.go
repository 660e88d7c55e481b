package report

import (
	"strings"
	"testing"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
)

func series(name string, vs ...float64) result.Timeseries {
	var pts []assertions.Point
	for i, v := range vs {
		pts = append(pts, assertions.Point{T: int64(i * 1000), V: v})
	}
	return result.Timeseries{Name: name, Series: []assertions.Series{{Points: pts}}}
}

// A run of items only (controller-kill) has no listener answers: its
// server and client latency plots are left out, with the reason; a run
// that called the listener keeps them.
func TestLeftOutLatencyWithoutCalls(t *testing.T) {
	items := &result.Run{Timeseries: []result.Timeseries{series(SeriesThroughput, 0, 0), series(SeriesReconciles, 3, 5)}}
	out := LeftOut(items)
	if !strings.Contains(out[SeriesLatency], "answered no request") || !strings.Contains(out[SeriesClientLatency], "no call") {
		t.Errorf("items-only run: left out %v, want both latency plots", out)
	}
	if _, ok := out[SeriesReconciles]; ok {
		t.Errorf("items-only run left out its controller plots: %v", out)
	}
	calls := &result.Run{Timeseries: []result.Timeseries{series(SeriesThroughput, 0, 200), series(SeriesLatency, 0.001)}}
	out = LeftOut(calls)
	if _, ok := out[SeriesLatency]; ok {
		t.Errorf("a run with answers left out its latency: %v", out)
	}
	if _, ok := out[SeriesClientLatency]; ok {
		t.Errorf("a run with answers left out k6's latency: %v", out)
	}
	// Kubernetes objects only: k6 timed its creates, the listener nothing.
	objs := &result.Run{Timeseries: []result.Timeseries{series(SeriesClientLatency, 0.02)}}
	out = LeftOut(objs)
	if _, ok := out[SeriesClientLatency]; ok || out[SeriesLatency] == "" {
		t.Errorf("object run: left out %v, want server latency only", out)
	}
}
