package listener_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const (
	authzP  = "/transactions/authorize.xml?"
	authrP  = "/transactions/authrep.xml?"
	oauthzP = "/transactions/oauth_authorize.xml?"
	oauthrP = "/transactions/oauth_authrep.xml?"
	xmlType = "application/vnd.3scale-v2.0+xml"
)

func g(path string, status int, has ...string) confStep { return cget(path, status, has...) }

func withOpts(s confStep, options string) confStep  { s.options = options; return s }
func exactly(s confStep, body *string) confStep     { s.exact = body; return s }
func hdrs(s confStep, h map[string]string) confStep { s.headers = h; return s }
func not(s confStep, xs ...string) confStep         { s.hasNot = xs; return s }
func drained(s confStep) confStep                   { s.drain = true; return s }

// limitHeader checks a 3scale-limit-* header's number.
func limitHeader(name string, ok func(int64) bool, want string) func(*testing.T, http.Header, string) {
	return func(t *testing.T, h http.Header, _ string) {
		v, err := strconv.ParseInt(h.Get(name), 10, 64)
		if err != nil || !ok(v) {
			t.Errorf("header %s = %q, want %s", name, h.Get(name), want)
		}
	}
}

func withCheck(s confStep, c func(*testing.T, http.Header, string)) confStep { s.check = c; return s }

