# crossview.sh: run by the guest's /init (test/vm, crossview_test.go). The
# cross-view scenarios: an out-of-tree unsigned load and its unload (the
# taint bits, nothing else), a module that unlinks itself from the module
# list (hidden), a module loaded while auditlkm's rules are out of the
# kernel (unknown), a module that also deletes its sysfs directory (hidden
# without a trace), one that does the same but uses another module (the
# kernel still names it as that module's user), a module loaded while the daemon is stopped (unknown at
# the restart, and what was known before survives the restart). Real kmod
# is called by path (busybox's shell has applets of the same names).
step() { echo "@@SCENARIO $*"; }
fail() { echo "@@SCENARIO-FAILED $*"; }

/sbin/depmod -a || fail depmod
mkdir -p /var/lib/cv
daemon=
start() {
	/bin/auditlkm run --audit.mode unicast --audit.repair=false --output.alerts /out/cv-alerts-$1.json \
		--web.listen-address "" --state.dir /var/lib/cv --inventory.interval 2s --inventory.settle 1s --inventory.unknown-grace 3s \
		2>/out/cv-auditlkm-$1.log &
	daemon=$!
	i=0
	until grep -q 'auditlkm started' /out/cv-auditlkm-$1.log; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 $daemon 2>/dev/null; then
			echo "auditlkm did not start"; cat /out/cv-auditlkm-$1.log; exit 1
		fi
		sleep 0.1
	done
	until grep -q 'kernel module views read' /out/cv-auditlkm-$1.log; do # the baseline
		i=$((i + 1))
		[ $i -gt 1200 ] && { echo "no inventory read"; cat /out/cv-auditlkm-$1.log; exit 1; }
		sleep 0.1
	done
}
# waitfor RUN RULE MODULE: wait (at most 60 s) for RULE's alert naming MODULE.
waitfor() {
	i=0
	until grep "\"$2\"" /out/cv-alerts-$1.json 2>/dev/null | grep -q "\"$3\""; do
		i=$((i + 1))
		[ $i -gt 300 ] && { fail "no $2 alert for $3"; return; }
		sleep 0.2
	done
}
stop() {
	kill -TERM $daemon
	wait $daemon
	echo "auditlkm exit $?"
}

start 1
step cv-taint
/sbin/insmod /root/auditlkm_vm_oot.ko || fail "insmod out-of-tree"
waitfor 1 kernel-taint-change auditlkm_vm_oot
cat /proc/sys/kernel/tainted >/out/cv-tainted
/sbin/rmmod auditlkm_vm_oot || fail "rmmod out-of-tree"
sleep 4
step cv-hidden
/sbin/insmod /root/auditlkm_cv_hide.ko || fail "insmod hide"
waitfor 1 kernel-module-hidden auditlkm_cv_hide
grep -q '^auditlkm_cv_hide ' /proc/modules && fail "auditlkm_cv_hide still in /proc/modules"
[ -f /sys/module/auditlkm_cv_hide/initstate ] || fail "auditlkm_cv_hide has no sysfs directory"
step cv-ghost
/sbin/insmod /root/auditlkm_cv_ghost.ko || fail "insmod ghost"
waitfor 1 kernel-module-hidden auditlkm_cv_ghost
grep -q '^auditlkm_cv_ghost ' /proc/modules && fail "auditlkm_cv_ghost still in /proc/modules"
[ -e /sys/module/auditlkm_cv_ghost ] && fail "auditlkm_cv_ghost still has a sysfs directory"
step cv-ghost-user
/sbin/insmod /root/auditlkm_cv_lib.ko || fail "insmod lib"
/sbin/insmod /root/auditlkm_cv_ghost_user.ko || fail "insmod ghost user"
waitfor 1 kernel-module-hidden auditlkm_cv_ghost_user
grep -q 'auditlkm_cv_ghost_user,' /proc/modules || fail "the lib's used-by does not name its hidden user"
step cv-blind
/bin/auditlkm rules unload || fail "rules unload"
/sbin/modprobe nlmon || fail "modprobe nlmon"
waitfor 1 kernel-module-unknown nlmon
/bin/auditlkm rules load || fail "rules load"
step cv-restart
stop
/sbin/modprobe ifb || fail "modprobe ifb"
start 2
waitfor 2 kernel-module-unknown ifb
sleep 3 # time for anything reported twice to show
/bin/auditlkm inventory --state.dir /var/lib/cv >/out/cv-inventory.txt 2>&1 || fail "auditlkm inventory"
/bin/auditlkm inventory --format json --state.dir /var/lib/cv >/out/cv-inventory.json 2>&1 || fail "auditlkm inventory json"
stop
cp /var/lib/cv/inventory.json /out/cv-state.json
# The kernel's views as the guest has them, for the inventory's testdata.
cat /proc/modules >/out/cv-proc-modules
for d in /sys/module/*; do
	[ -f $d/initstate ] || continue
	n=${d#/sys/module/}
	for f in coresize initsize initstate refcnt taint srcversion; do
		[ -f $d/$f ] && echo "$n/$f=$(cat $d/$f)"
	done
	for h in $d/holders/*; do { [ -e "$h" ] || [ -L "$h" ]; } && echo "$n/holders/${h##*/}"; done
	for s in $d/sections/.* $d/sections/*; do [ -f "$s" ] && echo "$n/sections/${s##*/}"; done
done >/out/cv-sys-module
step done
