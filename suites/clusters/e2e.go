package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/perfrun/perfrun/cluster"
)

// E2E is a cluster.Provider as an e2e-framework cluster provider, so the
// suites set clusters up and tear them down with envfuncs
// (CreateCluster, LoadImageArchiveToCluster, ExportClusterLogs,
// DestroyCluster) whatever the provider. Names, versions and options are
// the provider's own and do not apply here. Destroy tears down only what
// Create started (cluster.Teardowner), so a cluster that was up before the
// suite stays up.
type E2E struct {
	Provider cluster.Provider
	Log      io.Writer
	access   *cluster.Access
	rest     *rest.Config
}

var _ support.E2EClusterProviderWithImageLoader = (*E2E)(nil)

// WithName implements support.E2EClusterProvider (the provider names its cluster).
func (e *E2E) WithName(string) support.E2EClusterProvider { return e }

// WithVersion implements support.E2EClusterProvider (the provider pins it).
func (e *E2E) WithVersion(string) support.E2EClusterProvider { return e }

// WithPath implements support.E2EClusterProvider.
func (e *E2E) WithPath(string) support.E2EClusterProvider { return e }

// WithOpts implements support.E2EClusterProvider.
func (e *E2E) WithOpts(...support.ClusterOpts) support.E2EClusterProvider { return e }

// SetDefaults implements support.E2EClusterProvider.
func (e *E2E) SetDefaults() support.E2EClusterProvider {
	if e.Log == nil {
		e.Log = io.Discard
	}
	return e
}

// Create makes sure the cluster is there (the provider's Ensure) and
// returns its kubeconfig.
func (e *E2E) Create(ctx context.Context, _ ...string) (string, error) {
	a, err := e.Provider.Ensure(ctx, e.Log)
	if err != nil {
		return "", fmt.Errorf("%s cluster: %w", e.Provider.Name(), err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", a.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("%s cluster kubeconfig: %w", e.Provider.Name(), err)
	}
	e.access, e.rest = a, cfg
	return a.Kubeconfig, nil
}

// CreateWithConfig implements support.E2EClusterProvider; a config file is
// one of the provider's options, not given here.
func (e *E2E) CreateWithConfig(ctx context.Context, configFile string) (string, error) {
	if configFile != "" {
		return "", fmt.Errorf("%s cluster: the config file is the provider's option (got %s)", e.Provider.Name(), configFile)
	}
	return e.Create(ctx)
}

// GetKubeconfig implements support.E2EClusterProvider ("" before Create).
func (e *E2E) GetKubeconfig() string {
	if e.access == nil {
		return ""
	}
	return e.access.Kubeconfig
}

// GenerateKubeconfig implements support.E2EClusterProvider.
func (e *E2E) GenerateKubeconfig(...string) (string, error) {
	if e.access == nil {
		return "", errors.New("no kubeconfig before the cluster is created")
	}
	return e.access.Kubeconfig, nil
}

// GetKubectlContext implements support.E2EClusterProvider: the kubeconfig's
// current context.
func (e *E2E) GetKubectlContext() string {
	c, err := clientcmd.LoadFromFile(e.GetKubeconfig())
	if err != nil {
		return ""
	}
	return c.CurrentContext
}

// ExportLogs copies the cluster's own logs to dest, if the provider can.
func (e *E2E) ExportLogs(ctx context.Context, dest string) error {
	x, ok := e.Provider.(cluster.LogExporter)
	if !ok {
		return fmt.Errorf("%s cluster: no cluster logs to export", e.Provider.Name())
	}
	return x.ExportLogs(ctx, dest)
}

// Destroy tears down what Create started, if the provider starts anything.
func (e *E2E) Destroy(ctx context.Context) error {
	t, ok := e.Provider.(cluster.Teardowner)
	if !ok {
		return nil
	}
	return t.Teardown(ctx, e.Log)
}

// WaitForControlPlane waits until every node is Ready.
func (e *E2E) WaitForControlPlane(ctx context.Context, client klient.Client) error {
	var nodes corev1.NodeList
	if err := client.Resources().List(ctx, &nodes); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return fmt.Errorf("%s cluster: no node registered", e.Provider.Name())
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
func (e *E2E) KubernetesRestConfig() *rest.Config { return e.rest }

// LoadImage implements support.E2EClusterProviderWithImageLoader: images
// come as archives only (no image store to copy from).
func (e *E2E) LoadImage(_ context.Context, image string, _ ...string) error {
	return fmt.Errorf("%s cluster: load %s as an image archive (LoadImageArchive)", e.Provider.Name(), image)
}

// LoadImageArchive loads an image tarball with the provider's LoadImages.
func (e *E2E) LoadImageArchive(ctx context.Context, archive string, _ ...string) error {
	return e.Provider.LoadImages(ctx, []string{archive})
}

// nodeReady says a Node object reports Ready.
func nodeReady(o k8s.Object) bool {
	n, ok := o.(*corev1.Node)
	if !ok {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
