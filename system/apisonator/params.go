package apisonator

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Node is one value of a Rack-style nested query: either a string leaf or a
// map of named children kept in the order they first appeared (Ruby hashes
// keep insertion order, and Apisonator reports the first bad usage entry).
type Node struct {
	Leaf     bool
	Value    string
	Keys     []string
	Children map[string]*Node
}

// Get returns the child named k, or nil.
func (n *Node) Get(k string) *Node {
	if n == nil || n.Leaf {
		return nil
	}
	return n.Children[k]
}

// String returns the leaf value, or "" with ok=false for a missing or
// nested value (Apisonator nils non-string credential parameters).
func (n *Node) String() (string, bool) {
	if n == nil || !n.Leaf {
		return "", false
	}
	return n.Value, true
}

func newMap() *Node { return &Node{Children: map[string]*Node{}} }

// Rack's query parser limits (Rack 3.1, the version Apisonator runs on;
// Rack::QueryParser's BYTESIZE_LIMIT, PARAMS_LIMIT and the default parser's
// param_depth_limit). Apisonator's exception catcher turns the
// QueryLimitError Rack raises into a 400 bad_request with its message.
const (
	// MaxQueryBytes bounds a query string or form body.
	MaxQueryBytes = 4 << 20
	// MaxParams bounds the parameters of one query: Rack refuses a query
	// with MaxParams or more '&' in it.
	MaxParams = 4096
	// MaxDepth bounds how deep a key nests: `a[b][c]` is 3 deep.
	MaxDepth = 32
)

// ParseQuery parses an application/x-www-form-urlencoded string into nested
// parameters the way Rack does for Apisonator: `usage[hits]=1`,
// `transactions[0][usage][hits]=1`. Malformed input is a 400 (bad escapes,
// a key used both as a value and as a hash, array syntax where a hash is
// expected) and invalid UTF-8 is not_valid_data (422), as Apisonator answers.
// A query over Rack's limits (MaxQueryBytes, MaxParams, MaxDepth) is a 400
// bad_request with Rack's message, refused before any parameter is read.
func ParseQuery(raw string) (*Node, *Error) {
	root, invalidUTF8, e := parseQuery(raw)
	if e == nil && invalidUTF8 {
		return nil, ErrNotValidData()
	}
	return root, e
}

// parseQuery is ParseQuery that keeps the parameters of a query with
// invalid UTF-8 in it and says so, for a caller that checks other things
// first (the report checks its credentials before the encoding).
func parseQuery(raw string) (*Node, bool, *Error) {
	invalidUTF8 := false
	if len(raw) > MaxQueryBytes {
		return nil, false, newErr("bad_request", statusBad, "total query size exceeds limit ("+strconv.Itoa(MaxQueryBytes)+")")
	}
	if n := strings.Count(raw, "&"); n >= MaxParams {
		return nil, false, newErr("bad_request", statusBad, "total number of query parameters ("+strconv.Itoa(n+1)+") exceeds limit ("+strconv.Itoa(MaxParams)+")")
	}
	root := newMap()
	for len(raw) > 0 {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, false, ErrBadRequest()
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, false, ErrBadRequest()
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			invalidUTF8 = true
		}
		path, ok := splitKey(key)
		if !ok {
			return nil, false, ErrBadRequest()
		}
		if len(path) == 0 {
			continue
		}
		if len(path) > MaxDepth {
			// Rack raises ParamsTooDeepError without a message: Ruby's
			// message is then the class's name (an alias of QueryLimitError).
			return nil, false, newErr("bad_request", statusBad, "Rack::QueryParser::QueryLimitError")
		}
		if e := root.set(path, val); e != nil {
			return nil, false, e
		}
	}
	return root, invalidUTF8, nil
}

