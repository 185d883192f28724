#!/usr/bin/env bash
# Stack test: deploys Alexis with `docker stack deploy` on a real Docker
# engine and checks that it remediates an alert end to end.
#
#   deploy/stack-test.sh          (as root, from anywhere)
#
# 1. Installs what is missing with apt (docker.io, docker-compose,
#    debootstrap, openssh-client, curl) and, when no Docker engine answers,
#    starts its own dockerd on a private socket and data directory.
# 2. Builds every image locally (deploy/docker/build.sh; nothing is pulled):
#    poller, classifier, actionhandler, opsgenie-fake, and an OpenSSH target.
# 3. `docker swarm init`, then deploys docker-compose.yaml plus
#    deploy/stack-test/stack.yaml (DNS round robin and host-mode ports:
#    Swarm's virtual IPs need kernel IPVS) with generated secrets.
# 4. Checks: the services become healthy (their `healthcheck` subcommand);
#    the published ports answer; the classifier scales to 2 replicas; an
#    alert created in the OpsGenie-compatible server is polled, classified
#    and remediated over SSH exactly once, with a note written back; a rule
#    edited on the host is used by the next alert.
#    With STACKTEST_POSTGRES=1 it also builds alexis/postgres, deploys
#    deploy/docker/postgres.yaml and runs the same checks with two action
#    handler replicas sharing the PostgreSQL store; then it kills (SIGKILL)
#    the replica running a slow action and checks that nothing is lost: the
#    other replica marks that execution interrupted and notes it on the alert
#    exactly once, an alert posted right after the kill is remediated
#    exactly once, and Swarm restarts the killed replica.
# 5. Removes the stack, leaves the swarm, stops its dockerd and deletes its
#    files, also on failure. Service logs of a failed run are kept in
#    deploy/.stack-test/.
#
# Prints PASS/FAIL lines; exits non-zero on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

stack=alexis-stacktest
tag=stacktest
logs=$root/deploy/.stack-test
poll_wait=8 # seconds: several poller loops (loop_interval 2s in the test config)
with_postgres=${STACKTEST_POSTGRES:-0}

say() { printf 'stack-test: %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*"
  exit 1
}
t0=$SECONDS
phase=$SECONDS
# lap: sets lap to the seconds since the previous lap.
lap() {
  lap=$((SECONDS - phase))
  phase=$SECONDS
}

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages, starts dockerd and debootstraps images)"

