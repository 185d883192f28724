package command

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value types. Every value a template prints (run_command, local argv) is
// checked against a type before it is inserted; the default, when the
// action names no filter, is the conservative token. A value that does not
// fit refuses the whole command with a *ValueError: nothing runs.
const (
	TypeToken = "token" // default: [A-Za-z0-9_] then [A-Za-z0-9_.:+@%,-], at most MaxToken bytes
	TypeInt   = "int"   // decimal digits, no sign, no leading zero, at most 18 digits
	TypeHost  = "host"  // an RFC 1123 host name or an IPv4/IPv6 address literal
	TypeMatch = "match" // match "RE": the whole value matches RE (anchored), no leading -, no control characters
	TypePath  = "path"  // an absolute path: /seg/seg, each segment a token, no . or .. segments
	TypeText  = "text"  // free text, only where Parse can prove it inert (echo, printf '%s', logger --)
)

// Length limits of typed values, in bytes.
const (
	MaxToken = 256
	MaxInt   = 18 // digits: fits an int64, so no shell wraps it
	MaxHost  = 253
	MaxText  = 4096 // also match and path
)

// ErrValueRefused is what every *ValueError is (errors.Is).
var ErrValueRefused = errors.New("value refused")

// ValueError is a value from the alert that does not fit its type: the
// command is not run. It never holds the value itself, only a short,
// escaped prefix.
type ValueError struct {
	Field  string // where the value comes from: "details.pid", `alert "details.ip"`, "argv[2]: details.x"
	Filter string // its type: TypeToken (no filter written), TypeInt, ...
	Reason string // what is wrong with it
	Prefix string // its first bytes, Go-quoted with non-ASCII and control characters escaped
	Len    int    // its length in bytes
	cut    string // "…" when Prefix is not the whole value
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("value of %s refused by type %s: %s (value %s%s, %d bytes)", e.Field, e.Filter, e.Reason, e.Prefix, e.cut, e.Len)
}

// Is makes errors.Is(err, ErrValueRefused) true.
func (e *ValueError) Is(target error) bool { return target == ErrValueRefused }

// prefixLen is how many bytes of a refused value its error shows.
const prefixLen = 12

func newValueError(field, filter, reason, v string) *ValueError {
	p := v
	if len(p) > prefixLen {
		p = p[:prefixLen]
		for len(p) > 0 && !utf8.ValidString(p) {
			p = p[:len(p)-1] // do not cut a rune in two (unless the value is not UTF-8 at all)
		}
		if p == "" {
			p = v[:prefixLen]
		}
	}
	e := &ValueError{Field: field, Filter: filter, Reason: reason, Prefix: strconv.QuoteToASCII(p), Len: len(v)}
	if len(p) < len(v) {
		e.cut = "…"
	}
	return e
}

// typed is a value a filter has given a type; it is checked when printed.
type typed struct {
	kind string
	v    any
	re   *regexp.Regexp // TypeMatch
}

// tokenFirst and tokenRest are the default token's characters.
func tokenFirst(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

func tokenRest(c byte) bool {
	return tokenFirst(c) || strings.IndexByte(".:+@%,-", c) >= 0
}

// checkToken is the default type.
func checkToken(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxToken:
		return fmt.Sprintf("longer than %d bytes", MaxToken)
	case s[0] == '-':
		return `starts with "-" (would be read as an option)`
	case !tokenFirst(s[0]):
		return fmt.Sprintf("starts with %s (a token starts with a letter, digit or _)", byteName(s[0]))
	}
	for i := 1; i < len(s); i++ {
		if !tokenRest(s[i]) {
			return fmt.Sprintf("holds %s (a token holds letters, digits and _ . : + @ %% , - only; name a filter: int, host, path, match)", byteName(s[i]))
		}
	}
	return ""
}

func byteName(c byte) string {
	switch {
	case c == 0:
		return "a NUL byte"
	case c == '\n':
		return "a newline"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("control character 0x%02x", c)
	case c >= 0x80:
		return "a non-ASCII byte"
	case c == ' ':
		return "a space"
	}
	return strconv.QuoteRune(rune(c))
}

func checkInt(s string) string {
	switch {
	case s == "":
		return "empty"
	case s[0] == '-' || s[0] == '+':
		return "has a sign (int is digits only)"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Sprintf("holds %s (int is digits only)", byteName(s[i]))
		}
	}
	if len(s) > MaxInt {
		return fmt.Sprintf("more than %d digits", MaxInt)
	}
	if len(s) > 1 && s[0] == '0' {
		return "has a leading zero (bash would read it as octal)"
	}
	return ""
}

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func checkHost(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxHost:
		return fmt.Sprintf("longer than %d bytes", MaxHost)
	case s[0] == '-':
		return `starts with "-" (would be read as an option)`
	}
	if strings.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || !a.Is6() {
			return "not a host name or IP address"
		}
		return ""
	}
	for _, l := range strings.Split(s, ".") {
		if !hostLabel.MatchString(l) {
			return "not an RFC 1123 host name or IP address"
		}
	}
	return ""
}

