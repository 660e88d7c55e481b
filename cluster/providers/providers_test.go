package providers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/cluster/kind"
	"github.com/perfrun/perfrun/cluster/kubeconfig"
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

func TestNew(t *testing.T) {
	repo := repoRoot(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", Local} {
		p, err := New(name, Options{Repo: repo})
		if _, ok := p.(*local.Cluster); err != nil || !ok {
			t.Errorf("New(%q): %T, %v; want the local cluster", name, p, err)
		}
	}
	p, err := New(Kind, Options{Repo: repo, Kind: kind.Options{Name: "nightly"}})
	if kp, ok := p.(*kind.Provider); err != nil || !ok || kp.ClusterName() != "nightly" {
		t.Errorf("New(kind): %T, %v", p, err)
	}
	p, err = New(Kubeconfig, Options{Repo: repo, Kubeconfig: kc, PrometheusURL: "http://127.0.0.1:9090", PodsReachable: true})
	if kp, ok := p.(*kubeconfig.Provider); err != nil || !ok || kp.Path != kc || !kp.PodsReachable {
		t.Errorf("New(kubeconfig): %+v, %v", p, err)
	}
}

func TestNewBadInput(t *testing.T) {
	repo := repoRoot(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	for _, tc := range []struct {
		name, provider string
		o              Options
		option, want   string
	}{
		{"unknown", "minikube", Options{Repo: repo}, "provider", `"minikube" is not a provider; want one of local, kind, kubeconfig`},
		{"kubeconfig without path", Kubeconfig, Options{Repo: repo, PrometheusURL: "http://127.0.0.1:9090"}, "kubeconfig", "required by provider kubeconfig"},
		{"kubeconfig without prometheus", Kubeconfig, Options{Repo: repo, Kubeconfig: kc}, "prometheus-url", "required by provider kubeconfig"},
		{"kubeconfig missing file", Kubeconfig, Options{Repo: repo, Kubeconfig: kc + ".nope", PrometheusURL: "http://x"}, "kubeconfig", "no such file"},
		{"kind config missing", Kind, Options{Repo: repo, Kind: kind.Options{Config: "/nonexistent/kind.yaml"}}, "kind-config", "/nonexistent/kind.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.provider, tc.o)
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tc.option || !strings.Contains(oe.Err.Error(), tc.want) {
				t.Fatalf("New: %v, want an OptionError on %s containing %q", err, tc.option, tc.want)
			}
		})
	}
	if _, err := New(Local, Options{}); err == nil || !strings.Contains(err.Error(), "Repo is required") {
		t.Errorf("no repo: %v", err)
	}
}
