// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/init.h>
static int __init hello_oot_init(void) { return 0; }
static void __exit hello_oot_exit(void) { }
module_init(hello_oot_init);
module_exit(hello_oot_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("auditlkm test suite");
MODULE_DESCRIPTION("auditlkm modfile test: an unsigned out-of-tree module");
MODULE_VERSION("0.1");
