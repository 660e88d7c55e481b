package scenario

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults for what a scenario leaves out.
const (
	DefaultReadyTimeout   = 3 * time.Minute
	DefaultLoadTimeout    = 2 * time.Minute
	DefaultDrainTimeout   = 2 * time.Minute
	DefaultDrainSettle    = 10 * time.Second
	DefaultUpgradeTimeout = 5 * time.Minute
	DefaultRangeStep      = 5 * time.Second
	DefaultTargetService  = "listener"
	DefaultTargetPort     = 3000
)

// SetDefaults fills what the file leaves out. Validate runs after it.
func SetDefaults(s *Scenario) {
	sp := &s.Spec
	sp.System.Metrics = sp.System.Metrics.WithDefaults(ReferenceMetrics())
	if sp.System.ReadyTimeout.Duration == 0 {
		sp.System.ReadyTimeout = D(DefaultReadyTimeout)
	}
	if sp.Load.Runner == "" {
		sp.Load.Runner = RunnerAuto
	}
	if sp.Load.Thresholds == nil {
		t := true
		sp.Load.Thresholds = &t
	}
	if sp.Load.Timeout.Duration == 0 {
		sp.Load.Timeout = D(DefaultLoadTimeout)
	}
	if !sp.Load.Target.Kubernetes {
		defTarget(&sp.Load.Target)
	}
	if sp.Drain.Timeout.Duration == 0 {
		sp.Drain.Timeout = D(DefaultDrainTimeout)
	}
	if sp.Drain.Settle.Duration == 0 {
		sp.Drain.Settle = D(DefaultDrainSettle)
	}
	for i := range sp.Chaos {
		for _, k := range sp.Chaos[i].Specs() {
			k.Default()
		}
	}
	for i := range sp.Assertions {
		a := &sp.Assertions[i]
		if r := a.Range; r != nil {
			if r.Step.Duration == 0 {
				r.Step = D(DefaultRangeStep)
			}
			if r.Reduce == "" {
				r.Reduce = "max"
			}
		}
		if d := a.Disruption; d != nil && d.Replicas == 0 {
			d.Replicas = s.killedReplicas(d.Chaos)
		}
		defaultObjectAssertion(s, a)
		defaultCoreUtilization(a)
		if n := a.NoLoss; n != nil {
			if n.AppPrefix == "" {
				n.AppPrefix = "app-"
			}
			if n.Metric == "" {
				n.Metric = "hits"
			}
			if n.K6Metric == "" {
				n.K6Metric = "backend_hits_accepted{metric:hits}"
			}
			defTarget(&n.Listener)
		}
	}
}

func defTarget(t *Target) {
	if t.Service == "" {
		t.Service = DefaultTargetService
	}
	if t.Port == 0 {
		t.Port = DefaultTargetPort
	}
}

// killedReplicas is the replicas of the component the pod action named
// chaos acts on, when the scenario sets them; 0 otherwise (preflight
// takes them from the rendered overlay).
func (s *Scenario) killedReplicas(chaos string) int32 {
	if c, ok := s.Spec.System.Components[s.podComponent(chaos)]; ok && c.Replicas != nil {
		return *c.Replicas
	}
	return 0
}

// podComponent is the component the pod action named chaos acts on ("" if
// there is no such pod action).
func (s *Scenario) podComponent(chaos string) string {
	for _, a := range s.Spec.Chaos {
		if pa, ok := a.Spec().(PodAction); ok && a.Name == chaos {
			return pa.Pods().Component
		}
	}
	return ""
}

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	assertName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// labelMatchers are PromQL label matchers without braces; values are
	// double-quoted without quotes or backslashes inside, so a selector can
	// never close the braces it is put in.
	labelMatchers = regexp.MustCompile(`^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"\\]*"\s*(,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"\\]*"\s*)*$`)
	// Ops are the comparisons an assertion may use.
	Ops = []string{"<", "<=", ">", ">=", "==", "!="}
)

// OwnedEnv are the scripts' -e names perfrun sets itself: the target, the
// duration, the run's namespace and test id, the kubeconfig of an object
// load and, for generators, their slice of the load (package loadgen).
var OwnedEnv = []string{"TARGETS", "DURATION", "NAMESPACE", "TESTID", "KUBECONFIG", "GENERATOR", "GENERATORS", "EXECUTION_SEGMENT", "KEY_OFFSET", "KEY_COUNT", "SKIP_PROVISION"}

// MaxNameLen keeps perfrun-NAME-RUNID within a namespace's 63 characters.
const MaxNameLen = 40

