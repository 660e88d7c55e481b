package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/objects"
)

func TestLeaseHolders(t *testing.T) {
	run := synthetic(1)
	at := func(s int) time.Time { return run.LoadStart.Add(time.Duration(s) * time.Second) }
	var spans []objects.LeaseSpan
	for _, l := range []string{"l0", "l1", "l2", "l3", "l4"} {
		spans = append(spans, objects.LeaseSpan{Lease: l, Holder: "tekton-pipelines-controller-abc_1", From: at(12), To: at(48), Open: true})
	}
	spans = append(spans, objects.LeaseSpan{Lease: "l0", Holder: "tekton-pipelines-controller-def_2", From: at(0), To: at(10)})
	sum := objects.Summarize(spans)
	run.Leases = &sum
	var b bytes.Buffer
	if err := Render(&b, run); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<h2>Lease holders</h2>", "<td>tekton-pipelines-controller-abc</td><td class=\"num\">5</td><td class=\"num\">5/5</td><td>&#43;12s</td><td>the end</td><td class=\"num\">180</td>",
		"<td>tekton-pipelines-controller-def</td><td class=\"num\">1</td><td class=\"num\">0/5</td><td>-</td><td>&#43;10s</td><td class=\"num\">10</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	b.Reset()
	run.Leases = nil
	if err := Render(&b, run); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Lease holders") {
		t.Error("a run without leases shows a lease section")
	}
}
