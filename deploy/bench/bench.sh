#!/usr/bin/env bash
# The benchmark suite: one command, one markdown table (`make bench`).
#
#   deploy/bench/bench.sh
#   BENCH_STEP=10s BENCH_OVERLOAD_DURATION=60s deploy/bench/bench.sh
#
# Builds the three services and the bench driver (deploy/cmd/bench), starts
# everything on loopback with free ports (classifier, action handler and
# poller as real processes; OpsGenie replaced by a local write sink; the
# action handler replaced by a stand-in where the classifier is measured
# alone; real sshd servers), and prints one table whose rows each name the
# command that reproduces them. Load is open loop: requests are scheduled
# at a fixed rate and latency is measured from each one's intended send
# time. Takes about 10-15 minutes on a 2-core machine.
#
# Knobs (environment; defaults in brackets):
#   BENCH_RULES=1000                 rule files the classifier loads
#   BENCH_RATES=500,1000,...,10000   step-up offered rates (alerts/s)
#   BENCH_STEP=5s                    duration of each step
#   BENCH_P99_LIMIT=50ms             a step passes with p99 <= this, < 1% errors, >= 95% achieved
#   BENCH_FIXED_RATE=2000            fixed-rate latency row (matched alerts/s)
#   BENCH_FIXED_DURATION=10s
#   BENCH_CAPACITY=0                 overload base rate (0: the step-up's result)
#   BENCH_OVERLOAD_FACTOR=5          overload offers this times capacity
#   BENCH_OVERLOAD_DURATION=20s      (deploy/bench/overload.sh: 60s)
#   BENCH_HISTORIES=0,10000,100000   action handler: history sizes
#   BENCH_AH_RATE=1500               action handler: offered pushes/s while measuring
#   BENCH_AH_WINDOW=10s              action handler: measuring window per size
#   BENCH_SEED_TIMEOUT=180s          action handler: stop seeding history after this
#   BENCH_HOSTS=100                  hosts the alerts are spread over
#   BENCH_LATENCY_RUNS=50            alert → command: alerts per mode
#   BENCH_WORKERS=2048               load generator: most requests in flight
#   BENCH_KEEP=1                     keep the scratch directory (logs, configs, databases)
#   BENCH_USER=alexis-bench          the user the benchmark sshd servers log in (created when
#                                    missing, /bin/sh; "" = the current user; see bench-user.sh)
#   SSH_HOSTS="20 50" SSH_RUNS=5     SSH fan-out (deploy/bench/ssh-fanout.sh's HOSTS, RUNS)
#   SKIP_SSH_FANOUT=1                leave the fan-out rows out
#
# Installs its Debian packages (openssh-server, pssh, ansible-core) with apt
# when missing and this runs as root. The figures depend on the machine and
# on what else runs on it: rerun on yours, and on a quiet machine.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$root/deploy/install-deps.sh" >&2
# shellcheck source=deploy/bench/bench-user.sh
. "$root/deploy/bench/bench-user.sh"
ensure_bench_user

echo "bench.sh: building" >&2
mkdir -p "$work/bin"
(cd "$root" && for s in classifier actionhandler poller; do go build -trimpath -o "$work/bin/$s" ./$s/cmd/$s; done &&
	go build -trimpath -o "$work/bench" ./deploy/cmd/bench)

started=$(date +%s)
: >"$work/rows"
status=0
"$work/bench" -bin "$work/bin" all >>"$work/rows" || status=$?
if [[ -z "${SKIP_SSH_FANOUT:-}" ]]; then
	HOSTS=${SSH_HOSTS:-"20 50"} RUNS=${SSH_RUNS:-5} ROWS=1 "$root/deploy/bench/ssh-fanout.sh" >>"$work/rows" || status=$?
fi

echo
echo "Alexis benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg), commit $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown), $(( $(date +%s) - started )) s"
echo
echo "| what | command | result |"
echo "|---|---|---|"
cat "$work/rows"
exit "$status"