// Validate returns every problem of a defaulted scenario, each naming its
// field path; nil when it is good to run.
func Validate(s *Scenario) Errors {
	v := &validator{}
	if s.APIVersion != APIVersion {
		v.add("apiVersion", "want %q, got %q", APIVersion, s.APIVersion)
	}
	if s.Kind != Kind {
		v.add("kind", "want %q, got %q", Kind, s.Kind)
	}
	switch name := s.Metadata.Name; {
	case name == "":
		v.add("metadata.name", "required")
	case len(name) > MaxNameLen || !dnsLabel.MatchString(name):
		v.add("metadata.name", "must be a DNS label (lowercase letters, digits, '-') of at most %d characters, got %q", MaxNameLen, name)
	}
	v.system(&s.Spec.System)
	w := SampleWindow(s)
	metrics := s.Spec.System.Metrics.fields()
	for _, name := range sortedKeys(metrics) {
		if q, err := Expand(metrics[name], w); err != nil {
			v.add("spec.system.metrics."+name, "%v", err)
		} else if err := metricShapes[name](q); err != nil {
			v.add("spec.system.metrics."+name, "%v", err)
		}
	}
	v.load(&s.Spec.Load)
	actions := v.chaos(s)
	if q := s.Spec.Drain.Query; q != "" {
		v.promQL("spec.drain.query", q, w)
	}
	switch d := s.Spec.Drain; {
	case d.Stall.Duration < 0:
		v.add("spec.drain.stall", "must not be negative, got %s", d.Stall)
	case d.Stall.Duration > 0 && d.Query == "":
		v.add("spec.drain.stall", "needs spec.drain.query: it is how long the query's value may stay the same")
	case d.Stall.Duration >= d.Timeout.Duration && d.Stall.Duration > 0:
		v.add("spec.drain.stall", "must be shorter than spec.drain.timeout (%s), got %s", d.Timeout, d.Stall)
	}
	v.assertions(s, actions)
	return v.errs
}

type validator struct{ errs Errors }

// promQL checks a query template: it expands over a sample window of the
// scenario (every placeholder given a value of the kind a run gives it) and
// the result parses as PromQL.
func (v *validator) promQL(p, query string, w Window) {
	q, err := Expand(query, w)
	if err != nil {
		v.add(p, "%v", err)
		return
	}
	if err := CheckPromQL(q); err != nil {
		v.add(p, "%v (expanded: %s)", err, q)
	}
}

func (v *validator) add(p, msg string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: p, Msg: fmt.Sprintf(msg, args...)})
}

// relPath checks a repository-relative path under dir.
func (v *validator) relPath(p, field, dir string) {
	switch {
	case field == "":
	case path.IsAbs(field):
		v.add(p, "must be relative to the repository root, got %q", field)
	case path.Clean(field) != strings.TrimSuffix(field, "/") || strings.HasPrefix(path.Clean(field), ".."):
		v.add(p, "must be a clean path without '..', got %q", field)
	case !strings.HasPrefix(path.Clean(field)+"/", dir):
		v.add(p, "must be under %s, got %q", dir, field)
	}
}

func (v *validator) component(p string, c Component) {
	if c.Replicas != nil && *c.Replicas < 0 {
		v.add(p+".replicas", "must be ≥ 0, got %d", *c.Replicas)
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			v.add(p+".env."+k, "not a valid environment variable name")
		}
	}
	if r := c.Resources; r != nil {
		reqs := v.quantities(p+".resources.requests", r.Requests)
		lims := v.quantities(p+".resources.limits", r.Limits)
		for _, name := range sortedKeys(reqs) {
			if lim, ok := lims[name]; ok && lim.Cmp(reqs[name]) < 0 {
				v.add(p+".resources.requests."+name, "%s is above the limit %s (Kubernetes refuses the pod)", r.Requests[name], r.Limits[name])
			}
		}
	}
}

// resourceNames are the container resources a scenario may set.
var resourceNames = []string{"cpu", "memory", "ephemeral-storage"}

// quantities checks each named quantity and returns the valid ones, parsed.
func (v *validator) quantities(p string, m map[string]string) map[string]resource.Quantity {
	ok := map[string]resource.Quantity{}
	for _, name := range sortedKeys(m) {
		if !slices.Contains(resourceNames, name) {
			v.add(p+"."+name, "unknown resource (one of %s)", strings.Join(resourceNames, ", "))
			continue
		}
		q, err := resource.ParseQuantity(m[name])
		if err != nil {
			v.add(p+"."+name, "not a quantity: %q (e.g. 250m, 1, 64Mi)", m[name])
			continue
		}
		if q.Sign() <= 0 {
			v.add(p+"."+name, "must be > 0, got %s", m[name])
			continue
		}
		ok[name] = q
	}
	return ok
}

