package backend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Kubernetes objects at k6's arrival rates: backend.kube() is a handle on one
// API server and namespace; create() POSTs one object per call, each with a
// unique name. client-go only loads the kubeconfig (or the in-cluster
// service account) and makes the TLS/auth transport; the request is the
// extension's own: a JSON body encoded once per template where only the
// name changes per call, no client-go rate limiter (the arrival rate is the
// rate), no per-call reflection over the object.

// TestIDLabel is the label create() adds when __ENV.TESTID is set, the one
// perfrun selects a run's objects by.
const TestIDLabel = "perfrun.dev/testid"

// Outcomes of a create: the object was created (2xx), the API server
// rejected it (4xx: invalid, already exists, forbidden...), or the call
// failed (5xx, 429, timeout, transport). A dry run the server accepted is
// "valid".
const (
	KubeCreated  = "created"
	KubeRejected = "rejected"
	KubeFailed   = "failed"
	KubeValid    = "valid"
)

// KubeResult is what create() and validate() return. Like the other calls,
// an answer the server refused or no answer is a result, never an exception.
type KubeResult struct {
	OK       bool    `js:"ok"`
	Status   int     `js:"status"`
	Name     string  `js:"name"`
	Outcome  string  `js:"outcome"`
	Reason   string  `js:"reason"` // the Status reason (Invalid, AlreadyExists...), "timeout", "transport"
	Error    string  `js:"error"`  // the API server's message on a rejection
	Duration float64 `js:"duration"`
	DryRun   bool    `js:"dryRun"`
}

// kubeShared is one API server as the whole process uses it: the transport
// (and so its HTTP/2 connection), the resources found by discovery, and the
// counter that makes names unique. All VUs' handles on the same kubeconfig
// and context share one.
type kubeShared struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	rt        http.RoundTripper
	namespace string // the kubeconfig context's, or the service account's
	token     string // random per process: names of two generators differ
	seq       atomic.Uint64

	mu        sync.Mutex
	resources map[string]*kubeResource // apiVersion + " " + kind
}

// kubeResource is one kind's resource as discovery gave it, or why not.
type kubeResource struct {
	gvPath     string // /api/v1 or /apis/GROUP/VERSION
	resource   string // plural name: taskruns
	namespaced bool
	// A kind the server does not serve is remembered for a second, so a
	// missing CRD does not turn the arrival rate into discovery requests.
	err     *KubeResult
	expires time.Time
}

// sharedKube returns the process's client for a kubeconfig and context.
func (r *RootModule) sharedKube(kubeconfig, kubeContext string) (*kubeShared, error) {
	inCluster := kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != ""
	key := kubeconfig + "\x00" + kubeContext
	if inCluster {
		key = "\x00in-cluster"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.kubes[key]; ok {
		return s, nil
	}
	cfg, ns, err := loadKubeConfig(kubeconfig, kubeContext, inCluster)
	if err != nil {
		return nil, err
	}
	s, err := newKubeShared(cfg, ns)
	if err != nil {
		return nil, err
	}
	if r.kubes == nil {
		r.kubes = map[string]*kubeShared{}
	}
	r.kubes[key] = s
	return s, nil
}

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// loadKubeConfig reads the in-cluster service account, or the kubeconfig
// (kubectl's rules: the path given, else $KUBECONFIG, else ~/.kube/config).
func loadKubeConfig(kubeconfig, kubeContext string, inCluster bool) (*rest.Config, string, error) {
	if inCluster {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("in-cluster config: %w", err)
		}
		ns := "default"
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil && len(bytes.TrimSpace(b)) > 0 {
			ns = string(bytes.TrimSpace(b))
		}
		return cfg, ns, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %q: %w", kubeconfig, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

func newKubeShared(cfg *rest.Config, namespace string) (*kubeShared, error) {
	cfg = rest.CopyConfig(cfg)
	// No client-side rate limit: the requests here never go through a
	// rest.Client (whose limiter that is), and k6's executor sets the rate.
	cfg.QPS, cfg.Burst = -1, 0
	if cfg.UserAgent == "" {
		cfg.UserAgent = "perfrun-k6 (k6/x/backend)"
	}
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: server: %w", err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: transport: %w", err)
	}
	return &kubeShared{
		base:      strings.TrimSuffix(u.String(), "/"),
		rt:        rt,
		namespace: namespace,
		token:     nameToken(),
		resources: map[string]*kubeResource{},
	}, nil
}

