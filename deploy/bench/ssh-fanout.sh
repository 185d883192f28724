#!/usr/bin/env bash
# SSH fan-out benchmark: one command on 20 and 50 hosts, on this machine
# only, through
#
#   alexis fresh   the action handler's executor (x/crypto/ssh, in process),
#                  new connections each run, as after a start
#   alexis kept    the same executor again, reusing the connections a first
#                  run kept open (ssh.idle_timeout)
#   parallel-ssh   Debian's pssh: one OpenSSH client process per host
#   ansible        ansible -m shell (ansible-core), fresh connections
#                  (ControlMaster off), no fact gathering
#
# Every host is a real sshd (/usr/sbin/sshd) on 127.0.0.2, 127.0.0.3, ...
# with its own ed25519 host key, and every client checks host keys strictly
# against the same known_hosts file and logs in with the same key. All hosts
# run at once in each tool (pssh -p N, ansible -f N, executor concurrency N).
# Every tool runs the same COMMAND. Runs are interleaved: each round runs
# alexis (fresh, then kept), parallel-ssh and ansible once, after one
# warm-up round that is not counted, so a change in the machine's load hits
# every tool alike.
#
#   deploy/bench/ssh-fanout.sh                    # 20 and 50 hosts, 5 rounds
#   HOSTS="20 50" RUNS=10 COMMAND=uptime deploy/bench/ssh-fanout.sh
#   ROWS=1 deploy/bench/ssh-fanout.sh             # markdown table rows (bench.sh)
#
# Prints wall times (mean, min, max over RUNS rounds) and each tool's mean
# relative to alexis fresh. pssh and ansible-core are installed with apt
# when missing and this runs as root. The sshd servers and the clients
# share the machine's cores, so absolute figures depend on the machine;
# compare tools within one run.
set -euo pipefail

HOSTS=${HOSTS:-"20 50"}
RUNS=${RUNS:-5}
COMMAND=${COMMAND:-"echo ok; uptime"}
ROWS=${ROWS:-}
# The servers log this user in; it is created (system user, /bin/sh, its
# own home) when missing and this runs as root. Its shell matters: a login
# shell whose rc file takes 100 ms (pyenv, conda, ...) makes every tool
# equally slow and the comparison meaningless. BENCH_USER="" uses the
# current user (deploy/bench/bench-user.sh).

