package backend_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The Kubernetes integration test runs fixtures/load/taskruns.js with the
// k6 built from this module against a real kube-apiserver and etcd (the
// binaries `make cluster-tools` builds for the local cluster, started here
// as plain processes on 127.0.0.1, nothing else of a cluster) with Tekton's
// own TaskRun CRD installed, and checks that what k6 counts is what the API
// server holds.

// requireKubeEnv makes missing binaries fail instead of skip (make test-k6
// sets it, after building them).
const requireKubeEnv = "PERFRUN_REQUIRE_KUBE"

func TestTaskRunsScriptCreatesWhatTheAPIServerHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds k6 and runs a real kube-apiserver and etcd; run without -short for the default path")
	}
	etcdBin, apiserverBin := kubeBinaries(t)
	api := startAPIServer(t, etcdBin, apiserverBin)
	k6 := k6Binary(t) // built while the API server starts
	api.waitReady(t)
	const ns = "perfrun-k6"
	api.mustCreate(t, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})

	// setup()'s dry run ends the run with the server's answer.
	t.Run("without the CRD, setup fails", func(t *testing.T) {
		out, err := runK6(t, k6, "../fixtures/load/taskruns.js", "", map[string]string{
			"KUBECONFIG": api.kubeconfig, "NAMESPACE": ns, "TESTID": "no-crd", "RATE": "1", "DURATION": "1s"})
		if err == nil || !strings.Contains(out, "apiVersion tekton.dev/v1 is not served by the API server") {
			t.Fatalf("k6 run: %v; want setup to fail naming the missing apiVersion:\n%s", err, out)
		}
	})

	api.installTaskRunCRD(t)

	t.Run("in a namespace that does not exist, setup fails", func(t *testing.T) {
		out, err := runK6(t, k6, "../fixtures/load/taskruns.js", "", map[string]string{
			"KUBECONFIG": api.kubeconfig, "NAMESPACE": "no-such-ns", "TESTID": "no-ns", "RATE": "1", "DURATION": "1s"})
		// k6 logs the error quoted: namespaces \"no-such-ns\" not found.
		if err == nil || !regexp.MustCompile(`namespaces \\?"no-such-ns\\?" not found`).MatchString(out) {
			t.Fatalf("k6 run: %v; want setup to fail with the server's not found:\n%s", err, out)
		}
	})

	t.Run("created objects are in the API server", func(t *testing.T) {
		const rate, seconds, testID = 20, 3, "load-1"
		summary := filepath.Join(t.TempDir(), "summary.json")
		began := time.Now()
		out, err := runK6(t, k6, "../fixtures/load/taskruns.js", summary, map[string]string{
			"KUBECONFIG": api.kubeconfig, "NAMESPACE": ns, "TESTID": testID,
			"RATE": strconv.Itoa(rate), "DURATION": strconv.Itoa(seconds) + "s", "STEPS": "2"})
		if err != nil {
			t.Fatalf("k6 run (thresholds included): %v\n%s", err, out)
		}
		t.Logf("k6 run of %d/s for %ds took %v", rate, seconds, time.Since(began).Round(time.Millisecond))
		k6 := readSummary(t, summary)
		created, rejected, failed := k6["backend_kube_objects_created"], k6["backend_kube_objects_rejected"], k6["backend_kube_objects_failed"]
		iterations, dropped := k6["iterations"], k6["dropped_iterations"]
		// k6 starts rate×duration arrivals, or one more (one at 0s and one
		// at the end).
		offered := iterations + dropped
		if rejected != 0 || failed != 0 || created != iterations || offered < rate*seconds || offered > rate*seconds+1 || created < rate*seconds*0.9 {
			t.Fatalf("k6 counted created=%v rejected=%v failed=%v iterations=%v dropped=%v; want about %d arrivals, at least 90%% created, nothing rejected or failed",
				created, rejected, failed, iterations, dropped, rate*seconds)
		}
		items := api.taskRuns(t, ns, "perfrun.dev/testid="+testID)
		if float64(len(items)) != created {
			t.Fatalf("the API server holds %d TaskRuns labelled %s; k6 counted %v created", len(items), testID, created)
		}
		// setup()'s dry run stored nothing: these are all the namespace has.
		if all := api.taskRuns(t, ns, ""); len(all) != len(items) {
			t.Errorf("the namespace holds %d TaskRuns, %d of them the run's", len(all), len(items))
		}
		for _, tr := range items {
			if !strings.HasPrefix(tr.Metadata.Name, "perfrun-tr-") || tr.Metadata.Labels["app.kubernetes.io/part-of"] != "perfrun" {
				t.Fatalf("TaskRun %s: name or labels not the script's: %v", tr.Metadata.Name, tr.Metadata.Labels)
			}
			if len(tr.Spec.TaskSpec.Steps) != 2 {
				t.Fatalf("TaskRun %s has %d steps, want 2 (STEPS)", tr.Metadata.Name, len(tr.Spec.TaskSpec.Steps))
			}
			for _, s := range tr.Spec.TaskSpec.Steps {
				if s.Script == "" || s.Image == "" {
					t.Fatalf("TaskRun %s: step %q without script or image", tr.Metadata.Name, s.Name)
				}
			}
		}
	})

	t.Run("an invalid object is rejected, counted and not stored", func(t *testing.T) {
		const iterations, testID = 5, "invalid-1"
		summary := filepath.Join(t.TempDir(), "summary.json")
		out, err := runK6(t, k6, "testdata/kube-invalid.js", summary, map[string]string{
			"KUBECONFIG": api.kubeconfig, "NAMESPACE": ns, "TESTID": testID, "ITERATIONS": strconv.Itoa(iterations)})
		if err != nil {
			t.Fatalf("k6 run (thresholds and checks included): %v\n%s", err, out)
		}
		k6 := readSummary(t, summary)
		if got := k6["backend_kube_objects_rejected{kind:TaskRun,reason:Invalid}"]; got != iterations {
			t.Errorf("k6 counted %v TaskRuns rejected as Invalid, want %d", got, iterations)
		}
		if got := k6["backend_kube_objects_created"]; got != iterations {
			t.Errorf("k6 counted %v TaskRuns created, want %d", got, iterations)
		}
		if items := api.taskRuns(t, ns, "perfrun.dev/testid="+testID); len(items) != iterations {
			t.Errorf("the API server holds %d TaskRuns labelled %s, want the %d valid ones", len(items), testID, iterations)
		}
	})
}

