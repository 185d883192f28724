package field

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template/parse"
)

// Secrets stay opaque: a template places a secret only whole, as
//
//	env.NAME:        the entire value               {"TOKEN": "{{ secret \"t\" }}"}
//	headers.NAME:    the entire value, or after an   {"Authorization": "Bearer {{ secret \"t\" }}"}
//	                 auth scheme and one space
//	body (JSON):     the entire value of a string    {"token": "{{ secret \"t\" }}"}
//	body (form):     the entire value of a field     token={{ secret "t" }}&a=b
//	body (other):    the entire body
//
// and never in url (recorded as the step's command) or argv (shown in the
// process list). The action is exactly {{ secret "NAME" }}: NAME written
// out, no function, pipeline, variable, if, range or with around or on it,
// so no template can hand a secret over hex-encoded, cut in pieces or
// compared (printf, slice, index, len, eq, ...), and redaction of the
// value finds it wherever it is echoed. A field holding a secret holds no
// alert value, so an alert cannot move it elsewhere in the field.
// Checked when the rule loads (lint and the classifier refuse the file)
// and again when a task renders.

// Escapers of a secret that is one value of a body.
const (
	escSecretJSON = "_alexis_secret_json"
	escSecretForm = "_alexis_secret_form"
)

// secretEscapers maps a field's escaper to the one its secrets get ("":
// inserted as they are).
var secretEscapers = map[string]string{EscJSON: escSecretJSON, EscForm: escSecretForm}

// Where a field may place a secret.
type secretPos int

const (
	secretWhole      secretPos = iota // the entire value (env, a body of another content type)
	secretHeader                      // the entire value, or after "Scheme "
	secretJSONString                  // the entire value of a JSON string
	secretFormValue                   // the entire value of a form field
)

// authScheme is what may come before a secret in a header: an auth scheme
// (RFC 9110 token) and one space.
var authScheme = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+ $")

// ErrSecretPlacement: a template uses a secret another way than whole.
var ErrSecretPlacement = errors.New("secret")

// secretPlace is where a field (by its name and escaper) may place secrets.
func secretPlace(name, esc string) secretPos {
	switch {
	case strings.HasPrefix(name, "headers."):
		return secretHeader
	case name == "body" && esc == EscJSON:
		return secretJSONString
	case name == "body" && esc == EscForm:
		return secretFormValue
	}
	return secretWhole
}

// bareSecret: the pipeline is exactly `secret "NAME"`.
func bareSecret(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 2 {
		return false
	}
	id, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
	if !ok || id.Ident != FuncSecret {
		return false
	}
	_, ok = p.Cmds[0].Args[1].(*parse.StringNode)
	return ok
}

// usesSecret: n calls secret anywhere.
func usesSecret(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.IdentifierNode:
		return n.Ident == FuncSecret
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if usesSecret(c) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if usesSecret(a) {
				return true
			}
		}
	case *parse.ChainNode:
		return usesSecret(n.Node)
	case *parse.ActionNode:
		return usesSecret(n.Pipe)
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if usesSecret(c) {
				return true
			}
		}
	case *parse.IfNode:
		return usesSecret(n.Pipe) || usesSecret(n.List) || usesSecret(n.ElseList)
	case *parse.RangeNode:
		return usesSecret(n.Pipe) || usesSecret(n.List) || usesSecret(n.ElseList)
	case *parse.WithNode:
		return usesSecret(n.Pipe) || usesSecret(n.List) || usesSecret(n.ElseList)
	}
	return false
}

// checkSecrets checks that root places its secrets only whole, at pos.
func checkSecrets(root *parse.ListNode, pos secretPos) error {
	if !usesSecret(root) {
		return nil
	}
	nodes := root.Nodes
	text := func(i int) (string, bool) {
		if i < 0 || i >= len(nodes) {
			return "", true // the field's start or end
		}
		t, ok := nodes[i].(*parse.TextNode)
		if !ok {
			return "", false
		}
		return string(t.Text), true
	}
	secrets := 0
	for i, n := range nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			continue
		case *parse.ActionNode:
			if !usesSecret(n) {
				if pos == secretWhole || pos == secretHeader {
					return fmt.Errorf(`%w: a field holding a secret holds nothing from the alert`, ErrSecretPlacement)
				}
				continue
			}
			if !bareSecret(n.Pipe) {
				return fmt.Errorf(`%w: write {{ secret "NAME" }} alone: no function, pipeline, variable or computed name may take a secret (it must stay whole and opaque)`, ErrSecretPlacement)
			}
		default:
			if usesSecret(n) {
				return fmt.Errorf("%w: not inside if, range or with (a secret is placed whole, unconditionally)", ErrSecretPlacement)
			}
			if pos == secretWhole || pos == secretHeader {
				return fmt.Errorf(`%w: a field holding a secret holds nothing from the alert`, ErrSecretPlacement)
			}
			continue
		}
		secrets++
		before, okB := text(i - 1)
		after, okA := text(i + 1)
		if !okB || !okA {
			return fmt.Errorf("%w: not next to another {{ }}: a secret is placed whole", ErrSecretPlacement)
		}
		switch pos {
		case secretWhole:
			if len(nodes) != 1 {
				return fmt.Errorf(`%w: must be the entire value: "{{ secret \"NAME\" }}"`, ErrSecretPlacement)
			}
		case secretHeader:
			if secrets > 1 || after != "" || (before != "" && !authScheme.MatchString(before)) {
				return fmt.Errorf(`%w: must be the entire header value, or follow an auth scheme and one space ("Bearer {{ secret \"NAME\" }}")`, ErrSecretPlacement)
			}
		case secretJSONString:
			if !jsonStringValue(before, after) {
				return fmt.Errorf(`%w: must be the entire value of a JSON string ("key": "{{ secret \"NAME\" }}")`, ErrSecretPlacement)
			}
		case secretFormValue:
			if !strings.HasSuffix(before, "=") || (after != "" && !strings.HasPrefix(after, "&")) {
				return fmt.Errorf(`%w: must be the entire value of a form field (key={{ secret "NAME" }})`, ErrSecretPlacement)
			}
		}
	}
	return nil
}

// jsonStringValue: a secret between before and after is the entire value
// of a JSON string that is an object member's value or an array element
// (not a key).
func jsonStringValue(before, after string) bool {
	if !strings.HasSuffix(before, `"`) || strings.HasSuffix(before, `\"`) || !strings.HasPrefix(after, `"`) {
		return false
	}
	lead := strings.TrimRight(strings.TrimSuffix(before, `"`), " \t\r\n")
	if lead == "" || !strings.ContainsAny(lead[len(lead)-1:], ":[,") {
		return false
	}
	rest := strings.TrimLeft(after[1:], " \t\r\n")
	return rest == "" || strings.ContainsAny(rest[:1], ",}]")
}
