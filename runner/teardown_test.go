package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perfrun/perfrun/cluster/kubeconfig"
	"github.com/perfrun/perfrun/internal/kubetest"
	"github.com/perfrun/perfrun/internal/promtest"
	"github.com/perfrun/perfrun/result"
)

// A teardown that cannot stop the namespace's pods (one held here by a
// finalizer nothing removes) is recorded in result.json and junit.xml, and
// the run still completes its folder. Against a real API server and
// Prometheus; no kubelet runs the system's pods, so the run is interrupted
// in its deploy phase.
func TestTeardownErrorIsRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test runs a real kube-apiserver, etcd, kube-controller-manager and Prometheus")
	}
	api := kubetest.Start(t, kubetest.Options{NamespaceController: true})
	prom := promtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 1)
	opts := Options{Repo: "..", ResultsDir: t.TempDir(), K6: "/bin/true", TeardownTimeout: 3 * time.Second,
		Started: func(ns, _ string) { started <- ns }}
	const hold = "perfrun.dev/test-hold"
	held := make(chan error, 1)
	go func() {
		ns := <-started
		deadline := time.Now().Add(time.Minute)
		for {
			// The ServiceAccount admission wants the default account,
			// which no controller makes here.
			_, err := api.Kube.CoreV1().ServiceAccounts(ns).Create(ctx,
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				_, err = api.Kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{hold}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}}}, metav1.CreateOptions{})
			}
			if err == nil {
				cancel() // stop the run: its teardown now waits on the finalizer
				held <- nil
				return
			}
			if time.Now().After(deadline) {
				held <- err
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	res, dir, err := Run(ctx, smoke(t), &kubeconfig.Provider{Path: api.Kubeconfig, PrometheusURL: prom}, opts)
	if herr := <-held; herr != nil {
		t.Fatalf("holding the namespace: %v", herr)
	}
	t.Cleanup(func() {
		p, err := api.Kube.CoreV1().Pods(res.Namespace).Get(context.Background(), "held", metav1.GetOptions{})
		if err == nil {
			p.Finalizers = nil
			_, _ = api.Kube.CoreV1().Pods(res.Namespace).Update(context.Background(), p, metav1.UpdateOptions{})
		}
	})
	if err == nil || !strings.Contains(err.Error(), "interrupted during deploy") {
		t.Errorf("run error %v, want interrupted during deploy", err)
	}
	got, rerr := result.Read(filepath.Join(dir, result.ResultFile))
	if rerr != nil {
		t.Fatal(rerr)
	}
	want := "namespace " + res.Namespace + ": pods still there after 3s: held"
	if !strings.Contains(got.TeardownError, want) || !got.Complete || got.Phase != result.PhaseDone {
		t.Errorf("result.json: teardownError %q (want %q), complete %v, phase %q", got.TeardownError, want, got.Complete, got.Phase)
	}
	j, _ := os.ReadFile(filepath.Join(dir, result.JUnitFile))
	if !strings.Contains(string(j), "teardown: "+want) {
		t.Errorf("junit.xml lacks the teardown error:\n%s", j)
	}
}