// kubeBinaries finds etcd and kube-apiserver where `make cluster-tools`
// builds them: $PERFRUN_CACHE (or ~/.cache/perfrun)/NAME-VERSION/, the
// versions read from cluster/local/tools.go, which pins them.
func kubeBinaries(t *testing.T) (etcd, apiserver string) {
	t.Helper()
	src, err := os.ReadFile("../cluster/local/tools.go")
	if err != nil {
		t.Fatalf("reading the pinned versions: %v", err)
	}
	version := func(name string) string {
		m := regexp.MustCompile(`Name: "` + name + `", Version: "(v[^"]+)"`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("cluster/local/tools.go pins no version of %s", name)
		}
		return string(m[1])
	}
	cache := os.Getenv("PERFRUN_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no cache folder: %v (set PERFRUN_CACHE)", err)
		}
		cache = filepath.Join(d, "perfrun")
	}
	etcd = filepath.Join(cache, "etcd-"+version("etcd"), "etcd")
	apiserver = filepath.Join(cache, "kubernetes-"+version("kubernetes"), "kube-apiserver")
	var missing []string
	for _, p := range []string{etcd, apiserver} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s missing: `make cluster-tools` builds them (PERFRUN_CACHE=%s)", strings.Join(missing, " and "), cache)
		if os.Getenv(requireKubeEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; make test-k6 builds them and runs this test")
	}
	return etcd, apiserver
}

// testAPIServer is a kube-apiserver on 127.0.0.1 with its own etcd, CA and
// an admin kubeconfig (system:masters, by client certificate).
type testAPIServer struct {
	base       string
	kubeconfig string
	hc         *http.Client
	started    time.Time
}

