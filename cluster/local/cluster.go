// Package local is perfrun's embedded cluster: a real single-node Kubernetes
// on this machine with no Docker and no registry. etcd and the Kubernetes
// components are built from their Go modules (tools/), containerd, runc and
// the CNI plugins come from Debian, images are built from Go binaries
// (package images) and imported. See shared/notes/local-cluster.md for why
// each setting is what it is.
package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/internal/gotool"
)

// Options say where the cluster keeps things. The zero value gives the
// defaults.
type Options struct {
	// SourceDir is the perfrun repository (its tools/ modules and the
	// pause image's source). Default: the current folder.
	SourceDir string
	// StateDir holds the PKI, configs, etcd data, images, logs.
	// Default /var/lib/perfrun/local.
	StateDir string
	// RunDir holds PID files, sockets, network namespaces (tmpfs).
	// Default /run/perfrun/local.
	RunDir string
	// CacheDir holds the built binaries, keyed by version. Default
	// $PERFRUN_CACHE or $HOME/.cache/perfrun.
	CacheDir string
	// MetricsServer has up build and run metrics-server (the resource
	// metrics API HorizontalPodAutoscalers read). Without it up leaves
	// metrics-server out, and a run whose system has an HPA adds it
	// (EnsureMetricsServer); one already running is kept either way.
	MetricsServer bool
}

// Cluster is the local cluster on this machine.
type Cluster struct {
	srcDir, stateDir, runDir, cacheDir string

	mu sync.Mutex
	// metricsServer says up builds, imports and applies metrics-server.
	metricsServer bool
	// started says Ensure brought the cluster up (Teardown stops it then).
	started bool
}

var (
	_ cluster.Existing    = (*Cluster)(nil)
	_ cluster.ImageLister = (*Cluster)(nil)
	_ cluster.Provider    = (*Cluster)(nil)
	_ cluster.Teardowner  = (*Cluster)(nil)
	_ cluster.LogExporter = (*Cluster)(nil)
	_ cluster.MetricsAPI  = (*Cluster)(nil)
)

// New returns the local cluster with opts' folders.
func New(opts Options) *Cluster {
	c := &Cluster{srcDir: opts.SourceDir, stateDir: opts.StateDir, runDir: opts.RunDir, cacheDir: opts.CacheDir, metricsServer: opts.MetricsServer}
	if c.srcDir == "" {
		c.srcDir, _ = os.Getwd()
	}
	if c.stateDir == "" {
		c.stateDir = "/var/lib/perfrun/local"
	}
	if c.runDir == "" {
		c.runDir = "/run/perfrun/local"
	}
	if c.cacheDir == "" {
		c.cacheDir = DefaultCacheDir()
	}
	return c
}

// DefaultCacheDir is $PERFRUN_CACHE, or ~/.cache/perfrun.
func DefaultCacheDir() string { return gotool.DefaultCacheDir() }

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.stateDir}, elem...)...)
}

func (c *Cluster) containerdState() string { return filepath.Join(c.runDir, "containerd") }
func (c *Cluster) containerdSocket() string {
	return filepath.Join(c.runDir, "containerd", "containerd.sock")
}

// bin is the path of a built binary.
func (c *Cluster) bin(name string) string {
	for _, t := range append(Tools, MetricsServerTool) {
		for _, out := range t.Packages {
			if out == name {
				return filepath.Join(t.Dir(c.cacheDir), name)
			}
		}
	}
	panic("no tool builds " + name)
}

// Kubeconfig is the admin kubeconfig of the cluster: the path to give
// kubectl (KUBECONFIG) and the harness.
func (c *Cluster) Kubeconfig() string { return c.path("kubeconfig") }

// Name implements cluster.Provider.
func (c *Cluster) Name() string { return "local" }

// PauseImage implements cluster.PauseImager: containerd's sandbox image,
// imported at up.
func (c *Cluster) PauseImage() string { return PauseImage }

