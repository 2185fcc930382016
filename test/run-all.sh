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
# The metrics tests run a real Prometheus server and promtool (Debian's
# prometheus package; /usr/sbin/policy-rc.d keeps apt from starting it).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
# The audit rule tests run Debian's auditd, auditctl and augenrules (tamper,
# coexistence, install). apt does not start auditd: /usr/sbin/policy-rc.d
# exits 101 on this kind of machine; where it does not, stop it so the
# tests find the audit pid free (they start their own auditd in a temp dir).
# The fleet test (test/fleet_test.go) also runs audisp-remote senders
# (audispd-plugins) to a collector auditd.
if ! command -v auditctl >/dev/null || ! command -v augenrules >/dev/null || ! [ -x /sbin/audisp-remote ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd audispd-plugins >/dev/null
	if command -v systemctl >/dev/null && systemctl is-active --quiet auditd 2>/dev/null; then
		systemctl stop auditd
	fi
fi

# The detection tests build a -m32 caller of the module, kexec
# and bpf syscalls (gcc-multilib); test/record-detections.sh also runs
# busybox, kexec and bpftool.
if ! [ -e /usr/lib/gcc/x86_64-linux-gnu/12/32/crtbegin.o ] && ! gcc -m32 -x c -o /dev/null - <<<'int main(void){return 0;}' 2>/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib >/dev/null
fi

# The io_uring tests (test/uring_test.go, the VM suite) build testdata/uringfs.c against liburing.
if ! [ -e /usr/include/liburing.h ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liburing-dev >/dev/null
fi

# The syslog and deployment tests run a real rsyslogd (started by the test
# in the foreground; apt does not start it) and logrotate -d.
if ! command -v rsyslogd >/dev/null || ! command -v logrotate >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog logrotate >/dev/null
fi

# The VM suite (test/vm) boots Debian's kernel under QEMU (TCG) with an
# initramfs it builds from static busybox, kmod, kexec-tools and cpio, and
# builds a module against the kernel's headers (make, gcc-12). The kernel
# and header packages themselves are fetched by the test with apt-get
# download into /var/cache/auditlkm-vm, never installed.
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v kexec >/dev/null ||
	! command -v cpio >/dev/null || ! command -v make >/dev/null || ! command -v gcc-12 >/dev/null ||
	! [ -x /bin/busybox ] || ! ldd /bin/busybox 2>&1 | grep -q "not a dynamic"; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		qemu-system-x86 busybox-static kexec-tools cpio make gcc-12 libc6-dev libelf-dev >/dev/null
fi
# apt-get download needs current package lists to find the kernel.
if ! apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1; then
	apt-get update -qq
fi
# The exclusion tests (test/live_exclusions_test.go) run the real /usr/bin/perl and
# /usr/bin/python3 (Debian's packages, owned and verified by dpkg),
# dpkg-deb, and apt-get install --reinstall kmod (network to the archive).
if ! [ -x /usr/bin/python3 ] || ! [ -x /usr/bin/perl ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 perl >/dev/null
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
go mod tidy -diff

# golangci-lint (.golangci.yml: ownership rules and checks), at the version
# pinned in tools/go.mod, built once from the module proxy and cached.
lint_version=$(go -C tools list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
lint_bin=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/auditlkm-tools/golangci-lint-$lint_version
if ! [ -x "$lint_bin" ]; then
	mkdir -p "$(dirname "$lint_bin")"
	go -C tools build -o "$lint_bin" github.com/golangci/golangci-lint/v2/cmd/golangci-lint
fi
"$lint_bin" run ./...

# Kernel and VM tests must run, not skip (the corpus is in testdata/).
export AUDITLKM_REQUIRE_KERNEL=1 AUDITLKM_REQUIRE_VM=1
# test/vm: a cold first run downloads a kernel and builds a static auditlkm.
go test -count=1 -timeout 20m ./...
