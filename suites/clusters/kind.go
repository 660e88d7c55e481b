package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support/kind"
	"sigs.k8s.io/e2e-framework/third_party/helm"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/deploy"
)

// Kind's defaults. The kind config gives pods and services the same
// benchmarking ranges as the local cluster (198.18.0.0/17, 198.19.0.0/16),
// so the host reaches them through routes via the node's address.
const (
	DefaultKindName      = "perfrun"
	DefaultKindConfig    = "fixtures/kind/cluster.yaml"
	KindPrometheus       = "fixtures/kind/prometheus"
	KindSystemNamespace  = "perfrun-system"
	DefaultChaosMeshVals = "fixtures/kind/chaos-mesh-values.yaml"
	podCIDR              = "198.18.0.0/17"
	serviceCIDR          = "198.19.0.0/16"
)

func selectKind(o Options) (*Env, error) {
	if o.KindName == "" {
		o.KindName = DefaultKindName
	}
	if o.KindConfig == "" {
		o.KindConfig = filepath.Join(o.Repo, DefaultKindConfig)
	}
	if _, err := os.Stat(o.KindConfig); err != nil {
		return nil, fmt.Errorf("provider kind: -perfrun.kind-config: %w", err)
	}
	if o.ChaosMeshValues == "" {
		o.ChaosMeshValues = filepath.Join(o.Repo, DefaultChaosMeshVals)
	}
	e := &Env{Name: Kind, Config: envconf.New(), key: o.KindName}
	kp := &kindProvider{name: o.KindName}
	e.Provider = kp
	e.Setup = []env.Func{envfuncs.CreateClusterWithConfig(kind.NewProvider(), o.KindName, o.KindConfig)}
	e.Setup = append(e.Setup, loadImages(o.KindName, o)...)
	e.Setup = append(e.Setup,
		routePods(o, kp),
		installPrometheus(o, kp),
	)
	if o.ChaosMeshVersion != "" {
		e.Setup = append(e.Setup, installChaosMesh(o))
	}
	e.Finish = []env.Func{unroute(o, kp), envfuncs.DestroyCluster(o.KindName)}
	return e, nil
}

// kindProvider is the kind cluster as perfrun run sees it, once Setup made
// it: its kubeconfig, the in-cluster Prometheus, images loaded with kind.
type kindProvider struct {
	name       string
	kubeconfig string
	promURL    string
	nodeIP     string
}

var _ cluster.Provider = (*kindProvider)(nil)

func (k *kindProvider) Name() string { return Kind }

func (k *kindProvider) Ensure(_ context.Context, log io.Writer) (*cluster.Access, error) {
	if k.kubeconfig == "" || k.promURL == "" {
		return nil, errors.New("kind cluster not set up (the suite's setup did not run or failed)")
	}
	fmt.Fprintf(log, "using kind cluster %s\n", k.name)
	return &cluster.Access{Kubeconfig: k.kubeconfig, PrometheusURL: k.promURL, PodsReachable: true}, nil
}

func (k *kindProvider) LoadImages(ctx context.Context, tarballs []string) error {
	for _, t := range tarballs {
		if err := exec.CommandContext(ctx, "kind", "load", "image-archive", "--name", k.name, t).Run(); err != nil {
			return fmt.Errorf("kind load image-archive %s: %w", t, err)
		}
	}
	return nil
}

// routePods routes the pod and service ranges to the (single) node, so k6
// and the harness reach pods and ClusterIPs from the host as on the local
// cluster (kind nodes are containers on a bridge the host is on).
func routePods(o Options, kp *kindProvider) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		kp.kubeconfig = cfg.KubeconfigFile()
		var nodes corev1.NodeList
		if err := cfg.Client().Resources().List(ctx, &nodes); err != nil {
			return ctx, fmt.Errorf("listing kind nodes: %w", err)
		}
		if len(nodes.Items) != 1 {
			return ctx, fmt.Errorf("kind: want one node (pods are routed to it), got %d", len(nodes.Items))
		}
		for _, a := range nodes.Items[0].Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				kp.nodeIP = a.Address
			}
		}
		if kp.nodeIP == "" {
			return ctx, fmt.Errorf("kind node %s has no InternalIP", nodes.Items[0].Name)
		}
		for _, cidr := range []string{podCIDR, serviceCIDR} {
			if err := privileged(ctx, o.Log, "ip", "route", "replace", cidr, "via", kp.nodeIP); err != nil {
				return ctx, fmt.Errorf("routing %s to the kind node: %w", cidr, err)
			}
		}
		return ctx, nil
	}
}

