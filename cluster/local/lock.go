package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPath is one lock for the whole machine, not per state folder: every
// local cluster uses the same node address, ports and interfaces, so two
// ups (or an up and a down) at once must never interleave.
const lockPath = LockPath

// LockPath is the machine-wide lock file of local clusters.
const LockPath = "/run/perfrun/cluster.lock"

// lock takes the machine's cluster lock, waiting while another perfrun
// holds it; the returned function releases it.
//
// PERFRUN_CLUSTER_LOCK_HELD=1 says the caller already holds the lock for
// longer than one command (e.g. `flock /run/perfrun/cluster.lock make
// test-cluster`, so that others' ups wait until a whole test is done).
func lock(ctx context.Context) (func(), error) {
	if os.Getenv("PERFRUN_CLUSTER_LOCK_HELD") == "1" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", lockPath, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another perfrun cluster command to finish (%s): %w", lockPath, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitIdle returns once no perfrun up or down is in progress on this
// machine (it takes the lock and gives it back): a cluster whose API server
// has stopped may still be cleaning up its links, rules and sysctls.
func WaitIdle(ctx context.Context) error {
	unlock, err := lock(ctx)
	if err != nil {
		return err
	}
	unlock()
	return nil
}