// nameToken is 5 random lowercase letters and digits, drawn once per process.
func nameToken() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// appendName appends a name unique in this process (and, through the token,
// between processes): prefix + token + "-" + counter in base 36.
func (s *kubeShared) appendName(dst []byte, prefix string) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, s.token...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, s.seq.Add(1), 36)
}

// maxNameSuffix is the longest suffix appendName writes: token, "-" and a
// uint64 in base 36 (13 digits).
const maxNameSuffix = 5 + 1 + 13

// checkNamePrefix tells whether prefix + any suffix is a DNS-1123
// subdomain, the rule for object names.
func checkNamePrefix(prefix string) error {
	if err := dns1123Subdomain(prefix + "aaaaa-" + strings.Repeat("z", 13)); err != nil {
		return fmt.Errorf("namePrefix %q: names would not be valid: %w", prefix, err)
	}
	return nil
}

// dns1123Subdomain checks a name as Kubernetes checks object names: at most
// 253 characters, dot-separated labels of lowercase letters, digits and '-',
// each starting and ending with a letter or digit.
func dns1123Subdomain(s string) error {
	if len(s) == 0 || len(s) > 253 {
		return fmt.Errorf("length %d: must be 1 to 253 characters", len(s))
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return errors.New("empty label between dots")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !alnum && (c != '-' || i == 0 || i == len(label)-1) {
				return fmt.Errorf("%q: lowercase letters, digits, '-' and '.' only, each part starting and ending with a letter or digit", label)
			}
		}
	}
	return nil
}

// resource finds a kind's resource by discovery, once per process: one
// discovery answer fills in every kind of its apiVersion.
func (s *kubeShared) resource(ctx context.Context, hc *http.Client, apiVersion, kind string) (*kubeResource, *KubeResult) {
	key := apiVersion + " " + kind
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.resources[key]; ok {
		if r.err == nil {
			return r, nil
		}
		if time.Now().Before(r.expires) {
			return nil, r.err
		}
	}
	found, fail := discover(ctx, hc, s.base, apiVersion)
	if fail == nil {
		for k, r := range found {
			s.resources[apiVersion+" "+k] = r
		}
		if r, ok := found[kind]; ok {
			return r, nil
		}
		fail = &KubeResult{Status: 404, Outcome: KubeRejected, Reason: "NotFound",
			Error: fmt.Sprintf("kind %s is not in apiVersion %s on the API server", kind, apiVersion)}
	}
	if fail.Outcome == KubeRejected {
		s.resources[key] = &kubeResource{err: fail, expires: time.Now().Add(time.Second)}
	}
	return nil, fail
}

