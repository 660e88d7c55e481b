package kind

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/images"
	"github.com/perfrun/perfrun/internal/gotool"
)

// The offline node image. No registry is reachable here and `kind build
// node-image` pulls its base image and every Kubernetes image, so the node
// is assembled the way kind's base and node-image builds do it, from
// Debian's archive (scripts/kind-rootfs.sh), kind's own files in its module
// (scripts/kind-node.sh) and the Kubernetes, etcd, CoreDNS and pause that
// perfrun already builds for the local cluster. The same bits are used on a
// CI runner that could pull kind's image: the nightly then judges the same
// Kubernetes, etcd and CoreDNS on kind as on the local cluster.
const (
	// KindVersion is the kind whose base files and node layout the image
	// follows (the Makefile's KIND_VERSION).
	KindVersion = "v0.33.0"
	// KubernetesVersion is the version of the node's Kubernetes: the local
	// cluster's (tools/kubernetes).
	KubernetesVersion = "v1.35.4"
	// NodeImageRepo is the node image's name; NodeImageRef gives its tag.
	NodeImageRepo = "perfrun/kind-node"
	// NodeImageStamp names the recipe below; change it with the recipe
	// (what the scripts, the patches and the tools' stamps say is in the
	// tag already).
	NodeImageStamp = "p3"
	// PatchesDir is the node's kubeadm patches directory (nodeFiles), which
	// the kind config's InitConfiguration names.
	PatchesDir = "/kind/perfrun-patches"
	// EtcdImage and CoreDNSImage are what the kind config's kubeadm patch
	// names (ClusterConfiguration etcd.local and dns): kubeadm's defaults
	// (etcd 3.6.6-0, CoreDNS v1.13.1) would claim versions these are not.
	EtcdImage    = "docker.io/perfrun/etcd:v3.6.16"
	CoreDNSImage = local.CoreDNSImage
	PauseImage   = local.PauseImage
)

// KubeadmTool builds kubeadm, which only the node image needs (its own
// module, so tools/kubernetes and the local cluster's build are unchanged).
var KubeadmTool = gotool.Tool{
	Name: "kubeadm", Version: KubernetesVersion, Module: "k8s.io/kubernetes",
	Packages: map[string]string{"k8s.io/kubernetes/cmd/kubeadm": "kubeadm"},
	LDFlags: "-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion + " -X k8s.io/component-base/version.gitMajor=1" +
		" -X k8s.io/component-base/version.gitMinor=35 -X k8s.io/component-base/version.gitTreeState=clean",
	ColdBuild: 90 * time.Second,
}

// NodeImageOptions say where the node image's parts come from.
type NodeImageOptions struct {
	// Repo is the perfrun repository: scripts/ and tools/.
	Repo string
	// CacheDir holds the built tools (local.Tools, KubeadmTool) and the
	// root filesystem, kind-node-<version>/rootfs.
	CacheDir string
	// Crictl is the crictl binary (sigs.k8s.io/cri-tools, `make crictl`);
	// default: crictl on PATH.
	Crictl string
	// KindModule is kind's module folder (its images/base/files); default
	// $GOMODCACHE/sigs.k8s.io/kind@v0.33.0.
	KindModule string
	// Docker is the docker command (DOCKER_HOST from the environment).
	Docker string
	// Log gets one line per step.
	Log io.Writer
}

// NodeImageRef is the node image's name and tag: the Kubernetes version
// and a digest of everything it is made from (this recipe's stamp, kind's
// version, the tools' versions and stamps, the two scripts), so that a
// changed part is a new image, never a stale one under an old name.
func NodeImageRef(repo string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, NodeImageStamp, KindVersion)
	for _, t := range []gotool.Tool{tool("kubernetes"), tool("etcd"), tool("coredns"), KubeadmTool} {
		fmt.Fprintln(h, t.Name, t.Version, t.Stamp, t.LDFlags)
	}
	patches := ControlPlanePatches()
	for _, n := range slices.Sorted(maps.Keys(patches)) {
		fmt.Fprintln(h, n, patches[n])
	}
	for _, s := range []string{"kind-rootfs.sh", "kind-node.sh"} {
		b, err := os.ReadFile(filepath.Join(repo, "scripts", s))
		if err != nil {
			return "", fmt.Errorf("kind node image: %w", err)
		}
		h.Write(b)
	}
	return fmt.Sprintf("%s:%s-%x", NodeImageRepo, KubernetesVersion, h.Sum(nil)[:6]), nil
}

