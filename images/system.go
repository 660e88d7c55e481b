package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Built is an image tarball ready to load into a cluster.
type Built struct {
	Ref     string
	Tarball string
}

// Programs are the reference system's programs (system/cmd/<name>); each
// becomes perfrun/<name>:<tag>.
var Programs = []string{"listener", "worker", "controller", "migrate"}

// RedisTag is the tag of perfrun/redis, the same for every release of the
// system (an upgrade rolls the programs, never Redis); fixtures/redis names it.
const RedisTag = "v1"

// System builds the reference system's images at tag from the repository at
// repo into outDir: one per program of Programs that exists in the tree, and
// perfrun/redis:RedisTag from this machine's redis-server. Programs not in the
// tree yet are skipped and named in the returned list of missing ones.
func System(ctx context.Context, repo, outDir, tag string) (built []Built, missing []string, err error) {
	for _, p := range Programs {
		if _, err := os.Stat(filepath.Join(repo, "system", "cmd", p, "main.go")); err != nil {
			missing = append(missing, p)
			continue
		}
		b, err := Program(ctx, repo, outDir, p, tag)
		if err != nil {
			return built, missing, err
		}
		built = append(built, b)
	}
	b, err := Redis(ctx, outDir, RedisTag)
	if err != nil {
		return built, missing, err
	}
	return append(built, b), missing, nil
}

// Program builds perfrun/<program>:<tag> from system/cmd/<program> of the
// repository at repo into outDir.
func Program(ctx context.Context, repo, outDir, program, tag string) (Built, error) {
	bin := filepath.Join(outDir, "bin-"+tag, program)
	if err := GoBinary(ctx, repo, "./system/cmd/"+program, bin); err != nil {
		return Built{}, err
	}
	ref := "perfrun/" + program + ":" + tag
	tar := filepath.Join(outDir, program+"-"+tag+".tar")
	if err := BuildTo(tar, Spec{Ref: ref, Files: []File{{Src: bin, Dst: "/usr/local/bin/" + program}}, Entrypoint: []string{"/usr/local/bin/" + program}, User: "65532"}); err != nil {
		return Built{}, err
	}
	return Built{Ref: ref, Tarball: tar}, nil
}

// Redis builds perfrun/redis:<tag> from the host's Debian redis-server and
// the libraries it links, so the cluster runs the same Redis the host would.
// On kind, the fixtures' kustomize images: setting can name upstream redis.
func Redis(ctx context.Context, outDir, tag string) (Built, error) {
	const server = "/usr/bin/redis-server"
	files, err := WithLibraries(ctx, server)
	if err != nil {
		return Built{}, fmt.Errorf("redis image: %w (install redis-server: scripts/cluster-deps.sh)", err)
	}
	ref := "perfrun/redis:" + tag
	tar := filepath.Join(outDir, "redis-"+tag+".tar")
	spec := Spec{Ref: ref, Files: files, Entrypoint: []string{server},
		Cmd: []string{"--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"}, User: "65532"}
	if err := BuildTo(tar, spec); err != nil {
		return Built{}, err
	}
	return Built{Ref: ref, Tarball: tar}, nil
}

// SourceNewest is the newest source file of a reference-system program
// (its Go and embedded files in this module's own packages: the pinned
// dependencies do not change under a version), relative to repo, and its
// modification time: an image built before it is older than the source
// tree. A `go list -deps`, no build.
func SourceNewest(ctx context.Context, repo, program string) (string, time.Time, error) {
	pkg := "./system/cmd/" + program
	const tmpl = `{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`
	cmd := exec.CommandContext(ctx, goTool(), "list", "-deps", "-f", tmpl, pkg)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", time.Time{}, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	var newest time.Time
	var file string
	for _, f := range strings.Fields(string(out)) {
		fi, err := os.Stat(f)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("source of %s: %w", program, err)
		}
		if fi.ModTime().After(newest) {
			newest, file = fi.ModTime(), f
		}
	}
	if rel, err := filepath.Rel(repo, file); err == nil {
		file = rel
	}
	return file, newest, nil
}
