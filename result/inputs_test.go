package result

import (
	"os"
	"path/filepath"
	"testing"
)

// A result.json from before inputs were recorded still reads, with none.
func TestReadWithoutInputs(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultFile)
	old := `{"schemaVersion": "perfrun.dev/result/v1", "runID": "abcd", "scenario": {"metadata": {"name": "smoke"}}, "verdict": "pass",
  "started": "2026-11-29T10:00:00Z", "finished": "2026-11-29T10:02:00Z", "steps": [], "assertions": []}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Read(path)
	if err != nil || r.Inputs != nil || r.Verdict != VerdictPass {
		t.Fatalf("old result: %v %+v", err, r)
	}
	r.Inputs = &Inputs{ScenarioDigest: "sha256:1", Vars: map[string]string{"RATE": "200"},
		Components: map[string]Component{"listener": {Replicas: 2, Containers: map[string]Container{"listener": {Image: "l:v1", Args: []string{"-x"}}}}}}
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	back, err := Read(filepath.Join(dir, ResultFile))
	if err != nil || back.Inputs == nil || back.Inputs.Components["listener"].Containers["listener"].Args[0] != "-x" || back.Inputs.Vars["RATE"] != "200" {
		t.Fatalf("round trip: %v %+v", err, back.Inputs)
	}
}
