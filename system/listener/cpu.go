package listener

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
	"time"
)

// CPUGate turns readiness false while the process's CPU use is above a
// threshold (a fraction of one core), and back when it falls: a saturated
// pod stops taking new work and the Service routes around it.
type CPUGate struct {
	threshold float64
	usage     atomic.Uint64 // float64 bits of the last sample
}

// NewCPUGate returns a gate; threshold <= 0 disables it.
func NewCPUGate(threshold float64) *CPUGate { return &CPUGate{threshold: threshold} }

// Run samples the process CPU time every interval until ctx ends.
func (g *CPUGate) Run(ctx context.Context, interval time.Duration) {
	if g.threshold <= 0 {
		return
	}
	s := sampler{last: processCPU(), lastAt: time.Now()}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.set(s.sample(now, processCPU()))
		}
	}
}

// sampler turns cumulative CPU time into use over the last interval.
type sampler struct {
	last   time.Duration
	lastAt time.Time
}

func (s *sampler) sample(now time.Time, cpu time.Duration) float64 {
	wall := now.Sub(s.lastAt).Seconds()
	if wall <= 0 {
		return 0
	}
	frac := (cpu - s.last).Seconds() / wall
	s.last, s.lastAt = cpu, now
	return frac
}

// Usage is the last sampled CPU use, in cores.
func (g *CPUGate) Usage() float64 { return math.Float64frombits(g.usage.Load()) }

// set records a CPU use sample (tests and Run).
func (g *CPUGate) set(cores float64) { g.usage.Store(math.Float64bits(cores)) }

// Check is a readiness check: an error while above the threshold.
func (g *CPUGate) Check() error {
	if g.threshold <= 0 {
		return nil
	}
	if u := g.Usage(); u > g.threshold {
		return fmt.Errorf("saturated: cpu %.2f cores > threshold %.2f", u, g.threshold)
	}
	return nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