// discover reads the group version's resource list (GET /api/v1 or
// /apis/GROUP/VERSION): each kind's resource (not the subresources).
func discover(ctx context.Context, hc *http.Client, base, apiVersion string) (map[string]*kubeResource, *KubeResult) {
	gvPath := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		gvPath = "/api/" + apiVersion // the core group: v1
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+gvPath, nil)
	if err != nil {
		return nil, &KubeResult{Outcome: KubeFailed, Reason: "transport", Error: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportFailure(err, "discovery of "+apiVersion)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode == http.StatusNotFound {
		return nil, &KubeResult{Status: 404, Outcome: KubeRejected, Reason: "NotFound",
			Error: fmt.Sprintf("apiVersion %s is not served by the API server (is its CRD installed?)", apiVersion)}
	}
	if resp.StatusCode/100 != 2 {
		r := classifyStatus(resp.StatusCode, body)
		r.Error = "discovery of " + apiVersion + ": " + r.Error
		return nil, r
	}
	var list struct {
		Resources []struct {
			Name       string `json:"name"`
			Namespaced bool   `json:"namespaced"`
			Kind       string `json:"kind"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, &KubeResult{Status: resp.StatusCode, Outcome: KubeFailed, Reason: "transport",
			Error: fmt.Sprintf("discovery of %s: %v", apiVersion, err)}
	}
	found := map[string]*kubeResource{}
	for _, r := range list.Resources {
		if _, ok := found[r.Kind]; !ok && !strings.Contains(r.Name, "/") {
			found[r.Kind] = &kubeResource{gvPath: gvPath, resource: r.Name, namespaced: r.Namespaced}
		}
	}
	return found, nil
}

// classifyStatus reads a non-2xx answer: its Status reason and message.
// 4xx is rejected (the object: invalid, already exists, forbidden), except
// 408 and 429, which are the server's capacity (like 5xx): failed.
func classifyStatus(code int, body []byte) *KubeResult {
	r := &KubeResult{Status: code}
	switch {
	case code/100 == 2:
		r.OK, r.Outcome = true, KubeCreated
		return r
	case code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		r.Outcome = KubeRejected
	default:
		r.Outcome = KubeFailed
	}
	var st struct {
		Kind    string `json:"kind"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		r.Reason, r.Error = st.Reason, st.Message
	}
	if r.Reason == "" {
		r.Reason = strconv.Itoa(code)
	}
	if r.Error == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		r.Error = fmt.Sprintf("HTTP %d %s", code, msg)
	}
	return r
}

// transportFailure is a call that got no answer.
func transportFailure(err error, what string) *KubeResult {
	reason := "transport"
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		reason = "timeout"
	}
	return &KubeResult{Outcome: KubeFailed, Reason: reason, Error: what + ": " + err.Error()}
}

// kubeTemplate is a manifest made ready once: its metadata, with the name
// left out, and the rest, each encoded when first used with a handle (its
// namespace and labels) and a resource (namespaced or not).
type kubeTemplate struct {
	apiVersion, kind string
	metadata         map[string]any
	rest             map[string]any
	namePrefix       string // metadata.generateName, else kind in lowercase + "-"

	enc *encodedTemplate
}

type encodedTemplate struct {
	handle         *kubeHandle
	res            *kubeResource
	url, dryRunURL string
	// The body is prefix + name + suffix.
	prefix, suffix []byte
}

var kubeTemplateType = reflect.TypeOf((*kubeTemplate)(nil))

// newKubeTemplate reads a manifest as exported from JS.
func newKubeTemplate(m map[string]any) (*kubeTemplate, error) {
	t := &kubeTemplate{rest: map[string]any{}, metadata: map[string]any{}}
	for k, v := range m {
		if k == "metadata" {
			md, ok := v.(map[string]any)
			if !ok && v != nil {
				return nil, errors.New("metadata: want an object")
			}
			for mk, mv := range md {
				t.metadata[mk] = mv
			}
			continue
		}
		t.rest[k] = v
	}
	t.apiVersion, _ = t.rest["apiVersion"].(string)
	t.kind, _ = t.rest["kind"].(string)
	if t.apiVersion == "" || t.kind == "" {
		return nil, errors.New("the object needs apiVersion and kind (e.g. {apiVersion: 'tekton.dev/v1', kind: 'TaskRun', spec: {...}})")
	}
	if g, ok := t.metadata["generateName"].(string); ok && g != "" {
		t.namePrefix = g
	} else {
		t.namePrefix = strings.ToLower(t.kind) + "-"
	}
	if err := checkNamePrefix(t.namePrefix); err != nil {
		return nil, err
	}
	// The name is per call; generateName would make the server pick one.
	delete(t.metadata, "name")
	delete(t.metadata, "generateName")
	if l, ok := t.metadata["labels"]; ok && l != nil {
		if _, ok := l.(map[string]any); !ok {
			return nil, errors.New("metadata.labels: want an object")
		}
	}
	return t, nil
}

