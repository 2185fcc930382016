# scenarios.sh: run by the guest's /init (test/vm). auditlkm runs
# (unicast, embedded rules) while each scenario does what a user or an
# attacker would; alerts, raw records and logs are left in /out for the
# host to assert on. Real kmod is called by path: busybox's shell would
# otherwise run its own applet of the same name. Scenario markers go to
# the console.
M=/lib/modules/$(uname -r)
step() { echo "@@SCENARIO $*"; }
fail() { echo "@@SCENARIO-FAILED $*"; }

/sbin/depmod -a || fail depmod
# As on Debian: both configuration directories exist when auditlkm starts.
mkdir -p /etc/modules-load.d
mkdir -p /tmp/state
/bin/auditlkm run --audit.mode unicast --output.alerts /out/alerts.json \
	--output.records /out/audit.log --web.listen-address "" \
	--state.dir /tmp/state 2>/out/auditlkm.log &
daemon=$!
i=0
until grep -q 'auditlkm started' /out/auditlkm.log; do
	i=$((i + 1))
	if [ $i -gt 600 ] || ! kill -0 $daemon 2>/dev/null; then
		echo "auditlkm did not start"; cat /out/auditlkm.log; exit 1
	fi
	sleep 0.1
done

if [ "$VM_SCENARIOS" = sig_enforce ]; then
	step sig-enforce-unsigned
	/sbin/insmod /root/auditlkm_vm_oot.ko && fail "unsigned module loaded under sig_enforce"
	step sig-enforce-signed
	/sbin/insmod $M/kernel/drivers/net/dummy.ko || fail "signed dummy refused"
