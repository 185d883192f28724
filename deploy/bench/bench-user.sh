# Sourced by the benchmark scripts: ensure_bench_user makes sure the user
# the benchmark sshd servers log in exists (BENCH_USER, default
# alexis-bench; "" keeps the current user). It is a system user with
# /bin/sh and an empty home, so every tool measured pays the same small
# session cost: a login user whose shell rc file is slow (bash reads
# ~/.bashrc for commands run over SSH) would add its cost to every command
# and hide what the tools themselves cost.
BENCH_USER=${BENCH_USER-alexis-bench}
export BENCH_USER

ensure_bench_user() {
	[[ -n "$BENCH_USER" ]] || return 0
	id "$BENCH_USER" >/dev/null 2>&1 && return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "user $BENCH_USER missing: run as root, or BENCH_USER= for the current user" >&2
		return 1
	fi
	echo "creating the system user $BENCH_USER (shell /bin/sh)" >&2
	useradd --system --create-home --home-dir "/var/lib/$BENCH_USER" --shell /bin/sh "$BENCH_USER"
	usermod -p '*' "$BENCH_USER" # key login without PAM needs an unlocked account
}
