// Command controller runs one replica of perfrun's reference controller
// (package controller): it reconciles the items whose bucket it owns, in
// statefulset or leader-election mode.
//
//	controller -mode statefulset -replicas 3 -redis redis://127.0.0.1:6379
//	  (pod and ordinal from POD_NAME and STATEFUL_CONTROLLER_ORDINAL, e.g. controller-2)
//	controller -mode leader-election -replicas 3 -lease-duration 15s -lease-retry 2s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/controller"
	"github.com/perfrun/perfrun/system/ops"
	"github.com/perfrun/perfrun/system/redisopt"
	"github.com/perfrun/perfrun/system/sharding"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		var bad badInput
		if errors.As(err, &bad) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type badInput struct{ error }

func (b badInput) Unwrap() error { return b.error }

func run(args []string) error {
	def := controller.DefaultConfig()
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	redisURL := fs.String("redis", "redis://127.0.0.1:6379", "Redis URL (redis://HOST:PORT[/DB])")
	mode := fs.String("mode", string(def.Mode), "statefulset or leader-election")
	pod := fs.String("pod", "", "this replica's name (default $POD_NAME, else the hostname)")
	ordinal := fs.String("ordinal", "", "statefulset mode: the StatefulSet pod name whose ordinal picks the bucket, e.g. controller-2 (default $STATEFUL_CONTROLLER_ORDINAL, else the pod name)")
	replicas := fs.Int("replicas", def.Replicas, "number of buckets (= replicas)")
	component := fs.String("component", def.Component, "component part of bucket and lease names")
	queue := fs.String("queue", def.Queue, "leader-election mode: queue part of bucket and lease names")
	ssService := fs.String("stateful-service-name", "", "statefulset mode: the StatefulSet's Service, in bucket names (default $STATEFUL_SERVICE_NAME)")
	ssProtocol := fs.String("stateful-service-protocol", "", "statefulset mode: protocol in bucket names (default $STATEFUL_SERVICE_PROTOCOL, else http)")
	ssPort := fs.String("stateful-service-port", "", "statefulset mode: port in bucket names (default $STATEFUL_SERVICE_PORT, else 80)")
	namespace := fs.String("namespace", "", "statefulset mode: namespace in bucket names (default $SYSTEM_NAMESPACE)")
	clusterDomain := fs.String("cluster-domain", "", "statefulset mode: cluster domain in bucket names (default as knative finds it: $CLUSTER_DOMAIN or /etc/resolv.conf's svc.DOMAIN search, else cluster.local)")
	splitBrain := fs.Bool("split-brain", false, "known-bad mode (statefulset mode): also own the next ordinal's bucket while its pod owns it too, so that keys have two owners")
	work := fs.Duration("work", def.Work, "work per reconcile")
	workKind := fs.String("work-kind", string(def.WorkKind), "what the work is: cpu (spin) or sleep")
	threads := fs.Int("threads", def.Threads, "reconciles at once")
	resync := fs.Duration("resync", def.Resync, "how often pending items are listed and the owned ones reconciled")
	leaseDuration := fs.Duration("lease-duration", def.LeaseDuration, "leader-election mode: how long a lease lasts unless renewed")
	leaseRetry := fs.Duration("lease-retry", def.LeaseRetry, "leader-election mode: how often leases are renewed and free ones tried")
	listen := fs.String("metrics-listen", "127.0.0.1:9395", "address for /metrics, /healthz and /readyz")
	grace := fs.Duration("grace", 10*time.Second, "on SIGTERM, how long to wait for the reconciles in hand")
	startDelay := fs.Duration("start-delay", 0, "wait this long (not ready) before watching items, as a real controller waits for its informer caches to sync; makes a restarted replica's outage last")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return badInput{err}
	}
	if fs.NArg() > 0 {
		return badInput{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return badInput{fmt.Errorf("-log-level: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := def
	m, err := controller.ParseMode(*mode)
	if err != nil {
		return badInput{fmt.Errorf("-mode: %w", err)}
	}
	cfg.Mode = m
	if cfg.WorkKind, err = controller.ParseWorkKind(*workKind); err != nil {
		return badInput{fmt.Errorf("-work-kind: %w", err)}
	}
	cfg.Pod = firstSet(*pod, os.Getenv("POD_NAME"))
	if cfg.Pod == "" {
		if cfg.Pod, err = os.Hostname(); err != nil {
			return badInput{fmt.Errorf("-pod: not set, no POD_NAME, and no hostname: %w", err)}
		}
	}
	if cfg.Mode == controller.StatefulSet {
		name := firstSet(*ordinal, os.Getenv("STATEFUL_CONTROLLER_ORDINAL"), cfg.Pod)
		var set string
		if set, cfg.Ordinal, err = sharding.ParseStatefulSetID(name); err != nil {
			return badInput{fmt.Errorf("-ordinal (or STATEFUL_CONTROLLER_ORDINAL): %w", err)}
		}
		// knative.dev/pkg/leaderelection's statefulSetConfig, env for env.
		cfg.StatefulSet = sharding.StatefulSetNaming{
			SetName:       set,
			Service:       firstSet(*ssService, os.Getenv("STATEFUL_SERVICE_NAME")),
			Protocol:      firstSet(*ssProtocol, os.Getenv("STATEFUL_SERVICE_PROTOCOL"), "http"),
			Port:          firstSet(*ssPort, os.Getenv("STATEFUL_SERVICE_PORT"), "80"),
			Namespace:     firstSet(*namespace, os.Getenv("SYSTEM_NAMESPACE")),
			ClusterDomain: firstSet(*clusterDomain, sharding.ClusterDomain("/etc/resolv.conf", os.Getenv)),
		}
	}
	cfg.Replicas, cfg.Component, cfg.Queue = *replicas, *component, *queue
	cfg.SplitBrain = *splitBrain
	cfg.Work, cfg.Threads, cfg.Resync = *work, *threads, *resync
	cfg.LeaseDuration, cfg.LeaseRetry = *leaseDuration, *leaseRetry
	if err := cfg.Validate(); err != nil {
		return badInput{err}
	}
	if *grace <= 0 {
		return badInput{fmt.Errorf("-grace: %v, want a positive duration", *grace)}
	}
	if *startDelay < 0 {
		return badInput{fmt.Errorf("-start-delay: %v, want zero or a positive duration", *startDelay)}
	}

	opts, err := redisopt.ParseURL(*redisURL)
	if err != nil {
		return badInput{fmt.Errorf("-redis: %w", err)}
	}
	opts.PoolSize = cfg.Threads + 8 // workers, watch, resync, leases, pending count
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	reg := ops.NewRegistry()
	c, err := controller.New(rdb, cfg, reg, log)
	if err != nil {
		return badInput{err}
	}
	srv, err := ops.Serve(*listen, "-metrics-listen", ops.Handler(reg, ops.ReadyFunc(c.Ready, "item watch not started")), log)
	if err != nil {
		return err
	}
	defer srv.Stop()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Info("starting", "pod", cfg.Pod, "mode", cfg.Mode, "replicas", cfg.Replicas,
		"ordinal", cfg.Ordinal, "bucket", ownBucket(cfg), "work", cfg.Work, "work_kind", cfg.WorkKind, "metrics", srv.Addr)

	done := make(chan error, 1)
	go func() {
		if *startDelay > 0 {
			log.Info("waiting before start", "start_delay", *startDelay)
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-time.After(*startDelay):
			}
		}
		done <- c.Run(ctx)
	}()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		log.Info("stopping")
		select {
		case runErr = <-done:
		case <-time.After(*grace):
			runErr = fmt.Errorf("reconciles in hand did not finish within -grace %v", *grace)
		}
	}
	if runErr == nil {
		log.Info("stopped")
	}
	return runErr
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// ownBucket is the statefulset-mode replica's bucket (both, comma
// separated, with -split-brain), "" in the other mode.
func ownBucket(cfg controller.Config) string {
	if cfg.Mode != controller.StatefulSet {
		return ""
	}
	return strings.Join(cfg.OwnedBuckets(), ",")
}
