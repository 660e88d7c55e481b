package gotool

import (
	"testing"
	"time"
)

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

func TestProgress(t *testing.T) {
	for _, c := range []struct {
		elapsed, estimate time.Duration
		want              string
	}{
		{80 * time.Second, 5 * time.Minute, "1m20s of about 5m0s"},
		{370 * time.Second, 5 * time.Minute, "6m10s, past the usual 5m0s"},
		{20 * time.Second, 0, "20s"},
	} {
		if got := progress(c.elapsed, c.estimate); got != c.want {
			t.Errorf("progress(%s, %s) = %q, want %q", c.elapsed, c.estimate, got, c.want)
		}
	}
}