func (v *validator) system(sys *System) {
	if sys.Overlay == "" {
		v.add("spec.system.overlay", "required (a kustomize directory under fixtures/)")
	}
	v.relPath("spec.system.overlay", sys.Overlay, "fixtures/")
	if sys.Namespace != "" && (len(sys.Namespace) > 63 || !dnsLabel.MatchString(sys.Namespace)) {
		v.add("spec.system.namespace", "must be a DNS label, got %q", sys.Namespace)
	}
	for _, name := range sortedKeys(sys.Components) {
		p := "spec.system.components." + name
		if !dnsLabel.MatchString(name) {
			v.add(p, "component name must be a DNS label (the workload's name)")
		}
		v.component(p, sys.Components[name])
	}
}

func (v *validator) load(l *Load) {
	switch {
	case l.Script == "":
		v.add("spec.load.script", "required (a k6 script under fixtures/load/)")
	case !strings.HasSuffix(l.Script, ".js"):
		v.add("spec.load.script", "must be a .js k6 script, got %q", l.Script)
	}
	v.relPath("spec.load.script", l.Script, "fixtures/load/")
	if l.Duration.Duration <= 0 {
		v.add("spec.load.duration", "required and > 0 (e.g. 60s)")
	}
	if !slices.Contains([]string{RunnerAuto, RunnerLocal, RunnerJob}, l.Runner) {
		v.add("spec.load.runner", "must be auto, local or job, got %q", l.Runner)
	}
	for _, k := range sortedKeys(l.Env) {
		switch {
		case !envName.MatchString(k):
			v.add("spec.load.env."+k, "not a valid environment variable name")
		case k == "DURATION":
			if d, err := time.ParseDuration(l.Env[k]); err != nil || d != l.Duration.Duration {
				v.add("spec.load.env.DURATION", "perfrun sets DURATION to spec.load.duration (%s); leave it out or give the same, got %q", l.Duration, l.Env[k])
			}
		case slices.Contains(OwnedEnv, k):
			v.add("spec.load.env."+k, "set by perfrun for every k6 of the run; a scenario cannot set it")
		}
	}
	if t := l.Target; t.Kubernetes {
		if t.Service != "" || t.Port != 0 {
			v.add("spec.load.target", "kubernetes: true aims the load at the API server; leave service and port out")
		}
		if l.Generators > 0 || l.Runner == RunnerJob {
			v.add("spec.load.target.kubernetes", "an object load runs k6 here with the run's kubeconfig: it cannot use generators or runner: job yet")
		}
	} else {
		v.target("spec.load.target", l.Target)
	}
	v.distributed(l)
}

// maxGenerators matches loadgen.MaxGenerators (scenario does not import
// the packages that run it).
const maxGenerators = 256

func (v *validator) distributed(l *Load) {
	if l.Generators < 0 || l.Generators > maxGenerators {
		v.add("spec.load.generators", "must be 0..%d, got %d", maxGenerators, l.Generators)
	}
	if l.Generators > 0 && l.Runner == RunnerLocal {
		v.add("spec.load.runner", "generators run as Jobs in the cluster; runner local cannot have spec.load.generators")
	}
	d := l.Distributed
	if d == nil {
		return
	}
	if l.Generators == 0 {
		v.add("spec.load.distributed", "needs spec.load.generators > 0")
	}
	if d.Provision != "" {
		if !strings.HasSuffix(d.Provision, ".js") {
			v.add("spec.load.distributed.provision", "must be a .js k6 script, got %q", d.Provision)
		}
		v.relPath("spec.load.distributed.provision", d.Provision, "fixtures/load/")
	}
	if d.KeySpace != nil && (*d.KeySpace < 0 || *d.KeySpace > 0 && *d.KeySpace < l.Generators) {
		v.add("spec.load.distributed.keySpace", "must be 0 (not split) or at least one key per generator (%d), got %d", l.Generators, *d.KeySpace)
	}
	if d.CPU != "" && !cpuQuantity.MatchString(d.CPU) {
		v.add("spec.load.distributed.cpu", "must be a CPU quantity such as 500m or 1, got %q", d.CPU)
	}
}

var cpuQuantity = regexp.MustCompile(`^([0-9]+m|[0-9]+(\.[0-9]+)?)$`)

