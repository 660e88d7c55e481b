package backend

import (
	"bytes"
	"html"
	"net/url"
	"sort"
	"strconv"
)

// Outcomes of a transaction call, the values of the `outcome` tag.
const (
	OutcomeAuthorized = "authorized" // 2xx and, for authorize/authrep, <authorized>true
	OutcomeLimited    = "limited"    // 409: usage limits exceeded (or any authorized=false)
	OutcomeRejected   = "rejected"   // 4xx: bad credentials, unknown app or metric, bad usage
	OutcomeError      = "error"      // no answer, timeout, 5xx, or an answer that makes no sense
)

// Credentials identify the service, as Apisonator takes them: a service token
// or a provider key, plus the service id.
type Credentials struct {
	ServiceID    string
	ServiceToken string
	ProviderKey  string
}

// appendCreds appends the service's credentials as query parameters.
func (c Credentials) appendQuery(b []byte) []byte {
	if c.ServiceToken != "" {
		b = appendParam(b, "service_token", c.ServiceToken)
	} else {
		b = appendParam(b, "provider_key", c.ProviderKey)
	}
	if c.ServiceID != "" {
		b = appendParam(b, "service_id", c.ServiceID)
	}
	return b
}

// usageEntry is one `usage[metric]=N`; kept as a sorted slice so that the
// query string, and so the server's view, is the same on every run.
type usageEntry struct {
	metric string
	value  int64
}

func sortedUsage(m map[string]int64) []usageEntry {
	u := make([]usageEntry, 0, len(m))
	for k, v := range m {
		u = append(u, usageEntry{k, v})
	}
	sort.Slice(u, func(i, j int) bool { return u[i].metric < u[j].metric })
	return u
}

// transactionQuery builds the path and query of an authrep or authorize call.
func transactionQuery(b []byte, call string, creds Credentials, app AppCredentials, usage []usageEntry) []byte {
	b = append(b, "/transactions/"...)
	b = append(b, call...)
	b = append(b, ".xml?"...)
	b = creds.appendQuery(b)
	switch {
	case app.UserKey != "":
		b = appendParam(b, "user_key", app.UserKey)
	default:
		b = appendParam(b, "app_id", app.AppID)
		if app.AppKey != "" {
			b = appendParam(b, "app_key", app.AppKey)
		}
	}
	for _, u := range usage {
		b = append(b, "&usage%5B"...)
		b = appendEscaped(b, u.metric)
		b = append(b, "%5D="...)
		b = strconv.AppendInt(b, u.value, 10)
	}
	return b
}

// AppCredentials identify one application: a user key, or an app id with an
// optional app key.
type AppCredentials struct {
	UserKey string `js:"userKey"`
	AppID   string `js:"appId"`
	AppKey  string `js:"appKey"`
}

func appendParam(b []byte, name, value string) []byte {
	if n := len(b); n > 0 && b[n-1] != '?' {
		b = append(b, '&')
	}
	b = appendEscaped(b, name)
	b = append(b, '=')
	return appendEscaped(b, value)
}

func appendEscaped(b []byte, s string) []byte {
	for i := range len(s) {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			continue
		}
		return append(b, url.QueryEscape(s)...) // rare: fall back for the whole value
	}
	return append(b, s...)
}

// verdict is what an Apisonator XML answer says.
type verdict struct {
	outcome    string
	authorized bool
	reason     string // <reason> of a denial, or the text of an <error>
	code       string // the code attribute of an <error>
}

// classify reads an answer of authorize, authrep or report. It looks for the
// few elements it needs instead of decoding the XML: the answers are small
// and fixed in shape, and a full decoder would cost more than the request.
func classify(status int, body []byte, wantAuthorized bool) verdict {
	switch {
	case status >= 200 && status < 300:
		if !wantAuthorized {
			return verdict{outcome: OutcomeAuthorized, authorized: true}
		}
		if bytes.Contains(body, []byte("<authorized>true</authorized>")) {
			return verdict{outcome: OutcomeAuthorized, authorized: true}
		}
		if bytes.Contains(body, []byte("<authorized>false</authorized>")) {
			return verdict{outcome: OutcomeLimited, reason: elementText(body, "reason")}
		}
		return verdict{outcome: OutcomeError, reason: "answer has no <authorized> element"}
	case status == 409:
		return verdict{outcome: OutcomeLimited, reason: elementText(body, "reason")}
	case status >= 400 && status < 500:
		v := verdict{outcome: OutcomeRejected, code: attr(body, "code")}
		v.reason = elementText(body, "error")
		if v.reason == "" {
			v.reason = elementText(body, "reason")
		}
		return v
	default:
		v := verdict{outcome: OutcomeError, code: attr(body, "code"), reason: elementText(body, "error")}
		if v.reason == "" {
			v.reason = "HTTP " + strconv.Itoa(status)
		}
		return v
	}
}

// elementText returns the unescaped text of the first <name ...>text</name>.
func elementText(body []byte, name string) string {
	open := bytes.Index(body, []byte("<"+name))
	if open < 0 {
		return ""
	}
	rest := body[open+1+len(name):]
	if len(rest) == 0 || (rest[0] != '>' && rest[0] != ' ') {
		return ""
	}
	gt := bytes.IndexByte(rest, '>')
	if gt < 0 || (gt > 0 && rest[gt-1] == '/') {
		return ""
	}
	rest = rest[gt+1:]
	end := bytes.Index(rest, []byte("</"+name+">"))
	if end < 0 {
		return ""
	}
	return html.UnescapeString(string(rest[:end]))
}

// attr returns the value of the first name="value" in body.
func attr(body []byte, name string) string {
	i := bytes.Index(body, []byte(" "+name+`="`))
	if i < 0 {
		return ""
	}
	rest := body[i+len(name)+3:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return html.UnescapeString(string(rest[:end]))
}
