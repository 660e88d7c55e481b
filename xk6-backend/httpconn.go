package backend

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
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
	nc  net.Conn
	br  *bufio.Reader
	buf []byte // request bytes, reused
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
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 8192), buf: make([]byte, 0, 512)}, false, nil
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
// escaped. body may be nil. The answer's body is copied into dst (reused).
func (t *target) do(ctx context.Context, method, pathAndQuery, contentType string, body []byte, timeout time.Duration, dst []byte) (response, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(ctx)
		if err != nil {
			return response{}, err
		}
		resp, keep, err := c.roundTrip(t, method, pathAndQuery, contentType, body, timeout, dst)
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

func (c *conn) roundTrip(t *target, method, pathAndQuery, contentType string, body []byte, timeout time.Duration, dst []byte) (response, bool, error) {
	if timeout > 0 {
		if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
			return response{}, false, fmt.Errorf("setting deadline: %w", err)
		}
	}
	b := c.buf[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.prefix...)
	b = append(b, pathAndQuery...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: xk6-backend\r\n"...)
	if body != nil || method == "POST" || method == "PUT" {
		if contentType != "" {
			b = append(b, "Content-Type: "...)
			b = append(b, contentType...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.buf = b
	if _, err := c.nc.Write(b); err != nil {
		return response{}, false, fmt.Errorf("%s %s: writing request: %w", method, t.base, errors.Join(errStaleConn, err))
	}
	return c.readResponse(t, method, dst)
}

func (c *conn) readResponse(t *target, method string, dst []byte) (response, bool, error) {
	line, err := c.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) || isConnReset(err) {
			err = errors.Join(errStaleConn, err)
		}
		return response{}, false, fmt.Errorf("%s %s: reading status line: %w", method, t.base, err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return response{}, false, fmt.Errorf("%s %s: malformed status line %q", method, t.base, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return response{}, false, fmt.Errorf("%s %s: malformed status code in %q", method, t.base, line)
	}
	keep := line[7] == '1' // HTTP/1.1 keeps alive unless told otherwise
	contentLength := -1
	chunked := false
	for {
		h, err := c.readLine()
		if err != nil {
			return response{}, false, fmt.Errorf("%s %s: reading headers: %w", method, t.base, err)
		}
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			continue
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return response{}, false, fmt.Errorf("%s %s: bad Content-Length %q", method, t.base, value)
			}
			contentLength = n
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case asciiEqualFold(name, "connection"):
			v := bytes.ToLower(value)
			if bytes.Contains(v, []byte("close")) {
				keep = false
			} else if bytes.Contains(v, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	body := dst[:0]
	switch {
	case method == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200):
	case chunked:
		body, err = c.readChunked(body)
		if err != nil {
			return response{}, false, fmt.Errorf("%s %s: reading chunked body: %w", method, t.base, err)
		}
	case contentLength >= 0:
		body = grow(body, contentLength)
		if _, err := io.ReadFull(c.br, body); err != nil {
			return response{}, false, fmt.Errorf("%s %s: reading body: %w", method, t.base, err)
		}
	default: // body until close
		keep = false
		var buf bytes.Buffer
		buf.Write(body)
		if _, err := buf.ReadFrom(c.br); err != nil {
			return response{}, false, fmt.Errorf("%s %s: reading body: %w", method, t.base, err)
		}
		body = buf.Bytes()
	}
	return response{status: status, body: body}, keep, nil
}

func (c *conn) readChunked(body []byte) ([]byte, error) {
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers until the empty line
				tl, err := c.readLine()
				if err != nil {
					return nil, err
				}
				if len(tl) == 0 {
					return body, nil
				}
			}
		}
		n := len(body)
		body = grow(body, n+int(size))
		if _, err := io.ReadFull(c.br, body[n:]); err != nil {
			return nil, err
		}
		if crlf, err := c.readLine(); err != nil || len(crlf) != 0 {
			return nil, fmt.Errorf("chunk not followed by CRLF")
		}
	}
}

// readLine returns one line without its CRLF; the slice is valid until the
// next read.
func (c *conn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
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
