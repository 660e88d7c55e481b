// Package kind is the provider for a kind cluster (sigs.k8s.io/kind, nodes
// in Docker), as nightly CI uses: it creates the cluster from
// fixtures/kind/cluster.yaml (or reuses one of that name), routes the pod
// and Service ranges from this machine to the node, installs Prometheus from
// fixtures/kind/prometheus and reaches it at its ClusterIP, optionally
// installs Chaos Mesh with helm, and loads image tarballs with
// `kind load image-archive`. It drives the kind and helm commands through a
// Runner, so tests can stand in for them.
package kind

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/images"
	"github.com/perfrun/perfrun/internal/promconf"
)

// Defaults, relative to the repository where they are paths. The kind
// config gives pods and Services the same benchmarking ranges as the local
// cluster (PodCIDR, ServiceCIDR), so this machine reaches them through
// routes via the node's address.
const (
	DefaultName            = "perfrun"
	DefaultBinary          = "kind"
	DefaultConfig          = "fixtures/kind/cluster.yaml"
	Prometheus             = "fixtures/kind/prometheus"
	SystemNamespace        = "perfrun-system"
	DefaultChaosMeshValues = "fixtures/kind/chaos-mesh-values.yaml"
	PodCIDR                = "198.18.0.0/17"
	ServiceCIDR            = "198.19.0.0/16"
)

// Runner runs a command to its end and returns its combined output. The
// default is os/exec; tests give a fake.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the Runner of real commands.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err == nil {
		return out, nil
	}
	err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	if msg := bytes.TrimSpace(out); len(msg) > 0 {
		err = fmt.Errorf("%w: %s", err, msg)
	}
	return out, err
}

// Options say which kind cluster, made how. The zero value with Repo set
// gives the defaults.
type Options struct {
	// Repo is the repository root (fixtures/).
	Repo string
	// Name is the kind cluster's name. Default DefaultName.
	Name string
	// Config is the kind config file. Default Repo/DefaultConfig.
	Config string
	// Binary is the kind command. Default DefaultBinary (found on PATH).
	Binary string
	// Kubeconfig is where the cluster's kubeconfig is written. Default
	// $TMPDIR/perfrun-kind-<Name>.kubeconfig.
	Kubeconfig string
	// ChaosMeshVersion installs that Chaos Mesh chart with helm, with
	// ChaosMeshValues (default Repo/DefaultChaosMeshValues); empty skips it
	// and pod kills are API deletes.
	ChaosMeshVersion string
	ChaosMeshValues  string
	// Image is the node image of a new cluster. Default: perfrun's offline
	// node image (BuildNodeImage with NodeImage), built when missing.
	Image string
	// NodeImage says where that image's parts come from; its Repo defaults
	// to Repo and its CacheDir to local.DefaultCacheDir(). The same cache
	// holds the Prometheus binary whose image the cluster runs.
	NodeImage NodeImageOptions
	// Run runs kind, helm and ip. Default Exec.
	Run Runner
	// Root says this process may change routes itself; otherwise they go
	// through non-interactive sudo (GitHub's runners allow it). Default:
	// whether the effective user is root.
	Root *bool
}

// Provider is a kind cluster.
type Provider struct {
	o    Options
	root bool

	mu      sync.Mutex
	access  *cluster.Access
	created bool   // Ensure created the cluster
	nodeIP  string // the routes' gateway, once routed
	// sysctls are the host's kernel settings before Ensure created the
	// cluster: a kind node shares this machine's kernel, and its kubelet
	// sets some that are not namespaced (local.Sysctls). They are also kept
	// in hostRecord(), so that Delete in a later process (perfrun cluster
	// kind-down) puts them back as Teardown does.
	sysctls map[string]string
}

var (
	_ cluster.Provider    = (*Provider)(nil)
	_ cluster.Existing    = (*Provider)(nil)
	_ cluster.ImageLister = (*Provider)(nil)
	_ cluster.PauseImager = (*Provider)(nil)
)

