#!/usr/bin/env bash
# run-all.sh: the whole test suite, exactly as CI runs it (.ci/run calls
# this). Run as root on a Linux machine with kernel audit support: the
# kernel tests claim the audit pid, load and remove audit rules, and run
# real insmod; they hand the kernel back as they found it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "run-all.sh: run as root (the real-kernel tests claim the audit pid)" >&2
	exit 1
fi
# The real-kernel tests run real kmod tools.
if ! command -v insmod >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kmod >/dev/null
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
go mod tidy -diff

# Kernel and corpus tests must run, not skip.
export AUDITLKM_REQUIRE_KERNEL=1 AUDITLKM_REQUIRE_CORPUS=1
go test -count=1 ./...