// splitKey turns `a[b][c]` into [a b c]. Rack treats `a[]` as an array; no
// parameter of this API is an array, so it is reported as malformed.
func splitKey(key string) ([]string, bool) {
	i := strings.IndexByte(key, '[')
	if i < 0 {
		return []string{key}, true
	}
	path := []string{key[:i]}
	rest := key[i:]
	for len(rest) > 0 {
		if rest[0] != '[' {
			// trailing garbage after a bracket group: Rack ignores it
			break
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			// unbalanced: Rack keeps the whole thing as a flat key
			return []string{key}, true
		}
		seg := rest[1:j]
		if seg == "" {
			return nil, false
		}
		path = append(path, seg)
		rest = rest[j+1:]
	}
	if path[0] == "" {
		return nil, true
	}
	return path, true
}

func (n *Node) set(path []string, val string) *Error {
	cur := n
	for i, seg := range path {
		last := i == len(path)-1
		child, exists := cur.Children[seg]
		if last {
			if exists && !child.Leaf {
				return ErrBadRequest() // expected a hash, got a string: Rack's ParameterTypeError
			}
			if !exists {
				cur.Keys = append(cur.Keys, seg)
			}
			cur.Children[seg] = &Node{Leaf: true, Value: val}
			return nil
		}
		if !exists {
			child = newMap()
			cur.Children[seg] = child
			cur.Keys = append(cur.Keys, seg)
		} else if child.Leaf {
			return ErrBadRequest()
		}
		cur = child
	}
	return nil
}

// UsageEntry is one `usage[metric]=value` pair, unparsed.
type UsageEntry struct {
	Metric string
	Value  string
	// Nested: the value is itself a hash (`usage[hits][x]=1`), which
	// Apisonator refuses when it processes the usage ("can not be empty").
	Nested bool
}

// AuthParams are the parameters of authorize and authrep, normalized as
// Apisonator's listener does (blank credentials become absent, except
// app_key whose presence is significant).
type AuthParams struct {
	ProviderKey  string
	ServiceToken string
	ServiceID    string
	AppID        string
	AppKey       string
	HasAppKey    bool
	UserKey      string
	UserID       string
	Usage        []UsageEntry
	HasUsage     bool
	// UsageNotHash: a usage that is not a hash (`usage=1`), which
	// Apisonator's listener halts with a bare 403 once the credentials are
	// read.
	UsageNotHash bool
	// RedirectURL and RedirectURI are the OAuth calls' redirect
	// parameters, as given (not trimmed); Has* says whether each was sent.
	RedirectURL, RedirectURI       string
	HasRedirectURL, HasRedirectURI bool
	// NoBodyParam is the no_body query parameter (nil when absent), the
	// no_body extension's older spelling.
	NoBodyParam *string
	// Ext are the 3scale-options extensions (ParseExtensions), which the
	// caller fills from the request's header.
	Ext Extensions
}

// ParseAuthParams parses the query of authorize.xml/authrep.xml.
func ParseAuthParams(raw string) (*AuthParams, *Error) {
	root, e := ParseQuery(raw)
	if e != nil {
		return nil, e
	}
	return authParamsFrom(root)
}

func authParamsFrom(root *Node) (*AuthParams, *Error) {
	p := &AuthParams{}
	trim := func(k string) string {
		s, _ := root.Get(k).String()
		return strings.TrimSpace(s)
	}
	p.ProviderKey = trim("provider_key")
	p.ServiceID = trim("service_id")
	p.AppID = trim("app_id")
	p.UserKey = trim("user_key")
	// service_token is not among the trimmed params in Apisonator; a blank
	// one still counts as missing.
	p.ServiceToken, _ = root.Get("service_token").String()
	if ak, ok := root.Get("app_key").String(); ok {
		p.AppKey, p.HasAppKey = strings.TrimSpace(ak), true
	}
	if nb := root.Get("no_body"); nb != nil {
		v, _ := nb.String()
		p.NoBodyParam = &v
		p.Ext.NoBody = v != "false" && v != "0"
	}
	if uid := root.Get("user_id"); uid != nil {
		p.UserID = "set"
	}
	if n := root.Get("redirect_url"); n != nil {
		p.RedirectURL, p.HasRedirectURL = nodeText(n), true
	}
	if n := root.Get("redirect_uri"); n != nil {
		p.RedirectURI, p.HasRedirectURI = nodeText(n), true
	}
	if u := root.Get("usage"); u != nil {
		p.HasUsage = true
		if u.Leaf {
			p.UsageNotHash = true
		} else {
			for _, k := range u.Keys {
				c := u.Children[k]
				p.Usage = append(p.Usage, UsageEntry{Metric: k, Value: c.Value, Nested: !c.Leaf})
			}
		}
	}
	return p, nil
}

