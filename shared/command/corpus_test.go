package command

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusShells are the shells the corpus runs rendered commands with:
// argv prefixes to which "-c CMD" is appended.
func corpusShells(t *testing.T) map[string][]string {
	t.Helper()
	shells := map[string][]string{}
	for name, argv := range map[string][]string{
		"bash":    {"bash"},
		"dash":    {"dash"},
		"sh":      {"sh"},
		"busybox": {"busybox", "sh"},
	} {
		if p, err := exec.LookPath(argv[0]); err == nil {
			shells[name] = append([]string{p}, argv[1:]...)
		}
	}
	if shells["bash"] == nil {
		t.Skip("no bash")
	}
	if shells["busybox"] == nil {
		t.Log("busybox not installed (deploy/install-deps.sh installs it): its sh is not tried")
	}
	return shells
}

// corpusValues are hostile alert values by class. PWNED is created in the
// command's working directory if any of them runs something; CANARY is
// replaced by an absolute canary path.
var corpusValues = []struct{ class, v string }{
	{"command substitution", "$(touch PWNED)"},
	{"command substitution abs", "$(touch CANARY)"},
	{"backticks", "`touch PWNED`"},
	{"arithmetic subscript (issue 10)", "a[$(touch CANARY)]"},
	{"arithmetic subscript sum", "x[$(touch PWNED)]+1"},
	{"nested subscript", "a[b[$(touch PWNED)]]"},
	{"leading dash", "-rf"},
	{"long option", "--use-compress-program=touch PWNED"},
	{"tar checkpoint", "--checkpoint=1 --checkpoint-action=exec=touch PWNED"},
	{"option with =", "-o=ProxyCommand=touch PWNED"},
	{"newline", "x\ntouch PWNED"},
	{"carriage return", "x\r\ntouch PWNED"},
	{"semicolon", "; touch PWNED"},
	{"and", "&& touch PWNED"},
	{"pipe", "| touch PWNED"},
	{"redirect", "> PWNED"},
	{"glob star", "*"},
	{"glob class", "[a-z]*"},
	{"glob question", "?"},
	{"IFS", "a${IFS}touch${IFS}PWNED"},
	{"space", "a touch PWNED"},
	{"tab", "a\ttouch\tPWNED"},
	{"unicode look-alike", "ｔｏｕｃｈ PWNED"},
	{"cyrillic o", "tоuch"},
	{"RTL override", "abc\u202edcba"},
	{"zero width", "ngi\u200bnx"},
	{"very long", strings.Repeat("a", 70000)},
	{"long token", strings.Repeat("a", MaxToken+1)},
	{"NUL", "ngin\x00x"},
	{"dot", "."},
	{"dot-dot", ".."},
	{"slash", "/"},
	{"traversal", "../../etc/shadow"},
	{"absolute", "/etc/shadow"},
	{"path with dot-dot", "/var/../etc/shadow"},
	{"tilde", "~root"},
	{"quote", "'; touch PWNED; '"},
	{"double quote", `"; touch PWNED; "`},
	{"backslash", `\`},
	{"empty", ""},
	{"last argument variable", "_"},
	{"execution string variable", "BASH_EXECUTION_STRING"},
	{"negative", "-1"},
	{"octal", "010"},
	{"hex", "0x10"},
	{"huge number", "99999999999999999999999"},
	{"harmless name", "nginx"},
	{"harmless number", "5"},
	{"harmless host", "app01.example.com"},
	{"harmless ipv6", "2001:db8::1"},
}

// corpusFilters are what an action may name after the value.
var corpusFilters = []string{"", " | int", " | host", ` | match ".+"`, ` | match "[a-z0-9_./-]+"`, " | path", " | text"}

// corpusContexts are shell contexts a rule author may write a value in; V
// is where the action goes. Each runs with every shell (the bash-only ones
// still must not run anything under dash or busybox).
var corpusContexts = []struct{ name, text string }{
	{"plain word", "true V"},
	{"word in a word", "true --unit=V.service"},
	{"path suffix", "ls -d /tmp/V"},
	{"echo", "echo V"},
	{"printf %s", "printf '%s\\n' V"},
	{"logger --", "logger --no-act -t alexis-corpus -- V"},
	{"issue exploit [[ -gt ]]", "if [[ V -gt 3 ]]; then echo big; fi"},
	{"[[ == ]]", "if [[ V == x ]]; then echo same; fi"},
	{"test builtin -gt", "if [ V -gt 3 ]; then echo big; fi"},
	{"(( ))", "if (( V > 3 )); then echo big; fi"},
	{"$(( ))", "echo $(( V + 1 ))"},
	{"let", "let n=V+1"},
	{"declare -i", "declare -i n=V; echo $n"},
	{"declare -i then assign", "declare -i n; n=V; echo $n"},
	{"variable into [[ ]]", "v=V; if [[ $v -gt 3 ]]; then echo big; fi"},
	{"array subscript", "a[V]=1"},
	{"tar file", "tar --no-recursion -cf /dev/null V"},
	{"tar option value", "tar --no-recursion -C V -cf /dev/null ."},
	{"find -name", "find . -maxdepth 1 -name V"},
	{"find -exec", "find . -maxdepth 0 -exec V \\;"},
	{"xargs program", "echo x | xargs V"},
	{"xargs -n", "echo x | xargs -n V true"},
	{"sudo program", "sudo -n V"},
	{"sudo -u", "sudo -n -u V true"},
	{"env program", "env V"},
	{"env assignment", "env X=V true"},
	{"sh -c", "sh -c 'echo \"$1\"' _ V"},
	{"sudo sh -c", "sudo -n sh -c 'echo \"$1\"' _ V"},
	{"eval", "eval V"},
	{"command name", "V"},
	{"kill", "kill -0 V"},
	{"timeout", "timeout V true"},
	{"variable as the command", "v=V; $v"},
	{"piped into sh", "echo V | sh"},
	{"fd redirect then the name", "2>/dev/null V"},
	{"function parameter to eval", "f() { eval \"$1\"; }; f V"},
	{"awk -v", "awk -v n=V 'BEGIN { print n }'"},
	{"sed script", "sed -n V /dev/null"},
	{"perl -e", "perl -e V"},
}

// TestHostileCorpus renders every hostile value class in every context
// class with every type, and runs each command Render accepts with bash,
// dash, sh and busybox sh: nothing may run (no canary file appears) and
// printing contexts print the value unchanged.
func TestHostileCorpus(t *testing.T) {
	shells := corpusShells(t)
	canaryDir := t.TempDir()
	canary := filepath.Join(canaryDir, "canary")
	var parsed, refusedParse, refusedRender, runs, cmds int
	for _, cx := range corpusContexts {
		t.Run(cx.name, func(t *testing.T) {
			for _, f := range corpusFilters {
				text := strings.ReplaceAll(cx.text, "V", "{{ .details.v"+f+" }}")
				tmpl, err := Parse(text)
				if err != nil {
					refusedParse++
					continue
				}
				parsed++
				// The accepted commands of this template run in one script
				// per shell, each in its own subshell between markers, so a
				// command that escaped its quoting shows as a broken
				// script, and a side effect names its value.
				var script strings.Builder
				var accepted []int
				for i, hv := range corpusValues {
					v := strings.ReplaceAll(hv.v, "CANARY", canary)
					cmd, err := tmpl.Render([]byte(`{"details": {"v": ` + jsonString(v) + `}}`))
					if err != nil {
						var ve *ValueError
						switch {
						case errors.As(err, &ve):
							if len(v) > prefixLen && strings.Contains(err.Error(), v) {
								t.Errorf("%s with %s: the error holds the whole value: %v", text, hv.class, err)
							}
						case errors.Is(err, ErrNUL):
						default:
							t.Errorf("%s with %s: %v, want a *ValueError", text, hv.class, err)
						}
						refusedRender++
						continue
					}
					accepted = append(accepted, i)
					fmt.Fprintf(&script, "printf '\\n@@begin %d\\n'\n( %s\n) </dev/null 2>/dev/null\n", i, cmd)
					fmt.Fprintf(&script, "[ -e PWNED ] && { echo '@@PWNED %d'; rm -f PWNED; }\n", i)
					fmt.Fprintf(&script, "[ -e %s ] && { echo '@@CANARY %d'; rm -f %s; }\n", canary, i, canary)
					fmt.Fprintf(&script, "printf '\\n@@end %d\\n'\n", i)
				}
				if len(accepted) == 0 {
					continue
				}
				cmds += len(accepted)
				for _, sname := range slices.Sorted(maps.Keys(shells)) {
					argv := shells[sname]
					runs++
					c := exec.Command(argv[0], append(argv[1:], "-c", script.String())...)
					c.Dir = canaryDir
					c.Env = append(os.Environ(), "LC_ALL=C")
					outb, _ := c.Output() // many commands fail (no such file, not a number): only side effects count
					out := string(outb)
					for _, i := range accepted {
						v := strings.ReplaceAll(corpusValues[i].v, "CANARY", canary)
						begin, end := fmt.Sprintf("\n@@begin %d\n", i), fmt.Sprintf("\n@@end %d\n", i)
						b, e := strings.Index(out, begin), strings.Index(out, end)
						if b < 0 || e < b {
							t.Errorf("%s: %q with %s (%q): its part of the script did not run through: %q", sname, text, corpusValues[i].class, shorten(v), shorten(out))
							continue
						}
						part := out[b+len(begin) : e]
						if strings.Contains(part, "@@PWNED") || strings.Contains(part, "@@CANARY") {
							t.Errorf("%s: %q with %s (%q) ran a command", sname, text, corpusValues[i].class, shorten(v))
						}
						if cx.name == "printf %s" && part != v+"\n" {
							t.Errorf("%s: %q with %s printed %q, want the value", sname, text, corpusValues[i].class, shorten(part))
						}
					}
				}
			}
		})
	}
	t.Logf("corpus: %d values × %d contexts × %d types: %d templates parsed, %d refused by Parse; %d renders refused, %d commands run in %d shell scripts (%d shells), nothing ran",
		len(corpusValues), len(corpusContexts), len(corpusFilters), parsed, refusedParse, refusedRender, cmds*len(shells), runs, len(shells))
	if runs == 0 {
		t.Fatal("nothing was run: the corpus proves nothing")
	}
}

// TestIssueExploit is issue 10's finding, exactly: the rule
// `if [[ {{ .details.restarts }} -gt 3 ]]; then …` is refused; with | int
// it takes 5 and runs, and refuses a[$(touch /tmp/x)].
func TestIssueExploit(t *testing.T) {
	const rule = "if [[ {{ .details.restarts }} -gt 3 ]]; then echo restarting; fi"
	if _, err := Parse(rule); err == nil || !strings.Contains(err.Error(), "inside [[ ]]") {
		t.Fatalf("Parse(%q) = %v, want refused", rule, err)
	}
	tmpl, err := Parse(strings.Replace(rule, "restarts }}", "restarts | int }}", 1))
	if err != nil {
		t.Fatal(err)
	}
	canary := filepath.Join(t.TempDir(), "x")
	_, err = tmpl.Render([]byte(`{"details": {"restarts": "a[$(touch ` + canary + `)]"}}`))
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Field != "details.restarts" || ve.Filter != TypeInt {
		t.Fatalf("hostile restarts: %v, want a *ValueError for details.restarts, type int", err)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("the error shows too much of the value: %v", err)
	}
	for _, restarts := range []string{`5`, `"5"`} {
		cmd, err := tmpl.Render([]byte(`{"details": {"restarts": ` + restarts + `}}`))
		if err != nil {
			t.Fatalf("restarts=%s: %v", restarts, err)
		}
		out, err := exec.Command("bash", "-c", cmd).CombinedOutput()
		if err != nil || string(out) != "restarting\n" {
			t.Errorf("restarts=%s: %q, %v", restarts, out, err)
		}
	}
	// The tar finding: a value starting with - is refused by the default type.
	tar, err := Parse("tar -cf out.tar {{ .details.dir }}")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tar.Render([]byte(`{"details": {"dir": "--use-compress-program=touch /tmp/y"}}`)); !errors.Is(err, ErrValueRefused) {
		t.Errorf("tar with a --option value: %v, want refused", err)
	}
}

// TestValueErrorMessage checks what a refusal shows: field, type, reason,
// a short escaped prefix, never the whole value or raw control characters.
func TestValueErrorMessage(t *testing.T) {
	tests := []struct {
		name, text, value, want string
	}{
		{"control characters escaped", "echo {{ .details.v }}", "a\x1b[31m\nrm -rf /", `value of details.v refused by type token: holds control character 0x1b`},
		{"unicode escaped", "echo {{ .details.v }}", "ｔｏｕｃｈ", `"\uff54\uff4f\uff55\uff43"`},
		{"alert path named", `echo {{ alert "details.v" | int }}`, "12a", "value of details.v refused by type int"},
		{"long value cut", "echo {{ .details.v }}", strings.Repeat("$", 500), `"$$$$$$$$$$$$"…, 500 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tmpl.Render([]byte(`{"details": {"v": ` + jsonString(tc.value) + `}}`))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %s", err, tc.want)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\x1b\n") || strings.Contains(msg, "ｕ") {
				t.Errorf("raw control or non-ASCII characters in %q", msg)
			}
			if len(msg) > 400 {
				t.Errorf("message is %d bytes", len(msg))
			}
		})
	}
}
