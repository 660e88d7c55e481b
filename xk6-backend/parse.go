package backend

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// errIncomplete says that buf does not hold a whole answer yet.
var errIncomplete = errors.New("incomplete response")

// maxResponse bounds what one answer may take in memory.
const maxResponse = 1 << 20

// parsed is one HTTP/1.1 answer read from a buffer.
type parsed struct {
	status int
	body   []byte // in dst, or in buf when it needed no decoding
	n      int    // bytes of buf it took
	keep   bool   // the connection may carry another request
}

// parseResponse reads one answer from the start of buf. It returns
// errIncomplete while more bytes are needed; eof says no more will come
// (a body without length then ends at the end of buf). Chunked bodies are
// decoded into dst.
func parseResponse(buf []byte, method string, dst []byte, eof bool) (parsed, error) {
	var p parsed
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxResponse {
			return p, errors.New("response headers too long")
		}
		return p, errIncomplete
	}
	head := buf[:end]
	rest := buf[end+4:]
	line, head := cutLine(head)
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return p, fmt.Errorf("malformed status line %q", truncate(line, 64))
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return p, fmt.Errorf("malformed status code in %q", truncate(line, 64))
	}
	p.status = status
	p.keep = line[7] == '1' // HTTP/1.1 keeps alive unless told otherwise
	contentLength, chunked := -1, false
	for len(head) > 0 {
		var h []byte
		h, head = cutLine(head)
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			continue
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > maxResponse {
				return p, fmt.Errorf("bad Content-Length %q", truncate(value, 32))
			}
			contentLength = n
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case asciiEqualFold(name, "connection"):
			v := bytes.ToLower(value)
			if bytes.Contains(v, []byte("close")) {
				p.keep = false
			} else if bytes.Contains(v, []byte("keep-alive")) {
				p.keep = true
			}
		}
	}
	headLen := end + 4
	switch {
	case method == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200):
		p.n = headLen
	case chunked:
		body, n, err := decodeChunked(rest, dst[:0])
		if err != nil {
			return p, err
		}
		p.body, p.n = body, headLen+n
	case contentLength >= 0:
		if len(rest) < contentLength {
			return p, errIncomplete
		}
		p.body, p.n = rest[:contentLength], headLen+contentLength
	default: // the body lasts until the server closes
		if !eof {
			if len(buf) > maxResponse {
				return p, errors.New("response too long")
			}
			return p, errIncomplete
		}
		p.body, p.n, p.keep = rest, len(buf), false
	}
	return p, nil
}

// decodeChunked decodes a chunked body from the start of b into dst and
// says how many bytes of b it took.
func decodeChunked(b, dst []byte) ([]byte, int, error) {
	off := 0
	for {
		i := bytes.Index(b[off:], []byte("\r\n"))
		if i < 0 {
			return nil, 0, errIncomplete
		}
		line := b[off : off+i]
		if j := bytes.IndexByte(line, ';'); j >= 0 {
			line = line[:j]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || size < 0 || size > maxResponse {
			return nil, 0, fmt.Errorf("bad chunk size %q", truncate(line, 32))
		}
		off += i + 2
		if size == 0 { // trailers until the empty line
			for {
				k := bytes.Index(b[off:], []byte("\r\n"))
				if k < 0 {
					return nil, 0, errIncomplete
				}
				off += k + 2
				if k == 0 {
					return dst, off, nil
				}
			}
		}
		if len(b)-off < int(size)+2 {
			return nil, 0, errIncomplete
		}
		dst = append(dst, b[off:off+int(size)]...)
		off += int(size)
		if b[off] != '\r' || b[off+1] != '\n' {
			return nil, 0, errors.New("chunk not followed by CRLF")
		}
		off += 2
		if len(dst) > maxResponse {
			return nil, 0, errors.New("response too long")
		}
	}
}

func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		return b[:i], b[i+2:]
	}
	return b, nil
}

// appendRequest writes one request. pathAndQuery must already be escaped.
func appendRequest(b []byte, t *target, method string, pathAndQuery []byte, header, contentType string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.prefix...)
	b = append(b, pathAndQuery...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: xk6-backend\r\n"...)
	b = append(b, header...)
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
	return append(b, body...)
}