// nodeText is a parameter's value as text: a leaf's value, or for a hash
// (which no client means) a placeholder that matches no stored value.
func nodeText(n *Node) string {
	if v, ok := n.String(); ok {
		return v
	}
	return "{}"
}

// Transaction is one entry of a batch report.
type Transaction struct {
	AppID     string
	UserKey   string
	Usage     []UsageEntry
	Timestamp string
}

// ReportParams are the parameters of POST /transactions.xml.
type ReportParams struct {
	ProviderKey  string
	ServiceToken string
	ServiceID    string
	Transactions []Transaction
	// Invalid is the listener's refusal of these parameters (invalid
	// UTF-8, then blank, malformed or nil transactions, a user_id), which
	// Apisonator gives only once the credentials are known: the
	// transactor returns it then. Nil when they are valid.
	Invalid *Error
	// Ext are the 3scale-options extensions (flat_usage applies).
	Ext Extensions
}

// ParseReportParams parses the form body of a batch report. Rack's own
// errors (bad escapes, bounds) are returned at once; the listener's checks
// are kept in Invalid.
func ParseReportParams(raw string) (*ReportParams, *Error) {
	root, invalidUTF8, e := parseQuery(raw)
	if e != nil {
		return nil, e
	}
	p := &ReportParams{}
	if invalidUTF8 {
		p.Invalid = ErrNotValidData()
	}
	invalid := func(e *Error) (*ReportParams, *Error) {
		if p.Invalid == nil {
			p.Invalid = e
		}
		p.Transactions = nil
		return p, nil
	}
	p.ProviderKey, _ = root.Get("provider_key").String()
	p.ServiceToken, _ = root.Get("service_token").String()
	p.ServiceID, _ = root.Get("service_id").String()
	p.ServiceID = strings.TrimSpace(p.ServiceID)
	tr := root.Get("transactions")
	if tr == nil || (tr.Leaf && tr.Value == "") || (!tr.Leaf && len(tr.Keys) == 0) {
		return invalid(ErrTransactionsIsBlank())
	}
	if tr.Leaf {
		return invalid(ErrTransactionsFormatInvalid())
	}
	for _, k := range tr.Keys {
		if t := tr.Children[k]; t.Leaf {
			// Rack leaves a string here; an empty one is Ruby's nil.
			if t.Value == "" {
				return invalid(ErrTransactionsHasNilTransaction())
			}
			return invalid(ErrTransactionsFormatInvalid())
		}
	}
	for _, k := range tr.Keys {
		if tr.Children[k].Get("user_id") != nil {
			return invalid(ErrEndUsersNoLongerSupported())
		}
	}
	for _, k := range tr.Keys {
		t := tr.Children[k]
		var x Transaction
		x.AppID, _ = t.Get("app_id").String()
		x.UserKey, _ = t.Get("user_key").String()
		x.Timestamp, _ = t.Get("timestamp").String()
		if u := t.Get("usage"); u != nil && !u.Leaf {
			for _, mk := range u.Keys {
				v, _ := u.Children[mk].String()
				x.Usage = append(x.Usage, UsageEntry{Metric: mk, Value: v})
			}
		}
		p.Transactions = append(p.Transactions, x)
	}
	return p, nil
}

// ParseUsageValue accepts what Apisonator's sane_value? accepts: a
// non-negative integer, optionally prefixed with '#' (set instead of
// increment), surrounded by optional whitespace.
func ParseUsageValue(s string) (v int64, set bool, ok bool) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "#") {
		set = true
		t = t[1:]
	}
	if t == "" || len(t) > 18 {
		return 0, false, false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, false, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, set, true
}
