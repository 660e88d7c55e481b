package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// Bad input exits 2 before anything is deployed: the results folder is
// never even created.
func TestRunBadInputExits2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: perfrun/v1\nkind: Scenario\nmetadata: {name: x}\nspec: {load: {duration: 1m, bogus: 1}}\n"), 0o644)
	resultsDir := filepath.Join(t.TempDir(), "results")
	for _, args := range [][]string{
		{"run", "--results", resultsDir, bad},
		{"run", "--results", resultsDir, "/nonexistent.yaml"},
		{"run", "--results", resultsDir, "--set", "novalue", "../../suites/scenarios/smoke.yaml"},
		{"run", "--results", resultsDir, "--output", "xml", "../../suites/scenarios/smoke.yaml"},
		{"run", "--results", resultsDir, "--repo", "../..", "--k6", "/nonexistent/k6", "../../suites/scenarios/smoke.yaml"},
		{"run", "--results", resultsDir, "--no-such-flag", "x"},
	} {
		_, err := runCLI(t, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitBadInput {
			t.Errorf("%v: err %v, want exit %d", args, err, exitBadInput)
		}
	}
	if _, err := os.Stat(resultsDir); !os.IsNotExist(err) {
		t.Errorf("bad input created %s", resultsDir)
	}
	_, err := runCLI(t, "run", "--results", resultsDir, bad)
	if err == nil || !strings.Contains(err.Error(), "spec.load.bogus") || !strings.Contains(err.Error(), "spec.load.script: required") {
		t.Errorf("bad scenario error must name every field: %v", err)
	}
}

func TestRunValidate(t *testing.T) {
	out, err := runCLI(t, "run", "--validate", "--repo", "../..", "--k6", "/bin/true", "../../suites/scenarios/smoke.yaml")
	if err != nil || !strings.Contains(out, "valid") {
		t.Errorf("validate: %v %s", err, out)
	}
}

// The provider and its flags are checked with --validate too, before the
// scenario, and a bad one is bad input naming the flag.
func TestRunProviderFlags(t *testing.T) {
	smoke := "../../suites/scenarios/smoke.yaml"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--provider", "bogus"}, `--provider: "bogus" is not a provider; want one of local, kind, kubeconfig`},
		{[]string{"--provider", "kubeconfig", "--prometheus-url", "http://127.0.0.1:9090"}, "--kubeconfig: required by provider kubeconfig"},
		{[]string{"--provider", "kubeconfig", "--kubeconfig", "/nonexistent/kubeconfig", "--prometheus-url", "http://x"}, "--kubeconfig: stat /nonexistent/kubeconfig"},
		{[]string{"--provider", "kind", "--kind-config", "/nonexistent/kind.yaml"}, "--kind-config: "},
	} {
		args := append([]string{"run", "--validate", "--repo", "../..", "--k6", "/bin/true"}, tc.args...)
		_, err := runCLI(t, append(args, smoke)...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitBadInput || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want exit %d naming %q", tc.args, err, exitBadInput, tc.want)
		}
	}
	for _, p := range [][]string{{"--provider", "kind"}, {"--provider", "kind", "--kind-cluster", "nightly", "--kind", "/bin/true"}, {"--provider", "local"}} {
		args := append([]string{"run", "--validate", "--repo", "../..", "--k6", "/bin/true"}, p...)
		if out, err := runCLI(t, append(args, smoke)...); err != nil || !strings.Contains(out, "valid") {
			t.Errorf("%v: %v %s", p, err, out)
		}
	}
}
