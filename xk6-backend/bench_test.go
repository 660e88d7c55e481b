package backend

import (
	"fmt"
	"testing"

	"github.com/grafana/sobek"
)

// Go benchmarks of the client's own costs; bench/run.sh measures the whole
// load generator against wrk and k6/http.

var sinkParsed parsed

func BenchmarkParseResponse(b *testing.B) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.3scale-v2.0+xml\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\nContent-Length: 95\r\n\r\n" +
		`<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>basic</plan></status>`[:95])
	b.ReportAllocs()
	for b.Loop() {
		p, err := parseResponse(in, "GET", nil, false)
		if err != nil {
			b.Fatal(err)
		}
		sinkParsed = p
	}
}

func BenchmarkTransactionQuery(b *testing.B) {
	creds := Credentials{ServiceID: "svc", ServiceToken: "token"}
	usage := []usageEntry{{"hits", 1}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = transactionQuery(buf[:0], "authrep", creds, AppCredentials{UserKey: "key-123"}, usage)
	}
}

// BenchmarkAuthrepCall is one authrep() from JS against an in-process
// server: the extension's cost per call plus the server's and loopback's.
func BenchmarkAuthrepCall(b *testing.B) {
	_, url := startFake(b)
	vu := newTestVU(b, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'}); var u = {hits: 1};`, url))
	fn, ok := sobek.AssertFunction(vu.rt.VU.RuntimeField.Get("c").ToObject(vu.rt.VU.RuntimeField).Get("authrep"))
	if !ok {
		b.Fatal("authrep is not a function")
	}
	key, usage := vu.rt.VU.RuntimeField.ToValue("key-1"), vu.rt.VU.RuntimeField.Get("u")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fn(sobek.Undefined(), key, usage); err != nil {
			b.Fatal(err)
		}
		if len(vu.samples) > 9000 {
			vu.totals() // drain
		}
	}
}
