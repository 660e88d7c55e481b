package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// Progress modes.
const (
	ModeHuman = "human" // lines with elapsed time, live rate, the final table
	ModeQuiet = "quiet" // the final table only
	ModeJSON  = "json"  // one JSON object per event, for CI
)

// Progress reports a run as it goes.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	mode  string
	begin time.Time
}

// NewProgress writes progress to w in mode.
func NewProgress(w io.Writer, mode string) *Progress {
	return &Progress{w: w, mode: mode, begin: time.Now()}
}

// Writer is where subsystems (the cluster provider) may write their own
// progress; nothing in quiet and JSON modes.
func (p *Progress) Writer() io.Writer {
	if p.mode != ModeHuman {
		return io.Discard
	}
	return p.w
}

func (p *Progress) emit(ev map[string]any, human string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case ModeJSON:
		ev["t"] = time.Now().UTC().Format(time.RFC3339Nano)
		b, _ := json.Marshal(ev)
		fmt.Fprintln(p.w, string(b))
	case ModeHuman:
		fmt.Fprintf(p.w, "[%6s] %s\n", time.Since(p.begin).Round(time.Second), human)
	}
}

// Step says a step started.
func (p *Progress) Step(name string) {
	p.emit(map[string]any{"event": "step", "step": name}, "▶ "+name)
}

// StepDone says a step ended.
func (p *Progress) StepDone(name string, d time.Duration, err error) {
	ev := map[string]any{"event": "stepDone", "step": name, "seconds": d.Seconds()}
	h := fmt.Sprintf("✓ %s (%s)", name, d.Round(100*time.Millisecond))
	if err != nil {
		ev["error"] = err.Error()
		h = fmt.Sprintf("✗ %s (%s): %v", name, d.Round(100*time.Millisecond), err)
	}
	p.emit(ev, h)
}

// Linef is a free-form line.
func (p *Progress) Linef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.emit(map[string]any{"event": "info", "message": msg}, "  "+msg)
}

// Chaos reports an action starting or ending (chaos.Timeline's onEvent).
func (p *Progress) Chaos(ev result.Event, done bool) {
	j := map[string]any{"event": "chaos", "name": ev.Name, "kind": ev.Kind, "done": done}
	h := fmt.Sprintf("  ⚡ chaos %s (%s) fired", ev.Name, ev.Kind)
	if done {
		j["targets"] = ev.Targets
		h = fmt.Sprintf("  ⚡ chaos %s done in %s: %v", ev.Name, ev.End.Sub(ev.Start).Round(100*time.Millisecond), ev.Targets)
		if ev.Error != "" {
			j["error"] = ev.Error
			h += " error: " + ev.Error
		}
	}
	p.emit(j, h)
}

// Live reports the load every 5s: elapsed and remaining time, then what
// Prometheus has of both sides: k6's iterations, failed calls and dropped
// arrivals (remote written, tagged with the run's testid) and the
// listener's answers and 5xx.
// The two differ exactly when it matters: a listener restarted under the
// load answers nothing and counts no 5xx while k6 counts every timeout and
// refused connection. It returns a stop function.
func (p *Progress) Live(ctx context.Context, prom collectors.Querier, m scenario.Metrics, ns, testid string, start time.Time, dur time.Duration) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			el := time.Since(start)
			rem := max(dur-el, 0)
			l := sampleLoad(ctx, prom, m, ns, testid, dur, time.Now())
			p.emit(l.event(el, rem), l.line(el, rem))
		}
	}()
	return func() { cancel(); <-done }
}

// loadSample is one reading of the live load; a side with no series yet
// (k6 or listener false) is left out of the line and the event.
type loadSample struct {
	k6Rate, k6Errors         float64
	k6Dropped                float64 // arrivals k6 had no VU for
	k6, listener             bool
	listenerRate, listener5x float64
}

