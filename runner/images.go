package runner

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/chaos"
	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/images"
)

// A cluster with no registry (local, kind) has the reference system's
// images only once someone loaded them; a run that deploys without them
// has every pod in ErrImageNeverPull or ImagePullBackOff. So a run loads
// the images the scenario names that the cluster lacks, as `perfrun
// cluster load` would, before it deploys.

// systemImage is an image of the reference system that perfrun builds
// from this repository: perfrun/<program>:<tag> for images.Programs, and
// perfrun/redis.
type systemImage struct {
	Ref     string // as the runtime names it: docker.io/perfrun/listener:v1
	Program string // listener, worker, controller, migrate, or redis
	Tag     string
}

// systemImages picks the reference system's images out of refs,
// deduplicated, sorted. Other images (a registry's, one named by digest)
// are not perfrun's to build.
func systemImages(refs []string) []systemImage {
	seen := map[string]bool{}
	var out []systemImage
	for _, ref := range refs {
		name := strings.TrimPrefix(ref, "docker.io/")
		if strings.Contains(name, "@") {
			continue
		}
		repo, tag, ok := strings.Cut(name, ":")
		if !ok {
			tag = "latest" // as Kubernetes reads a name without a tag
		}
		program, ok := strings.CutPrefix(repo, "perfrun/")
		if !ok || !(program == "redis" || slices.Contains(images.Programs, program)) {
			continue
		}
		img := systemImage{Ref: "docker.io/perfrun/" + program + ":" + tag, Program: program, Tag: tag}
		if !seen[img.Ref] {
			seen[img.Ref] = true
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(a, b systemImage) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// imageLoader is what loading missing images needs; the run's provider and
// images' builders, fakes in tests.
type imageLoader struct {
	list  func(ctx context.Context) ([]string, error)
	build func(ctx context.Context, img systemImage) (images.Built, error)
	load  func(ctx context.Context, tarballs []string) error
	say   func(format string, args ...any)
	// builtAt is when the image's tarball was last built here (false when
	// this machine has none: then its age is unknown and it is kept).
	builtAt func(img systemImage) (time.Time, bool)
	// newest is the program's newest source file and its time.
	newest func(ctx context.Context, program string) (string, time.Time, error)
}

// loadMissing builds and loads the images of want that the cluster does
// not hold, or holds as built before a source file of theirs changed,
// saying which and why; it returns the ones it loaded.
func (l imageLoader) loadMissing(ctx context.Context, want []systemImage) ([]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	have, err := l.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the cluster's images: %w", err)
	}
	var missing, stale []systemImage
	var why []string
	type source struct {
		file string
		at   time.Time
		err  error
	}
	sources := map[string]source{} // each program's asked once
	for _, img := range want {
		if !slices.Contains(have, img.Ref) {
			missing = append(missing, img)
			continue
		}
		if img.Program == "redis" || l.builtAt == nil || l.newest == nil {
			continue // Debian's redis-server is not built from this tree
		}
		at, ok := l.builtAt(img)
		if !ok {
			continue
		}
		src, seen := sources[img.Program]
		if !seen {
			src.file, src.at, src.err = l.newest(ctx, img.Program)
			sources[img.Program] = src
		}
		if src.err != nil {
			// The age is a convenience: a failed probe keeps the image.
			l.say("cannot tell whether %s is older than the source tree: %v", short(img.Ref), src.err)
			continue
		}
		if src.at.After(at) {
			stale = append(stale, img)
			why = append(why, fmt.Sprintf("%s (%s changed since it was built)", short(img.Ref), src.file))
		}
	}
	if len(missing) == 0 && len(stale) == 0 {
		return nil, nil
	}
	var refs []string
	for _, img := range missing {
		refs = append(refs, short(img.Ref))
	}
	if len(missing) > 0 {
		l.say("images missing from the cluster: %s; building and loading them (as perfrun cluster load does)", strings.Join(refs, ", "))
	}
	if len(stale) > 0 {
		l.say("images older than the source tree: %s; rebuilding and loading them", strings.Join(why, ", "))
		for _, img := range stale {
			refs = append(refs, short(img.Ref))
		}
	}
	var tars []string
	for _, img := range append(missing, stale...) {
		b, err := l.build(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", img.Ref, err)
		}
		tars = append(tars, b.Tarball)
	}
	if err := l.load(ctx, tars); err != nil {
		return nil, fmt.Errorf("loading %s: %w", strings.Join(refs, ", "), err)
	}
	return refs, nil
}

// short is an image's name as manifests write it.
func short(ref string) string { return strings.TrimPrefix(ref, "docker.io/") }

// ensureImages loads the reference system's images that the rendered
// objects and the chaos timeline's upgrades name and the cluster lacks,
// when the provider can say what its nodes hold (local, kind).
func (r *runState) ensureImages(ctx context.Context, objs []*unstructured.Unstructured) error {
	lister, ok := r.provider.(cluster.ImageLister)
	if !ok {
		return nil
	}
	refs := slices.Collect(maps.Values(deploy.Images(objs)))
	later, err := chaos.Images(r.opts.Repo, r.s)
	if err != nil {
		return err
	}
	outDir := filepath.Join(r.cacheDir(), "system-images")
	l := imageLoader{list: lister.Images, load: r.provider.LoadImages, say: r.p.Linef,
		builtAt: func(img systemImage) (time.Time, bool) {
			// Where images.Program (and perfrun cluster load) writes it.
			fi, err := os.Stat(filepath.Join(outDir, img.Program+"-"+img.Tag+".tar"))
			if err != nil {
				return time.Time{}, false
			}
			return fi.ModTime(), true
		},
		newest: func(ctx context.Context, program string) (string, time.Time, error) {
			return images.SourceNewest(ctx, r.opts.Repo, program)
		},
		build: func(ctx context.Context, img systemImage) (images.Built, error) {
			if img.Program == "redis" {
				return images.Redis(ctx, outDir, img.Tag)
			}
			return images.Program(ctx, r.opts.Repo, outDir, img.Program, img.Tag)
		}}
	_, err = l.loadMissing(ctx, systemImages(append(refs, later...)))
	return err
}