// encoded returns the body parts and URL for a handle and resource.
func (t *kubeTemplate) encoded(h *kubeHandle, res *kubeResource) (*encodedTemplate, error) {
	if t.enc != nil && t.enc.handle == h && t.enc.res == res {
		return t.enc, nil
	}
	ns := ""
	if res.namespaced {
		ns = h.namespace
	}
	prefix, suffix, err := encodeTemplate(t.metadata, t.rest, ns, h.labels)
	if err != nil {
		return nil, err
	}
	url := h.shared.base + res.gvPath
	if res.namespaced {
		url += "/namespaces/" + ns
	}
	url += "/" + res.resource
	t.enc = &encodedTemplate{handle: h, res: res, url: url, dryRunURL: url + "?dryRun=All", prefix: prefix, suffix: suffix}
	return t.enc, nil
}

// encodeTemplate encodes a manifest as JSON in two parts, the name going
// between them:
//
//	{"metadata":{...,"name":"  NAME  "},"apiVersion":...,"kind":...,...}
//
// metadata gets namespace (when not empty) and labels added; name and
// generateName were taken out of it.
func encodeTemplate(metadata, rest map[string]any, namespace string, labels map[string]string) (prefix, suffix []byte, err error) {
	md := make(map[string]any, len(metadata)+2)
	for k, v := range metadata {
		md[k] = v
	}
	delete(md, "namespace")
	if namespace != "" {
		md["namespace"] = namespace
	}
	if len(labels) > 0 {
		l := map[string]any{}
		if old, ok := md["labels"].(map[string]any); ok {
			for k, v := range old {
				l[k] = v
			}
		}
		for k, v := range labels {
			l[k] = v
		}
		md["labels"] = l
	}
	mb, err := marshalJSON(md)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	rb, err := marshalJSON(rest)
	if err != nil {
		return nil, nil, err
	}
	prefix = append([]byte(`{"metadata":`), mb[:len(mb)-1]...) // without its '}'
	if len(md) > 0 {
		prefix = append(prefix, ',')
	}
	prefix = append(prefix, `"name":"`...)
	suffix = []byte(`"}`)
	if len(rest) > 0 {
		suffix = append(suffix, ',')
		suffix = append(suffix, rb[1:]...) // without its '{'
	} else {
		suffix = append(suffix, '}')
	}
	return prefix, suffix, nil
}

// marshalJSON is json.Marshal without HTML escaping (scripts hold '&&').
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// kubeHandle is what backend.kube() returns to one VU: the shared client,
// a namespace, the labels added to every object, and the VU's tag sets.
type kubeHandle struct {
	mi        *ModuleInstance
	shared    *kubeShared
	hc        *http.Client
	namespace string
	labels    map[string]string

	checkedPrefix string // the last namePrefix found valid
	em            kubeEmitter
}

func (mi *ModuleInstance) kube(opts sobek.Value) *sobek.Object {
	if mi.initErr != nil {
		mi.throw(mi.initErr)
	}
	h, err := mi.kubeFromOptions(opts)
	if err != nil {
		mi.throw(fmt.Errorf("backend.kube: %w", err))
	}
	return h.jsObject()
}

func (mi *ModuleInstance) kubeFromOptions(v sobek.Value) (*kubeHandle, error) {
	o := optionsOf(mi.vu.Runtime(), v)
	timeout, err := durationOf(o.get("timeout"), "timeout", 30*time.Second)
	if err != nil {
		return nil, err
	}
	s, err := mi.root.sharedKube(o.str("kubeconfig"), o.str("context"))
	if err != nil {
		return nil, err
	}
	h := &kubeHandle{mi: mi, shared: s, hc: &http.Client{Transport: s.rt, Timeout: timeout}, namespace: o.str("namespace")}
	if h.namespace == "" {
		h.namespace = s.namespace
	}
	if err := dns1123Subdomain(h.namespace); err != nil {
		return nil, fmt.Errorf("namespace %q: %w", h.namespace, err)
	}
	testID := o.str("testId")
	if testID == "" {
		if env := mi.vu.InitEnv(); env != nil && env.TestPreInitState != nil {
			testID = env.RuntimeOptions.Env["TESTID"]
		}
	}
	if testID != "" {
		h.labels = map[string]string{TestIDLabel: testID}
	}
	return h, nil
}