// New returns the kind provider for o. A config file that is not there is
// an error naming it.
func New(o Options) (*Provider, error) {
	if o.Repo == "" {
		return nil, errors.New("kind: the repository root is required (fixtures/kind)")
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.Config == "" {
		o.Config = filepath.Join(o.Repo, DefaultConfig)
	}
	if _, err := os.Stat(o.Config); err != nil {
		return nil, fmt.Errorf("kind config: %w", err)
	}
	if o.ChaosMeshValues == "" {
		o.ChaosMeshValues = filepath.Join(o.Repo, DefaultChaosMeshValues)
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = filepath.Join(os.TempDir(), "perfrun-kind-"+o.Name+".kubeconfig")
	}
	if o.Run == nil {
		o.Run = Exec
	}
	if o.NodeImage.Repo == "" {
		o.NodeImage.Repo = o.Repo
	}
	if o.NodeImage.CacheDir == "" {
		o.NodeImage.CacheDir = local.DefaultCacheDir()
	}
	p := &Provider{o: o, root: os.Geteuid() == 0}
	if o.Root != nil {
		p.root = *o.Root
	}
	return p, nil
}

// Name implements cluster.Provider.
func (p *Provider) Name() string { return "kind" }

// PauseImage implements cluster.PauseImager: the sandbox image of
// perfrun's node image; with a node image of one's own (Image), kind's.
func (p *Provider) PauseImage() string {
	if p.o.Image != "" {
		return "registry.k8s.io/pause:3.10"
	}
	return PauseImage
}

// ClusterName is the kind cluster's name.
func (p *Provider) ClusterName() string { return p.o.Name }

// Ensure implements cluster.Provider: it creates the cluster unless one of
// that name exists, writes its kubeconfig, routes the pod and Service
// ranges to the node, installs Prometheus (and Chaos Mesh when asked) and
// says how to reach them. Once done, later calls return the same access.
func (p *Provider) Ensure(ctx context.Context, log io.Writer) (*cluster.Access, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.access != nil {
		return p.access, nil
	}
	exists, err := p.exists(ctx)
	if err != nil {
		return nil, err
	}
	if exists {
		fmt.Fprintf(log, "using kind cluster %s\n", p.o.Name)
	} else {
		fmt.Fprintf(log, "creating kind cluster %s from %s\n", p.o.Name, p.o.Config)
		// Mark it ours before create returns: a half-made cluster is ours
		// to delete too.
		image := p.o.Image
		if image == "" {
			ni := p.o.NodeImage
			ni.Log = log
			if image, err = BuildNodeImage(ctx, ni); err != nil {
				return nil, err
			}
		}
		p.created = true
		p.sysctls = local.ReadSysctls()
		if b, err := json.Marshal(p.sysctls); err == nil {
			_ = os.WriteFile(p.hostRecord(), b, 0o600)
		}
		if _, err := p.o.Run(ctx, p.o.Binary, "create", "cluster", "--name", p.o.Name, "--image", image, "--config", p.o.Config, "--wait", "5m"); err != nil {
			return nil, fmt.Errorf("creating kind cluster %s: %w", p.o.Name, err)
		}
	}
	kc, err := p.o.Run(ctx, p.o.Binary, "get", "kubeconfig", "--name", p.o.Name)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: kubeconfig: %w", p.o.Name, err)
	}
	if err := os.WriteFile(p.o.Kubeconfig, kc, 0o600); err != nil {
		return nil, fmt.Errorf("kind cluster %s: writing kubeconfig: %w", p.o.Name, err)
	}
	client, err := klient.NewWithKubeConfigFile(p.o.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: client: %w", p.o.Name, err)
	}
	if err := p.route(ctx, client, log); err != nil {
		return nil, err
	}
	promURL, err := p.installPrometheus(ctx, client, log)
	if err != nil {
		return nil, err
	}
	if p.o.ChaosMeshVersion != "" {
		if err := p.installChaosMesh(ctx, log); err != nil {
			return nil, err
		}
	}
	p.access = &cluster.Access{Kubeconfig: p.o.Kubeconfig, PrometheusURL: promURL, PodsReachable: true}
	return p.access, nil
}

// ExistingKubeconfig implements cluster.Existing: the kind cluster's
// kubeconfig, written where Ensure writes it, when kind has that cluster;
// it creates nothing.
func (p *Provider) ExistingKubeconfig(ctx context.Context) (string, error) {
	exists, err := p.exists(ctx)
	if err != nil {
		return "", err
	}
	if !exists {
		return "", fmt.Errorf("there is no kind cluster %s", p.o.Name)
	}
	kc, err := p.o.Run(ctx, p.o.Binary, "get", "kubeconfig", "--name", p.o.Name)
	if err != nil {
		return "", fmt.Errorf("kind cluster %s: kubeconfig: %w", p.o.Name, err)
	}
	if err := os.WriteFile(p.o.Kubeconfig, kc, 0o600); err != nil {
		return "", fmt.Errorf("kind cluster %s: writing kubeconfig: %w", p.o.Name, err)
	}
	return p.o.Kubeconfig, nil
}

