// SPDX-License-Identifier: GPL-2.0
/* auditlkm_cv_hide: what an LKM rootkit does first, and nothing else. Its
 * init unlinks the module from the kernel's module list, so /proc/modules
 * and lsmod no longer show it, while its sysfs directory (/sys/module/
 * auditlkm_cv_hide) stays. It has no exit function: it cannot be removed.
 * Built and loaded only inside the throwaway VM of the auditlkm test suite. */
#include <linux/init.h>
#include <linux/list.h>
#include <linux/module.h>

static int __init auditlkm_cv_hide_init(void)
{
	list_del(&THIS_MODULE->list);
	pr_info("auditlkm_cv_hide: unlinked from the module list\n");
	return 0;
}

module_init(auditlkm_cv_hide_init);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("auditlkm test suite");
MODULE_DESCRIPTION("test module that hides from /proc/modules (auditlkm VM suite)");