// jsObject binds the handle's methods to a plain object once (see
// Client.jsObject for why).
func (h *kubeHandle) jsObject() *sobek.Object {
	rt := h.mi.vu.Runtime()
	obj := rt.NewObject()
	set := func(name string, v any) {
		if err := obj.Set(name, v); err != nil {
			h.mi.throw(fmt.Errorf("backend.kube: binding %s: %w", name, err))
		}
	}
	set("create", func(call sobek.FunctionCall) sobek.Value {
		return rt.ToValue(h.create(call.Argument(0), call.Argument(1), false))
	})
	set("validate", func(call sobek.FunctionCall) sobek.Value {
		return rt.ToValue(h.create(call.Argument(0), call.Argument(1), true))
	})
	set("template", func(call sobek.FunctionCall) sobek.Value {
		t, err := h.templateOf(call.Argument(0))
		if err != nil {
			h.mi.throw(fmt.Errorf("kube.template: %w", err))
		}
		return rt.ToValue(t)
	})
	set("namespace", h.namespace)
	return obj
}

// templateOf reads a template made by kube.template(), or a manifest (then
// encoded for this one call).
func (h *kubeHandle) templateOf(v sobek.Value) (*kubeTemplate, error) {
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return nil, errors.New("want an object manifest or kube.template(manifest)")
	}
	if v.ExportType() == kubeTemplateType {
		return v.Export().(*kubeTemplate), nil
	}
	m, ok := v.Export().(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want an object manifest, got %s", v.String())
	}
	return newKubeTemplate(m)
}

// create POSTs one object: kube.create(manifestOrTemplate, {namePrefix, dryRun}).
func (h *kubeHandle) create(objV, optsV sobek.Value, validate bool) *KubeResult {
	call := "kube.create"
	if validate {
		call = "kube.validate"
	}
	state := h.mi.vu.State()
	if state == nil {
		h.mi.throw(fmt.Errorf("%s: call it from setup(), the default function or teardown(), not the init context", call))
	}
	t, err := h.templateOf(objV)
	if err != nil {
		h.mi.throw(fmt.Errorf("%s: %w", call, err))
	}
	prefix, dryRun := t.namePrefix, validate
	if optsV != nil && !sobek.IsUndefined(optsV) && !sobek.IsNull(optsV) {
		o := optsV.ToObject(h.mi.vu.Runtime())
		if p := o.Get("namePrefix"); p != nil && !sobek.IsUndefined(p) {
			prefix = p.String()
		}
		if d := o.Get("dryRun"); d != nil && !sobek.IsUndefined(d) {
			dryRun = dryRun || d.ToBoolean()
		}
	}
	if prefix != h.checkedPrefix {
		if err := checkNamePrefix(prefix); err != nil {
			h.mi.throw(fmt.Errorf("%s: %w", call, err))
		}
		h.checkedPrefix = prefix
	}
	ctx := h.mi.vu.Context()
	r := h.do(ctx, t, prefix, dryRun)
	if !dryRun && ctx.Err() == nil { // a call cut by the test's end counts nowhere
		h.em.emit(ctx, state, h.mi.metrics, t.kind, r)
	}
	return r
}

// do sends one create and classifies the answer.
func (h *kubeHandle) do(ctx context.Context, t *kubeTemplate, prefix string, dryRun bool) *KubeResult {
	start := time.Now()
	r := h.post(ctx, t, prefix, dryRun)
	r.Duration = float64(time.Since(start)) / float64(time.Millisecond)
	r.DryRun = dryRun
	if dryRun && r.OK {
		r.Outcome = KubeValid
	}
	return r
}

