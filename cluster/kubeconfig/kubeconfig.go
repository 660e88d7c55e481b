// Package kubeconfig is the provider for a cluster that exists already
// (scale runs on a real cluster): it starts nothing and loads no images;
// images come from a registry the cluster can pull from.
package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/perfrun/perfrun/cluster"
)

// Provider reaches the cluster a kubeconfig names.
type Provider struct {
	// Path is the kubeconfig file.
	Path string
	// PrometheusURL is a Prometheus that scrapes the cluster, if there is
	// one; empty makes the run deploy fixtures/prometheus.
	PrometheusURL string
	// PodsReachable says pod IPs are routable from this machine.
	PodsReachable bool
}

var (
	_ cluster.Provider = (*Provider)(nil)
	_ cluster.Existing = (*Provider)(nil)
)

// Name implements cluster.Provider.
func (p *Provider) Name() string { return "kubeconfig" }

// Ensure implements cluster.Provider: the kubeconfig must exist; the
// cluster itself is whatever it names.
func (p *Provider) Ensure(_ context.Context, log io.Writer) (*cluster.Access, error) {
	if p.Path == "" {
		return nil, errors.New("kubeconfig: no kubeconfig path given")
	}
	if _, err := os.Stat(p.Path); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", p.Path, err)
	}
	fmt.Fprintf(log, "using the cluster of %s\n", p.Path)
	return &cluster.Access{Kubeconfig: p.Path, PrometheusURL: p.PrometheusURL, PodsReachable: p.PodsReachable}, nil
}

// ErrNoImageLoading is returned by LoadImages: a kubeconfig cluster pulls
// its images from a registry.
var ErrNoImageLoading = errors.New("kubeconfig clusters load no image tarballs: push the images to a registry the cluster pulls from and set the scenario's image names")

// LoadImages implements cluster.Provider.
func (p *Provider) LoadImages(_ context.Context, tarballs []string) error {
	if len(tarballs) == 0 {
		return nil
	}
	return ErrNoImageLoading
}

// ExistingKubeconfig implements cluster.Existing.
func (p *Provider) ExistingKubeconfig(context.Context) (string, error) {
	if _, err := os.Stat(p.Path); err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", p.Path, err)
	}
	return p.Path, nil
}