# --- packages ---------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v go >/dev/null || fail "go is not on PATH (the images are compiled with this machine's Go toolchain)"
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- state for cleanup ------------------------------------------------------
work=$(mktemp -d /tmp/alexis-stack-test.XXXXXX)
chmod 755 "$work" # the services run as uid 10001 and read the rules below it
own_daemon=0
dockerd_pid=
rootfs_pids=()
own_swarm=0
deployed=0
created_images=()
had_gwbridge=0
ip link show docker_gwbridge >/dev/null 2>&1 && had_gwbridge=1

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for pid in "${rootfs_pids[@]}"; do
    kill -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$deployed" = 1 ]; then
    if [ "$rc" -ne 0 ]; then
      diagnostics
    fi
    say "removing the stack"
    docker stack rm "$stack" >/dev/null 2>&1
    for _ in $(seq 60); do
      [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
        [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ] && break
      sleep 1
    done
    docker volume rm "${stack}_poller_state" "${stack}_actionhandler_state" "${stack}_postgres_data" >/dev/null 2>&1
  fi
  if [ "$own_swarm" = 1 ]; then
    docker swarm leave --force >/dev/null 2>&1
  fi
  if [ "$own_daemon" = 0 ] && [ ${#created_images[@]} -gt 0 ]; then
    docker rmi "${created_images[@]}" >/dev/null 2>&1
    docker image prune -f --filter label=io.alexis.stage=build >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ]; then
    say "stopping dockerd"
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 30); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 1
    done
    kill -9 "$dockerd_pid" 2>/dev/null
    # Whatever the daemon left mounted below its directories.
    grep -o " $work/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    if [ "$had_gwbridge" = 0 ] && ip link show docker_gwbridge >/dev/null 2>&1; then
      ip link delete docker_gwbridge
    fi
  fi
  if grep -q " $work/" /proc/mounts; then
    say "leaving $work: something is still mounted below it"
  else
    rm -rf "$work"
  fi
  if [ "$rc" -eq 0 ]; then
    pass "stack test ($((SECONDS - t0))s)"
  else
    printf 'FAIL: stack test (%ss)\n' "$((SECONDS - t0))"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

diagnostics() {
  mkdir -p "$logs"
  say "service states and logs of the failed run (all of it in $logs):"
  docker service ls >"$logs/services.txt" 2>&1
  cat "$logs/services.txt"
  local svc c
  for svc in poller classifier actionhandler opsgenie-fake sshtarget postgres; do
    docker service inspect "${stack}_$svc" >/dev/null 2>&1 || continue
    docker service ps --no-trunc --format '{{.Name}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' \
      "${stack}_$svc" >"$logs/$svc.ps.txt" 2>&1
    docker service logs --raw --timestamps "${stack}_$svc" >"$logs/$svc.log" 2>&1
    docker service inspect -f '{{if .UpdateStatus}}update {{.UpdateStatus.State}}: {{.UpdateStatus.Message}}{{end}}' \
      "${stack}_$svc" >"$logs/$svc.update.txt" 2>&1
    echo "--- $svc: tasks"
    head -n 3 "$logs/$svc.ps.txt" | cut -c1-300
    cat "$logs/$svc.update.txt"
    echo "--- $svc: log lines above info"
    grep -v ' level=info ' "$logs/$svc.log" | tail -n 10 | cut -c1-300
    # The newest container's last healthcheck outputs.
    c=$(docker ps -aq --filter "label=com.docker.swarm.service.name=${stack}_$svc" | head -n 1)
    if [ -n "$c" ]; then
      docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}healthcheck exit {{.ExitCode}}: {{.Output}}{{"\n"}}{{end}}{{end}}' "$c" |
        grep . | tail -n 2 | tee "$logs/$svc.health.txt"
    fi
  done
}

rm -rf "$logs"

# --- Docker engine ----------------------------------------------------------
if docker info >/dev/null 2>&1; then
  say "using the running Docker engine ($(docker info -f '{{.ServerVersion}}'))"
else
  # Our own engine: private socket and directories, and no changes to the
  # host's firewall or forwarding (the test needs no traffic leaving the
  # machine), so stopping it leaves nothing behind.
  export DOCKER_HOST=unix://$work/docker.sock
  dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    -H "$DOCKER_HOST" --iptables=false --ip-forward=false --bridge=none \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  own_daemon=1
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log"; fail "dockerd exited"; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; fail "dockerd did not answer within 30s"; }
  say "started dockerd $(docker info -f '{{.ServerVersion}}') on $DOCKER_HOST"
fi

# --- images -----------------------------------------------------------------
image_missing() { ! docker image inspect "$1" >/dev/null 2>&1; }
builder="alexis/go-builder:$(go env GOVERSION)"
sshd_base=alexis/debian-sshd:bookworm
image_missing "$builder" && created_images+=("$builder")
pg_base=alexis/debian-postgres:bookworm
for img in poller classifier actionhandler opsgenie-fake stacktest-sshd postgres; do
  created_images+=("alexis/$img:$tag")
done
# Debian root file systems (mostly downloading and unpacking) are made while
# Go compiles, each in its own process group so cleanup can stop debootstrap.
start_rootfs() {
  image_missing "$1" || return 0
  created_images+=("$1")
  setsid deploy/docker/debian-rootfs.sh "$@" &
  rootfs_pids+=($!)
}
start_rootfs "$sshd_base" openssh-server
if [ "$with_postgres" = 1 ]; then
  start_rootfs "$pg_base" postgresql
fi
ALEXIS_IMAGE_PREFIX=alexis/ deploy/docker/build.sh -t "$tag" poller classifier actionhandler opsgenie-fake
for pid in "${rootfs_pids[@]}"; do
  wait "$pid" || { rootfs_pids=(); fail "make a Debian base image (debootstrap)"; }
