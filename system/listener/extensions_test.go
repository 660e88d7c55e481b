package listener_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/system/listener"
)

// withOptions sends GET path with a 3scale-options header.
func withOptions(t *testing.T, e *env, path, options string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if options != "" {
		req.Header.Set("3scale-options", options)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The 3scale-options extensions as Apisonator's docs/extensions.md and
// listener.rb give them.
func TestExtensions(t *testing.T) {
	s := serve(t, listener.Options{})
	provision(t, s.env)
	const q = "/transactions/authrep.xml?service_token=tok1&service_id=s1"
	const aq = "/transactions/authorize.xml?service_token=tok1&service_id=s1"

	t.Run("rejection_reason_header", func(t *testing.T) {
		code, h, _ := withOptions(t, s.env, q+"&app_id=a3", "rejection_reason_header=1")
		if code != 409 || h.Get("3scale-rejection-reason") != "application_not_active" {
			t.Errorf("suspended app: %d, 3scale-rejection-reason %q; want 409 application_not_active", code, h.Get("3scale-rejection-reason"))
		}
		code, h, body := withOptions(t, s.env, q+"&app_id=a3", "rejection_reason_header=1&no_body=1")
		if code != 409 || h.Get("3scale-rejection-reason") != "application_not_active" || body != "" {
			t.Errorf("with no_body: %d %q %q; want the header and no body", code, h.Get("3scale-rejection-reason"), body)
		}
		for _, tc := range []struct{ path, opts string }{
			{q + "&app_id=a1", "rejection_reason_header=1"},  // authorized
			{q + "&app_id=zz", "rejection_reason_header=1"},  // an error (404), not a rejection
			{q + "&app_id=a3", "rejection_reason_header=0"},  // off
			{q + "&app_id=a3", "rejection_reason_header=on"}, // only "1" turns it on
		} {
			if _, h, _ := withOptions(t, s.env, tc.path, tc.opts); h.Get("3scale-rejection-reason") != "" {
				t.Errorf("%s with %s: 3scale-rejection-reason %q, want none", tc.path, tc.opts, h.Get("3scale-rejection-reason"))
			}
		}
	})

	t.Run("no_body", func(t *testing.T) {
		if _, _, body := withOptions(t, s.env, aq+"&app_id=a1", "no_body=1"); body != "" {
			t.Errorf("no_body in the header: body %q", body)
		}
		// The header wins over the query parameter.
		if _, _, body := withOptions(t, s.env, aq+"&app_id=a1&no_body=true", "no_body=0"); !strings.Contains(body, "<status>") {
			t.Errorf("header no_body=0 over query no_body=true: body %q, want one", body)
		}
	})

	t.Run("limit_headers", func(t *testing.T) {
		// search: 5 a minute; hits (its parent): 1000000 forever.
		check := func(name, path string, wantCode int, remaining, max string, reset bool) {
			t.Helper()
			code, h, _ := withOptions(t, s.env, path, "limit_headers=1")
			r, err := strconv.Atoi(h.Get("3scale-limit-reset"))
			if code != wantCode || h.Get("3scale-limit-remaining") != remaining || h.Get("3scale-limit-max-value") != max ||
				err != nil || (reset && (r < 1 || r > 60)) || (!reset && r != -1) {
				t.Errorf("%s: %d remaining=%q reset=%q max=%q; want %d %s, reset %v, max %q", name, code,
					h.Get("3scale-limit-remaining"), h.Get("3scale-limit-reset"), h.Get("3scale-limit-max-value"), wantCode, remaining, reset, max)
			}
		}
		check("authorize 1 search", aq+"&app_id=a2&app_key=secret&usage[search]=1", 200, "5", "5", true)
		check("authorize 2 searches", aq+"&app_id=a2&app_key=secret&usage[search]=2", 200, "2", "5", true)
		check("authrep 1 search (counted in)", q+"&app_id=a2&app_key=secret&usage[search]=1", 200, "4", "5", true)
		check("over the limit", aq+"&app_id=a2&app_key=secret&usage[search]=6", 409, "0", "5", true)
		// Only the usage's metrics and their parents: hits alone is bound by
		// its eternity limit.
		check("hits only", aq+"&app_id=a1&usage[hits]=1", 200, "1000000", "1000000", false)
		check("no usage: unconstrained", aq+"&app_id=a2&app_key=secret", 200, "-1", "", false)
		if _, h, _ := withOptions(t, s.env, aq+"&app_id=a2", "limit_headers=1"); h.Get("3scale-limit-remaining") != "" {
			t.Errorf("denied for its key: limit headers %v, want none", h)
		}
	})

	t.Run("hierarchy and list_app_keys", func(t *testing.T) {
		_, _, body := withOptions(t, s.env, aq+"&app_id=a2&app_key=secret", "hierarchy=1&list_app_keys=1")
		want := `</usage_reports><app_keys app="a2" svc="s1"><key id="secret"/></app_keys>` +
			`<hierarchy><metric name="hits" children="search"/><metric name="search" children=""/></hierarchy></status>`
		if !strings.HasSuffix(body, want) {
			t.Errorf("body %s\nwant it to end %s", body, want)
		}
		if _, _, body := withOptions(t, s.env, aq+"&app_id=a1", "list_app_keys=1"); !strings.Contains(body, `<app_keys app="a1" svc="s1"></app_keys>`) {
			t.Errorf("an app without keys: %s, want an empty app_keys", body)
		}
		if _, _, body := withOptions(t, s.env, aq+"&app_id=a1", ""); strings.Contains(body, "app_keys") || strings.Contains(body, "hierarchy") {
			t.Errorf("without extensions: %s", body)
		}
	})

	t.Run("flat_usage", func(t *testing.T) {
		// Flat: search alone is applied, its parent hits not.
		if code, _, body := withOptions(t, s.env, q+"&app_id=a1&usage[search]=2", "flat_usage=1"); code != 200 {
			t.Fatalf("authrep flat = %d %s", code, body)
		}
		if got := waitTotals(t, s.env, "s1", "a1", "search", 2); got != 2 {
			t.Errorf("search = %d, want 2", got)
		}
		// A report in the hierarchy afterwards: hits counts only it.
		if code, b := s.do(t, "POST", "/transactions.xml", "service_token=tok1&service_id=s1&transactions[0][app_id]=a1&transactions[0][usage][hits]=1"); code != 202 {
			t.Fatalf("report = %d %s", code, b)
		}
		if got := waitTotals(t, s.env, "s1", "a1", "hits", 1); got != 1 {
			t.Errorf("hits = %d, want 1: the flat search was applied to its parent", got)
		}
	})
}
