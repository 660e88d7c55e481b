package result

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/perfrun/perfrun/objects"
)

func TestObjectsAndLeasesFiles(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sets := []objects.Set{{Resource: "taskruns.tekton.dev/v1", Namespace: "ns", Dropped: 2,
		Records: []objects.Record{{Name: "a", Seen: at, Conditions: []objects.Condition{{Type: "Succeeded", Done: at.Add(time.Second)}}}}}}
	if err := WriteObjects(dir, sets); err != nil {
		t.Fatal(err)
	}
	got, err := ReadObjects(dir)
	if err != nil || len(got) != 1 || got[0].Dropped != 2 || !got[0].Records[0].Condition("Succeeded").Done.Equal(at.Add(time.Second)) {
		t.Fatalf("objects.json read back %+v, %v", got, err)
	}
	spans := []objects.LeaseSpan{{Lease: "l", Holder: "p_1", From: at, To: at.Add(time.Minute), Open: true}}
	if err := WriteLeases(dir, objects.Leases{Namespace: "ns", Spans: spans, Summary: objects.Summarize(spans)}); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLeases(dir)
	if err != nil || len(l.Spans) != 1 || l.Summary.Holders[0].Pod != "p" {
		t.Fatalf("leases.json read back %+v, %v", l, err)
	}
	r := &Run{RunID: "x", Leases: &l.Summary, Verdict: VerdictPass}
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	back, err := Read(filepath.Join(dir, ResultFile))
	if err != nil || back.Leases == nil || back.Leases.Holders[0].AtEnd != 1 {
		t.Fatalf("result.json leases %+v, %v", back.Leases, err)
	}
}
