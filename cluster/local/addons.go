package local

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"time"
)

// addons are applied on every up (server-side apply: idempotent); the
// ones in addons/metrics-server only when the cluster runs metrics-server.
//
//go:embed addons/*.yaml addons/metrics-server/*.yaml
var addons embed.FS

func (c *Cluster) applyAddons(ctx context.Context, log io.Writer) error {
	dirs, names := []string{"addons"}, "CoreDNS, Prometheus RBAC"
	if c.metricsServer {
		dirs, names = append(dirs, "addons/metrics-server"), names+", metrics-server"
	}
	fmt.Fprintln(log, "applying addons: "+names)
	return c.apply(ctx, dirs...)
}

// apply applies every manifest in the embedded folders dirs.
func (c *Cluster) apply(ctx context.Context, dirs ...string) error {
	var all bytes.Buffer
	for _, dir := range dirs {
		ents, err := addons.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			b, err := addons.ReadFile(dir + "/" + e.Name())
			if err != nil {
				return err
			}
			all.WriteString("---\n")
			all.Write(b)
		}
	}
	// The default ServiceAccount and kube-root-ca.crt appear a moment after
	// the namespace; retry briefly rather than race them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.kubectl(ctx, bytes.NewReader(all.Bytes()), "apply", "--server-side", "--force-conflicts", "--field-manager=perfrun", "-f", "-")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("applying addons: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitAddons waits for cluster DNS (what pods need first). metrics-server
// needs two scrapes before it is Ready; up does not wait for it.
func (c *Cluster) waitAddons(ctx context.Context, log io.Writer) error {
	fmt.Fprintln(log, "waiting for CoreDNS")
	if _, err := c.kubectl(ctx, nil, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=60s"); err != nil {
		return fmt.Errorf("CoreDNS: %w", err)
	}
	return nil
}
