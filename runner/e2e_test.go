//go:build cluster

package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/result"
)

// TestEndToEnd runs perfrun run on the embedded local cluster (root; `make
// test-run`): smoke.yaml must pass, the known-bad worker-kill-v1.yaml must
// exit 3 naming no-loss, and after both nothing of either run is left.
func TestEndToEnd(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the local cluster needs root")
	}
	repo, _ := filepath.Abs("..")
	k6 := filepath.Join(repo, "bin", "k6")
	if _, err := os.Stat(k6); err != nil {
		t.Fatalf("bin/k6 missing (make k6): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "perfrun")
	build := exec.Command("go", "build", "-o", bin, "./cmd/perfrun")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building perfrun: %v\n%s", err, out)
	}
	perfrun := func(timeout time.Duration, args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = repo
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("perfrun %v: %v\n%s", args, err, out.String())
		}
		return out.String(), 0
	}
	_, up := perfrun(10*time.Second, "cluster", "status")
	if out, code := perfrun(10*time.Minute, "cluster", "up"); code != 0 {
		t.Fatalf("cluster up: exit %d\n%s", code, out)
	}
	if up != 0 {
		t.Cleanup(func() { perfrun(5*time.Minute, "cluster", "down") })
	}
	if out, code := perfrun(10*time.Minute, "cluster", "load"); code != 0 {
		t.Fatalf("cluster load: exit %d\n%s", code, out)
	}
	results := t.TempDir()

	begin := time.Now()
	out, code := perfrun(6*time.Minute, "run", "--results", results, "--k6", k6, "suites/scenarios/smoke.yaml")
	t.Logf("smoke (%s):\n%s", time.Since(begin).Round(time.Second), out)
	if code != 0 {
		t.Errorf("smoke: exit %d, want 0", code)
	}
	res := readOnly(t, results, "smoke-")
	for _, s := range res.Steps {
		t.Logf("step %-10s %6.1fs %s", s.Name, s.Seconds, s.Error)
	}
	if len(res.Chaos) != 1 || len(res.Chaos[0].Targets) != 1 || !strings.HasPrefix(res.Chaos[0].Targets[0], "worker-") {
		t.Errorf("smoke chaos record: %+v", res.Chaos)
	}

	out, code = perfrun(6*time.Minute, "run", "--results", results, "--k6", k6, "suites/scenarios/worker-kill-v1.yaml")
	t.Logf("worker-kill-v1:\n%s", out)
	if code != 3 || !strings.Contains(out, "no-loss") {
		t.Errorf("known-bad worker-kill-v1: exit %d, want 3 naming no-loss", code)
	}

	// Nothing of the runs is left.
	cfg, err := clientcmd.BuildConfigFromFlags("", "/var/lib/perfrun/local/kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	// Nothing runs: a run's namespace may still be terminating (the run
	// does not wait out the namespace controller's 5 s), but it holds no
	// pod, and Kubernetes removes it without the run.
	nss, err := kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: deploy.RunLabel})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nss.Items {
		pods, err := kube.CoreV1().Pods(n.Name).List(context.Background(), metav1.ListOptions{})
		switch {
		case err != nil:
			t.Fatal(err)
		case n.DeletionTimestamp == nil:
			t.Errorf("run namespace %s left, not terminating", n.Name)
		case len(pods.Items) > 0:
			t.Errorf("run namespace %s: %d pods left", n.Name, len(pods.Items))
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		nss, err := kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: deploy.RunLabel})
		if err != nil {
			t.Fatal(err)
		}
		if len(nss.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("run namespaces left a minute after the runs: %d (%s...)", len(nss.Items), nss.Items[0].Name)
			break
		}
	}
	if out, err := exec.Command("pgrep", "-f", k6+" run").Output(); err == nil {
		t.Errorf("k6 processes left: %s", out)
	}
}

func readOnly(t *testing.T, dir, prefix string) *result.Run {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, prefix+"*", result.ResultFile))
	if len(m) != 1 {
		t.Fatalf("want one %s result in %s, got %v", prefix, dir, m)
	}
	r, err := result.Read(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}