// checkEntity checks an entity printed as a token: host, host:port,
// IPv6 or [IPv6]:port.
func checkEntity(field, e string) (string, error) {
	h, port := e, ""
	if strings.HasPrefix(e, "[") {
		end := strings.Index(e, "]")
		if end < 0 {
			return "", newValueError(field, "entity", "not a host or host:port", e)
		}
		h, port = e[1:end], strings.TrimPrefix(e[end+1:], ":")
		if e[end+1:] != "" && !strings.HasPrefix(e[end+1:], ":") {
			return "", newValueError(field, "entity", "not a host or host:port", e)
		}
	} else if strings.Count(e, ":") == 1 {
		h, port, _ = strings.Cut(e, ":")
	}
	if why := checkHost(h); why != "" {
		return "", newValueError(field, "entity", why, e)
	}
	if port != "" && checkInt(port) != "" {
		return "", newValueError(field, "entity", "port is not a number", e)
	}
	return e, nil
}

// checkFree is what match, path and text values share: bounded, valid
// UTF-8, no control characters (tab allowed in text only).
func checkFree(s string, tab bool) string {
	if len(s) > MaxText {
		return fmt.Sprintf("longer than %d bytes", MaxText)
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		if r < 0x20 && !(tab && r == '\t') || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("holds control character %U", r)
		}
	}
	return ""
}

func checkPath(s string) string {
	if why := checkFree(s, false); why != "" {
		return why
	}
	if !strings.HasPrefix(s, "/") || s == "/" {
		return `not an absolute path below / ("/seg/seg")`
	}
	for _, seg := range strings.Split(s[1:], "/") {
		switch {
		case seg == "":
			return "has an empty segment (//, or a trailing /)"
		case seg == "." || seg == "..":
			return "has a . or .. segment"
		}
		if why := checkToken(seg); why != "" {
			return "segment " + why
		}
	}
	return ""
}

// check returns v, declared of type kind where it is printed, as the text
// to insert, or why it is refused. flags "dd": a -- came before.
func check(field, kind, flags string, v any) (string, error) {
	var re *regexp.Regexp
	if t, ok := v.(typed); ok {
		v, re = t.v, t.re // the declared kind counts, not a filter's inside a variable
	}
	if e, ok := v.(Entity); ok && kind == TypeToken {
		return checkEntity(field, string(e))
	}
	if kind == TypeMatch && re == nil {
		return "", fmt.Errorf("value of %s: match has no pattern", field)
	}
	s, err := Text(v)
	if err != nil {
		return "", fmt.Errorf("value of %s: %w", field, err)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("value of %s %w", field, ErrNUL)
	}
	var why string
	switch kind {
	case TypeToken:
		why = checkToken(s)
	case TypeInt:
		why = checkInt(s)
	case TypeHost:
		why = checkHost(s)
	case TypePath:
		why = checkPath(s)
	case TypeMatch:
		switch {
		case strings.HasPrefix(s, "-"):
			why = `starts with "-" (would be read as an option)`
		default:
			if why = checkFree(s, false); why == "" && !re.MatchString(s) {
				why = "does not match " + strconv.Quote(re.String())
			}
		}
	case TypeText:
		if why = checkFree(s, true); why == "" && strings.HasPrefix(s, "-") && flags != "dd" {
			why = `starts with "-" (would be read as an option; only after -- is it not)`
		}
	default:
		why = "unknown type"
	}
	if why != "" {
		return "", newValueError(field, kind, why, s)
	}
	return s, nil
}

// filterNames are the template functions that give a value a type.
var filterNames = map[string]bool{TypeInt: true, TypeHost: true, TypeMatch: true, TypePath: true, TypeText: true}

// filterFuncs are the typing functions; regexps holds the match patterns
// compiled by Parse (nil while parsing).
func filterFuncs(regexps map[string]*regexp.Regexp) map[string]any {
	tag := func(kind string) func(any) typed {
		return func(v any) typed { return typed{kind: kind, v: v} }
	}
	return map[string]any{
		TypeInt:  tag(TypeInt),
		TypeHost: tag(TypeHost),
		TypePath: tag(TypePath),
		TypeText: tag(TypeText),
		TypeMatch: func(pattern string, v any) (typed, error) {
			re := regexps[pattern]
			if re == nil {
				return typed{}, fmt.Errorf("match %q was not compiled", pattern)
			}
			return typed{kind: TypeMatch, v: v, re: re}, nil
		},
	}
}

// compileMatch compiles a match pattern, anchored.
func compileMatch(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("match %q: %w", pattern, err)
	}
	return re, nil
}
