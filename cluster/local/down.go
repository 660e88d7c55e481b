package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

var execCommand = exec.CommandContext

// Down stops everything the cluster started and removes what it made on the
// host: pods (through the runtime, so CNI releases their addresses and
// network namespaces), processes by PID, shims, mounts, the bridge and node
// interface, firewall rules, cgroups; it restores the kernel settings. With
// wipe it also removes the state (PKI, etcd data, images, logs). It goes on
// past errors and reports them all: a half-down cluster is worse than a
// noisy one.
func (c *Cluster) Down(ctx context.Context, log io.Writer, wipe bool) error {
	if err := requireRoot(); err != nil {
		return err
	}
	unlock, err := lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return c.down(ctx, log, wipe)
}

// down is Down with the lock held.
func (c *Cluster) down(ctx context.Context, log io.Writer, wipe bool) error {
	begin := time.Now()
	var errs []error
	step := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			fmt.Fprintf(log, "  %s: %v\n", what, err)
		}
	}
	comps := map[string]component{}
	for _, comp := range append(c.components(), c.prometheus()) {
		comps[comp.name] = comp
	}
	stop := func(name string, grace time.Duration) {
		comp := comps[name]
		if _, ok := c.running(name, comp.bin); ok {
			fmt.Fprintf(log, "stopping %s\n", name)
		}
		step("stopping "+name, c.stop(name, comp.bin, grace))
	}
	// Nothing may start new pods while they are removed.
	stop("prometheus", 10*time.Second)
	stop("kube-controller-manager", 10*time.Second)
	stop("kube-scheduler", 10*time.Second)
	stop("kubelet", 10*time.Second)
	if _, ok := c.running("containerd", comps["containerd"].bin); ok {
		fmt.Fprintln(log, "removing pods")
		out, err := run(ctx, c.bin("perfrun-cri"), "-endpoint", c.containerdSocket(), "-timeout", "60s", "rmp-all")
		if err != nil {
			step("removing pods", err)
		} else {
			fmt.Fprintf(log, "  %s", out)
		}
	}
	stop("kube-proxy", 10*time.Second)
	stop("kube-apiserver", 15*time.Second)
	stop("etcd", 10*time.Second)
	stop("containerd", 15*time.Second)
	// Shims of containers the runtime could not remove (or of a containerd
	// that crashed): only those serving our socket.
	for _, pid := range ShimPIDs(c.containerdSocket()) {
		fmt.Fprintf(log, "stopping leftover shim %d\n", pid)
		step("stopping shim", stopPID(pid, 5*time.Second))
	}
	step("unmounting", unmountAll(c.stateDir, c.runDir))
	step("removing links", removeLinks(ctx))
	step("removing firewall rules", removeFirewall(ctx))
	step("removing cgroups", removeCgroups())
	step("removing pod log links", removePodLogLinks(c.path("pod-logs")))
	step("restoring kernel settings", c.restoreHost(ctx))
	// The run folder holds only PID files, sockets and netns mount points:
	// all meaningless once everything is stopped.
	if len(errs) == 0 {
		step("removing "+c.runDir, os.RemoveAll(c.runDir))
	}
	if wipe && len(errs) == 0 {
		fmt.Fprintf(log, "removing state %s\n", c.stateDir)
		step("removing state", os.RemoveAll(c.stateDir))
	}
	if len(errs) > 0 {
		return fmt.Errorf("down left things behind: %w", errors.Join(errs...))
	}
	fmt.Fprintf(log, "cluster down in %s\n", time.Since(begin).Round(100*time.Millisecond))
	return nil
}

// removePodLogLinks removes the kubelet's /var/log/containers symlinks that
// point into our pod log folder (the kubelet's path for them is fixed).
func removePodLogLinks(podLogs string) error {
	ents, err := os.ReadDir(containerLogs)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		p := filepath.Join(containerLogs, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, podLogs+"/") {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}
