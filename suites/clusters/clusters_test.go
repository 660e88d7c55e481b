package clusters

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/cluster/kind"
	"github.com/perfrun/perfrun/cluster/local"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestSelectBadInput(t *testing.T) {
	repo := repoRoot(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"unknown provider", Options{Provider: "minikube", Repo: repo}, `-perfrun.provider (PERFRUN_PROVIDER): "minikube" is not a provider; want one of local, kind, kubeconfig`},
		{"no repo", Options{Provider: Local}, "Repo is required"},
		{"kubeconfig without path", Options{Provider: Kubeconfig, Repo: repo, PrometheusURL: "http://127.0.0.1:9090"}, "-perfrun.kubeconfig (PERFRUN_KUBECONFIG): required by provider kubeconfig"},
		{"kubeconfig without prometheus", Options{Provider: Kubeconfig, Repo: repo, Kubeconfig: kc}, "-perfrun.prometheus-url (PERFRUN_PROMETHEUS_URL): required by provider kubeconfig"},
		{"kubeconfig missing file", Options{Provider: Kubeconfig, Repo: repo, Kubeconfig: kc + ".nope", PrometheusURL: "http://127.0.0.1:9090"}, "-perfrun.kubeconfig (PERFRUN_KUBECONFIG): stat"},
		{"kind config missing", Options{Provider: Kind, Repo: repo, KindConfig: "/nonexistent/kind.yaml"}, "-perfrun.kind-config (PERFRUN_KIND_CONFIG): kind config: stat /nonexistent/kind.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Select(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Select: error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSelectProviders(t *testing.T) {
	repo := repoRoot(t)
	e, err := Select(Options{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != Local || e.Provider.Name() != "local" || len(e.Setup) != 1 || len(e.Finish) != 1 {
		t.Errorf("default: got %s/%s with %d setup, %d finish funcs", e.Name, e.Provider.Name(), len(e.Setup), len(e.Finish))
	}
	e, err = Select(Options{Repo: repo, ImageTags: []string{"v1", "v2"}})
	if err != nil || len(e.Setup) != 2 {
		t.Errorf("local with images: %v, setup funcs %d, want 2 (create, load)", err, len(e.Setup))
	}
	e, err = Select(Options{Provider: Kind, Repo: repo, KindName: "nightly", ImageTags: []string{"v2"}, ChaosMeshVersion: "2.7.2"})
	if err != nil {
		t.Fatal(err)
	}
	// create (with routes, Prometheus and Chaos Mesh: the provider's
	// Ensure), then images; teardown is one func.
	kp, ok := e.Provider.(*kind.Provider)
	if e.Name != Kind || !ok || kp.ClusterName() != "nightly" || e.key != "nightly" || len(e.Setup) != 2 || len(e.Finish) != 1 {
		t.Errorf("kind: got %s (%T) with %d setup, %d finish funcs", e.Name, e.Provider, len(e.Setup), len(e.Finish))
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	e, err = Select(Options{Provider: Kubeconfig, Repo: repo, Kubeconfig: kc, PrometheusURL: "http://127.0.0.1:9090", PodsReachable: true})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := e.Provider.Ensure(context.Background(), &bytes.Buffer{})
	if err != nil || acc.Kubeconfig != kc || acc.PrometheusURL != "http://127.0.0.1:9090" || !acc.PodsReachable {
		t.Errorf("kubeconfig access: %+v, %v", acc, err)
	}
	if len(e.Setup) != 0 || len(e.Finish) != 0 {
		t.Error("kubeconfig: an existing cluster needs no setup or teardown")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("PERFRUN_PROVIDER", "kind")
	t.Setenv("PERFRUN_KIND_NAME", "nightly")
	t.Setenv("PERFRUN_PODS_REACHABLE", "true")
	t.Setenv("PERFRUN_PROMETHEUS_URL", "http://127.0.0.1:9090")
	o := Options{KindName: "from-flag"}
	FromEnv(&o)
	if o.Provider != "kind" || o.KindName != "from-flag" || !o.PodsReachable || o.PrometheusURL != "http://127.0.0.1:9090" {
		t.Errorf("FromEnv: %+v (flags win over the environment)", o)
	}
}

func TestE2EDestroyLeavesOthersCluster(t *testing.T) {
	// A local cluster that Create did not start must not be stopped:
	// Destroy returns at once without touching the (here nonexistent)
	// cluster.
	var log bytes.Buffer
	l := &E2E{Provider: local.New(local.Options{StateDir: t.TempDir(), RunDir: t.TempDir()}), Log: &log}
	if err := l.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "leaving the local cluster up") {
		t.Errorf("log %q", log.String())
	}
	if err := l.LoadImage(context.Background(), "perfrun/listener:v2"); err == nil {
		t.Error("LoadImage: want an error pointing at LoadImageArchive")
	}
	if _, err := l.CreateWithConfig(context.Background(), "kind.yaml"); err == nil {
		t.Error("CreateWithConfig with a file: want an error")
	}
}

// fakeProvider records what the E2E glue asks of it.
type fakeProvider struct {
	kubeconfig        string
	loaded            []string
	tornDown, started bool
}

func (f *fakeProvider) Name() string { return "fake" }
func (f *fakeProvider) Ensure(context.Context, io.Writer) (*cluster.Access, error) {
	f.started = true
	return &cluster.Access{Kubeconfig: f.kubeconfig}, nil
}
func (f *fakeProvider) LoadImages(_ context.Context, t []string) error {
	f.loaded = append(f.loaded, t...)
	return nil
}
func (f *fakeProvider) Teardown(context.Context, io.Writer) error { f.tornDown = true; return nil }

func TestE2EGoesThroughTheProvider(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u}]\ncontexts: [{name: ctx, context: {cluster: c, user: u}}]\ncurrent-context: ctx\n"), 0o600)
	f := &fakeProvider{kubeconfig: kc}
	e := &E2E{Provider: f}
	e.SetDefaults()
	if got, err := e.Create(context.Background()); err != nil || got != kc || !f.started || e.GetKubectlContext() != "ctx" || e.KubernetesRestConfig() == nil {
		t.Fatalf("Create: %q, %v", got, err)
	}
	if err := e.LoadImageArchive(context.Background(), "a.tar"); err != nil || len(f.loaded) != 1 || f.loaded[0] != "a.tar" {
		t.Errorf("LoadImageArchive: %v, loaded %v", err, f.loaded)
	}
	if err := e.ExportLogs(context.Background(), t.TempDir()); err == nil {
		t.Error("ExportLogs of a provider with no logs: want an error")
	}
	if err := e.Destroy(context.Background()); err != nil || !f.tornDown {
		t.Errorf("Destroy: %v, torn down %v", err, f.tornDown)
	}
}
