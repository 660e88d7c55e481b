package kubeconfig

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Provider{Path: path, PrometheusURL: "http://127.0.0.1:9090"}
	a, err := p.Ensure(t.Context(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a.Kubeconfig != path || a.PrometheusURL != "http://127.0.0.1:9090" {
		t.Errorf("access %+v", a)
	}
	if _, err := (&Provider{Path: path + ".missing"}).Ensure(t.Context(), io.Discard); err == nil {
		t.Error("a missing kubeconfig must be an error")
	}
	if err := p.LoadImages(t.Context(), []string{"x.tar"}); !errors.Is(err, ErrNoImageLoading) {
		t.Errorf("LoadImages: %v", err)
	}
}
