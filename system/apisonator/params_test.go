package apisonator

import (
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/usage"
)

func TestParseQueryNested(t *testing.T) {
	root, err := ParseQuery("service_token=t%20x&service_id=1&usage%5Bhits%5D=2&usage[search]=%233&transactions[0][usage][hits]=1")
	if err != nil {
		t.Fatalf("ParseQuery: %v", err)
	}
	if v, _ := root.Get("service_token").String(); v != "t x" {
		t.Errorf("service_token = %q, want %q", v, "t x")
	}
	u := root.Get("usage")
	if u == nil || u.Leaf || strings.Join(u.Keys, ",") != "hits,search" {
		t.Fatalf("usage keys = %+v, want hits,search in order", u)
	}
	if v, _ := u.Get("search").String(); v != "#3" {
		t.Errorf("usage[search] = %q", v)
	}
	if v, _ := root.Get("transactions").Get("0").Get("usage").Get("hits").String(); v != "1" {
		t.Errorf("transactions[0][usage][hits] = %q", v)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		q    string
		code string
		http int
	}{
		{"usage=1&usage[hits]=1", "bad_request", 400},
		{"usage[hits]=1&usage=1", "bad_request", 400},
		{"usage[]=1", "bad_request", 400},
		{"user_key=%zz", "bad_request", 400},
		{"user_key=%ff", "not_valid_data", 422}, // errors.rb: NotValidData < Invalid
	} {
		_, err := ParseQuery(tc.q)
		if err == nil || err.Code != tc.code || err.Status != tc.http {
			t.Errorf("ParseQuery(%q) = %v, want %s/%d", tc.q, err, tc.code, tc.http)
		}
	}
}

func TestAuthParamsNormalization(t *testing.T) {
	p, err := ParseAuthParams("provider_key=%20pk%20&service_id=&user_key=++&app_key=&usage[hits]=1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ProviderKey != "pk" || p.ServiceID != "" || p.UserKey != "" {
		t.Errorf("credentials not trimmed/blanked: %+v", p)
	}
	if !p.HasAppKey || p.AppKey != "" {
		t.Errorf("an empty app_key must stay present: %+v", p)
	}
	// A usage that is not a hash is refused (a bare 403) by the
	// transactor once the credentials are read, not by the parser.
	if p, err := ParseAuthParams("usage=5"); err != nil || !p.UsageNotHash {
		t.Errorf("usage that is not a hash: %+v %v, want UsageNotHash", p, err)
	}
	if p, err := ParseAuthParams("usage[hits][x]=1"); err != nil || len(p.Usage) != 1 || !p.Usage[0].Nested {
		t.Errorf("nested usage value: %+v %v, want one Nested entry", p, err)
	}
	if p, err := ParseAuthParams("redirect_uri=http://a&redirect_url="); err != nil || !p.HasRedirectURI || p.RedirectURI != "http://a" || !p.HasRedirectURL || p.RedirectURL != "" {
		t.Errorf("redirect parameters: %+v %v", p, err)
	}
}

func TestParseUsageValue(t *testing.T) {
	for _, tc := range []struct {
		in      string
		v       int64
		set, ok bool
	}{
		{"1", 1, false, true},
		{" 42 ", 42, false, true},
		{"#7", 7, true, true},
		{"", 0, false, false},
		{"-1", 0, false, false},
		{"1.5", 0, false, false},
		{"abc", 0, false, false},
		{"#", 0, false, false},
		{"9999999999999999999999", 0, false, false},
	} {
		v, set, ok := ParseUsageValue(tc.in)
		if v != tc.v || set != tc.set || ok != tc.ok {
			t.Errorf("ParseUsageValue(%q) = %d,%v,%v want %d,%v,%v", tc.in, v, set, ok, tc.v, tc.set, tc.ok)
		}
	}
}