else
	step insmod
	/sbin/insmod $M/kernel/drivers/net/dummy.ko numdummies=2 || fail insmod
	step rmmod
	/sbin/rmmod dummy || fail rmmod
	step insmod-einval
	/sbin/insmod $M/kernel/drivers/net/dummy.ko numdummies=abc && fail "bad parameter accepted"
	step modprobe
	/sbin/modprobe dummy numdummies=0 || fail modprobe
	/sbin/modprobe -r dummy || fail "modprobe -r"
	step modprobe-deps
	/sbin/modprobe vcan || fail "modprobe vcan"
	/sbin/modprobe -r vcan || fail "modprobe -r vcan"
	step kernel-request
	ip link add vmdummy0 type dummy || fail "ip link add"
	ip link del vmdummy0
	/sbin/rmmod -v dummy || fail "rmmod after autoload"
	step out-of-tree
	/sbin/insmod /root/auditlkm_vm_oot.ko level=3 || fail "out-of-tree insmod"
	/sbin/rmmod auditlkm_vm_oot || fail "out-of-tree rmmod"
	step modprobe-install
	# The install command of a name nothing provides loads a real module:
	# the persistence hook an attacker leaves in modprobe.d.
	echo 'install auditlkm_vm_fake /bin/sh -c "echo ran >/tmp/install-ran; /sbin/modprobe nlmon"' >/etc/modprobe.d/auditlkm-vm.conf
	/sbin/modprobe auditlkm_vm_fake || fail "modprobe install line"
	[ -f /tmp/install-ran ] || fail "install line did not run"
	/sbin/rmmod nlmon || fail "install line loaded no nlmon"
	step dropped-then-loaded
	mkdir -p $M/updates
	cp $M/kernel/drivers/net/nlmon.ko $M/updates/vmdrop.ko
	/sbin/insmod $M/updates/vmdrop.ko || fail "dropped insmod"
	/sbin/rmmod nlmon
	step dropped-shm
	cp $M/kernel/drivers/net/nlmon.ko /dev/shm/.x.ko
	/sbin/insmod /dev/shm/.x.ko || fail "/dev/shm insmod"
	step init-module
	/root/initmod /root/auditlkm_vm_oot.ko level=7 || fail init_module
	/sbin/rmmod -v auditlkm_vm_oot || fail "rmmod after init_module"
	step init-module-32
	/root/initmod32 /root/auditlkm_vm_oot.ko level=9 || fail "32-bit init_module"
	step lkmcall-32
	# test/testdata/lkmcall.c, static -m32: the host test's 32-bit caller,
	# which a host with IA32 emulation off cannot execute. Each call goes
	# through the i386 ABI; lkmcall exits 0 whatever the kernel answered
	# and the host asserts the answer from the alerts. initmod32 left the
	# module loaded: unloaded, loaded again, then a zero-filled "module"
	# refused; kexec_load(0, 0, NULL, 0), which the compat entry refuses
	# (KEXEC_ARCH_DEFAULT); a socket filter loaded with bpf(BPF_PROG_LOAD).
	head -c 4096 /dev/zero >/root/zero32.ko
	for call in "delete auditlkm_vm_oot" "finit /root/auditlkm_vm_oot.ko" "init /root/zero32.ko" kexec bpf; do
		/root/lkmcall32 $call || fail "lkmcall32 $call"
	done
	step busybox-insmod
	insmod $M/kernel/drivers/net/ifb.ko || fail "busybox insmod"
	step io-uring
	# test/testdata/uringfs.c (liburing, static): configuration files
	# written through io_uring only, no open, write, rename or link system
	# call, so none of the exit list's -w watches sees them; the io_uring
	# list (47-auditlkm-io-uring.rules) does. A URINGOP record names no
	# executable and uringfs exits at once: auditlkm knows it from its
	# io_uring_setup (47-auditlkm-io-uring-setup.rules). Each pid goes to
	# /out for the host to find in the alerts (with the script's shell,
	# their parent); the names are nothing any step loads.
	echo "script $$" >>/out/uring.pids
	uring() {
		what=$1
		shift
		/root/uringfs "$@" &
		p=$!
		wait $p || fail "uringfs $*"
		echo "$what $p" >>/out/uring.pids
	}
	uring create create /etc/modprobe.d/auditlkm-vm-uring.conf "options auditlkm_vm_uring a=1"
	echo auditlkm_vm_uring >/root/uring.staged
	uring rename rename /root/uring.staged /etc/modules-load.d/auditlkm-vm-uring.conf
	echo "options auditlkm_vm_uring b=2" >/root/uring.link
	uring link link /root/uring.link /etc/modprobe.d/auditlkm-vm-uring-link.conf
	# An existing file truncated and rewritten, held open 1 s.
	uring trunc trunc-hold /etc/modprobe.d/auditlkm-vm-uring.conf "options auditlkm_vm_uring c=3"
	step ima-loader
	# IMA's audit action (policy rule "audit func=MODULE_CHECK") has the
	# kernel write the file finit_module read into the load's event
	# (INTEGRITY_RULE). This loader closes its fd before auditlkm can read
	# /proc/PID/fd, and names the file nowhere else (not a .ko, no audited
	# open): only the kernel's record names it. lkmcall-32 left the
	# out-of-tree module loaded; a fresh copy is a file IMA has not seen.
	/sbin/rmmod -s auditlkm_vm_oot || fail "rmmod before the ima load"
	mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
	echo "audit func=MODULE_CHECK" >/sys/kernel/security/ima/policy || fail "ima policy"
	cp /root/auditlkm_vm_oot.ko /root/ima-oot.bin
	/root/lkmcall32 finit /root/ima-oot.bin -1 || fail "lkmcall32 finit (ima)"
	/sbin/rmmod -s auditlkm_vm_oot || fail "rmmod after the ima load"
	step kexec
	/usr/sbin/kexec -l /boot/vmlinuz --append="console=ttyS0" || fail "kexec -l"
	cat /sys/kernel/kexec_loaded >/out/kexec_loaded
	/usr/sbin/kexec -u || fail "kexec -u"
	step kexec-file
	/usr/sbin/kexec -s -l /boot/vmlinuz --append="console=ttyS0 kexec-file" || fail "kexec -s -l"
	# Last: modules_disabled cannot be undone until reboot.
	step sysctl
	echo /sbin/modprobe >/proc/sys/kernel/modprobe
	echo 1 >/proc/sys/kernel/modules_disabled
	/sbin/insmod $M/kernel/drivers/net/dummy.ko && fail "load with modules_disabled=1"
fi
step done
sleep 1
kill -TERM $daemon
wait $daemon
echo "auditlkm exit $?"
cat /proc/sys/kernel/tainted >/out/tainted
dmesg >/out/dmesg
