// SPDX-License-Identifier: GPL-2.0
/* auditlkm_vm_oot: the out-of-tree, unsigned module the VM tests build
 * against Debian's linux-headers and load in the guest. It does nothing
 * but log its parameter. */
#include <linux/init.h>
#include <linux/module.h>

static int level = 1;
module_param(level, int, 0444);
MODULE_PARM_DESC(level, "a number logged at load");

static int __init auditlkm_vm_oot_init(void)
{
	pr_info("auditlkm_vm_oot: loaded, level=%d\n", level);
	return 0;
}

static void __exit auditlkm_vm_oot_exit(void)
{
	pr_info("auditlkm_vm_oot: unloaded\n");
}

module_init(auditlkm_vm_oot_init);
module_exit(auditlkm_vm_oot_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("auditlkm test suite");
MODULE_DESCRIPTION("out-of-tree test module for the auditlkm VM suite");
