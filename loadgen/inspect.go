package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options is the part of a script's k6 options that loadgen reads.
type Options struct {
	Scenarios  map[string]ScenarioOptions `json:"scenarios"`
	Thresholds map[string][]any           `json:"thresholds"`
}

// ScenarioOptions is one k6 scenario (only what the offered load needs).
type ScenarioOptions struct {
	Executor  string  `json:"executor"`
	Rate      float64 `json:"rate"`
	StartRate float64 `json:"startRate"`
	TimeUnit  string  `json:"timeUnit"`
	Duration  string  `json:"duration"`
	StartTime string  `json:"startTime"`
	Stages    []Stage `json:"stages"`
}

// Stage is one step of a ramping executor.
type Stage struct {
	Duration string  `json:"duration"`
	Target   float64 `json:"target"`
}

// Inspect runs `k6 inspect` on script with env (-e), as the generators will
// see it, and returns its options.
func Inspect(ctx context.Context, k6, dir, script string, env map[string]string) (*Options, error) {
	args := []string{"inspect"}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		args = append(args, "-e", k+"="+env[k])
	}
	// A relative k6 ("bin/k6") would be looked up from dir, not from here.
	if abs, err := filepath.Abs(k6); err == nil && strings.ContainsRune(k6, filepath.Separator) {
		k6 = abs
	}
	cmd := exec.CommandContext(ctx, k6, append(args, script)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		return nil, fmt.Errorf("k6 inspect %s: %w %s", script, err, msg)
	}
	var o Options
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("k6 inspect %s: %w", script, err)
	}
	return &o, nil
}

// OfferedIterations is how many iterations the arrival-rate scenarios ask
// for in all (the whole load, before slicing); ok is false when the load
// has no arrival-rate scenario (closed-model executors offer no rate).
func (o *Options) OfferedIterations() (total float64, ok bool, err error) {
	for name, sc := range o.Scenarios {
		unit := time.Second
		if sc.TimeUnit != "" {
			if unit, err = time.ParseDuration(sc.TimeUnit); err != nil {
				return 0, false, fmt.Errorf("scenario %s: timeUnit: %w", name, err)
			}
		}
		switch sc.Executor {
		case "constant-arrival-rate":
			d, err := time.ParseDuration(sc.Duration)
			if err != nil {
				return 0, false, fmt.Errorf("scenario %s: duration: %w", name, err)
			}
			total += sc.Rate * d.Seconds() / unit.Seconds()
			ok = true
		case "ramping-arrival-rate":
			from := sc.StartRate
			for i, st := range sc.Stages {
				d, err := time.ParseDuration(st.Duration)
				if err != nil {
					return 0, false, fmt.Errorf("scenario %s: stage %d: duration: %w", name, i, err)
				}
				// Linear ramp from the previous target: the area under it.
				total += (from + st.Target) / 2 * d.Seconds() / unit.Seconds()
				from = st.Target
			}
			ok = true
		}
	}
	return total, ok, nil
}
