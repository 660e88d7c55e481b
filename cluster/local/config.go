package local

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/perfrun/perfrun/internal/promconf"
)

// The address plan (shared/notes/local-cluster.md): everything in the
// benchmarking block 198.18.0.0/15, so nothing collides with a private
// network the machine may sit on.
const (
	// NodeIP is the node's address, on the perfrun0 interface; the apiserver,
	// kubelet and Prometheus bind it.
	NodeIP = "198.18.255.1"
	// PodCIDR is the cluster's pod range; NodePodCIDR the node's /24 from it
	// (the first the controller-manager allocates, which the CNI config
	// matches).
	PodCIDR     = "198.18.0.0/17"
	NodePodCIDR = "198.18.0.0/24"
	// ServiceCIDR is the Service range: the kubernetes Service gets its
	// first address and kube-dns a fixed one.
	ServiceCIDR         = "198.19.0.0/16"
	KubernetesServiceIP = "198.19.0.1"
	DNSServiceIP        = "198.19.0.10"
	// NodeName is the single node's name.
	NodeName = "perfrun-local"
	// Interface is the virtual interface holding NodeIP; Bridge is the CNI
	// bridge pods attach to.
	Interface = "perfrun0"
	Bridge    = "perfrun-br0"

	apiserverPort  = 6443
	prometheusPort = 9090
)

// APIServerURL is where the apiserver listens.
var APIServerURL = fmt.Sprintf("https://%s:%d", NodeIP, apiserverPort)

// PrometheusURL is where the cluster's Prometheus listens.
var PrometheusURL = fmt.Sprintf("http://%s:%d", NodeIP, prometheusPort)

// writeConfigs writes every component's configuration. They are rewritten on
// each up (cheap, and a perfrun upgrade then takes effect).
func (c *Cluster) writeConfigs() error {
	for _, d := range []string{"config", "kubeconfigs", "cni/net.d", "logs", "run"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	for name, cert := range map[string]string{
		"admin": "admin", "controller-manager": "controller-manager", "scheduler": "scheduler",
		"kubelet": "kubelet-client", "kube-proxy": "kube-proxy", "prometheus": "prometheus",
	} {
		if err := c.writeKubeconfig(c.path("kubeconfigs", name+".kubeconfig"), cert); err != nil {
			return err
		}
	}
	files := map[string]string{
		"config/containerd.toml":        c.containerdConfig(),
		"cni/net.d/10-perfrun.conflist": cniConfig(c.runDir),
		"config/kubelet.yaml":           c.kubeletConfig(),
		"config/kube-proxy.yaml":        c.kubeProxyConfig(),
		"config/prometheus.yml":         c.prometheusConfig(),
	}
	for rel, content := range files {
		if err := writeIfChanged(c.path(rel), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
	}
	return nil
}

// writeIfChanged leaves a file that already has the content alone: kube-proxy
// exits when its configuration file is written, even with the same bytes.
func writeIfChanged(path string, content []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return nil
	}
	return os.WriteFile(path, content, mode)
}

// writeKubeconfig writes a kubeconfig with the certificates embedded, so the
// file alone is enough (it can be copied off the machine's state folder).
func (c *Cluster) writeKubeconfig(path, cert string) error {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(c.path("pki", name))
		if err != nil {
			return "", fmt.Errorf("reading %s for %s: %w", name, path, err)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read(cert + ".crt")
	if err != nil {
		return err
	}
	key, err := read(cert + ".key")
	if err != nil {
		return err
	}
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: perfrun-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: perfrun-local
  context:
    cluster: perfrun-local
    user: %s
current-context: perfrun-local
`, APIServerURL, ca, cert, crt, key, cert)
	return writeIfChanged(path, []byte(content), 0o600)
}

// containerdConfig is a private containerd (own root, state and socket, so
// it never meets a containerd the machine may run) set up as the notes say.
func (c *Cluster) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
# This VM's root lacks CAP_SYS_RESOURCE: no negative oom_score_adj anywhere.
oom_score = 0

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # HARD BLOCKER without it: runc cannot lower oom_score_adj here, and every
  # sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under our state folder, so down can find them all.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
    max_conf_num = 1

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, c.path("containerd"), c.containerdState(), c.containerdSocket(), PauseImage,
		c.path("cni/net.d"), c.path("containerd-opt"))
}

// cniConfig is a bridge with host-local addresses from the node's pod range
// (kept under the run folder, so down can drop every allocation at once) and
// portmap for hostPorts.
func cniConfig(runDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "perfrun",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, Bridge, NodePodCIDR, filepath.Join(runDir, "cni-ipam"))
}

func (c *Cluster) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
tlsCertFile: %q
tlsPrivateKeyFile: %q
containerRuntimeEndpoint: unix://%s
# This machine: cgroup v1 (1.35 refuses it unless told), swap allowed, and
# no CAP_SYS_RESOURCE (no negative oom_score_adj).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
staticPodPath: ""
podLogsDir: %q
# The disk is shared with other work: evict only when it is really full, and
# never garbage-collect the images we imported (they cannot be pulled back).
evictionHard: {memory.available: "200Mi", nodefs.available: "2%%", imagefs.available: "2%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
shutdownGracePeriod: 0s
`, NodeIP, c.path("pki/ca.crt"), c.path("pki/kubelet-server.crt"), c.path("pki/kubelet-server.key"),
		c.containerdSocket(), DNSServiceIP, c.path("pod-logs"))
}

func (c *Cluster) kubeProxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %q
mode: nftables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["%s/32"]
oomScoreAdj: 0
# Zero leaves the kernel's conntrack settings as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.path("kubeconfigs/kube-proxy.kubeconfig"), PodCIDR, NodeName, NodeIP, NodeIP)
}

