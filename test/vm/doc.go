// Package vm boots Debian's own kernel under QEMU so the test suite sees
// what the host kernel (modules compiled out) cannot produce: successful
// module loads and unloads with their KERN_MODULE records, loads the kernel
// requests itself, real taint and signature lines in the kernel log, and a
// kexec load of a real image.
//
// Everything comes from Debian packages. PrepareKernel fetches the kernel
// image package the linux-image-amd64 metapackage points at, with the
// matching headers, with `apt-get download` and unpacks them with `dpkg-deb
// -x` into a cache directory keyed by package version (never installing a
// kernel on the host). Boot builds an initramfs (cpio newc, gzip) holding
// static busybox, the host's kmod and any other host binary with the shared
// libraries ldd names, the kernel modules asked for with their
// dependencies, and an /init that runs the caller's script; it boots the
// kernel with qemu-system-x86_64 under TCG and returns the console log and
// every file the script left in /out, sent back base64 over a second serial
// port. A guest that outlives its timeout is killed and reported with its
// console log.
//
// TCG is always used unless AUDITLKM_VM_ACCEL names another accelerator
// (kvm adds -cpu host): on the machines this suite was written on /dev/kvm
// was either absent or present with a KVM guest hanging at "Booting from
// ROM", so probing would cost a timeout on every run for nothing. A
// booted guest takes about 3 s to reach its script under TCG.
//
// The tests (scenarios_test.go) boot twice, in parallel: testdata/
// scenarios.sh runs every module scenario under a live `auditlkm run`, and
// again with module.sig_enforce=1; each expected alert is matched and then
// asserted field by field. A new scenario is a step in scenarios.sh and an
// expect entry; a new kind of boot is a Guest passed to Boot. Run alone:
//
//	go test -count=1 -v ./test/vm/
//	AUDITLKM_VM_KEEP=DIR ...   keep each guest's /out (alerts, records, console)
//	go test ./test/vm -run TestGuest -record   re-record test/testdata/vm-*.log
package vm
