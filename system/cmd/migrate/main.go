// Command migrate is the 2.7 → 2.8 upgrade step: it moves the report jobs
// waiting in the V1 queue into the V2 stream (package migration, whose doc
// gives the zero-loss upgrade procedure). It only wires flags, HTTP and
// signals.
//
// Exit status: 0 when its mode finished, 1 on an error or when stopped by a
// signal first (what it moved is still reported, and every batch it ran is
// complete: running it again is safe), 2 on bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/migration"
	"github.com/perfrun/perfrun/system/redisopt"

	"github.com/perfrun/perfrun/system/ops"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
	}
	os.Exit(code)
}

func run(args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var (
		redisURL = fs.String("redis", "redis://127.0.0.1:6379", "Redis URL (redis://HOST:PORT[/DB])")
		batch    = fs.Int("batch", 500, "jobs moved per atomic step")
		drain    = fs.Bool("drain", false, "keep migrating until the v1 queue stays empty for -quiet (run it during a rolling upgrade)")
		quiet    = fs.Duration("quiet", 30*time.Second, "with -drain: how long v1 must stay empty before stopping")
		poll     = fs.Duration("poll", 250*time.Millisecond, "with -drain: how often to look at an empty v1 queue")
		maxDur   = fs.Duration("max-duration", 0, "stop after this long even if not done (0: no limit)")
		asJSON   = fs.Bool("json", false, "print the result as JSON")
		listen   = fs.String("metrics-listen", "127.0.0.1:9396", `address for /metrics, /healthz, /readyz ("" to serve none)`)
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	switch {
	case *batch < 1:
		return 2, fmt.Errorf("-batch: must be at least 1, got %d", *batch)
	case *quiet <= 0:
		return 2, fmt.Errorf("-quiet: must be positive, got %v", *quiet)
	case *poll <= 0:
		return 2, fmt.Errorf("-poll: must be positive, got %v", *poll)
	case *maxDur < 0:
		return 2, fmt.Errorf("-max-duration: must not be negative, got %v", *maxDur)
	}
	opt, err := redisopt.ParseURL(*redisURL)
	if err != nil {
		return 2, fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	reg := ops.NewRegistry()
	m, err := migration.New(rdb, migration.Options{
		BatchSize: *batch,
		Drain:     *drain,
		Quiet:     *quiet,
		Poll:      *poll,
		Progress: func(r migration.Result) {
			if r.Batches%20 == 1 {
				log.Info("migrating", "moved", r.Moved, "batches", r.Batches)
			}
		},
	}, reg)
	if err != nil {
		return 2, err
	}

	if *listen != "" {
		srv, err := ops.Serve(*listen, "-metrics-listen", ops.Handler(reg, nil), nil)
		if err != nil {
			return 1, err
		}
		defer srv.Stop()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *maxDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *maxDur)
		defer cancel()
	}
	res, err := m.Run(ctx)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		fmt.Fprintf(stdout, "%s: moved %d jobs from v1 to v2 in %d batches in %.3fs; v1 has %d left, v2 holds %d%s\n",
			res.Mode, res.Moved, res.Batches, res.DurationSeconds, res.V1Remaining, res.V2Length, map[bool]string{true: " (interrupted)"}[res.Interrupted])
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