// BuildNodeImage makes the node image (NodeImageRef) in Docker unless it is
// there already, and returns its name.
func BuildNodeImage(ctx context.Context, o NodeImageOptions) (string, error) {
	if o.Docker == "" {
		o.Docker = "docker"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Crictl == "" {
		c, err := exec.LookPath("crictl")
		if err != nil {
			return "", errors.New("kind node image: crictl is required, none on PATH (make crictl builds bin/tools/crictl)")
		}
		o.Crictl = c
	}
	if _, err := os.Stat(o.Crictl); err != nil {
		return "", fmt.Errorf("kind node image: crictl: %w", err)
	}
	if o.KindModule == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("kind node image: go env GOMODCACHE: %w", err)
		}
		o.KindModule = filepath.Join(strings.TrimSpace(string(out)), "sigs.k8s.io", "kind@"+KindVersion)
	}
	if _, err := os.Stat(filepath.Join(o.KindModule, "images", "base", "files")); err != nil {
		return "", fmt.Errorf("kind node image: kind's base files (go install sigs.k8s.io/kind@%s fetches its module): %w", KindVersion, err)
	}
	ref, err := NodeImageRef(o.Repo)
	if err != nil {
		return "", err
	}
	if err := exec.CommandContext(ctx, o.Docker, "image", "inspect", ref).Run(); err == nil {
		fmt.Fprintf(o.Log, "kind node image %s: present\n", ref)
		return ref, nil
	}
	start := time.Now()
	if err := local.BuildTools(ctx, o.Repo, o.CacheDir, o.Log, KubeadmTool); err != nil {
		return "", err
	}
	base := filepath.Join(o.CacheDir, "kind-node-"+KubernetesVersion)
	rootfs := filepath.Join(base, "rootfs")
	if _, err := os.Stat(filepath.Join(rootfs, "usr", "bin", "containerd")); err != nil {
		fmt.Fprintf(o.Log, "kind node image: Debian root filesystem (mmdebstrap, about 30 s)\n")
		if err := script(ctx, o.Log, filepath.Join(o.Repo, "scripts", "kind-rootfs.sh"), rootfs); err != nil {
			return "", err
		}
	}
	// The node is laid out in a copy: the cached root filesystem stays as
	// Debian made it, so a changed recipe starts from it again.
	work := filepath.Join(base, "node")
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if out, err := exec.CommandContext(ctx, "cp", "-a", rootfs, work).CombinedOutput(); err != nil {
		return "", fmt.Errorf("kind node image: copying the root filesystem: %w: %s", err, out)
	}
	kube := filepath.Join(base, "bin")
	if err := os.MkdirAll(kube, 0o755); err != nil {
		return "", err
	}
	for name, dir := range map[string]string{
		"kubelet": tool("kubernetes").Dir(o.CacheDir), "kubectl": tool("kubernetes").Dir(o.CacheDir),
		"kubeadm": KubeadmTool.Dir(o.CacheDir),
	} {
		_ = os.Remove(filepath.Join(kube, name))
		if err := os.Symlink(filepath.Join(dir, name), filepath.Join(kube, name)); err != nil {
			return "", err
		}
	}
	env := []string{"KIND_MODULE_DIR=" + o.KindModule}
	fmt.Fprintf(o.Log, "kind node image: kind's files, crictl, kubeadm, kubelet, kubectl\n")
	if err := scriptEnv(ctx, o.Log, env, filepath.Join(o.Repo, "scripts", "kind-node.sh"), work, kube, o.Crictl); err != nil {
		return "", err
	}
	if err := nodeFiles(ctx, o, work); err != nil {
		return "", err
	}
	fmt.Fprintf(o.Log, "kind node image: importing %s into Docker\n", ref)
	if err := dockerImport(ctx, o.Docker, work, ref); err != nil {
		return "", err
	}
	fmt.Fprintf(o.Log, "kind node image %s: built in %s\n", ref, time.Since(start).Round(time.Second))
	return ref, nil
}

