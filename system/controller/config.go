package controller

import (
	"errors"
	"fmt"
	"time"

	"github.com/perfrun/perfrun/system/sharding"
)

// Mode is how a replica decides which buckets it owns.
type Mode string

const (
	// StatefulSet: the pod's ordinal names its one bucket out of as many
	// buckets as replicas (knative's StatefulSet elector, Tekton's
	// STATEFUL_CONTROLLER_ORDINAL). No failover: a dead pod's keys wait for
	// its ordinal to come back.
	StatefulSet Mode = "statefulset"
	// LeaderElection: one lease per bucket, taken by whoever asks first and
	// kept by whoever holds it (knative's standard elector). After restarts
	// one survivor can hold every bucket: the hot-spot of the Tekton issue.
	LeaderElection Mode = "leader-election"
)

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case StatefulSet, LeaderElection:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want statefulset or leader-election)", s)
}

// WorkKind is what a reconcile's work is.
type WorkKind string

const (
	// CPU spins on the CPU for the work duration: the replica is busy, so a
	// replica that owns too many buckets saturates as a real one would.
	CPU WorkKind = "cpu"
	// Sleep waits for the work duration without using the CPU, like a
	// reconcile that waits on API calls.
	Sleep WorkKind = "sleep"
)

// ParseWorkKind validates a work kind.
func ParseWorkKind(s string) (WorkKind, error) {
	switch k := WorkKind(s); k {
	case CPU, Sleep:
		return k, nil
	}
	return "", fmt.Errorf("unknown work kind %q (want cpu or sleep)", s)
}

// Config is one replica's configuration. Field names follow the program's
// flags, which errors name.
type Config struct {
	Mode Mode
	// Pod is this replica's identity: reconciled_by, the lease holder, the
	// pod label of its metrics.
	Pod string
	// Ordinal is the StatefulSet ordinal (statefulset mode only).
	Ordinal int
	// Replicas is the number of buckets (knative: as many as replicas).
	Replicas int
	// Component and Queue name the buckets in leader-election mode:
	// COMPONENT.QUEUE.NN-of-MM (knative's standard elector).
	Component string
	Queue     string
	// StatefulSet names the buckets in statefulset mode, as knative's
	// StatefulSet elector does: PROTOCOL://SET-N.SERVICE.NAMESPACE.svc.DOMAIN:PORT.
	StatefulSet sharding.StatefulSetNaming
	// SplitBrain is a known-bad mode (statefulset mode, two replicas or
	// more): the replica also owns the next ordinal's bucket, (Ordinal+1)
	// mod Replicas, while that ordinal's pod owns it too. Every bucket then
	// has two owners and every pod two buckets: every key is still served
	// and reconciles stay even, but keys are reconciled by two pods, which
	// perfrun_controller_items_shared counts.
	SplitBrain bool

	Work     time.Duration
	WorkKind WorkKind
	// Threads is how many reconciles run at once (knative's threadiness).
	Threads int
	// Resync is how often the replica lists the pending items and
	// reconciles those it owns, catching up what its watch missed.
	Resync time.Duration

	// LeaseDuration and LeaseRetry drive leader-election mode: a lease lasts
	// LeaseDuration unless renewed; every LeaseRetry the replica renews what
	// it holds and tries to take every bucket it does not.
	LeaseDuration time.Duration
	LeaseRetry    time.Duration

	// WatchBlock bounds one blocking read of the event stream, and so how
	// long shutdown waits for the watch to notice. Default 1s.
	WatchBlock time.Duration
	// PendingEvery is how often perfrun_controller_items_pending is
	// refreshed. Default 1s.
	PendingEvery time.Duration
}

// DefaultConfig has knative's defaults where knative has one (leases of 15s
// retried every 2s, two threads).
func DefaultConfig() Config {
	return Config{
		Mode:          LeaderElection,
		Replicas:      1,
		Component:     "perfrun-controller",
		Queue:         "items",
		Work:          5 * time.Millisecond,
		WorkKind:      CPU,
		Threads:       2,
		Resync:        10 * time.Second,
		LeaseDuration: 15 * time.Second,
		LeaseRetry:    2 * time.Second,
		WatchBlock:    time.Second,
		PendingEvery:  time.Second,
	}
}

