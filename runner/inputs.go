package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// maxScenarioBytes bounds the re-read of the scenario file for its digest.
const maxScenarioBytes = 16 << 20

// version is set when the binary is linked (the Makefile passes
// -ldflags "-X github.com/perfrun/perfrun/runner.version=$(git describe)"):
// builds with -buildvcs=false carry no revision of their own.
var version string

// Version is this perfrun's version: what the link set, else the module
// version when it has one, else the VCS revision Go stamped (with "+dirty"
// when the tree had changes), else "devel" (go run, go test).
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return rev + dirty
}

// inputsOf records what the run was given beside the scenario as decoded:
// the file's digest and its ${NAME} references as resolved. The file is
// read again (the scenario was decoded from it moments ago); a file that
// cannot be read leaves the digest empty and the --set values as given.
func inputsOf(opts Options) *result.Inputs {
	in := &result.Inputs{Perfrun: Version(), Vars: map[string]string{}}
	raw, err := readScenarioFile(opts.ScenarioFile, opts.Repo)
	if err != nil {
		for k, v := range opts.Vars {
			in.Vars[k] = v
		}
		return in
	}
	sum := sha256.Sum256(raw)
	in.ScenarioDigest = "sha256:" + hex.EncodeToString(sum[:])
	in.Vars = scenario.Vars(raw, opts.Vars)
	return in
}

// readScenarioFile reads the scenario file as given, or relative to the
// repository (the suites name it so).
func readScenarioFile(path, repo string) ([]byte, error) {
	if path == "" {
		return nil, os.ErrNotExist
	}
	f, err := os.Open(path)
	if err != nil && !filepath.IsAbs(path) {
		f, err = os.Open(filepath.Join(repo, path))
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxScenarioBytes))
}

// componentsOf are the rendered Deployments and StatefulSets as deployed:
// replicas, and each container's image, command and args.
func componentsOf(objs []*unstructured.Unstructured) map[string]result.Component {
	out := map[string]result.Component{}
	for _, o := range objs {
		if o.GetAPIVersion() != "apps/v1" || (o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet") {
			continue
		}
		c := result.Component{Replicas: 1, Containers: map[string]result.Container{}}
		if n, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas"); ok {
			switch n := n.(type) {
			case int64:
				c.Replicas = int32(n)
			case int32:
				c.Replicas = n
			case int:
				c.Replicas = int32(n)
			case float64:
				c.Replicas = int32(n)
			}
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, x := range cs {
			m, ok := x.(map[string]any)
			if !ok {
				continue
			}
			name, _ := m["name"].(string)
			img, _ := m["image"].(string)
			c.Containers[name] = result.Container{Image: img, Command: stringList(m["command"]), Args: stringList(m["args"])}
		}
		out[o.GetName()] = c
	}
	return out
}

// stringList reads a list of strings from unstructured content.
func stringList(v any) []string {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