// tool is the local cluster's tool of that name.
func tool(name string) gotool.Tool {
	for _, t := range local.Tools {
		if t.Name == name {
			return t
		}
	}
	panic("no local tool " + name)
}

// nodeFiles writes what kind's node-image build adds to the base: the
// Kubernetes version, the images (imported into containerd at boot, before
// the kubelet starts, by perfrun-images.service), a static CNI config in
// place of kindnetd, and containerd's sandbox image.
func nodeFiles(ctx context.Context, o NodeImageOptions, root string) error {
	if err := os.WriteFile(filepath.Join(root, "kind", "version"), []byte(KubernetesVersion+"\n"), 0o644); err != nil {
		return err
	}
	imgDir := filepath.Join(root, "kind", "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	kubeDir := tool("kubernetes").Dir(o.CacheDir)
	single := func(ref, bin string) images.Spec {
		return images.Spec{Ref: ref, Files: []images.File{{Src: bin, Dst: "/usr/local/bin/" + filepath.Base(bin)}}}
	}
	specs := []images.Spec{
		single("registry.k8s.io/kube-apiserver:"+KubernetesVersion, filepath.Join(kubeDir, "kube-apiserver")),
		single("registry.k8s.io/kube-controller-manager:"+KubernetesVersion, filepath.Join(kubeDir, "kube-controller-manager")),
		single("registry.k8s.io/kube-scheduler:"+KubernetesVersion, filepath.Join(kubeDir, "kube-scheduler")),
		single(EtcdImage, filepath.Join(tool("etcd").Dir(o.CacheDir), "etcd")),
		// As root: kubeadm's CoreDNS Deployment drops every capability
		// but NET_BIND_SERVICE for port 53, which only root keeps (the
		// upstream image gives its binary the file capability instead).
		{Ref: CoreDNSImage, Files: []images.File{{Src: filepath.Join(tool("coredns").Dir(o.CacheDir), "coredns"), Dst: "/coredns"}},
			Entrypoint: []string{"/coredns"}},
	}
	proxy, err := kubeProxyFiles(ctx, filepath.Join(kubeDir, "kube-proxy"))
	if err != nil {
		return err
	}
	specs = append(specs, images.Spec{Ref: "registry.k8s.io/kube-proxy:" + KubernetesVersion, Files: proxy})
	pause := filepath.Join(o.CacheDir, "images", "pause")
	if err := images.GoBinary(ctx, o.Repo, "./images/pause", pause); err != nil {
		return err
	}
	specs = append(specs, images.Spec{Ref: PauseImage, Files: []images.File{{Src: pause, Dst: "/pause"}}, Entrypoint: []string{"/pause"}, User: "65535"})
	for i, s := range specs {
		if err := images.BuildTo(filepath.Join(imgDir, fmt.Sprintf("%02d.tar", i)), s); err != nil {
			return fmt.Errorf("kind node image: %w", err)
		}
	}
	unit := `[Unit]
Description=Import the node's images (perfrun's offline kind node)
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -euc 'for t in /kind/images/*.tar; do until ctr -n k8s.io images import "$t"; do sleep 0.2; done; done'

[Install]
WantedBy=multi-user.target
`
	if err := os.WriteFile(filepath.Join(root, "etc", "systemd", "system", "perfrun-images.service"), []byte(unit), 0o644); err != nil {
		return err
	}
	wants := filepath.Join(root, "etc", "systemd", "system", "multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(wants, "perfrun-images.service"))
	if err := os.Symlink("/etc/systemd/system/perfrun-images.service", filepath.Join(wants, "perfrun-images.service")); err != nil {
		return err
	}
	// One node: its pods get the first /24 of the pod range, which is the
	// podCIDR the controller-manager gives the first node.
	cni := `{
  "cniVersion": "0.4.0",
  "name": "perfrun",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`
	if err := os.WriteFile(filepath.Join(root, "etc", "cni", "net.d", "10-perfrun.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	if err := writePatches(filepath.Join(root, strings.TrimPrefix(PatchesDir, "/"))); err != nil {
		return err
	}
	cfgPath := filepath.Join(root, "etc", "containerd", "config.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	const kindPause = `sandbox_image = "registry.k8s.io/pause:3.10"`
	if !strings.Contains(string(cfg), kindPause) {
		return fmt.Errorf("kind node image: kind's containerd config has no %s to replace", kindPause)
	}
	cfg = []byte(strings.Replace(string(cfg), kindPause, `sandbox_image = "`+PauseImage+`"`, 1))
	return os.WriteFile(cfgPath, cfg, 0o644)
}

// ControlPlanePatches are kubeadm patches (target+type.yaml) that make the
// kind node schedule like the local cluster, whose control plane runs as
// processes beside the kubelet and requests nothing. kubeadm's static pods
// request 650m of CPU (kube-apiserver 250m, controller-manager 200m,
// scheduler 100m, etcd 100m) and its two CoreDNS replicas 200m more: on a
// 2-core machine that is 850m of a node whose allocatable is the machine,
// and a scenario sized for the local cluster (core-utilization: listener
// 750m, worker 100m, Redis 500m) cannot be scheduled. The requests only
// steer the scheduler (none of these has a limit), so dropping them changes
// where pods fit, not how the control plane runs. One CoreDNS replica: one
// node.
func ControlPlanePatches() map[string]string {
	return map[string]string{
		"kube-apiserver+json.yaml":          dropRequests,
		"kube-controller-manager+json.yaml": dropRequests,
		"kube-scheduler+json.yaml":          dropRequests,
		"etcd+json.yaml":                    dropRequests,
		"corednsdeployment+strategic.yaml":  "spec:\n  replicas: 1\n",
	}
}

// dropRequests removes the first container's resources (kubeadm's static
// pods have one container, with requests and no limits).
const dropRequests = `[{"op": "remove", "path": "/spec/containers/0/resources"}]` + "\n"

func writePatches(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, body := range ControlPlanePatches() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("kind node image: kubeadm patch %s: %w", name, err)
		}
	}
	return nil
}

// kubeProxyFiles are kube-proxy and the nft it runs (Debian's, the node's
// own, with its libraries): kube-proxy runs in nftables mode on kind as on
// the local cluster (fixtures/kind/cluster.yaml).
func kubeProxyFiles(ctx context.Context, proxy string) ([]images.File, error) {
	const nft = "/usr/sbin/nft"
	files, err := images.WithLibraries(ctx, nft)
	if err != nil {
		return nil, fmt.Errorf("kind node image: kube-proxy's nft: %w", err)
	}
	for i := range files {
		if files[i].Dst == nft {
			files[i].Dst = "/usr/local/bin/nft" // on the image's PATH
		}
	}
	return append(files, images.File{Src: proxy, Dst: "/usr/local/bin/kube-proxy"}), nil
}

func script(ctx context.Context, log io.Writer, path string, args ...string) error {
	return scriptEnv(ctx, log, nil, path, args...)
}

func scriptEnv(ctx context.Context, log io.Writer, env []string, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, "sh", append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(path), err, tail(out, 20))
	}
	return nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dockerImport tars root (owners and modes kept) into `docker import` with
// the settings of kind's base image: its entrypoint with systemd as init.
// (Its STOPSIGNAL cannot be set by import; kind removes nodes with
// `docker rm -f`, which does not use it.)
func dockerImport(ctx context.Context, docker, root, ref string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "-C", root, "-c", ".")
	imp := exec.CommandContext(ctx, docker, "import",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
		"--change", "ENV container=docker",
		"-", ref)
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var tarErr, impOut strings.Builder
	tarCmd.Stderr = &tarErr
	imp.Stdout, imp.Stderr = &impOut, &impOut
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("tar of the node: %w", err)
	}
	if err := imp.Run(); err != nil {
		cancel() // tar would block on the pipe nobody reads
		_ = tarCmd.Wait()
		return fmt.Errorf("docker import: %w: %s", err, strings.TrimSpace(impOut.String()))
	}
	if err := tarCmd.Wait(); err != nil {
		return fmt.Errorf("tar of the node: %w: %s", err, tarErr.String())
	}
	return nil
}
