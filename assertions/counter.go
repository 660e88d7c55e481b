package assertions

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/perfrun/perfrun/scenario"
)

// CounterPad is how far beyond each edge of the window the raw samples are
// read: three scrape intervals at perfrun's 5s, so that each edge has a
// sample on both sides even when one scrape was missed.
const CounterPad = 15 * time.Second

// counter evaluates a Counter spec. PromQL's increase() extrapolates from
// the first and last samples inside the window to its edges, by the full
// gap when the gap is under 1.1 average intervals and by half an interval
// otherwise; a load that stops at the window's end with one scrape missed
// near it then reads 10-20% short (measured: 244/s for 300/s all answered).
// Reading the raw samples instead counts exactly what the load did: see
// CounterIncrease.
func (e *Evaluator) counter(ctx context.Context, s Spec, w scenario.Window, startInside bool, r Result) Result {
	sel, err := scenario.Expand(s.Counter, w)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	q, to := counterQuery(sel, w)
	r.Query = q
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	v, _, _, err := e.Q.Query(ctx, q, to)
	if err != nil {
		r.Error = fmt.Sprintf("query: %v", err)
		return r
	}
	r.Series = toSeries(v)
	if len(r.Series) == 0 {
		r.Error = "query returned no samples (is the counter scraped, the namespace label right?)"
		return r
	}
	secs := w.End.Sub(w.Start).Seconds()
	if secs <= 0 {
		r.Error = fmt.Sprintf("empty window %s..%s", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
		return r
	}
	total := 0.0
	for _, ser := range r.Series {
		total += CounterIncrease(ser.Points, w.Start, w.End, startInside)
	}
	val := total / secs
	r.Value = &val
	r.Status = Fail
	if Compare(s.Op, val, s.Bound) {
		r.Status = Pass
	}
	return r
}

// counterQuery asks for a counter's raw samples over the window and
// CounterPad each side, at the window's end plus the pad.
func counterQuery(sel string, w scenario.Window) (string, time.Time) {
	from, to := w.Start.Add(-CounterPad), w.End.Add(CounterPad)
	return fmt.Sprintf("%s[%s] @ %d", sel, scenario.PromDuration(to.Sub(from)), to.Unix()), to
}

// CounterIncrease is how much a counter's raw samples (any order, counter
// resets allowed) rose from start to end, for a load that runs from start
// (or from before it, when startInside) and stops at end:
//
//   - At end the load has stopped, so the first sample at or after end
//     holds everything it did: no extrapolation, no interpolation.
//   - At start, when the load began there, the last sample at or before
//     start is the value before it; when start is inside the load (a
//     warm-up skipped), the value is interpolated linearly between the
//     samples around it, which is exact for a steady rate.
//   - A series with no sample before start began inside the window (a pod
//     started during the load): its counter started from 0.
//   - A series with no sample after end stopped being scraped (a pod
//     deleted): its last sample is the most it did.
func CounterIncrease(ps []Point, start, end time.Time, startInside bool) float64 {
	if len(ps) == 0 {
		return 0
	}
	ps = append([]Point(nil), ps...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].T < ps[j].T })
	// acc[i] is the counter at sample i with resets undone.
	acc := make([]float64, len(ps))
	acc[0] = ps[0].V
	for i := 1; i < len(ps); i++ {
		d := ps[i].V - ps[i-1].V
		if d < 0 { // reset: the process restarted from 0
			d = ps[i].V
		}
		acc[i] = acc[i-1] + d
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	// after: the first sample at or after end.
	e, s := ms(end), ms(start)
	atEnd := acc[len(acc)-1]
	if i := sort.Search(len(ps), func(i int) bool { return ps[i].T >= e }); i < len(ps) {
		atEnd = acc[i]
	}
	// before: the last sample at or before start.
	b := sort.Search(len(ps), func(i int) bool { return ps[i].T > s }) - 1
	atStart := 0.0
	if b >= 0 {
		atStart = acc[b]
		if startInside && b+1 < len(ps) && ps[b].T < s {
			frac := float64(s-ps[b].T) / float64(ps[b+1].T-ps[b].T)
			atStart += frac * (acc[b+1] - acc[b])
		}
	}
	return max(atEnd-atStart, 0)
}
