package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/perfrun/perfrun/images"
)

// Infrastructure images, built here from Go binaries with no base image.
// Names carry docker.io/ explicitly because that is how the runtime stores
// them and how Kubernetes resolves the short names in manifests.
const (
	PauseImage         = "docker.io/perfrun/pause:v1"
	CoreDNSImage       = "docker.io/perfrun/coredns:v1.15.0"
	MetricsServerImage = "docker.io/perfrun/metrics-server:v0.9.0"
)

type infraImage struct {
	ref   string
	build func(ctx context.Context, tar string) error
}

func (c *Cluster) infraImages() []infraImage {
	single := func(ref, bin string, args ...string) func(context.Context, string) error {
		return func(_ context.Context, tar string) error {
			return images.BuildTo(tar, images.Spec{Ref: ref, Files: []images.File{{Src: bin, Dst: "/" + filepath.Base(bin)}},
				Entrypoint: []string{"/" + filepath.Base(bin)}, Cmd: args, User: "65532"})
		}
	}
	ims := []infraImage{
		{ref: PauseImage, build: func(ctx context.Context, tar string) error {
			bin := filepath.Join(c.cacheDir, "images", "pause")
			if err := images.GoBinary(ctx, c.srcDir, "./images/pause", bin); err != nil {
				return err
			}
			return images.BuildTo(tar, images.Spec{Ref: PauseImage, Files: []images.File{{Src: bin, Dst: "/pause"}}, Entrypoint: []string{"/pause"}, User: "65535"})
		}},
		{ref: CoreDNSImage, build: single(CoreDNSImage, c.bin("coredns"))},
	}
	if c.metricsServer {
		ims = append(ims, infraImage{ref: MetricsServerImage, build: single(MetricsServerImage, c.bin("metrics-server"))})
	}
	return ims
}

// imageTar is where an infrastructure image's tarball is cached.
func (c *Cluster) imageTar(ref string) string {
	name := strings.NewReplacer("docker.io/", "", "/", "_", ":", "_").Replace(ref)
	return filepath.Join(c.cacheDir, "images", name+".tar")
}

func (c *Cluster) buildInfraImages(ctx context.Context, log io.Writer) error {
	for _, im := range c.infraImages() {
		tar := c.imageTar(im.ref)
		if exists(tar) {
			continue
		}
		fmt.Fprintf(log, "building image %s\n", im.ref)
		if err := im.build(ctx, tar); err != nil {
			return fmt.Errorf("building image %s: %w", im.ref, err)
		}
	}
	return nil
}

func (c *Cluster) importInfraImages(ctx context.Context, log io.Writer) error {
	have, err := c.imageRefs(ctx)
	if err != nil {
		return err
	}
	var tars []string
	for _, im := range c.infraImages() {
		if !have[im.ref] {
			tars = append(tars, c.imageTar(im.ref))
		}
	}
	if len(tars) > 0 {
		fmt.Fprintf(log, "importing %d images\n", len(tars))
	}
	return c.LoadImages(ctx, tars)
}

// imageRefs lists the images in the runtime's Kubernetes namespace.
func (c *Cluster) imageRefs(ctx context.Context) (map[string]bool, error) {
	out, err := run(ctx, "ctr", "--address", c.containerdSocket(), "--connect-timeout", "5s", "-n", "k8s.io", "images", "ls", "-q")
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(out) {
		have[l] = true
	}
	return have, nil
}

// Images lists the image references the cluster's runtime holds.
func (c *Cluster) Images(ctx context.Context) ([]string, error) {
	have, err := c.imageRefs(ctx)
	if err != nil {
		return nil, err
	}
	var refs []string
	for r := range have {
		if !strings.HasPrefix(r, "sha256:") {
			refs = append(refs, r)
		}
	}
	return refs, nil
}

// LoadImages implements cluster.Provider: it imports image tarballs into the
// runtime, where pods find them with imagePullPolicy IfNotPresent or Never.
func (c *Cluster) LoadImages(ctx context.Context, tarballs []string) error {
	for _, t := range tarballs {
		if _, err := os.Stat(t); err != nil {
			return fmt.Errorf("image tarball: %w", err)
		}
		if _, err := run(ctx, "ctr", "--address", c.containerdSocket(), "--connect-timeout", "5s", "-n", "k8s.io",
			"images", "import", t); err != nil {
			return fmt.Errorf("importing %s: %w", t, err)
		}
	}
	return nil
}
