// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: holds the system's single page reporting slot, as another
 * reporting driver (virtio_balloon, hv_balloon) would. Its report() keeps
 * the pages as they are, so nothing is lost.
 */
#include <linux/module.h>
#include <linux/page_reporting.h>

static int fpr_holder_report(struct page_reporting_dev_info *pr,
			     struct scatterlist *sg, unsigned int nents)
{
	return 0;
}

static struct page_reporting_dev_info fpr_holder = {
	.report = fpr_holder_report,
};

static int __init fpr_holder_init(void)
{
	int err = page_reporting_register(&fpr_holder);

	if (err)
		pr_err("cannot hold the page reporting slot: %d\n", err);
	return err;
}

static void __exit fpr_holder_exit(void)
{
	page_reporting_unregister(&fpr_holder);
}

module_init(fpr_holder_init);
module_exit(fpr_holder_exit);
MODULE_DESCRIPTION("virtio_fpr test helper holding the page reporting slot");
MODULE_LICENSE("GPL");
