// Package images builds container images with no base image and no
// registry: one layer holding a static Go binary (or a Debian program with
// the shared libraries it links), written as an image tarball that a
// cluster's runtime imports (`ctr images import`, `kind load image-archive`).
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one file of an image's layer, copied from the host.
type File struct {
	// Src is the file on this machine.
	Src string
	// Dst is its absolute path in the image.
	Dst string
}

// Spec says what goes into an image.
type Spec struct {
	// Ref is the image's name and tag, e.g. "perfrun/listener:v2". Names
	// without a registry are docker.io ones, as Kubernetes resolves them.
	Ref string
	// Files make up the single layer.
	Files []File
	// Entrypoint is the command the container runs.
	Entrypoint []string
	// Cmd are default arguments (a pod's args replace them).
	Cmd []string
	// User is the user the container runs as ("65532" for nonroot).
	User string
}

// epoch makes layers reproducible: the same binaries give the same digest.
var epoch = time.Unix(0, 0)

// Build assembles the image of s.
func Build(s Spec) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	files := append([]File(nil), s.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Dst < files[j].Dst })
	// /tmp is writable for programs that need scratch space.
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return nil, err
	}
	for _, f := range files {
		if !filepath.IsAbs(f.Dst) {
			return nil, fmt.Errorf("image %s: destination %q is not absolute", s.Ref, f.Dst)
		}
		// Parent folders first, each once.
		var parents []string
		for d := filepath.Dir(f.Dst); d != "/"; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", s.Ref, err)
		}
		fi, err := os.Stat(f.Src)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Dst, "/"), Mode: int64(fi.Mode().Perm()), Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", s.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = s.Entrypoint
	cfg.Config.Cmd = s.Cmd
	cfg.Config.User = s.User
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	return mutate.ConfigFile(img, cfg)
}

// Write writes img as a tarball (docker archive, also readable as OCI by
// containerd) tagged s.Ref, at path.
func Write(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// BuildTo builds the image of s and writes its tarball to path.
func BuildTo(path string, s Spec) error {
	img, err := Build(s)
	if err != nil {
		return err
	}
	return Write(path, s.Ref, img)
}

// GoBinary builds the main package pkg of the module in dir as a static
// binary at out.
func GoBinary(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// lddLine matches "libx.so.1 => /lib/x/libx.so.1 (0x...)" and
// "/lib64/ld-linux-x86-64.so.2 (0x...)".
var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)`)

// WithLibraries returns the files for a dynamically linked program: the
// program itself and every shared library `ldd` lists, with the dynamic
// loader, each at its own path (so the program runs as it does on the host).
func WithLibraries(ctx context.Context, program string) ([]File, error) {
	out, err := exec.CommandContext(ctx, "ldd", program).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", program, err)
	}
	files := []File{{Src: program, Dst: program}}
	for _, line := range strings.Split(string(out), "\n") {
		m := lddLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		lib := m[1]
		// Resolve symlinks for the content; keep the name the loader asks for.
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			return nil, fmt.Errorf("library %s of %s: %w", lib, program, err)
		}
		files = append(files, File{Src: real, Dst: lib})
	}
	if len(files) == 1 {
		return nil, fmt.Errorf("ldd %s listed no libraries (static binary? use it alone)", program)
	}
	return files, nil
}

func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
