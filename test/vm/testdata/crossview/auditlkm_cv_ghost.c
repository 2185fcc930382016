// SPDX-License-Identifier: GPL-2.0
/* auditlkm_cv_ghost: a module that hides from both views auditlkm reads, as
 * rootkits of the Diamorphine kind do at load: its init unlinks it from the
 * module list (/proc/modules) and deletes its kobject (/sys/module/<name>).
 * auditlkm is left with the audited load and no unload. It has no exit
 * function. Built and loaded only inside the throwaway VM of the auditlkm
 * test suite. */
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/list.h>
#include <linux/module.h>

static int __init auditlkm_cv_ghost_init(void)
{
	list_del(&THIS_MODULE->list);
	kobject_del(&THIS_MODULE->mkobj.kobj);
	pr_info("auditlkm_cv_ghost: unlinked from the module list, kobject deleted\n");
	return 0;
}

module_init(auditlkm_cv_ghost_init);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("auditlkm test suite");
MODULE_DESCRIPTION("test module that hides from /proc/modules and sysfs (auditlkm VM suite)");
