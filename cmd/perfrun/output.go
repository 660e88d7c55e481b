package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/runner"
	"github.com/perfrun/perfrun/scenario"
)

// perfrun run --output json writes JSON lines on stderr: the run's
// progress events (runner.Progress), an "error" event for whatever ends
// the run with an error, and last, always, one "done" event:
//
//	{"event":"done","verdict":"pass","exitCode":0,"results":"results/smoke-…",
//	 "assertions":[{"name":"throughput","kind":"throughput","status":"pass","value":301.2,"op":">=","bound":150}]}
//
// verdict is pass, fail (exit 3), error (exit 1), invalid (bad input,
// exit 2) or valid (--validate found nothing wrong).

// Verdicts of the done event beyond result's pass, fail and error.
const (
	verdictInvalid = "invalid"
	verdictValid   = "valid"
)

// done is the last event of a run with --output json.
type done struct {
	Verdict    string
	ExitCode   int
	Results    string // the result folder, when the run made one
	Assertions []outcome
	Error      string
}

// outcome is one assertion in the done event.
type outcome struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Value  number `json:"value"`
	Op     string `json:"op,omitempty"`
	Bound  number `json:"bound"`
	Error  string `json:"error,omitempty"`
}

// number is a value that may be missing (null) or not finite (the strings
// "NaN", "+Inf", "-Inf", which JSON numbers cannot hold).
type number struct{ v *float64 }

func (n number) MarshalJSON() ([]byte, error) {
	switch {
	case n.v == nil:
		return []byte("null"), nil
	case math.IsNaN(*n.v) || math.IsInf(*n.v, 0):
		return json.Marshal(strconv.FormatFloat(*n.v, 'g', -1, 64))
	}
	return json.Marshal(*n.v)
}

// problem is one thing wrong with the input, in an error event.
type problem struct {
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// fieldPrefix is how perfrun's errors start when they name what is wrong:
// a scenario field path (spec.chaos[0].podKill.count) or a flag (--k6).
var fieldPrefix = regexp.MustCompile(`^((?:apiVersion|kind|metadata|spec)(?:[.\[][^\s:]*)?|--[a-z0-9-]+(?: [A-Za-z_][A-Za-z0-9_]*)?)(?: \(line (\d+)\))?: (.*)$`)

// flagError is the flag parser's own errors, which name the flag last.
var flagError = regexp.MustCompile(`^(?:unknown flag|flag needs an argument|bad flag syntax): '?(--?[A-Za-z0-9-]+)|^invalid argument .* for "(?:-\w, )?(--[a-z0-9-]+)" flag`)

// problems splits err into what it names: every problem of an invalid
// scenario, or the field an error starts with.
func problems(err error) []problem {
	var errs scenario.Errors
	if errors.As(err, &errs) {
		out := make([]problem, len(errs))
		for i, e := range errs {
			out[i] = problem{Field: e.Path, Line: e.Line, Message: e.Msg}
		}
		return out
	}
	var ee *exitError
	msg := err.Error()
	if errors.As(err, &ee) {
		msg = ee.err.Error()
	}
	if m := fieldPrefix.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[2])
		return []problem{{Field: m[1], Line: line, Message: m[3]}}
	}
	if m := flagError.FindStringSubmatch(msg); m != nil {
		return []problem{{Field: m[1] + m[2], Message: msg}}
	}
	return []problem{{Message: msg}}
}

func emit(w io.Writer, ev map[string]any) {
	ev["t"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(ev)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"event": ev["event"], "t": ev["t"], "error": "encoding the event: " + err.Error()})
	}
	fmt.Fprintln(w, string(b))
}

// emitError writes an error event: the exit code, the message and each
// problem with the field it names.
func emitError(w io.Writer, code int, err error) {
	emit(w, map[string]any{"event": "error", "exitCode": code, "message": err.Error(), "problems": problems(err)})
}

// emitDone writes the done event; a verdict left empty follows from the
// exit code.
func emitDone(w io.Writer, d done) {
	if d.Verdict == "" {
		d.Verdict = map[int]string{exitOK: result.VerdictPass, exitHarness: result.VerdictError,
			exitBadInput: verdictInvalid, exitAssertion: result.VerdictFail}[d.ExitCode]
	}
	if d.Assertions == nil {
		d.Assertions = []outcome{}
	}
	ev := map[string]any{"event": "done", "verdict": d.Verdict, "exitCode": d.ExitCode, "assertions": d.Assertions}
	if d.Results != "" {
		ev["results"] = d.Results
	}
	if d.Error != "" {
		ev["error"] = d.Error
	}
	emit(w, ev)
}

// outcomes are a run's assertions for the done event.
func outcomes(res *result.Run) []outcome {
	if res == nil {
		return nil
	}
	out := make([]outcome, len(res.Assertions))
	for i, a := range res.Assertions {
		bound := a.Bound
		out[i] = outcome{Name: a.Name, Kind: a.Kind, Status: a.Status, Value: number{a.Value}, Op: a.Op, Bound: number{&bound}, Error: a.Error}
	}
	return out
}

// jsonOutput says the command was asked for JSON events (run --output json).
func jsonOutput(c *cobra.Command) bool {
	f := c.Flags().Lookup("output")
	return f != nil && f.Value.String() == runner.ModeJSON
}
