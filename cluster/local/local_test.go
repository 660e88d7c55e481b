package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The versions the code builds and caches under must be the ones the tools
// modules pin, or the cache key would lie.
func TestToolVersionsMatchToolsModules(t *testing.T) {
	for _, tool := range append(Tools, MetricsServerTool) {
		b, err := os.ReadFile(filepath.Join("..", "..", "tools", tool.Name, "go.mod"))
		if err != nil {
			t.Fatalf("%s: %v", tool.Name, err)
		}
		re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(tool.Module) + `\s+(\S+)`)
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("tools/%s/go.mod does not require %s", tool.Name, tool.Module)
		}
		if got := string(m[1]); got != tool.Version {
			t.Errorf("tools/%s/go.mod pins %s %s, Tools says %s", tool.Name, tool.Module, got, tool.Version)
		}
	}
}

func TestOurChainsOnly(t *testing.T) {
	for name, want := range map[string]bool{"KUBE-SERVICES": true, "CNI-HOSTPORT-DNAT": true, "DOCKER": false, "INPUT": false, "kube-x": false} {
		if OurChain(name) != want {
			t.Errorf("OurChain(%q) = %v", name, !want)
		}
	}
	if !refersToOurs(strings.Fields("-A POSTROUTING -m comment --comment x -j CNI-abc")) {
		t.Error("a jump to CNI-abc is ours")
	}
	if refersToOurs(strings.Fields("-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE")) {
		t.Error("MASQUERADE is not ours")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/var/lib/a\040b`); got != "/var/lib/a b" {
		t.Errorf("got %q", got)
	}
}

// The generated configs must be what their readers accept: the CNI config
// is JSON whose subnet is the node's pod range, and every config names the
// node's address plan.
func TestConfigs(t *testing.T) {
	c := New(Options{StateDir: "/s", RunDir: "/r", CacheDir: "/c"})
	var cni struct {
		Plugins []struct {
			Type string
			IPAM struct {
				Ranges  [][]struct{ Subnet string }
				DataDir string `json:"dataDir"`
			}
		}
	}
	if err := json.Unmarshal([]byte(cniConfig("/r")), &cni); err != nil {
		t.Fatalf("CNI config is not JSON: %v", err)
	}
	if got := cni.Plugins[0].IPAM.Ranges[0][0].Subnet; got != NodePodCIDR {
		t.Errorf("CNI subnet %s, want %s", got, NodePodCIDR)
	}
	if !strings.HasPrefix(cni.Plugins[0].IPAM.DataDir, "/r/") {
		t.Errorf("IPAM state %s outside the run folder: down would leave it", cni.Plugins[0].IPAM.DataDir)
	}
	for name, cfg := range map[string]string{"containerd": c.containerdConfig(), "kubelet": c.kubeletConfig(), "kube-proxy": c.kubeProxyConfig()} {
		if strings.Contains(cfg, "%!") {
			t.Errorf("%s config has a formatting error:\n%s", name, cfg)
		}
	}
	for _, must := range []string{"restrict_oom_score_adj = true", "SystemdCgroup = false", `sandbox_image = "` + PauseImage + `"`} {
		if !strings.Contains(c.containerdConfig(), must) {
			t.Errorf("containerd config lacks %s", must)
		}
	}
	for _, must := range []string{"oomScoreAdj: 0", "failCgroupV1: false", "cgroupDriver: cgroupfs", "clusterDNS: [" + DNSServiceIP + "]"} {
		if !strings.Contains(c.kubeletConfig(), must) {
			t.Errorf("kubelet config lacks %s", must)
		}
	}
	if !strings.Contains(c.kubeProxyConfig(), "oomScoreAdj: 0") {
		t.Error("kube-proxy config lacks oomScoreAdj: 0")
	}
}

// No component may bind a wildcard address: every listen flag names
// loopback or the node IP.
func TestComponentsBindNoWildcard(t *testing.T) {
	c := New(Options{StateDir: "/s", RunDir: "/r", CacheDir: "/c"})
	re := regexp.MustCompile(`^--(?:bind-address|advertise-address|listen-[a-z-]+|web\.listen-address)=(.*)$`)
	for _, comp := range append(c.components(), c.prometheus()) {
		for _, a := range comp.args {
			m := re.FindStringSubmatch(a)
			if m == nil {
				continue
			}
			if !strings.Contains(m[1], "127.0.0.1") && !strings.Contains(m[1], NodeIP) {
				t.Errorf("%s: %s binds beyond loopback and the node IP", comp.name, a)
			}
		}
	}
}

// The host Prometheus scrapes what kind's (fixtures/prometheus) scrapes, with
// the same labels: assertions and dashboards read both alike.
func TestPrometheusJobsMatchTheKindFixture(t *testing.T) {
	jobs := func(src []byte) []any {
		var cfg map[string]any
		if err := yaml.Unmarshal(src, &cfg); err != nil {
			t.Fatal(err)
		}
		scs, _ := cfg["scrape_configs"].([]any)
		for _, sc := range scs {
			for _, sd := range sc.(map[string]any)["kubernetes_sd_configs"].([]any) {
				delete(sd.(map[string]any), "kubeconfig_file") // the host's own access
			}
		}
		return scs
	}
	fixture, err := os.ReadFile("../../fixtures/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	host, kind := jobs([]byte((&Cluster{}).prometheusConfig())), jobs(fixture)
	if len(host) < 2 {
		t.Fatalf("host Prometheus has %d jobs, want kubernetes-pods and service-endpoints", len(host))
	}
	if !reflect.DeepEqual(host, kind) {
		h, _ := yaml.Marshal(host)
		k, _ := yaml.Marshal(kind)
		t.Errorf("scrape jobs differ:\nhost:\n%s\nfixtures/prometheus:\n%s", h, k)
	}
}

// The Prometheus binary is built with only the Kubernetes service discovery
// (Tools: remove_all_sd, enable_kubernetes_sd): a scrape config needing
// another one would fail to load when the cluster comes up.
func TestPrometheusConfigNeedsOnlyTheBuiltDiscoveries(t *testing.T) {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte((&Cluster{}).prometheusConfig()), &cfg); err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{"kubernetes_sd_configs": true, "file_sd_configs": true, "http_sd_configs": true}
	scs, _ := cfg["scrape_configs"].([]any)
	if len(scs) == 0 {
		t.Fatal("no scrape configs")
	}
	for _, sc := range scs {
		for k := range sc.(map[string]any) {
			if strings.HasSuffix(k, "_sd_configs") && !built[k] {
				t.Errorf("scrape job %v uses %s, which the Prometheus build leaves out", sc.(map[string]any)["job_name"], k)
			}
		}
	}
}

// Every binary the cluster runs, metrics-server (optional) among them, has
// a tool that builds it.
func TestEveryBinaryHasATool(t *testing.T) {
	c := New(Options{StateDir: "/s", RunDir: "/r", CacheDir: "/c", MetricsServer: true})
	for _, name := range []string{"kube-apiserver", "etcd", "coredns", "prometheus", "metrics-server"} {
		if got := c.bin(name); !strings.HasPrefix(got, "/c/") {
			t.Errorf("bin(%s) = %s", name, got)
		}
	}
	if n := len(c.infraImages()); n != 3 {
		t.Errorf("with MetricsServer: %d infra images, want pause, CoreDNS and metrics-server", n)
	}
}