done
rootfs_pids=()
if [ "$with_postgres" = 1 ]; then
  ALEXIS_IMAGE_PREFIX=alexis/ deploy/docker/build.sh -t "$tag" postgres
fi
DOCKER_BUILDKIT=0 docker build -q -f deploy/stack-test/sshd.Dockerfile --build-arg BASE="$sshd_base" \
  -t "alexis/stacktest-sshd:$tag" deploy/stack-test >"$work/sshd-build.log" 2>&1 ||
  { tail -20 "$work/sshd-build.log"; fail "build the SSH target image"; }
lap
pass "images built from local material only (${lap}s)"

# --- compose file validity ----------------------------------------------------
export ALEXIS_TAG=$tag ALEXIS_IMAGE_PREFIX=alexis/
export ALEXIS_CONFIG_DIR=$root/deploy/stack-test/config
export ALEXIS_SECRETS_DIR=$work/secrets ALEXIS_RULES_DIR=$work/rules
# Names no other deployment on this swarm uses.
export ALEXIS_CONFIG_VERSION=stacktest$$ ALEXIS_SECRETS_VERSION=stacktest$$
for files in "docker-compose.yaml" \
  "docker-compose.yaml deploy/docker/compose-v1.yaml" \
  "docker-compose.yaml deploy/docker/postgres.yaml" \
  "docker-compose.yaml deploy/docker/postgres.yaml deploy/docker/poller-postgres.yaml" \
  "docker-compose.yaml deploy/docker/external-secrets.yaml"; do
  args=()
  for f in $files; do args+=(-f "$f"); done
  # (It warns that it ignores Swarm configs; only errors matter here.)
  docker-compose "${args[@]}" config -q >"$work/compose-config.log" 2>&1 ||
    { cat "$work/compose-config.log"; fail "docker-compose config -q: $files"; }
done
pass "docker-compose.yaml and its overrides are valid for docker-compose v1"

# --- swarm --------------------------------------------------------------------
case $(docker info -f '{{.Swarm.LocalNodeState}}') in
  inactive)
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    own_swarm=1
    ;;
  active)
    [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ] || fail "this engine is a swarm worker; run on a manager"
    say "using the existing swarm"
    ;;
  *) fail "swarm state $(docker info -f '{{.Swarm.LocalNodeState}}')" ;;
esac

# --- secrets, rules, ports ------------------------------------------------------
mkdir -p "$work/secrets" "$work/rules"
chmod 700 "$work/secrets"
token() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
(
  cd "$work/secrets"
  admin=$(token) poller=$(token) classifier=$(token)
  echo "admin:$admin" >poller_tokens
  printf 'poller:%s\nadmin:%s\n' "$poller" "$admin" >classifier_tokens
  echo "$poller" >poller_classifier_token
  # act: its signed pushes; record: its decisions (the classifier's history: block)
  printf 'classifier:%s scopes=act,record\nadmin:%s scopes=admin\n' "$classifier" "$admin" >actionhandler_tokens
  echo "$classifier" >classifier_actionhandler_token
  printf '%s%s\n' "$(token)" "$(token)" >signing_key # 64 hex characters: the classifier signs, the action handler verifies
  token >opsgenie_key
  ssh-keygen -q -t ed25519 -N '' -C alexis-stacktest -f ssh_key
  ssh-keygen -q -t ed25519 -N '' -C sshtarget -f sshtarget_host_key
  echo "sshtarget $(cut -d' ' -f1,2 sshtarget_host_key.pub)" >ssh_known_hosts
  pw=$(token)
  printf %s "$pw" >postgres_password
  printf 'postgres://alexis:%s@postgres:5432/alexis?sslmode=disable' "$pw" >postgres_dsn
)
ogkey=$(cat "$work/secrets/opsgenie_key")
rule=$work/rules/stacktest_remediate.json
cp deploy/stack-test/rules/stacktest_remediate.json "$rule"
chmod 755 "$work/rules"
chmod 644 "$rule"

