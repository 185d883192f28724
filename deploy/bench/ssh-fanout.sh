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
#
#   deploy/bench/ssh-fanout.sh                    # 20 and 50 hosts, 5 runs each
#   HOSTS="20 50" RUNS=10 COMMAND=uptime deploy/bench/ssh-fanout.sh
#
# Prints a table of wall times (mean, min, max over RUNS, after one warm-up
# run for parallel-ssh and ansible). pssh, ansible-core and hyperfine are
# installed with apt when missing and this runs as root. The sshd servers
# and the clients share the machine's cores, so absolute figures depend on
# the machine; compare tools within one run.
set -euo pipefail

HOSTS=${HOSTS:-"20 50"}
RUNS=${RUNS:-5}
COMMAND=${COMMAND:-true}
# The servers log this user in; it is created (system user, /bin/sh, its
# own home) when missing and this runs as root. Its shell matters: a login
# shell whose rc file takes 100 ms (pyenv, conda, ...) makes every tool
# equally slow and the comparison meaningless. BENCH_USER="" uses the
# current user.
BENCH_USER=${BENCH_USER-alexis-bench}

root="$(cd "$(dirname "$0")/../.." && pwd)"
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
command -v hyperfine >/dev/null || need+=(hyperfine)
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

if [[ -n "$BENCH_USER" ]] && ! id "$BENCH_USER" >/dev/null 2>&1; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "user $BENCH_USER missing: run as root, or BENCH_USER= for the current user" >&2
		exit 1
	fi
	echo "creating the system user $BENCH_USER (shell /bin/sh)" >&2
	useradd --system --create-home --home-dir "/var/lib/$BENCH_USER" --shell /bin/sh "$BENCH_USER"
	usermod -p '*' "$BENCH_USER" # key login without PAM needs an unlocked account
fi
chmod 711 "$work" # sshd reads authorized_keys as the user

echo "building sshbench" >&2
(cd "$root" && go build -trimpath -o "$work/sshbench" ./actionhandler/cmd/sshbench)

# "runs=N mean_ms=… min_ms=… max_ms=…" from hyperfine's CSV export
# (command,mean,stddev,median,user,system,min,max in seconds).
hf_stats() {
	awk -F, -v runs="$RUNS" 'NR == 2 { printf "runs=%d mean_ms=%.1f min_ms=%.1f max_ms=%.1f\n", runs, $2*1000, $7*1000, $8*1000 }' "$1"
}

results="$work/results"
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

	"$work/sshbench" run -dir "$dir" -command "$COMMAND" -runs "$RUNS" | sed "s/^/$n /" >>"$results"

	pssh_cmd="parallel-ssh -h $dir/hosts -l $user -p $n -t 60 -x '$ssh_opts' '$COMMAND'"
	# Fail loudly if a host fails (hyperfine would time a failure as well).
	bash -c "$pssh_cmd" >"$dir/pssh.out" 2>&1 || { cat "$dir/pssh.out" >&2; exit 1; }
	hyperfine --style none --warmup 1 --runs "$RUNS" --export-csv "$dir/pssh.csv" "$pssh_cmd >/dev/null" >/dev/null
	echo "$n parallel-ssh $(hf_stats "$dir/pssh.csv")" >>"$results"

	export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=$dir/known_hosts -o GlobalKnownHostsFile=/dev/null -o ControlMaster=no -o ControlPath=none" \
		ANSIBLE_PYTHON_INTERPRETER=auto_silent ANSIBLE_LOCAL_TEMP="$dir/ansible-local" ANSIBLE_NOCOLOR=1 \
		ANSIBLE_DEPRECATION_WARNINGS=False ANSIBLE_SSH_PIPELINING=True
	ansible_cmd="ansible all -i $dir/inventory -u $user --private-key $dir/id_ed25519 -f $n -m shell -a '$COMMAND'"
	bash -c "$ansible_cmd" >"$dir/ansible.out" 2>&1 || { cat "$dir/ansible.out" >&2; exit 1; }
	hyperfine --style none --warmup 1 --runs "$RUNS" --export-csv "$dir/ansible.csv" "$ansible_cmd >/dev/null" >/dev/null
	echo "$n ansible $(hf_stats "$dir/ansible.csv")" >>"$results"

	kill "$fleet_pid"; wait "$fleet_pid" 2>/dev/null || true; fleet_pid=""
done

echo
echo "command: '$COMMAND', $RUNS runs per row, $(nproc) CPUs, $(ssh -V 2>&1 | cut -d, -f1), $(ansible --version | head -1)"
printf '%-6s %-14s %10s %10s %10s\n' hosts tool mean_ms min_ms max_ms
awk '{
	tool = ""
	for (i = 2; i <= NF; i++) {
		if ($i ~ /^runs=/) break
		tool = tool (tool == "" ? "" : " ") $i
	}
	for (; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	printf "%-6s %-14s %10s %10s %10s\n", $1, tool, v["mean_ms"], v["min_ms"], v["max_ms"]
}' "$results"
