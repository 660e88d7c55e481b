// Package loadgen splits one scenario's load over N k6 generators that run
// as Jobs in the cluster, starts them together, watches them and turns what
// they remote-wrote into one verdict.
//
// Splitting uses k6's execution segments: generator i of n runs the segment
// i/n:(i+1)/n of the sequence 0,1/n,...,1, so k6 itself gives it its share
// of every executor's rate and VUs (and iterationInTest stays unique across
// generators). The key space (the applications the load picks from) is cut
// along the same boundaries, so two generators never share a key.
package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxGenerators bounds a scenario's generators: beyond this the per-Job
// overhead dominates and a scenario is more likely a typo.
const MaxGenerators = 256

// Segment is generator Index's share [From, To) of the load, with From and
// To fractions over Den (k6's execution segment Num/Den:Num/Den).
type Segment struct {
	Index    int
	From, To int64
	Den      int64
}

// Slice cuts the load into n equal segments covering [0,1) exactly once.
func Slice(n int) ([]Segment, error) {
	if n < 1 || n > MaxGenerators {
		return nil, fmt.Errorf("generators: want 1..%d, got %d", MaxGenerators, n)
	}
	segs := make([]Segment, n)
	for i := range segs {
		segs[i] = Segment{Index: i, From: int64(i), To: int64(i + 1), Den: int64(n)}
	}
	return segs, nil
}

// String is k6's --execution-segment value, e.g. "1/3:2/3".
func (s Segment) String() string { return frac(s.From, s.Den) + ":" + frac(s.To, s.Den) }

// Fraction is the segment's share of the load.
func (s Segment) Fraction() float64 { return float64(s.To-s.From) / float64(s.Den) }

// Sequence is k6's --execution-segment-sequence for segs ("0,1/3,2/3,1"):
// with it every generator computes the same striping of VUs and
// iterations, so the segments' shares add up to the whole exactly.
func Sequence(segs []Segment) string {
	if len(segs) == 0 {
		return ""
	}
	parts := []string{frac(segs[0].From, segs[0].Den)}
	for _, s := range segs {
		parts = append(parts, frac(s.To, s.Den))
	}
	return strings.Join(parts, ",")
}

func frac(num, den int64) string {
	switch {
	case num == 0:
		return "0"
	case num == den:
		return "1"
	}
	g := gcd(num, den)
	return strconv.FormatInt(num/g, 10) + "/" + strconv.FormatInt(den/g, 10)
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// OfferedRate is the segment's share of a total arrival rate; k6 scales an
// arrival rate by the segment exactly (a rational), so the shares of all
// segments add up to rate.
func (s Segment) OfferedRate(rate float64) float64 { return rate * s.Fraction() }

// KeySlice is the part [Offset, Offset+Count) of a key space that one
// generator uses (the script gets KEY_OFFSET and KEY_COUNT).
type KeySlice struct {
	Offset, Count int
}

// Keys cuts a key space of n keys along the segments' boundaries:
// floor(n·From) to floor(n·To), so the slices are disjoint, in order and
// cover 0..n-1. Each generator needs at least one key.
func Keys(segs []Segment, n int) ([]KeySlice, error) {
	if n < len(segs) {
		return nil, fmt.Errorf("key space: %d keys cannot be split over %d generators (each needs one)", n, len(segs))
	}
	out := make([]KeySlice, len(segs))
	for i, s := range segs {
		lo := int(int64(n) * s.From / s.Den)
		hi := int(int64(n) * s.To / s.Den)
		out[i] = KeySlice{Offset: lo, Count: hi - lo}
	}
	return out, nil
}
