// Package cluster says where a run's Kubernetes comes from. Providers sit
// behind one small interface, as in sigs.k8s.io/kind, one folder each
// beside this file: local (the embedded cluster), kind, and kubeconfig (any
// existing cluster). Package providers builds one by name; kwok adds
// simulated nodes to any of them.
package cluster

import (
	"context"
	"io"
)

// Provider gives a run a cluster to deploy to.
type Provider interface {
	// Name is the provider's name as flags and scenarios spell it.
	Name() string
	// Ensure makes sure the cluster is there (starting it when the provider
	// can) and says how to reach it. Progress goes to log.
	Ensure(ctx context.Context, log io.Writer) (*Access, error)
	// LoadImages makes image tarballs (OCI/docker archives) available to the
	// cluster's nodes, for providers without a registry.
	LoadImages(ctx context.Context, tarballs []string) error
}

// Access is how the harness reaches a cluster and its Prometheus.
type Access struct {
	// Kubeconfig is the path of a kubeconfig for the cluster.
	Kubeconfig string
	// PrometheusURL is the base URL of the Prometheus that scrapes the
	// cluster and accepts k6's remote write (empty if the provider has none;
	// the run then deploys one from fixtures/).
	PrometheusURL string
	// PodsReachable says pod IPs are routable from this machine, so k6 can run
	// here as a local process instead of a Job in the cluster.
	PodsReachable bool
}

// Teardowner is a Provider that can undo what its Ensure started: the
// suites call it when they finish. It removes only what Ensure started in
// this process; a cluster that was up before is left up.
type Teardowner interface {
	Teardown(ctx context.Context, log io.Writer) error
}

// LogExporter is a Provider that can copy its cluster's own logs (its
// components', not the run's pods') to a folder, for CI artifacts.
type LogExporter interface {
	ExportLogs(ctx context.Context, dest string) error
}

// PauseImager is a Provider whose nodes' pod sandbox image is not
// kubeadm's: chaos's podFailure uses it as the image that does nothing,
// since every node of the cluster has it.
type PauseImager interface {
	PauseImage() string
}

// Existing is a Provider that can say how to reach its cluster without
// starting or creating one: perfrun clean removes what runs left behind,
// and must not bring up a cluster to find there is nothing to remove.
type Existing interface {
	// ExistingKubeconfig is the path of a kubeconfig for the cluster, or an
	// error saying there is no such cluster.
	ExistingKubeconfig(ctx context.Context) (string, error)
}

// ImageLister is a Provider that can list the images its nodes hold, as
// the runtime names them (docker.io/perfrun/listener:v1 for a short
// name), so that a run loads only the images that are missing.
type ImageLister interface {
	Images(ctx context.Context) ([]string, error)
}

// MetricsAPI is a Provider that can add the resource metrics API
// (metrics.k8s.io, what HorizontalPodAutoscalers read) to its running
// cluster when a run's system needs it, so that a cluster serves it only
// for the systems that have an HPA.
type MetricsAPI interface {
	EnsureMetricsServer(ctx context.Context, log io.Writer) error
}
