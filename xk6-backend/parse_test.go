package backend

import (
	"errors"
	"testing"
)

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		eof      bool
		status   int
		body     string
		n        int // bytes taken; -1: all
		keep     bool
		err      error
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1", status: 200, body: "hello", n: 43, keep: true},
		{name: "short body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", err: errIncomplete},
		{name: "no head end", in: "HTTP/1.1 200 OK\r\nContent-Len", err: errIncomplete},
		{name: "close", in: "HTTP/1.1 409 Conflict\r\nconnection: Close\r\ncontent-length: 2\r\n\r\nno", status: 409, body: "no", n: -1},
		{name: "http/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, n: -1},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", status: 200, body: "abcde", n: -1, keep: true},
		{name: "chunked partial", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", err: errIncomplete},
		{name: "until close, open", in: "HTTP/1.1 200 OK\r\n\r\nabc", err: errIncomplete},
		{name: "until close, eof", in: "HTTP/1.1 200 OK\r\n\r\nabc", eof: true, status: 200, body: "abc", n: -1},
		{name: "204", in: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, n: -1, keep: true},
		{name: "garbage", in: "SSH-2.0-OpenSSH\r\n\r\n", err: errors.New("malformed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseResponse([]byte(tc.in), "GET", nil, tc.eof)
			if tc.err != nil {
				if err == nil || (errors.Is(tc.err, errIncomplete) != errors.Is(err, errIncomplete)) {
					t.Fatalf("want error %v, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := tc.n
			if n < 0 {
				n = len(tc.in)
			}
			if p.status != tc.status || string(p.body) != tc.body || p.n != n || p.keep != tc.keep {
				t.Fatalf("got status %d body %q n %d keep %v; want %d %q %d %v", p.status, p.body, p.n, p.keep, tc.status, tc.body, n, tc.keep)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status         int
		body           string
		outcome, field string
	}{
		{200, `<status><authorized>true</authorized></status>`, OutcomeAuthorized, ""},
		{409, `<status><authorized>false</authorized><reason>usage limits are exceeded</reason></status>`, OutcomeLimited, "usage limits are exceeded"},
		{403, `<error code="provider_key_invalid">provider key &quot;x&quot; is invalid</error>`, OutcomeRejected, `provider key "x" is invalid`},
		{404, `<error code="application_not_found">application with id="a" was not found</error>`, OutcomeRejected, `application with id="a" was not found`},
		{500, ``, OutcomeError, "HTTP 500"},
		{200, `<status></status>`, OutcomeError, "answer has no <authorized> element"},
	} {
		v := classify(tc.status, []byte(tc.body), true)
		if v.outcome != tc.outcome || v.reason != tc.field {
			t.Errorf("classify(%d, %s) = %+v; want %s %q", tc.status, tc.body, v, tc.outcome, tc.field)
		}
	}
}
