package assertions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

// KindCoreUtilization is, over every pod of some components, the lowest
// share of its CPU allocation (its container's CPU limit, one core without
// one) that its process used over the load after the ramp: the 3scale
// backend's claim that one async process per pod keeps its whole core
// busy under saturation, where a synchronous one waits on Redis.
const KindCoreUtilization = "coreUtilization"

// PodCPU is one pod of the run as deployed and the CPU it was given.
type PodCPU struct {
	Pod string
	// Workload is the Deployment or StatefulSet it belongs to.
	Workload string
	// Limits are its containers' CPU limits in cores, by container name;
	// 0 for a container without one.
	Limits map[string]float64
}

// Allocation is what a container of the pod was given, in cores: its CPU
// limit, or one core when it has none (one process uses at most one core
// of work at a time in the reference system's design). ok is false for a
// container the pod does not have. An empty container name stands for the
// pod's only container.
func (p PodCPU) Allocation(container string) (cores float64, name string, ok bool) {
	if container == "" && len(p.Limits) == 1 {
		container = slices.Collect(maps.Keys(p.Limits))[0]
	}
	lim, ok := p.Limits[container]
	if !ok {
		return 0, container, false
	}
	if lim <= 0 {
		return 1, container, true
	}
	return lim, container, true
}

type coreUtilizationKind struct{}

func (coreUtilizationKind) Name() string                 { return KindCoreUtilization }
func (coreUtilizationKind) Of(a scenario.Assertion) bool { return a.CoreUtilization != nil }

// Tolerance: a share of a core; CFS accounting moves by a few hundredths
// between runs of the same build.
func (coreUtilizationKind) Tolerance() (Tolerance, bool) {
	return Tolerance{Direction: "higher", Bound: ">=-5%", Floor: 0.03}, true
}

// coreQuery is the query template of the pods (names joined as a regular
// expression: a pod name is a DNS subdomain, '.' its only metacharacter,
// quoted). max by (pod, container) counts a process once when two scrape
// targets of the same container (two ports) both export it.
func coreQuery(c *scenario.CoreUtilization, pods []string) string {
	quoted := make([]string, len(pods))
	for i, p := range pods {
		quoted[i] = regexp.QuoteMeta(p)
	}
	re := strings.ReplaceAll(strings.Join(quoted, "|"), `\`, `\\`)
	return fmt.Sprintf(`max by (pod, container) (rate(%s{namespace="{{.namespace}}",pod=~"%s"}[{{.duration}}] @ {{.end}}))`, c.Metric, re)
}

// queries are the templates CheckQueries parses, with sample pod names.
func (coreUtilizationKind) queries(a scenario.Assertion) []string {
	c := a.CoreUtilization
	pods := make([]string, 0, len(c.Components))
	for _, w := range c.Components {
		pods = append(pods, w+"-7d9c8b6f5-x2k4q")
	}
	return []string{coreQuery(c, pods)}
}

func (coreUtilizationKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	c := a.CoreUtilization
	r := Result{Name: a.Name, Kind: KindCoreUtilization, Description: a.Description, Op: ">=", Bound: c.Min, Status: Error}
	what := fmt.Sprintf("CPU used / given (limit, or 1 core) per pod of %s ≥ %g", strings.Join(c.Components, ", "), c.Min)
	if env.PodsCPU == nil {
		r.Error = "this run has no cluster to read the pods' CPU limits from"
		return r
	}
	pods, err := env.PodsCPU(ctx, c.Components)
	if err != nil {
		r.Error = fmt.Sprintf("reading the pods' CPU limits: %v", err)
		return r
	}
	var missing []string
	for _, comp := range c.Components {
		if !slices.ContainsFunc(pods, func(p PodCPU) bool { return p.Workload == comp }) {
			missing = append(missing, comp)
		}
	}
	if len(missing) > 0 {
		r.Error = fmt.Sprintf("no pods of %s in the run's namespace", strings.Join(missing, ", "))
		return r
	}
	slices.SortFunc(pods, func(x, y PodCPU) int { return strings.Compare(x.Pod, y.Pod) })
	names := make([]string, len(pods))
	byName := map[string]PodCPU{}
	for i, p := range pods {
		names[i] = p.Pod
		byName[p.Pod] = p
	}

	w := env.Window
	if c.Skip.Duration > 0 && w.Start.Add(c.Skip.Duration).Before(w.End) {
		w.Start = w.Start.Add(c.Skip.Duration)
	}
	q, err := scenario.Expand(coreQuery(c, names), w)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Query = q
	ctx, cancel := (&Evaluator{}).withTimeout(ctx)
	defer cancel()
	v, _, _, err := env.Q.Query(ctx, q, w.End)
	if err != nil {
		r.Error = fmt.Sprintf("query: %v", err)
		return r
	}
	vec, ok := v.(model.Vector)
	if !ok {
		r.Error = fmt.Sprintf("query: want an instant vector, got %s", v.Type())
		return r
	}
	slices.SortFunc(vec, func(x, y *model.Sample) int {
		return strings.Compare(string(x.Metric["pod"])+"/"+string(x.Metric["container"]), string(y.Metric["pod"])+"/"+string(y.Metric["container"]))
	})

	var (
		parts []string
		lows  []float64
		seen  = map[string]bool{}
		errs  []error
	)
	for _, s := range vec {
		pod := string(s.Metric["pod"])
		p, ok := byName[pod]
		if !ok {
			continue
		}
		cores, container, ok := p.Allocation(string(s.Metric["container"]))
		if !ok {
			errs = append(errs, fmt.Errorf("pod %s: a series of container %q, which the pod does not have", pod, s.Metric["container"]))
			continue
		}
		seen[pod] = true
		used := float64(s.Value)
		ratio := used / cores
		lows = append(lows, ratio)
		label := pod
		if len(p.Limits) > 1 {
			label += "/" + container
		}
		parts = append(parts, fmt.Sprintf("%s %.2f (%.3f of %g cores)", label, ratio, used, cores))
		r.Series = append(r.Series, Series{
			Labels: map[string]string{"pod": pod, "container": container, "workload": p.Workload, "allocation": fmt.Sprint(cores)},
			Points: []Point{{T: int64(s.Timestamp), V: ratio}},
		})
	}
	for _, p := range names {
		if !seen[p] {
			errs = append(errs, fmt.Errorf("pod %s has no %s series over the window (is it scraped?)", p, c.Metric))
		}
	}
	if r.Description == "" {
		r.Description = what
	}
	if len(parts) > 0 {
		r.Description += ": " + strings.Join(parts, ", ")
	}
	if len(errs) > 0 {
		r.Error = errors.Join(errs...).Error()
		return r
	}
	val := worst(">=", c.Min, lows)
	r.Value = &val
	r.Status = Fail
	if Compare(">=", val, c.Min) {
		r.Status = Pass
	}
	return r
}
