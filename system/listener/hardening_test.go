package listener_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/apisonator"
	"github.com/perfrun/perfrun/system/catalog"
	"github.com/perfrun/perfrun/system/internalapi"
	"github.com/perfrun/perfrun/system/items"
	"github.com/perfrun/perfrun/system/listener"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
	"github.com/perfrun/perfrun/system/worker"
	"github.com/prometheus/client_golang/prometheus"
)

// served is a listener served by its own http.Server (srv.HTTPServer, the
// same the command runs) on loopback, with a worker applying its reports.
type served struct {
	*env
	addr     string // host:port of the public server
	internal string // base URL of the internal server, when apart
}

func serve(t *testing.T, o listener.Options) *served {
	t.Helper()
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	reg := prometheus.NewRegistry()
	cat, use := catalog.NewStore(rdb), usage.NewStore(rdb)
	o.Transactor = &apisonator.Transactor{Catalog: cat, Usage: use, Queue: queue.NewProducer(rdb, queue.V2)}
	o.Metrics = listener.NewMetrics(reg)
	o.Gatherer = reg
	o.Internal = (&internalapi.API{Catalog: cat, Usage: use, Items: items.NewStore(rdb).Handler(), Version: listener.Version}).Handler()
	srv := listener.New(o)
	listen := func(h http.Handler) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := srv.HTTPServer(ln.Addr().String(), h)
		go func() { _ = hs.Serve(ln) }()
		t.Cleanup(func() { _ = hs.Close() })
		return ln.Addr().String()
	}
	s := &served{addr: listen(srv.Handler())}
	s.env = &env{url: "http://" + s.addr, rdb: rdb, reg: reg}
	if o.InternalApart {
		s.internal = "http://" + listen(srv.InternalHandler())
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := worker.New(rdb, worker.Config{Format: queue.V2, Concurrency: 2, Consumer: "w1", Block: 50 * time.Millisecond}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// post sends body to path; chunked hides its length, so that the bound is
// met while reading rather than from Content-Length.
func post(t *testing.T, url, contentType, body string, chunked bool) (int, string) {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // not a *strings.Reader: no length known
	}
	req, err := http.NewRequest("POST", url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A report over the body bound is refused whole: 413, and none of its
// transactions applied, wherever the bound falls (here inside a value:
// hits=123456 cut to hits=123 was once applied).
func TestOversizedReportIsRefusedWhole(t *testing.T) {
	const max = 1024
	s := serve(t, listener.Options{Limits: listener.Limits{MaxBody: max}})
	provision(t, s.env)
	const head = "service_token=tok1&service_id=s1&transactions[0][app_id]=a1&"
	pad := "transactions[0][log][x]=" + strings.Repeat("p", max-len(head)-len("transactions[0][log][x]=")-len("&transactions[0][usage][hits]=123")) + "&"
	over := head + pad + "transactions[0][usage][hits]=123456"
	if len(over) <= max || len(head+pad+"transactions[0][usage][hits]=123") != max {
		t.Fatalf("test body: %d bytes, cut at %d must fall inside the value", len(over), max)
	}
	for _, chunked := range []bool{false, true} {
		code, body := post(t, s.url+"/transactions.xml", "application/x-www-form-urlencoded", over, chunked)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("report of %d bytes (chunked %v) = %d %s, want 413", len(over), chunked, code, body)
		}
	}
	// At the bound exactly it is taken, and it is all that was applied.
	atMax := head + pad + "transactions[0][usage][hits]=123"
	if code, body := post(t, s.url+"/transactions.xml", "application/x-www-form-urlencoded", atMax, true); code != 202 {
		t.Fatalf("report of exactly %d bytes = %d %s, want 202", len(atMax), code, body)
	}
	if got := waitTotals(t, s.env, "s1", "a1", "hits", 123); got != 123 {
		t.Errorf("hits applied = %d, want 123 (only the report within the bound)", got)
	}
	if got := counterValue(t, s.reg, "report", "4xx"); got != 2 {
		t.Errorf("report 4xx counted = %v, want 2", got)
	}
}

// An internal API body over its bound is 413 and changes nothing.
func TestOversizedInternalBodyIsRefused(t *testing.T) {
	s := serve(t, listener.Options{Limits: listener.Limits{MaxInternalBody: 256}})
	s.must(t, "POST", "/internal/services/", `{"service":{"id":"s1","provider_key":"pk1"}}`, 201)
	big := `{"application":{"state":"active","plan_id":"p1","plan_name":"` + strings.Repeat("x", 300) + `"}}`
	for _, chunked := range []bool{false, true} {
		code, body := post(t, s.url+"/internal/services/s1/applications/a1", "application/json", big, chunked)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
			t.Errorf("internal POST of %d bytes (chunked %v) = %d %s, want 413", len(big), chunked, code, body)
		}
	}
	s.must(t, "GET", "/internal/services/s1/applications/a1", "", 404)
	// The items handler has its own, tighter bound (16 KiB), also 413.
	item := `{"item":{"key":"` + strings.Repeat("k", 17<<10) + `"}}`
	s2 := serve(t, listener.Options{})
	if code, body := post(t, s2.url+"/internal/items/", "application/json", item, true); code != 413 {
		t.Errorf("item of %d bytes = %d %s, want 413", len(item), code, body)
	}
}

func basicGet(t *testing.T, url string, user, pass *string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != nil {
		req.SetBasicAuth(*user, *pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func ptr(s string) *string { return &s }

// The internal API asks for basic authentication once credentials are set;
// the transactions API and /status do not.
func TestInternalAPIBasicAuth(t *testing.T) {
	s := serve(t, listener.Options{InternalAuth: listener.BasicAuth{User: "perfrun", Password: "s3cret"}})
	u := s.url + "/internal/services/s1"
	for _, tc := range []struct {
		name       string
		user, pass *string
		want       int
	}{
		{"no credentials", nil, nil, 401},
		{"wrong password", ptr("perfrun"), ptr("nope"), 401},
		{"wrong user", ptr("other"), ptr("s3cret"), 401},
		{"empty", ptr(""), ptr(""), 401},
		{"right", ptr("perfrun"), ptr("s3cret"), 404}, // authenticated; no such service
	} {
		code, h := basicGet(t, u, tc.user, tc.pass)
		if code != tc.want {
			t.Errorf("%s: GET %s = %d, want %d", tc.name, u, code, tc.want)
		}
		if code == 401 && h.Get("WWW-Authenticate") != `Basic realm=""` {
			t.Errorf("%s: WWW-Authenticate = %q, want a Basic challenge", tc.name, h.Get("WWW-Authenticate"))
		}
	}
	// Writes are refused before the body is read, and change nothing.
	if code, _ := post(t, s.url+"/internal/services/", "application/json", `{"service":{"id":"s1","provider_key":"pk1"}}`, false); code != 401 {
		t.Errorf("unauthenticated POST /internal/services/ = %d, want 401", code)
	}
	req, _ := http.NewRequest("POST", s.url+"/internal/services/", strings.NewReader(`{"service":{"id":"s1","provider_key":"pk1"}}`))
	req.SetBasicAuth("perfrun", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("authenticated POST /internal/services/ = %d, want 201", resp.StatusCode)
	}
	if code, _ := basicGet(t, s.url+"/status", nil, nil); code != 200 {
		t.Errorf("/status = %d without credentials, want 200", code)
	}
	if code, _ := basicGet(t, s.url+"/transactions/authorize.xml?provider_key=pk1&app_id=x", nil, nil); code == 401 {
		t.Errorf("authorize asked for basic auth: the transactions API has its own credentials")
	}
}

// With an address of its own, the internal API is served there only.
func TestInternalAPIApart(t *testing.T) {
	s := serve(t, listener.Options{InternalApart: true, InternalAuth: listener.BasicAuth{User: "u", Password: "p"}})
	if code, _ := basicGet(t, s.url+"/internal/status", ptr("u"), ptr("p")); code != 404 {
		t.Errorf("public address /internal/status = %d, want 404", code)
	}
	if code, _ := basicGet(t, s.internal+"/internal/status", ptr("u"), ptr("p")); code != 200 {
		t.Errorf("internal address /internal/status = %d, want 200", code)
	}
	if code, _ := basicGet(t, s.internal+"/internal/status", nil, nil); code != 401 {
		t.Errorf("internal address without credentials = %d, want 401", code)
	}
	if code, _ := basicGet(t, s.internal+"/transactions/authorize.xml?provider_key=x", nil, nil); code != 404 {
		t.Errorf("internal address serves transactions: %d, want 404", code)
	}
}

// closedWithin dials the server, runs send (which may trickle bytes until
// the server closes), and returns how long the server took to close the
// connection and what it answered, if anything.
func closedWithin(t *testing.T, addr string, limit time.Duration, send func(c net.Conn) error) (time.Duration, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(c) // until the server closes
		got <- string(b)
	}()
	sendErr := make(chan error, 1)
	go func() { sendErr <- send(c) }()
	select {
	case s := <-got:
		return time.Since(start), s
	case <-time.After(limit + 2*time.Second):
		t.Fatalf("connection still open %v after dialing (bound %v)", time.Since(start), limit)
	}
	return 0, ""
}

// trickle writes one byte of b every gap until done or the write fails.
func trickle(c net.Conn, b string, gap time.Duration) error {
	for i := 0; i < len(b); i++ {
		if _, err := c.Write([]byte{b[i]}); err != nil {
			return err
		}
		time.Sleep(gap)
	}
	return nil
}

// slack is what scheduling on a loaded 2-core machine may add to a deadline.
const slack = 300 * time.Millisecond

// Slowloris: a client trickling its headers, one trickling its body and
// an idle keep-alive are each closed by the listener within its timeout.
func TestSlowClientsAreClosed(t *testing.T) {
	lim := listener.Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}
	s := serve(t, listener.Options{Limits: lim})
	provision(t, s.env)

	t.Run("headers", func(t *testing.T) {
		d, _ := closedWithin(t, s.addr, lim.ReadHeaderTimeout, func(c net.Conn) error {
			return trickle(c, "GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 200), 20*time.Millisecond)
		})
		if d > lim.ReadHeaderTimeout+slack {
			t.Errorf("trickled headers held %v, want ≤ %v (+%v)", d, lim.ReadHeaderTimeout, slack)
		}
	})

	t.Run("body", func(t *testing.T) {
		body := "service_token=tok1&service_id=s1&transactions[0][app_id]=a1&transactions[0][usage][hits]=7"
		d, answer := closedWithin(t, s.addr, lim.ReadTimeout, func(c net.Conn) error {
			hdr := fmt.Sprintf("POST /transactions.xml HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", len(body))
			if _, err := io.WriteString(c, hdr); err != nil {
				return err
			}
			return trickle(c, body, 40*time.Millisecond) // 3.6 s for the whole body
		})
		if d > lim.ReadTimeout+slack {
			t.Errorf("trickled body held %v, want ≤ %v (+%v)", d, lim.ReadTimeout, slack)
		}
		if strings.Contains(answer, " 202 ") {
			t.Errorf("a body cut by the read timeout was accepted: %q", answer)
		}
		// Nothing of it applied: a later report is all there is.
		if code, b := s.do(t, "POST", "/transactions.xml", "service_token=tok1&service_id=s1&transactions[0][app_id]=a1&transactions[0][usage][hits]=1"); code != 202 {
			t.Fatalf("report = %d %s", code, b)
		}
		if got := waitTotals(t, s.env, "s1", "a1", "hits", 1); got != 1 {
			t.Errorf("hits = %d, want 1", got)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		idleFrom := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(lim.IdleTimeout + 2*time.Second))
		_, err = br.ReadByte()
		d := time.Since(idleFrom)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("idle connection still open after %v (bound %v)", d, lim.IdleTimeout)
		}
		if d > lim.IdleTimeout+slack {
			t.Errorf("idle keep-alive held %v, want ≤ %v (+%v)", d, lim.IdleTimeout, slack)
		}
	})
}

// Headers over the bound are refused before any handler runs.
func TestHeaderSizeBound(t *testing.T) {
	s := serve(t, listener.Options{Limits: listener.Limits{MaxHeaderBytes: 4 << 10}})
	req, _ := http.NewRequest("GET", s.url+"/status", nil)
	req.Header.Set("X-Big", strings.Repeat("h", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header = %d, want 431", resp.StatusCode)
	}
	// A long query is part of the request line: bounded the same way.
	code, _ := s.do(t, "GET", "/transactions/authrep.xml?provider_key=pk1&user_key="+strings.Repeat("k", 16<<10), "")
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB query = %d, want 431", code)
	}
}

// Rack's parameter bounds, through HTTP: refused with 400 and nothing
// applied.
func TestParameterBounds(t *testing.T) {
	s := serve(t, listener.Options{})
	provision(t, s.env)
	many := "service_token=tok1&service_id=s1&transactions[0][app_id]=a1&transactions[0][usage][hits]=5" + strings.Repeat("&x=1", apisonator.MaxParams)
	code, body := s.do(t, "POST", "/transactions.xml", many)
	if code != 400 || !strings.Contains(body, "exceeds limit (4096)") {
		t.Errorf("report with %d params = %d %s, want 400 bad_request", apisonator.MaxParams+4, code, body)
	}
	deep := "service_token=tok1&service_id=s1&app_id=a1&usage[hits]=1&x" + strings.Repeat("[a]", apisonator.MaxDepth)
	code, body = s.do(t, "GET", "/transactions/authrep.xml?"+deep, "")
	if code != 400 || !strings.Contains(body, `code="bad_request"`) {
		t.Errorf("authrep with a key %d deep = %d %s, want 400 bad_request", apisonator.MaxDepth+1, code, body)
	}
	if code, b := s.do(t, "POST", "/transactions.xml", "service_token=tok1&service_id=s1&transactions[0][app_id]=a1&transactions[0][usage][hits]=1"); code != 202 {
		t.Fatalf("report = %d %s", code, b)
	}
	if got := waitTotals(t, s.env, "s1", "a1", "hits", 1); got != 1 {
		t.Errorf("hits = %d, want 1: the refused requests applied something", got)
	}
}
