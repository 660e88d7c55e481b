package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/internal/kubetest"
	"github.com/perfrun/perfrun/internal/promtest"
	"github.com/perfrun/perfrun/result"
)

// perfrun run, the built binary, against a real API server (no scheduler
// or kubelet: the run's pods never exist, so it stays in its deploy phase)
// and a real Prometheus, interrupted and killed there: result.json says
// how far it got, one SIGINT tears down, a second exits within 2 s naming
// the namespace, and perfrun clean removes what a SIGKILL left. The
// cluster-tagged TestKilledInEachPhase does the same in every phase on
// the local cluster.
func TestRunInterruptedAndKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds perfrun and runs a real kube-apiserver, etcd, kube-controller-manager and Prometheus")
	}
	api := kubetest.Start(t, kubetest.Options{NamespaceController: true})
	prom := promtest.Start(t)
	bin := filepath.Join(t.TempDir(), "perfrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building perfrun: %v\n%s", err, out)
	}
	ctx := context.Background()

	type running struct {
		cmd     *exec.Cmd
		stderr  *syncBuffer
		results string
		done    chan struct{}
	}
	start := func(t *testing.T) *running {
		r := &running{stderr: &syncBuffer{}, results: t.TempDir(), done: make(chan struct{})}
		r.cmd = exec.Command(bin, "run", "--provider", "kubeconfig", "--kubeconfig", api.Kubeconfig, "--prometheus-url", prom,
			"--repo", "../..", "--results", r.results, "--k6", "/bin/true", "../../suites/scenarios/smoke.yaml")
		r.cmd.Stdout, r.cmd.Stderr = r.stderr, r.stderr
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = r.cmd.Wait(); close(r.done) }()
		t.Cleanup(func() {
			_ = r.cmd.Process.Kill()
			<-r.done
			if t.Failed() {
				t.Logf("perfrun output:\n%s", r.stderr.String())
			}
		})
		return r
	}
	// read is the run's result.json as it is now (nil before it exists).
	read := func(t *testing.T, r *running) *result.Run {
		m, _ := filepath.Glob(filepath.Join(r.results, "*", result.ResultFile))
		if len(m) != 1 {
			return nil
		}
		res, err := result.Read(m[0])
		if err != nil {
			t.Fatalf("result.json: %v", err)
		}
		return res
	}
	waitPhase := func(t *testing.T, r *running, phase string) *result.Run {
		deadline := time.Now().Add(time.Minute)
		for {
			if res := read(t, r); res != nil && res.Phase == phase {
				return res
			}
			select {
			case <-r.done:
				t.Fatalf("perfrun exited before phase %s", phase)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no phase %s within 1m", phase)
			}
		}
	}
	exitWithin := func(t *testing.T, r *running, d time.Duration) (int, time.Duration) {
		began := time.Now()
		select {
		case <-r.done:
		case <-time.After(d):
			t.Fatalf("perfrun still running %v later", d)
		}
		return r.cmd.ProcessState.ExitCode(), time.Since(began)
	}
	nsGone := func(t *testing.T, ns string) {
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := api.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("namespace %s still there: %v", ns, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// waitNS waits until the run's namespace exists: the deploy phase
	// begins just before it is made.
	waitNS := func(t *testing.T, r *running) string {
		ns := read(t, r).Namespace
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := api.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
				return ns
			}
			if time.Now().After(deadline) {
				t.Fatalf("namespace %s not made within 1m", ns)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("SIGKILL in deploy, then perfrun clean", func(t *testing.T) {
		r := start(t)
		waitPhase(t, r, result.PhaseDeploy)
		// The namespace is made early in deploy; wait for it so the kill
		// leaves something behind.
		ns := waitNS(t, r)
		_ = r.cmd.Process.Kill()
		<-r.done
		res := read(t, r)
		if res.Phase != result.PhaseDeploy || res.Complete || res.Verdict != "" || !res.Unfinished() {
			t.Errorf("after SIGKILL in deploy: phase %q complete %v verdict %q", res.Phase, res.Complete, res.Verdict)
		}
		var out, errb syncBuffer
		if code := realMain(ctx, []string{"clean", "--provider", "kubeconfig", "--kubeconfig", api.Kubeconfig, "--repo", "../.."}, &out, &errb); code != 0 {
			t.Fatalf("clean: exit %d\n%s%s", code, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "removing namespace "+ns) {
			t.Errorf("clean did not name %s:\n%s", ns, out.String())
		}
		left, err := api.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: deploy.RunLabel})
		if err != nil || len(left.Items) != 0 {
			t.Errorf("perfrun namespaces after clean: %v %v", left, err)
		}
	})

	t.Run("SIGINT tears down", func(t *testing.T) {
		r := start(t)
		waitPhase(t, r, result.PhaseDeploy)
		ns := waitNS(t, r)
		_ = r.cmd.Process.Signal(os.Interrupt)
		code, took := exitWithin(t, r, time.Minute)
		t.Logf("exit %d %v after SIGINT; output:\n%s", code, took.Round(time.Millisecond), r.stderr.String())
		res := read(t, r)
		if code != exitHarness || res.Phase != result.PhaseDone || !res.Complete || res.Verdict != result.VerdictError {
			t.Errorf("exit %d, phase %q complete %v verdict %q; want 1, done, complete, error", code, res.Phase, res.Complete, res.Verdict)
		}
		if out := r.stderr.String(); !strings.Contains(out, "tearing down what it made") {
			t.Errorf("stderr does not say teardown started:\n%s", out)
		}
		if res.Namespace != ns {
			t.Errorf("result.json names namespace %q, the run made %q", res.Namespace, ns)
		}
		nsGone(t, ns)
	})

	t.Run("second SIGINT exits at once", func(t *testing.T) {
		r := start(t)
		waitPhase(t, r, result.PhaseDeploy)
		ns := read(t, r).Namespace
		// A finalizer nothing removes holds the namespace in Terminating,
		// so teardown waits as it would on a stuck cluster.
		const hold = "perfrun.dev/test-hold"
		deadline := time.Now().Add(time.Minute)
		for {
			n, err := api.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err == nil {
				n.Finalizers = append(n.Finalizers, hold)
				if _, err = api.Kube.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("holding namespace %s: %v", ns, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Teardown waits until no pod of the run is left: a pod a finalizer
		// holds keeps it waiting.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: ns, Finalizers: []string{hold}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "perfrun/pause:v1"}}}}
		// No controller-manager here makes the default service account.
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
		if _, err := api.Kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("service account in %s: %v", ns, err)
		}
		if _, err := api.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("holding a pod in %s: %v", ns, err)
		}
		t.Cleanup(func() {
			if p, err := api.Kube.CoreV1().Pods(ns).Get(ctx, "held", metav1.GetOptions{}); err == nil {
				p.Finalizers = nil
				_, _ = api.Kube.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
			}
			n, err := api.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err == nil {
				n.Finalizers = nil
				_, _ = api.Kube.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{})
			}
		})
		_ = r.cmd.Process.Signal(os.Interrupt)
		waitPhase(t, r, result.PhaseTeardown)
		time.Sleep(time.Second) // teardown is waiting on the held pod
		_ = r.cmd.Process.Signal(os.Interrupt)
		code, took := exitWithin(t, r, 2*time.Second)
		t.Logf("exit %d %v after the second SIGINT", code, took.Round(time.Millisecond))
		if code != exitHarness {
			t.Errorf("exit %d, want %d", code, exitHarness)
		}
		out := r.stderr.String()
		t.Logf("perfrun's output:\n%s", out)
		for _, want := range []string{"interrupt again to exit at once", "again: exiting without finishing teardown",
			"namespace " + ns, "perfrun clean removes it"} {
			if !strings.Contains(out, want) {
				t.Errorf("stderr lacks %q:\n%s", want, out)
			}
		}
		if res := read(t, r); res.Phase != result.PhaseTeardown || res.Complete {
			t.Errorf("result.json after the second SIGINT: phase %q complete %v, want teardown, incomplete", res.Phase, res.Complete)
		}
	})
}
