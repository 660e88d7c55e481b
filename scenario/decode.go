package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem with a scenario, at a field path such as
// spec.chaos[0].podKill.count.
type FieldError struct {
	Path string
	Line int // 0 when unknown
	Msg  string
}

func (e FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Errors is every problem found, so that a user fixes a file in one pass.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	if len(es) == 1 {
		return "invalid scenario: " + lines[0]
	}
	return fmt.Sprintf("invalid scenario (%d problems):\n  %s", len(es), strings.Join(lines, "\n  "))
}

// MaxFileSize bounds a scenario file: a scenario is a few kilobytes, and
// reading one must not take the machine's memory (perfrun run /dev/zero).
const MaxFileSize = 1 << 20

// maxNodes bounds the YAML nodes checked, counting every alias's expansion:
// a file of aliases of aliases is small but expands exponentially.
const maxNodes = 200_000

// Decode reads a scenario strictly: unknown fields and values of the wrong
// type are errors naming their path, all of them at once (with the partly
// decoded scenario). It does not substitute variables, apply defaults or
// validate; Parse does.
func Decode(data []byte) (*Scenario, error) {
	if err := checkSize(data); err != nil {
		return nil, err
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	return decodeNode(root)
}

func checkSize(data []byte) error {
	if len(data) > MaxFileSize {
		return fmt.Errorf("scenario is larger than %d bytes (a scenario file is a few kilobytes; is it the right file?)", MaxFileSize)
	}
	return nil
}

// parseYAML parses one YAML document.
func parseYAML(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("parsing scenario YAML: the file is empty")
		}
		return nil, fmt.Errorf("parsing scenario YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			return nil, errors.New("parsing scenario YAML: more than one document; a scenario file holds one")
		}
		return nil, fmt.Errorf("parsing scenario YAML: %w", err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

func decodeNode(root *yaml.Node) (*Scenario, error) {
	c := &checker{budget: maxNodes}
	c.check(root, reflect.TypeFor[Scenario](), "")
	if c.budget < 0 {
		return nil, Errors{{Path: "(document)", Msg: fmt.Sprintf("more than %d YAML nodes once aliases are expanded; a scenario is far smaller", maxNodes)}}
	}
	if len(c.errs) > 0 {
		// What fits is still decoded, so that Parse can add the validation
		// problems and the user sees every problem at once.
		partial := &Scenario{}
		_ = root.Decode(partial)
		return partial, c.errs
	}
	s := &Scenario{}
	if err := root.Decode(s); err != nil {
		// The checker has seen every field; this is a backstop.
		return nil, fmt.Errorf("decoding scenario: %w", err)
	}
	return s, nil
}

// LoadFile reads (at most MaxFileSize bytes), substitutes, decodes,
// defaults and validates a scenario file.
func LoadFile(path string, vars map[string]string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	if err := checkSize(raw); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(raw, vars)
}

// Parse is LoadFile on bytes: variables are substituted into the parsed
// scalars (vars.go), then the scenario is decoded, defaulted and
// validated.
func Parse(raw []byte, vars map[string]string) (*Scenario, error) {
	if err := checkSize(raw); err != nil {
		return nil, err
	}
	marked, prefix, refs := references(raw)
	root, err := parseYAML(marked)
	if err != nil {
		return nil, err
	}
	if errs := substitute(root, prefix, refs, vars); len(errs) > 0 {
		return nil, errs
	}
	s, err := decodeNode(root)
	var decodeErrs Errors
	if err != nil && (s == nil || !errors.As(err, &decodeErrs)) {
		return nil, err
	}
	SetDefaults(s)
	errs := decodeErrs
	for _, v := range Validate(s) {
		// A field that did not decode also reads as missing: say it once.
		if !slices.ContainsFunc(decodeErrs, func(d FieldError) bool { return d.Path == v.Path }) {
			errs = append(errs, v)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

var durationType = reflect.TypeFor[Duration]()

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// checker walks the YAML against the Go type, reporting unknown fields,
// duplicate keys and scalars that do not fit, each with its path, within
// a budget of nodes.
type checker struct {
	errs   Errors
	budget int
}

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	errs := &c.errs
	bad := func(msg string, args ...any) {
		*errs = append(*errs, FieldError{Path: pathOrRoot(path), Line: n.Line, Msg: fmt.Sprintf(msg, args...)})
	}
	if c.budget--; c.budget < 0 {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			bad("want a duration such as 30s, got %s", kindName(n))
			return
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			bad("want a duration such as 30s or 2m, got %q", n.Value)
		} else if strings.HasPrefix(n.Value, "-") {
			bad("duration must not be negative, got %q", n.Value)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping, got %s", kindName(n))
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f
			names = append(names, name)
		}
		sort.Strings(names)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if seen[k.Value] {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Msg: "duplicate field"})
				continue
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Msg: fmt.Sprintf("unknown field (known: %s)", strings.Join(names, ", "))})
				continue
			}
			c.check(v, f.Type, p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping, got %s", kindName(n))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if seen[k.Value] {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Msg: "duplicate key"})
				continue
			}
			seen[k.Value] = true
			c.check(v, t.Elem(), p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("want a list, got %s", kindName(n))
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			bad("want a string, got %s", kindName(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			bad("want an integer, got %s", kindName(n))
			return
		}
		if _, err := strconv.ParseInt(n.Value, 10, t.Bits()); err != nil || n.Tag == "!!str" {
			bad("want an integer, got %q", n.Value)
		}
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode {
			bad("want a number, got %s", kindName(n))
			return
		}
		if _, err := strconv.ParseFloat(n.Value, 64); err != nil || n.Tag == "!!str" {
			bad("want a number, got %q (unquoted)", n.Value)
		}
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			bad("want true or false, got %s", kindName(n))
		}
	}
}

func pathOrRoot(p string) string {
	if p == "" {
		return "(document)"
	}
	return p
}
