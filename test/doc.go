// Package test holds auditlkm's end-to-end tests: they build the real
// binary, run it against the real kernel audit subsystem (as root, holding
// the shared kernel lock of internal/kerneltest), drive real programs
// (insmod from kmod, a shell redirect, mv) and assert the alerts; and they
// replay logs recorded from this kernel by record.sh against golden ECS
// output.
package test