# free_port N: the first port from N on that nothing listens on.
free_port() {
  local p=$1
  while ss -Htln "sport = :$p" | grep -q .; do p=$((p + 1)); done
  echo "$p"
}
export ALEXIS_CLASSIFIER_PORT ALEXIS_ACTIONHANDLER_PORT STACKTEST_OPSGENIE_PORT
ALEXIS_CLASSIFIER_PORT=$(free_port 28081)
ALEXIS_ACTIONHANDLER_PORT=$(free_port $((ALEXIS_CLASSIFIER_PORT + 1)))
STACKTEST_OPSGENIE_PORT=$(free_port $((ALEXIS_ACTIONHANDLER_PORT + 1)))
og=http://127.0.0.1:$STACKTEST_OPSGENIE_PORT

# --- deploy -------------------------------------------------------------------
compose=(-c docker-compose.yaml)
if [ "$with_postgres" = 1 ]; then
  compose+=(-c deploy/docker/postgres.yaml)
fi
compose+=(-c deploy/stack-test/stack.yaml)
if [ "$with_postgres" = 1 ]; then
  compose+=(-c deploy/stack-test/postgres.yaml)
fi
deployed=1
docker stack deploy --resolve-image never "${compose[@]}" "$stack" \
  >"$work/deploy.log" 2>&1 || { cat "$work/deploy.log"; fail "docker stack deploy"; }

# running SERVICE: the statuses of the service's containers, one a line.
running() {
  docker ps --filter "label=com.docker.swarm.service.name=${stack}_$1" --format '{{.Status}}'
}
# wait_for SERVICE N WORD SECONDS: until N containers of SERVICE are up and
# their status contains WORD ("(healthy)", or "Up" without a healthcheck).
wait_for() {
  local n
  for _ in $(seq "$4"); do
    n=$(running "$1" | grep -c -F -- "$3" || true)
    [ "$n" -eq "$2" ] && [ "$(running "$1" | wc -l)" -eq "$2" ] && return 0
    sleep 1
  done
  return 1
}
for svc in opsgenie-fake sshtarget; do
  wait_for "$svc" 1 Up 90 || fail "$svc did not start"
done
for svc in poller classifier actionhandler; do
  wait_for "$svc" 1 "(healthy)" 90 || fail "$svc did not become healthy (its healthcheck subcommand)"
done
lap
pass "stack deployed; poller, classifier and actionhandler healthy by their healthcheck subcommand (${lap}s)"
if [ "$with_postgres" = 1 ]; then
  wait_for postgres 1 "(healthy)" 90 || fail "postgres did not become healthy"
  pass "postgres healthy"
fi

for port in "$ALEXIS_CLASSIFIER_PORT" "$ALEXIS_ACTIONHANDLER_PORT"; do
  curl -fsS -m 5 "http://127.0.0.1:$port/v1/ping" >/dev/null || fail "published port $port does not answer GET /v1/ping"
done
pass "classifier and actionhandler answer on their published ports"

# update_state SERVICE: the state of the service's last rolling update.
update_state() {
  docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "${stack}_$1"
}
# Host-mode ports allow one task per node: drop a service's to run two.
# The change is a rolling update (docker-compose.yaml: start-first,
# monitor 20s, failure_action rollback); it must have completed before the
# test kills a replica, or Swarm counts the kill as a failed update and
# rolls back to the spec with the host-mode port and two replicas, one of
# which can then never be placed on this one node.
# scale2 SERVICE TARGET_PORT PUBLISHED_PORT
scale2() {
  docker service update --detach=true --quiet \
    --publish-rm "target=$2,published=$3,mode=host" --replicas 2 \
    "${stack}_$1" >/dev/null || fail "docker service update $1"
  local state
  for _ in $(seq 120); do
    state=$(update_state "$1")
    case $state in
      completed) break ;;
      rollback_* | paused) fail "the update of $1 ended $state: $(docker service inspect -f '{{.UpdateStatus.Message}}' "${stack}_$1")" ;;
    esac
    sleep 1
  done
  [ "$state" = completed ] || fail "the update of $1 did not complete within 120s (state ${state:-none})"
  wait_for "$1" 2 "(healthy)" 90 || fail "$1 did not run 2 healthy replicas"
}
scale2 classifier 8081 "$ALEXIS_CLASSIFIER_PORT"
lap
pass "classifier scaled to 2 healthy replicas (${lap}s)"
if [ "$with_postgres" = 1 ]; then
  scale2 actionhandler 8082 "$ALEXIS_ACTIONHANDLER_PORT"
  lap
  pass "actionhandler scaled to 2 healthy replicas sharing PostgreSQL (${lap}s)"