// Ensure implements cluster.Provider: it brings the cluster up (a no-op
// when it runs) and says how to reach it.
func (c *Cluster) Ensure(ctx context.Context, log io.Writer) (*cluster.Access, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.Status(ctx).Up() {
		// Ours before Up returns: a failed Up stops what it started
		// itself, and Teardown after it is harmless.
		c.started = true
	} else {
		fmt.Fprintln(log, "the local cluster is up already: using it")
	}
	if err := c.Up(ctx, log); err != nil {
		return nil, fmt.Errorf("local cluster up: %w", err)
	}
	return c.Access(), nil
}

// ExistingKubeconfig implements cluster.Existing: the admin kubeconfig,
// when the cluster's API server runs; it starts nothing.
func (c *Cluster) ExistingKubeconfig(ctx context.Context) (string, error) {
	if _, err := os.Stat(c.Kubeconfig()); err != nil {
		return "", fmt.Errorf("the local cluster has no kubeconfig (%w): it was never brought up (perfrun cluster up)", err)
	}
	// Only the API server is needed: what is left can be listed and
	// removed with the rest of the cluster half up.
	if _, ok := c.Status(ctx).Components["kube-apiserver"]; !ok {
		return "", errors.New("the local cluster's kube-apiserver is not running: perfrun cluster up")
	}
	return c.Kubeconfig(), nil
}

// Teardown implements cluster.Teardowner: it stops the cluster if Ensure
// started it, keeping its state; one that was up before stays up.
func (c *Cluster) Teardown(ctx context.Context, log io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		fmt.Fprintln(log, "leaving the local cluster up (it was up before)")
		return nil
	}
	c.started = false
	return c.Down(ctx, log, false)
}

// ExportLogs implements cluster.LogExporter: the components' logs go to
// dest/local-cluster.
func (c *Cluster) ExportLogs(_ context.Context, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("local cluster logs: %w", err)
	}
	if err := os.CopyFS(filepath.Join(dest, "local-cluster"), os.DirFS(c.path("logs"))); err != nil {
		return fmt.Errorf("local cluster logs: %w", err)
	}
	return nil
}

// Access is how the harness reaches this cluster.
func (c *Cluster) Access() *cluster.Access {
	return &cluster.Access{Kubeconfig: c.Kubeconfig(), PrometheusURL: PrometheusURL, PodsReachable: true}
}

// requireRoot stops early with a clear message: the cluster creates network
// interfaces, namespaces, mounts and cgroups.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("the local cluster must run as root (it creates network interfaces, network namespaces, mounts and cgroups); run perfrun cluster with sudo")
	}
	return nil
}

