// SPDX-License-Identifier: GPL-2.0
/* auditlkm_cv_lib: an ordinary module exporting one symbol, so that
 * auditlkm_cv_ghost_user depends on it (the kernel then lists the user in
 * this module's used-by column and holders/ directory). auditlkm VM suite. */
#include <linux/init.h>
#include <linux/module.h>

int auditlkm_cv_lib_answer(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(auditlkm_cv_lib_answer);

static int __init auditlkm_cv_lib_init(void)
{
	return 0;
}

static void __exit auditlkm_cv_lib_exit(void)
{
}

module_init(auditlkm_cv_lib_init);
module_exit(auditlkm_cv_lib_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("auditlkm test suite");
MODULE_DESCRIPTION("test library module (auditlkm VM suite)");
