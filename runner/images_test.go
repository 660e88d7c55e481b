package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/chaos"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/images"
	"github.com/perfrun/perfrun/scenario"
)

func TestSystemImages(t *testing.T) {
	got := systemImages([]string{"perfrun/listener:v1", "docker.io/perfrun/listener:v1", "perfrun/worker", "perfrun/redis:v1",
		"prom/prometheus:v3", "perfrun/k6:v1", "perfrun/listener@sha256:abc", "ghcr.io/tektoncd/controller:v1"})
	want := []systemImage{
		{Ref: "docker.io/perfrun/listener:v1", Program: "listener", Tag: "v1"},
		{Ref: "docker.io/perfrun/redis:v1", Program: "redis", Tag: "v1"},
		{Ref: "docker.io/perfrun/worker:latest", Program: "worker", Tag: "latest"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("systemImages = %+v\nwant %+v", got, want)
	}
}

// Only what the cluster lacks is built and loaded, and the run says so;
// a cluster that has everything gets nothing.
func TestLoadMissingImages(t *testing.T) {
	var built, loaded []string
	var said []string
	l := imageLoader{
		list: func(context.Context) ([]string, error) {
			return []string{"docker.io/perfrun/redis:v1", "docker.io/perfrun/listener:v1", "sha256:0123"}, nil
		},
		build: func(_ context.Context, img systemImage) (images.Built, error) {
			built = append(built, img.Program+":"+img.Tag)
			return images.Built{Ref: img.Ref, Tarball: "/cache/" + img.Program + "-" + img.Tag + ".tar"}, nil
		},
		load: func(_ context.Context, tars []string) error { loaded = append(loaded, tars...); return nil },
		say:  func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) },
	}
	want := systemImages([]string{"perfrun/listener:v1", "perfrun/worker:v1", "perfrun/redis:v1", "perfrun/worker:v2"})
	refs, err := l.loadMissing(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(refs, []string{"perfrun/worker:v1", "perfrun/worker:v2"}) ||
		!reflect.DeepEqual(built, []string{"worker:v1", "worker:v2"}) ||
		!reflect.DeepEqual(loaded, []string{"/cache/worker-v1.tar", "/cache/worker-v2.tar"}) {
		t.Errorf("loaded %v (built %v, tarballs %v); want only the two workers", refs, built, loaded)
	}
	if len(said) != 1 || !strings.Contains(said[0], "images missing from the cluster: perfrun/worker:v1, perfrun/worker:v2") {
		t.Errorf("progress said %q", said)
	}
	built, loaded, said = nil, nil, nil
	if refs, err := l.loadMissing(context.Background(), want[:1]); err != nil || refs != nil || built != nil || said != nil {
		t.Errorf("all present: loaded %v, built %v, said %v, err %v", refs, built, said, err)
	}
	l.build = func(context.Context, systemImage) (images.Built, error) {
		return images.Built{}, errors.New("go build: exit 1")
	}
	if _, err := l.loadMissing(context.Background(), want); err == nil || !strings.Contains(err.Error(), "building docker.io/perfrun/worker:v1: go build: exit 1") {
		t.Errorf("a failed build: %v", err)
	}
}

// The upgrade scenario needs v1 deployed and v2 and the migration for its
// upgrade: every one of them is found before the run deploys.
func TestScenarioImagesIncludeUpgrades(t *testing.T) {
	s, err := scenario.LoadFile("../suites/scenarios/upgrade-v1-v2.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := deploy.Render(filepath.Join("..", s.Spec.System.Overlay))
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{}
	for _, img := range deploy.Images(objs) {
		refs = append(refs, img)
	}
	later, err := chaos.Images("..", s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range systemImages(append(refs, later...)) {
		got = append(got, img.Program+":"+img.Tag)
	}
	t.Logf("upgrade-v1-v2 needs %v", got)
	for _, want := range []string{"listener:v1", "worker:v1", "redis:v1", "listener:v2", "worker:v2", "migrate:v2"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("images %v lack %s", got, want)
		}
	}
}

// An image built before a source file of its program changed is rebuilt
// and loaded, saying which file; one built after, redis, and one whose
// tarball this machine does not have are kept.
func TestStaleImagesAreReloaded(t *testing.T) {
	built := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var loaded, said []string
	asked := map[string]int{}
	l := imageLoader{
		list: func(context.Context) ([]string, error) {
			return []string{"docker.io/perfrun/listener:v1", "docker.io/perfrun/listener:v2", "docker.io/perfrun/worker:v1",
				"docker.io/perfrun/controller:v1", "docker.io/perfrun/redis:v1"}, nil
		},
		build: func(_ context.Context, img systemImage) (images.Built, error) {
			return images.Built{Ref: img.Ref, Tarball: img.Program + "-" + img.Tag + ".tar"}, nil
		},
		load: func(_ context.Context, tars []string) error { loaded = append(loaded, tars...); return nil },
		say:  func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) },
		builtAt: func(img systemImage) (time.Time, bool) {
			return built, img.Program != "controller" // no tarball of the controller here
		},
		newest: func(_ context.Context, program string) (string, time.Time, error) {
			asked[program]++
			if program == "listener" {
				return "system/listener/listener.go", built.Add(time.Hour), nil
			}
			return "system/cmd/" + program + "/main.go", built.Add(-time.Hour), nil
		},
	}
	want := systemImages([]string{"perfrun/listener:v1", "perfrun/listener:v2", "perfrun/worker:v1", "perfrun/controller:v1", "perfrun/redis:v1"})
	refs, err := l.loadMissing(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(refs, []string{"perfrun/listener:v1", "perfrun/listener:v2"}) || !reflect.DeepEqual(loaded, []string{"listener-v1.tar", "listener-v2.tar"}) {
		t.Errorf("reloaded %v (tarballs %v); want both listeners only", refs, loaded)
	}
	if len(said) != 1 || !strings.Contains(said[0], "images older than the source tree: perfrun/listener:v1 (system/listener/listener.go changed since it was built)") {
		t.Errorf("progress said %q", said)
	}
	if asked["listener"] != 1 || asked["redis"] != 0 || asked["controller"] != 0 {
		t.Errorf("source asked %v; want the listener once, never redis or an image of unknown age", asked)
	}
}
