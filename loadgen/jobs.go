package loadgen

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels on everything loadgen creates.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelTestID    = "perfrun.dev/testid"
	LabelGenerator = "perfrun.dev/generator"
	LabelRole      = "perfrun.dev/k6-role"

	// APIPort is k6's REST API in the generator pods: the harness resumes
	// the paused generators through it, all together.
	APIPort = 6565

	scriptsDir = "/scripts"
)

// Spec is a distributed load: one script over Generators k6 Jobs.
type Spec struct {
	Namespace string
	// TestID tags every sample (testid) so that queries select this run.
	TestID string
	// Image holds bin/k6 at /usr/local/bin/k6 (BuildImage).
	Image string
	// Script is the file the generators run, a key of Files.
	Script string
	// Files are the scripts the load needs (the script and what it imports),
	// by file name; they go into one ConfigMap mounted at /scripts.
	Files map[string]string
	// Provision, when set, is a script (a key of Files) run once by a Job
	// before the generators are resumed; the generators then get
	// SKIP_PROVISION=1 so their setup() does not provision N times.
	Provision string
	// Targets is the scripts' TARGETS (the system's Service URL as pods see it).
	Targets string
	// Duration is the scripts' DURATION.
	Duration time.Duration
	// Env goes to every generator and the provisioning Job (-e KEY=VALUE).
	Env map[string]string
	// Generators is how many k6 Jobs share the load.
	Generators int
	// Keys is the size of the key space (APPS) cut between generators; 0
	// leaves it whole (the script must then not depend on disjoint keys).
	Keys int
	// RemoteWriteURL is the run's Prometheus remote-write endpoint.
	RemoteWriteURL string
	// CPU, when set, is each generator's CPU request and limit, so that a
	// CPU-starved generator shows as such (dropped iterations) instead of
	// taking CPU from the system under test.
	CPU string
	// Deadline bounds each Job (activeDeadlineSeconds).
	Deadline time.Duration
}

// Generator is one rendered k6 Job and its share.
type Generator struct {
	Segment Segment
	Keys    KeySlice
	Job     *batchv1.Job
}

// Rendered is everything a distributed load creates.
type Rendered struct {
	ConfigMap  *corev1.ConfigMap
	Provision  *batchv1.Job
	Generators []Generator
}

func (s Spec) validate() error {
	switch {
	case s.Namespace == "":
		return fmt.Errorf("loadgen: namespace is empty")
	case s.TestID == "":
		return fmt.Errorf("loadgen: testid is empty")
	case s.Image == "":
		return fmt.Errorf("loadgen: image is empty")
	case s.Files[s.Script] == "":
		return fmt.Errorf("loadgen: script %q is not among the files", s.Script)
	case s.Provision != "" && s.Files[s.Provision] == "":
		return fmt.Errorf("loadgen: provisioning script %q is not among the files", s.Provision)
	case s.Targets == "":
		return fmt.Errorf("loadgen: targets is empty")
	}
	if s.CPU != "" {
		if _, err := resource.ParseQuantity(s.CPU); err != nil {
			return fmt.Errorf("loadgen: cpu %q: %w", s.CPU, err)
		}
	}
	return nil
}

// Render makes the ConfigMap, the provisioning Job and the generator Jobs.
func Render(s Spec) (*Rendered, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	segs, err := Slice(s.Generators)
	if err != nil {
		return nil, err
	}
	var keys []KeySlice
	if s.Keys > 0 {
		if keys, err = Keys(segs, s.Keys); err != nil {
			return nil, err
		}
	}
	cmName := "k6-" + s.TestID + "-scripts"
	r := &Rendered{ConfigMap: &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: cmName, Namespace: s.Namespace, Labels: s.labels("scripts", -1)},
		Data:       maps.Clone(s.Files),
	}}
	if s.Provision != "" {
		inv := invocation{env: s.Env, own: map[string]string{"TARGETS": s.Targets}, flags: []string{"--no-summary"},
			script: path.Join(scriptsDir, s.Provision)}
		r.Provision = s.job("k6-"+s.TestID+"-provision", s.labels("provision", -1), cmName, inv.args(), false)
	}
	seq := Sequence(segs)
	for i, seg := range segs {
		own := map[string]string{
			"TARGETS":           s.Targets,
			"DURATION":          k6Duration(s.Duration),
			"GENERATOR":         strconv.Itoa(i),
			"GENERATORS":        strconv.Itoa(len(segs)),
			"EXECUTION_SEGMENT": seg.String(),
			"NAMESPACE":         s.Namespace,
			"TESTID":            s.TestID,
		}
		if s.Provision != "" {
			own["SKIP_PROVISION"] = "1"
		}
		g := Generator{Segment: seg}
		if keys != nil {
			g.Keys = keys[i]
			own["KEY_OFFSET"] = strconv.Itoa(g.Keys.Offset)
			own["KEY_COUNT"] = strconv.Itoa(g.Keys.Count)
		}
		inv := invocation{testID: s.TestID, env: s.Env, own: own, remoteWrite: true,
			// Paused until every generator is ready; then resumed at once.
			flags: []string{"--paused", "--address", fmt.Sprintf("0.0.0.0:%d", APIPort),
				"--execution-segment", seg.String(), "--execution-segment-sequence", seq},
			tags:   []string{"generator=" + strconv.Itoa(i)},
			script: path.Join(scriptsDir, s.Script)}
		g.Job = s.job(fmt.Sprintf("k6-%s-%d", s.TestID, i), s.labels("generator", i), cmName, inv.args(), true)
		r.Generators = append(r.Generators, g)
	}
	return r, nil
}

func (s Spec) labels(role string, gen int) map[string]string {
	l := map[string]string{LabelName: "k6", LabelTestID: s.TestID, LabelRole: role}
	if gen >= 0 {
		l[LabelGenerator] = strconv.Itoa(gen)
	}
	return l
}

func (s Spec) job(name string, labels map[string]string, cm string, args []string, generator bool) *batchv1.Job {
	zero, nonRoot, noEscalation := int32(0), true, false
	c := corev1.Container{
		Name:            "k6",
		Image:           s.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"/usr/local/bin/k6"},
		Args:            args,
		Env:             []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}},
		VolumeMounts:    []corev1.VolumeMount{{Name: "scripts", MountPath: scriptsDir, ReadOnly: true}},
		SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &nonRoot, AllowPrivilegeEscalation: &noEscalation,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	url := ""
	if generator {
		url = s.RemoteWriteURL
	}
	env := k6Environ(url, true)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: env[k]})
	}
	if generator {
		c.Ports = []corev1.ContainerPort{{Name: "k6-api", ContainerPort: APIPort}}
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v1/status", Port: intstr.FromInt32(APIPort)}},
			PeriodSeconds: 1,
		}
		if s.CPU != "" {
			q := resource.MustParse(s.CPU)
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q},
			}
		}
	}
	uid := int64(65532)
	j := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			// A generator that fails is not retried: a restarted slice would
			// offer its load twice or late; the run reports it failed.
			BackoffLimit: &zero,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: ptr(int64(30)),
					SecurityContext:               &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid},
					Containers:                    []corev1.Container{c},
					Volumes: []corev1.Volume{{Name: "scripts", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}},
				},
			},
		},
	}
	if s.Deadline > 0 {
		j.Spec.ActiveDeadlineSeconds = ptr(int64(s.Deadline.Seconds()))
	}
	return j
}

func ptr[T any](v T) *T { return &v }