func (v *validator) target(p string, t Target) {
	if !dnsLabel.MatchString(t.Service) {
		v.add(p+".service", "must be a Service name (DNS label), got %q", t.Service)
	}
	if t.Port < 1 || t.Port > 65535 {
		v.add(p+".port", "must be 1..65535, got %d", t.Port)
	}
}

// chaos validates the timeline and returns the actions by name.
func (v *validator) chaos(s *Scenario) map[string]*Action {
	byName := map[string]*Action{}
	for i := range s.Spec.Chaos {
		a := &s.Spec.Chaos[i]
		p := fmt.Sprintf("spec.chaos[%d]", i)
		switch {
		case a.Name == "":
			v.add(p+".name", "required")
		case !identifier.MatchString(a.Name):
			v.add(p+".name", "must be an identifier ([A-Za-z_][A-Za-z0-9_]*) so queries can write {{.chaos.%s.start}}, got %q", a.Name, a.Name)
		case byName[a.Name] != nil:
			v.add(p+".name", "duplicate action name %q", a.Name)
		default:
			byName[a.Name] = a
		}
		if a.At.Duration >= s.Spec.Load.Duration.Duration && s.Spec.Load.Duration.Duration > 0 {
			v.add(p+".at", "must be before the load ends (%s), got %s", s.Spec.Load.Duration, a.At)
		}
		kinds := a.Specs()
		for _, k := range kinds {
			v.errs = append(v.errs, k.Validate(p+"."+k.Kind(), s)...)
		}
		if len(kinds) != 1 {
			v.add(p, "exactly one of %s must be set, got %d", strings.Join(ActionKinds(), ", "), len(kinds))
		}
	}
	return byName
}

