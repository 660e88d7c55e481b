package local

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"time"
)

// addons are applied on every up (server-side apply: idempotent).
//
//go:embed addons/*.yaml
var addons embed.FS

func (c *Cluster) applyAddons(ctx context.Context, log io.Writer) error {
	ents, err := addons.ReadDir("addons")
	if err != nil {
		return err
	}
	var all bytes.Buffer
	for _, e := range ents {
		b, err := addons.ReadFile("addons/" + e.Name())
		if err != nil {
			return err
		}
		all.WriteString("---\n")
		all.Write(b)
	}
	fmt.Fprintln(log, "applying addons: CoreDNS, metrics-server, Prometheus RBAC")
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
