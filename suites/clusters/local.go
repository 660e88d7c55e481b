package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/perfrun/perfrun/cluster/local"
)

// LocalE2E is the embedded local cluster as an e2e-framework cluster
// provider, so the suites set it up and tear it down with the same
// envfuncs as kind. There is one local cluster per machine: names,
// versions and options do not apply. Destroy stops the cluster only when
// Create started it, so a cluster someone else brought up stays up.
type LocalE2E struct {
	Cluster *local.Cluster
	// StateDir is the cluster's state folder (its logs/ are exported).
	StateDir string
	Log      io.Writer
	// started says Create brought the cluster up.
	started bool
	rest    *rest.Config
}

// WithName implements support.E2EClusterProvider (one cluster per machine).
func (l *LocalE2E) WithName(string) support.E2EClusterProvider { return l }

// WithVersion implements support.E2EClusterProvider: the version is pinned
// by the tools/ modules.
func (l *LocalE2E) WithVersion(string) support.E2EClusterProvider { return l }

// WithPath implements support.E2EClusterProvider.
func (l *LocalE2E) WithPath(string) support.E2EClusterProvider { return l }

// WithOpts implements support.E2EClusterProvider.
func (l *LocalE2E) WithOpts(...support.ClusterOpts) support.E2EClusterProvider { return l }

// SetDefaults implements support.E2EClusterProvider.
func (l *LocalE2E) SetDefaults() support.E2EClusterProvider {
	if l.Log == nil {
		l.Log = io.Discard
	}
	return l
}

// Create brings the cluster up unless it is up already, and returns its
// kubeconfig.
func (l *LocalE2E) Create(ctx context.Context, _ ...string) (string, error) {
	if !l.Cluster.Status(ctx).Up() {
		fmt.Fprintln(l.Log, "bringing the local cluster up")
		// Mark it ours before Up returns: a failed Up stops what it
		// started itself, and Destroy after it is harmless.
		l.started = true
		if err := l.Cluster.Up(ctx, l.Log); err != nil {
			return "", fmt.Errorf("local cluster up: %w", err)
		}
	} else {
		fmt.Fprintln(l.Log, "the local cluster is up already: using it, and leaving it up")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Cluster.Kubeconfig())
	if err != nil {
		return "", fmt.Errorf("local cluster kubeconfig: %w", err)
	}
	l.rest = cfg
	return l.Cluster.Kubeconfig(), nil
}

// CreateWithConfig implements support.E2EClusterProvider; the local
// cluster takes no config file.
func (l *LocalE2E) CreateWithConfig(ctx context.Context, configFile string) (string, error) {
	if configFile != "" {
		return "", fmt.Errorf("local cluster: no config file is taken (got %s)", configFile)
	}
	return l.Create(ctx)
}

// GetKubeconfig implements support.E2EClusterProvider.
func (l *LocalE2E) GetKubeconfig() string { return l.Cluster.Kubeconfig() }

// GenerateKubeconfig implements support.E2EClusterProvider.
func (l *LocalE2E) GenerateKubeconfig(...string) (string, error) { return l.Cluster.Kubeconfig(), nil }

// GetKubectlContext implements support.E2EClusterProvider: the kubeconfig's
// current context.
func (l *LocalE2E) GetKubectlContext() string {
	c, err := clientcmd.LoadFromFile(l.Cluster.Kubeconfig())
	if err != nil {
		return ""
	}
	return c.CurrentContext
}

// ExportLogs copies the cluster's component logs to dest.
func (l *LocalE2E) ExportLogs(_ context.Context, dest string) error {
	state := l.StateDir
	if state == "" {
		state = "/var/lib/perfrun/local"
	}
	logs := filepath.Join(state, "logs")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	return os.CopyFS(filepath.Join(dest, "local-cluster"), os.DirFS(logs))
}

// Destroy stops the cluster if Create started it.
func (l *LocalE2E) Destroy(ctx context.Context) error {
	if !l.started {
		fmt.Fprintln(l.Log, "leaving the local cluster up (it was up before the suite)")
		return nil
	}
	l.started = false
	return l.Cluster.Down(ctx, l.Log, false)
}

// WaitForControlPlane waits until the node is Ready (Up waits for it too;
// this covers a cluster that was already up).
func (l *LocalE2E) WaitForControlPlane(ctx context.Context, client klient.Client) error {
	var nodes corev1.NodeList
	if err := client.Resources().List(ctx, &nodes); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return errors.New("local cluster: no node registered")
	}
	for i := range nodes.Items {
		if err := wait.For(conditions.New(client.Resources()).ResourceMatch(&nodes.Items[i], nodeReady),
			wait.WithContext(ctx), wait.WithTimeout(time.Minute)); err != nil {
			return fmt.Errorf("node %s not Ready: %w", nodes.Items[i].Name, err)
		}
	}
	return nil
}

// KubernetesRestConfig implements support.E2EClusterProvider.
func (l *LocalE2E) KubernetesRestConfig() *rest.Config { return l.rest }

// LoadImage implements support.E2EClusterProviderWithImageLoader: the
// local cluster has no image store to copy from, only archives.
func (l *LocalE2E) LoadImage(_ context.Context, image string, _ ...string) error {
	return fmt.Errorf("local cluster: load %s as an image archive (LoadImageArchive)", image)
}

// LoadImageArchive imports an image tarball into the node's containerd.
func (l *LocalE2E) LoadImageArchive(ctx context.Context, archive string, _ ...string) error {
	return l.Cluster.LoadImages(ctx, []string{archive})
}