func TestStatusXML(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 48, 0, 0, time.UTC)
	st := &Status{Authorized: true, PlanName: "basic & co", Reports: []UsageReport{
		{Metric: "hits", Period: usage.Day, Start: usage.Day.Start(now), End: usage.Day.End(now), Max: 100, Current: 5},
		{Metric: "hits", Period: usage.Eternity, Max: 10, Current: 11, Exceeded: true},
	}}
	want := `<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>basic &amp; co</plan>` +
		`<usage_reports><usage_report metric="hits" period="day"><period_start>2026-11-23 00:00:00 +0000</period_start>` +
		`<period_end>2026-11-24 00:00:00 +0000</period_end><max_value>100</max_value><current_value>5</current_value></usage_report>` +
		`<usage_report metric="hits" period="eternity" exceeded="true"><max_value>10</max_value><current_value>11</current_value></usage_report>` +
		`</usage_reports></status>`
	if got := string(st.XML()); got != want {
		t.Errorf("XML:\n got %s\nwant %s", got, want)
	}
	rej := &Status{Reason: rejectLimitsExceeded(), PlanName: "p"}
	if got := string(rej.XML()); !strings.Contains(got, "<authorized>false</authorized><reason>usage limits are exceeded</reason>") {
		t.Errorf("rejection XML: %s", got)
	}
	if rej.HTTPStatus() != 409 || st.HTTPStatus() != 200 {
		t.Errorf("HTTP statuses %d/%d, want 409/200", rej.HTTPStatus(), st.HTTPStatus())
	}
}

func TestErrorXML(t *testing.T) {
	got := string(ErrUserKeyInvalid(`a"<b`).XML())
	want := `<?xml version="1.0" encoding="UTF-8"?><error code="user_key_invalid">user key "a"&lt;b" is invalid</error>`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// FuzzParseTransaction feeds arbitrary query strings through the parsing and
// usage validation of the transactions endpoints: malformed input must give
// a 4xx Apisonator error, never a panic or a 5xx.
func FuzzParseTransaction(f *testing.F) {
	for _, s := range []string{
		"service_token=t&service_id=1&user_key=k&usage[hits]=1",
		"provider_key=pk&app_id=a&app_key=k&usage[hits]=%231",
		"usage[hits]=abc", "usage=1&usage[a]=2", "usage[]=1", "%zz", "%ff=1",
		"transactions[0][app_id]=a&transactions[0][usage][hits]=1&transactions[1]=",
		"a[b][c][d]=1&a[b]=2", "[x]=1&&&=", "usage[hits][x]=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		check := func(what string, e *Error) {
			if e != nil && (e.Status < 400 || e.Status > 499) {
				t.Fatalf("%s(%q): status %d, want 4xx", what, q, e.Status)
			}
		}
		p, e := ParseAuthParams(q)
		check("ParseAuthParams", e)
		if p != nil {
			for _, u := range p.Usage {
				if _, _, ok := ParseUsageValue(u.Value); !ok {
					check("usage", ErrUsageValueInvalid(u.Metric, u.Value))
				}
			}
		}
		_, e = ParseReportParams(q)
		check("ParseReportParams", e)
	})
}

// Rack's limits: 4096 '&' or more, a key nested over 32 deep, or a query
// over 4 MiB are 400 bad_request with Rack's message; just under each passes.
func TestParseQueryLimits(t *testing.T) {
	for _, tc := range []struct {
		name, q string
		msg     string // "" when it must parse
	}{
		{"4095 separators", "a=1" + strings.Repeat("&b=1", MaxParams-1), ""},
		{"4096 separators", "a=1" + strings.Repeat("&b=1", MaxParams), "total number of query parameters (4097) exceeds limit (4096)"},
		{"32 deep", "a" + strings.Repeat("[b]", MaxDepth-1) + "=1", ""},
		{"33 deep", "a" + strings.Repeat("[b]", MaxDepth) + "=1", "Rack::QueryParser::QueryLimitError"},
		{"4 MiB", "a=" + strings.Repeat("x", MaxQueryBytes-2), ""},
		{"over 4 MiB", "a=" + strings.Repeat("x", MaxQueryBytes-1), "total query size exceeds limit (4194304)"},
	} {
		_, err := ParseQuery(tc.q)
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%s: %v, want parsed", tc.name, err)
		case tc.msg != "" && (err == nil || err.Code != "bad_request" || err.Status != 400 || err.Message != tc.msg):
			t.Errorf("%s: %v, want 400 bad_request %q", tc.name, err, tc.msg)
		}
	}
}