// Validate reports the first bad field, named by its flag.
func (c Config) Validate() error {
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return fmt.Errorf("-mode: %w", err)
	}
	if c.Pod == "" {
		return errors.New("-pod: empty (set -pod, POD_NAME, or a hostname)")
	}
	if c.Replicas < 1 {
		return fmt.Errorf("-replicas: %d, want at least 1", c.Replicas)
	}
	if c.Replicas > 99 {
		// Bucket names carry two digits, as knative's do.
		return fmt.Errorf("-replicas: %d, want at most 99", c.Replicas)
	}
	if c.Mode == StatefulSet {
		if c.Ordinal < 0 || c.Ordinal >= c.Replicas {
			return fmt.Errorf("-ordinal: ordinal %d is out of range [0, %d) for -replicas %d", c.Ordinal, c.Replicas, c.Replicas)
		}
		n := c.StatefulSet
		for _, f := range []struct{ flag, v string }{
			{"-ordinal: the StatefulSet's name", n.SetName},
			{"-stateful-service-name (or STATEFUL_SERVICE_NAME)", n.Service},
			{"-stateful-service-protocol", n.Protocol},
			{"-stateful-service-port", n.Port},
			{"-namespace (or SYSTEM_NAMESPACE)", n.Namespace},
			{"-cluster-domain", n.ClusterDomain},
		} {
			if f.v == "" {
				return fmt.Errorf("%s: empty; statefulset mode names its buckets after it, as knative does", f.flag)
			}
		}
	}
	if c.SplitBrain && c.Mode != StatefulSet {
		return fmt.Errorf("-split-brain: only in statefulset mode (-mode %s)", c.Mode)
	}
	if c.SplitBrain && c.Replicas < 2 {
		return fmt.Errorf("-split-brain: needs -replicas of 2 or more (another ordinal's bucket to share), got %d", c.Replicas)
	}
	if c.Component == "" {
		return errors.New("-component: empty")
	}
	if c.Queue == "" {
		return errors.New("-queue: empty")
	}
	if c.Work < 0 {
		return fmt.Errorf("-work: %v is negative", c.Work)
	}
	if _, err := ParseWorkKind(string(c.WorkKind)); err != nil {
		return fmt.Errorf("-work-kind: %w", err)
	}
	if c.Threads < 1 {
		return fmt.Errorf("-threads: %d, want at least 1", c.Threads)
	}
	if c.Resync <= 0 {
		return fmt.Errorf("-resync: %v, want a positive duration", c.Resync)
	}
	if c.Mode == LeaderElection {
		if c.LeaseDuration < 10*time.Millisecond {
			return fmt.Errorf("-lease-duration: %v, want at least 10ms", c.LeaseDuration)
		}
		if c.LeaseRetry <= 0 || c.LeaseRetry >= c.LeaseDuration {
			return fmt.Errorf("-lease-retry: %v, want positive and shorter than -lease-duration %v", c.LeaseRetry, c.LeaseDuration)
		}
	}
	return nil
}

// BucketNames lists the bucket names: knative's StatefulSet names of
// ordinals 0..Replicas-1 in statefulset mode, sorted; the standard ones by
// ordinal in leader-election mode.
func (c Config) BucketNames() []string {
	if c.Mode == StatefulSet {
		names, _ := c.StatefulSet.Buckets(c.Ordinal, c.Replicas)
		return names
	}
	names := make([]string, c.Replicas)
	for i := range names {
		names[i] = sharding.BucketName(c.Component, c.Queue, i, c.Replicas)
	}
	return names
}

// OwnBucket is the bucket a statefulset-mode replica owns: the Ordinal-th
// of the sorted names, as knative's NewStatefulSetBucketAndSet picks it.
func (c Config) OwnBucket() string {
	_, own := c.StatefulSet.Buckets(c.Ordinal, c.Replicas)
	return own
}

// OwnedBuckets are the buckets a statefulset-mode replica owns: its own,
// and with SplitBrain the next ordinal's too.
func (c Config) OwnedBuckets() []string {
	out := []string{c.OwnBucket()}
	if c.SplitBrain {
		_, next := c.StatefulSet.Buckets((c.Ordinal+1)%c.Replicas, c.Replicas)
		out = append(out, next)
	}
	return out
}
