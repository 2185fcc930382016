#!/usr/bin/env bash
# record.sh: record raw audit logs from the running kernel for the replay
# golden tests. Run as root on a machine where nothing else holds the audit
# pid; it runs `auditlkm run --output.records`, drives real programs, stops
# the daemon (which hands the kernel back as it found it) and writes
#   testdata/<name>.log       the raw records, audit.log format
#   testdata/<name>.meta      kernel, distro and kmod versions of the recording
# Then regenerate the goldens: go test ./test -run TestReplayGolden -update
set -euo pipefail
cd "$(dirname "$0")"
name=${1:-debian12-kernel6.18-lkm}
out="testdata/$name.log"
work=$(mktemp -d /tmp/auditlkm-record.XXXXXX)
trap 'rm -rf "$work"; rm -f /etc/modprobe.d/auditlkm-rec.conf /etc/modules-load.d/auditlkm-rec.conf /tmp/auditlkm-rec.*' EXIT

command -v insmod >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kmod; }
go build -o "$work/auditlkm" ../cmd/auditlkm

# Hold the kernel lock the tests use, so a test run cannot collide with us.
exec 9>/run/lock/auditlkm-kernel.lock
flock 9
"$work/auditlkm" run --output.records "$work/raw.log" \
	--output.alerts /dev/null --state.dir "$work/state" --web.listen-address "" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q "auditlkm started" "$work/daemon.log" && break; sleep 0.1; done
grep -q "auditlkm started" "$work/daemon.log" || { cat "$work/daemon.log"; exit 1; }

# The scenario: each line is one thing a detection must see (or ignore).
head -c 4096 /dev/zero >/tmp/auditlkm-rec.ko
insmod /tmp/auditlkm-rec.ko || true                                    # finit_module then init_module, ENOSYS
(cd /tmp && insmod ./auditlkm-rec.ko) || true                          # relative path, cwd /tmp
rmmod auditlkm_rec || true                                             # delete_module
modprobe -r auditlkm_rec || true                                       # unload via modprobe
sh -c 'echo "install auditlkm_rec /bin/true" > /etc/modprobe.d/auditlkm-rec.conf'   # E9 creation
echo "auditlkm_rec" >/tmp/auditlkm-rec.conf
mv /tmp/auditlkm-rec.conf /etc/modules-load.d/auditlkm-rec.conf        # E9 rename into place
(cd /etc/modprobe.d && touch ./.auditlkm-rec.conf.swp && rm -f ./.auditlkm-rec.conf.swp)   # excluded extension
python3 -c 'import ctypes; ctypes.CDLL(None).syscall(313, -1, b"", 0)' || true   # a direct finit_module call
sleep 1

kill -TERM "$daemon"
wait "$daemon"
cp "$work/raw.log" "$out"
{
	echo "recorded: $(date -u +%Y-%m-%dT%H:%M:%SZ) by test/record.sh"
	echo "kernel: $(uname -r)"
	echo "distro: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "kmod: $(kmod --version | head -1)"
	echo "records: $(wc -l <"$out")"
} >"testdata/$name.meta"
echo "wrote $out ($(wc -l <"$out") records)"