func startAPIServer(t *testing.T, etcdBin, apiserverBin string) *testAPIServer {
	t.Helper()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)

	etcdClient, etcdPeer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	start(t, "etcd", etcdBin, "--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdClient, "--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=test="+etcdPeer, "--unsafe-no-fsync", "--log-level=warn")

	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	start(t, "kube-apiserver", apiserverBin,
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

	base := "https://" + addr
	cert, err := tls.X509KeyPair(pki.pem["admin.crt"], pki.pem["admin.key"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.pem["ca.crt"])
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(hc.CloseIdleConnections)

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
`, base, b64(pki.pem["ca.crt"]), b64(pki.pem["admin.crt"]), b64(pki.pem["admin.key"]))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testAPIServer{base: base, kubeconfig: kubeconfig, hc: hc, started: time.Now()}
}

// waitReady waits, bounded, for /readyz (etcd reached, bootstrap done).
func (a *testAPIServer) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for {
		code, body, err := a.do("GET", "/readyz", nil)
		if err == nil && code == 200 {
			t.Logf("kube-apiserver ready %v after it started", time.Since(a.started).Round(time.Millisecond))
			return
		}
		last = fmt.Sprintf("%d %v %s", code, err, body)
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready within 2m: %s", last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (a *testAPIServer) do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
}

func (a *testAPIServer) mustCreate(t *testing.T, path string, obj any) {
	t.Helper()
	code, body, err := a.do("POST", path, obj)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST %s: %d %v %s", path, code, err, body)
	}
}

// installTaskRunCRD installs Tekton's own taskruns.tekton.dev CRD (the
// pinned github.com/tektoncd/pipeline of tools/tekton, from the module
// cache) without its conversion webhook, which nothing serves here, and
// waits until tekton.dev/v1 is discovered.
func (a *testAPIServer) installTaskRunCRD(t *testing.T) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/tektoncd/pipeline")
	cmd.Dir = "../tools/tekton"
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &mod)
	}
	if err != nil || mod.Dir == "" {
		t.Fatalf("finding github.com/tektoncd/pipeline (tools/tekton): %v %s %s", err, mod.Error, out)
	}
	y, err := os.ReadFile(filepath.Join(mod.Dir, "config", "300-crds", "300-taskrun.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("300-taskrun.yaml: %v", err)
	}
	var crd map[string]any
	if err := json.Unmarshal(j, &crd); err != nil {
		t.Fatal(err)
	}
	spec, _ := crd["spec"].(map[string]any)
	if spec == nil || spec["conversion"] == nil {
		t.Fatalf("300-taskrun.yaml: no spec.conversion to strip (has the CRD changed?)")
	}
	spec["conversion"] = map[string]any{"strategy": "None"}
	a.mustCreate(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)

	deadline := time.Now().Add(time.Minute)
	for {
		code, body, err := a.do("GET", "/apis/tekton.dev/v1", nil)
		if err == nil && code == 200 && bytes.Contains(body, []byte(`"name":"taskruns"`)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tekton.dev/v1 not discovered within 1m: %d %v %s", code, err, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type taskRun struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		TaskSpec struct {
			Steps []struct {
				Name   string `json:"name"`
				Image  string `json:"image"`
				Script string `json:"script"`
			} `json:"steps"`
		} `json:"taskSpec"`
	} `json:"spec"`
}

// taskRuns lists a namespace's TaskRuns (one page: the tests create far
// fewer than the server's default limit, which is none).
func (a *testAPIServer) taskRuns(t *testing.T, ns, selector string) []taskRun {
	t.Helper()
	path := "/apis/tekton.dev/v1/namespaces/" + ns + "/taskruns"
	if selector != "" {
		path += "?labelSelector=" + url.QueryEscape(selector)
	}
	code, body, err := a.do("GET", path, nil)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
	var list struct {
		Items []taskRun `json:"items"`
		Meta  struct {
			Continue string `json:"continue"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Meta.Continue != "" {
		t.Fatalf("GET %s: a second page", path)
	}
	return list.Items
}

// runK6 runs a script as perfrun does (the script's settings as -e, no
// usage report), bounded to 2 minutes, and returns its output.
func runK6(t *testing.T, k6, script, summary string, env map[string]string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"run", "--quiet", "--no-color"}
	if summary != "" {
		args = append(args, "--summary-export", summary)
	}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	cmd := exec.CommandContext(ctx, k6, append(args, script)...)
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true")
	cmd.SysProcAttr = childAttr()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("k6 did not end within 2m"))
	}
	return string(out), err
}

// testPKI is a CA, the API server's serving certificate for 127.0.0.1, an
// admin client certificate (system:masters) and a service-account key, as
// PEM in memory and files in a folder.
type testPKI struct {
	dir string
	pem map[string][]byte
}

func (p *testPKI) file(name string) string { return filepath.Join(p.dir, name) }

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	p := &testPKI{dir: filepath.Join(dir, "pki"), pem: map[string][]byte{}}
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