fi

# --- remediation -----------------------------------------------------------------
sshtarget=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_sshtarget" | head -n 1)
marker() { docker exec "$sshtarget" cat /home/alexis/remediation.log 2>/dev/null || true; }

# create_alert ALIAS MESSAGE: an open alert for the poller's feed (team "incoming").
create_alert() {
  curl -fsS -m 5 -X POST "$og/v2/alerts" -H "Authorization: GenieKey $ogkey" -H 'Content-Type: application/json' \
    -d "{\"message\": \"$2\", \"alias\": \"$1\", \"tags\": [\"stacktest\"], \"responders\": [{\"type\": \"team\", \"name\": \"incoming\"}]}" \
    >/dev/null || fail "create alert $1 in opsgenie-fake"
}
notes() {
  curl -fsS -m 5 "$og/v2/alerts/$1/notes?identifierType=alias" -H "Authorization: GenieKey $ogkey"
}
# wait_lines N SECONDS: until the marker file has N lines.
wait_lines() {
  for _ in $(seq "$2"); do
    [ "$(marker | wc -l)" -ge "$1" ] && return 0
    sleep 1
  done
  return 1
}

create_alert stacktest-1 "stack test: remediate me"
wait_lines 1 60 || fail "alert 1 was not remediated within 60s (no marker on the SSH target)"
sleep "$poll_wait" # later poller loops must not deliver it again
got=$(marker)
[ "$got" = "remediated-v1" ] || fail "after alert 1 the SSH target holds $(printf '%q' "$got"), want exactly one remediated-v1 line"
lap
pass "alert 1 polled, classified and remediated over SSH exactly once (${lap}s)"
notes stacktest-1 | grep -q 'stacktest_remediate: append_marker on sshtarget: success' ||
  fail "no success note on alert 1: $(notes stacktest-1)"
pass "outcome written back to the alert as a note"

# The classifier recorded its decision in the action handler's store,
# linked to the execution it caused (GET /v1/decisions, the console's
# timeline).
# With two action-handler replicas their port is no longer published
# (scale2): ask PostgreSQL, which both share, instead of the API.
if [ "$with_postgres" = 1 ]; then
  pg=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_postgres" | head -n 1)
  decisions() {
    # shellcheck disable=SC2016 # expanded in the container
    docker exec "$pg" sh -c 'PGPASSWORD=$(cat /run/secrets/postgres_password) psql -h 127.0.0.1 -U alexis -d alexis -tAc "$1"' sh \
      "SELECT '\"result\":\"' || d.result || '\" \"status\":\"' || x.status || '\"' FROM decisions d
         JOIN decision_executions de ON de.decision_id = d.id JOIN executions x ON x.id = de.execution_id
        WHERE d.summary LIKE '%remediate me%'"
  }
else
  ahtoken=$(sed -n 's/^admin:\([^ ]*\).*/\1/p' "$work/secrets/actionhandler_tokens")
  decisions() {
    curl -fsS -m 5 -H "Authorization: Bearer $ahtoken" \
      "http://127.0.0.1:$ALEXIS_ACTIONHANDLER_PORT/v1/decisions?outcome=success&q=remediate%20me"
  }
fi
recorded=""
for _ in $(seq 30); do
  recorded=$(decisions 2>&1 || true)
  case $recorded in *'"result":"matched"'*'"status":"success"'*) break ;; esac
  sleep 1
done
case $recorded in
  *'"result":"matched"'*'"status":"success"'*) pass "the classifier's decision recorded in the action handler's store, linked to its successful execution" ;;
  *) fail "no recorded decision for alert 1 linked to a successful execution: $recorded" ;;
esac

