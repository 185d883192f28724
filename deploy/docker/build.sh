#!/usr/bin/env bash
# Builds the Alexis images from local material only: no registry is needed.
#
#   deploy/docker/build.sh [-t TAG] [IMAGE...]
#
# IMAGE is any of: poller classifier actionhandler opsgenie-fake postgres
# (default: poller classifier actionhandler). Images are named
# ${ALEXIS_IMAGE_PREFIX:-alexis/}IMAGE:TAG (TAG defaults to latest).
#
# How, offline:
#  - alexis/go-builder:<go version> is made once from this machine's Go
#    toolchain (go env GOROOT) and CA bundle (go-builder.Dockerfile);
#  - the build context is a copy of the working tree plus a vendored module
#    tree (`go work vendor`, from the Go module cache or proxy), so the
#    multi-stage Dockerfile compiles without network access;
#  - postgres is Debian's postgresql package in a rootfs made by
#    debian-rootfs.sh (debootstrap on the host), then postgres.Dockerfile.
# Needs: docker, go; for postgres also root and debootstrap.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${ALEXIS_IMAGE_PREFIX:-alexis/}
tag=latest

while [ $# -gt 0 ]; do
  case $1 in
    -t|--tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build: unknown flag $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(poller classifier actionhandler)
for img in "${images[@]}"; do
  case $img in
    poller|classifier|actionhandler|opsgenie-fake|postgres) ;;
    *) echo "build: unknown image $img (want poller classifier actionhandler opsgenie-fake postgres)" >&2; exit 2 ;;
  esac
done

# The classic builder: Debian's docker.io has no buildx, and nothing here
# needs BuildKit.
export DOCKER_BUILDKIT=0

work=$(mktemp -d "${TMPDIR:-/tmp}/alexis-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# docker_build LOG ARGS...: runs docker build quietly, showing the log on failure.
docker_build() {
  local log=$1
  shift
  if ! docker build "$@" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "build: docker build $* failed" >&2
    exit 1
  fi
}

size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1e6}'; }

go_builder() {
  local goroot goversion
  goroot=$(go env GOROOT)
  goversion=$(go env GOVERSION)
  builder="alexis/go-builder:$goversion"
  if docker image inspect "$builder" >/dev/null 2>&1; then
    return
  fi
  local ctx=$work/go-builder
  mkdir -p "$ctx/tmp"
  chmod 1777 "$ctx/tmp"
  # Hard links when GOROOT is on the same file system, a copy otherwise.
  cp -al "$goroot" "$ctx/go" 2>/dev/null || cp -a "$goroot" "$ctx/go"
  cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cp "$here/go-builder.Dockerfile" "$ctx/Dockerfile"
  echo "build: $builder (from $goroot)"
  docker_build "$work/go-builder.log" -t "$builder" "$ctx"
  rm -rf "$ctx"
}

source_context() {
  ctx=$work/src
  mkdir -p "$ctx"
  tar -C "$root" --exclude=./.git --exclude=./bin --exclude=./.demo \
    --exclude=./deploy/.stack-test --exclude=./vendor -cf - . | tar -C "$ctx" -xf -
  echo "build: vendoring modules (go work vendor)"
  (cd "$ctx" && GOFLAGS='' go work vendor) || { echo "build: go work vendor failed" >&2; exit 1; }
}

version=$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)
services=()
for img in "${images[@]}"; do
  [ "$img" = postgres ] || services+=("$img")
done

if [ ${#services[@]} -gt 0 ]; then
  go_builder
  source_context
  for svc in "${services[@]}"; do
    name="$prefix$svc:$tag"
    start=$SECONDS
    docker_build "$work/$svc.log" -f deploy/docker/Dockerfile --target "$svc" \
      --build-arg GO_IMAGE="$builder" --build-arg VERSION="$version" \
      --label org.opencontainers.image.version="$version" -t "$name" "$ctx"
    echo "build: $name ($(size "$name"), $((SECONDS - start))s)"
  done
fi

for img in "${images[@]}"; do
  [ "$img" = postgres ] || continue
  base=alexis/debian-postgres:bookworm
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    "$here/debian-rootfs.sh" "$base" postgresql
  fi
  name="${prefix}postgres:$tag"
  docker_build "$work/postgres.log" -f "$here/postgres.Dockerfile" --build-arg BASE="$base" -t "$name" "$here"
  echo "build: $name ($(size "$name"))"
done
