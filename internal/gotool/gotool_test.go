package gotool

import "testing"

func TestGoOutputName(t *testing.T) {
	for pkg, want := range map[string]string{
		"go.etcd.io/etcd/server/v3":         "server",
		"github.com/coredns/coredns":        "coredns",
		"k8s.io/kubernetes/cmd/kubelet":     "kubelet",
		"./cmd/perfrun-cri":                 "perfrun-cri",
		"example.com/v2tool":                "v2tool",
		"sigs.k8s.io/metrics-server/cmd/ms": "ms",
	} {
		if got := goOutputName(pkg); got != want {
			t.Errorf("goOutputName(%q) = %q, want %q", pkg, got, want)
		}
	}
}
