// Command perfrun is the harness's CLI. It only wires flags to packages; the
// work lives in the packages named for what they do.
package main

import (
	"context"
	"errors"
	"fmt"
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

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
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
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "perfrun:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(exitHarness)
}
