// Package kubetest starts a real kube-apiserver with its own etcd for
// integration tests: plain processes on 127.0.0.1 (the binaries `make
// cluster-tools` builds for the local cluster, at the versions
// cluster/local pins), a CA and an admin kubeconfig of their own, and
// optionally kube-controller-manager running only the namespace controller
// (so a deleted namespace goes away, as on a cluster). Nothing else of a
// cluster: no scheduler, no kubelet, so no pod ever runs. Everything is
// stopped when the test ends. xk6-backend, its own module, keeps a copy of
// the same steps in its kube integration test (it cannot import this).
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/internal/gotool"
)

// RequireEnv makes missing binaries fail instead of skip.
const RequireEnv = "PERFRUN_REQUIRE_KUBE"

// Options say what runs beside the API server.
type Options struct {
	// NamespaceController runs kube-controller-manager's namespace
	// controller, which empties and removes deleted namespaces.
	NamespaceController bool
}

// APIServer is a running kube-apiserver.
type APIServer struct {
	// Kubeconfig is an admin kubeconfig (system:masters, client cert).
	Kubeconfig string
	// Kube is a client of it.
	Kube kubernetes.Interface
}

// Binaries are the paths of etcd, kube-apiserver and
// kube-controller-manager in the build cache ($PERFRUN_CACHE or
// ~/.cache/perfrun). The test is skipped when one is missing, unless
// RequireEnv is set.
func Binaries(t testing.TB) (etcd, apiserver, controllerManager string) {
	t.Helper()
	version := map[string]string{}
	for _, tool := range local.Tools {
		version[tool.Name] = tool.Version
	}
	cache := gotool.DefaultCacheDir()
	etcd = filepath.Join(cache, "etcd-"+version["etcd"], "etcd")
	k8s := filepath.Join(cache, "kubernetes-"+version["kubernetes"])
	apiserver, controllerManager = filepath.Join(k8s, "kube-apiserver"), filepath.Join(k8s, "kube-controller-manager")
	var missing []string
	for _, p := range []string{etcd, apiserver, controllerManager} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s missing: `make cluster-tools` builds them (cache %s)", strings.Join(missing, ", "), cache)
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return etcd, apiserver, controllerManager
}

// Start runs etcd and kube-apiserver (and what o asks for) and waits,
// bounded, until the API server is ready.
func Start(t testing.TB, o Options) *APIServer {
	t.Helper()
	etcdBin, apiserverBin, kcmBin := Binaries(t)
	dir := t.TempDir()
	pki := newPKI(t, filepath.Join(dir, "pki"))

	etcdClient, etcdPeer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	start(t, dir, "etcd", etcdBin, "--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdClient, "--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=test="+etcdPeer, "--unsafe-no-fsync", "--log-level=warn")

	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	start(t, dir, "kube-apiserver", apiserverBin,
		"--etcd-servers="+etcdClient,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--tls-cert-file="+pki.file("apiserver.crt"), "--tls-private-key-file="+pki.file("apiserver.key"),
		"--client-ca-file="+pki.file("ca.crt"), "--cert-dir="+filepath.Join(dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pki.file("sa.pub"), "--service-account-signing-key-file="+pki.file("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=RBAC",
		// No kubernetes Endpoints for 127.0.0.1 (not a valid endpoint).
		"--endpoint-reconciler-type=none",
		"--profiling=false")

	b64 := base64.StdEncoding.EncodeToString
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: admin
  user: {client-certificate-data: %s, client-key-data: %s}
contexts:
- name: test
  context: {cluster: test, user: admin, namespace: default}
current-context: test
`, "https://"+addr, b64(pki.pem["ca.crt"]), b64(pki.pem["admin.crt"]), b64(pki.pem["admin.key"]))
	a := &APIServer{Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := os.WriteFile(a.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", a.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	a.Kube = kubernetes.NewForConfigOrDie(cfg)
	a.waitReady(t)
	if o.NamespaceController {
		start(t, dir, "kube-controller-manager", kcmBin,
			"--kubeconfig="+a.Kubeconfig, "--controllers=namespace-controller",
			"--leader-elect=false", "--use-service-account-credentials=false",
			"--bind-address=127.0.0.1", "--secure-port="+portOf(freeAddr(t)),
			"--authentication-kubeconfig="+a.Kubeconfig, "--authorization-kubeconfig="+a.Kubeconfig)
	}
	return a
}

// waitReady waits, bounded, for /readyz (etcd reached, bootstrap done).
func (a *APIServer) waitReady(t testing.TB) {
	t.Helper()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var last error
	for {
		body, err := a.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			t.Logf("kube-apiserver ready %v after it started", time.Since(began).Round(time.Millisecond))
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("kube-apiserver not ready within 2m: %v", last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// start runs a program until the test ends, its output in dir/NAME.log
// (shown when the test failed). Pdeathsig: a test killed outright takes
// its processes with it.
func start(t testing.TB, dir, name, path string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s output:\n%s", name, b)
		}
		logf.Close()
	})
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// pki is a CA, the API server's serving certificate for 127.0.0.1, an
// admin client certificate (system:masters) and a service-account key, as
// PEM in memory and files in a folder.
type pki struct {
	dir string
	pem map[string][]byte
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

func newPKI(t testing.TB, dir string) *pki {
	t.Helper()
	p := &pki{dir: dir, pem: map[string][]byte{}}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	put := func(name, typ string, der []byte) {
		p.pem[name] = pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		if err := os.WriteFile(p.file(name), p.pem[name], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	putKey := func(name string, k *ecdsa.PrivateKey) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		put(name, "PRIVATE KEY", der)
	}
	serial := int64(1)
	now := time.Now()
	sign := func(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	caKey := newKey()
	ca := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "perfrun-test-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, caKey, nil, nil)
	put("ca.crt", "CERTIFICATE", ca.Raw)

	srvKey := newKey()
	srv := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, srvKey, ca, caKey)
	put("apiserver.crt", "CERTIFICATE", srv.Raw)
	putKey("apiserver.key", srvKey)

	adminKey := newKey()
	admin := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "perfrun-test-admin", Organization: []string{"system:masters"}},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, adminKey, ca, caKey)
	put("admin.crt", "CERTIFICATE", admin.Raw)
	putKey("admin.key", adminKey)

	saKey := newKey()
	putKey("sa.key", saKey)
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	put("sa.pub", "PUBLIC KEY", pub)
	return p
}
