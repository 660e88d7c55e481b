package scenario

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Scenario variables: ${NAME} and ${NAME:-default} in a scalar value, set
// with perfrun run --set NAME=VALUE, so that one file serves several runs.
// They are ${} rather than Go templates so that the assertions' {{.start}}
// pass through untouched.
//
// A value is put into the scalar the reference is in after the file is
// parsed, never into the text: whatever it holds (a newline, "a: b",
// "[1, 2]"), it is that one scalar's text and cannot add a field, an item
// or a document. The rules:
//
//   - A plain (unquoted) scalar that is exactly one reference takes the
//     type its value reads as in YAML: "floor: ${FLOOR:-240}" is the number
//     240, and --set FLOOR=abc is the string "abc", which the number field
//     refuses naming spec.assertions[N].throughput.floor. A quoted scalar,
//     or one with other text around the reference, is a string.
//   - A variable whose default is a number takes only numbers: with
//     RATE: "${RATE:-200}", --set RATE=abc is refused naming
//     spec.load.env.RATE, although env values are strings.
//   - A reference without a default must be set; a --set NAME that the
//     file never references is refused (a misspelt name would otherwise be
//     ignored without a word).
//   - References are allowed in values only, not in keys; a reference in
//     a comment is not one.

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}\n]*))?\}`)

// number is what a numeric default and the value given for it look like.
var number = regexp.MustCompile(`^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$`)

// ref is one ${...} in the file.
type ref struct {
	name       string
	def        string
	hasDefault bool
}

// references replaces every ${...} in src by a token made only of letters
// and digits, which is a plain scalar (or part of one) in any YAML context,
// block or flow, quoted or not; parsing the result keeps every reference
// where the file put it. The token's prefix does not occur in src.
func references(src []byte) ([]byte, string, []ref) {
	prefix := "perfrunvar"
	for n := 0; bytes.Contains(src, []byte(prefix)); n++ {
		prefix = "perfrunvar" + strconv.Itoa(n) + "x"
	}
	var refs []ref
	out := varRef.ReplaceAllFunc(src, func(m []byte) []byte {
		sub := varRef.FindSubmatch(m)
		refs = append(refs, ref{name: string(sub[1]), def: string(sub[3]), hasDefault: sub[2] != nil})
		return []byte(fmt.Sprintf("%s%dz", prefix, len(refs)-1))
	})
	return out, prefix, refs
}

// substitution fills a parsed document's references from vars.
type substitution struct {
	prefix string
	token  *regexp.Regexp
	refs   []ref
	vars   map[string]string
	used   map[string]bool
	errs   Errors
}

func substitute(root *yaml.Node, prefix string, refs []ref, vars map[string]string) Errors {
	s := &substitution{prefix: prefix, token: regexp.MustCompile(regexp.QuoteMeta(prefix) + `([0-9]+)z`), refs: refs, vars: vars, used: map[string]bool{}}
	s.walk(root, "")
	for _, name := range sortedKeys(vars) {
		if !s.used[name] {
			s.errs = append(s.errs, FieldError{Path: "--set " + name, Msg: fmt.Sprintf("the scenario has no ${%s} to set", name)})
		}
	}
	return s.errs
}

func (s *substitution) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			s.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if strings.Contains(k.Value, s.prefix) {
				s.errs = append(s.errs, FieldError{Path: join(path, s.restore(k.Value)), Line: k.Line, Msg: "a scenario variable may only be a value, not a key"})
				continue
			}
			s.walk(v, join(path, k.Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			s.walk(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		s.scalar(n, path)
	}
	// An alias is its anchor's node, already substituted where it stands.
}

// restore writes the file's references back into v (for messages).
func (s *substitution) restore(v string) string {
	return s.token.ReplaceAllStringFunc(v, func(t string) string {
		r := s.refs[s.index(t)]
		if r.hasDefault {
			return "${" + r.name + ":-" + r.def + "}"
		}
		return "${" + r.name + "}"
	})
}

func (s *substitution) index(token string) int {
	i, _ := strconv.Atoi(s.token.FindStringSubmatch(token)[1])
	return i
}

func (s *substitution) scalar(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, s.prefix) {
		return
	}
	p := pathOrRoot(path)
	whole := s.token.FindString(n.Value) == n.Value
	ok := true
	value := s.token.ReplaceAllStringFunc(n.Value, func(t string) string {
		r := s.refs[s.index(t)]
		v, set := s.vars[r.name]
		s.used[r.name] = true
		switch {
		case set && r.hasDefault && number.MatchString(r.def) && !number.MatchString(v):
			s.errs = append(s.errs, FieldError{Path: p, Line: n.Line,
				Msg: fmt.Sprintf("--set %s=%q: ${%s:-%s} has a numeric default, so %s takes a number", r.name, v, r.name, r.def, r.name)})
			ok = false
		case set:
			return v
		case r.hasDefault:
			return r.def
		default:
			s.errs = append(s.errs, FieldError{Path: p, Line: n.Line,
				Msg: fmt.Sprintf("scenario variable %s not set and without default (set it with --set %s=VALUE or write ${%s:-DEFAULT})", r.name, r.name, r.name)})
			ok = false
		}
		return t
	})
	if !ok {
		return
	}
	n.Value = value
	if whole && n.Style == 0 {
		// Plain and exactly one reference: typed as YAML reads the value.
		n.Tag = ""
		n.Tag = n.ShortTag()
	} else if n.Style&yaml.TaggedStyle == 0 {
		n.Tag = "!!str"
	}
}

// Vars are the ${NAME} references of a scenario file as Render resolves
// them: the value given (--set), else the reference's default. A name with
// neither is left out (Render refuses such a file). A given value the file
// does not reference is left out too: it changed nothing. The result
// records these, so that compare can name a --set that differs.
func Vars(src []byte, given map[string]string) map[string]string {
	out := map[string]string{}
	for _, sub := range varRef.FindAllSubmatch(src, -1) {
		name := string(sub[1])
		if v, ok := given[name]; ok {
			out[name] = v
		} else if _, seen := out[name]; !seen && sub[2] != nil {
			out[name] = string(sub[3])
		}
	}
	return out
}
