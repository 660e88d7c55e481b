// Command perfrun is the harness's CLI. It only wires flags to packages; the
// work lives in the packages named for what they do.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, as the README gives them.
const (
	exitOK        = 0
	exitHarness   = 1
	exitBadInput  = 2
	exitAssertion = 3
)

// exitError carries an exit code out of a command. Reported says the
// command has already told the user (as JSON events), so realMain prints
// nothing more.
type exitError struct {
	code     int
	err      error
	reported bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as the user's input being wrong (exit 2).
func badInput(err error) error { return &exitError{code: exitBadInput, err: err} }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "perfrun",
		Short:         "Performance and chaos test harness for horizontally scaled backends on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	// Subcommands, one file each.
	root.AddCommand(newClusterCmd())
	root.AddCommand(newRunCmd())
	root.AddCommand(newCompareCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newDashboardsCmd())
	root.AddCommand(newCleanCmd())
	argsAreInput(root)
	return root
}

// argsAreInput makes a wrong number of arguments, or an unknown command,
// bad input (exit 2) on every command: each command's Args check is
// wrapped, and a command that only groups others gets one (no arguments:
// the first would be an unknown command) and prints its help when run
// alone.
func argsAreInput(c *cobra.Command) {
	if c.HasSubCommands() && c.Args == nil {
		c.Args = cobra.NoArgs
		if c.Run == nil && c.RunE == nil {
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return badInput(fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath()))
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		argsAreInput(sub)
	}
}

// realMain runs the CLI on args and returns its exit code. An error is
// printed to stderr as "perfrun: ..." or, when the command's --output is
// json, as JSON events ending with the done event (output.go).
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitHarness
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.reported {
			return code
		}
	}
	if cmd != nil && jsonOutput(cmd) {
		emitError(stderr, code, err)
		emitDone(stderr, done{ExitCode: code, Error: err.Error()})
		return code
	}
	fmt.Fprintln(stderr, "perfrun:", err)
	return code
}

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	in := &interrupts{stderr: os.Stderr, exit: os.Exit}
	go in.watch(sigs, cancel)
	code := realMain(withInterrupts(ctx, in), os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}
