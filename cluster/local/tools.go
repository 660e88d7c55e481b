package local

import (
	"context"
	"io"
	"time"

	"github.com/perfrun/perfrun/internal/gotool"
	"github.com/perfrun/perfrun/internal/promconf"
)

// Tools are the binaries the local cluster always runs, at the versions in
// shared/notes/local-cluster.md (metrics-server, for HPAs only, is
// MetricsServerTool). Kubernetes stays on 1.35.x: the last minor
// that supports containerd 1.x, which is what Debian bookworm ships.
var Tools = []gotool.Tool{
	{
		Name: "kubernetes", Version: "v1.35.4", Module: "k8s.io/kubernetes",
		Packages: map[string]string{
			"k8s.io/kubernetes/cmd/kube-apiserver":          "kube-apiserver",
			"k8s.io/kubernetes/cmd/kube-controller-manager": "kube-controller-manager",
			"k8s.io/kubernetes/cmd/kube-scheduler":          "kube-scheduler",
			"k8s.io/kubernetes/cmd/kubelet":                 "kubelet",
			"k8s.io/kubernetes/cmd/kube-proxy":              "kube-proxy",
			"k8s.io/kubernetes/cmd/kubectl":                 "kubectl",
			"./cmd/perfrun-cri":                             "perfrun-cri",
		},
		// The version the release build stamps: without it the API server
		// says v0.0.0-master+$Format:%H$, which clients that check the
		// server's version (knative's, so Tekton's controller and webhook)
		// cannot parse and die on.
		LDFlags: "-X k8s.io/component-base/version.gitVersion=v1.35.4 -X k8s.io/component-base/version.gitMajor=1" +
			" -X k8s.io/component-base/version.gitMinor=35 -X k8s.io/component-base/version.gitTreeState=clean" +
			" -X k8s.io/client-go/pkg/version.gitVersion=v1.35.4 -X k8s.io/client-go/pkg/version.gitMajor=1" +
			" -X k8s.io/client-go/pkg/version.gitMinor=35",
		Stamp:     "version-stamped",
		ColdBuild: 5 * time.Minute,
	},
	{
		Name: "etcd", Version: "v3.6.16", Module: "go.etcd.io/etcd/server/v3",
		Packages:  map[string]string{"go.etcd.io/etcd/server/v3": "etcd"},
		ColdBuild: 45 * time.Second,
	},
	{
		Name: "coredns", Version: "v1.15.0", Module: "github.com/coredns/coredns",
		// Our main with only the plugins of the local cluster's Corefile and of
		// kubeadm's (loop), the one kind runs (tools/coredns/cmd).
		Packages:  map[string]string{"./cmd/coredns": "coredns"},
		Stamp:     "corefile-plugins-loop",
		ColdBuild: 90 * time.Second,
	},
	{
		// Debian's prometheus has no Kubernetes service discovery. Module
		// v0.316.0 is Prometheus 3.16.0; the web UI's assets are not in the
		// module (the HTTP API is all perfrun uses).
		Name: "prometheus", Version: promconf.Version, Module: "github.com/prometheus/prometheus",
		Packages: map[string]string{"github.com/prometheus/prometheus/cmd/prometheus": "prometheus"},
		LDFlags:  "-X github.com/prometheus/common/version.Version=3.16.0",
		// Only the Kubernetes service discovery (with file and http, which
		// Prometheus always has): every scrape config perfrun writes uses
		// kubernetes_sd_configs, and the cloud providers' SDKs the other
		// discoveries pull in were most of the cold build.
		Tags:      []string{"remove_all_sd", "enable_kubernetes_sd"},
		Stamp:     "sd-kubernetes",
		ColdBuild: 3 * time.Minute,
	},
}

// MetricsServerTool is metrics-server, built and run only for a system with
// a HorizontalPodAutoscaler (Options.MetricsServer, EnsureMetricsServer):
// a first run that needs no HPA does not wait minutes for its build.
var MetricsServerTool = gotool.Tool{
	Name: "metrics-server", Version: "v0.9.0", Module: "sigs.k8s.io/metrics-server",
	Packages: map[string]string{"sigs.k8s.io/metrics-server/cmd/metrics-server": "metrics-server"},
	// Without it metrics-server reports a placeholder version.
	LDFlags:   "-X k8s.io/client-go/pkg/version.gitVersion=v0.9.0",
	ColdBuild: 2*time.Minute + 15*time.Second,
}

// BuildTools builds every tool of Tools, and the extra ones, that is
// missing from the cache.
func BuildTools(ctx context.Context, srcDir, cacheDir string, log io.Writer, extra ...gotool.Tool) error {
	for _, t := range append(append([]gotool.Tool(nil), Tools...), extra...) {
		if t.Built(cacheDir) {
			continue
		}
		if err := t.Build(ctx, srcDir, cacheDir, log); err != nil {
			return err
		}
	}
	return nil
}
