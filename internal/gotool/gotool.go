// Package gotool builds pinned Go programs into a cache: each tool is a
// module in the repository's tools/ folder (its own go.mod, so the harness's
// go.mod never depends on what it builds), built once per version and kept
// under a folder named for that version. The local cluster's binaries and
// kwok are such tools.
package gotool

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultCacheDir is where built tools are kept: $PERFRUN_CACHE, or
// ~/.cache/perfrun.
func DefaultCacheDir() string {
	if d := os.Getenv("PERFRUN_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "perfrun")
	}
	return "/var/cache/perfrun"
}

// Tool is one set of binaries built from a pinned module in the repository's
// tools/ folder.
type Tool struct {
	// Name names the tools/<Name> module and, with Version, the cache folder.
	Name string
	// Version is the pinned version of the upstream module; it must match
	// tools/<Name>/go.mod (a unit test checks).
	Version string
	// Module is the upstream module path pinned in tools/<Name>/go.mod.
	Module string
	// Packages are built in one `go build` (import path → output file name).
	Packages map[string]string
	// LDFlags are extra linker flags, e.g. to stamp a version.
	LDFlags string
	// Tags are build tags, e.g. to leave out what perfrun never uses
	// (Prometheus's service discoveries other than Kubernetes'). Changing
	// them needs a new Stamp, as LDFlags do.
	Tags []string
	// ColdBuild says roughly how long a build with an empty cache takes here.
	ColdBuild time.Duration
	// Stamp, when set, is written beside the binaries and must match for
	// them to count as built: changing it (with a build setting such as
	// LDFlags) rebuilds a cache made before, without a new version.
	Stamp string
}

// stampFile records the Stamp a cached build was made with.
const stampFile = ".stamp"

// Dir is where t's binaries are cached: keyed by name and version so that a
// version bump builds anew and never mixes with the old binaries.
func (t Tool) Dir(cacheDir string) string {
	return filepath.Join(cacheDir, t.Name+"-"+t.Version)
}

// Built says whether every binary of t is in the cache.
func (t Tool) Built(cacheDir string) bool {
	if t.Stamp != "" {
		b, err := os.ReadFile(filepath.Join(t.Dir(cacheDir), stampFile))
		if err != nil || strings.TrimSpace(string(b)) != t.Stamp {
			return false
		}
	}
	for _, out := range t.Packages {
		if _, err := os.Stat(filepath.Join(t.Dir(cacheDir), out)); err != nil {
			return false
		}
	}
	return true
}

// Build builds t's binaries from tools/<Name> under srcDir into the cache,
// showing progress on log while it runs (a cold Kubernetes build takes
// minutes). It builds into a temporary folder and renames it at the end, so a
// build cut short is never mistaken for a finished one.
func (t Tool) Build(ctx context.Context, srcDir, cacheDir string, log io.Writer) error {
	modDir := filepath.Join(srcDir, "tools", t.Name)
	if _, err := os.Stat(filepath.Join(modDir, "go.mod")); err != nil {
		return fmt.Errorf("tools module for %s: %w", t.Name, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return fmt.Errorf("creating cache folder: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".build-"+t.Name+"-")
	if err != nil {
		return fmt.Errorf("creating build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	logPath := filepath.Join(cacheDir, "build-"+t.Name+"-"+t.Version+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating build log: %w", err)
	}
	defer logFile.Close()

	// Build each package to its own output name; one invocation lets the go
	// command share work between them.
	args := []string{"build", "-trimpath", "-o", tmp + "/"}
	if t.LDFlags != "" {
		args = append(args, "-ldflags", t.LDFlags)
	}
	if len(t.Tags) > 0 {
		args = append(args, "-tags", strings.Join(t.Tags, ","))
	}
	var pkgs []string
	for pkg := range t.Packages {
		pkgs = append(pkgs, pkg)
	}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = modDir
	// Static binaries: they also go into images with no base. -p=2 keeps a
	// build from starving others on a small machine.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-p=2 -mod=readonly")
	cmd.Stdout, cmd.Stderr = logFile, logFile

	fmt.Fprintf(log, "building %s %s (about %s from a cold cache; log %s)\n", t.Name, t.Version, t.ColdBuild.Round(time.Second), logPath)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting go build of %s: %w", t.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("building %s %s: %w\n%s(full log: %s)", t.Name, t.Version, err, Tail(logPath, 20), logPath)
			}
			// go build -o DIR/ names each output as `go build` would;
			// rename where the map says otherwise (etcd's root is "server").
			for pkg, out := range t.Packages {
				base := goOutputName(pkg)
				if base != out {
					if err := os.Rename(filepath.Join(tmp, base), filepath.Join(tmp, out)); err != nil {
						return fmt.Errorf("naming %s: %w", out, err)
					}
				}
			}
			if t.Stamp != "" {
				if err := os.WriteFile(filepath.Join(tmp, stampFile), []byte(t.Stamp+"\n"), 0o644); err != nil {
					return err
				}
			}
			if err := os.Chmod(tmp, 0o755); err != nil {
				return err
			}
			dir := t.Dir(cacheDir)
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("replacing %s: %w", dir, err)
			}
			if err := os.Rename(tmp, dir); err != nil {
				return fmt.Errorf("moving build into cache: %w", err)
			}
			fmt.Fprintf(log, "built %s %s in %s\n", t.Name, t.Version, time.Since(start).Round(time.Second))
			return nil
		case <-tick.C:
			fmt.Fprintf(log, "  still building %s: %s\n", t.Name, progress(time.Since(start), t.ColdBuild))
		}
	}
}

// progress says how far a build is against its cold estimate: "1m20s of
// about 5m", or "6m10s, past the usual 5m" once the estimate is spent (a
// busy machine), so a long wait never looks like a hang or a promise.
func progress(elapsed, estimate time.Duration) string {
	e := elapsed.Round(time.Second)
	switch {
	case estimate <= 0:
		return e.String()
	case elapsed <= estimate:
		return fmt.Sprintf("%s of about %s", e, estimate.Round(time.Second))
	default:
		return fmt.Sprintf("%s, past the usual %s", e, estimate.Round(time.Second))
	}
}

// goOutputName is the file name `go build -o DIR/` gives the binary of pkg:
// its last path element, or the one before it when the last is a major
// version suffix (go.etcd.io/etcd/server/v3 → server).
func goOutputName(pkg string) string {
	elems := strings.Split(pkg, "/")
	last := elems[len(elems)-1]
	if len(elems) > 1 && len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		return elems[len(elems)-2]
	}
	return last
}

// goTool finds the go command: $GOROOT/bin/go first (make and go test set
// GOROOT), then PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// Tail returns the last n lines of the file at path, each indented, for error
// messages that must show why a component failed.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("    (no log: %v)\n", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString("    ")
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}
