package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/loadgen"
)

// LoadgenFile records, in the result folder, what each k6 generator of a
// Job load offered and achieved.
const LoadgenFile = "loadgen.json"

// generatorRun is a Job load's generators, kept for the verdict.
type generatorRun struct {
	rendered *loadgen.Rendered
	outcomes []loadgen.Outcome
	// offered is the whole load's arrival-rate iterations (k6 inspect).
	offered float64
}

// generatorResults judges each generator of a Job load (finished, kept up
// with its share, dropped no iteration) from what it remote-wrote, prints
// and records the figures, so that a run whose load fell short fails as
// such rather than being taken for the system's limit.
func (r *runState) generatorResults(ctx context.Context) []assertions.Result {
	g := r.gens
	if g == nil {
		return nil
	}
	stats, err := loadgen.Stats(ctx, r.prom, r.res.TestID, r.res.LoadStart, r.res.LoadEnd, g.rendered, g.outcomes, g.offered)
	if err != nil {
		return []assertions.Result{{Name: "load-generators", Kind: loadgen.KindGenerator, Op: "==",
			Status: assertions.Error, Error: err.Error()}}
	}
	for _, s := range stats {
		var flags []string
		if s.Outcome.Failed {
			flags = append(flags, "FAILED "+s.Outcome.Reason)
		}
		if s.Lagging {
			flags = append(flags, "LAGGING")
		}
		if s.Starved {
			flags = append(flags, "STARVED: dropped iterations, the generator limited the load")
		}
		r.p.Linef("generator %d %-9s offered %7.1f/s achieved %7.1f/s dropped %.0f %s", s.Index, s.Segment,
			s.OfferedRate, s.AchievedRate, s.Dropped, strings.Join(flags, ", "))
	}
	if b, err := json.MarshalIndent(map[string]any{"offeredIterations": g.offered, "generators": stats}, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(r.dir, LoadgenFile), b, 0o644)
	}
	return loadgen.Judge(stats)
}
