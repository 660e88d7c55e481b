// Package systems are the systems under test that perfrun did not write:
// each is built from a pinned upstream Go module (tools/<name>), its
// images made here with no registry, and its own release manifests taken
// from that module, so a run judges the real program, not an imitation.
// A scenario names one by spec.system.source {name, version}; its
// spec.system.overlay is then a kustomize overlay over the staged release
// (fixtures/<name>/...). One folder per system beside this file, as the
// cluster providers are.
package systems

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/images"
	"github.com/perfrun/perfrun/scenario"
)

// Source is one third-party system perfrun knows how to build and deploy.
type Source interface {
	// Name is the system as spec.system.source.name spells it.
	Name() string
	// Versions are the versions it can build, the default first.
	Versions() []string
	// HomeNamespace is the namespace its release manifests install into;
	// a run moves every object and every reference to it into its own.
	HomeNamespace() string
	// Stage writes the release manifests of version as a kustomize
	// directory at dir (overlays in fixtures/<name>/ name it ../upstream).
	Stage(ctx context.Context, repo, version, dir string) error
	// Resolve names the images Images builds in the rendered objects,
	// wherever the release or an overlay refers to the programs.
	Resolve(objs []*unstructured.Unstructured) error
	// Images builds (or finds in cacheDir) the image tarballs of version's
	// programs that run on real nodes. Progress goes to log.
	Images(ctx context.Context, repo, cacheDir, version string, log io.Writer) ([]images.Built, error)
	// Check refuses rendered objects that cannot work: a setting the
	// program would silently ignore or fall back from.
	Check(objs []*unstructured.Unstructured) error
	// WaitServing waits, after the workloads are Ready, until the system
	// answers what the load will ask of it (webhooks with certificates...).
	WaitServing(ctx context.Context, c *deploy.Client, ns string, timeout time.Duration) error
}

// registry is every system, by name. Each system's package adds itself
// here through Register from its own init (imported by cmd and suites).
var registry = map[string]Source{}

// Register adds a system; a second one of the same name is a programming
// error.
func Register(s Source) {
	if _, dup := registry[s.Name()]; dup {
		panic("systems: " + s.Name() + " registered twice")
	}
	registry[s.Name()] = s
}

// Names are the registered systems, sorted.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Lookup is the system a scenario's source names, with its version
// defaulted; the errors name the field.
func Lookup(src *scenario.Source) (Source, string, error) {
	s, ok := registry[src.Name]
	if !ok {
		return nil, "", fmt.Errorf("spec.system.source.name: no system %q (known: %s)", src.Name, strings.Join(Names(), ", "))
	}
	v := src.Version
	if v == "" {
		v = s.Versions()[0]
	}
	if !slices.Contains(s.Versions(), v) {
		return nil, "", fmt.Errorf("spec.system.source.version: %s has no version %q (known: %s)", src.Name, v, strings.Join(s.Versions(), ", "))
	}
	return s, v, nil
}

// Rendered is a third-party system's objects, ready to apply: Cluster are
// its cluster-scoped objects (CRDs first), Namespaced go into the run's
// namespace.
type Rendered struct {
	Source     Source
	Version    string
	Namespaced []*unstructured.Unstructured
	Cluster    []*unstructured.Unstructured
}

// Render stages sys's source and builds its overlay over it: fixtures/<name>
// is copied beside the staged release so that the overlay's relative paths
// hold, then rendered, checked and placed into ns.
func Render(ctx context.Context, repo string, sys scenario.System, ns string) (*Rendered, error) {
	src, version, err := Lookup(sys.Source)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "perfrun-"+src.Name()+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	fixtures := filepath.Join("fixtures", src.Name())
	if err := copyTree(filepath.Join(repo, fixtures), filepath.Join(tmp, fixtures)); err != nil {
		return nil, fmt.Errorf("staging %s: %w", fixtures, err)
	}
	if err := src.Stage(ctx, repo, version, filepath.Join(tmp, fixtures, "upstream")); err != nil {
		return nil, fmt.Errorf("staging %s %s: %w", src.Name(), version, err)
	}
	rel, err := filepath.Rel(fixtures, filepath.Clean(sys.Overlay))
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("spec.system.overlay: with source %s the overlay must be under %s/, got %s", src.Name(), fixtures, sys.Overlay)
	}
	objs, err := deploy.Render(filepath.Join(tmp, fixtures, rel))
	if err != nil {
		return nil, fmt.Errorf("spec.system.overlay: %w", err)
	}
	if err := src.Resolve(objs); err != nil {
		return nil, fmt.Errorf("%s %s (%s): %w", src.Name(), version, sys.Overlay, err)
	}
	if err := deploy.Customize(objs, sys.Components); err != nil {
		return nil, err
	}
	if err := src.Check(objs); err != nil {
		return nil, fmt.Errorf("%s %s (%s): %w", src.Name(), version, sys.Overlay, err)
	}
	r := &Rendered{Source: src, Version: version}
	scope := deploy.Scopes(objs)
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			continue // the run's namespace stands in for it
		}
		deploy.Relocate(o, src.HomeNamespace(), ns)
		if scope.Namespaced(o) {
			r.Namespaced = append(r.Namespaced, o)
		} else {
			r.Cluster = append(r.Cluster, o)
		}
	}
	return r, nil
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}
