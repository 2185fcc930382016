package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestReplayVMRecords replays the audit streams the VM suite (test/vm)
// recorded in Debian's 6.1 kernel, which loads modules for real, and checks
// every module load and unload alert: the KERN_MODULE name, the syscall
// and its result, the process. The host kernel here cannot produce any
// of these (modules compiled out); the goldens cover the rest of each
// alert.
func TestReplayVMRecords(t *testing.T) {
	type load struct{ rule, action, syscall, exit, module, cmd string }
	for _, tc := range []struct {
		log  string
		want []load
	}{
		{"vm-debian12-6.1-main.log", []load{
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "dummy", "/sbin/insmod /lib/modules/6.1.0-57-amd64/kernel/drivers/net/dummy.ko numdummies=2"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "dummy", "/sbin/rmmod dummy"},
			// Refused after the KERN_MODULE record: a bad parameter value.
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "-22", "dummy", "/sbin/insmod /lib/modules/6.1.0-57-amd64/kernel/drivers/net/dummy.ko numdummies=abc"},
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "dummy", "/sbin/modprobe dummy numdummies=0"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "dummy", "/sbin/modprobe -r dummy"},
			// One modprobe, two loads (the dependency first), two unloads.
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "can_dev", "/sbin/modprobe vcan"},
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "vcan", "/sbin/modprobe vcan"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "vcan", "/sbin/modprobe -r vcan"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "can_dev", "/sbin/modprobe -r vcan"},
			// The kernel's own request_module: replay has no process table
			// to see the kworker parent, so it is not marked kernel-requested
			// here (the live test is).
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "dummy", "/sbin/modprobe -q -- rtnl-link-dummy"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "dummy", "/sbin/rmmod -v dummy"},
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "auditlkm_vm_oot", "/sbin/insmod /root/auditlkm_vm_oot.ko level=3"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "auditlkm_vm_oot", "/sbin/rmmod auditlkm_vm_oot"},
			// Loaded by a modprobe.d install command. Live, it is also linked
			// to the configuration (lkm-config-then-load); replay does not
			// link it.
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "nlmon", "/sbin/modprobe nlmon"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "nlmon", "/sbin/rmmod nlmon"},
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "nlmon", "/sbin/insmod /lib/modules/6.1.0-57-amd64/updates/vmdrop.ko"},
			{"lkm-dropped-then-loaded", "loaded-dropped-kernel-module", "finit_module", "0", "nlmon", "/sbin/insmod /lib/modules/6.1.0-57-amd64/updates/vmdrop.ko"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "nlmon", "/sbin/rmmod nlmon"},
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "nlmon", "/sbin/insmod /dev/shm/.x.ko"},
			{"kernel-module-load", "loaded-kernel-module", "init_module", "0", "auditlkm_vm_oot", "/root/initmod /root/auditlkm_vm_oot.ko level=7"},
			{"kernel-module-load-unusual-location", "loaded-kernel-module", "init_module", "0", "auditlkm_vm_oot", "/root/initmod /root/auditlkm_vm_oot.ko level=7"},
			{"kernel-module-unload", "unloaded-kernel-module", "delete_module", "0", "auditlkm_vm_oot", "/sbin/rmmod -v auditlkm_vm_oot"},
			// The same through the i386 ABI (syscall 128, IA32 emulation).
			{"kernel-module-load", "loaded-kernel-module", "init_module", "0", "auditlkm_vm_oot", "/root/initmod32 /root/auditlkm_vm_oot.ko level=9"},
			{"kernel-module-load-unusual-location", "loaded-kernel-module", "init_module", "0", "auditlkm_vm_oot", "/root/initmod32 /root/auditlkm_vm_oot.ko level=9"},
			// busybox's insmod applet, run by the shell without exec.
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "ifb", "/bin/sh /script.sh"},
			{"kexec-kernel-load", "kexec_load", "kexec_load", "0", "", "/usr/sbin/kexec -l /boot/vmlinuz --append=console=ttyS0"},
			{"kexec-kernel-load", "kexec_load", "kexec_load", "0", "", "/usr/sbin/kexec -u"},
			{"kexec-kernel-load", "kexec_file_load", "kexec_file_load", "0", "", "/usr/sbin/kexec -s -l /boot/vmlinuz --append=console=ttyS0 kexec-file"},
			// modules_disabled=1: refused with EPERM before the module is read.
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "-1", "", "/sbin/insmod /lib/modules/6.1.0-57-amd64/kernel/drivers/net/dummy.ko"},
		}},
		{"vm-debian12-6.1-sig-enforce.log", []load{
			// module.sig_enforce=1: the unsigned module is refused with
			// EKEYREJECTED, before any KERN_MODULE record.
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "-129", "", "/sbin/insmod /root/auditlkm_vm_oot.ko"},
			{"kernel-module-load", "loaded-kernel-module", "finit_module", "0", "dummy", "/sbin/insmod /lib/modules/6.1.0-57-amd64/kernel/drivers/net/dummy.ko"},
		}},
	} {
		t.Run(tc.log, func(t *testing.T) {
			out, stats, _ := replayFile(t, "testdata/"+tc.log)
			var got []load
			for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
				var a struct {
					Rule  struct{ ID string }
					Event struct{ Action string }
					Proc  struct {
						CommandLine string `json:"command_line"`
					} `json:"process"`
					Auditd struct {
						Data struct {
							Syscall string
							Exit    json.Number
							Name    string
						}
					}
				}
				if err := json.Unmarshal(line, &a); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				if !strings.Contains(a.Auditd.Data.Syscall, "module") && !strings.HasPrefix(a.Auditd.Data.Syscall, "kexec_") {
					continue
				}
				got = append(got, load{a.Rule.ID, a.Event.Action, a.Auditd.Data.Syscall, a.Auditd.Data.Exit.String(), a.Auditd.Data.Name, a.Proc.CommandLine})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("module alerts:\n got %v\nwant %v", got, tc.want)
			}
			if stats.WriteErrors != 0 {
				t.Errorf("%d alert write errors", stats.WriteErrors)
			}
		})
	}
}
