package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"
)

// The extension speaks HTTP/1.1 itself instead of going through net/http: a
// load generator spends most of its CPU in the client, and net/http's two
// goroutines per connection, header maps and body readers cost several times
// what one request needs. The subset spoken here (keep-alive, Content-Length
// and chunked bodies, no redirects, no TLS) is all the Apisonator API uses.

// target is one base URL of the system under test with its idle connections.
type target struct {
	base    string // as the user gave it, for tags and errors
	addr    string // host:port to dial
	host    string // Host header
	prefix  string // path prefix of the base URL, without a trailing slash
	dialer  net.Dialer
	mu      sync.Mutex
	idle    []*conn
	maxIdle int
}

func parseTarget(raw string, maxIdle int) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing target %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("target %q: scheme must be http, got %q", raw, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("target %q: missing host", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	prefix := u.EscapedPath()
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	return &target{base: raw, addr: addr, host: u.Host, prefix: prefix, maxIdle: maxIdle}, nil
}

// conn is one keep-alive connection; it is used by one goroutine at a time.
type conn struct {
	nc   net.Conn
	rbuf []byte // bytes read and not yet parsed are rbuf[:rn]
	rn   int
	buf  []byte // request bytes, reused
}

func (t *target) get(ctx context.Context) (*conn, bool, error) {
	t.mu.Lock()
	if n := len(t.idle); n > 0 {
		c := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		return c, true, nil
	}
	t.mu.Unlock()
	nc, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, fmt.Errorf("dialing %s: %w", t.addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{nc: nc, rbuf: make([]byte, 4096), buf: make([]byte, 0, 512)}, false, nil
}

func (t *target) put(c *conn) {
	t.mu.Lock()
	if len(t.idle) < t.maxIdle {
		t.idle = append(t.idle, c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		_ = c.nc.Close()
	}
}

func (t *target) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
}

// response is what a call needs of an HTTP answer.
type response struct {
	status int
	body   []byte
}

// errStaleConn marks a failure on a reused connection before any byte of the
// answer came back: the server had closed it while idle, so it never saw the
// request and sending it again on a fresh connection cannot count it twice.
var errStaleConn = errors.New("stale keep-alive connection")

// do sends one request and reads its answer. pathAndQuery must already be
// escaped. header is "" or whole header lines ("Name: value\r\n"). body may
// be nil. The answer's body is copied into dst (reused).
func (t *target) do(ctx context.Context, method string, pathAndQuery []byte, header, contentType string, body []byte, timeout time.Duration, dst []byte) (response, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(ctx)
		if err != nil {
			return response{}, err
		}
		resp, keep, err := c.roundTrip(t, method, pathAndQuery, header, contentType, body, timeout, dst)
		if err == nil {
			if keep {
				t.put(c)
			} else {
				_ = c.nc.Close()
			}
			return resp, nil
		}
		_ = c.nc.Close()
		if reused && attempt == 0 && errors.Is(err, errStaleConn) && ctx.Err() == nil {
			continue
		}
		return response{}, err
	}
}

func (c *conn) roundTrip(t *target, method string, pathAndQuery []byte, header, contentType string, body []byte, timeout time.Duration, dst []byte) (response, bool, error) {
	if timeout > 0 {
		if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
			return response{}, false, fmt.Errorf("setting deadline: %w", err)
		}
	}
	c.buf = appendRequest(c.buf[:0], t, method, pathAndQuery, header, contentType, body)
	if _, err := c.nc.Write(c.buf); err != nil {
		return response{}, false, fmt.Errorf("%s %s: writing request: %w", method, t.base, errors.Join(errStaleConn, err))
	}
	return c.readResponse(t, method, dst)
}

// readResponse reads until one whole answer is in rbuf; what follows it
// stays for the next one.
func (c *conn) readResponse(t *target, method string, dst []byte) (response, bool, error) {
	eof := false
	for {
		p, err := parseResponse(c.rbuf[:c.rn], method, dst, eof)
		if err == nil {
			resp := response{status: p.status, body: append(dst[:0], p.body...)}
			c.rn = copy(c.rbuf, c.rbuf[p.n:c.rn])
			return resp, p.keep, nil
		}
		if !errors.Is(err, errIncomplete) || eof {
			if eof && c.rn == 0 {
				err = errors.Join(errStaleConn, io.EOF)
			} else if eof {
				err = io.ErrUnexpectedEOF
			}
			return response{}, false, fmt.Errorf("%s %s: reading response: %w", method, t.base, err)
		}
		if c.rn == len(c.rbuf) {
			if len(c.rbuf) >= 2*maxResponse {
				return response{}, false, fmt.Errorf("%s %s: response too long", method, t.base)
			}
			c.rbuf = append(c.rbuf, make([]byte, len(c.rbuf))...)
		}
		n, err := c.nc.Read(c.rbuf[c.rn:])
		c.rn += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				eof = true
				continue
			}
			if c.rn == 0 && isConnReset(err) {
				err = errors.Join(errStaleConn, err)
			}
			return response{}, false, fmt.Errorf("%s %s: reading response: %w", method, t.base, err)
		}
	}
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}
