package scenario

import (
	"bytes"
	"fmt"
	"strconv"
	"text/template"
	"time"
)

// Window is what a query template may refer to: the load's window, the
// run's namespace and k6 testid, and each chaos action's start and end.
type Window struct {
	Start, End time.Time
	// Drained is when the system finished its queued work after the load
	// (End when there was no drain).
	Drained   time.Time
	Namespace string
	TestID    string
	Chaos     map[string]ActionWindow
}

// ActionWindow is when a chaos action ran. Lasts says its fault held
// from Start to End (a podFailure), rather than starting at Start.
type ActionWindow struct {
	Start, End time.Time
	Lasts      bool
}

// PromDuration writes d as a PromQL duration in whole seconds ("95s"),
// never shorter than 1s so that a range selector stays valid.
func PromDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Data is the template data of a window:
//
//	.start .end            unix seconds (for `@ {{.end}}`)
//	.duration              end-start as a PromQL duration ("95s")
//	.seconds               end-start in seconds
//	.namespace .testid
//	.chaos.NAME.start .chaos.NAME.end    unix seconds
//	.chaos.NAME.duration   its length; .chaos.NAME.untilEnd: its start to .end;
//	                       .chaos.NAME.afterEnd: its end to .end
//	.chaos.NAME.offset     its start minus .start
//	.drained               unix seconds when the drain ended (≥ .end)
//	.untilDrained          .start to .drained as a PromQL duration
//	.chaos.NAME.untilDrained  its start to .drained
func (w Window) Data() map[string]any {
	drained := w.Drained
	if drained.Before(w.End) {
		drained = w.End
	}
	chaos := map[string]any{}
	for name, a := range w.Chaos {
		end := a.End
		if end.IsZero() {
			end = a.Start
		}
		chaos[name] = map[string]any{
			"start":        unix(a.Start),
			"end":          unix(end),
			"duration":     PromDuration(end.Sub(a.Start)),
			"untilEnd":     PromDuration(w.End.Sub(a.Start)),
			"afterEnd":     PromDuration(w.End.Sub(end)),
			"untilDrained": PromDuration(drained.Sub(a.Start)),
			"offset":       PromDuration(a.Start.Sub(w.Start)),
		}
	}
	return map[string]any{
		"start":        unix(w.Start),
		"end":          unix(w.End),
		"drained":      unix(drained),
		"untilDrained": PromDuration(drained.Sub(w.Start)),
		"duration":     PromDuration(w.End.Sub(w.Start)),
		"seconds":      strconv.FormatFloat(w.End.Sub(w.Start).Seconds(), 'f', -1, 64),
		"namespace":    w.Namespace,
		"testid":       w.TestID,
		"chaos":        chaos,
	}
}

// Expand fills a query template from the window. An unknown key (a chaos
// action that does not exist, a misspelt field) is an error.
func Expand(query string, w Window) (string, error) {
	t, err := template.New("query").Option("missingkey=error").Parse(query)
	if err != nil {
		return "", fmt.Errorf("parsing template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, w.Data()); err != nil {
		return "", fmt.Errorf("expanding template: %w", err)
	}
	return b.String(), nil
}

// SampleWindow is a window with every chaos action of s, to check templates
// before a run.
func SampleWindow(s *Scenario) Window {
	start := time.Unix(1_800_000_000, 0)
	w := Window{Start: start, End: start.Add(s.Spec.Load.Duration.Duration), Namespace: "ns", TestID: "t", Chaos: map[string]ActionWindow{}}
	for _, a := range s.Spec.Chaos {
		w.Chaos[a.Name] = ActionWindow{Start: start.Add(a.At.Duration), End: start.Add(a.At.Duration + time.Second)}
	}
	return w
}