func unroute(o Options, kp *kindProvider) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		if kp.nodeIP == "" {
			return ctx, nil
		}
		var errs []error
		for _, cidr := range []string{podCIDR, serviceCIDR} {
			errs = append(errs, privileged(ctx, o.Log, "ip", "route", "del", cidr, "via", kp.nodeIP))
		}
		return ctx, errors.Join(errs...)
	}
}

// privileged runs a command as root: directly when we are, else through
// non-interactive sudo (GitHub's runners allow it).
func privileged(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if os.Geteuid() != 0 {
		cmd = exec.CommandContext(ctx, "sudo", append([]string{"-n", name}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(log, "%s: %s", cmd.String(), out)
	if err != nil {
		return fmt.Errorf("%s: %w: %s", cmd.String(), err, out)
	}
	return nil
}

// installPrometheus applies fixtures/kind/prometheus (fixtures/prometheus
// in perfrun-system) with server-side apply through klient, waits until
// it is Ready, and points the provider at its ClusterIP.
func installPrometheus(o Options, kp *kindProvider) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		objs, err := deploy.Render(filepath.Join(o.Repo, KindPrometheus))
		if err != nil {
			return ctx, err
		}
		res := cfg.Client().Resources()
		apply := func(po *metav1.PatchOptions) {
			force := true
			po.FieldManager, po.Force = deploy.FieldManager, &force
		}
		for _, obj := range objs {
			data, err := obj.MarshalJSON()
			if err != nil {
				return ctx, err
			}
			if err := res.Patch(ctx, obj, k8s.Patch{PatchType: types.ApplyPatchType, Data: data}, apply); err != nil {
				return ctx, fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
		fmt.Fprintln(o.Log, "waiting for Prometheus in", KindSystemNamespace)
		if err := wait.For(conditions.New(res).DeploymentAvailable("prometheus", KindSystemNamespace),
			wait.WithContext(ctx), wait.WithTimeout(5*time.Minute)); err != nil {
			return ctx, fmt.Errorf("prometheus not available: %w", err)
		}
		var svc corev1.Service
		if err := res.Get(ctx, "prometheus", KindSystemNamespace, &svc); err != nil {
			return ctx, fmt.Errorf("prometheus service: %w", err)
		}
		kp.promURL = fmt.Sprintf("http://%s:9090", svc.Spec.ClusterIP)
		return ctx, nil
	}
}

// installChaosMesh installs the Chaos Mesh chart with the containerd
// settings kind needs (fixtures/kind/chaos-mesh-values.yaml), so pod kills
// go through PodChaos as on a real cluster.
func installChaosMesh(o Options) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		m := helm.New(cfg.KubeconfigFile())
		if err := m.RunRepo(helm.WithArgs("add", "chaos-mesh", "https://charts.chaos-mesh.org")); err != nil {
			return ctx, fmt.Errorf("helm repo add chaos-mesh: %w", err)
		}
		if err := m.RunInstall(helm.WithName("chaos-mesh"), helm.WithNamespace("chaos-mesh"),
			helm.WithChart("chaos-mesh/chaos-mesh"), helm.WithVersion(o.ChaosMeshVersion),
			helm.WithArgs("--create-namespace", "-f", o.ChaosMeshValues), helm.WithWait(), helm.WithTimeout("10m")); err != nil {
			return ctx, fmt.Errorf("helm install chaos-mesh %s: %w", o.ChaosMeshVersion, err)
		}
		return ctx, nil
	}
}
