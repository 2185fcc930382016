// Package inventory keeps the daemon's inventory of kernel modules and
// joins the audit trail with the kernel's own views of its modules (the
// "cross-view").
//
// The audit trail gives the loads (a successful init_module or
// finit_module with its KERN_MODULE name, the process, its parent, the
// module file and its hash when known) and the unloads (a successful
// delete_module). The kernel gives /proc/modules (its module list: what
// lsmod and osquery read), /sys/module/<name> (the module's kobject:
// initstate, refcnt, taint, coresize, holders/, sections/) and
// /proc/sys/kernel/tainted. A Component reads the views Settle after
// every audited load and unload, again Confirm later for anything
// suspect, and every Interval, and reports three findings
// (detections.CrossViewFinding, turned into alerts by the catalog's cross-view
// detections):
//
//   - hidden: a module in sysfs but missing from /proc/modules (a rootkit
//     unlinked itself from the module list), Live in /proc/modules without
//     its sysfs directory, in neither but still named as the user of a
//     module it depends on (trace "used-by"), or loaded per the trail (or
//     seen) and now in no
//     view at all with no audited unload (trace "none");
//   - unknown: a module in the kernel the trail never saw load, outside the
//     baseline (the modules present at the first start on this host; after
//     a restart, a module not in the previous run's inventory);
//   - taint: new bits of the kernel taint mask, each named and blamed on
//     the module carrying the letter, else the newest audited load within
//     TaintWindow.
//
// Every finding is confirmed by a second read before it is reported: a
// module is briefly in one view only while it loads or unloads, and a
// load's audit event can reach the daemon after the kernel lists the
// module. The inventory is saved in the state directory (atomically,
// regular files only, never through a symbolic link) and restored on the
// same boot; on another boot only the names of the previous run's modules
// are kept, to tell which modules are new at this start.
//
// What it cannot see: a module that hides from every view this package
// reads (unlinked from the list and its kobject deleted, or hooking the
// reads of /proc and /sys) leaves only the trail's load without an unload,
// which is reported as hidden with trace "none" but cannot be told from a
// module unloaded while auditing was blind; if the load itself was not
// audited, nothing is left. /proc/kallsyms lists module
// symbols from the same module list, so it hides with /proc/modules and is
// not read.
package inventory