// exists says whether kind has a cluster of the provider's name.
func (p *Provider) exists(ctx context.Context) (bool, error) {
	out, err := p.o.Run(ctx, p.o.Binary, "get", "clusters")
	if err != nil {
		return false, fmt.Errorf("listing kind clusters: %w", err)
	}
	return slices.Contains(strings.Fields(string(out)), p.o.Name), nil
}

// route routes the pod and Service ranges to the (single) node, so k6 and
// the harness reach pods and ClusterIPs from this machine as on the local
// cluster (kind nodes are containers on a bridge this machine is on).
func (p *Provider) route(ctx context.Context, client klient.Client, log io.Writer) error {
	var nodes corev1.NodeList
	if err := client.Resources().List(ctx, &nodes); err != nil {
		return fmt.Errorf("listing kind nodes: %w", err)
	}
	ip, err := NodeIP(nodes.Items)
	if err != nil {
		return err
	}
	for _, cidr := range []string{PodCIDR, ServiceCIDR} {
		// Another route inside the range (the local cluster's bridge is a
		// /24 of it) would win over the node's or be replaced by it: both
		// clusters broken, one silently.
		out, err := p.o.Run(ctx, "ip", "-o", "route", "show", "to", "root", cidr)
		if err != nil {
			return fmt.Errorf("reading the routes of %s: %w", cidr, err)
		}
		if err := foreignRoute(string(out), cidr, ip); err != nil {
			return err
		}
		if err := p.privileged(ctx, log, "ip", "route", "replace", cidr, "via", ip); err != nil {
			return fmt.Errorf("routing %s to the kind node: %w", cidr, err)
		}
	}
	p.nodeIP = ip
	return nil
}

// foreignRoute says which line of `ip -o route show to root CIDR` is not
// the node's own route of cidr, if any.
func foreignRoute(routes, cidr, nodeIP string) error {
	for _, l := range strings.Split(strings.TrimSpace(routes), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !(len(f) >= 3 && f[0] == cidr && f[1] == "via" && f[2] == nodeIP) {
			return fmt.Errorf("kind: this machine already routes %s (%s): another cluster uses the range "+
				"(the local one? perfrun cluster down first)", cidr, strings.TrimSpace(l))
		}
	}
	return nil
}

// NodeIP is the InternalIP of the one node pods are routed to.
func NodeIP(nodes []corev1.Node) (string, error) {
	if len(nodes) != 1 {
		return "", fmt.Errorf("kind: want one node (pods are routed to it), got %d", len(nodes))
	}
	for _, a := range nodes[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address, nil
		}
	}
	return "", fmt.Errorf("kind node %s has no InternalIP", nodes[0].Name)
}

// privileged runs a command as root: directly when we are, else through
// non-interactive sudo.
func (p *Provider) privileged(ctx context.Context, log io.Writer, name string, args ...string) error {
	if !p.root {
		name, args = "sudo", append([]string{"-n", name}, args...)
	}
	out, err := p.o.Run(ctx, name, args...)
	fmt.Fprintf(log, "%s %s: %s", name, strings.Join(args, " "), out)
	return err
}

