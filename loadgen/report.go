package loadgen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/images"
)

// KindGenerator is the assertion kind of per-generator checks.
const KindGenerator = "loadGenerator"

// Defaults for judging generators.
const (
	// DefaultMinAchieved: a generator that ran fewer than this share of
	// its offered iterations lagged.
	DefaultMinAchieved = 0.95
	// DefaultMaxDropped: a generator that dropped more than this share of
	// its offered iterations was starved (k6 had no free VU when one was
	// due: on a busy generator, its CPU). A few drops at start, while k6
	// grows its VUs, are not.
	DefaultMaxDropped = 0.01
)

// GeneratorStats is what one generator offered and achieved.
type GeneratorStats struct {
	Index   int     `json:"index"`
	Segment string  `json:"segment"`
	Keys    string  `json:"keys,omitempty"`
	Outcome Outcome `json:"outcome"`
	// OfferedRate and AchievedRate are iterations per second over the load
	// window; Offered is 0 for closed-model loads (no arrival rate).
	OfferedRate  float64 `json:"offeredRate"`
	AchievedRate float64 `json:"achievedRate"`
	Iterations   float64 `json:"iterations"`
	// OfferedIterations is the generator's share of the scenario's
	// arrival-rate iterations.
	OfferedIterations float64 `json:"offeredIterations"`
	// Dropped are k6's dropped_iterations: no VU was free when an iteration
	// was due. With CPU to spare it is the system's latency; on a busy
	// generator, the generator's own limit.
	Dropped float64 `json:"dropped"`
	// Starved flags more dropped iterations than DefaultMaxDropped of the
	// offered ones (any, for a load without an arrival rate): the load
	// offered was less than the scenario asked for, so the system must not
	// be blamed for it.
	Starved bool `json:"starved"`
	Lagging bool `json:"lagging"`
}

// Stats reads every generator's iterations and dropped iterations from
// Prometheus (at end, over the run) and judges them against offered, the
// whole load's offered iterations (0 when the load has no arrival rate).
func Stats(ctx context.Context, q assertions.Querier, testID string, start, end time.Time, r *Rendered, outcomes []Outcome, offered float64) ([]GeneratorStats, error) {
	a := &Aggregator{Q: q, TestID: testID, Start: start, End: end}
	iters, err := a.byGenerator(ctx, fmt.Sprintf(`sum by (generator) (last_over_time(k6_iterations_total{testid=%q}[%s]))`, testID, a.window()))
	if err != nil {
		return nil, err
	}
	dropped, err := a.byGenerator(ctx, fmt.Sprintf(`sum by (generator) (last_over_time(k6_dropped_iterations_total{testid=%q}[%s]))`, testID, a.window()))
	if err != nil {
		return nil, err
	}
	secs := end.Sub(start).Seconds()
	out := make([]GeneratorStats, len(r.Generators))
	for i, g := range r.Generators {
		key := fmt.Sprint(i)
		st := GeneratorStats{Index: i, Segment: g.Segment.String(), Iterations: iters[key], Dropped: dropped[key]}
		if g.Keys.Count > 0 {
			st.Keys = fmt.Sprintf("%d..%d", g.Keys.Offset, g.Keys.Offset+g.Keys.Count-1)
		}
		if i < len(outcomes) {
			st.Outcome = outcomes[i]
		}
		st.OfferedIterations = offered * g.Segment.Fraction()
		if secs > 0 {
			st.OfferedRate = offered * g.Segment.Fraction() / secs
			st.AchievedRate = st.Iterations / secs
		}
		st.Starved = st.Dropped > 0 && (st.OfferedIterations == 0 || st.Dropped > DefaultMaxDropped*st.OfferedIterations)
		st.Lagging = offered > 0 && st.Iterations < DefaultMinAchieved*st.OfferedIterations
		out[i] = st
	}
	return out, nil
}

// Judge turns the generators' stats into assertions: each generator
// finished, kept up with its share, and dropped no iteration. They are part
// of the one verdict: a run whose load was not what the scenario asked for
// fails as such, instead of looking like the system's fault.
func Judge(stats []GeneratorStats) []assertions.Result {
	var out []assertions.Result
	for _, s := range stats {
		failed := 0.0
		if s.Outcome.Failed {
			failed = 1
		}
		r := assertions.Check(fmt.Sprintf("generator-%d-finished", s.Index), KindGenerator,
			fmt.Sprintf("generator %d (segment %s) finished its slice (1 = failed: %s)", s.Index, s.Segment, s.Outcome.Reason), "==", failed, 0)
		out = append(out, r)
		if s.OfferedIterations > 0 {
			out = append(out, assertions.Check(fmt.Sprintf("generator-%d-kept-up", s.Index), KindGenerator,
				fmt.Sprintf("generator %d ran this share of its offered iterations (%.0f of %.0f; %.1f of %.1f it/s)",
					s.Index, s.Iterations, s.OfferedIterations, s.AchievedRate, s.OfferedRate), ">=", s.Iterations/s.OfferedIterations, DefaultMinAchieved))
		}
		dropped, bound := s.Dropped, 0.0
		what := "dropped iterations"
		if s.OfferedIterations > 0 {
			dropped, bound = s.Dropped/s.OfferedIterations, DefaultMaxDropped
			what = fmt.Sprintf("share of its offered iterations dropped (%.0f of %.0f)", s.Dropped, s.OfferedIterations)
		}
		out = append(out, assertions.Check(fmt.Sprintf("generator-%d-not-starved", s.Index), KindGenerator,
			fmt.Sprintf("generator %d %s: k6 had no free VU when they were due; above the bound the generator, not the system, limited the load", s.Index, what), "<=", dropped, bound))
	}
	return out
}

// BuildImage builds perfrun/k6:<content hash> from the k6 binary (static,
// built with the k6/x/backend extension) into cacheDir, reusing a tarball
// built before from the same binary.
func BuildImage(k6, cacheDir string) (images.Built, error) {
	f, err := os.Open(k6)
	if err != nil {
		return images.Built{}, fmt.Errorf("k6 image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return images.Built{}, fmt.Errorf("k6 image: hashing %s: %w", k6, err)
	}
	tag := hex.EncodeToString(h.Sum(nil))[:12]
	b := images.Built{Ref: "perfrun/k6:" + tag, Tarball: filepath.Join(cacheDir, "k6-"+tag+".tar")}
	if _, err := os.Stat(b.Tarball); err == nil {
		return b, nil
	}
	err = images.BuildTo(b.Tarball, images.Spec{Ref: b.Ref, Files: []images.File{{Src: k6, Dst: "/usr/local/bin/k6"}},
		Entrypoint: []string{"/usr/local/bin/k6"}, User: "65532"})
	return b, err
}
