#!/usr/bin/env bash
# Load test of the classifier over HTTP with wrk, on this machine only.
#
#   deploy/bench/classifier-wrk.sh            # 1,000 rule files, 15 s per run
#   RULES=5000 DURATION=30s deploy/bench/classifier-wrk.sh
#
# Builds the classifier, writes RULES rule files (half v1, half v2, about
# five per service tag, like BenchmarkClassify's "indexed" mix), starts the
# classifier on 127.0.0.1 with no ticket system (nothing is written back)
# and an action handler URL that is never called, then runs wrk twice with
# a Lua script POSTing an envelope with a Bearer token:
#
#   unmatched  an alert no rule matches (answered "unmatched")
#   deferred   an alert a v2 rule matches but that is younger than the
#              rule's min_age (answered "deferred")
#
# and prints requests/s and the 50th and 99th percentile latency of each.
# wrk and the classifier share the machine's cores. Installs wrk with apt
# when it is missing and this runs as root.
set -euo pipefail

RULES=${RULES:-1000}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-4}
THREADS=${THREADS:-2}
PORT=${PORT:-18081}
GOMAXPROCS_CLASSIFIER=${GOMAXPROCS_CLASSIFIER:-}

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() {
	if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
	if [[ $(id -u) -eq 0 ]]; then
		echo "installing wrk (apt)" >&2
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	else
		echo "wrk is missing: apt-get install wrk" >&2
		exit 1
	fi
fi

echo "building the classifier" >&2
(cd "$root" && go build -trimpath -o "$work/classifier" ./classifier/cmd/classifier)

mkdir "$work/rules"
services=$(( RULES / 5 > 8 ? RULES / 5 : 8 ))
for ((i = 0; i < RULES; i++)); do
	svc=$(( i % services ))
	team=$(printf 'team.%02d' $(( svc % 20 )))
	tag=$(printf 'svc.%04d' "$svc")
	if (( i % 2 )); then
		printf '{"enabled": "true", "os_type": "linux", "rule_name": "rule_%05d", "rule_version": "1", "alert_feed": "OpsGenie",
 "evaluation_list": [{"evaluation": {"tags": ["%s", "%s"], "search_key": "description", "search_text": "Heap exhausted on node%04d \\\\(\\\\d+ s\\\\)"}}],
 "task_list": [{"task": {"task_type": "remote_ssh", "run_command": "sudo systemctl restart app"}}],
 "entity_type": "explicit", "entities": ["app01.example.com"]}\n' "$i" "$team" "$tag" "$i" >"$work/rules/rule_$(printf %05d "$i").json"
	else
		printf '{"enabled": "true", "os_type": "linux", "rule_name": "rule_%05d", "rule_version": "2", "alert_feed": "OpsGenie",
 "when": {"all": [{"path": "tags", "op": "tags_include", "value": ["%s", "%s"]},
                  {"path": "description", "op": "regex", "value": "Long garbage-collection time on node%04d"},
                  {"path": "priority", "op": "in", "value": ["P1", "P2", "P3"]}]},
 "min_age": "1h",
 "task_list": [{"task": {"task_type": "remote_ssh", "template": true, "run_command": "sudo systemctl restart {{ .details.service }}"}}],
 "entity_type": "path", "entity_path": "details.host"}\n' "$i" "$team" "$tag" "$i" >"$work/rules/rule_$(printf %05d "$i").json"
	fi
done

token="bench-token-0123456789abcdef0123456789"
echo "bench:$token" >"$work/tokens"
echo "unused-action-handler-token-0123456789" >"$work/ah_token"
cat >"$work/classifier.yaml" <<YAML
listen: 127.0.0.1:$PORT
tokens_file: $work/tokens
log: {format: logfmt, level: info}
rules_dir: $work/rules
action_handlers:
  linux: http://127.0.0.1:9/v1/action
action_handler_token_file: $work/ah_token
default_investigation_queue: queue_needsinvestigation
YAML

echo "linting $RULES rule files" >&2
"$work/classifier" lint "$work/rules" | tail -1 >&2

GOMAXPROCS=$GOMAXPROCS_CLASSIFIER "$work/classifier" -config "$work/classifier.yaml" 2>"$work/classifier.log" &
pid=$!
for _ in $(seq 300); do
	grep -q 'event=service_started' "$work/classifier.log" 2>/dev/null && break
	sleep 0.1
done
grep -q 'event=service_started' "$work/classifier.log" || { cat "$work/classifier.log" >&2; exit 1; }
grep 'event=rules_loaded' "$work/classifier.log" >&2

# Service 0 of team 0: the rules with key tag svc.0000 are checked.
svc0=$(printf 'svc%04d' 0)
envelope() { # $1: description, $2: createdAt
	printf '{"id": "70413a06-38d6-4c85-92b8-5ebc900d42e2", "tinyId": "1791", "message": "%s: GC", "description": "%s",
 "tags": ["team.00", "svc.0000", "prod"], "priority": "P2", "details": {"host": "app01.example.com", "service": "%s"},
 "createdAt": "%s", "alexis": {"unique_key": "tinyId", "unique_value": "1791", "feed_type": "OpsGenie", "feed_name": "incoming"}}' \
		"$svc0" "$1" "$svc0" "$2"
}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)

run() { # $1: name, $2: envelope, $3: expected result
	local name=$1 body=$2 want=$3
	local got
	got=$(curl -s -H "Authorization: Bearer $token" -d "$body" "http://127.0.0.1:$PORT/v1/classifier")
	if [[ "$got" != *"\"result\":\"$want\""* ]]; then
		echo "$name: classifier answered $got, want result $want" >&2
		exit 1
	fi
	python3 - "$body" "$token" >"$work/$name.lua" <<'PY'
import json, sys
body, token = sys.argv[1], sys.argv[2]
print('wrk.method = "POST"')
print('wrk.body = %s' % json.dumps(body))
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Bearer %s"' % token)
PY
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/$name.lua" "http://127.0.0.1:$PORT/v1/classifier" >"$work/$name.out"
	local rps p50 p99 non2xx
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$name.out")
	p50=$(awk '$1 == "50%" {print $2}' "$work/$name.out")
	p99=$(awk '$1 == "99%" {print $2}' "$work/$name.out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$name.out")
	printf '%-10s rules=%-5s req/s=%-10s p50=%-9s p99=%-9s non-2xx=%s\n' "$name" "$RULES" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $(nproc) CPUs" >&2
run unmatched "$(envelope 'Disk usage 93% on /var' "$now")" unmatched
run deferred "$(envelope 'Long garbage-collection time on node0000' "$now")" deferred
