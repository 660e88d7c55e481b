package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// k6's ExecutionStatusPausedBeforeRun (lib.ExecutionStatus, an iota that
// its REST API writes as a number): initialised, paused, waiting.
const pausedBeforeRun = 4

// Cluster creates, starts, watches and deletes a Rendered load.
type Cluster struct {
	Kube kubernetes.Interface
	// Logf receives progress (optional).
	Logf func(format string, args ...any)
	// Poll is how often state is read (default 1s).
	Poll time.Duration
}

func (c *Cluster) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

func (c *Cluster) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return time.Second
}

// Start creates the scripts and Jobs, runs the provisioning Job to
// completion, waits until every generator has initialised and paused, then
// resumes them all at once. It returns when they were resumed. readyTimeout
// bounds provisioning and the wait for the generators.
func (c *Cluster) Start(ctx context.Context, r *Rendered, readyTimeout time.Duration) (time.Time, error) {
	ns := r.ConfigMap.Namespace
	if _, err := c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, r.ConfigMap, metav1.CreateOptions{}); err != nil {
		return time.Time{}, fmt.Errorf("creating scripts ConfigMap: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// The generators initialise (paused) while provisioning runs.
	for _, g := range r.Generators {
		if _, err := c.Kube.BatchV1().Jobs(ns).Create(ctx, g.Job, metav1.CreateOptions{}); err != nil {
			return time.Time{}, fmt.Errorf("creating generator %d: %w", g.Segment.Index, err)
		}
	}
	if r.Provision != nil {
		c.logf("provisioning once (%s)", r.Provision.Name)
		if _, err := c.Kube.BatchV1().Jobs(ns).Create(ctx, r.Provision, metav1.CreateOptions{}); err != nil {
			return time.Time{}, fmt.Errorf("creating provisioning Job: %w", err)
		}
		if err := c.waitJob(rctx, ns, r.Provision.Name); err != nil {
			return time.Time{}, fmt.Errorf("provisioning: %w", err)
		}
	}
	pods, err := c.waitPaused(rctx, r)
	if err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() { errs[i] = c.resume(ctx, ns, p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return start, fmt.Errorf("resuming generators: %w", err)
	}
	c.logf("%d generators resumed within %s", len(pods), time.Since(start).Round(time.Millisecond))
	return start, nil
}

// waitJob waits for a Job to succeed; a failed Job is an error naming it.
func (c *Cluster) waitJob(ctx context.Context, ns, name string) error {
	return wait.PollUntilContextCancel(ctx, c.poll(), true, func(ctx context.Context) (bool, error) {
		j, err := c.Kube.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if j.Status.Succeeded > 0 {
			return true, nil
		}
		if j.Status.Failed > 0 {
			return false, fmt.Errorf("job %s failed%s", name, c.podFailure(ctx, ns, name))
		}
		return false, nil
	})
}

// podFailure says why a Job's pod failed, from its container status.
func (c *Cluster) podFailure(ctx context.Context, ns, job string) string {
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil || len(pods.Items) == 0 {
		return ""
	}
	for _, cs := range pods.Items[0].Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf(": pod %s exited %d (%s)", pods.Items[0].Name, t.ExitCode, t.Reason)
		}
	}
	return ""
}