func (v *validator) assertions(s *Scenario, actions map[string]*Action) {
	names := map[string]bool{}
	w := SampleWindow(s)
	for i := range s.Spec.Assertions {
		a := &s.Spec.Assertions[i]
		p := fmt.Sprintf("spec.assertions[%d]", i)
		switch {
		case a.Name == "":
			v.add(p+".name", "required")
		case !assertName.MatchString(a.Name):
			v.add(p+".name", "must be letters, digits, '_', '.', '-', got %q", a.Name)
		case names[a.Name]:
			v.add(p+".name", "duplicate assertion name %q", a.Name)
		}
		names[a.Name] = true

		kinds := 0
		for _, set := range append([]bool{a.Query != "", a.Throughput != nil, a.EvenDistribution != nil, a.Disruption != nil, a.NoLoss != nil,
			a.CoreUtilization != nil, a.ExclusiveOwnership != nil}, objectKinds(a)...) {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			v.add(p, "exactly one of query, throughput, evenDistribution, disruption, noLoss, coreUtilization, exclusiveOwnership, %s must be set, got %d", objectKindKeys, kinds)
		}
		if a.Query != "" {
			v.promQL(p+".query", a.Query, w)
			if !slices.Contains(Ops, a.Op) {
				v.add(p+".op", "must be one of %s, got %q", strings.Join(Ops, " "), a.Op)
			}
			if a.Bound == nil {
				v.add(p+".bound", "required with query")
			}
		} else {
			if a.Op != "" {
				v.add(p+".op", "only with query (ready-made assertions have their own)")
			}
			if a.Bound != nil {
				v.add(p+".bound", "only with query (ready-made assertions have their own)")
			}
			if a.Range != nil {
				v.add(p+".range", "only with query")
			}
		}
		if r := a.Range; r != nil {
			if r.Step.Duration <= 0 {
				v.add(p+".range.step", "must be > 0")
			}
			if !slices.Contains(Reducers, r.Reduce) {
				v.add(p+".range.reduce", "must be one of %s, got %q", strings.Join(Reducers, " "), r.Reduce)
			}
			if r.Skip.Duration >= s.Spec.Load.Duration.Duration && s.Spec.Load.Duration.Duration > 0 {
				v.add(p+".range.skip", "must be shorter than the load (%s)", s.Spec.Load.Duration)
			}
		}
		if t := a.Throughput; t != nil {
			if t.Floor <= 0 {
				v.add(p+".throughput.floor", "must be > 0 (requests per second)")
			}
			if t.Skip.Duration >= s.Spec.Load.Duration.Duration && s.Spec.Load.Duration.Duration > 0 {
				v.add(p+".throughput.skip", "must be shorter than the load (%s)", s.Spec.Load.Duration)
			}
			if t.Selector != "" {
				if sel, err := Expand(t.Selector, w); err != nil {
					v.add(p+".throughput.selector", "%v", err)
				} else if err := checkSelector(sel); err != nil {
					v.add(p+".throughput.selector", "%v", err)
				}
			}
		}
		if e := a.EvenDistribution; e != nil {
			if e.Max < 1 {
				v.add(p+".evenDistribution.max", "must be ≥ 1 (max/mean is never below 1), got %g", e.Max)
			}
			if e.Metric != "" {
				if err := checkMetricName(e.Metric); err != nil {
					v.add(p+".evenDistribution.metric", "%v", err)
				}
			}
			if e.By != "" {
				if err := checkLabelNames(e.By); err != nil {
					v.add(p+".evenDistribution.by", "%v", err)
				}
			}
			if e.Selector != "" && !labelMatchers.MatchString(e.Selector) {
				v.add(p+".evenDistribution.selector", `must be label matchers such as success="true" or a=~"x|y",b!="z", got %q`, e.Selector)
			}
			if e.After != "" && actions[e.After] == nil {
				v.add(p+".evenDistribution.after", "no chaos action named %q", e.After)
			}
			if e.After != "" && e.Gauge {
				v.add(p+".evenDistribution.after", "a gauge is read at the end; after applies to counters only")
			}
		}
		if d := a.Disruption; d != nil {
			switch act := actions[d.Chaos]; {
			case d.Chaos == "":
				v.add(p+".disruption.chaos", "required: the podKill action whose window is measured")
			case act == nil:
				v.add(p+".disruption.chaos", "no chaos action named %q", d.Chaos)
			case act.PodKill == nil:
				v.add(p+".disruption.chaos", "action %q is not a podKill", d.Chaos)
			}
			// 0 is unset: preflight takes the killed component's
			// replicas from the rendered overlay (FillReplicas).
			if d.Replicas < 0 {
				v.add(p+".disruption.replicas", "must be ≥ 1, got %d", d.Replicas)
			}
			if d.Tolerance < 0 || d.Tolerance >= 1 {
				v.add(p+".disruption.tolerance", "must be in [0, 1), got %g", d.Tolerance)
			}
			if d.Histogram != "" {
				if err := checkMetricName(d.Histogram); err != nil {
					v.add(p+".disruption.histogram", "%v (the histogram's name without _bucket)", err)
				}
			}
			if d.Deadline == "" {
				v.add(p+".disruption.deadline", "required: the latency bucket (le) an item must make, e.g. \"1\"")
			}
		}
		if n := a.NoLoss; n != nil {
			if n.Service == "" {
				v.add(p+".noLoss.service", "required: the service id the load reports to")
			}
			if n.Apps < 1 {
				v.add(p+".noLoss.apps", "must be ≥ 1, got %d", n.Apps)
			}
			if n.Tolerance < 0 {
				v.add(p+".noLoss.tolerance", "must be ≥ 0")
			}
			v.target(p+".noLoss.listener", n.Listener)
		}
		v.objectAssertion(p, a, actions)
		if c := a.CoreUtilization; c != nil {
			v.coreUtilization(p, s, c)
		}
		if o := a.ExclusiveOwnership; o != nil {
			v.exclusiveOwnership(p, o)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FillReplicas sets the replicas of every disruption and objectDisruption
// that neither the file nor spec.system.components gave, from the workloads
// the overlay renders (replicas by workload name, an HPA's maxReplicas
// where one scales it): a system brought with its own manifests, such as
// Tekton's StatefulSet, says its replicas there, not in the scenario. A
// component the overlay does not have, or has with no replicas, is an
// error naming the field.
func (s *Scenario) FillReplicas(replicas func(component string) (int32, bool)) error {
	var errs []error
	fill := func(p string, r *int32, chaos string) {
		if *r != 0 {
			return
		}
		comp := s.podComponent(chaos)
		if comp == "" {
			return // validation named the action
		}
		n, ok := replicas(comp)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s.replicas: not set, and the overlay has no workload %q to read them from", p, comp))
		case n < 1:
			errs = append(errs, fmt.Errorf("%s.replicas: not set, and the overlay's %s has no replicas (%d): set them here or in spec.system.components", p, comp, n))
		default:
			*r = n
		}
	}
	for i := range s.Spec.Assertions {
		a := &s.Spec.Assertions[i]
		p := fmt.Sprintf("spec.assertions[%d]", i)
		if d := a.Disruption; d != nil {
			fill(p+".disruption", &d.Replicas, d.Chaos)
		}
		if o := a.ObjectDisruption; o != nil {
			fill(p+".objectDisruption", &o.Replicas, o.Chaos)
		}
	}
	return errors.Join(errs...)
}
