package loadgen

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func spec() Spec {
	return Spec{
		Namespace: "ns", TestID: "abc", Image: "perfrun/k6:1", Script: "throughput.js",
		Files:     map[string]string{"throughput.js": "x", "lib.js": "y", "provision.js": "z"},
		Provision: "provision.js", Targets: "http://198.19.0.5:3000", Duration: 30 * time.Second,
		Env: map[string]string{"RATE": "200", "APPS": "10"}, Generators: 3, Keys: 10,
		RemoteWriteURL: "http://198.18.255.1:9090/api/v1/write", CPU: "500m", Deadline: 5 * time.Minute,
	}
}

// argValue is the value after flag in args, each occurrence.
func argValues(args []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestRenderJobs(t *testing.T) {
	r, err := Render(spec())
	if err != nil {
		t.Fatal(err)
	}
	if r.ConfigMap.Name != "k6-abc-scripts" || len(r.ConfigMap.Data) != 3 {
		t.Fatalf("configmap %s with %d files", r.ConfigMap.Name, len(r.ConfigMap.Data))
	}
	if r.Provision == nil {
		t.Fatal("no provisioning Job")
	}
	pargs := r.Provision.Spec.Template.Spec.Containers[0].Args
	if pargs[len(pargs)-1] != "/scripts/provision.js" || slices.Contains(pargs, "--paused") {
		t.Errorf("provisioning args %q", pargs)
	}
	if len(r.Generators) != 3 {
		t.Fatalf("%d generators", len(r.Generators))
	}
	names := map[string]bool{}
	keysCovered := 0
	for i, g := range r.Generators {
		j := g.Job
		names[j.Name] = true
		if j.Namespace != "ns" || j.Labels[LabelGenerator] != strconv.Itoa(i) || j.Spec.Template.Labels[LabelTestID] != "abc" {
			t.Errorf("generator %d: metadata %s/%s %v", i, j.Namespace, j.Name, j.Labels)
		}
		if *j.Spec.BackoffLimit != 0 || *j.Spec.ActiveDeadlineSeconds != 300 {
			t.Errorf("generator %d: backoff %d deadline %d", i, *j.Spec.BackoffLimit, *j.Spec.ActiveDeadlineSeconds)
		}
		c := j.Spec.Template.Spec.Containers[0]
		if c.Image != "perfrun/k6:1" || c.Resources.Limits.Cpu().String() != "500m" {
			t.Errorf("generator %d: image %s cpu %s", i, c.Image, c.Resources.Limits.Cpu())
		}
		a := c.Args
		if a[0] != "run" || a[len(a)-1] != "/scripts/throughput.js" || !slices.Contains(a, "--paused") {
			t.Errorf("generator %d: args %q", i, a)
		}
		if seg := argValues(a, "--execution-segment"); len(seg) != 1 || seg[0] != g.Segment.String() {
			t.Errorf("generator %d: segment %q want %s", i, seg, g.Segment)
		}
		if seq := argValues(a, "--execution-segment-sequence"); len(seq) != 1 || seq[0] != "0,1/3,2/3,1" {
			t.Errorf("generator %d: sequence %q", i, seq)
		}
		tags := argValues(a, "--tag")
		if !slices.Contains(tags, "testid=abc") || !slices.Contains(tags, "generator="+strconv.Itoa(i)) {
			t.Errorf("generator %d: tags %q", i, tags)
		}
		env := argValues(a, "-e")
		for _, want := range []string{"RATE=200", "SKIP_PROVISION=1", "TARGETS=http://198.19.0.5:3000", "DURATION=30s"} {
			if !slices.Contains(env, want) {
				t.Errorf("generator %d: env %q lacks %s", i, env, want)
			}
		}
		if !slices.Contains(env, "KEY_OFFSET="+strconv.Itoa(g.Keys.Offset)) || !slices.Contains(env, "KEY_COUNT="+strconv.Itoa(g.Keys.Count)) {
			t.Errorf("generator %d: env %q lacks its key slice %+v", i, env, g.Keys)
		}
		keysCovered += g.Keys.Count
		var rw, native bool
		for _, e := range c.Env {
			rw = rw || e.Name == "K6_PROMETHEUS_RW_SERVER_URL" && e.Value == "http://198.18.255.1:9090/api/v1/write"
			native = native || e.Name == "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM" && e.Value == "true"
		}
		if !rw || !native {
			t.Errorf("generator %d: remote write %v, native histograms %v", i, rw, native)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Port.IntValue() != APIPort {
			t.Errorf("generator %d: no readiness on k6's API", i)
		}
		if v := j.Spec.Template.Spec.Volumes[0].ConfigMap; v == nil || v.Name != r.ConfigMap.Name {
			t.Errorf("generator %d: scripts volume %+v", i, j.Spec.Template.Spec.Volumes)
		}
	}
	if len(names) != 3 || keysCovered != 10 {
		t.Fatalf("names %v, keys covered %d", names, keysCovered)
	}
}

func TestRenderWithoutProvisioningOrKeys(t *testing.T) {
	s := spec()
	s.Provision, s.Keys, s.Generators = "", 0, 2
	r, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	if r.Provision != nil {
		t.Fatal("provisioning Job without a provisioning script")
	}
	for _, g := range r.Generators {
		env := strings.Join(argValues(g.Job.Spec.Template.Spec.Containers[0].Args, "-e"), " ")
		if strings.Contains(env, "SKIP_PROVISION") || strings.Contains(env, "KEY_OFFSET") {
			t.Errorf("generator %d: env %s", g.Segment.Index, env)
		}
	}
}

func TestRenderRejectsBadSpecs(t *testing.T) {
	for name, mut := range map[string]func(*Spec){
		"namespace":    func(s *Spec) { s.Namespace = "" },
		"script":       func(s *Spec) { s.Script = "nope.js" },
		"provisioning": func(s *Spec) { s.Provision = "nope.js" },
		"cpu":          func(s *Spec) { s.CPU = "lots" },
		"generators":   func(s *Spec) { s.Generators = 0 },
		"key space":    func(s *Spec) { s.Keys = 2 },
		"targets":      func(s *Spec) { s.Targets = "" },
	} {
		s := spec()
		mut(&s)
		if _, err := Render(s); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name it", name, err)
		}
	}
}
