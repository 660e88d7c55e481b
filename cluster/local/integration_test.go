//go:build cluster

// The local cluster's integration test: a real cluster on this machine, up,
// the reference system deployed from fixtures/, then down, and the host
// checked clean. It needs root and minutes, so it runs only with the
// `cluster` build tag: `make test-cluster` (which `make test` runs).
package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/images"
)

const ns = "perfrun-it"

// logWriter sends progress lines to t.Log as they come.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// hostState is what the cluster may change on the host; down must bring
// it back to what it was before up.
type hostState struct {
	Sysctls  map[string]string
	Links    []string
	NFTables []string
	Chains   []string
	Cgroups  []string
}

func readHost(t *testing.T) hostState {
	t.Helper()
	s := hostState{Sysctls: local.ReadSysctls(), Cgroups: local.CgroupDirs()}
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		n := e.Name()
		if n == local.Interface || n == local.Bridge || strings.HasPrefix(n, "veth") {
			s.Links = append(s.Links, n)
		}
	}
	s.NFTables = local.NFTables(context.Background())
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, _ := exec.Command(ipt, "-w", "-t", table, "-S").Output()
			for _, l := range strings.Split(string(out), "\n") {
				f := strings.Fields(l)
				if len(f) >= 2 && f[0] == "-N" && local.OurChain(f[1]) {
					s.Chains = append(s.Chains, ipt+"/"+table+"/"+f[1])
				}
			}
		}
	}
	return s
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tools", "kubernetes", "go.mod")); err != nil {
		t.Fatalf("repository root not at %s: %v", dir, err)
	}
	return dir
}

