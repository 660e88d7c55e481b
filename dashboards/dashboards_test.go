package dashboards

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/result"
)

func TestDashboardsAreImportable(t *testing.T) {
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := Names(); !slices.Equal(got, []string{"chaos.json", "load.json", "system.json"}) {
		t.Fatalf("dashboards = %v", got)
	}
	uids := map[string]bool{}
	for name, d := range ds {
		if d.UID == "" || uids[d.UID] || d.Title == "" {
			t.Errorf("%s: uid %q (unique, set) and title %q", name, d.UID, d.Title)
		}
		uids[d.UID] = true
		// Grafana 11/12 write schema 39-41; an older one gets migrated on import.
		if d.SchemaVersion < 39 {
			t.Errorf("%s: schemaVersion %d, want a current one (≥ 39)", name, d.SchemaVersion)
		}
		if i := slices.IndexFunc(d.Templating.List, func(v Variable) bool { return v.Name == "datasource" && v.Type == "datasource" }); i < 0 {
			t.Errorf("%s: no datasource variable", name)
		}
		ids := map[int]bool{}
		var walk func([]Panel)
		walk = func(ps []Panel) {
			for _, p := range ps {
				if ids[p.ID] {
					t.Errorf("%s: panel id %d twice", name, p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					walk(p.Panels)
					continue
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q datasource %+v, want the ${datasource} variable", name, p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", name, p.Title)
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" || tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
						t.Errorf("%s: panel %q target %s: expr %q datasource %+v", name, p.Title, tg.RefID, tg.Expr, tg.Datasource)
					}
				}
			}
		}
		walk(d.Panels)
	}
	// The load dashboard filters by testid, the others by namespace.
	for name, v := range map[string]string{"load.json": "$testid", "system.json": "$namespace", "chaos.json": "$namespace"} {
		qs, _ := Queries()
		for _, q := range qs {
			if q.Dashboard == name && strings.HasPrefix(q.Where, "panel") && !strings.Contains(q.Expr, v) {
				t.Errorf("%s %s: %q does not filter by %s", name, q.Where, q.Expr, v)
			}
		}
	}
}

func TestChaosDashboardAnnotatesRunEvents(t *testing.T) {
	ds, _ := Load()
	var tags, prom bool
	for _, a := range ds["chaos.json"].Annotations.List {
		tags = tags || a.Type == "tags"
		prom = prom || (a.Expr != "" && a.Datasource != nil && a.Datasource.UID == "${datasource}")
	}
	if !tags || !prom {
		t.Fatalf("chaos.json annotations: tags %v, prometheus %v", tags, prom)
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := &result.Run{TestID: "abcd", Chaos: []result.Event{{Name: "kill", Kind: "podKill", Start: start, End: start.Add(time.Second), Targets: []string{"controller-1"},
		Steps: []result.ActionStep{{Name: "wait", Start: start, End: start.Add(time.Second)}}}}}
	as := ChaosAnnotations(run)
	if len(as) != 2 || as[0].Time != start.UnixMilli() || !slices.Contains(as[0].Tags, "chaos") || !slices.Contains(as[0].Tags, "testid:abcd") || !strings.Contains(as[0].Text, "controller-1") {
		t.Fatalf("annotations = %+v", as)
	}
	if _, err := json.Marshal(as); err != nil {
		t.Fatal(err)
	}
}

func TestWriteAndPromQL(t *testing.T) {
	dir := t.TempDir()
	paths, err := Write(dir)
	if err != nil || len(paths) != 3 {
		t.Fatalf("Write: %v %v", paths, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "system.json"))
	if err != nil || !json.Valid(b) {
		t.Fatalf("system.json written: %v", err)
	}
	if got := PromQL(`rate(x{namespace=~"$namespace"}[$__rate_interval])`); got != `rate(x{namespace=~".*"}[1m])` {
		t.Errorf("PromQL = %q", got)
	}
	if got := PromQL(`label_values(k6_http_reqs_total, testid)`); got != "k6_http_reqs_total" {
		t.Errorf("PromQL(label_values) = %q", got)
	}
	if _, err := Get("nope.json"); err == nil || !strings.Contains(err.Error(), "system.json") {
		t.Errorf("Get unknown: %v", err)
	}
}

// Every panel the needs table names is one of the dashboards': a renamed
// panel must not silently become "every run's".
func TestNeedsNameRealPanels(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, q := range qs {
		have[q.Dashboard+"/"+q.Panel] = true
	}
	for k := range needs {
		if !have[k] {
			t.Errorf("needs names %q, which no dashboard has", k)
		}
	}
}
