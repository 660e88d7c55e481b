package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

// interrupts is perfrun's answer to SIGINT and SIGTERM. The first cancels
// the command's context: a run stops where it is and tears down what it
// made (its teardown has a context of its own, bounded to 2 minutes). The second exits at once,
// naming what may be left, because a user who asks twice does not want to
// wait out a teardown that hangs (an API server gone, a namespace stuck
// terminating). signal.NotifyContext cannot do this: after the first
// signal it stops listening and the second is swallowed.
type interrupts struct {
	stderr io.Writer
	// exit ends the process (os.Exit; tests replace it).
	exit func(code int)

	mu sync.Mutex
	// ns and dir are the namespace and result folder of the run in
	// progress, "" when none has started.
	ns, dir string
	json    bool // --output json: say it as JSON events
}

type interruptsKey struct{}

// withInterrupts hands in to the commands through their context.
func withInterrupts(ctx context.Context, in *interrupts) context.Context {
	return context.WithValue(ctx, interruptsKey{}, in)
}

// interruptsFrom is the process's interrupts, nil when the CLI runs
// without them (tests calling realMain).
func interruptsFrom(ctx context.Context) *interrupts {
	in, _ := ctx.Value(interruptsKey{}).(*interrupts)
	return in
}

// running records the run in progress: its namespace and result folder
// are what a second interrupt leaves behind.
func (in *interrupts) running(ns, dir string, json bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.ns, in.dir, in.json = ns, dir, json
}

// watch waits for signals on sigs: the first calls cancel, the second
// exits (exit code 1, a harness error).
func (in *interrupts) watch(sigs <-chan os.Signal, cancel context.CancelFunc) {
	s := <-sigs
	in.mu.Lock()
	inRun := in.ns != ""
	in.mu.Unlock()
	if inRun {
		in.say(exitOK, fmt.Sprintf("%s: stopping the run and tearing down what it made (interrupt again to exit at once)", s), false)
	} else {
		in.say(exitOK, fmt.Sprintf("%s: stopping (interrupt again to exit at once)", s), false)
	}
	cancel()
	s = <-sigs
	in.mu.Lock()
	ns, dir := in.ns, in.dir
	in.mu.Unlock()
	msg := fmt.Sprintf("%s again: exiting without finishing teardown", s)
	if ns != "" {
		msg += fmt.Sprintf("; namespace %s (and what the run applied outside it) may be left: perfrun clean removes it", ns)
	}
	if dir != "" {
		msg += fmt.Sprintf("; results so far in %s (result.json says the phase it stopped in)", dir)
	}
	in.say(exitHarness, msg, true)
	in.exit(exitHarness)
}

// say tells the user, as a line or, for --output json, as an event; the
// last word before exiting is an error event and the done event, as for
// any other end of a run.
func (in *interrupts) say(code int, msg string, last bool) {
	in.mu.Lock()
	json, dir := in.json, in.dir
	in.mu.Unlock()
	switch {
	case !json:
		fmt.Fprintln(in.stderr, "perfrun:", msg)
	case !last:
		emit(in.stderr, map[string]any{"event": "info", "message": msg})
	default:
		err := fmt.Errorf("%s", msg)
		emitError(in.stderr, code, err)
		emitDone(in.stderr, done{ExitCode: code, Results: dir, Error: msg})
	}
}