// components lists the cluster's processes in start order.
func (c *Cluster) components() []component {
	p := func(elem ...string) string { return c.path(append([]string{"pki"}, elem...)...) }
	kc := func(name string) string { return c.path("kubeconfigs", name+".kubeconfig") }
	tlsClient := c.clientFor("admin")
	return []component{
		{
			name: "containerd", bin: "/usr/bin/containerd",
			args:  []string{"--config", c.path("config/containerd.toml")},
			ready: func(ctx context.Context) error { return dialUnix(ctx, c.containerdSocket()) },
		},
		{
			name: "etcd", bin: c.bin("etcd"),
			args: []string{
				"--name=perfrun", "--data-dir=" + c.path("etcd"),
				"--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379",
				"--listen-peer-urls=https://127.0.0.1:2380", "--initial-advertise-peer-urls=https://127.0.0.1:2380",
				"--initial-cluster=perfrun=https://127.0.0.1:2380",
				"--listen-metrics-urls=http://127.0.0.1:2381",
				"--cert-file=" + p("etcd-server.crt"), "--key-file=" + p("etcd-server.key"),
				"--client-cert-auth", "--trusted-ca-file=" + p("etcd-ca.crt"),
				"--peer-cert-file=" + p("etcd-server.crt"), "--peer-key-file=" + p("etcd-server.key"),
				"--peer-client-cert-auth", "--peer-trusted-ca-file=" + p("etcd-ca.crt"),
				// Throwaway single-node state on a disk shared with builds:
				// fsync per write only makes the apiserver slow here.
				"--unsafe-no-fsync", "--snapshot-count=10000",
			},
			ready: httpReady(http.DefaultClient, "http://127.0.0.1:2381/health"),
		},
		{
			name: "kube-apiserver", bin: c.bin("kube-apiserver"),
			args: []string{
				"--advertise-address=" + NodeIP, "--bind-address=" + NodeIP, fmt.Sprintf("--secure-port=%d", apiserverPort),
				"--etcd-servers=https://127.0.0.1:2379",
				"--etcd-cafile=" + p("etcd-ca.crt"), "--etcd-certfile=" + p("apiserver-etcd-client.crt"), "--etcd-keyfile=" + p("apiserver-etcd-client.key"),
				"--client-ca-file=" + p("ca.crt"),
				"--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("apiserver.key"),
				"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
				"--kubelet-certificate-authority=" + p("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
				"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
				"--service-cluster-ip-range=" + ServiceCIDR,
				"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
				"--service-account-key-file=" + p("sa.pub"), "--service-account-signing-key-file=" + p("sa.key"),
				"--allow-privileged=true",
				// The aggregation layer, for metrics-server.
				"--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
				"--requestheader-allowed-names=front-proxy-client",
				"--requestheader-extra-headers-prefix=X-Remote-Extra-",
				"--requestheader-group-headers=X-Remote-Group",
				"--requestheader-username-headers=X-Remote-User",
				"--proxy-client-cert-file=" + p("front-proxy-client.crt"), "--proxy-client-key-file=" + p("front-proxy-client.key"),
				"--enable-aggregator-routing=true",
				"--profiling=false",
			},
			ready: httpReady(tlsClient, APIServerURL+"/readyz"),
		},
		{
			name: "kube-controller-manager", bin: c.bin("kube-controller-manager"),
			args: []string{
				"--kubeconfig=" + kc("controller-manager"),
				"--authentication-kubeconfig=" + kc("controller-manager"), "--authorization-kubeconfig=" + kc("controller-manager"),
				"--bind-address=127.0.0.1", "--secure-port=10257",
				"--cluster-signing-cert-file=" + p("ca.crt"), "--cluster-signing-key-file=" + p("ca.key"),
				"--root-ca-file=" + p("ca.crt"), "--service-account-private-key-file=" + p("sa.key"),
				"--use-service-account-credentials=true",
				"--allocate-node-cidrs=true", "--cluster-cidr=" + PodCIDR, "--node-cidr-mask-size=24",
				"--service-cluster-ip-range=" + ServiceCIDR,
				"--controllers=*,bootstrapsigner,tokencleaner",
				"--leader-elect=false", "--profiling=false",
			},
			ready: httpReady(insecureClient(), "https://127.0.0.1:10257/healthz"),
		},
		{
			name: "kube-scheduler", bin: c.bin("kube-scheduler"),
			args: []string{
				"--kubeconfig=" + kc("scheduler"),
				"--authentication-kubeconfig=" + kc("scheduler"), "--authorization-kubeconfig=" + kc("scheduler"),
				"--bind-address=127.0.0.1", "--secure-port=10259",
				"--leader-elect=false", "--profiling=false",
			},
			ready: httpReady(insecureClient(), "https://127.0.0.1:10259/healthz"),
		},
		{
			name: "kubelet", bin: c.bin("kubelet"),
			args: []string{
				"--config=" + c.path("config/kubelet.yaml"),
				"--kubeconfig=" + kc("kubelet"),
				"--node-ip=" + NodeIP, "--hostname-override=" + NodeName,
				"--root-dir=" + c.path("kubelet"), "--cert-dir=" + c.path("kubelet/pki"),
			},
			ready: httpReady(http.DefaultClient, "http://127.0.0.1:10248/healthz"),
		},
		{
			name: "kube-proxy", bin: c.bin("kube-proxy"),
			args:  []string{"--config=" + c.path("config/kube-proxy.yaml")},
			ready: httpReady(http.DefaultClient, "http://127.0.0.1:10249/metrics"),
		},
	}
}

// prometheus is started last: its discovery needs the API and its RBAC.
func (c *Cluster) prometheus() component {
	return component{
		name: "prometheus", bin: c.bin("prometheus"),
		args: []string{
			"--config.file=" + c.path("config/prometheus.yml"),
			"--storage.tsdb.path=" + c.path("prometheus"),
			"--storage.tsdb.retention.time=7d",
			fmt.Sprintf("--web.listen-address=%s:%d", NodeIP, prometheusPort),
			// k6 pushes its metrics here (experimental-prometheus-rw).
			"--web.enable-remote-write-receiver",
			"--web.enable-lifecycle",
			// New targets (a run's pods) are handed to the scrapers
			// every second rather than every 5 s: the deploy waits for
			// their first scrapes.
			"--scrape.discovery-reload-interval=1s",
		},
		ready: httpReady(http.DefaultClient, PrometheusURL+"/-/ready"),
	}
}

// Up brings the cluster up, or finishes bringing it up: what already runs
// is kept. On failure it reports the failing component with the tail of its
// log and stops everything it started.
func (c *Cluster) Up(ctx context.Context, log io.Writer) (err error) {
	if err := requireRoot(); err != nil {
		return err
	}
	begin := time.Now()
	if err := BuildTools(ctx, c.srcDir, c.cacheDir, log, c.extraTools()...); err != nil {
		return err
	}
	unlock, err := lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.buildInfraImages(ctx, log); err != nil {
		return err
	}
	// One local cluster per machine: they share the node address, ports,
	// bridge and cgroups. Another one (from another state folder) is left
	// alone, and nothing is cleaned up on this error.
	if _, ours := c.running("kube-apiserver", c.bin("kube-apiserver")); !ours && AnotherServes() {
		return fmt.Errorf("another local cluster already serves %s (not the one of %s): bring that one down first", APIServerURL, c.stateDir)
	}
	var startedAny bool
	defer func() {
		if err != nil && startedAny {
			fmt.Fprintln(log, "up failed; stopping what it started")
			if derr := c.down(context.WithoutCancel(ctx), io.Discard, false); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", derr))
			}
		}
	}()
	for _, d := range []string{c.stateDir, c.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.recordHost(ctx); err != nil {
		return fmt.Errorf("recording kernel settings: %w", err)
	}
	if err := c.ensurePKI(); err != nil {
		return err
	}
	if err := c.writeConfigs(); err != nil {
		return err
	}
	if err := copyFile(c.path("kubeconfigs/admin.kubeconfig"), c.Kubeconfig(), 0o600); err != nil {
		return err
	}
	startedAny = true
	if err := setupNetwork(ctx); err != nil {
		return fmt.Errorf("node network: %w", err)
	}
	for _, comp := range c.components() {
		if err := c.startAndWait(ctx, log, comp); err != nil {
			return err
		}
		if comp.name == "containerd" {
			if err := c.importInfraImages(ctx, log); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(log, "waiting for node %s to be Ready\n", NodeName)
	if err := c.waitNodeReady(ctx, 60*time.Second); err != nil {
		return c.failed("kubelet", err)
	}
	if err := c.applyAddons(ctx, log); err != nil {
		return err
	}
	if err := c.startAndWait(ctx, log, c.prometheus()); err != nil {
		return err
	}
	if err := c.waitAddons(ctx, log); err != nil {
		return err
	}
	fmt.Fprintf(log, "cluster up in %s\n  kubeconfig: %s\n  prometheus: %s\n", time.Since(begin).Round(100*time.Millisecond), c.Kubeconfig(), PrometheusURL)
	return nil
}

// extraTools are the optional tools up builds.
func (c *Cluster) extraTools() []gotool.Tool {
	if c.metricsServer {
		return []gotool.Tool{MetricsServerTool}
	}
	return nil
}

// EnsureMetricsServer implements cluster.MetricsAPI: on the running
// cluster it builds metrics-server if it is not in the cache, imports its
// image and applies it (idempotent: a no-op past the apply when it runs).
// The API becomes Available after metrics-server's first scrapes; an HPA
// created before then waits for it, as on any cluster.
func (c *Cluster) EnsureMetricsServer(ctx context.Context, log io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.metricsServer = true
	if err := BuildTools(ctx, c.srcDir, c.cacheDir, log, MetricsServerTool); err != nil {
		return err
	}
	unlock, err := lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.buildInfraImages(ctx, log); err != nil {
		return err
	}
	if err := c.importInfraImages(ctx, log); err != nil {
		return err
	}
	fmt.Fprintln(log, "applying metrics-server (the system has a HorizontalPodAutoscaler)")
	return c.apply(ctx, "addons/metrics-server")
}

func (c *Cluster) startAndWait(ctx context.Context, log io.Writer, comp component) error {
	t0 := time.Now()
	started, err := c.start(comp)
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, comp, 60*time.Second); err != nil {
		return err
	}
	if started {
		fmt.Fprintf(log, "started %s (%s)\n", comp.name, time.Since(t0).Round(10*time.Millisecond))
	} else {
		fmt.Fprintf(log, "%s already running\n", comp.name)
	}
	return nil
}

// kubectl runs the cluster's own kubectl (the version the cluster is) with
// the admin kubeconfig.
func (c *Cluster) kubectl(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := execCommand(ctx, c.bin("kubectl"), append([]string{"--kubeconfig", c.Kubeconfig()}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Kubectl runs the cluster's kubectl with the admin kubeconfig, for tests
// and tools that need one.
func (c *Cluster) Kubectl(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	return c.kubectl(ctx, stdin, args...)
}

func (c *Cluster) waitNodeReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		out, err := c.kubectl(ctx, nil, "get", "node", NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err == nil && strings.TrimSpace(out) == "True" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready after %s (last: %q %v)", NodeName, timeout, out, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Status describes what runs, and where.
type Status struct {
	Components map[string]int // name → PID, for those running
	Missing    []string       // components not running
	Kubeconfig string
	APIServer  string
	Prometheus string
	NodeReady  bool
}

// Up says whether every component runs.
func (s Status) Up() bool { return len(s.Missing) == 0 }

// Status reports the cluster's processes and whether the node is Ready.
func (c *Cluster) Status(ctx context.Context) Status {
	s := Status{Components: map[string]int{}, Kubeconfig: c.Kubeconfig(), APIServer: APIServerURL, Prometheus: PrometheusURL}
	for _, comp := range append(c.components(), c.prometheus()) {
		if pid, ok := c.running(comp.name, comp.bin); ok {
			s.Components[comp.name] = pid
		} else {
			s.Missing = append(s.Missing, comp.name)
		}
	}
	if _, ok := s.Components["kube-apiserver"]; ok {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s.NodeReady = c.waitNodeReady(ctx, 2*time.Second) == nil
	}
	return s
}

// clientFor is an HTTPS client that trusts the cluster CA and presents the
// named client certificate.
func (c *Cluster) clientFor(cert string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				pair, err := tls.LoadX509KeyPair(c.path("pki", cert+".crt"), c.path("pki", cert+".key"))
				return &pair, err
			},
			RootCAs: c.caPool(),
		}},
	}
}

func (c *Cluster) caPool() *x509.CertPool {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(c.path("pki", "ca.crt")); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return pool
}

// insecureClient is for the controller-manager and scheduler health
// endpoints only: they serve a self-signed certificate they make at start.
func insecureClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local health probe of a self-signed endpoint
	}}
}

func httpReady(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

func dialUnix(ctx context.Context, path string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	return conn.Close()
}

// AnotherServes says whether a local cluster's apiserver answers on this
// machine. The node interface must exist first: without it the node address
// is routed off the machine, where a proxy may accept any connection.
func AnotherServes() bool {
	if _, err := net.InterfaceByName(Interface); err != nil {
		return false
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(NodeIP, strconv.Itoa(apiserverPort)), 300*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
