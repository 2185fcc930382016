#!/usr/bin/env bash
# record-detections.sh: record, from the running kernel, one raw audit log
# per detection case for the catalog's table tests (detections_test.go).
# Run as root where nothing else holds the audit pid. It builds auditlkm
# and test/testdata/lkmcall.c (64-bit and -m32), runs `auditlkm run
# --output.records`, drives the real programs of each case and cuts the
# records each case produced into
#   testdata/detections-<case>.log   raw records, audit.log format
#   testdata/detections.meta         kernel, distro, tool versions and the
#                                    identities (dev inode) of the config
#                                    directories, for path resolution
# Rerun it after changing the audit rules; then run go test ./test.
# ONLY="case ..." records only those cases (new ones), leaving every other
# log and detections.meta as they are.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d /tmp/auditlkm-recdet.XXXXXX)
kver=$(uname -r)
mods=/usr/lib/modules/$kver/extra
made_mods=
cleanup() {
	rm -rf "$work"
	rm -f /etc/modprobe.d/auditlkm-det* /etc/modules-load.d/auditlkm-det* /etc/modprobe.conf.auditlkm-det /tmp/auditlkm-det*
	rm -f "$mods"/auditlkm-det*
	[ -f /etc/modprobe.conf.auditlkm-det-absent ] && rm -f /etc/modprobe.conf /etc/modprobe.conf.auditlkm-det-absent
	[ -n "$made_mods" ] && rm -rf /usr/lib/modules
	true
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
ONLY=${ONLY:-}
need insmod kmod
if [ -z "$ONLY" ]; then
	need busybox busybox; need kexec kexec-tools; need bpftool bpftool
	[ -e /usr/lib/gcc/x86_64-linux-gnu/*/32/crtbegin.o ] 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib >/dev/null
fi
go build -o "$work/auditlkm" ../cmd/auditlkm
gcc -O1 -o "$work/lkmcall" testdata/lkmcall.c
[ -n "$ONLY" ] || gcc -m32 -O1 -o "$work/lkmcall32" testdata/lkmcall.c
cp "$work/lkmcall" /tmp/auditlkm-det-lkmcall        # a loader in /tmp (E4 beyond E4)
head -c 4096 /dev/zero >/tmp/auditlkm-det.ko
# The modules tree must exist when the daemon starts for its watch to cover it.
if [ ! -d /usr/lib/modules ]; then made_mods=1; fi
mkdir -p "$mods"
[ -e /etc/modprobe.conf ] || touch /etc/modprobe.conf.auditlkm-det-absent

exec 9>/run/lock/auditlkm-kernel.lock
flock 9
"$work/auditlkm" run --output.records "$work/raw.log" --kmsg.enable=false \
	--output.alerts /dev/null --state.dir "$work/state" --web.listen-address "" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q "auditlkm started" "$work/daemon.log" && break; sleep 0.1; done
grep -q "auditlkm started" "$work/daemon.log" || { cat "$work/daemon.log"; exit 1; }

# case NAME CMD...: run CMD, wait for its records, cut them out.
off=0
case_() {
	local name=$1; shift
	if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
	sleep 0.3
	off=$(stat -c %s "$work/raw.log")
	( "$@" ) >/dev/null 2>&1 || true
	sleep 0.6
	tail -c +$((off + 1)) "$work/raw.log" >"testdata/detections-$name.log"
	echo "$name: $(wc -l <"testdata/detections-$name.log") records"
}
L=$work/lkmcall; L32=$work/lkmcall32
case_ insmod           insmod /tmp/auditlkm-det.ko
case_ insmod-relative  sh -c 'cd /tmp && insmod ./auditlkm-det.ko'
case_ insmod-system    sh -c 'cd / && insmod /var/lib/auditlkm-det-missing.ko'
case_ modprobe         modprobe auditlkm_det
case_ modprobe-copyfail modprobe -q -- 'crypto-authencesn(hmac(sha256),cbc(aes))'
case_ modprobe-query   modprobe --showconfig
case_ kmod-list        kmod list
case_ lsmod            lsmod
case_ rmmod            rmmod auditlkm_det
case_ modprobe-r       modprobe -r auditlkm_det
case_ modprobe-remove  modprobe --remove auditlkm_det
case_ modprobe-r-last  modprobe -q auditlkm_det -r
case_ busybox-insmod   busybox insmod /tmp/auditlkm-det.ko
case_ busybox-rmmod    busybox rmmod auditlkm_det
case_ syscalls64       sh -c "$L finit /tmp/auditlkm-det.ko; $L init /tmp/auditlkm-det.ko; $L delete auditlkm_det"
case_ syscalls32       sh -c "$L32 finit /tmp/auditlkm-det.ko; $L32 init /tmp/auditlkm-det.ko; $L32 delete auditlkm_det"
case_ nonroot          setpriv --reuid=65534 --regid=65534 --clear-groups "$L" finit /tmp/auditlkm-det.ko
case_ tmp-loader       /tmp/auditlkm-det-lkmcall finit /tmp/auditlkm-det.ko
case_ kexec-syscall    sh -c "$L kexec; $L32 kexec"
case_ kexec-load       kexec -l /tmp/auditlkm-det.ko
case_ kexec-version    kexec --version
case_ bpf-syscall      sh -c "$L bpf; $L32 bpf"
case_ bpftool-load     bpftool prog load /tmp/auditlkm-det.ko /sys/fs/bpf/auditlkm-det
case_ bpftool-map      bpftool map create /sys/fs/bpf/auditlkm-det-map type hash key 4 value 4 entries 1 name auditlkm_det
case_ bpftool-show     bpftool prog show
case_ conf-create      sh -c 'echo "install auditlkm_det /bin/true" > /etc/modprobe.d/auditlkm-det.conf'
case_ conf-swap        sh -c 'cd /etc/modprobe.d && touch .auditlkm-det.conf.swp && rm -f .auditlkm-det.conf.swp'
case_ conf-append      sh -c 'echo "options auditlkm_det x=1" >> /etc/modprobe.d/auditlkm-det.conf'
case_ conf-chmod       chmod 600 /etc/modprobe.d/auditlkm-det.conf
case_ conf-read        cat /etc/modprobe.d/auditlkm-det.conf
case_ conf-delete      rm -f /etc/modprobe.d/auditlkm-det.conf
case_ modprobe-conf    sh -c 'echo "blacklist auditlkm_det" >> /etc/modprobe.conf'
case_ modules-load     sh -c 'echo auditlkm_det > /tmp/auditlkm-det.conf && mv /tmp/auditlkm-det.conf /etc/modules-load.d/auditlkm-det.conf'
case_ ko-create        cp /tmp/auditlkm-det.ko "$mods/auditlkm-det.ko"
case_ ko-other         sh -c "echo x > $mods/auditlkm-det.txt"
case_ dpkg-kmod        sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall kmod'
# Correlations (the loads are refused here, and still correlated): a
# configuration naming the module, then its load; a .ko written into the
# modules tree, then loaded from there.
case_ conf-then-load   sh -c 'echo "options auditlkm_det x=1" > /etc/modprobe.d/auditlkm-det.conf && insmod /tmp/auditlkm-det.ko'
case_ ko-then-load     sh -c "cp /tmp/auditlkm-det.ko $mods/auditlkm-det-drop.ko && insmod $mods/auditlkm-det-drop.ko"
sleep 1
kill -TERM "$daemon"
wait "$daemon"
[ -z "$ONLY" ] || exit 0
{
	echo "recorded: $(date -u +%Y-%m-%dT%H:%M:%SZ) by test/record-detections.sh"
	echo "kernel: $kver"
	echo "distro: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "kmod: $(kmod --version | head -1)"
	echo "busybox: $(busybox | head -1)"
	for d in /etc /etc/modprobe.d /etc/modules-load.d /usr/lib/modprobe.d /usr/lib/modules; do
		if [ -d "$d" ]; then
			dev=$(stat -c %d "$d")
			printf 'dir: %s %02x:%02x %s\n' "$d" $(((dev >> 8) & 0xfff)) $(((dev & 0xff) | ((dev >> 12) & ~0xff))) "$(stat -c %i "$d")"
		fi
	done
} >testdata/detections.meta
rm -f /sys/fs/bpf/auditlkm-det /sys/fs/bpf/auditlkm-det-map
