package clusters

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/deploy"
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
		{"unknown provider", Options{Provider: "minikube", Repo: repo}, `-perfrun.provider (PERFRUN_PROVIDER) "minikube": want one of local, kind, kubeconfig`},
		{"no repo", Options{Provider: Local}, "Repo is required"},
		{"kubeconfig without path", Options{Provider: Kubeconfig, Repo: repo, PrometheusURL: "http://127.0.0.1:9090"}, "-perfrun.kubeconfig (PERFRUN_KUBECONFIG) is required"},
		{"kubeconfig without prometheus", Options{Provider: Kubeconfig, Repo: repo, Kubeconfig: kc}, "-perfrun.prometheus-url (PERFRUN_PROMETHEUS_URL) is required"},
		{"kubeconfig missing file", Options{Provider: Kubeconfig, Repo: repo, Kubeconfig: kc + ".nope", PrometheusURL: "http://127.0.0.1:9090"}, "-perfrun.kubeconfig: stat"},
		{"kind config missing", Options{Provider: Kind, Repo: repo, KindConfig: "/nonexistent/kind.yaml"}, "-perfrun.kind-config"},
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
	e, err = Select(Options{Provider: Kind, Repo: repo, ImageTags: []string{"v2"}, ChaosMeshVersion: "2.7.2"})
	if err != nil {
		t.Fatal(err)
	}
	// create, images, routes, prometheus, chaos mesh.
	if e.Name != Kind || e.Provider.Name() != "kind" || len(e.Setup) != 5 || len(e.Finish) != 2 {
		t.Errorf("kind: got %s with %d setup, %d finish funcs", e.Name, len(e.Setup), len(e.Finish))
	}
	// Before setup, the kind provider says so instead of handing out nothing.
	if _, err := e.Provider.Ensure(context.Background(), &bytes.Buffer{}); err == nil {
		t.Error("kind provider before setup: Ensure gave no error")
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

func TestKindPrometheusOverlay(t *testing.T) {
	objs, err := deploy.Render(filepath.Join(repoRoot(t), KindPrometheus))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()+"/"+o.GetName()] = true
		switch o.GetKind() {
		case "Namespace", "ClusterRole":
		case "ClusterRoleBinding":
			subjects, _, _ := unstructuredSlice(o.Object, "subjects")
			if len(subjects) != 1 || subjects[0].(map[string]any)["namespace"] != KindSystemNamespace {
				t.Errorf("ClusterRoleBinding subjects %v: want the service account in %s", subjects, KindSystemNamespace)
			}
		default:
			if o.GetNamespace() != KindSystemNamespace {
				t.Errorf("%s %s in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), KindSystemNamespace)
			}
		}
	}
	for _, want := range []string{"Namespace/perfrun-system", "Deployment/prometheus", "Service/prometheus"} {
		if !kinds[want] {
			t.Errorf("overlay has no %s (has %v)", want, kinds)
		}
	}
}

func unstructuredSlice(obj map[string]any, field string) ([]any, bool, error) {
	v, ok := obj[field].([]any)
	return v, ok, nil
}

func TestLocalE2EDestroyLeavesOthersCluster(t *testing.T) {
	// A LocalE2E that did not start the cluster must not stop it: Destroy
	// returns at once without touching the (here nonexistent) cluster.
	var log bytes.Buffer
	l := &LocalE2E{Cluster: local.New(local.Options{StateDir: t.TempDir(), RunDir: t.TempDir()}), Log: &log}
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