// installPrometheus server-side applies fixtures/kind/prometheus
// (fixtures/prometheus in perfrun-system), waits until it is available and
// returns the URL of its ClusterIP.
func (p *Provider) installPrometheus(ctx context.Context, client klient.Client, log io.Writer) (string, error) {
	if err := p.loadPrometheusImage(ctx, log); err != nil {
		return "", err
	}
	objs, err := deploy.Render(filepath.Join(p.o.Repo, Prometheus))
	if err != nil {
		return "", fmt.Errorf("kind prometheus: %w", err)
	}
	res := client.Resources()
	apply := func(po *metav1.PatchOptions) {
		force := true
		po.FieldManager, po.Force = deploy.FieldManager, &force
	}
	for _, obj := range objs {
		data, err := obj.MarshalJSON()
		if err != nil {
			return "", fmt.Errorf("encoding %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if err := res.Patch(ctx, obj, k8s.Patch{PatchType: types.ApplyPatchType, Data: data}, apply); err != nil {
			return "", fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	fmt.Fprintln(log, "waiting for Prometheus in", SystemNamespace)
	if err := wait.For(conditions.New(res).DeploymentAvailable("prometheus", SystemNamespace),
		wait.WithContext(ctx), wait.WithTimeout(5*time.Minute)); err != nil {
		return "", fmt.Errorf("prometheus not available: %w", err)
	}
	var svc corev1.Service
	if err := res.Get(ctx, "prometheus", SystemNamespace, &svc); err != nil {
		return "", fmt.Errorf("prometheus service: %w", err)
	}
	return fmt.Sprintf("http://%s:9090", svc.Spec.ClusterIP), nil
}

// restoreSysctls writes back the kernel settings the cluster's kubelet
// changed on this machine (kubelet's overcommit and panic settings, the
// bridge's netfilter calls), as the local cluster's down does.
func (p *Provider) restoreSysctls(ctx context.Context, log io.Writer) error {
	now := local.ReadSysctls()
	var errs []error
	for _, k := range local.Sysctls {
		was, ok := p.sysctls[k]
		if !ok || now[k] == was {
			continue
		}
		kv := strings.ReplaceAll(k, "/", ".") + "=" + was
		if err := p.privileged(ctx, log, "sysctl", "-w", kv); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s: %w", kv, err))
		}
	}
	p.sysctls = nil
	if err := os.Remove(p.hostRecord()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hostRecord is where the host's settings before the cluster are kept.
func (p *Provider) hostRecord() string { return p.o.Kubeconfig + ".host.json" }

// Delete deletes the kind cluster of the provider's name whoever created
// it, and undoes on this machine what a provider that created it did: the
// routes to its node and the kernel settings its kubelet changed (from
// the record Ensure kept). perfrun run leaves a cluster it created up for
// the next run; this is its way down (perfrun cluster kind-down).
func (p *Provider) Delete(ctx context.Context, log io.Writer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, cidr := range []string{PodCIDR, ServiceCIDR} {
		out, err := p.o.Run(ctx, "ip", "-o", "route", "show", "to", "root", cidr)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the routes of %s: %w", cidr, err))
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			// Only the node's route (CIDR via an address of kind's network).
			if f := strings.Fields(l); len(f) >= 3 && f[0] == cidr && f[1] == "via" {
				if err := p.privileged(ctx, log, "ip", "route", "del", cidr, "via", f[2]); err != nil {
					errs = append(errs, fmt.Errorf("removing the route of %s: %w", cidr, err))
				}
			}
		}
	}
	p.nodeIP = ""
	exists, err := p.exists(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if exists {
		fmt.Fprintf(log, "deleting kind cluster %s\n", p.o.Name)
		if _, err := p.o.Run(ctx, p.o.Binary, "delete", "cluster", "--name", p.o.Name); err != nil {
			errs = append(errs, fmt.Errorf("deleting kind cluster %s: %w", p.o.Name, err))
		}
	} else {
		fmt.Fprintf(log, "there is no kind cluster %s\n", p.o.Name)
	}
	p.created, p.access = false, nil
	if p.sysctls == nil {
		if b, err := os.ReadFile(p.hostRecord()); err == nil {
			_ = json.Unmarshal(b, &p.sysctls)
		}
	}
	errs = append(errs, p.restoreSysctls(ctx, log))
	if err := os.Remove(p.o.Kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PrometheusImage is the Prometheus kind runs (fixtures/kind/prometheus
// names it): the one perfrun builds for the local cluster, so PromQL is
// the same version on both (Prometheus 3; kind used to pull 2.53).
const PrometheusImage = "docker.io/perfrun/prometheus:" + promconf.Version

// loadPrometheusImage builds PrometheusImage from the cached Prometheus
// build (building that when missing) and loads it unless the node has it.
func (p *Provider) loadPrometheusImage(ctx context.Context, log io.Writer) error {
	have, err := p.Images(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(have, PrometheusImage) {
		return nil
	}
	cache := p.o.NodeImage.CacheDir
	if err := local.BuildTools(ctx, p.o.NodeImage.Repo, cache, log); err != nil {
		return err
	}
	tar := filepath.Join(cache, "images", "perfrun_prometheus_"+promconf.Version+".tar")
	bin := filepath.Join(tool("prometheus").Dir(cache), "prometheus")
	if err := images.BuildTo(tar, images.Spec{Ref: PrometheusImage, Files: []images.File{{Src: bin, Dst: "/bin/prometheus"}},
		Entrypoint: []string{"/bin/prometheus"}, User: "65534"}); err != nil {
		return fmt.Errorf("kind prometheus image: %w", err)
	}
	fmt.Fprintf(log, "loading %s\n", PrometheusImage)
	return p.LoadImages(ctx, []string{tar})
}

// installChaosMesh installs the Chaos Mesh chart with the containerd
// settings kind needs (fixtures/kind/chaos-mesh-values.yaml), so pod kills
// go through PodChaos as on a real cluster.
func (p *Provider) installChaosMesh(ctx context.Context, log io.Writer) error {
	fmt.Fprintln(log, "installing Chaos Mesh", p.o.ChaosMeshVersion)
	if _, err := p.o.Run(ctx, "helm", "repo", "add", "chaos-mesh", "https://charts.chaos-mesh.org", "--force-update"); err != nil {
		return fmt.Errorf("helm repo add chaos-mesh: %w", err)
	}
	if _, err := p.o.Run(ctx, "helm", "upgrade", "--install", "chaos-mesh", "chaos-mesh/chaos-mesh",
		"--kubeconfig", p.o.Kubeconfig, "--namespace", "chaos-mesh", "--create-namespace",
		"--version", p.o.ChaosMeshVersion, "-f", p.o.ChaosMeshValues, "--wait", "--timeout", "10m"); err != nil {
		return fmt.Errorf("helm install chaos-mesh %s: %w", p.o.ChaosMeshVersion, err)
	}
	return nil
}

// LoadImages implements cluster.Provider with `kind load image-archive`.
func (p *Provider) LoadImages(ctx context.Context, tarballs []string) error {
	for _, t := range tarballs {
		if _, err := p.o.Run(ctx, p.o.Binary, "load", "image-archive", "--name", p.o.Name, t); err != nil {
			return fmt.Errorf("kind load image-archive %s: %w", t, err)
		}
	}
	return nil
}

// Images implements cluster.ImageLister: the images every node of the
// cluster holds, as each node's containerd lists them (crictl, which
// kind's node image has, run in the node's container), so that a run
// loads only what is missing. The nodes are containers of the runtime
// kind drives: docker, or KIND_EXPERIMENTAL_PROVIDER's.
func (p *Provider) Images(ctx context.Context) ([]string, error) {
	out, err := p.o.Run(ctx, p.o.Binary, "get", "nodes", "--name", p.o.Name)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: listing nodes: %w", p.o.Name, err)
	}
	var nodes []string
	for _, f := range strings.Fields(string(out)) {
		// kind may print notices beside the names; nodes are NAME-role.
		if strings.HasPrefix(f, p.o.Name+"-") {
			nodes = append(nodes, f)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("kind cluster %s: no nodes", p.o.Name)
	}
	runtime := "docker"
	if v := os.Getenv("KIND_EXPERIMENTAL_PROVIDER"); v != "" {
		runtime = v
	}
	held := map[string]int{}
	for _, n := range nodes {
		out, err := p.o.Run(ctx, runtime, "exec", n, "crictl", "images", "-o", "json")
		if err != nil {
			return nil, fmt.Errorf("kind node %s: listing images: %w", n, err)
		}
		var list struct {
			Images []struct {
				RepoTags []string `json:"repoTags"`
			} `json:"images"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("kind node %s: crictl images: %w", n, err)
		}
		for _, img := range list.Images {
			for _, tag := range img.RepoTags {
				held[tag]++
			}
		}
	}
	var refs []string
	for ref, n := range held {
		if n == len(nodes) {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	return refs, nil
}

// ExportLogs copies the cluster's logs to dest (`kind export logs`).
func (p *Provider) ExportLogs(ctx context.Context, dest string) error {
	if _, err := p.o.Run(ctx, p.o.Binary, "export", "logs", dest, "--name", p.o.Name); err != nil {
		return fmt.Errorf("kind export logs: %w", err)
	}
	return nil
}

// Teardown undoes what Ensure did in this process: it removes the routes
// it added and deletes the cluster if Ensure created it. A cluster that was
// there before is left, with its Prometheus.
func (p *Provider) Teardown(ctx context.Context, log io.Writer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	if p.nodeIP != "" {
		for _, cidr := range []string{PodCIDR, ServiceCIDR} {
			if err := p.privileged(ctx, log, "ip", "route", "del", cidr, "via", p.nodeIP); err != nil {
				errs = append(errs, fmt.Errorf("removing the route of %s: %w", cidr, err))
			}
		}
		p.nodeIP = ""
	}
	if p.created {
		fmt.Fprintf(log, "deleting kind cluster %s\n", p.o.Name)
		if _, err := p.o.Run(ctx, p.o.Binary, "delete", "cluster", "--name", p.o.Name); err != nil {
			errs = append(errs, fmt.Errorf("deleting kind cluster %s: %w", p.o.Name, err))
		}
		p.created = false
		errs = append(errs, p.restoreSysctls(ctx, log))
		if err := os.Remove(p.o.Kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	} else if p.access != nil {
		fmt.Fprintf(log, "leaving kind cluster %s up (it was there before)\n", p.o.Name)
	}
	p.access = nil
	return errors.Join(errs...)
}
