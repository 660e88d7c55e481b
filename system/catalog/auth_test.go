package catalog

import (
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/usage"
)

// enc packs values as cmsgpack does for auth.lua's reply: one array of
// the parts; false for a missing value, as Redis hands nil to Lua.
func enc(parts ...any) string {
	var b []byte
	var put func(v any)
	put = func(v any) {
		switch x := v.(type) {
		case nil:
			b = append(b, 0xc2)
		case int:
			b = append(b, byte(x)) // positive fixint
		case string:
			switch {
			case len(x) < 32:
				b = append(b, 0xa0|byte(len(x)))
			case len(x) < 256:
				b = append(b, 0xd9, byte(len(x)))
			default:
				b = append(b, 0xda, byte(len(x)>>8), byte(len(x)))
			}
			b = append(b, x...)
		case []any:
			if len(x) < 16 {
				b = append(b, 0x90|byte(len(x)))
			} else {
				b = append(b, 0xdc, byte(len(x)>>8), byte(len(x)))
			}
			for _, e := range x {
				put(e)
			}
		}
	}
	put(parts)
	return string(b)
}

func TestReadAuthReply(t *testing.T) {
	req := AuthRequest{ServiceID: "s1", At: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	use := make([]any, len(usage.Periods))
	for i := range use {
		use[i] = []any{}
	}
	use[0] = []any{"hits", "7", "search", "3"}
	raw := enc(
		[]any{"pk1", nil, "2"}, 1, "a1",
		[]any{"active", "p1", "basic", nil},
		[]any{"k:1", strings.Repeat("k", 300)},
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
	if len(snap.AppKeys) != 2 || snap.AppKeys[0] != "k:1" || len(snap.AppKeys[1]) != 300 {
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
	snap, err = readAuthReply(enc([]any{}, 0, "", []any{}, []any{}, []any{}, []any{}, []any{}, []any{}), req)
	if err != nil || snap.Service != nil || snap.App != nil || snap.TokenValid {
		t.Errorf("missing service: %+v, %v", snap, err)
	}

	for name, bad := range map[string]string{
		"empty":       "",
		"truncated":   raw[:len(raw)-3],
		"trailing":    raw + "\xa1x",
		"short array": "\x93\x90\x00",
		"not array":   "\xa3abc",
		"long string": "\x99\x93\xdb\xff\xff\xff\xffpk",
		"huge array":  "\x99\xdd\xff\xff\xff\xff",
		"float token": "\x99\x90\xcb",
	} {
		if _, err := readAuthReply(bad, req); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "malformed at byte") && !strings.Contains(err.Error(), "want 9") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzReadAuthReply: any bytes give a snapshot or an error, never a panic
// or a read past the reply.
func FuzzReadAuthReply(f *testing.F) {
	f.Add(enc([]any{"pk1", nil, "2"}, 1, "a1", []any{"active", "p1", "basic", nil}, []any{"k"}, []any{"m1", "hits"}, []any{}, []any{"m1/minute", "5"}, []any{[]any{"hits", "3"}}))
	f.Add(enc([]any{}, 0, "", []any{}, []any{}, []any{}, []any{}, []any{}, []any{}))
	f.Fuzz(func(t *testing.T, raw string) {
		snap, err := readAuthReply(raw, AuthRequest{ServiceID: "s1"})
		if (snap == nil) == (err == nil) {
			t.Fatalf("snapshot %v with error %v", snap, err)
		}
	})
}