func TestLocalCluster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the local cluster test must run as root (make test-cluster does, on CI)")
	}
	// Another cluster on the same addresses (someone's `perfrun run` on a
	// shared machine) would make every check below meaningless: wait a
	// bounded time for it to go, never take it down.
	for waited := time.Duration(0); ; waited += 5 * time.Second {
		if !local.AnotherServes() {
			break
		}
		if waited >= 15*time.Minute {
			t.Fatalf("a local cluster has served %s:6443 for %s: run `perfrun cluster down` first", local.NodeIP, waited)
		}
		if waited == 0 {
			t.Logf("a local cluster is up (another run?); waiting up to 15m for it to go down")
		}
		time.Sleep(5 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	// A down whose API server has stopped may still be restoring the host:
	// read the host only once it is done.
	if err := local.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	log := logWriter{t}
	repo := repoRoot(t)
	before := readHost(t)
	stateDir := t.TempDir()
	runDir := filepath.Join("/run/perfrun", fmt.Sprintf("it-%d", os.Getpid()))
	c := local.New(local.Options{SourceDir: repo, StateDir: stateDir, RunDir: runDir, CacheDir: local.DefaultCacheDir()})
	testStart := time.Now()

	downDone := false
	t.Cleanup(func() {
		if !downDone {
			if err := c.Down(context.Background(), log, false); err != nil {
				t.Errorf("down in cleanup: %v", err)
			}
		}
	})

	// Binaries first, so that the timing of up below is a warm one.
	t0 := time.Now()
	if err := local.BuildTools(ctx, repo, local.DefaultCacheDir(), log); err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE build (cold or cached): %s", time.Since(t0).Round(time.Second))

	t0 = time.Now()
	if err := c.Up(ctx, log); err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("FIGURE up (binaries built, fresh state): %s", time.Since(t0).Round(100*time.Millisecond))

	// Idempotent: a second up keeps what runs.
	pidsBefore := c.Status(ctx).Components
	t0 = time.Now()
	if err := c.Up(ctx, log); err != nil {
		t.Fatalf("second up: %v", err)
	}
	st := c.Status(ctx)
	if !st.Up() || !st.NodeReady {
		t.Fatalf("after up: missing %v, node ready %v", st.Missing, st.NodeReady)
	}
	for name, pid := range pidsBefore {
		if st.Components[name] != pid {
			t.Errorf("second up restarted %s (pid %d → %d)", name, pid, st.Components[name])
		}
	}
	t.Logf("FIGURE second up (all running): %s", time.Since(t0).Round(100*time.Millisecond))

	kubectl := func(args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Nothing of the cluster listens on the external interface or 0.0.0.0.
	checkBinds(t, st.Components)

	// Images of both releases, and the probe.
	t0 = time.Now()
	imgDir := t.TempDir()
	var tars []string
	for _, tag := range []string{"v1", "v2"} {
		built, missing, err := images.System(ctx, repo, imgDir, tag)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Fatalf("programs missing from system/cmd: %v", missing)
		}
		for _, b := range built {
			tars = append(tars, b.Tarball)
		}
	}
	probeBin := filepath.Join(imgDir, "dnsprobe")
	if err := images.GoBinary(ctx, repo, "./cluster/local/testdata/dnsprobe", probeBin); err != nil {
		t.Fatal(err)
	}
	probeTar := filepath.Join(imgDir, "dnsprobe.tar")
	if err := images.BuildTo(probeTar, images.Spec{Ref: "perfrun/dnsprobe:it", Files: []images.File{{Src: probeBin, Dst: "/dnsprobe"}}, Entrypoint: []string{"/dnsprobe"}, User: "65532"}); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadImages(ctx, append(tars, probeTar)); err != nil {
		t.Fatal(err)
	}
	refs, err := c.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"docker.io/perfrun/worker:v1", "docker.io/perfrun/worker:v2", "docker.io/perfrun/redis:v1"} {
		if !contains(refs, want) {
			t.Fatalf("image %s not in the runtime; have %v", want, refs)
		}
	}
	t.Logf("FIGURE build+load system images v1,v2: %s", time.Since(t0).Round(100*time.Millisecond))

	// Release v1 from fixtures/, every pod Ready through its real probes.
	kubectl("create", "namespace", ns)
	t0 = time.Now()
	kubectl("apply", "-n", ns, "-k", filepath.Join(repo, "fixtures/system/overlays/v1"))
	for _, w := range []string{"deployment/redis", "deployment/listener", "deployment/worker", "statefulset/controller"} {
		kubectl("-n", ns, "rollout", "status", w, "--timeout=120s")
	}
	kubectl("-n", ns, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=60s")
	t.Logf("FIGURE release v1 applied → 6 pods Ready: %s", time.Since(t0).Round(100*time.Millisecond))

	// A Service resolved by DNS name from inside a pod, and reached.
	t0 = time.Now()
	kubectl("-n", ns, "run", "dnsprobe", "--image=perfrun/dnsprobe:it", "--image-pull-policy=Never", "--restart=Never", "--",
		"redis", "redis."+ns+".svc.cluster.local", "listener", "kubernetes.default", "--", "redis:6379", "listener:3000")
	phase := waitPodDone(ctx, t, c, "dnsprobe", 60*time.Second)
	logs := kubectl("-n", ns, "logs", "dnsprobe")
	if phase != "Succeeded" {
		t.Fatalf("DNS probe pod %s:\n%s", phase, logs)
	}
	redisIP := strings.TrimSpace(kubectl("-n", ns, "get", "service", "redis", "-o", "jsonpath={.spec.clusterIP}"))
	if !strings.Contains(logs, "lookup redis."+ns+".svc.cluster.local: ["+redisIP+"]") {
		t.Fatalf("redis did not resolve to its ClusterIP %s:\n%s", redisIP, logs)
	}
	t.Logf("FIGURE DNS probe pod create → Succeeded: %s\n%s", time.Since(t0).Round(100*time.Millisecond), logs)

	// Prometheus scrapes every annotated pod: up == 1 for each.
	scraped := strings.Fields(kubectl("-n", ns, "get", "pods", "-o",
		`jsonpath={range .items[?(@.metadata.annotations.prometheus\.io/scrape=="true")]}{.metadata.name}{" "}{end}`))
	if len(scraped) != 5 {
		t.Fatalf("want 5 scraped pods (listener, worker, 3 controllers), got %v", scraped)
	}
	t0 = time.Now()
	waitUp(ctx, t, `{job="kubernetes-pods",namespace="`+ns+`"}`, scraped, 90*time.Second)
	t.Logf("FIGURE Prometheus up==1 for all %d pods after: %s", len(scraped), time.Since(t0).Round(100*time.Millisecond))
	// And records the listener Service's endpoints with their readiness
	// (what a readiness-shedding scenario asserts on).
	listeners := strings.Fields(kubectl("-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=listener", "-o", `jsonpath={.items[*].metadata.name}`))
	waitUp(ctx, t, `{job="service-endpoints",namespace="`+ns+`",service="listener",ready="true"}`, listeners, 60*time.Second)

	// Up left metrics-server out (no --metrics-server); a run whose system
	// has an HPA adds it to the running cluster, building it if needed,
	// and then it serves the resource metrics API (what an HPA reads).
	if _, err := c.Kubectl(ctx, nil, "get", "apiservice", "v1beta1.metrics.k8s.io"); err == nil {
		t.Fatal("up without MetricsServer registered the metrics API")
	}
	t0 = time.Now()
	if err := c.EnsureMetricsServer(ctx, log); err != nil {
		t.Fatalf("EnsureMetricsServer: %v", err)
	}
	t.Logf("FIGURE metrics-server added (build cold or cached): %s", time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	for deadline := time.Now().Add(120 * time.Second); ; {
		out, err := c.Kubectl(ctx, nil, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/"+ns+"/pods")
		if err == nil && strings.Contains(out, `"name":"redis-`) && strings.Contains(out, `"cpu"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pod metrics from metrics-server: %v %.300s", err, out)
		}
		time.Sleep(time.Second)
	}
	t.Logf("FIGURE pod metrics from metrics-server after a further: %s", time.Since(t0).Round(100*time.Millisecond))

	// A deleted controller pod comes back with the same ordinal (name).
	oldUID := strings.TrimSpace(kubectl("-n", ns, "get", "pod", "controller-1", "-o", "jsonpath={.metadata.uid}"))
	t0 = time.Now()
	kubectl("-n", ns, "delete", "pod", "controller-1", "--wait=false")
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := c.Kubectl(ctx, nil, "-n", ns, "get", "pod", "controller-1", "-o",
			`jsonpath={.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}`)
		f := strings.Fields(out)
		if err == nil && len(f) == 2 && f[0] != oldUID && f[1] == "True" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller-1 did not come back Ready: %q %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("FIGURE controller-1 deleted → same ordinal back Ready: %s", time.Since(t0).Round(100*time.Millisecond))

	// Roll the worker (and the rest of the system) from v1 to v2.
	t0 = time.Now()
	kubectl("apply", "-n", ns, "-k", filepath.Join(repo, "fixtures/system/overlays/v2"))
	kubectl("-n", ns, "rollout", "status", "deployment/worker", "--timeout=120s")
	img := kubectl("-n", ns, "get", "deployment", "worker", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	if img != "perfrun/worker:v2" {
		t.Fatalf("worker image after the roll: %q", img)
	}
	var pods struct {
		Items []struct {
			Metadata struct {
				Name              string
				DeletionTimestamp *string `json:"deletionTimestamp"`
			}
			Spec struct {
				Containers []struct{ Image string }
			}
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if err := json.Unmarshal([]byte(kubectl("-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=worker", "-o", "json")), &pods); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 1 && pods.Items[0].Spec.Containers[0].Image == "perfrun/worker:v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker pods after the roll: %+v", pods.Items)
		}
		time.Sleep(500 * time.Millisecond)
	}
	queue := kubectl("-n", ns, "get", "pod", pods.Items[0].Metadata.Name, "-o", "jsonpath={.spec.containers[0].env[?(@.name==\"QUEUE\")].valueFrom.configMapKeyRef.name}")
	if q := strings.TrimSpace(kubectl("-n", ns, "get", "configmap", queue, "-o", "jsonpath={.data.queue}")); q != "v2" {
		t.Fatalf("worker after the roll reads queue %q, want v2", q)
	}
	kubectl("-n", ns, "wait", "--for=condition=Ready", "pod", "-l", "app.kubernetes.io/name=worker", "--timeout=60s")
	t.Logf("FIGURE worker rolled v1 → v2: %s", time.Since(t0).Round(100*time.Millisecond))

	// Idle memory of the whole cluster with the system deployed.
	st = c.Status(ctx)
	t.Logf("FIGURE memory (RSS) of cluster processes, shims and pods: %d MiB", clusterRSS(st.Components, local.ShimPIDs(filepath.Join(runDir, "containerd", "containerd.sock")))>>20)

	// Down, and nothing left.
	var pids []int
	for _, pid := range st.Components {
		pids = append(pids, pid)
	}
	t0 = time.Now()
	downDone = true
	if err := c.Down(ctx, log, false); err != nil {
		t.Fatalf("down: %v", err)
	}
	t.Logf("FIGURE down: %s", time.Since(t0).Round(100*time.Millisecond))
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d still there after down", pid)
		}
	}
	if shims := local.ShimPIDs(filepath.Join(runDir, "containerd", "containerd.sock")); len(shims) > 0 {
		t.Errorf("shims left: %v", shims)
	}
	if m, err := local.MountsUnder(stateDir, runDir); err != nil || len(m) > 0 {
		t.Errorf("mounts left: %v %v", m, err)
	}
	if _, err := os.Stat(runDir); err == nil {
		t.Errorf("run folder %s left", runDir)
	}
	after := readHost(t)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("host not as before up:\nbefore %+v\nafter  %+v", before, after)
	}
	for _, addr := range []string{"127.0.0.1:2379", "127.0.0.1:10257", "127.0.0.1:10259", "127.0.0.1:10248", "127.0.0.1:10249"} {
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after down", addr)
		}
	}
	// Down with --wipe also removes the state.
	if err := c.Down(ctx, log, true); err != nil {
		t.Fatalf("down --wipe: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "pki")); err == nil {
		t.Errorf("state left after down --wipe")
	}
	t.Logf("FIGURE whole integration test: %s", time.Since(testStart).Round(time.Second))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitPodDone(ctx context.Context, t *testing.T, c *local.Cluster, pod string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := c.Kubectl(ctx, nil, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
		if out == "Succeeded" || out == "Failed" {
			return out
		}
		if time.Now().After(deadline) {
			return "still " + out + " after " + timeout.String()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUp waits until Prometheus has up == 1 for each pod in the series the
// selector picks.
func waitUp(ctx context.Context, t *testing.T, selector string, pods []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]string
	for {
		last = map[string]string{}
		q := url.Values{"query": {"up" + selector}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, local.PrometheusURL+"/api/v1/query?"+q.Encode(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var r struct {
				Data struct {
					Result []struct {
						Metric map[string]string
						Value  [2]any
					}
				}
			}
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			for _, s := range r.Data.Result {
				last[s.Metric["pod"]] = fmt.Sprint(s.Value[1])
			}
		}
		ok := true
		for _, p := range pods {
			if last[p] != "1" {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus up%s per pod after %s: %v (want 1 for each of %v)", selector, timeout, last, pods)
		}
		time.Sleep(time.Second)
	}
}

// checkBinds fails if a cluster process listens on a wildcard address or
// on anything but loopback and the node IP.
func checkBinds(t *testing.T, comps map[string]int) {
	t.Helper()
	inodes := map[string]bool{}
	for _, pid := range comps {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			// TCP listeners are state 0A; any UDP socket is bound.
			if strings.HasPrefix(file, "/proc/net/tcp") && f[3] != "0A" {
				continue
			}
			ip := parseProcIP(f[1])
			if !(ip.IsLoopback() || ip.Equal(net.ParseIP(local.NodeIP))) {
				t.Errorf("a cluster process listens on %s (%s)", ip, file)
			}
		}
	}
}

// parseProcIP reads the hex address of /proc/net/{tcp,udp}[6] ("0100007F:1F90").
func parseProcIP(s string) net.IP {
	h := strings.Split(s, ":")[0]
	b := make([]byte, len(h)/2)
	for i := range b {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		b[i] = byte(v)
	}
	// Each 32-bit word is in host (little-endian) order.
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b)
}

// clusterRSS sums the resident memory of the cluster's processes, the shims
// and everything below them (the pods).
func clusterRSS(comps map[string]int, shims []int) int64 {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		f := strings.Fields(rest)
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	seen := map[int]bool{}
	var roots []int
	for _, pid := range comps {
		roots = append(roots, pid)
	}
	// Shims are reparented to init, so they are roots of their own.
	roots = append(roots, shims...)
	sort.Ints(roots)
	var total int64
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid)); err == nil {
			f := strings.Fields(string(b))
			if len(f) > 1 {
				pages, _ := strconv.ParseInt(f[1], 10, 64)
				total += pages * int64(os.Getpagesize())
			}
		}
		for _, ch := range children[pid] {
			walk(ch)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return total
}