// authCases are the cases shared by an authorize-like endpoint (prefix p)
// on a service fixture fx, from the tests that Apisonator runs on it.
func authCommon(endpoint, p, file string, fx func(...confStep) []confStep) []confCase {
	src := func(name string) string { return file + ": " + name }
	return []confCase{
		{endpoint: endpoint, source: src("successful authorize responds with 200 / has custom content type / renders plan name"),
			fixture: fx(),
			steps:   []confStep{hdrs(g(p+"provider_key={PK}&app_id={A}", 200, authorized, "<plan>basic</plan>"), map[string]string{"Content-Type": xmlType})}},
		{endpoint: endpoint, source: src("test_nobody / successful authorize with no body responds with 200"),
			fixture: fx(),
			steps:   []confStep{exactly(withOpts(g(p+"provider_key={PK}&app_id={A}", 200), "no_body=1"), str(""))}},
		{endpoint: endpoint, source: src("response of successful authorize does not contain usage reports if the plan has no usage limits"),
			fixture: fx(),
			steps:   []confStep{not(g(p+"provider_key={PK}&service_id={S}&app_id={A}", 200, authorized), "<usage_reports>")}},
		{endpoint: endpoint, source: src("fails on invalid provider key"),
			fixture: fx(),
			steps:   []confStep{exactly(g(p+"provider_key=invalid_key&app_id={A}", 403), errXML("provider_key_invalid_or_service_missing", `provider key "invalid_key" invalid and/or service ID missing`))}},
		{endpoint: endpoint, source: src("fails on invalid provider key with no body"),
			fixture: fx(),
			steps:   []confStep{exactly(withOpts(g(p+"provider_key=boo&app_id={A}", 403), "no_body=1"), str(""))}},
		{endpoint: endpoint, source: src("fails on invalid application id"),
			fixture: fx(),
			steps:   []confStep{exactly(g(p+"provider_key={PK}&app_id=boo", 404), errXML("application_not_found", `application with id="boo" was not found`))}},
		{endpoint: endpoint, source: src("fails on invalid application id with no body"),
			fixture: fx(),
			steps:   []confStep{exactly(withOpts(g(p+"provider_key={PK}&app_id=boo", 404), "no_body=1"), str(""))}},
		{endpoint: endpoint, source: src("fails on missing application id"),
			fixture: fx(),
			steps:   []confStep{g(p+"provider_key={PK}", 404, `<error code="application_not_found">`)}},
		{endpoint: endpoint, source: src("fails when the application exists but in a different provider"),
			fixture: fx(cpost("/internal/services/", `{"service":{"id":"{S}-2","provider_key":"{PK}-2","backend_version":"2"}}`, 201),
				cpost("/internal/services/{S}-2/applications/{A}-2", `{"application":{"state":"active","plan_id":"x","plan_name":"free"}}`, 201)),
			steps: []confStep{exactly(g(p+"provider_key={PK}&service_id={S}-2&app_id={A}-2", 403), errXML("service_id_invalid", `service id "{S}-2" is invalid`))}},
		{endpoint: endpoint, source: src("does not authorize on inactive application (and with no body)"),
			fixture: fx(cput("/internal/services/{S}/applications/{A}", `{"application":{"state":"suspended"}}`, 200)),
			steps: []confStep{g(p+"provider_key={PK}&app_id={A}", 409, denied("application is not active")),
				exactly(withOpts(g(p+"provider_key={PK}&app_id={A}", 409), "no_body=1"), str(""))}},
		{endpoint: endpoint, source: src("does not authorize on exceeded client usage limits (reported, then applied by the worker)"),
			fixture: fx(limit("m1", "day", 4)),
			steps:   []confStep{report("transactions[0][usage][hits]=5"), drained(g(p+"provider_key={PK}&service_id={S}&app_id={A}", 409, denied("usage limits are exceeded")))},
			totals:  map[string]map[string]int64{"{A}": {"hits": 5}}},
		{endpoint: endpoint, source: src("response of successful authorize contains usage reports if the plan has usage limits"),
			fixture: fx(limit("m1", "day", 100), limit("m1", "month", 10000)),
			steps: []confStep{report("transactions[0][usage][hits]=3"), report("transactions[0][usage][hits]=2"),
				drained(g(p+"provider_key={PK}&app_id={A}", 200, usageReport("hits", "day", 100, 5, false), usageReport("hits", "month", 10000, 5, false)))}},
		{endpoint: endpoint, source: src("response contains usage reports marked as exceeded on exceeded client usage limits"),
			fixture: fx(limit("m1", "month", 10), limit("m1", "day", 4)),
			steps: []confStep{report("transactions[0][usage][hits]=5"),
				drained(g(p+"provider_key={PK}&app_id={A}", 409, usageReport("hits", "day", 4, 5, true), usageReport("hits", "month", 10, 5, false)))}},
		{endpoint: endpoint, source: src("succeeds on eternity limits"),
			fixture: fx(limit("m1", "month", 4), limit("m1", "eternity", 10)),
			steps: []confStep{report("transactions[0][usage][hits]=1"), report("transactions[0][usage][hits]=1"), report("transactions[0][usage][hits]=1"),
				drained(g(p+"provider_key={PK}&app_id={A}", 200, usageReport("hits", "month", 4, 3, false), usageReport("hits", "eternity", 10, 3, false)))}},
		{endpoint: endpoint, source: src("does not authorize on eternity limits"),
			fixture: fx(limit("m1", "month", 20), limit("m1", "eternity", 2)),
			steps: []confStep{report("transactions[0][usage][hits]=3"),
				drained(g(p+"provider_key={PK}&app_id={A}", 409, usageReport("hits", "month", 20, 3, false), usageReport("hits", "eternity", 2, 3, true)))}},
		{endpoint: endpoint, source: src("eternity is not returned if the limit on it is not defined"),
			fixture: fx(limit("m1", "month", 20)),
			steps:   []confStep{not(g(p+"provider_key={PK}&app_id={A}", 200, `period="month"`), `period="eternity"`)}},
		{endpoint: endpoint, source: src("usage must be an array regression"),
			fixture: fx(),
			steps:   []confStep{exactly(g(p+"provider_key={PK}&app_id={A}&usage=", 403), str("")), exactly(g(p+"provider_key={PK}&app_id={A}&usage=1001", 403), str(""))}},
		{endpoint: endpoint, source: src("auth using registered (service_token, service_id) instead of provider key responds 200"),
			fixture: fx(),
			steps:   []confStep{g(p+"service_token={TOK}&service_id={S}&app_id={A}", 200, authorized)}},
		{endpoint: endpoint, source: src("auth using valid service token and blank service ID fails"),
			fixture: fx(),
			steps: []confStep{exactly(g(p+"service_token={TOK}&service_id=&app_id={A}", 422), errXML("service_id_missing", "Service ID is missing")),
				exactly(g(p+"service_token={TOK}&app_id={A}", 422), errXML("service_id_missing", "Service ID is missing"))}},
		{endpoint: endpoint, source: src("auth using blank service token and valid service ID fails"),
			fixture: fx(),
			steps:   []confStep{exactly(g(p+"service_token=&service_id={S}&app_id={A}", 403), errXML("provider_key_or_service_token_required", "Provider key or service token are required"))}},
		{endpoint: endpoint, source: src("auth using registered token but with non-existing service ID fails"),
			fixture: fx(cpost("/internal/service_tokens/", `{"service_tokens":{"{TOK}-x":{"service_id":"id_non_existing_service"}}}`, 201)),
			steps:   []confStep{exactly(g(p+"service_token={TOK}-x&service_id=id_non_existing_service&app_id={A}", 403), errXML("service_token_invalid", `service token "{TOK}-x" or service id "id_non_existing_service" is invalid`))}},
		{endpoint: endpoint, source: src("auth using valid provider key and blank service token responds with 200"),
			fixture: fx(),
			steps:   []confStep{g(p+"provider_key={PK}&service_token=&app_id={A}", 200, authorized)}},
		{endpoint: endpoint, source: src("auth using non-existing provider key and saved (service token, service id) fails"),
			fixture: fx(),
			steps:   []confStep{exactly(g(p+"provider_key=non_existing_key&service_token={TOK}&service_id={S}&app_id={A}", 403), errXML("provider_key_invalid", `provider key "non_existing_key" is invalid`))}},
		{endpoint: endpoint, source: src("resp headers have rejection reason when 409 and option is in the params / not when the option is not"),
			fixture: fx(limit("m1", "day", 1)),
			steps: []confStep{hdrs(withOpts(g(p+"provider_key={PK}&app_id={A}&usage[hits]=2", 409), "rejection_reason_header=1"), map[string]string{"3scale-rejection-reason": "limits_exceeded"}),
				hdrs(g(p+"provider_key={PK}&app_id={A}&usage[hits]=2", 409), map[string]string{"3scale-rejection-reason": ""})}},
		{endpoint: endpoint, source: src("returns error when the usage includes a metric that does not exist (and with no_body=true)"),
			fixture: fx(),
			steps: []confStep{exactly(g(p+"provider_key={PK}&app_id={A}&usage[non_existing]=1", 404), errXML("metric_invalid", `metric "non_existing" is invalid`)),
				exactly(withOpts(g(p+"provider_key={PK}&app_id={A}&usage[hits]=1&usage[non_existing]=1", 404), "no_body=1"), str(""))}},
		{endpoint: endpoint, source: strings.Replace(file, "basic_test", "unexpected_params_test", 1) + ": ignores unexpected params",
			fixture: fx(),
			steps:   []confStep{g(p+"provider_key={PK}&app_id={A}&foo=bar&usage[hits]=1", 200, authorized)}},
		{endpoint: endpoint, source: strings.Replace(file, "basic_test", "disabled_service_test", 1) + ": authorize on disabled service responds with 409",
			fixture: fx(cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}","state":"suspended","backend_version":"`+fxVersion(fx)+`"}}`, 200)),
			steps:   []confStep{g(p+"provider_key={PK}&service_id={S}&app_id={A}", 409, denied("service is not active"))}},
	}
}

// fxVersion is the backend_version a fixture function provisions.
func fxVersion(fx func(...confStep) []confStep) string {
	b := fx()[0].body
	i := strings.Index(b, `"backend_version":"`) + len(`"backend_version":"`)
	return b[i : i+strings.IndexByte(b[i:], '"')]
}