# Edit the rule on the host the way the README says: write aside, rename.
sed 's/remediated-v1/remediated-v2/' "$rule" >"$work/rules/.stacktest_remediate.json.tmp"
chmod 644 "$work/rules/.stacktest_remediate.json.tmp"
mv "$work/rules/.stacktest_remediate.json.tmp" "$rule"
create_alert stacktest-2 "stack test: remediate me again"
wait_lines 2 60 || fail "alert 2 was not remediated within 60s"
sleep "$poll_wait"
got=$(marker)
[ "$got" = "$(printf 'remediated-v1\nremediated-v2')" ] ||
  fail "after alert 2 the SSH target holds $(printf '%q' "$got"), want remediated-v1 then remediated-v2"
lap
pass "rule edited on the host used by the next alert, exactly once (${lap}s)"

# --- a replica killed mid-flight (PostgreSQL) --------------------------------------
if [ "$with_postgres" = 1 ]; then
  # A rule whose command takes 8 s; its execution's replica is killed with
  # SIGKILL while the command runs. The other replica must mark the execution
  # interrupted once its lease (5 s in the test config) has expired and note
  # it on the alert, and the next alert must still be remediated exactly once.
  cp deploy/stack-test/rules/stacktest_slow.json "$work/rules/.stacktest_slow.json.tmp"
  chmod 644 "$work/rules/.stacktest_slow.json.tmp"
  mv "$work/rules/.stacktest_slow.json.tmp" "$work/rules/stacktest_slow.json"
  create_alert stacktest-kill "slow stack test: kill the replica running me"
  victim= xid=
  for _ in $(seq 60); do
    for c in $(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_actionhandler"); do
      xid=$(docker logs "$c" 2>&1 | grep 'event=action_started' | grep 'rule_name=stacktest_slow' |
        grep -o 'execution_id=[0-9a-f]*' | head -n 1 || true)
      if [ -n "$xid" ]; then
        victim=$c
        break 2
      fi
    done
    sleep 1
  done
  [ -n "$victim" ] || fail "no actionhandler replica started the slow alert's action within 60s"
  docker kill "$victim" >/dev/null || fail "docker kill the actionhandler replica running the slow action"
  lap
  pass "actionhandler replica $(printf %.12s "$victim") killed (SIGKILL) while running the slow action, ${xid} (${lap}s)"
  create_alert stacktest-3 "stack test: remediate me after the kill"

  # interrupted_notes: how many interrupted notes the slow alert has.
  interrupted_notes() { notes stacktest-kill | grep -o 'was interrupted' | wc -l; }
  for _ in $(seq 60); do
    [ "$(interrupted_notes)" -ge 1 ] && break
    sleep 1
  done
  [ "$(interrupted_notes)" -ge 1 ] ||
    fail "the killed replica's execution was not noted as interrupted on its alert within 60s: $(notes stacktest-kill)"
  lap
  pass "the surviving replica marked the killed execution interrupted and noted it on the alert (${lap}s)"

  wait_lines 3 60 || fail "alert 3 (posted right after the kill) was not remediated within 60s"
  sleep "$poll_wait"
  got=$(marker)
  [ "$got" = "$(printf 'remediated-v1\nremediated-v2\nremediated-v2')" ] ||
    fail "after alert 3 the SSH target holds $(printf '%q' "$got"), want remediated-v1, remediated-v2, remediated-v2"
  [ "$(interrupted_notes)" -eq 1 ] ||
    fail "the slow alert has $(interrupted_notes) interrupted notes, want exactly 1: $(notes stacktest-kill)"
  # Every actionhandler container's log (`docker service logs` may be
  # incomplete while the killed task is replaced).
  for c in $(docker ps -aq --filter "label=com.docker.swarm.service.name=${stack}_actionhandler"); do
    docker logs "$c" 2>&1
  done >"$work/actionhandler.log"
  [ "$(grep 'event=execution_interrupted' "$work/actionhandler.log" | grep -c -F "$xid" || true)" -eq 1 ] ||
    fail "want one event=execution_interrupted line for the killed execution ($xid) in the actionhandler logs"
  lap
  pass "alert posted right after the kill remediated exactly once; one interrupted note, nothing lost (${lap}s)"
  wait_for actionhandler 2 "(healthy)" 90 || fail "Swarm did not bring back 2 healthy actionhandler replicas after the kill"
  lap
  pass "Swarm restarted the killed actionhandler replica (${lap}s)"
fi
