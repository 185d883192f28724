#!/usr/bin/env bash
# The 10-minute run: 1,000 alerts/s for 10 minutes, 1 in 10 matching (over
# 100 hosts), to the real classifier (1,000 rule files) and the real action
# handler (development mode, SQLite, default limits: max_queued_executions
# 256, governor 100 hosts/minute), with the OpsGenie sink. Then accounts for
# every alert and prints a verdict (stderr) and one table row (stdout):
#
#   - zero 5xx answers and no request without an answer;
#   - every alert answered matched/unmatched classified exactly once (its
#     rule_matched / alert_unmatched lines in the classifier's log);
#   - every push the classifier reported accepted (execution_id in its
#     answer) is exactly one execution in GET /v1/executions, none extra,
#     and the classifier's classifier_action_pushes_total{outcome="accepted"}
#     agrees;
#   - RSS of both services sampled every second is flat (the last fifth's
#     peak at most 25% above the second fifth's).
#
#   deploy/bench/soak.sh
#   BENCH_SOAK_DURATION=2m deploy/bench/soak.sh
#
# Knobs: BENCH_SOAK_DURATION (10m), BENCH_SOAK_RATE (1000),
# BENCH_SOAK_MATCH_ONE_IN (10), BENCH_HOSTS (100), BENCH_RULES (1000),
# BENCH_KEEP=1 keeps the logs and the database. Exits non-zero on FAIL.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
go run ./deploy/cmd/bench soak