func conformanceCases() []confCase {
	var cs []confCase
	const ab = "test/integration/authorize/basic_test.rb"
	cs = append(cs, authCommon("authorize", authzP, ab, fx2)...)
	cs = append(cs, authCommon("oauth_authorize", oauthzP, "test/integration/oauth/basic_test.rb", fxOAuth)...)
	// authrep's basic tests run on an oauth service (setup_oauth_provider_fixtures), for authrep and oauth_authrep.
	cs = append(cs, authCommon("authrep", authrP, "test/integration/authrep/basic_test.rb", fxOAuth)...)
	cs = append(cs, authCommon("oauth_authrep", oauthrP, "test/integration/authrep/basic_test.rb (oauth_authrep)", fxOAuth)...)

	// authorize only
	cs = append(cs,
		confCase{endpoint: "authorize", source: ab + ": regression test for utf8 issues and super malformed request",
			fixture: fx2(),
			steps: []confStep{exactly(g(authzP+"provider_key=%F0%90%28%BC", 422), errXML("not_valid_data", "all data must be valid UTF8")),
				exactly(g(authzP+"provider_key={PK}&app_id=%F0%90%28%BC", 422), errXML("not_valid_data", "all data must be valid UTF8")),
				g(authzP+"provider_key={PK}&app_id={A}&usage[%F0%90%28%BC]=1", 422)}},
		confCase{endpoint: "authorize", source: "test/integration/backend_version_test.rb: test app_id and user_key are not exchangeable and are bound to the backend_version",
			fixture: fx1(),
			steps: []confStep{exactly(g(authzP+"provider_key={PK}&app_id={A}", 403), errXML("user_key_invalid", "user key is missing")),
				g(authzP+"provider_key={PK}&user_key={UK}", 200, authorized),
				cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}","backend_version":"2"}}`, 200),
				g(authzP+"provider_key={PK}&app_id={A}", 200, authorized),
				exactly(g(authzP+"provider_key={PK}&user_key={UK}", 404), errXML("application_not_found", "application id is missing"))}},
		confCase{endpoint: "authorize", source: "test/integration/backend_version_test.rb: when backend_version is 2 and we switch to oauth, app_keys are checked if passing in app_key",
			fixture: fx2(appKey("{A}", "k1")),
			steps: []confStep{g(authzP+"provider_key={PK}&app_id={A}", 409, denied("application key is missing")),
				g(authzP+"provider_key={PK}&app_id={A}&app_key=k1", 200, authorized),
				cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}","backend_version":"oauth"}}`, 200),
				g(oauthzP+"provider_key={PK}&app_id={A}&app_key=bad", 409, denied(`application key "bad" is invalid`)),
				g(oauthzP+"provider_key={PK}&app_id={A}&app_key=k1", 200, authorized),
				g(oauthzP+"provider_key={PK}&app_id={A}", 200, authorized)}},
		confCase{endpoint: "authorize", source: "test/integration/authorize/application_keys_test.rb: does not authorize if application key is defined but not passed / wrong one is passed",
			fixture: fx2(appKey("{A}", "foo")),
			steps: []confStep{g(authzP+"provider_key={PK}&app_id={A}", 409, denied("application key is missing")),
				g(authzP+"provider_key={PK}&app_id={A}&app_key=bar", 409, denied(`application key "bar" is invalid`)),
				g(authzP+"provider_key={PK}&app_id={A}&app_key=foo", 200, authorized)}},
		confCase{endpoint: "authorize", source: "test/integration/authorize/legacy_test.rb: fails when both application_id and legacy user key are passed",
			fixture: fx1(),
			steps:   []confStep{exactly(g(authzP+"provider_key={PK}&app_id={A}&user_key={UK}", 403), errXML("authentication_error", "either app_id or user_key is allowed, not both"))}},
		confCase{endpoint: "authorize", source: "test/integration/authorize/basic_test.rb: flat usage extensions ignores established hierarchy when passing in usage data",
			fixture: fx2(metric("m2", "child", "m1"), limit("m1", "day", 5)),
			steps: []confStep{g(authzP+"provider_key={PK}&app_id={A}&usage[child]=6", 409, denied("usage limits are exceeded")),
				withOpts(g(authzP+"provider_key={PK}&app_id={A}&usage[child]=6", 200, authorized), "flat_usage=1")}},
		confCase{endpoint: "authorize", source: "listener.rb check_no_user_id (test/integration/authorize/basic_test.rb has none; EndUsersNoLongerSupported in errors.rb)",
			fixture: fx2(),
			steps: []confStep{exactly(g(authzP+"provider_key={PK}&app_id={A}&user_id=u", 400), errXML("end_users_no_longer_supported", "End-users are no longer supported, do not specify the user_id parameter")),
				// the credentials come first
				g(authzP+"service_token=bad&service_id={S}&app_id={A}&user_id=u", 403, `code="service_token_invalid"`)}},
	)

	// authrep only (worker involved)
	const rb = "test/integration/authrep/basic_test.rb"
	for _, e := range []struct{ name, p string }{{"authrep", authrP}, {"oauth_authrep", oauthrP}} {
		cs = append(cs,
			confCase{endpoint: e.name, source: rb + ": reporting hits and a child method at once",
				fixture: fxOAuth(metric("m2", "child_hits", "m1"), limit("m1", "eternity", 20), limit("m2", "eternity", 10)),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=1&usage[child_hits]=1", 200, usageReport("hits", "eternity", 20, 2, false), usageReport("child_hits", "eternity", 10, 1, false)),
					drained(g(e.p+"provider_key={PK}&app_id={A}", 200, usageReport("hits", "eternity", 20, 2, false), usageReport("child_hits", "eternity", 10, 1, false))),
					g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=1&usage[child_hits]=1", 200, usageReport("hits", "eternity", 20, 4, false), usageReport("child_hits", "eternity", 10, 2, false))},
				totals: map[string]map[string]int64{"{A}": {"hits": 4, "child_hits": 2}}, jobs: jobs(2)},
			confCase{endpoint: e.name, source: rb + ": reporting hits and a child method at once, not unitary values",
				fixture: fxOAuth(metric("m2", "child_hits", "m1"), limit("m1", "eternity", 200), limit("m2", "eternity", 100)),
				steps:   []confStep{g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=2&usage[child_hits]=5", 200, usageReport("hits", "eternity", 200, 7, false), usageReport("child_hits", "eternity", 100, 5, false))},
				totals:  map[string]map[string]int64{"{A}": {"hits": 7, "child_hits": 5}}},
			confCase{endpoint: e.name, source: rb + ": does not create stats keys with usage == 0",
				fixture: fxOAuth(metric("m3", "some_metric", "")),
				steps:   []confStep{g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=0&usage[some_metric]=1", 200, authorized)},
				totals:  map[string]map[string]int64{"{A}": {"hits": -1, "some_metric": 1}}, jobs: jobs(1)},
			confCase{endpoint: e.name, source: "lib/3scale/backend/transactor.rb do_authrep (filter_metrics_without_inc): an all-0 usage enqueues no job",
				fixture: fxOAuth(),
				steps:   []confStep{g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=0", 200, authorized)},
				totals:  map[string]map[string]int64{"{A}": {"hits": -1}}, jobs: jobs(0)},
			confCase{endpoint: e.name, source: "test/integration/authrep/reporting_test.rb: does not authorize when current usage + predicted usage exceeds the limits",
				fixture: fxOAuth(limit("m1", "day", 4)),
				steps: []confStep{report("transactions[0][usage][hits]=3"),
					drained(g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=2", 409, denied("usage limits are exceeded"), usageReport("hits", "day", 4, 3, false)))},
				totals: map[string]map[string]int64{"{A}": {"hits": 3}}},
			confCase{endpoint: e.name, source: "test/integration/authrep/reporting_test.rb: succeeds when only limits for the metrics not in the predicted usage are exceeded",
				fixture: fxOAuth(metric("m2", "hacks", ""), limit("m1", "day", 4), limit("m2", "day", 4)),
				steps: []confStep{report("transactions[0][usage][hits]=2&transactions[0][usage][hacks]=5"),
					drained(g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=1", 200, authorized, usageReport("hits", "day", 4, 3, false))),
					drained(g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=1", 200, authorized, usageReport("hits", "day", 4, 4, false)))},
				totals: map[string]map[string]int64{"{A}": {"hits": 4, "hacks": 5}}},
			confCase{endpoint: e.name, source: "test/integration/authrep/reporting_test.rb: does not authorize if usage of a parent metric exceeds the limits but only a child metric which does not exceed the limits is in the predicted usage",
				fixture: fxOAuth(metric("m2", "queries", "m1"), limit("m1", "day", 4)),
				steps:   []confStep{report("transactions[0][usage][hits]=5"), drained(g(e.p+"provider_key={PK}&app_id={A}&usage[queries]=1", 409, denied("usage limits are exceeded")))},
				totals:  map[string]map[string]int64{"{A}": {"hits": 5, "queries": -1}}},
			confCase{endpoint: e.name, source: "test/integration/authrep/multi_level_hierarchy_test.rb: when authorized, propagates the reports to all the levels in the hierarchy",
				fixture: fxOAuth(metric("m2", "mid", "m1"), metric("m3", "leaf", "m2")),
				steps:   []confStep{g(e.p+"provider_key={PK}&app_id={A}&usage[leaf]=1", 200, authorized)},
				totals:  map[string]map[string]int64{"{A}": {"hits": 1, "mid": 1, "leaf": 1}}},
			confCase{endpoint: e.name, source: "test/integration/authrep/multi_level_hierarchy_test.rb: denies when limits exceeded on the metric at the top of the hierarchy",
				fixture: fxOAuth(metric("m2", "mid", "m1"), metric("m3", "leaf", "m2"), limit("m1", "day", 1)),
				steps:   []confStep{g(e.p+"provider_key={PK}&app_id={A}&usage[leaf]=2", 409, denied("usage limits are exceeded"))},
				totals:  map[string]map[string]int64{"{A}": {"hits": -1}}, jobs: jobs(0)},
			confCase{endpoint: e.name, source: "test/integration/authrep/application_keys_test.rb: authorizes if application key is defined but not passed if the service is oauth / does not authorize if application key is defined but wrong even if the service is oauth",
				fixture: fxOAuth(appKey("{A}", "foo")),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}", 200, authorized),
					g(e.p+"provider_key={PK}&app_id={A}&app_key=foo", 200, authorized),
					g(e.p+"provider_key={PK}&app_id={A}&app_key=bar", 409, denied(`application key "bar" is invalid`))}},
			confCase{endpoint: e.name, source: "test/integration/authrep/legacy_test.rb: fails when both application_id and legacy user key are passed",
				fixture: fxOAuth(cput("/internal/services/{S}/applications/{A}/key/{UK}", "", 200)),
				steps:   []confStep{exactly(g(e.p+"provider_key={PK}&app_id={A}&user_key={UK}", 403), errXML("authentication_error", "either app_id or user_key is allowed, not both"))}},
			confCase{endpoint: e.name, source: "test/integration/authrep/limit_headers_test.rb: response headers include limit headers when asked via extensions",
				fixture: fxOAuth(metric("m2", "metric2", ""), limit("m1", "day", 100), limit("m1", "hour", 100), limit("m2", "day", 200)),
				steps: []confStep{withCheck(withOpts(g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=10&usage[metric2]=10", 200), "limit_headers=1"),
					func(t *testing.T, h http.Header, b string) {
						limitHeader("3scale-limit-remaining", func(v int64) bool { return v == 9 }, "9")(t, h, b)
						limitHeader("3scale-limit-max-value", func(v int64) bool { return v == 100 }, "100")(t, h, b)
						limitHeader("3scale-limit-reset", func(v int64) bool { return v > 0 && v <= 86400 }, "the seconds left in the day")(t, h, b)
					})}},
			confCase{endpoint: e.name, source: "test/integration/authrep/limit_headers_test.rb: remaining and reset in headers are negative when there are no limits",
				fixture: fxOAuth(),
				steps: []confStep{hdrs(withCheck(withOpts(g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=10", 200), "limit_headers=1"), func(t *testing.T, h http.Header, b string) {
					limitHeader("3scale-limit-remaining", func(v int64) bool { return v < 0 }, "negative")(t, h, b)
					limitHeader("3scale-limit-reset", func(v int64) bool { return v < 0 }, "negative")(t, h, b)
				}), map[string]string{"3scale-limit-max-value": ""})}},
			confCase{endpoint: e.name, source: "test/integration/authrep/limit_headers_test.rb: limit headers are not returned when there is an error != limits exceeded",
				fixture: fxOAuth(appKey("{A}", "foo")),
				steps: []confStep{hdrs(withOpts(g(e.p+"provider_key={PK}&app_id={A}&app_key=bar&usage[invalid_metric]=1", 409, denied(`application key "bar" is invalid`)), "limit_headers=1"),
					map[string]string{"3scale-limit-remaining": "", "3scale-limit-reset": "", "3scale-limit-max-value": ""})}},
			confCase{endpoint: e.name, source: "test/integration/authrep/list_app_keys_test.rb: with the list_app_keys extension outputs the application keys section even if no app keys exist / lists the application keys even if app_key is invalid",
				fixture: fxOAuth(app("{A}-k", "active"), appKey("{A}-k", "key1")),
				steps: []confStep{withOpts(g(e.p+"provider_key={PK}&service_id={S}&app_id={A}", 200, `<app_keys app="{A}" svc="{S}"></app_keys>`), "list_app_keys=1"),
					withOpts(g(e.p+"provider_key={PK}&service_id={S}&app_id={A}-k&app_key=nope", 409, `<app_keys app="{A}-k" svc="{S}"><key id="key1"/></app_keys>`), "list_app_keys=1"),
					not(g(e.p+"provider_key={PK}&service_id={S}&app_id={A}-k", 200), "<app_keys")}},
		)
	}
	cs = append(cs,
		confCase{endpoint: "authrep", source: "test/integration/authrep/legacy_test.rb: succeeds when valid legacy user key passed / fails on invalid legacy user key passed (backend_version 1)",
			fixture: fx1(),
			steps: []confStep{g(authrP+"provider_key={PK}&user_key={UK}&usage[hits]=1", 200, authorized),
				exactly(g(authrP+"provider_key={PK}&user_key=biteme", 403), errXML("user_key_invalid", `user key "biteme" is invalid`))},
			totals: map[string]map[string]int64{"{A}": {"hits": 1}}},
		confCase{endpoint: "authrep", source: "test/integration/authrep/application_keys_test.rb: does not authorize if application key is defined but not passed for non oauth services",
			fixture: fx2(appKey("{A}", "foo")),
			steps:   []confStep{g(authrP+"provider_key={PK}&app_id={A}&usage[hits]=1", 409, denied("application key is missing"))},
			totals:  map[string]map[string]int64{"{A}": {"hits": -1}}},
		confCase{endpoint: "authrep", source: "test/integration/authrep/disabled_service_test.rb: authrep on disabled service responds with 409",
			fixture: fx2(cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}","state":"suspended"}}`, 200)),
			steps:   []confStep{g(authrP+"provider_key={PK}&app_id={A}&usage[hits]=1", 409, denied("service is not active"))},
			totals:  map[string]map[string]int64{"{A}": {"hits": -1}}, jobs: jobs(0)},
	)

	// OAuth only
	const ob = "test/integration/oauth/"
	redirectApp := cpost("/internal/services/{S}/applications/{A}-r", `{"application":{"state":"active","plan_id":"{P}","plan_name":"basic","redirect_url":"http://3scale.net"}}`, 201)
	for _, e := range []struct{ name, p string }{{"oauth_authorize", oauthzP}, {"oauth_authrep", oauthrP}} {
		cs = append(cs,
			confCase{endpoint: e.name, source: ob + "basic_test.rb: response of successful authorize contains application data",
				fixture: fxOAuth(redirectApp, appKey("{A}-r", "k1")),
				steps:   []confStep{g(e.p+"provider_key={PK}&app_id={A}-r", 200, authorized+"<application><id>{A}-r</id><key>k1</key><redirect_url>http://3scale.net</redirect_url></application><plan>basic</plan>")}},
			confCase{endpoint: e.name, source: ob + "basic_test.rb: fails on missing application id (oauth: app_id required)",
				fixture: fxOAuth(),
				steps:   []confStep{exactly(g(e.p+"provider_key={PK}", 404), errXML("application_not_found", "application id is missing"))}},
			confCase{endpoint: e.name, source: ob + "legacy_test.rb: doesnt succeed when valid legacy user key passed",
				fixture: fxOAuth(cput("/internal/services/{S}/applications/{A}/key/foobar", "", 200)),
				steps:   []confStep{exactly(g(e.p+"provider_key={PK}&user_key=foobar", 404), errXML("application_not_found", "application id is missing"))}},
			confCase{endpoint: e.name, source: ob + "redirect_url_test.rb: succeeds if its not passed and not defined / not passed and defined",
				fixture: fxOAuth(redirectApp),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}", 200, authorized, "<redirect_url></redirect_url>"),
					g(e.p+"provider_key={PK}&app_id={A}-r", 200, authorized)}},
			confCase{endpoint: e.name, source: ob + "redirect_url_test.rb: succeeds if its defined and the passed redirect_url / redirect_uri matches; returns the field the request used",
				fixture: fxOAuth(redirectApp),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}-r&redirect_url=http://3scale.net", 200, authorized, "<redirect_url>http://3scale.net</redirect_url>"),
					g(e.p+"provider_key={PK}&app_id={A}-r&redirect_uri=http://3scale.net", 200, authorized, "<redirect_uri>http://3scale.net</redirect_uri>")}},
			confCase{endpoint: e.name, source: ob + "redirect_url_test.rb: does not authorize if redirect_url / redirect_uri is passed and doesnt match defined",
				fixture: fxOAuth(redirectApp),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}-r&redirect_url=http://3scale.net2", 409, denied(`redirect_url "http://3scale.net2" is invalid`)),
					g(e.p+"provider_key={PK}&app_id={A}-r&redirect_uri=http://3scale.net2", 409, denied(`redirect_uri "http://3scale.net2" is invalid`))},
				totals: map[string]map[string]int64{"{A}-r": {"hits": -1}}},
			confCase{endpoint: e.name, source: ob + "redirect_url_test.rb: redirect_url takes precedence for compatibility over redirect_uri",
				fixture: fxOAuth(redirectApp),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}-r&redirect_url=http://3scale.net&redirect_uri=http://3scale.net2", 200, authorized),
					g(e.p+"provider_key={PK}&app_id={A}-r&redirect_url=http://3scale.net2&redirect_uri=http://3scale.net", 409, denied(`redirect_url "http://3scale.net2" is invalid`))}},
			confCase{endpoint: e.name, source: ob + "application_keys_test.rb: fails if no application key is defined but an empty one is passed / succeeds if no application key is defined nor passed",
				fixture: fxOAuth(),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}&app_key=", 409, denied("application key is missing")),
					g(e.p+"provider_key={PK}&app_id={A}", 200, authorized)}},
			confCase{endpoint: e.name, source: ob + "application_keys_test.rb: succeeds if multiple application keys are defined and one of them is passed / does not authorize if defined but empty one is passed",
				fixture: fxOAuth(appKey("{A}", "one"), appKey("{A}", "two")),
				steps: []confStep{g(e.p+"provider_key={PK}&app_id={A}&app_key=two", 200, authorized),
					g(e.p+"provider_key={PK}&app_id={A}&app_key=", 409, denied("application key is missing"))}},
			confCase{endpoint: e.name, source: "lib/3scale/backend/validators/oauth_setting.rb (OauthSetting, no test of its own): an oauth call on a service that is not oauth",
				fixture: fx2(),
				steps:   []confStep{hdrs(withOpts(g(e.p+"provider_key={PK}&app_id={A}&usage[hits]=1", 409, denied("oauth is not enabled"), "<application><id>{A}</id>"), "rejection_reason_header=1"), map[string]string{"3scale-rejection-reason": "oauth_not_enabled"})},
				totals:  map[string]map[string]int64{"{A}": {"hits": -1}}},
		)
	}
	cs = append(cs, confCase{endpoint: "oauth_authrep", source: "test/integration/authrep/basic_test.rb (oauth_authrep): reports its usage, counted once by the worker (ReportJob)",
		fixture: fxOAuth(),
		steps:   []confStep{g(oauthrP+"provider_key={PK}&app_id={A}&usage[hits]=2", 200, authorized), g(oauthrP+"provider_key={PK}&app_id={A}&usage[hits]=3", 200, authorized)},
		totals:  map[string]map[string]int64{"{A}": {"hits": 5}}, jobs: jobs(2)})

	cs = append(cs, reportCases()...)
	cs = append(cs, internalCases()...)
	return cs
}

