package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/internal/kubetest"
)

// perfrun clean against a real API server (with the namespace
// controller): it lists what runs left by their labels, --dry-run removes
// nothing, and then everything labelled goes and nothing else does.
func TestCleanRemovesWhatRunsLeft(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test runs a real kube-apiserver, etcd and kube-controller-manager")
	}
	api := kubetest.Start(t, kubetest.Options{NamespaceController: true})
	ctx := context.Background()
	kube := api.Kube
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	run := map[string]string{deploy.RunLabel: "ab12cd34", deploy.ManagedByLabel: "perfrun"}
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "perfrun-smoke-ab12cd34", Labels: run}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "someone-else"}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tekton-pipelines-controller", Labels: run}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "not-perfrun"}}, metav1.CreateOptions{})
	mustCreate(err)
	job := func(ns, name string, labels map[string]string) {
		t.Helper()
		_, err := kube.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "k6", Image: "perfrun/k6:v1"}}}}}}, metav1.CreateOptions{})
		mustCreate(err)
	}
	// A k6 generator left in a namespace perfrun did not create (a
	// scenario's spec.system.namespace), and a Job that is not perfrun's.
	job("someone-else", "k6-ab12cd34-0", map[string]string{deploy.TestIDLabel: "ab12cd34"})
	job("someone-else", "backup", nil)

	clean := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := realMain(ctx, append([]string{"clean", "--provider", "kubeconfig", "--kubeconfig", api.Kubeconfig, "--repo", "../.."}, args...), &out, &errb)
		return out.String() + errb.String(), code
	}
	out, code := clean("--dry-run")
	t.Logf("clean --dry-run:\n%s", out)
	for _, want := range []string{"would remove namespace perfrun-smoke-ab12cd34 (run ab12cd34)",
		"would remove clusterrole.rbac.authorization.k8s.io tekton-pipelines-controller (run ab12cd34)",
		"would remove job.batch k6-ab12cd34-0 in someone-else (run ab12cd34)", "3 object(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if code != 0 || strings.Contains(out, "not-perfrun") || strings.Contains(out, "backup") || strings.Contains(out, "namespace someone-else") {
		t.Errorf("dry run: exit %d, or lists what is not perfrun's", code)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "perfrun-smoke-ab12cd34", metav1.GetOptions{}); err != nil {
		t.Fatalf("--dry-run removed the namespace: %v", err)
	}
	if out, code := clean("--older-than", "1h"); code != 0 || !strings.Contains(out, "nothing left by perfrun runs") {
		t.Errorf("--older-than 1h: exit %d\n%s", code, out)
	}

	began := time.Now()
	out, code = clean("--timeout", "1m")
	t.Logf("clean (%v):\n%s", time.Since(began).Round(time.Millisecond), out)
	if code != 0 || !strings.Contains(out, "removed 3 of 3 object(s)") {
		t.Fatalf("clean: exit %d", code)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "perfrun-smoke-ab12cd34", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the run's namespace after clean: %v", err)
	}
	if _, err := kube.RbacV1().ClusterRoles().Get(ctx, "tekton-pipelines-controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the run's ClusterRole after clean: %v", err)
	}
	if _, err := kube.BatchV1().Jobs("someone-else").Get(ctx, "k6-ab12cd34-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the k6 Job after clean: %v", err)
	}
	for _, get := range []func() error{
		func() error {
			_, err := kube.CoreV1().Namespaces().Get(ctx, "someone-else", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := kube.RbacV1().ClusterRoles().Get(ctx, "not-perfrun", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := kube.BatchV1().Jobs("someone-else").Get(ctx, "backup", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Errorf("clean removed what is not perfrun's: %v", err)
		}
	}
	if out, code := clean(); code != 0 || !strings.Contains(out, "nothing left by perfrun runs") {
		t.Errorf("clean again: exit %d\n%s", code, out)
	}
	// Bad input names the flag (exit 2).
	if out, code := clean("--older-than", "-1s"); code != exitBadInput || !strings.Contains(out, "--older-than") {
		t.Errorf("--older-than -1s: exit %d\n%s", code, out)
	}
	var errb bytes.Buffer
	if code := realMain(ctx, []string{"clean", "--provider", "kubeconfig"}, &bytes.Buffer{}, &errb); code != exitBadInput || !strings.Contains(errb.String(), "--kubeconfig") {
		t.Errorf("clean --provider kubeconfig without --kubeconfig: exit %d, want 2 naming --kubeconfig: %s", code, errb.String())
	}
}
