package listener_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/perfrun/perfrun/system/listener"
)

// The internal API's answers, shaped as Apisonator's (app/api/internal/*.rb):
// a GET that finds is {"status":"found","<object>":{...}} with every
// attribute of the object's to_hash, writes say created/modified/ok, a miss
// is a 404.
func TestInternalAPIAnswersAsApisonator(t *testing.T) {
	s := serve(t, listener.Options{})
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string // the whole JSON answer
	}{
		{"GET", "/internal/status", "", 200, `{"status":"ok","version":{"backend":"` + listener.Version + `"}}`},
		{"GET", "/internal/check.json", "", 200, `{"status":"ok"}`},
		{"GET", "/internal/services/s1", "", 404, `{"error":"not_found"}`},
		{"POST", "/internal/services/", `{"service":{"id":"s1","provider_key":"pk1","backend_version":"1"}}`, 201,
			`{"status":"created","service":{"id":"s1","state":"active","provider_key":"pk1","backend_version":"1","referrer_filters_required":false,"default_service":true}}`},
		{"PUT", "/internal/services/s1", `{"service":{"provider_key":"pk1","state":"suspended","backend_version":"1"}}`, 200,
			`{"status":"ok","service":{"id":"s1","state":"suspended","provider_key":"pk1","backend_version":"1","referrer_filters_required":false,"default_service":true}}`},
		{"GET", "/internal/services/s1", "", 200,
			`{"status":"found","service":{"id":"s1","state":"suspended","provider_key":"pk1","backend_version":"1","referrer_filters_required":false,"default_service":true}}`},
		{"POST", "/internal/service_tokens/", `{"service_tokens":{"t":{"service_id":""}}}`, 422, `{"status":"error","error":"Service ID cannot be blank"}`},
		{"POST", "/internal/service_tokens/", `{"service_tokens":{"t":{"service_id":"s1"}}}`, 201, `{"status":"created"}`},
		{"POST", "/internal/services/s1/metrics/m1", `{"metric":{"name":"hits"}}`, 201,
			`{"status":"created","metric":{"service_id":"s1","id":"m1","parent_id":null,"name":"hits"}}`},
		{"GET", "/internal/services/s1/metrics/m1", "", 200, `{"status":"found","metric":{"service_id":"s1","id":"m1","parent_id":null,"name":"hits"}}`},
		{"GET", "/internal/services/s1/metrics/m9", "", 404, `{"status":"not_found","error":"metric not found"}`},
		{"PUT", "/internal/services/s1/applications/a1", `{"application":{"state":"active","plan_id":"p1","plan_name":"basic"}}`, 200,
			`{"status":"created","application":{"service_id":"s1","id":"a1","state":"active","plan_id":"p1","plan_name":"basic","redirect_url":null}}`},
		{"GET", "/internal/services/s1/applications/a1", "", 200,
			`{"status":"found","application":{"service_id":"s1","id":"a1","state":"active","plan_id":"p1","plan_name":"basic","redirect_url":null}}`},
		{"GET", "/internal/services/s1/applications/a9", "", 404, `{"status":"not_found","error":"application not found"}`},
		{"PUT", "/internal/services/s1/applications/a1/key/uk1", "", 200, `{"status":"modified","application":{"id":"a1"}}`},
		{"POST", "/internal/services/s1/applications/a1/keys/", `{"application_key":{"value":"k1"}}`, 201, `{"status":"created","application_key":{"app_id":"a1","value":"k1"}}`},
		{"GET", "/internal/services/s1/applications/a1/keys/", "", 200, `{"status":"found","application_keys":[{"service_id":"s1","app_id":"a1","value":"k1"}]}`},
		{"POST", "/internal/services/s1/applications/a9/keys/", `{"application_key":{"value":"k1"}}`, 404, `{"status":"not_found","error":"application not found"}`},
		{"PUT", "/internal/services/s1/plans/p1/usagelimits/m1/minute", `{"usagelimit":{"minute":10}}`, 200,
			`{"status":"modified","usagelimit":{"service_id":"s1","plan_id":"p1","metric_id":"m1","minute":10}}`},
		{"GET", "/internal/services/s1/plans/p1/usagelimits/m1/minute", "", 200,
			`{"status":"found","usagelimit":{"service_id":"s1","plan_id":"p1","metric_id":"m1","minute":10}}`},
		{"GET", "/internal/services/s1/plans/p1/usagelimits/m1/hour", "", 404, `{"status":"not_found","error":"usagelimit not found"}`},
		{"GET", "/internal/services/s1/applications/a1/utilization/", "", 200,
			`{"status":"found","utilization":[{"period":"minute","metric_name":"hits","max_value":10,"current_value":0}]}`},
		{"GET", "/internal/services/s9/applications/a1/utilization/", "", 404, `{"status":"not_found","error":"service not found"}`},
		{"GET", "/internal/services/s1/applications/a9/utilization/", "", 404, `{"status":"not_found","error":"application not found"}`},
		{"GET", "/internal/nowhere", "", 404, `{"status":"not_found","error":"Not found"}`},
	} {
		code, body := s.do(t, tc.method, tc.path, tc.body)
		var got, want any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Errorf("%s %s: %d %q: not JSON", tc.method, tc.path, code, body)
			continue
		}
		_ = json.Unmarshal([]byte(tc.want), &want)
		if code != tc.code || !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s = %d %s\nwant %d %s", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
}
