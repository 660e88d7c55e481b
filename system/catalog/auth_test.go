package catalog

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/usage"
)

// enc writes auth.lua's encoding, as the script does.
func enc(parts ...any) string {
	var b strings.Builder
	var put func(v any)
	put = func(v any) {
		switch x := v.(type) {
		case nil:
			b.WriteString("~")
		case string:
			b.WriteString(itoa(len(x)) + ":" + x)
		case []any:
			b.WriteString("*" + itoa(len(x)) + ":")
			for _, e := range x {
				put(e)
			}
		}
	}
	for _, p := range parts {
		put(p)
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestReadAuthReply(t *testing.T) {
	req := AuthRequest{ServiceID: "s1", At: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	use := make([]any, len(usage.Periods))
	for i := range use {
		use[i] = []any{}
	}
	use[0] = []any{"hits", "7", "search", "3"}
	raw := enc(
		[]any{"pk1", nil, "2"}, "1", "a1",
		[]any{"active", "p1", "basic", nil},
		[]any{"k:1", "k2"},
		[]any{"m1", "hits", "m2", "search"},
		[]any{"m2", "m1"},
		[]any{"m2/" + string(usage.Periods[0]), "100"},
		use,
	)
	snap, err := readAuthReply(raw, req)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Service == nil || snap.Service.ProviderKey != "pk1" || snap.Service.State != "" || snap.Service.BackendVersion != "2" {
		t.Errorf("service = %+v", snap.Service)
	}
	if !snap.TokenValid || snap.UserKeyAppID != "" {
		t.Errorf("token %v, user key app %q", snap.TokenValid, snap.UserKeyAppID)
	}
	if snap.App == nil || snap.App.ID != "a1" || snap.App.PlanName != "basic" || snap.App.RedirectURL != "" {
		t.Errorf("app = %+v", snap.App)
	}
	if strings.Join(snap.AppKeys, ",") != "k:1,k2" {
		t.Errorf("keys = %q", snap.AppKeys)
	}
	if snap.Metrics.IDByName["search"] != "m2" || snap.Metrics.Parent["m2"] != "m1" {
		t.Errorf("metrics = %+v", snap.Metrics)
	}
	if len(snap.Limits) != 1 || snap.Limits[0].MetricID != "m2" || snap.Limits[0].Value != 100 {
		t.Errorf("limits = %+v", snap.Limits)
	}
	if got := snap.Usage[usage.Periods[0]]["hits"]; got != 7 {
		t.Errorf("usage hits = %d, want 7", got)
	}
	if len(snap.Usage) != 1 {
		t.Errorf("usage periods = %d, want the one with values", len(snap.Usage))
	}

	// no service, no application: what the script's early return gives
	snap, err = readAuthReply(enc([]any{}, "0", "", []any{}, []any{}, []any{}, []any{}, []any{}, []any{}), req)
	if err != nil || snap.Service != nil || snap.App != nil || snap.TokenValid {
		t.Errorf("missing service: %+v, %v", snap, err)
	}

	for name, bad := range map[string]string{
		"empty":     "",
		"truncated": raw[:len(raw)-3],
		"trailing":  raw + "1:x",
		"length":    "*3:9:pk1",
		"no colon":  "*3",
		"negative":  "*-1:",
		"not list":  enc("x"),
	} {
		if _, err := readAuthReply(bad, req); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "malformed at byte") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
