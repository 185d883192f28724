package command

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"nginx", "'nginx'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{`a\b"c$d`, `'a\b"c$d'`},
		{"line1\nline2", "'line1\nline2'"},
		{"ünïcode ✓", "'ünïcode ✓'"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Quote(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("Quote(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := Quote("a\x00b"); !errors.Is(err, ErrNUL) {
		t.Errorf("NUL: err = %v, want ErrNUL", err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string // "" when valid
		raw     bool
	}{
		{name: "no actions", text: "sudo systemctl restart duplicator"},
		{name: "docker-style braces are actions", text: "docker inspect -f '{{.State.Running}}' app", wantErr: "inside '...'"},
		{name: "empty", text: ""},
		{name: "plain word", text: "sudo systemctl restart {{ .details.service }}"},
		{name: "inside a word", text: "--unit={{ .details.service }}.service"},
		{name: "two values", text: "ssh-keygen -R {{ .details.host }}{{ .details.port }}"},
		{name: "alert function", text: `ping -c 1 {{ alert "details.ip" }}`},
		{name: "alert_or", text: `ping -c {{ alert_or "details.count" 1 }} host`},
		{name: "command substitution", text: "echo $(basename {{ .details.path }})"},
		{name: "process substitution", text: "diff <(cat {{ .a }}) <(cat {{ .b }})"},
		{name: "after a closed quote", text: "echo '}' {{ .a }} \"x\" {{ .b }}"},
		{name: "hash inside a word", text: "echo a#{{ .a }}"},
		{name: "after a comment line", text: "# restart\nsystemctl restart {{ .a }}"},
		{name: "escaped quote before", text: `echo \' {{ .a }}`},
		{name: "closed arithmetic", text: "sleep $((1+2)) && echo {{ .a }}"},
		{name: "closed parameter", text: "echo ${HOME} {{ .a }}"},
		{name: "range over tags", text: "{{ range .tags }}echo {{ . }}; {{ end }}"},
		{name: "if else", text: "{{ if .details.force }}kill -9{{ else }}kill{{ end }} {{ .details.pid }}"},
		{name: "variables", text: "{{ $h := .details.host }}ping {{ $h }}"},
		{name: "raw_unsafe pipe", text: "tar {{ .details.flags | raw_unsafe }} {{ .details.file }}", raw: true},
		{name: "raw_unsafe call", text: "tar {{ raw_unsafe .details.flags }}", raw: true},
		{name: "comment action", text: "uptime {{/* nothing */}}"},

		{name: "single quotes", text: "echo '{{ .a }}'", wantErr: "inside '...'"},
		{name: "double quotes", text: `echo "{{ .a }}"`, wantErr: `inside "..."`},
		{name: "double quotes in substitution", text: `echo "$(cat {{ .a }})"`, wantErr: `inside "..."`},
		{name: "backticks", text: "echo `cat {{ .a }}`", wantErr: "inside `...`"},
		{name: "ANSI-C quotes", text: `echo $'\'{{ .a }}'`, wantErr: "inside $'...'"},
		{name: "after a backslash", text: `echo \{{ .a }}`, wantErr: "right after a backslash"},
		{name: "after a dollar", text: `echo ${{ .a }}`, wantErr: "right after a $"},
		{name: "comment", text: "uptime # {{ .a }}", wantErr: "comment"},
		{name: "arithmetic", text: "echo $(( {{ .a }} + 1 ))", wantErr: "arithmetic"},
		{name: "bash arithmetic", text: "(( {{ .a }} > 1 )) && reboot", wantErr: "arithmetic"},
		{name: "old arithmetic", text: "echo $[ {{ .a }} ]", wantErr: "arithmetic"},
		{name: "parameter expansion", text: "echo ${x:-{{ .a }}}", wantErr: "${...}"},
		{name: "here-document", text: "cat <<EOF\n{{ .a }}\nEOF", wantErr: "here-document"},
		{name: "raw_unsafe not last", text: "echo {{ .a | raw_unsafe | printf \"%s\" }}", wantErr: "must be the last"},
		{name: "explicit shquote", text: "echo {{ .a | shquote }}", wantErr: "applied automatically"},
		{name: "define", text: `{{ define "x" }}a{{ end }}echo`, wantErr: "not supported"},
		{name: "template call", text: `echo {{ template "run_command" }}`, wantErr: "not supported"},
		{name: "unknown function", text: "echo {{ shell .a }}", wantErr: `function "shell" not defined`},
		{name: "syntax error", text: "echo {{ .a ", wantErr: "unclosed action"},
		{name: "branch leaves a quote open", text: "echo {{ if .a }}'{{ end }}x'", wantErr: "different quoting states"},
		{name: "range leaves a quote open", text: "{{ range .tags }}'{{ end }}", wantErr: "changes the shell quoting state"},
		{name: "NUL", text: "echo \x00", wantErr: "NUL"},

		// Typed values: where each type may go.
		{name: "issue exploit: token in [[ ]]", text: "if [[ {{ .details.restarts }} -gt 3 ]]; then echo restart; fi", wantErr: "inside [[ ]]"},
		{name: "int in [[ ]]", text: "if [[ {{ .details.restarts | int }} -gt 3 ]]; then echo restart; fi"},
		{name: "after [[ ]] closes", text: "[[ -f /etc/x ]] && systemctl restart {{ .svc }}"},
		{name: "test builtin takes a token", text: "[ {{ .n }} -gt 3 ] && echo big"},
		{name: "let", text: "let n={{ .a }}+1", wantErr: "argument of let"},
		{name: "let int", text: "let n={{ .a | int }}+1"},
		{name: "declare -i", text: "declare -i n={{ .a }}", wantErr: "argument of declare"},
		{name: "local", text: "f() { local n={{ .a }}; }", wantErr: "argument of local"},
		{name: "assignment after declare -i", text: "declare -i n; n={{ .a }}; echo $n", wantErr: "after declare -i"},
		{name: "int assignment after declare -i", text: "declare -i n; n={{ .a | int }}; echo $n"},
		{name: "plain assignment", text: "n={{ .a }}; echo \"$n\""},
		{name: "array subscript", text: "a[{{ .a }}]=1", wantErr: "array subscript"},
		{name: "array subscript int", text: "a[{{ .a | int }}]=1"},
		{name: "command name", text: "{{ .a }} --version", wantErr: "command name"},
		{name: "command name after ;", text: "uptime; {{ .a }}", wantErr: "command name"},
		{name: "command name after then", text: "if true; then {{ .a }}; fi", wantErr: "command name"},
		{name: "command name in $( )", text: "echo $({{ .a }})", wantErr: "command name"},
		{name: "command name after assignment", text: "LC_ALL=C {{ .a }}", wantErr: "command name"},
		{name: "sudo program", text: "sudo {{ .a }}", wantErr: "where sudo reads the program"},
		{name: "sudo flag then program", text: "sudo -n {{ .a }}", wantErr: "where sudo reads the program"},
		{name: "sudo -u value", text: "sudo -u {{ .user }} systemctl restart {{ .svc }}"},
		{name: "env program", text: "env FOO=1 {{ .a }}", wantErr: "where env reads the program"},
		{name: "env -S", text: "env -S {{ .a }}", wantErr: "where env reads the program"},
		{name: "timeout duration", text: "timeout {{ .secs | int }} sleep 1"},
		{name: "timeout program", text: "timeout 5 {{ .a }}", wantErr: "where timeout reads the program"},
		{name: "xargs program", text: "xargs {{ .a }}", wantErr: "where xargs reads the program"},
		{name: "xargs -n value", text: "xargs -n {{ .n | int }} kill"},
		{name: "find -exec program", text: "find /var -name {{ .n }} -exec {{ .a }} {} +", wantErr: "where find reads the program"},
		{name: "find -name", text: "find /var -name {{ .n }} -delete"},
		{name: "eval", text: "eval {{ .a }}", wantErr: "runs it as code"},
		{name: "sh -c", text: "sh -c 'echo $1' _ {{ .a }}", wantErr: "argument of sh"},
		{name: "sudo sh -c", text: "sudo sh -c 'kill $1' _ {{ .a }}", wantErr: "argument of sh"},
		{name: "sudo bash -c int", text: "sudo bash -c 'kill $1' _ {{ .a | int }}"},
		{name: "ssh", text: "ssh backup01 {{ .a }}", wantErr: "argument of ssh"},
		{name: "wrapper then program then args", text: "sudo -u app nice -n {{ .n | int }} tar -cf /tmp/x.tar {{ .dir }}"},
		{name: "branches merge", text: "{{ if .details.force }}kill -9{{ else }}kill{{ end }} {{ .details.pid | int }}"},
		{name: "range of args", text: "kill {{ range .pids }}{{ . | int }} {{ end }}"},
		{name: "range of commands", text: "{{ range .tags }}echo {{ . }}; {{ end }}"},
		{name: "range body starting a command", text: "echo a{{ range .tags }}; {{ . }}{{ end }}", wantErr: "command name"},

		{name: "env assignment", text: "env LANG={{ .lang }} sort /tmp/f"},
		{name: "sudo --user=", text: "sudo --user={{ .user }} id"},
		{name: "variable into [[ ]]", text: "v={{ .a }}; if [[ $v -gt 3 ]]; then echo big; fi", wantErr: "evaluates arithmetic"},
		{name: "parameter into (( ))", text: "f() { (( $1 > 3 )); }; f {{ .a }}", wantErr: "evaluates arithmetic"},
		{name: "value beside arithmetic", text: "(( n > 3 )) && systemctl restart {{ .svc }}", wantErr: "evaluates arithmetic"},
		{name: "value beside arithmetic int", text: "(( n > 3 )) && kill {{ .pid | int }}"},
		{name: "fd number before the name", text: "2>/dev/null {{ .a }}", wantErr: "command name"},
		{name: "fd number after a command", text: "uptime; 2>&1 {{ .a }} x", wantErr: "command name"},
		{name: "fd redirect after args", text: "systemctl restart {{ .a }} 2>&1"},
		{name: "coproc", text: "coproc {{ .a }}", wantErr: "command name"},
		{name: "variable as the command", text: "v={{ .a }}; $v", wantErr: "named at run time"},
		{name: "loop variable as the command", text: "for c in {{ .a }}; do \"$c\"; done", wantErr: "named at run time"},
		{name: "variable to eval", text: "v={{ .a }}; eval \"$v\"", wantErr: "named at run time"},
		{name: "variable to sh -c", text: "v={{ .a }}; sh -c \"$v\"", wantErr: "named at run time"},
		{name: "variable after sudo", text: "v={{ .a }}; sudo $v", wantErr: "named at run time"},
		{name: "sh -c with $1 quoted", text: "sh -c 'kill \"$1\"' _ {{ .a | int }}"},
		{name: "variable as an argument", text: "v={{ .a }}; systemctl restart \"$v\""},
		{name: "function body", text: "function f { {{ .a }}; }", wantErr: "argument of function"},
		{name: "perl -e glued", text: "perl -e{{ .a }}", wantErr: "glued to an option of perl"},
		{name: "perl -e", text: "perl -e {{ .a }}", wantErr: "where perl reads the program"},
		{name: "perl -e code then args", text: "perl -e 'print @ARGV' {{ .a }}"},
		{name: "python3 script then args", text: "python3 /opt/fix.py {{ .a }}"},
		{name: "sed script", text: "sed {{ .a }} /var/log/app.log", wantErr: "where sed reads the program"},
		{name: "sed script with a value in it", text: "sed s/a/{{ .a }}/ /var/log/app.log", wantErr: "where sed reads the program"},
		{name: "sed file after script", text: "sed -n 1p /var/log/{{ .a }}.log"},
		{name: "awk program", text: "/usr/bin/awk {{ .a }} /var/log/app.log", wantErr: "where awk reads the program"},
		{name: "awk -f value", text: "awk -f {{ .a }} /var/log/app.log", wantErr: "where awk reads the program"},
		{name: "sed second -e", text: "sed -e s/a/b/ -e {{ .a }} f", wantErr: "where sed reads the program"},
		{name: "sed glued -e after the script", text: "sed s/a/b/ -e{{ .a }} f", wantErr: "glued to an option of sed"},
		{name: "perl second -e", text: "perl -e 1 -e {{ .a }}", wantErr: "where perl reads the program"},
		{name: "awk -v value", text: "awk -v n={{ .a }} '{print n}' /var/log/app.log"},
		{name: "piped into sh", text: "echo {{ .a }} | sh", wantErr: "reads code"},
		{name: "piped into sudo bash", text: "echo {{ .a }} | sudo -n bash", wantErr: "reads code"},
		{name: "piped into xargs sh -c", text: "echo {{ .a }} | xargs -I{} sh -c '{}'", wantErr: "reads code"},
		{name: "written then run", text: "echo {{ .a }} > /tmp/s.sh; bash /tmp/s.sh", wantErr: "reads code"},
		{name: "piped into grep", text: "journalctl -u {{ .a }} | grep -c error"},
		{name: "text after echo", text: "echo alert: {{ .message | text }}"},
		{name: "text after printf %s", text: "printf '%s\\n' {{ .message | text }} {{ .id | text }}"},
		{name: "text after logger --", text: "logger -t alexis -- {{ .message | text }}"},
		{name: "text as printf format", text: "printf {{ .message | text }}", wantErr: "not where text is inert"},
		{name: "text with printf %d", text: "printf '%d' {{ .message | text }}", wantErr: "not where text is inert"},
		{name: "text with printf -v", text: "printf -v x {{ .message | text }}", wantErr: "not where text is inert"},
		{name: "text after logger without --", text: "logger {{ .message | text }}", wantErr: "not where text is inert"},
		{name: "text as an option value", text: "tar -cf {{ .message | text }} /srv", wantErr: "not where text is inert"},
		{name: "text in [[ ]]", text: "[[ {{ .message | text }} == x ]]", wantErr: "inside [[ ]]"},
		{name: "text in $( )", text: "cat $(echo {{ .message | text }})", wantErr: "not inside $("},
		{name: "text piped", text: "echo {{ .message | text }} | tee -a /tmp/log", wantErr: "unquoted |"},
		{name: "text in a piped group", text: "{ echo {{ .message | text }}; } | bash", wantErr: "reads code"},
		{name: "text redirected", text: "echo {{ .message | text }} >> /etc/cron.d/x", wantErr: "unquoted |, < or >"},
		{name: "text after exec >", text: "exec >/tmp/f; echo {{ .message | text }}", wantErr: "unquoted |, < or >"},
		{name: "text with ||", text: "echo {{ .message | text }} || true"},
		{name: "text in an assignment", text: "m={{ .message | text }}", wantErr: "assignment"},
		{name: "text as redirection file", text: "echo hi > {{ .f | text }}", wantErr: "redirection"},
		{name: "text through a variable", text: "{{ $m := .message | text }}echo {{ $m }}"},
		{name: "filter not last", text: "echo {{ .a | int | printf \"%s\" }}", wantErr: "must be the last"},
		{name: "filter in parentheses", text: "echo {{ printf \"%s\" (.a | text) }}", wantErr: "not inside ( )"},
		{name: "match pattern compiled at parse", text: `echo {{ .a | match "[" }}`, wantErr: "missing closing ]"},
		{name: "match pattern literal", text: `echo {{ .a | match .b }}`, wantErr: "literal string"},
		{name: "match call form", text: `echo {{ match "[a-z]+" .a }}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.text)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.text, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.text, err)
			}
			if tmpl.UsesRaw() != tc.raw || tmpl.Text() != tc.text {
				t.Errorf("UsesRaw = %v, Text = %q", tmpl.UsesRaw(), tmpl.Text())
			}
		})
	}
}

const testAlert = `{"id": "a1", "message": "disk full", "count": 12.50, "acknowledged": false, "nothing": null,
 "tags": ["prod", "db"], "details": {"service": "nginx", "host": "app01", "quote": "it's", "empty": "",
  "nul": "a\u0000b", "obj": {"k": "v"}, "list": [1, 2], "uni": "ünïcode ✓",
  "pid": "4242", "neg": "-1", "octal": "010", "ip6": "2001:db8::1", "unit": "app@2.service", "dir": "/var/log/app",
  "tok": "a_b.c:d+e@f%g,h-i", "dash": "-x y", "dotdot": "/var/../etc", "nl": "a\nb"},
 "alexis": {"unique_value": "42", "feed_type": "OpsGenie"}}`

func TestRender(t *testing.T) {
	tests := []struct {
		name, text, want, wantErr string
	}{
		{name: "literal", text: "sudo systemctl restart duplicator", want: "sudo systemctl restart duplicator"},
		{name: "field", text: "sudo systemctl restart {{ .details.service }}", want: "sudo systemctl restart 'nginx'"},
		{name: "quote in text", text: "echo {{ .details.quote | text }}", want: `echo 'it'\''s'`},
		{name: "empty text is a value", text: "echo x{{ .details.empty | text }}y", want: "echo x''y"},
		{name: "int", text: "kill {{ .details.pid | int }}", want: "kill '4242'"},
		{name: "int call form", text: "kill {{ int .details.pid }}", want: "kill '4242'"},
		{name: "host", text: "ping -c1 {{ .details.host | host }} {{ .details.ip6 | host }}", want: "ping -c1 'app01' '2001:db8::1'"},
		{name: "match", text: `systemctl restart {{ .details.unit | match "[a-z]+@[0-9]+\\.service" }}`, want: "systemctl restart 'app@2.service'"},
		{name: "path", text: "du -sh {{ .details.dir | path }}", want: "du -sh '/var/log/app'"},
		{name: "token with punctuation", text: "echo {{ .details.tok }}", want: "echo 'a_b.c:d+e@f%g,h-i'"},
		{name: "text after logger --", text: "logger -t alexis -- {{ .details.dash | text }}", want: "logger -t alexis -- '-x y'"},
		{name: "printf %s text", text: "printf '%s\\n' {{ .message | text }}", want: "printf '%s\\n' 'disk full'"},
		{name: "number as written", text: "echo {{ .count }}", want: "echo '12.50'"},
		{name: "boolean", text: "echo {{ .acknowledged }}", want: "echo 'false'"},
		{name: "unicode text", text: "echo {{ .details.uni | text }}", want: "echo 'ünïcode ✓'"},
		{name: "alert path", text: `echo {{ alert "details.host" }} {{ alert "tags.1" }} {{ alert "alexis.unique_value" }}`, want: "echo 'app01' 'db' '42'"},
		{name: "alert_or present", text: `echo {{ alert_or "details.host" "none" }}`, want: "echo 'app01'"},
		{name: "alert_or missing", text: `echo {{ alert_or "details.nope" "none" }}`, want: "echo 'none'"},
		{name: "alert_or null", text: `echo {{ alert_or "nothing" 5 }}`, want: "echo '5'"},
		{name: "range", text: "{{ range .tags }}echo {{ . }}; {{ end }}", want: "echo 'prod'; echo 'db'; "},
		{name: "if", text: "{{ if .acknowledged }}a{{ else }}b{{ end }} {{ .id }}", want: "b 'a1'"},
		{name: "printf result is a token", text: `echo {{ printf "%s-%s" .id "x" }}`, want: "echo 'a1-x'"},
		{name: "variable keeps no filter", text: "{{ $v := .details.quote | text }}echo {{ $v }}", wantErr: "refused by type token"},
		{name: "printf result refused", text: `echo {{ printf "%s;%s" .id "x" }}`, wantErr: "refused by type token: holds ';'"},
		{name: "quote refused", text: "echo {{ .details.quote }}", wantErr: `value of details.quote refused by type token: holds '\''`},
		{name: "empty refused", text: "echo x{{ .details.empty }}y", wantErr: "empty"},
		{name: "unicode refused", text: "echo {{ .details.uni }}", wantErr: `non-ASCII byte`},
		{name: "leading dash refused", text: "tar -cf out.tar {{ .details.dash }}", wantErr: `starts with "-"`},
		{name: "negative int refused", text: "kill {{ .details.neg | int }}", wantErr: "refused by type int: has a sign"},
		{name: "octal int refused", text: "kill {{ .details.octal | int }}", wantErr: "leading zero"},
		{name: "host refused", text: "ping {{ .details.tok | host }}", wantErr: "refused by type host"},
		{name: "match refused", text: `echo {{ .details.host | match "[0-9]+" }}`, wantErr: `refused by type match: does not match`},
		{name: "match leading dash", text: `echo {{ .details.dash | match ".*" }}`, wantErr: `starts with "-"`},
		{name: "path dot-dot", text: `du {{ .details.dotdot | path }}`, wantErr: `has a . or .. segment`},
		{name: "path relative", text: `du {{ .details.host | path }}`, wantErr: `not an absolute path`},
		{name: "text dash without --", text: "echo {{ .details.dash | text }}", wantErr: `starts with "-"`},
		{name: "text newline", text: "echo {{ .details.nl | text }}", wantErr: `control character U+000A`},
		{name: "len", text: "echo {{ len .tags }}", want: "echo '2'"},
		{name: "raw_unsafe", text: "tar {{ .details.service | raw_unsafe }} {{ .details.host }}", want: "tar nginx 'app01'"},

		{name: "missing key", text: "echo {{ .details.nope }}", wantErr: `map has no entry for key "nope"`},
		{name: "missing parent", text: "echo {{ .nope.x }}", wantErr: `map has no entry for key "nope"`},
		{name: "missing path", text: `echo {{ alert "details.nope" }}`, wantErr: `alert has no value at "details.nope"`},
		{name: "null", text: "echo {{ .nothing }}", wantErr: "value is null"},
		{name: "object", text: "echo {{ .details.obj }}", wantErr: "value is an object"},
		{name: "array", text: "echo {{ .details.list }}", wantErr: "value is an array"},
		{name: "object by path", text: `echo {{ alert "details.obj" }}`, wantErr: `value at "details.obj" is an object`},
		{name: "NUL", text: "echo {{ .details.nul }}", wantErr: "NUL byte"},
		{name: "NUL raw", text: "echo {{ .details.nul | raw_unsafe }}", wantErr: "NUL byte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render([]byte(testAlert))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Render = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				if strings.Contains(tc.wantErr, "refused") {
					var ve *ValueError
					if !errors.As(err, &ve) || !errors.Is(err, ErrValueRefused) {
						t.Errorf("error is not a *ValueError: %#v", err)
					}
				}
				if strings.Contains(err.Error(), funcQuote) {
					t.Errorf("error mentions the internal function: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Render = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	tmpl, _ := Parse("echo {{ .v }}")
	if _, err := tmpl.Render([]byte(`[1]`)); err == nil {
		t.Error("rendered for an alert that is not an object")
	}
	long := `{"v": [` + strings.Repeat(`"`+strings.Repeat("x", 200)+`",`, MaxLen/200) + `"x"]}`
	tmpl, _ = Parse("{{ range .v }}echo {{ . }};{{ end }}")
	if _, err := tmpl.Render([]byte(long)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over-long command: %v", err)
	}
}

// hostile are alert values that would run a command, split a word or end
// the command if they were not quoted.
var hostile = []string{
	"$(touch PWNED)",
	"`touch PWNED`",
	"; touch PWNED",
	"x\ntouch PWNED",
	"x\r\ntouch PWNED\r\n",
	"'; touch PWNED; '",
	`'"'"'; touch PWNED; #`,
	`\'; touch PWNED; \'`,
	`"; touch PWNED; "`,
	"&& touch PWNED",
	"| touch PWNED",
	"> PWNED",
	"$((1+1)) ${IFS} $HOME ~ * ?",
	"${x:-$(touch PWNED)}",
	"$'\\x27'; touch PWNED",
	"-n",
	"--help",
	"",
	" ",
	"'",
	"''",
	`\`,
	`\\'`,
	"%s%n%d",
	"ünïcode ✓ \u202e RTL \u200b",
	"tab\there",
	"#comment",
	"a'b\"c`d$e\\f!g",
	strings.Repeat("$(touch PWNED)'\"`;\n", 1200), // 22 KB, 26 KB quoted
	strings.Repeat("x", 30000),
}

// TestHostileValuesRealShell renders commands from hostile alert values and
// runs them with real shells: every value must arrive as one literal
// argument, byte for byte, and nothing else may run.
func TestHostileValuesRealShell(t *testing.T) {
	var shells []string
	for _, sh := range []string{"/bin/sh", "/bin/dash", "/bin/bash", "/bin/zsh", "/bin/ksh", "/bin/mksh"} {
		if _, err := os.Stat(sh); err == nil {
			shells = append(shells, sh)
		}
	}
	if len(shells) == 0 {
		t.Skip("no shell")
	}
	// Free text (| text) where it is inert: every value the type accepts
	// must arrive as one literal argument; the others are refused.
	templates := []struct {
		text   string
		expect func(v string) string
	}{
		{"printf %s {{ .details.v | text }}", func(v string) string { return v }},
		{"printf '[%s]' x{{ .details.v | text }}y", func(v string) string { return "[x" + v + "y]" }},
		{`printf '[%s][%s]' {{ alert "details.v" | text }} {{ .details.v | text }}`, func(v string) string { return "[" + v + "][" + v + "]" }},
		{"printf '[%s]' {{ .details.v | match \".+\" }}", func(v string) string { return "[" + v + "]" }},
	}
	ran := 0
	for _, sh := range shells {
		for ti, tt := range templates {
			tmpl, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("%s: %v", tt.text, err)
			}
			for vi, v := range hostile {
				name := filepath.Base(sh) + "/" + string(rune('a'+ti)) + "/" + shorten(v)
				t.Run(name, func(t *testing.T) {
					alert := `{"details": {"v": ` + jsonString(v) + `}}`
					cmd, err := tmpl.Render([]byte(alert))
					if err != nil {
						if !errors.Is(err, ErrValueRefused) {
							t.Fatalf("render value %d: %v, want a refusal", vi, err)
						}
						return
					}
					ran++
					dir := t.TempDir()
					c := exec.Command(sh, "-c", cmd)
					c.Dir = dir
					out, err := c.Output()
					if err != nil {
						t.Fatalf("%s -c failed: %v", sh, err)
					}
					if want := tt.expect(v); string(out) != want {
						t.Errorf("value arrived changed:\n got %q\nwant %q", shorten(string(out)), shorten(want))
					}
					if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
						t.Error("the value ran a command")
					}
				})
			}
		}
	}
	if ran == 0 {
		t.Error("no value was accepted: the test proves nothing")
	}

	// NUL cannot be passed: refused, not cut short.
	tmpl, _ := Parse("printf %s {{ .details.v }}")
	if _, err := tmpl.Render([]byte(`{"details": {"v": "rm\u0000 -rf"}}`)); !errors.Is(err, ErrNUL) {
		t.Errorf("NUL value: %v, want ErrNUL", err)
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func shorten(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return s
}

// TestDocExamples: the commands docs/rules.md shows as valid parse, and
// render for an alert that fits them.
func TestDocExamples(t *testing.T) {
	alert := []byte(`{"message": "disk full (95%)", "details": {"restarts": 5, "unit": "app-2.service", "service": "nginx",
	 "tar_flags": "-z", "host": "app01.example.com", "pid": "4242"}, "labels": {"mountpoint": "/var"}}`)
	for _, text := range []string{
		"if [[ {{ .details.restarts | int }} -gt 3 ]]; then sudo systemctl restart app.service; fi",
		`sudo systemctl restart {{ .details.unit | match "[a-z0-9-]+\\.service" }} && logger -t alexis -- {{ .message | text }}`,
		"sudo systemctl restart {{ .details.service }} && journalctl -u {{ .details.service }} -n 20",
		"tar {{ .details.tar_flags | raw_unsafe }} -f /backup/{{ .details.host | host }}.tar /srv",
		"sudo /usr/local/sbin/clean-old-files {{ .labels.mountpoint | path }}",
		"kill {{ .details.pid | int }}",
	} {
		tmpl, err := Parse(text)
		if err != nil {
			t.Errorf("Parse(%q): %v", text, err)
			continue
		}
		if _, err := tmpl.Render(alert); err != nil {
			t.Errorf("Render(%q): %v", text, err)
		}
	}
}
