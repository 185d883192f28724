package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// completion prints a completion script built from the command table and
// each command's flags, so it never lags behind them.
func completion(ctx context.Context, a *app, args []string) error {
	fs := a.flags("completion")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "bash" && pos[0] != "zsh") {
		return usagef("completion: want bash or zsh")
	}
	script := bashCompletion()
	if pos[0] == "zsh" {
		// zsh runs the bash function through its bashcompinit layer.
		script = "#compdef " + name + "\nautoload -U +X bashcompinit && bashcompinit\n" + script
	}
	_, err = fmt.Fprint(a.stdout, script)
	return err
}

// flagNames lists a command's flags: all, and those that take a value.
func flagNames(path string) (all, valued []string) {
	a := &app{warned: map[string]bool{}}
	fs := a.flags(path)
	commandFlags(path, fs)
	fs.VisitAll(func(f *flag.Flag) {
		all = append(all, "-"+f.Name)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			valued = append(valued, "-"+f.Name)
		}
	})
	return all, valued
}

func bashCompletion() string {
	var b strings.Builder
	subs := map[string][]string{}
	var paths []string
	for _, c := range commands {
		paths = append(paths, c.path)
		if w := strings.Fields(c.path); len(w) == 2 {
			subs[w[0]] = append(subs[w[0]], w[1])
		}
	}
	valuedSet := map[string]bool{}
	for _, p := range paths {
		_, v := flagNames(p)
		for _, f := range v {
			valuedSet[f] = true
		}
	}
	valued := keys(valuedSet)
	statuses := "queued running success failure skipped interrupted dry_run refused audit awaiting_approval denied expired verifying remediated ineffective"

	fmt.Fprintf(&b, `# %[1]s completion for bash; load with: source <(%[1]s completion bash)
_%[1]s() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local -a words=()
    local i w skip=
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -n $skip ]]; then skip=; continue; fi
        case $w in
            %[2]s) skip=1 ;;
            -*) ;;
            *) words+=("$w") ;;
        esac
    done
    local key=${words[0]}
    case $key in %[3]s) [[ ${#words[@]} -ge 2 ]] && key="$key ${words[1]}" ;; esac
    case $prev in
        -token-file|-ca-file|-alert) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -rule) if [[ $key == run ]]; then COMPREPLY=($(compgen -f -- "$cur")); fi; return ;;
        -o) COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
        -status) COMPREPLY=($(compgen -W "%[4]s" -- "$cur")); return ;;
        -outcome) COMPREPLY=($(compgen -W "matched unmatched deferred refused unavailable direct %[4]s" -- "$cur")); return ;;
        %[2]s) return ;;
    esac
    if [[ $cur == -* ]]; then
        case $key in
`, name, strings.Join(valued, "|"), strings.Join(keys(subsSet(subs)), "|"), statuses)
	for _, p := range paths {
		all, _ := flagNames(p)
		fmt.Fprintf(&b, "            %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", p, strings.Join(all, " "))
	}
	global, _ := flagNames("")
	fmt.Fprintf(&b, "            *) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(global, " "))
	fmt.Fprintf(&b, `        esac
        return
    fi
    if [[ ${#words[@]} -eq 0 ]]; then
        COMPREPLY=($(compgen -W %q -- "$cur")); return
    fi
    case $key in
`, strings.Join(topCommands(), " "))
	for _, top := range keys(subsSet(subs)) {
		fmt.Fprintf(&b, "        %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", top, strings.Join(subs[top], " "))
	}
	fmt.Fprintf(&b, `        "rules lint"|"rules explain") COMPREPLY=($(compgen -f -- "$cur")) ;;
        completion) [[ ${#words[@]} -eq 1 ]] && COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
        help) COMPREPLY=($(compgen -W %q -- "$cur")) ;;
    esac
}
complete -F _%s %s
`, strings.Join(topCommands(), " "), name, name)
	return b.String()
}

func subsSet(subs map[string][]string) map[string]bool {
	out := map[string]bool{}
	for k := range subs {
		out[k] = true
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
