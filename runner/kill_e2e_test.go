//go:build cluster

package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/result"
)

// TestKilledInEachPhase runs perfrun run smoke.yaml on the embedded local
// cluster (root; `make test-interrupts`) and SIGKILLs it in each phase:
// result.json must say the phase it was killed in, complete false and no
// verdict, and perfrun clean must then leave no perfrun namespace. Then a
// run gets SIGINT during its load and a second SIGINT once teardown has
// begun: it must exit within 2 s, exit 1, naming its namespace, and
// perfrun clean removes what it left.
func TestKilledInEachPhase(t *testing.T) {
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
	// No `perfrun cluster load`: a run loads the images it lacks itself.

	cfg, err := clientcmd.BuildConfigFromFlags("", "/var/lib/perfrun/local/kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	runNamespaces := func() []string {
		nss, err := kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: deploy.RunLabel})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range nss.Items {
			names = append(names, n.Name)
		}
		return names
	}
	clean := func(t *testing.T) {
		t.Helper()
		out, code := perfrun(5*time.Minute, "clean")
		t.Logf("perfrun clean:\n%s", out)
		if code != 0 {
			t.Errorf("perfrun clean: exit %d", code)
		}
		if left := runNamespaces(); len(left) != 0 {
			t.Errorf("perfrun namespaces after clean: %v", left)
		}
	}
	if left := runNamespaces(); len(left) != 0 {
		t.Fatalf("perfrun namespaces before the test (another run?): %v", left)
	}

	// start runs perfrun run smoke.yaml in the background.
	type running struct {
		cmd     *exec.Cmd
		out     *lockedBuffer
		results string
		done    chan struct{}
	}
	start := func(t *testing.T) *running {
		r := &running{out: &lockedBuffer{}, results: t.TempDir(), done: make(chan struct{})}
		r.cmd = exec.Command(bin, "run", "--results", r.results, "--k6", k6, "suites/scenarios/smoke.yaml")
		r.cmd.Dir = repo
		r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = r.cmd.Wait(); close(r.done) }()
		t.Cleanup(func() {
			_ = r.cmd.Process.Kill()
			<-r.done
			t.Logf("perfrun run:\n%s", r.out.String())
		})
		return r
	}
	read := func(r *running) *result.Run {
		m, _ := filepath.Glob(filepath.Join(r.results, "*", result.ResultFile))
		if len(m) != 1 {
			return nil
		}
		res, err := result.Read(m[0])
		if err != nil {
			return nil // between the write and the rename: read again
		}
		return res
	}
	order := []string{result.PhaseStart, result.PhaseCluster, result.PhaseDeploy, result.PhaseLoad,
		result.PhaseDrain, result.PhaseEvaluate, result.PhaseTeardown, result.PhaseDone}
	// waitPhase polls result.json (every 20 ms: evaluate and teardown take
	// seconds) until the run is in phase.
	waitPhase := func(t *testing.T, r *running, phase string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			if res := read(r); res != nil {
				if res.Phase == phase {
					return
				}
				if slices.Index(order, res.Phase) > slices.Index(order, phase) {
					t.Fatalf("the run went past phase %s (now %s) between two polls", phase, res.Phase)
				}
			}
			select {
			case <-r.done:
				t.Fatalf("perfrun exited before phase %s", phase)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no phase %s within 5m", phase)
			}
		}
	}

	for _, phase := range []string{result.PhaseDeploy, result.PhaseLoad, result.PhaseDrain, result.PhaseEvaluate, result.PhaseTeardown} {
		t.Run("SIGKILL in "+phase, func(t *testing.T) {
			r := start(t)
			waitPhase(t, r, phase)
			if phase == result.PhaseDeploy {
				time.Sleep(2 * time.Second) // let it make the namespace: something to clean
			}
			_ = r.cmd.Process.Signal(syscall.SIGKILL)
			<-r.done
			res := read(r)
			if res == nil {
				t.Fatal("no result.json after SIGKILL")
			}
			t.Logf("killed in %s: result.json phase %q, complete %v, verdict %q, steps %d", phase, res.Phase, res.Complete, res.Verdict, len(res.Steps))
			if res.Phase != phase || res.Complete || res.Verdict != "" || !res.Unfinished() {
				t.Errorf("result.json after SIGKILL in %s: phase %q complete %v verdict %q", phase, res.Phase, res.Complete, res.Verdict)
			}
			clean(t)
		})
	}

	t.Run("second SIGINT exits within 2s", func(t *testing.T) {
		r := start(t)
		waitPhase(t, r, result.PhaseLoad)
		ns := read(r).Namespace
		// A finalizer nothing removes holds a pod of the namespace, so the
		// teardown, which waits until no pod is left, is still going when
		// the second SIGINT comes, as on a cluster that is stuck; it is
		// lifted before perfrun clean.
		const hold = "perfrun.dev/test-hold"
		pods, err := kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods of %s: %v (%d)", ns, err, len(pods.Items))
		}
		held := pods.Items[0].Name
		setFinalizers := func(f []string) error {
			p, err := kube.CoreV1().Pods(ns).Get(context.Background(), held, metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Finalizers = f
			_, err = kube.CoreV1().Pods(ns).Update(context.Background(), p, metav1.UpdateOptions{})
			return err
		}
		if err := setFinalizers([]string{hold}); err != nil {
			t.Fatalf("holding pod %s/%s: %v", ns, held, err)
		}
		t.Cleanup(func() { _ = setFinalizers(nil) })
		_ = r.cmd.Process.Signal(os.Interrupt)
		waitPhase(t, r, result.PhaseTeardown)
		time.Sleep(time.Second) // teardown is waiting on the held pod
		sent := time.Now()
		_ = r.cmd.Process.Signal(os.Interrupt)
		select {
		case <-r.done:
		case <-time.After(2 * time.Second):
			t.Fatalf("perfrun still running 2s after the second SIGINT")
		}
		took := time.Since(sent)
		t.Logf("exit %d %v after the second SIGINT", r.cmd.ProcessState.ExitCode(), took.Round(time.Millisecond))
		if code := r.cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		out := r.out.String()
		for _, want := range []string{"tearing down what it made", "exiting without finishing teardown", "namespace " + ns, "perfrun clean removes it"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if res := read(r); res == nil || res.Phase != result.PhaseTeardown || res.Complete {
			t.Errorf("result.json after the second SIGINT: %+v", res)
		}
		if err := setFinalizers(nil); err != nil {
			t.Errorf("lifting the finalizer: %v", err)
		}
		clean(t)
	})

	if out, err := exec.Command("pgrep", "-f", k6+" run").Output(); err == nil {
		t.Errorf("k6 processes left: %s", out)
	}
}

// lockedBuffer is a bytes.Buffer that a process's output and the test can
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
