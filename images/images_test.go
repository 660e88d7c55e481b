package images

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBuildWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "img.tar")
	spec := Spec{Ref: "perfrun/prog:v9", Files: []File{{Src: bin, Dst: "/usr/local/bin/prog"}}, Entrypoint: []string{"/usr/local/bin/prog"}, Cmd: []string{"-x"}, User: "65532"}
	if err := BuildTo(path, spec); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/usr/local/bin/prog" {
		t.Errorf("entrypoint %v", got)
	}
	if cfg.Config.User != "65532" || len(cfg.Config.Cmd) != 1 {
		t.Errorf("config %+v", cfg.Config)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("want one layer, got %d (%v)", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h.Mode
	}
	if mode, ok := files["usr/local/bin/prog"]; !ok || mode&0o111 == 0 {
		t.Errorf("program missing or not executable in layer: %v", files)
	}
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/", "tmp/"} {
		if _, ok := files[d]; !ok {
			t.Errorf("folder %s missing: %v", d, files)
		}
	}
	// Same input, same image: layers are reproducible.
	img2, _ := Build(spec)
	d1, _ := img.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s %s", d1, d2)
	}
}

func TestWithLibrariesFindsLoader(t *testing.T) {
	const prog = "/usr/bin/redis-server"
	if _, err := os.Stat(prog); err != nil {
		t.Fatalf("%s missing: install it with scripts/deps.sh", prog)
	}
	files, err := WithLibraries(t.Context(), prog)
	if err != nil {
		t.Fatal(err)
	}
	var loader, libc bool
	for _, f := range files {
		if filepath.Base(f.Dst) == "ld-linux-x86-64.so.2" {
			loader = true
		}
		if filepath.Base(f.Dst) == "libc.so.6" {
			libc = true
		}
	}
	if !loader || !libc {
		t.Errorf("want the loader and libc among %v", files)
	}
}

func TestBuildRejectsRelativeDestination(t *testing.T) {
	if _, err := Build(Spec{Ref: "x:y", Files: []File{{Src: "/etc/hostname", Dst: "etc/hostname"}}}); err == nil {
		t.Error("a relative destination must be an error")
	}
}

// The newest source of a program is one of its own files or of the
// module's packages it imports.
func TestSourceNewest(t *testing.T) {
	repo, _ := filepath.Abs("..")
	file, at, err := SourceNewest(context.Background(), repo, "listener")
	if err != nil {
		t.Fatal(err)
	}
	if at.IsZero() || !(strings.HasPrefix(file, "system/") || strings.HasPrefix(file, "internal/")) {
		t.Errorf("newest source of listener: %q at %v", file, at)
	}
	if _, _, err := SourceNewest(context.Background(), repo, "nosuch"); err == nil || !strings.Contains(err.Error(), "go list -deps ./system/cmd/nosuch") {
		t.Errorf("a program that does not exist: %v", err)
	}
}