func sampleLoad(ctx context.Context, q collectors.Querier, m scenario.Metrics, ns, testid string, dur time.Duration, at time.Time) loadSample {
	// Counts cover the whole load and some margin, whatever the elapsed time.
	whole := int(dur.Seconds()) + 60
	var s loadSample
	s.k6Rate, s.k6, _ = collectors.Scalar(ctx, q, fmt.Sprintf(`sum(rate(k6_iterations_total{testid=%q}[15s]))`, testid), at)
	s.k6Errors, _, _ = collectors.Scalar(ctx, q, fmt.Sprintf(`sum(increase(k6_backend_results_total{testid=%q,outcome="error"}[%ds]))`, testid, whole), at)
	s.k6Dropped, _, _ = collectors.Scalar(ctx, q, fmt.Sprintf(`sum(increase(k6_dropped_iterations_total{testid=%q}[%ds]))`, testid, whole), at)
	// The system's side, from its metric contract (a selector it cannot
	// expand reads as no samples).
	w := scenario.Window{Namespace: ns, TestID: testid}
	if answers, err := scenario.Expand(m.Answers, w); err == nil {
		s.listenerRate, s.listener, _ = collectors.Scalar(ctx, q, fmt.Sprintf(`sum(rate(%s[15s]))`, answers), at)
	}
	if errs, err := scenario.Expand(m.ServerErrors, w); err == nil {
		s.listener5x, _, _ = collectors.Scalar(ctx, q, fmt.Sprintf(`sum(increase(%s[%ds]))`, errs, whole), at)
	}
	return s
}

func (s loadSample) event(el, rem time.Duration) map[string]any {
	ev := map[string]any{"event": "load", "elapsed": el.Seconds(), "remaining": rem.Seconds()}
	if s.k6 {
		ev["k6IterationsPerSecond"], ev["k6Errors"], ev["k6Dropped"] = s.k6Rate, s.k6Errors, s.k6Dropped
	}
	if s.listener {
		ev["rps"], ev["errors"] = s.listenerRate, s.listener5x
	}
	return ev
}

func (s loadSample) line(el, rem time.Duration) string {
	var parts []string
	if s.k6 {
		k := fmt.Sprintf("k6 %.0f it/s, %.0f errors", s.k6Rate, s.k6Errors)
		if s.k6Dropped > 0 {
			k += fmt.Sprintf(", %.0f dropped", s.k6Dropped)
		}
		parts = append(parts, k)
	}
	if s.listener {
		parts = append(parts, fmt.Sprintf("listener %.0f answers/s, %.0f 5xx", s.listenerRate, s.listener5x))
	}
	if len(parts) == 0 {
		parts = append(parts, "no samples yet")
	}
	return fmt.Sprintf("  load %s elapsed, %s left: %s", el.Round(time.Second), rem.Round(time.Second), strings.Join(parts, " · "))
}

// Table prints every assertion with its value, bound and verdict.
func Table(w io.Writer, res *result.Run, dir string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ASSERTION\tKIND\tVALUE\tBOUND\tRESULT")
	for _, a := range res.Assertions {
		status := map[string]string{assertions.Pass: "PASS", assertions.Fail: "FAIL", assertions.Error: "ERROR"}[a.Status]
		if a.Error != "" {
			status += " (" + a.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Kind, a.Measured(), a.Limit(), status)
	}
	tw.Flush()
	var steps []string
	for _, st := range res.Steps {
		steps = append(steps, fmt.Sprintf("%s %.1fs", st.Name, st.Seconds))
	}
	fmt.Fprintf(w, "steps: %s (total %.1fs)\n", strings.Join(steps, ", "), res.Finished.Sub(res.Started).Seconds())
	fmt.Fprintf(w, "verdict: %s", res.Verdict)
	if res.Error != "" {
		fmt.Fprintf(w, " (%s)", res.Error)
	}
	if res.TeardownError != "" {
		fmt.Fprintf(w, "\nteardown failed: %s (perfrun clean removes what is left)", res.TeardownError)
	}
	fmt.Fprintf(w, "\nresults: %s\n", dir)
}
