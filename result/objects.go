package result

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/perfrun/perfrun/objects"
)

// The object watchers' files in a result folder.
const (
	// ObjectsFile holds one objects.Set per watched resource.
	ObjectsFile = "objects.json"
	// LeasesFile holds the namespace's Lease spans and their summary.
	LeasesFile = "leases.json"
)

// ObjectsOut is objects.json.
type ObjectsOut struct {
	Sets []objects.Set `json:"sets"`
}

// WriteObjects writes objects.json into dir.
func WriteObjects(dir string, sets []objects.Set) error {
	return writeJSON(filepath.Join(dir, ObjectsFile), ObjectsOut{Sets: sets})
}

// WriteLeases writes leases.json into dir.
func WriteLeases(dir string, l objects.Leases) error {
	return writeJSON(filepath.Join(dir, LeasesFile), l)
}

// ReadObjects reads a result folder's objects.json.
func ReadObjects(dir string) ([]objects.Set, error) {
	var out ObjectsOut
	if err := readJSON(filepath.Join(dir, ObjectsFile), &out); err != nil {
		return nil, err
	}
	return out.Sets, nil
}

// ReadLeases reads a result folder's leases.json.
func ReadLeases(dir string) (objects.Leases, error) {
	var l objects.Leases
	return l, readJSON(filepath.Join(dir, LeasesFile), &l)
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating result folder: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	return writeAtomic(path, append(b, '\n'))
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}
