// Package dashboards holds perfrun's Grafana dashboards (JSON, Grafana's
// current schema, the Prometheus datasource a variable) embedded in the
// binary, so that `perfrun dashboards` can write them out ready to import:
// system.json (listener, workers, controller), load.json (k6's remote-write
// metrics by testid) and chaos.json (the run's chaos events as annotations,
// with the properties a fault threatens). It also turns a run's chaos
// events into Grafana annotations.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/perfrun/perfrun/result"
)

//go:embed *.json
var files embed.FS

// Names lists the dashboards' file names.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".") // embedded: cannot fail
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// Get returns one dashboard's JSON.
func Get(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("dashboard %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Write writes every dashboard into dir and returns the paths written.
func Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var out []string
	for _, n := range Names() {
		b, _ := files.ReadFile(n)
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return out, fmt.Errorf("writing dashboard: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Dashboard is the part of Grafana's dashboard model the checks read.
type Dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []Panel `json:"panels"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
}

// Panel is a panel or a row (whose collapsed panels are nested).
type Panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *DatasourceRef `json:"datasource,omitempty"`
	Targets    []Target       `json:"targets"`
	Panels     []Panel        `json:"panels"`
	GridPos    map[string]int `json:"gridPos"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *DatasourceRef `json:"datasource,omitempty"`
}

// DatasourceRef points at a datasource, here always through ${datasource}.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is a templating variable.
type Variable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Query      any            `json:"query"`
	Datasource *DatasourceRef `json:"datasource,omitempty"`
}

// Annotation is an annotation query of a dashboard.
type Annotation struct {
	Name       string         `json:"name"`
	Type       string         `json:"type,omitempty"`
	Expr       string         `json:"expr,omitempty"`
	Datasource *DatasourceRef `json:"datasource,omitempty"`
}

// Load decodes every embedded dashboard, by file name.
func Load() (map[string]Dashboard, error) {
	out := map[string]Dashboard{}
	for _, n := range Names() {
		b, _ := files.ReadFile(n)
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", n, err)
		}
		out[n] = d
	}
	return out, nil
}

// Query is one PromQL expression of a dashboard: a panel target, an
// annotation, or a variable's query.
type Query struct {
	Dashboard string
	Where     string // "panel NAME/A", "annotation NAME", "variable NAME"
	// Panel is the panel's title or the annotation's name (Needs).
	Panel string
	Expr  string
}

// Queries lists every PromQL expression in the dashboards.
func Queries() ([]Query, error) {
	ds, err := Load()
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, n := range Names() {
		d := ds[n]
		var walk func([]Panel)
		walk = func(ps []Panel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					out = append(out, Query{Dashboard: n, Where: fmt.Sprintf("panel %q/%s", p.Title, t.RefID), Panel: p.Title, Expr: t.Expr})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, a := range d.Annotations.List {
			if a.Expr != "" {
				out = append(out, Query{Dashboard: n, Where: fmt.Sprintf("annotation %q", a.Name), Panel: a.Name, Expr: a.Expr})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			if q := variableQuery(v.Query); q != "" {
				out = append(out, Query{Dashboard: n, Where: fmt.Sprintf("variable %q", v.Name), Expr: q})
			}
		}
	}
	return out, nil
}

func variableQuery(q any) string {
	switch q := q.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

// PromQL turns a dashboard expression into plain PromQL: Grafana's
// variables become values a parser accepts, and a variable query's
// label_values(METRIC, LABEL) becomes its METRIC selector.
func PromQL(expr string) string {
	if strings.HasPrefix(expr, "label_values(") && strings.HasSuffix(expr, ")") {
		inner := strings.TrimSuffix(strings.TrimPrefix(expr, "label_values("), ")")
		if i := strings.LastIndex(inner, ","); i > 0 {
			inner = inner[:i]
		}
		return strings.TrimSpace(inner)
	}
	return strings.NewReplacer(
		"$__rate_interval", "1m", "${__rate_interval}", "1m",
		"$__interval", "15s", "${__interval}", "15s",
		"$__range", "1h", "${__range}", "1h",
		"${namespace}", ".*", "$namespace", ".*",
		"${testid}", ".*", "$testid", ".*",
	).Replace(expr)
}

// GrafanaAnnotation is a body for Grafana's POST /api/annotations.
type GrafanaAnnotation struct {
	Time    int64    `json:"time"`
	TimeEnd int64    `json:"timeEnd,omitempty"`
	Tags    []string `json:"tags"`
	Text    string   `json:"text"`
}

// ChaosAnnotations turns a run's chaos events (and their steps) into
// annotations tagged perfrun and chaos, which the chaos dashboard shows.
func ChaosAnnotations(run *result.Run) []GrafanaAnnotation {
	out := []GrafanaAnnotation{} // "[]", not "null", when there were none
	tags := func(extra ...string) []string {
		t := []string{"perfrun", "chaos"}
		if run.TestID != "" {
			t = append(t, "testid:"+run.TestID)
		}
		if run.Namespace != "" {
			t = append(t, "namespace:"+run.Namespace)
		}
		return append(t, extra...)
	}
	for _, e := range run.Chaos {
		text := fmt.Sprintf("%s: %s", e.Name, e.Kind)
		if len(e.Targets) > 0 {
			text += " " + strings.Join(e.Targets, ", ")
		}
		if e.Error != "" {
			text += " (error: " + e.Error + ")"
		}
		out = append(out, GrafanaAnnotation{Time: e.Start.UnixMilli(), TimeEnd: e.End.UnixMilli(), Tags: tags(e.Kind), Text: text})
		for _, s := range e.Steps {
			out = append(out, GrafanaAnnotation{Time: s.Start.UnixMilli(), TimeEnd: s.End.UnixMilli(), Tags: tags(e.Kind, "step"), Text: e.Name + ": " + s.Name})
		}
	}
	return out
}
