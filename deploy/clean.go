package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// What runs leave behind when they are killed (SIGKILL, a second Ctrl-C,
// a teardown that timed out), found by the labels runs put on what they
// create:
//   - namespaces and cluster-scoped objects (CRDs, ClusterRoles, webhook
//     configurations of a third-party system) labelled RunLabel;
//   - Chaos Mesh objects (chaos/chaosmesh.go) and migration Jobs
//     (chaos/upgrade.go) labelled ManagedByLabel=perfrun, and k6's Jobs
//     (loadgen/jobs.go) labelled TestIDLabel, in any namespace.

// Labels that mark what perfrun made, beside RunLabel.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// TestIDLabel is loadgen's LabelTestID, on every k6 Job and its pods.
	TestIDLabel = "perfrun.dev/testid"
)

// chaosMeshGroup is the API group of every Chaos Mesh kind.
const chaosMeshGroup = "chaos-mesh.org"

// Stray is one object a run left in the cluster.
type Stray struct {
	Resource  schema.GroupVersionResource
	Kind      string
	Namespace string // "" for cluster-scoped objects
	Name      string
	// Run is the run id of its RunLabel or the k6 testid ("" if neither).
	Run     string
	Created time.Time
}

func (s Stray) String() string {
	what := strings.ToLower(s.Kind)
	if g := s.Resource.Group; g != "" {
		what += "." + g
	}
	what += " " + s.Name
	if s.Namespace != "" {
		what += " in " + s.Namespace
	}
	if s.Run != "" {
		what += " (run " + s.Run + ")"
	}
	return what
}

// FindStrays lists what perfrun runs left in the cluster, by their
// labels, created at least olderThan before now (0: everything; a run in
// progress carries the same labels, so on a shared cluster say how old a
// stray must be). Cluster-scoped objects come first, then namespaced ones,
// each by kind and name.
func (c *Client) FindStrays(ctx context.Context, olderThan time.Duration, now time.Time) ([]Stray, error) {
	lists, err := c.Kube.Discovery().ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		// A group that fails discovery (an aggregated API down) is skipped;
		// anything else means no list at all.
		return nil, fmt.Errorf("discovering the cluster's resources: %w", err)
	}
	var out []Stray
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			var selectors []string
			switch {
			case !r.Namespaced:
				selectors = []string{RunLabel}
			case gv.Group == chaosMeshGroup:
				selectors = []string{ManagedByLabel + "=perfrun"}
			case gv.Group == "batch" && r.Name == "jobs":
				selectors = []string{ManagedByLabel + "=perfrun", TestIDLabel}
			default:
				continue
			}
			gvr := gv.WithResource(r.Name)
			seen := map[string]bool{}
			for _, sel := range selectors {
				list, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: sel})
				if err != nil {
					return nil, fmt.Errorf("listing %s labelled %s: %w", gvr.GroupResource(), sel, err)
				}
				for _, o := range list.Items {
					key := o.GetNamespace() + "/" + o.GetName()
					created := o.GetCreationTimestamp().Time
					if seen[key] || now.Sub(created) < olderThan {
						continue
					}
					seen[key] = true
					labels := o.GetLabels()
					out = append(out, Stray{Resource: gvr, Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(),
						Run: firstNonEmpty(labels[RunLabel], labels[TestIDLabel]), Created: created})
				}
			}
		}
	}
	slices.SortFunc(out, cmpStrays)
	return out, nil
}

func cmpStrays(a, b Stray) int {
	if (a.Namespace == "") != (b.Namespace == "") {
		if a.Namespace == "" {
			return -1
		}
		return 1
	}
	for _, d := range []int{strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name)} {
		if d != 0 {
			return d
		}
	}
	return 0
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// RemoveStrays deletes strays in the order that lets each go: namespaced
// objects first (Chaos Mesh's while its controller can still lift their
// finalizers; Jobs with their pods), then namespaces, each waited for
// (bounded by timeout) until gone, then the other cluster-scoped objects,
// webhooks first and CRDs last as a run's own teardown does. Every one is
// tried; the errors are joined. done is told of each one removed.
func (c *Client) RemoveStrays(ctx context.Context, strays []Stray, timeout time.Duration, done func(Stray)) error {
	rank := func(s Stray) int {
		switch {
		case s.Namespace != "":
			return 0
		case s.Kind == "Namespace":
			return 1
		case s.Kind == "MutatingWebhookConfiguration" || s.Kind == "ValidatingWebhookConfiguration":
			return 2
		case s.Kind == "CustomResourceDefinition":
			return 4
		}
		return 3
	}
	strays = slices.Clone(strays)
	slices.SortStableFunc(strays, func(a, b Stray) int { return rank(a) - rank(b) })
	var errs []error
	background := metav1.DeletePropagationBackground
	for _, s := range strays {
		var err error
		if s.Kind == "Namespace" && s.Resource.Group == "" {
			err = c.DeleteNamespace(ctx, s.Name, timeout)
		} else {
			res := c.Dynamic.Resource(s.Resource)
			opts := metav1.DeleteOptions{PropagationPolicy: &background}
			if s.Namespace != "" {
				err = res.Namespace(s.Namespace).Delete(ctx, s.Name, opts)
			} else {
				err = res.Delete(ctx, s.Name, opts)
			}
			if apierrors.IsNotFound(err) {
				err = nil // gone already (with its namespace)
			}
			if err != nil {
				err = fmt.Errorf("deleting %s: %w", s, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if done != nil {
			done(s)
		}
	}
	return errors.Join(errs...)
}
