package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/objects"
	"github.com/perfrun/perfrun/objects/watcher"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// How long the watchers may take to list and start watching before the
// load: an object watcher that cannot is an error (its assertions could
// not be decided); the Lease watcher only a line.
const (
	objectSyncTimeout = 30 * time.Second
	leaseSyncTimeout  = 10 * time.Second
)

// objectWatch is the run's watchers: the Lease watcher of the namespace
// always, and one object watcher per resource and selector that an
// objectLatency or objectDisruption assertion names. They start after
// deploy and stop after the drain; what they saw goes to objects.json and
// leases.json and to the assertions.
type objectWatch struct {
	leases  *watcher.Leases
	objs    map[string]*watcher.Objects
	order   []string
	stopped bool
	sets    map[string]objects.Set
	spans   []objects.LeaseSpan
}

func objectKey(resource, selector string) string { return resource + "\x00" + selector }

// objectTarget is a resource and selector to watch and the field that
// first named it.
type objectTarget struct{ resource, selector, field string }

func objectTargets(as []scenario.Assertion) []objectTarget {
	var out []objectTarget
	seen := map[string]bool{}
	add := func(resource, selector, field string) {
		if k := objectKey(resource, selector); !seen[k] {
			seen[k] = true
			out = append(out, objectTarget{resource, selector, field})
		}
	}
	for i, a := range as {
		if o := a.ObjectLatency; o != nil {
			add(o.Resource, o.Selector, fmt.Sprintf("spec.assertions[%d].objectLatency.resource", i))
		}
		if o := a.ObjectDisruption; o != nil {
			add(o.Resource, o.Selector, fmt.Sprintf("spec.assertions[%d].objectDisruption.resource", i))
		}
	}
	return out
}

// resolveResource is a scenario's RESOURCE[.GROUP][/VERSION] as the
// cluster serves it.
func resolveResource(m meta.RESTMapper, resource string) (schema.GroupVersionResource, error) {
	res, group, version, err := objects.ParseResource(resource)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	gvr, err := m.ResourceFor(schema.GroupVersionResource{Group: group, Version: version, Resource: res})
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("%q is not a resource the cluster serves (is its CRD installed by the overlay?): %w", resource, err)
	}
	return gvr, nil
}

// watchObjects starts the watchers and waits until they watch.
func (r *runState) watchObjects(ctx context.Context) error {
	// Deploy may just have installed the CRDs the assertions name.
	if rm, ok := r.dc.Mapper.(meta.ResettableRESTMapper); ok {
		rm.Reset()
	}
	ow := &objectWatch{objs: map[string]*watcher.Objects{}}
	targets := objectTargets(r.s.Spec.Assertions)
	gvrs := make([]schema.GroupVersionResource, len(targets))
	for i, t := range targets {
		gvr, err := resolveResource(r.dc.Mapper, t.resource)
		if err != nil {
			return fmt.Errorf("%s: %w", t.field, err)
		}
		gvrs[i] = gvr
	}
	r.objw = ow
	for i, t := range targets {
		w := watcher.NewObjects(r.dc.Dynamic, watcher.Config{Resource: t.resource, GVR: gvrs[i], Namespace: r.ns, Selector: t.selector})
		k := objectKey(t.resource, t.selector)
		ow.objs[k], ow.order = w, append(ow.order, k)
		w.Start(ctx)
	}
	ow.leases = watcher.NewLeases(r.dc.Dynamic, watcher.LeaseConfig{Namespace: r.ns})
	ow.leases.Start(ctx)
	for i, t := range targets {
		if err := ow.objs[ow.order[i]].WaitSynced(ctx, objectSyncTimeout); err != nil {
			return fmt.Errorf("%s: watching %s in %s: %w", t.field, t.resource, r.ns, err)
		}
		sel := ""
		if t.selector != "" {
			sel = " (" + t.selector + ")"
		}
		r.p.Linef("watching %s%s in %s", gvrs[i].String(), sel, r.ns)
	}
	if err := ow.leases.WaitSynced(ctx, leaseSyncTimeout); err != nil {
		r.p.Linef("watching leases in %s: %v (lease holders may be missing from the result)", r.ns, err)
	}
	return nil
}

// stopObjects stops the watchers (once), keeps what they saw for the
// assertions and writes objects.json and leases.json.
func (r *runState) stopObjects() {
	ow := r.objw
	if ow == nil || ow.stopped {
		return
	}
	ow.stopped = true
	ow.sets = map[string]objects.Set{}
	var sets []objects.Set
	for _, k := range ow.order {
		w := ow.objs[k]
		w.Stop()
		set := w.Set()
		ow.sets[k] = set
		sets = append(sets, set)
		if set.Dropped > 0 {
			r.p.Linef("%s: %d objects past the watcher's cap were not recorded", set.Resource, set.Dropped)
		}
	}
	if len(sets) > 0 {
		if err := result.WriteObjects(r.dir, sets); err != nil {
			r.p.Linef("writing %s: %v", result.ObjectsFile, err)
		}
	}
	if ow.leases == nil {
		return
	}
	ow.leases.Stop()
	lf := ow.leases.File()
	ow.spans = lf.Spans
	if len(lf.Spans) > 0 {
		r.res.Leases = &lf.Summary
		r.p.Linef("leases: %s", lf.Summary.Describe(r.res.LoadStart))
	}
	if err := result.WriteLeases(r.dir, lf); err != nil {
		r.p.Linef("writing %s: %v", result.LeasesFile, err)
	}
}

// objectsEnv gives the assertions what the watchers saw.
func (r *runState) objectsEnv(env *assertions.Env) {
	ow := r.objw
	if ow == nil {
		return
	}
	r.stopObjects()
	env.Objects = func(_ context.Context, resource, selector string) ([]objects.Record, error) {
		set, ok := ow.sets[objectKey(resource, selector)]
		if !ok {
			return nil, fmt.Errorf("this run did not watch %s%s", resource, strings.TrimSuffix(" with selector "+selector, " with selector "))
		}
		return set.Records, nil
	}
	env.Leases = func() []objects.LeaseSpan { return ow.spans }
}
