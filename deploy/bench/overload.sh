#!/usr/bin/env bash
# Overload run: the classifier (1,000 rule files, matched alerts, write-backs
# to the OpsGenie sink, pushes to an action-handler stand-in) offered 5× its
# measured matched capacity for 60 s, open loop. Prints one table row:
# fraction answered within 1 s, answers by status (admitted/refused), the
# classifier's RSS (idle, peak sampled every 100 ms, VmHWM), and how long
# after the load ended a light probe (20/s) is answered normally again.
#
#   deploy/bench/overload.sh
#   BENCH_CAPACITY=1500 BENCH_OVERLOAD_DURATION=30s deploy/bench/overload.sh
#
# Knobs: BENCH_OVERLOAD_DURATION (60s), BENCH_OVERLOAD_FACTOR (5),
# BENCH_CAPACITY (0: measure it first with the step-up, BENCH_RATES and
# BENCH_STEP as in bench.sh), BENCH_RULES, BENCH_WORKERS, BENCH_KEEP=1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export BENCH_OVERLOAD_DURATION=${BENCH_OVERLOAD_DURATION:-60s}
cd "$root"
go run ./deploy/cmd/bench overload