root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=deploy/bench/bench-user.sh
. "$root/deploy/bench/bench-user.sh"
work="$(mktemp -d)"
fleet_pid=""
cleanup() {
	if [[ -n "$fleet_pid" ]]; then kill "$fleet_pid" 2>/dev/null || true; wait "$fleet_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v parallel-ssh >/dev/null || need+=(pssh)
command -v ansible >/dev/null || need+=(ansible-core)
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
if (( ${#need[@]} )); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing: ${need[*]} (apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo "installing ${need[*]} (apt)" >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

ensure_bench_user
chmod 711 "$work" # sshd reads authorized_keys as the user

echo "building sshbench" >&2
(cd "$root" && go build -trimpath -o "$work/sshbench" ./actionhandler/cmd/sshbench)

# now_ns: wall clock in nanoseconds.
now_ns() { date +%s%N; }

results="$work/results" # lines: HOSTS TOOL MS
: >"$results"
for n in $HOSTS; do
	dir="$work/fleet$n"
	mkdir -p "$dir"
	"$work/sshbench" fleet -n "$n" -dir "$dir" -user "$BENCH_USER" >"$dir/fleet.log" 2>&1 &
	fleet_pid=$!
	for _ in $(seq 300); do grep -q '^ready' "$dir/fleet.log" 2>/dev/null && break; sleep 0.1; done
	grep -q '^ready' "$dir/fleet.log" || { cat "$dir/fleet.log" >&2; exit 1; }
	echo "$n hosts: $(cat "$dir/fleet.log")" >&2
	user=$(cat "$dir/user")
	ssh_opts="-i $dir/id_ed25519 -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$dir/known_hosts -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o ControlMaster=no -o ControlPath=none"
	export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=$dir/known_hosts -o GlobalKnownHostsFile=/dev/null -o ControlMaster=no -o ControlPath=none" \
		ANSIBLE_PYTHON_INTERPRETER=auto_silent ANSIBLE_LOCAL_TEMP="$dir/ansible-local" ANSIBLE_NOCOLOR=1 \
		ANSIBLE_DEPRECATION_WARNINGS=False ANSIBLE_SSH_PIPELINING=True
	for ((round = 0; round <= RUNS; round++)); do
		# alexis: one fresh and one kept fan-out (sshbench times them itself)
		out=$("$work/sshbench" run -dir "$dir" -command "$COMMAND" -runs 1)
		# parallel-ssh; fail loudly if a host fails
		t0=$(now_ns)
		parallel-ssh -h "$dir/hosts" -l "$user" -p "$n" -t 60 -x "$ssh_opts" "$COMMAND" >"$dir/pssh.out" 2>&1 || { cat "$dir/pssh.out" >&2; exit 1; }
		t1=$(now_ns)
		ansible all -i "$dir/inventory" -u "$user" --private-key "$dir/id_ed25519" -f "$n" -m shell -a "$COMMAND" >"$dir/ansible.out" 2>&1 || { cat "$dir/ansible.out" >&2; exit 1; }
		t2=$(now_ns)
		if ((round == 0)); then continue; fi # warm-up round
		awk -v n="$n" '{ split($0, a, "mean_ms="); split(a[2], b, " "); tool = ($2 == "fresh") ? "alexis-fresh" : "alexis-kept"; print n, tool, b[1] }' <<<"$out" >>"$results"
		echo "$n parallel-ssh $(((t1 - t0) / 1000))" | awk '{ printf "%s %s %.1f\n", $1, $2, $3 / 1000 }' >>"$results"
		echo "$n ansible $(((t2 - t1) / 1000))" | awk '{ printf "%s %s %.1f\n", $1, $2, $3 / 1000 }' >>"$results"
	done
	kill "$fleet_pid"; wait "$fleet_pid" 2>/dev/null || true; fleet_pid=""
done

# Per hosts and tool: mean, min, max; ratio of each mean to alexis fresh.
summary=$(awk '
	{ k = $1 " " $2; s[k] += $3; c[k]++; if (!(k in mn) || $3 < mn[k]) mn[k] = $3; if ($3 > mx[k]) mx[k] = $3 }
	END { for (k in s) { split(k, p, " "); printf "%s %s %.1f %.1f %.1f\n", p[1], p[2], s[k] / c[k], mn[k], mx[k] } }' "$results" | sort -k1,1n -k2,2)
info="command '$COMMAND', $RUNS interleaved rounds, $(nproc) CPUs, $(ssh -V 2>&1 | cut -d, -f1), $(ansible --version 2>/dev/null | awk 'NR == 1')"
if [[ -n "$ROWS" ]]; then
	for n in $HOSTS; do
		awk -v n="$n" -v info="$info" '
			$1 == n { mean[$2] = $3; mn[$2] = $4; mx[$2] = $5 }
			END {
				f = mean["alexis-fresh"]
				printf "| SSH fan-out, one command on %s hosts (real sshd per host, strict host keys; %s) | `deploy/bench/ssh-fanout.sh` | alexis fresh **%.0f ms** (min %.0f, max %.0f); alexis kept %.0f ms (%.1f× faster than fresh); parallel-ssh %.0f ms (**%.1f× slower** than alexis fresh); ansible -m shell %.0f ms (**%.1f× slower**) |\n",
					n, info, f, mn["alexis-fresh"], mx["alexis-fresh"], mean["alexis-kept"], f / mean["alexis-kept"],
					mean["parallel-ssh"], mean["parallel-ssh"] / f, mean["ansible"], mean["ansible"] / f
			}' <<<"$summary"
	done
	exit 0
fi
echo
echo "$info"
printf '%-6s %-14s %10s %10s %10s %12s\n' hosts tool mean_ms min_ms max_ms vs_fresh
awk '
	{ line[NR] = $0; if ($2 == "alexis-fresh") f[$1] = $3 }
	END { for (i = 1; i <= NR; i++) { split(line[i], p, " "); printf "%-6s %-14s %10s %10s %10s %11.1fx\n", p[1], p[2], p[3], p[4], p[5], p[3] / f[p[1]] } }' <<<"$summary"