// prometheusConfig scrapes every pod that asks to be scraped through the
// usual prometheus.io/* annotations, found through the cluster's API with
// Prometheus's own client certificate (RBAC in the addons); the pods of a
// run's namespace every promconf.RunScrapeInterval.
func (c *Cluster) prometheusConfig() string {
	return fmt.Sprintf(promconf.Global+`scrape_configs:
- job_name: kubernetes-pods
  kubernetes_sd_configs:
  - role: pod
    kubeconfig_file: %q
    attach_metadata: {namespace: true}
  relabel_configs:
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    action: keep
    regex: "true"
`+promconf.RunRelabel+`  - source_labels: [__meta_kubernetes_pod_phase]
    action: drop
    regex: Pending|Succeeded|Failed
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
    action: replace
    target_label: __metrics_path__
    regex: (.+)
  - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
    action: replace
    regex: ([^:]+)(?::\d+)?;(\d+)
    replacement: $1:$2
    target_label: __address__
  - action: labelmap
    regex: __meta_kubernetes_pod_label_(.+)
  - source_labels: [__meta_kubernetes_namespace]
    target_label: namespace
  - source_labels: [__meta_kubernetes_pod_name]
    target_label: pod
  - source_labels: [__meta_kubernetes_pod_container_name]
    target_label: container
- job_name: service-endpoints
  # Each endpoint of a Service annotated perfrun.dev/endpoints: "true", as
  # its EndpointSlice says, with the slice's ready/serving/terminating
  # conditions as labels: count by (ready) (up{job="service-endpoints"})
  # is the Service's endpoints over time (a pod leaving on readiness and
  # coming back). Only up is kept: the pods' own samples come from
  # kubernetes-pods.
  kubernetes_sd_configs:
  - role: endpointslice
    kubeconfig_file: %q
  relabel_configs:
  - source_labels: [__meta_kubernetes_service_annotation_perfrun_dev_endpoints]
    action: keep
    regex: "true"
  - source_labels: [__meta_kubernetes_endpointslice_port_name]
    action: keep
    regex: .+
  - source_labels: [__meta_kubernetes_namespace]
    target_label: namespace
  - source_labels: [__meta_kubernetes_service_name]
    target_label: service
  - source_labels: [__meta_kubernetes_endpointslice_address_target_name]
    target_label: pod
  - source_labels: [__meta_kubernetes_endpointslice_endpoint_conditions_ready]
    target_label: ready
  - source_labels: [__meta_kubernetes_endpointslice_endpoint_conditions_serving]
    target_label: serving
  - source_labels: [__meta_kubernetes_endpointslice_endpoint_conditions_terminating]
    target_label: terminating
  metric_relabel_configs:
  - source_labels: [__name__]
    action: drop
    regex: .+
`, c.path("kubeconfigs/prometheus.kubeconfig"), c.path("kubeconfigs/prometheus.kubeconfig"))
}