func reportCases() []confCase {
	const rt = "test/integration/report_test.rb: "
	pr := func(body string, status int) confStep { return cpost("/transactions.xml", body, status) }
	tx := "transactions[0][app_id]={A}&transactions[0][usage][hits]=1"
	none := map[string]map[string]int64{"{A}": {"hits": -1}}
	return []confCase{
		{endpoint: "report", source: rt + "successful report responds with 202 / increments the stats counters",
			fixture: fx2(), steps: []confStep{exactly(pr("provider_key={PK}&"+tx, 202), str(""))},
			totals: map[string]map[string]int64{"{A}": {"hits": 1}}},
		{endpoint: "report", source: rt + "successful report with different apps increments stats counter at service and app level",
			fixture: fx2(app("{A}-2", "active")),
			steps:   []confStep{pr("provider_key={PK}&"+tx+"&transactions[1][app_id]={A}-2&transactions[1][usage][hits]=2", 202)},
			totals:  map[string]map[string]int64{"{A}": {"hits": 1}, "{A}-2": {"hits": 2}}},
		{endpoint: "report", source: rt + "report fails on invalid provider key",
			fixture: fx2(), steps: []confStep{exactly(pr("provider_key=invalid_key&"+tx, 403), errXML("provider_key_invalid_or_service_missing", `provider key "invalid_key" invalid and/or service ID missing`))}, totals: none},
		{endpoint: "report", source: rt + "report reports error on invalid application id",
			fixture: fx2(), steps: []confStep{pr("provider_key={PK}&transactions[0][app_id]=boo&transactions[0][usage][hits]=1", 202)}, jobs: jobs(0)},
		{endpoint: "report", source: rt + "report reports error on invalid metric name",
			fixture: fx2(), steps: []confStep{pr("provider_key={PK}&transactions[0][app_id]={A}&transactions[0][usage][nukes]=1", 202)}, totals: none, jobs: jobs(0)},
		{endpoint: "report", source: rt + "report reports error on empty usage value / on invalid usage value",
			fixture: fx2(), steps: []confStep{pr("provider_key={PK}&transactions[0][app_id]={A}&transactions[0][usage][hits]=+", 202),
				pr("provider_key={PK}&transactions[0][app_id]={A}&transactions[0][usage][hits]=tons!", 202)}, totals: none},
		{endpoint: "report", source: rt + "report does not create keys with usage == 0",
			fixture: fx2(metric("m3", "some_metric", "")),
			steps:   []confStep{pr("provider_key={PK}&transactions[0][app_id]={A}&transactions[0][usage][hits]=0&transactions[0][usage][some_metric]=1", 202)},
			totals:  map[string]map[string]int64{"{A}": {"hits": -1, "some_metric": 1}}},
		{endpoint: "report", source: rt + "report does not aggregate anything when at least one transaction is invalid",
			fixture: fx2(), steps: []confStep{pr("provider_key={PK}&"+tx+"&transactions[1][app_id]=boo&transactions[1][usage][hits]=1", 202)}, totals: none, jobs: jobs(0)},
		{endpoint: "report", source: rt + "report succeeds when application is not active",
			fixture: fx2(cput("/internal/services/{S}/applications/{A}", `{"application":{"state":"suspended"}}`, 200)),
			steps:   []confStep{pr("provider_key={PK}&"+tx, 202)}, totals: map[string]map[string]int64{"{A}": {"hits": 1}}},
		{endpoint: "report", source: rt + "report succeeds when client usage limits are exceeded",
			fixture: fx2(limit("m1", "month", 2)),
			steps:   []confStep{pr("provider_key={PK}&transactions[0][app_id]={A}&transactions[0][usage][hits]=2", 202), drained(pr("provider_key={PK}&"+tx, 202))},
			totals:  map[string]map[string]int64{"{A}": {"hits": 3}}},
		{endpoint: "report", source: rt + "report succeeds when valid legacy user key passed",
			fixture: fx2(cput("/internal/services/{S}/applications/{A}/key/foobar", "", 200)),
			steps:   []confStep{pr("provider_key={PK}&transactions[0][user_key]=foobar&transactions[0][usage][hits]=1", 202)},
			totals:  map[string]map[string]int64{"{A}": {"hits": 1}}},
		{endpoint: "report", source: rt + "report reports error on invalid legacy user key / when both application id and legacy user key are used",
			fixture: fx2(cput("/internal/services/{S}/applications/{A}/key/foobar", "", 200)),
			steps: []confStep{pr("provider_key={PK}&transactions[0][user_key]=inyourface&transactions[0][usage][hits]=1", 202),
				pr("provider_key={PK}&"+tx+"&transactions[0][user_key]=foobar", 202)}, totals: none, jobs: jobs(0)},
		{endpoint: "report", source: rt + "returns error if any of the reported transactions are nil",
			fixture: fx2(), steps: []confStep{exactly(pr("provider_key={PK}&"+tx+"&transactions[1]", 400), errXML("transactions_has_nil_transaction", "transactions has a nil transaction"))}, totals: none},
		{endpoint: "report", source: rt + "returns 403 if provider key is missing",
			fixture: fx2(), steps: []confStep{exactly(pr(tx, 403), errXML("provider_key_or_service_token_required", "Provider key or service token are required"))}},
		{endpoint: "report", source: rt + "returns 403 when no provider key is given, even if other params have an invalid encoding",
			fixture: fx2(), steps: []confStep{exactly(pr("transactions=%F0%90%28%BC", 403), errXML("provider_key_or_service_token_required", "Provider key or service token are required"))}},
		{endpoint: "report", source: rt + "returns 422 when param key encoding is not valid utf-8 / transactions do not have valid utf-8 encoding and is not a hash / params have an invalid encoding",
			fixture: fx2(), steps: []confStep{
				exactly(pr("provider_key={PK}&%F0%90%28%BC=1", 422), errXML("not_valid_data", "all data must be valid UTF8")),
				exactly(pr("provider_key={PK}&transactions=%F0%90%28%BC", 422), errXML("not_valid_data", "all data must be valid UTF8")),
				exactly(pr("provider_key={PK}&transactions[0][app_id]=%F0%90%28%BC", 422), errXML("not_valid_data", "all data must be valid UTF8"))}},
		{endpoint: "report", source: rt + "returns 400 when transactions is not a hash",
			fixture: fx2(), steps: []confStep{exactly(pr("provider_key={PK}&transactions=i_am_a_string_with_valid_encoding", 400), errXML("transactions_format_invalid", "transactions format is invalid"))}},
		{endpoint: "report", source: "lib/3scale/backend/listener.rb check_transactions_validity (TransactionsIsBlank), checked before the service: a bogus provider key with no transactions",
			fixture: fx2(), steps: []confStep{exactly(pr("provider_key={PK}", 400), errXML("transactions_is_blank", "transactions parameter is blank")),
				exactly(pr("provider_key=bogus", 400), errXML("transactions_is_blank", "transactions parameter is blank"))}},
		{endpoint: "report", source: "lib/3scale/backend/listener.rb check_post_content_type! (ContentTypeInvalid)",
			fixture: fx2(), steps: []confStep{exactly(confStep{method: "POST", path: "/transactions.xml", body: `{"provider_key":"{PK}"}`, status: 400}, errXML("content_type_invalid", "invalid Content-Type: application/json"))}},
		{endpoint: "report", source: rt + "report using registered (service_token, service_id) instead of provider key responds 202",
			fixture: fx2(), steps: []confStep{pr("service_token={TOK}&service_id={S}&"+tx, 202)}, totals: map[string]map[string]int64{"{A}": {"hits": 1}}},
		{endpoint: "report", source: rt + "report using valid service token and blank service ID fails / blank service token and valid service ID fails",
			fixture: fx2(), steps: []confStep{exactly(pr("service_token={TOK}&"+tx, 422), errXML("service_id_missing", "Service ID is missing")),
				exactly(pr("service_token=&service_id={S}&"+tx, 403), errXML("provider_key_or_service_token_required", "Provider key or service token are required"))}},
		{endpoint: "report", source: rt + "report with non-existing provider key and saved (service token, service id) fails",
			fixture: fx2(), steps: []confStep{exactly(pr("provider_key=non_existing_key&service_token={TOK}&service_id={S}&"+tx, 403), errXML("provider_key_invalid", `provider key "non_existing_key" is invalid`))}},
		{endpoint: "report", source: rt + "propagates the reports to all the levels in the hierarchy",
			fixture: fx2(metric("m2", "mid", "m1"), metric("m3", "leaf", "m2")),
			steps:   []confStep{pr("provider_key={PK}&service_id={S}&transactions[0][app_id]={A}&transactions[0][usage][leaf]=1", 202)},
			totals:  map[string]map[string]int64{"{A}": {"hits": 1, "mid": 1, "leaf": 1}}},
		{endpoint: "report", source: rt + "does not propagate the reported usage through the hierarchy with flat usage extension",
			fixture: fx2(metric("m2", "mid", "m1"), metric("m3", "leaf", "m2")),
			steps:   []confStep{withOpts(pr("provider_key={PK}&service_id={S}&transactions[0][app_id]={A}&transactions[0][usage][leaf]=1", 202), "flat_usage=1")},
			totals:  map[string]map[string]int64{"{A}": {"hits": -1, "mid": -1, "leaf": 1}}},
		{endpoint: "report", source: "lib/3scale/backend/rack/exception_catcher.rb prepare_body: an error answer under no_body has no body",
			fixture: fx2(), steps: []confStep{exactly(withOpts(pr("provider_key=invalid_key&"+tx, 403), "no_body=1"), str(""))}},
	}
}

