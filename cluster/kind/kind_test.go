package kind

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/deploy"
)

// fake records the commands it is given and answers from outputs, keyed
// by the command line's start.
type fake struct {
	calls   []string
	outputs map[string]string
	fail    map[string]bool
}

func (f *fake) run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.calls = append(f.calls, line)
	for prefix := range f.fail {
		if strings.HasPrefix(line, prefix) {
			return []byte("boom\n"), errors.New(prefix + ": exit status 1")
		}
	}
	for prefix, out := range f.outputs {
		if strings.HasPrefix(line, prefix) {
			return []byte(out), nil
		}
	}
	return nil, nil
}

// unreachable is a kubeconfig for an API server nothing listens on, so
// Ensure stops after the kind commands, at listing the nodes.
const unreachable = `apiVersion: v1
kind: Config
clusters: [{name: kind, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: kind, user: {token: x}}]
contexts: [{name: kind, context: {cluster: kind, user: kind}}]
current-context: kind
`

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func newFake(t *testing.T, f *fake, o Options) *Provider {
	t.Helper()
	o.Repo, o.Run = repoRoot(t), f.run
	if o.Kubeconfig == "" {
		o.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewDefaultsAndBadConfig(t *testing.T) {
	repo := repoRoot(t)
	p, err := New(Options{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "kind" || p.ClusterName() != DefaultName || p.o.Binary != DefaultBinary ||
		p.o.Config != filepath.Join(repo, DefaultConfig) || !strings.HasSuffix(p.o.Kubeconfig, "perfrun-kind-perfrun.kubeconfig") {
		t.Errorf("defaults: %+v", p.o)
	}
	if _, err := New(Options{Repo: repo, Config: "/nonexistent/kind.yaml"}); err == nil || !strings.Contains(err.Error(), "kind config") {
		t.Errorf("missing config: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no repository: want an error")
	}
}

func TestEnsureCreatesThenStopsAtTheUnreachableNode(t *testing.T) {
	f := &fake{outputs: map[string]string{"kind get clusters": "other\n", "kind get kubeconfig": unreachable}}
	p := newFake(t, f, Options{Name: "nightly", Image: "perfrun/kind-node:test"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := p.Ensure(ctx, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "listing kind nodes") {
		t.Fatalf("Ensure: %v, want it to stop at listing the nodes", err)
	}
	want := []string{
		"kind get clusters",
		"kind create cluster --name nightly --image perfrun/kind-node:test --config " + filepath.Join(repoRoot(t), DefaultConfig) + " --wait 5m",
		"kind get kubeconfig --name nightly",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if b, err := os.ReadFile(p.o.Kubeconfig); err != nil || string(b) != unreachable {
		t.Errorf("kubeconfig written: %q, %v", b, err)
	}
	// The cluster Ensure created is deleted by Teardown; no route was added.
	f.calls = nil
	if err := p.Teardown(context.Background(), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 || f.calls[0] != "kind delete cluster --name nightly" {
		t.Errorf("teardown calls %q", f.calls)
	}
}

func TestEnsureReusesAndTeardownLeavesIt(t *testing.T) {
	f := &fake{outputs: map[string]string{"kind get clusters": "perfrun\n", "kind get kubeconfig": unreachable}}
	p := newFake(t, f, Options{Binary: "/opt/kind"})
	f.outputs["/opt/kind get clusters"] = "perfrun\n"
	f.outputs["/opt/kind get kubeconfig"] = unreachable
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Ensure(ctx, &strings.Builder{}); err == nil {
		t.Fatal("Ensure: want the unreachable node's error")
	}
	for _, c := range f.calls {
		if strings.Contains(c, "create") {
			t.Errorf("an existing cluster must be reused, got %q", c)
		}
	}
	f.calls = nil
	if err := p.Teardown(context.Background(), &strings.Builder{}); err != nil || len(f.calls) != 0 {
		t.Errorf("teardown of a cluster that was there: %v, calls %q", err, f.calls)
	}
}

func TestEnsureErrorsCarryTheCommand(t *testing.T) {
	f := &fake{fail: map[string]bool{"kind get clusters": true}}
	p := newFake(t, f, Options{})
	if _, err := p.Ensure(context.Background(), &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "listing kind clusters") {
		t.Errorf("Ensure: %v", err)
	}
	f = &fake{outputs: map[string]string{"kind get clusters": ""}, fail: map[string]bool{"kind create cluster": true}}
	p = newFake(t, f, Options{Image: "perfrun/kind-node:test"})
	if _, err := p.Ensure(context.Background(), &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "creating kind cluster perfrun") {
		t.Errorf("Ensure: %v", err)
	}
}

func TestLoadImagesAndExportLogs(t *testing.T) {
	f := &fake{}
	p := newFake(t, f, Options{Name: "ci"})
	if err := p.LoadImages(context.Background(), []string{"a.tar", "b.tar"}); err != nil {
		t.Fatal(err)
	}
	if err := p.ExportLogs(context.Background(), "/tmp/logs"); err != nil {
		t.Fatal(err)
	}
	want := "kind load image-archive --name ci a.tar\nkind load image-archive --name ci b.tar\nkind export logs /tmp/logs --name ci"
	if got := strings.Join(f.calls, "\n"); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	f.fail = map[string]bool{"kind load": true}
	if err := p.LoadImages(context.Background(), []string{"a.tar"}); err == nil || !strings.Contains(err.Error(), "kind load image-archive a.tar") {
		t.Errorf("LoadImages: %v", err)
	}
}

func TestRoutesGoThroughSudoUnlessRoot(t *testing.T) {
	for _, root := range []bool{false, true} {
		f := &fake{}
		p := newFake(t, f, Options{Root: &root})
		p.nodeIP = "172.18.0.2"
		if err := p.Teardown(context.Background(), &strings.Builder{}); err != nil {
			t.Fatal(err)
		}
		want := "ip route del " + PodCIDR + " via 172.18.0.2"
		if !root {
			want = "sudo -n " + want
		}
		if len(f.calls) != 2 || f.calls[0] != want {
			t.Errorf("root %v: calls %q, want first %q", root, f.calls, want)
		}
	}
}

func TestForeignRouteStopsACollision(t *testing.T) {
	for _, c := range []struct {
		routes, want string
	}{
		{"", ""},
		{PodCIDR + " via 198.18.254.2 dev br-1 \n", ""},
		{"198.18.0.0/24 dev perfrun-br0 proto kernel scope link src 198.18.0.1\n", "198.18.0.0/24 dev perfrun-br0"},
		{PodCIDR + " via 198.18.254.9 dev br-1\n", "via 198.18.254.9"},
	} {
		err := foreignRoute(c.routes, PodCIDR, "198.18.254.2")
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "perfrun cluster down")) {
			t.Errorf("routes %q: %v, want %q", c.routes, err, c.want)
		}
	}
}

func TestNodeIP(t *testing.T) {
	node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "perfrun-control-plane"}, Status: corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "perfrun-control-plane"}, {Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}}}
	if ip, err := NodeIP([]corev1.Node{node}); err != nil || ip != "172.18.0.2" {
		t.Errorf("NodeIP: %q, %v", ip, err)
	}
	if _, err := NodeIP([]corev1.Node{node, node}); err == nil {
		t.Error("two nodes: want an error")
	}
	node.Status.Addresses = node.Status.Addresses[:1]
	if _, err := NodeIP([]corev1.Node{node}); err == nil || !strings.Contains(err.Error(), "no InternalIP") {
		t.Errorf("no InternalIP: %v", err)
	}
}

func TestChaosMeshWithHelm(t *testing.T) {
	f := &fake{}
	p := newFake(t, f, Options{ChaosMeshVersion: "2.7.2"})
	if err := p.installChaosMesh(context.Background(), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || !strings.HasPrefix(f.calls[1], "helm upgrade --install chaos-mesh chaos-mesh/chaos-mesh --kubeconfig "+p.o.Kubeconfig) ||
		!strings.Contains(f.calls[1], "--version 2.7.2 -f "+filepath.Join(repoRoot(t), DefaultChaosMeshValues)) {
		t.Errorf("helm calls %q", f.calls)
	}
}

// The Prometheus that Ensure installs renders, and lives in perfrun-system.
func TestPrometheusOverlay(t *testing.T) {
	objs, err := deploy.Render(filepath.Join(repoRoot(t), Prometheus))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()+"/"+o.GetName()] = true
		switch o.GetKind() {
		case "Namespace", "ClusterRole":
		case "ClusterRoleBinding":
			subjects, _ := o.Object["subjects"].([]any)
			if len(subjects) != 1 || subjects[0].(map[string]any)["namespace"] != SystemNamespace {
				t.Errorf("ClusterRoleBinding subjects %v: want the service account in %s", subjects, SystemNamespace)
			}
		default:
			if o.GetNamespace() != SystemNamespace {
				t.Errorf("%s %s in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), SystemNamespace)
			}
		}
	}
	for _, want := range []string{"Namespace/perfrun-system", "Deployment/prometheus", "Service/prometheus"} {
		if !kinds[want] {
			t.Errorf("overlay has no %s (has %v)", want, kinds)
		}
	}
}

func TestExecErrorsNameTheCommand(t *testing.T) {
	if _, err := Exec(context.Background(), "/nonexistent/kind", "get", "clusters"); err == nil ||
		!strings.HasPrefix(err.Error(), "/nonexistent/kind get clusters: ") || strings.HasSuffix(err.Error(), ": ") {
		t.Errorf("Exec: %v", err)
	}
	if _, err := Exec(context.Background(), "sh", "-c", "echo nope >&2; exit 3"); err == nil || !strings.HasSuffix(err.Error(), "exit status 3: nope") {
		t.Errorf("Exec: %v", err)
	}
}

// An image counts as held when every node has it.
func TestImagesHeldByEveryNode(t *testing.T) {
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	f := &fake{outputs: map[string]string{
		"kind get nodes --name ci":                           "ci-control-plane\nci-worker\n",
		"docker exec ci-control-plane crictl images -o json": `{"images":[{"repoTags":["docker.io/perfrun/listener:v1","docker.io/perfrun/worker:v1"]},{"repoTags":[]}]}`,
		"docker exec ci-worker crictl images -o json":        `{"images":[{"repoTags":["docker.io/perfrun/listener:v1"]}]}`,
	}}
	p := newFake(t, f, Options{Name: "ci"})
	got, err := p.Images(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "docker.io/perfrun/listener:v1" {
		t.Errorf("Images = %v, want only the listener (the worker image is on one node of two)", got)
	}
	f.fail = map[string]bool{"docker exec ci-worker": true}
	if _, err := p.Images(context.Background()); err == nil || !strings.Contains(err.Error(), "kind node ci-worker: listing images") {
		t.Errorf("a node that cannot be asked: %v", err)
	}
}

// Delete, in a process that did not create the cluster, removes the node's
// routes (only those), deletes the cluster, and writes back the kernel
// settings Ensure recorded.
func TestDeleteUndoesWhatACreatorDid(t *testing.T) {
	root := true
	f := &fake{outputs: map[string]string{
		"ip -o route show to root " + PodCIDR: PodCIDR + " via 198.18.254.2 dev br-1\n198.18.0.0/24 dev perfrun-br0 scope link\n",
		"kind get clusters":                   "perfrun\n",
	}}
	p := newFake(t, f, Options{Root: &root})
	now := local.ReadSysctls()
	was, ok := now["vm/overcommit_memory"]
	if !ok {
		t.Skip("no /proc/sys/vm/overcommit_memory on this machine: nothing to restore")
	}
	record := map[string]string{"vm/overcommit_memory": was + "7"}
	b, _ := json.Marshal(record)
	if err := os.WriteFile(p.hostRecord(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(context.Background(), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip -o route show to root " + PodCIDR,
		"ip route del " + PodCIDR + " via 198.18.254.2",
		"ip -o route show to root " + ServiceCIDR,
		"kind get clusters",
		"kind delete cluster --name perfrun",
		"sysctl -w vm.overcommit_memory=" + was + "7",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(p.hostRecord()); !os.IsNotExist(err) {
		t.Errorf("host record left: %v", err)
	}
}

// The kind config names the node image's patches directory, and every patch
// is one kubeadm applies: a known target and a type it reads, JSON patches
// that parse.
func TestControlPlanePatches(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join(repoRoot(t), DefaultConfig))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "directory: "+PatchesDir) {
		t.Errorf("%s does not name the patches directory %s", DefaultConfig, PatchesDir)
	}
	targets := map[string]bool{"etcd": true, "kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true, "kubeletconfiguration": true, "corednsdeployment": true}
	for name, body := range ControlPlanePatches() {
		target, rest, ok := strings.Cut(strings.TrimSuffix(name, ".yaml"), "+")
		if !ok || !targets[target] || (rest != "json" && rest != "strategic" && rest != "merge") {
			t.Errorf("patch %s: not target+json|strategic|merge.yaml with a kubeadm target", name)
		}
		if rest == "json" {
			var ops []map[string]any
			if err := json.Unmarshal([]byte(body), &ops); err != nil || len(ops) == 0 {
				t.Errorf("patch %s: %v (%d operations)", name, err, len(ops))
			}
		}
	}
}