// waitPaused waits for one pod per generator whose k6 reports
// PausedBeforeRun, and returns their names in generator order.
func (c *Cluster) waitPaused(ctx context.Context, r *Rendered) ([]string, error) {
	ns := r.ConfigMap.Namespace
	names := make([]string, len(r.Generators))
	err := wait.PollUntilContextCancel(ctx, c.poll(), true, func(ctx context.Context) (bool, error) {
		pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
			LabelSelector: LabelTestID + "=" + r.ConfigMap.Labels[LabelTestID] + "," + LabelRole + "=generator"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range pods.Items {
			i, err := strconv.Atoi(p.Labels[LabelGenerator])
			if err != nil || i < 0 || i >= len(names) {
				continue
			}
			if p.Status.Phase == corev1.PodFailed {
				return false, fmt.Errorf("generator %d: pod %s failed before the start", i, p.Name)
			}
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			st, err := c.status(ctx, ns, p.Name)
			if err != nil || st != pausedBeforeRun {
				continue
			}
			names[i] = p.Name
			ready++
		}
		return ready == len(names), nil
	})
	if err != nil {
		var missing []string
		for i, n := range names {
			if n == "" {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		return nil, fmt.Errorf("waiting for generators %s to initialise and pause: %w", strings.Join(missing, ","), err)
	}
	return names, nil
}

// status reads k6's execution status through the API server's pod proxy,
// which works on any cluster, whether or not pods are routable from here.
func (c *Cluster) status(ctx context.Context, ns, pod string) (int, error) {
	b, err := c.Kube.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").
		Name(fmt.Sprintf("%s:%d", pod, APIPort)).SubResource("proxy").Suffix("v1/status").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var st struct {
		Data struct {
			Attributes struct {
				Status json.RawMessage `json:"status"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("k6 status of %s: %w", pod, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(st.Data.Attributes.Status)))
	if err != nil {
		return 0, fmt.Errorf("k6 status of %s: %q is not a number", pod, st.Data.Attributes.Status)
	}
	return n, nil
}

func (c *Cluster) resume(ctx context.Context, ns, pod string) error {
	body := []byte(`{"data":{"type":"status","id":"default","attributes":{"paused":false}}}`)
	_, err := c.Kube.CoreV1().RESTClient().Patch(types.MergePatchType).Namespace(ns).Resource("pods").
		Name(fmt.Sprintf("%s:%d", pod, APIPort)).SubResource("proxy").Suffix("v1/status").
		SetHeader("Content-Type", "application/json").Body(body).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("pod %s: %w", pod, err)
	}
	return nil
}

// Outcome is how one generator's k6 ended.
type Outcome struct {
	Index    int    `json:"index"`
	Job      string `json:"job"`
	Pod      string `json:"pod,omitempty"`
	ExitCode int32  `json:"exitCode"`
	// Failed is a generator that did not finish its slice (crash, deadline,
	// k6 error); k6's exit 99 (its own thresholds, judged on a slice only)
	// is not a failure: the aggregate verdict decides.
	Failed bool   `json:"failed"`
	Reason string `json:"reason,omitempty"`
}

// ExitThresholds is k6's exit code when a threshold was crossed.
const ExitThresholds = 99

// Wait waits until every generator Job has finished (or ctx ends) and
// says how each ended.
func (c *Cluster) Wait(ctx context.Context, r *Rendered) ([]Outcome, error) {
	ns := r.ConfigMap.Namespace
	out := make([]Outcome, len(r.Generators))
	done := make([]bool, len(r.Generators))
	err := wait.PollUntilContextCancel(ctx, c.poll(), true, func(ctx context.Context) (bool, error) {
		all := true
		for i, g := range r.Generators {
			if done[i] {
				continue
			}
			j, err := c.Kube.BatchV1().Jobs(ns).Get(ctx, g.Job.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if !finished(j) {
				all = false
				continue
			}
			done[i] = true
			out[i] = c.outcome(ctx, ns, i, j)
			if out[i].Failed {
				c.logf("generator %d failed: %s", i, out[i].Reason)
			}
		}
		return all, nil
	})
	for i := range out {
		if !done[i] {
			out[i] = Outcome{Index: i, Job: r.Generators[i].Job.Name, Failed: true, Reason: "did not finish"}
		}
	}
	return out, err
}

func finished(j *batchv1.Job) bool {
	for _, cond := range j.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func (c *Cluster) outcome(ctx context.Context, ns string, i int, j *batchv1.Job) Outcome {
	o := Outcome{Index: i, Job: j.Name}
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + j.Name})
	if err == nil && len(pods.Items) > 0 {
		p := pods.Items[0]
		o.Pod = p.Name
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				o.ExitCode = t.ExitCode
				o.Reason = t.Reason
			}
		}
	}
	for _, cond := range j.Status.Conditions {
		if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue && o.ExitCode != ExitThresholds {
			o.Failed = true
			o.Reason = strings.TrimSpace(cond.Reason + " " + cond.Message + " " + o.Reason)
		}
	}
	return o
}

// Delete removes what Render made (also when the namespace is kept).
func (c *Cluster) Delete(ctx context.Context, r *Rendered) error {
	ns := r.ConfigMap.Namespace
	bg := metav1.DeletePropagationBackground
	var errs []error
	jobs := []*batchv1.Job{}
	if r.Provision != nil {
		jobs = append(jobs, r.Provision)
	}
	for _, g := range r.Generators {
		jobs = append(jobs, g.Job)
	}
	for _, j := range jobs {
		if err := c.Kube.BatchV1().Jobs(ns).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, r.ConfigMap.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
