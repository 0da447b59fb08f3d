// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters. Values are checked at load and on every write to
 * /sys/module/virtio_fpr/parameters/; a bad value is refused with a message
 * and the old value stays. A good value applies at once to the device
 * (report.c for order, policy.c for delay_ms and backoff_max). The other
 * files read the values through fpr.h.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pageblock-flags.h>
#include <linux/string.h>

#include "fpr.h"

#define FPR_DELAY_MIN_MS	10U
/* 2^6 = 64 times delay_ms at most */
#define FPR_BACKOFF_MAX		6U
/* 1 TiB */
#define FPR_BURST_MAX_MB	1048576U

/* Serialises parameter changes with probe and remove; guards fpr_active */
DEFINE_MUTEX(fpr_lock);
struct fpr_dev *fpr_active;

/*
 * The default: 2 MiB blocks (order 9 with 4 KiB pages, 7 with 16 KiB, 5
 * with 64 KiB, as virtio_balloon sets there), or pageblock_order if that
 * is smaller or the only one the core reports (before 5.14). With 16 KiB
 * pages pageblock_order is 11, 32 MiB, the largest free block: a
 * fragmented or partly ballooned guest has few of those.
 */
#define FPR_ORDER_2M		(21 - PAGE_SHIFT)
#define FPR_ORDER_DEFAULT	(FPR_PR_ORDER_FIXED || pageblock_order < FPR_ORDER_2M ? \
				 pageblock_order : FPR_ORDER_2M)

struct fpr_params fpr_params = {
	/* Until given: the core's page_reporting_order if set, else this */
	.order = FPR_ORDER_DEFAULT,
	.delay_ms = FPR_CORE_DELAY_MS,
	/* 16 times delay_ms: 32 s at 2000 ms, as long as the first flush */
	.backoff_max = 4,
	/* As backoff.c's FPR_BACKOFF_BURST: twice the churn it was set for */
	.burst_mb = 128,
};

static int fpr_parse(const char *name, const char *val, unsigned int min,
		     unsigned int max, unsigned int *out)
{
	int len = strcspn(val, "\n");

	if (kstrtouint(val, 0, out) || *out < min || *out > max) {
		pr_err("%s=%.*s refused: must be an integer from %u to %u\n",
		       name, len, val, min, max);
		return -EINVAL;
	}
	return 0;
}

static int fpr_order_set(const char *val, const struct kernel_param *kp)
{
	/* 5.14 to 6.1: the core takes order 0 as "use pageblock_order" */
	bool zero = fpr_core_order_runtime() || FPR_PR_ORDER_FIXED;
	unsigned int order;
	int err;

	err = fpr_parse("order", val, zero ? 0 : 1, FPR_MAX_ORDER, &order);
	if (err)
		return err;
	/* Before 5.14 the core reports pageblock_order only: say so, load */
	if (FPR_PR_ORDER_FIXED && order != pageblock_order) {
		pr_warn("virtio_fpr: order=%u ignored: this kernel (before 5.14) reports free blocks of pageblock_order (%u) only\n",
			order, (unsigned int)pageblock_order);
		order = pageblock_order;
	}
	mutex_lock(&fpr_lock);
	WRITE_ONCE(fpr_params.order, order);
	WRITE_ONCE(fpr_params.order_given, true);
	if (fpr_active)
		fpr_report_set_order(fpr_active, order);
	mutex_unlock(&fpr_lock);
	return 0;
}

/* delay_ms, backoff_max, burst_mb: the delay in force (policy.c) */
static int fpr_delay_param_set(const char *name, const char *val,
			       unsigned int min, unsigned int max,
			       unsigned int *param)
{
	unsigned int v;
	int err;

	err = fpr_parse(name, val, min, max, &v);
	if (err)
		return err;
	mutex_lock(&fpr_lock);
	WRITE_ONCE(*param, v);
	if (fpr_active)
		fpr_policy_update(fpr_active);
	mutex_unlock(&fpr_lock);
	return 0;
}

static int fpr_delay_set(const char *val, const struct kernel_param *kp)
{
	return fpr_delay_param_set("delay_ms", val, FPR_DELAY_MIN_MS,
				   FPR_DELAY_MAX_MS, &fpr_params.delay_ms);
}

static int fpr_burst_set(const char *val, const struct kernel_param *kp)
{
	return fpr_delay_param_set("burst_mb", val, 0, FPR_BURST_MAX_MB,
				   &fpr_params.burst_mb);
}

static int fpr_backoff_set(const char *val, const struct kernel_param *kp)
{
	return fpr_delay_param_set("backoff_max", val, 0, FPR_BACKOFF_MAX,
				   &fpr_params.backoff_max);
}

static const struct kernel_param_ops fpr_order_ops = {
	.set = fpr_order_set,
	.get = param_get_uint,
};

static const struct kernel_param_ops fpr_delay_ops = {
	.set = fpr_delay_set,
	.get = param_get_uint,
};

static const struct kernel_param_ops fpr_burst_ops = {
	.set = fpr_burst_set,
	.get = param_get_uint,
};

static const struct kernel_param_ops fpr_backoff_ops = {
	.set = fpr_backoff_set,
	.get = param_get_uint,
};

module_param_cb(order, &fpr_order_ops, &fpr_params.order, 0644);
MODULE_PARM_DESC(order,
		 "Smallest free block reported, as a page order (uint, 0 to MAX_PAGE_ORDER = 10 on x86-64 and arm64, 11 on arm64 with 16 KiB pages, 1 to 10 on kernels 5.14 to 6.1; kernels before 5.14 report pageblock_order only: another value is ignored with a warning; default: page_reporting.page_reporting_order if the administrator set it (6.2+), else 2 MiB: 9 with 4 KiB pages, 7 with 16 KiB pages)");

module_param_cb(delay_ms, &fpr_delay_ops, &fpr_params.delay_ms, 0644);
MODULE_PARM_DESC(delay_ms,
		 "Delay from a free to a reporting pass, and between passes, in ms (uint, 10 to 600000; default 2000, the core's own delay)");

module_param_cb(backoff_max, &fpr_backoff_ops, &fpr_params.backoff_max,
		0644);
MODULE_PARM_DESC(backoff_max,
		 "While reported memory is reallocated within a delay (allocate/free churn), lengthen the delay up to 2^backoff_max times delay_ms (uint, 0 = never to 6; default 4)");

/* Read at probe: the tests' debugfs files (device.c) */
module_param_named(fault_injection, fpr_params.fault_injection, bool, 0444);
MODULE_PARM_DESC(fault_injection,
		 "For tests only: debugfs virtio_fpr/<device>/stall_acks and break_device, which make the device look silent or its queues broken (bool, at load only; default N)");

module_param_cb(burst_mb, &fpr_burst_ops, &fpr_params.burst_mb, 0644);
MODULE_PARM_DESC(burst_mb,
		 "A free of at least this many MiB, still free at the next check (250 ms), is reported in passes 100 ms apart until done, unless delay_ms is above 2000 or the back-off is in force; large frees taken back soon wait a growing cooldown (uint, 0 = never to 1048576; default 128)");
