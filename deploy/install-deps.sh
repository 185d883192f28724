#!/usr/bin/env bash
# Installs the Debian packages the demo or the test suite needs, when they
# are missing. Safe to run again; does nothing when everything is present.
#
#   deploy/install-deps.sh demo   what `make demo` needs: OpenSSH (sshd is the host it remediates)
#   deploy/install-deps.sh test   what `make test` needs: the demo's, plus PostgreSQL, busybox,
#                                 Prometheus Alertmanager and Chromium (the default)
set -euo pipefail

what=${1:-test}
case "$what" in
demo | test) ;;
*)
	echo "usage: $0 [demo|test]" >&2
	exit 2
	;;
esac

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ "$what" = test ]; then
	# The action handler's store tests start a throwaway PostgreSQL cluster
	# (initdb + postgres, never the system's service).
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
	# The hostile-value corpus (shared/command) runs rendered commands with busybox sh too.
	command -v busybox >/dev/null 2>&1 || need+=(busybox)
	# The Alertmanager end-to-end test runs Debian's Alertmanager and amtool.
	command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
	# The console's browser test (deploy/e2e) drives headless Chromium; a
	# font so that its screenshots show text.
	[ -x /usr/bin/chromium ] || need+=(chromium)
	compgen -G '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf' >/dev/null || need+=(fonts-dejavu-core)
fi

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: ${need[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install -y ${need[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d: installing postgresql or alertmanager must not start their system services
# (tests start their own; a container has no init to start it anyway).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	trap 'rm -f "$policy"' EXIT
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
