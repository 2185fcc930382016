// SPDX-License-Identifier: GPL-2.0
/* auditlkm_cv_ghost_user: like auditlkm_cv_ghost (unlinks itself from the
 * module list and deletes its kobject at init), but it uses a symbol of
 * auditlkm_cv_lib, so the kernel still names it as that module's user: a
 * trace left when both views are gone. auditlkm VM suite only. */
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/list.h>
#include <linux/module.h>

int auditlkm_cv_lib_answer(void);

static int __init auditlkm_cv_ghost_user_init(void)
{
	pr_info("auditlkm_cv_ghost_user: lib says %d\n", auditlkm_cv_lib_answer());
	list_del(&THIS_MODULE->list);
	kobject_del(&THIS_MODULE->mkobj.kobj);
	return 0;
}

module_init(auditlkm_cv_ghost_user_init);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("auditlkm test suite");
MODULE_DESCRIPTION("test module that hides from both views but uses another module (auditlkm VM suite)");
