// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: leaks one allocation on load, so that the QEMU suite can show
 * that the debug kernel's kmemleak scan finds a leak when there is one.
 */
#include <linux/module.h>
#include <linux/slab.h>

/* Not __init: the allocation's backtrace must still name it after load */
static noinline int fpr_leak_alloc(void)
{
	void *p = kmalloc(512, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	/* Forget the pointer: only kmemleak can find the object now */
	pr_info("fpr_leak: leaking 512 bytes on purpose\n");
	return 0;
}

static int __init fpr_leak_init(void)
{
	return fpr_leak_alloc();
}

static void __exit fpr_leak_exit(void)
{
}

module_init(fpr_leak_init);
module_exit(fpr_leak_exit);
MODULE_DESCRIPTION("virtio-fpr test: a deliberate memory leak for kmemleak");
MODULE_LICENSE("GPL");