func internalCases() []confCase {
	const sp = "spec/acceptance/api/internal/"
	return []confCase{
		{endpoint: "internal", source: sp + "internal_api_spec.rb: GET /status, GET /check.json, unknown route",
			steps: []confStep{g("/internal/status", 200, `{"status":"ok","version":{"backend":`), g("/internal/check.json", 200, `{"status":"ok"}`),
				g("/internal/unknown/route/no/one/would/ever/try", 404, `"status":"not_found"`, `"error":"Not found"`)}},
		{endpoint: "internal", source: sp + "services_api_spec.rb: GET /services/:id (found, not found), PUT (state not set, suspended, invalid state)",
			fixture: fx2(),
			steps: []confStep{g("/internal/services/{S}", 200, `"status":"found"`, `"id":"{S}"`, `"state":"active"`, `"provider_key":"{PK}"`, `"backend_version":"2"`),
				g("/internal/services/{S}-none", 404, `not_found`),
				cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}","state":"suspended"}}`, 200),
				g("/internal/services/{S}", 200, `"state":"suspended"`),
				cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}","state":"whatever"}}`, 200),
				g("/internal/services/{S}", 200, `"state":"suspended"`),
				cput("/internal/services/{S}", `{"service":{"provider_key":"{PK}"}}`, 200),
				g("/internal/services/{S}", 200, `"state":"active"`)}},
		{endpoint: "internal", source: sp + "applications_api_spec.rb: GET, POST created, POST exists (405), PUT modified/created, no state (400 bad_request)",
			fixture: fx2(),
			steps: []confStep{g("/internal/services/{S}/applications/{A}", 200, `"status":"found"`, `"id":"{A}"`, `"service_id":"{S}"`),
				g("/internal/services/{S}/applications/nope", 404, `application not found`),
				cpost("/internal/services/{S}/applications/{A}", `{"application":{"state":"active","plan_id":"{P}","plan_name":"basic"}}`, 405),
				{method: "PUT", path: "/internal/services/{S}/applications/{A}", body: `{"application":{"state":"active","plan_id":"{P}","plan_name":"gold"}}`, status: 200, has: []string{`"status":"modified"`}},
				{method: "PUT", path: "/internal/services/{S}/applications/{A}-new", body: `{"application":{"state":"active","plan_id":"{P}"}}`, status: 200, has: []string{`"status":"created"`}},
				{method: "POST", path: "/internal/services/{S}/applications/{A}-ns", body: `{"application":{"plan_id":"{P}"}}`, status: 400, has: []string{`"status":"bad_request"`, `has no state`}},
				{method: "PUT", path: "/internal/services/{S}/applications/{A}", body: `{"application":{"plan_id":"{P}"}}`, status: 400, has: []string{`has no state`}},
				{method: "PUT", path: "/internal/services/{S}/applications/{A}", body: `{}`, status: 400, has: []string{`missing parameter`}},
				// attributes not given are kept (Application#save persists the given ones only)
				cput("/internal/services/{S}/applications/{A}", `{"application":{"state":"suspended"}}`, 200),
				g("/internal/services/{S}/applications/{A}", 200, `"plan_name":"gold"`, `"state":"suspended"`)}},
		{endpoint: "internal", source: sp + "application_keys_spec.rb: GET with invalid application id (404), no keys ([]), keys; POST with invalid application id (404), with a value (201)",
			fixture: fx2(),
			steps: []confStep{g("/internal/services/{S}/applications/nope/keys/", 404, `"error":"application not found"`),
				g("/internal/services/{S}/applications/{A}/keys/", 200, `"application_keys":[]`),
				cpost("/internal/services/{S}/applications/nope/keys/", `{"application_key":{"value":"k"}}`, 404),
				{method: "POST", path: "/internal/services/{S}/applications/{A}/keys/", body: `{"application_key":{"value":"k1"}}`, status: 201, has: []string{`"status":"created"`}},
				g("/internal/services/{S}/applications/{A}/keys/", 200, `"value":"k1"`)}},
		{endpoint: "internal", source: sp + "metrics_api_spec.rb: GET found / not found, POST created, PUT modified",
			fixture: fx2(),
			steps: []confStep{g("/internal/services/{S}/metrics/m1", 200, `"status":"found"`, `"id":"m1"`, `"service_id":"{S}"`),
				g("/internal/services/{S}/metrics/nope", 404, `metric not found`),
				{method: "POST", path: "/internal/services/{S}/metrics/m9", body: `{"metric":{"name":"m9"}}`, status: 201, has: []string{`"status":"created"`}},
				{method: "PUT", path: "/internal/services/{S}/metrics/m9", body: `{"metric":{"name":"renamed"}}`, status: 200, has: []string{`"status":"modified"`}}}},
		{endpoint: "internal", source: sp + "service_tokens_api_spec.rb: POST created, blank token / blank service id (422), no service_tokens (400)",
			fixture: fx2(),
			steps: []confStep{{method: "POST", path: "/internal/service_tokens/", body: `{"service_tokens":{"{TOK}-2":{"service_id":"{S}"}}}`, status: 201, has: []string{`"status":"created"`}},
				{method: "POST", path: "/internal/service_tokens/", body: `{"service_tokens":{"":{"service_id":"{S}"}}}`, status: 422, has: []string{`Service token cannot be blank`}},
				{method: "POST", path: "/internal/service_tokens/", body: `{"service_tokens":{"t":{"service_id":""}}}`, status: 422, has: []string{`Service ID cannot be blank`}},
				{method: "POST", path: "/internal/service_tokens/", body: `{}`, status: 400, has: []string{`missing parameter 'service_tokens'`}},
				g(authzP+"service_token={TOK}-2&service_id={S}&app_id={A}", 200, authorized)}},
		{endpoint: "internal", source: sp + "usagelimits_api_spec.rb: PUT modified, GET, DELETE deleted",
			fixture: fx2(),
			steps: []confStep{{method: "PUT", path: "/internal/services/{S}/plans/{P}/usagelimits/m1/day", body: `{"usagelimit":{"day":7}}`, status: 200, has: []string{`"status":"modified"`, `"day":7`}},
				g("/internal/services/{S}/plans/{P}/usagelimits/m1/day", 200, `"metric_id":"m1"`, `"plan_id":"{P}"`),
				g(authzP+"provider_key={PK}&app_id={A}", 200, `<max_value>7</max_value>`),
				{method: "DELETE", path: "/internal/services/{S}/plans/{P}/usagelimits/m1/day", status: 200, has: []string{`"status":"deleted"`}},
				not(g(authzP+"provider_key={PK}&app_id={A}", 200), "<usage_reports>")}},
		{endpoint: "internal", source: sp + "utilization_api_spec.rb: with limited plan, unlimited plan, non-existing service / app",
			fixture: fx2(limit("m1", "day", 10)),
			steps: []confStep{report("transactions[0][usage][hits]=3"),
				drained(g("/internal/services/{S}/applications/{A}/utilization/", 200, `{"current_value":3,"max_value":10,"metric_name":"hits","period":"day"}`)),
				{method: "DELETE", path: "/internal/services/{S}/plans/{P}/usagelimits/m1/day", status: 200},
				g("/internal/services/{S}/applications/{A}/utilization/", 200, `"utilization":[]`),
				g("/internal/services/{S}-none/applications/{A}/utilization/", 404),
				g("/internal/services/{S}/applications/nope/utilization/", 404)}},
	}
}
