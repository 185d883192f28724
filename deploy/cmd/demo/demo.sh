#!/usr/bin/env bash
# make demo / make demo-keep: compiles the demo driver, saying so while it
# takes long (the first run downloads the Go modules and compiles the
# dependencies here), then runs it with this script's arguments (-keep,
# -logs; see main.go).
set -euo pipefail
cd "$(dirname "$0")/../../.."
go=${GO:-go}
echo "==> first run: about 1 minute on 2 cores, up to 4 on a busy machine (Go modules downloaded, four programs compiled); later runs: about 10 s"
mkdir -p bin
start=$(date +%s)
echo "==> compiling the demo driver (deploy/cmd/demo)…"
(
	while sleep 10; do
		echo "    … still compiling the demo driver, $(($(date +%s) - start))s so far"
	done
) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
"$go" build -o bin/demo ./deploy/cmd/demo
kill "$ticker" 2>/dev/null || true
wait "$ticker" 2>/dev/null || true
trap - EXIT
echo "    compiled the demo driver in $(($(date +%s) - start))s"
exec bin/demo "$@"