func (h *kubeHandle) post(ctx context.Context, t *kubeTemplate, prefix string, dryRun bool) *KubeResult {
	res, fail := h.shared.resource(ctx, h.hc, t.apiVersion, t.kind)
	if fail != nil {
		r := *fail
		return &r
	}
	enc, err := t.encoded(h, res)
	if err != nil {
		return &KubeResult{Outcome: KubeRejected, Reason: "Encoding", Error: err.Error()}
	}
	// A body of its own per call: the transport may still read it after
	// Do returns (HTTP/2 retries).
	body := make([]byte, 0, len(enc.prefix)+len(prefix)+maxNameSuffix+len(enc.suffix))
	body = append(body, enc.prefix...)
	nameAt := len(body)
	body = h.shared.appendName(body, prefix)
	name := string(body[nameAt:])
	body = append(body, enc.suffix...)
	url := enc.url
	if dryRun {
		url = enc.dryRunURL
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return &KubeResult{Name: name, Outcome: KubeFailed, Reason: "transport", Error: err.Error()}
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Accept"] = []string{"application/json"}
	resp, err := h.hc.Do(req)
	if err != nil {
		r := transportFailure(err, "POST "+url)
		r.Name = name
		return r
	}
	defer resp.Body.Close()
	var r *KubeResult
	if resp.StatusCode/100 == 2 {
		// The created object comes back: read it (the connection is
		// reused) and drop it.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			r = transportFailure(err, "reading the answer")
			r.Status = resp.StatusCode
		} else {
			r = &KubeResult{Status: resp.StatusCode, OK: true, Outcome: KubeCreated}
		}
	} else {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		r = classifyStatus(resp.StatusCode, b)
	}
	r.Name = name
	return r
}

// kubeEmitter keeps a VU's tag sets per kind (and reason), renewed when the
// VU's own tags change.
type kubeEmitter struct {
	vuTags *metrics.TagSet
	kinds  []kindTags
}

type kindTags struct {
	kind     string
	kindTags *metrics.TagSet
	duration [3]*metrics.TagSet // kind + outcome, by created, rejected, failed
	reasons  map[string]*metrics.TagSet
}

func (em *kubeEmitter) tags(base *metrics.TagSet, kind string) *kindTags {
	if em.vuTags != base {
		em.vuTags, em.kinds = base, nil
	}
	for i := range em.kinds {
		if em.kinds[i].kind == kind {
			return &em.kinds[i]
		}
	}
	kt := base.With("kind", kind)
	em.kinds = append(em.kinds, kindTags{kind: kind, kindTags: kt, reasons: map[string]*metrics.TagSet{}})
	return &em.kinds[len(em.kinds)-1]
}

func (em *kubeEmitter) emit(ctx context.Context, state *lib.State, m *extMetrics, kind string, r *KubeResult) {
	ctm := state.Tags.GetCurrentValues()
	kt := em.tags(ctm.Tags, kind)
	var counter *metrics.Metric
	var i int
	switch r.Outcome {
	case KubeCreated:
		counter, i = m.kubeCreated, 0
	case KubeRejected:
		counter, i = m.kubeRejected, 1
	default:
		counter, i = m.kubeFailed, 2
	}
	if kt.duration[i] == nil {
		kt.duration[i] = kt.kindTags.With("outcome", r.Outcome)
	}
	ct := kt.kindTags
	if i > 0 {
		if ct = kt.reasons[r.Reason]; ct == nil {
			ct = kt.kindTags.With("reason", r.Reason)
			kt.reasons[r.Reason] = ct
		}
	}
	now := time.Now()
	metrics.PushIfNotDone(ctx, state.Samples, metrics.Samples{
		{TimeSeries: metrics.TimeSeries{Metric: m.kubeDuration, Tags: kt.duration[i]}, Time: now,
			Value: r.Duration, Metadata: ctm.Metadata},
		{TimeSeries: metrics.TimeSeries{Metric: counter, Tags: ct}, Time: now, Value: 1, Metadata: ctm.Metadata},
	})
}
