// SPDX-License-Identifier: GPL-2.0
/*
 * Counters, read-only, in /sys/bus/virtio/devices/virtioN/reporting/,
 * .../virtioN/balloon/ and .../virtioN/hinting/.
 */
#include <linux/device.h>
#include <linux/sysfs.h>
#include <linux/virtio.h>

#include "fpr.h"

static struct fpr_dev *fpr_from_dev(struct device *dev)
{
	return dev_to_virtio(dev)->priv;
}

/* A u64 counter file NAME in GROUP; EXPR may use fpr */
#define FPR_COUNTER_ATTR(group, name, expr)				\
static ssize_t group##_##name##_show(struct device *dev,		\
				     struct device_attribute *attr,	\
				     char *buf)				\
{									\
	struct fpr_dev *fpr = fpr_from_dev(dev);			\
									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static struct device_attribute dev_attr_##group##_##name =		\
	__ATTR(name, 0444, group##_##name##_show, NULL)

#define FPR_REPORTING(name, expr) FPR_COUNTER_ATTR(reporting, name, expr)
#define FPR_BALLOON(name, expr) FPR_COUNTER_ATTR(balloon, name, expr)
#define FPR_HINTING(name, expr) FPR_COUNTER_ATTR(hinting, name, expr)

FPR_REPORTING(reports, atomic64_read(&fpr->stats.reports));
FPR_REPORTING(pages, atomic64_read(&fpr->stats.pages));
FPR_REPORTING(bytes, atomic64_read(&fpr->stats.pages) << PAGE_SHIFT);
FPR_REPORTING(errors, atomic64_read(&fpr->stats.errors));
FPR_REPORTING(ack_timeouts, atomic64_read(&fpr->stats.ack_timeouts));
/* Device resets because it held buffers past the teardown wait */
FPR_REPORTING(resets, atomic64_read(&fpr->stats.resets));
/* 1 while a report waits for the device */
FPR_REPORTING(in_flight, READ_ONCE(fpr->in_flight));
FPR_REPORTING(last_report_ms, atomic64_read(&fpr->stats.last_report_ms));
/* Reported blocks found reallocated at the end of a back-off window */
FPR_REPORTING(reused_blocks, atomic64_read(&fpr->stats.reused));
/* Passes the back-off ended unreported when it grew the delay */
FPR_REPORTING(deferred, atomic64_read(&fpr->stats.deferred));
/* The back-off step and the delay in force (delay_ms << step) */
FPR_REPORTING(backoff_step, fpr_backoff_step(fpr));
FPR_REPORTING(delay_ms, fpr_policy_delay_ms(fpr));

/* "active", or "off: " and why (report.c) */
static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n", fpr_report_state(fpr_from_dev(dev)));
}
static DEVICE_ATTR_RO(state);

/* One array of the same type: blocks reported at order 0, 1, ... */
static ssize_t blocks_per_order_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct fpr_stats *st = &fpr_from_dev(dev)->stats;
	int order, len = 0;

	for (order = 0; order < FPR_NR_ORDERS; order++)
		len += sysfs_emit_at(buf, len, "%s%llu", order ? " " : "",
				     (unsigned long long)atomic64_read(&st->blocks[order]));
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(blocks_per_order);

static struct attribute *fpr_stats_attrs[] = {
	&dev_attr_reporting_reports.attr,
	&dev_attr_reporting_pages.attr,
	&dev_attr_reporting_bytes.attr,
	&dev_attr_reporting_errors.attr,
	&dev_attr_reporting_ack_timeouts.attr,
	&dev_attr_reporting_resets.attr,
	&dev_attr_reporting_in_flight.attr,
	&dev_attr_state.attr,
	&dev_attr_reporting_last_report_ms.attr,
	&dev_attr_reporting_reused_blocks.attr,
	&dev_attr_reporting_deferred.attr,
	&dev_attr_reporting_backoff_step.attr,
	&dev_attr_reporting_delay_ms.attr,
	&dev_attr_blocks_per_order.attr,
	NULL,
};

const struct attribute_group fpr_stats_group = {
	.name = "reporting",
	.attrs = fpr_stats_attrs,
};

/* Device pages (4 KiB) now in the balloon */
FPR_BALLOON(pages, READ_ONCE(fpr->balloon.num_pages));
FPR_BALLOON(inflated, atomic64_read(&fpr->balloon.counters.inflated));
FPR_BALLOON(deflated, atomic64_read(&fpr->balloon.counters.deflated));
FPR_BALLOON(migrated, atomic64_read(&fpr->balloon.counters.migrated));
FPR_BALLOON(oom_deflated, atomic64_read(&fpr->balloon.counters.oom_deflated));
FPR_BALLOON(stats_updates, atomic64_read(&fpr->balloon.counters.stats_updates));

static struct attribute *fpr_balloon_attrs[] = {
	&dev_attr_balloon_pages.attr,
	&dev_attr_balloon_inflated.attr,
	&dev_attr_balloon_deflated.attr,
	&dev_attr_balloon_migrated.attr,
	&dev_attr_balloon_oom_deflated.attr,
	&dev_attr_balloon_stats_updates.attr,
	NULL,
};

const struct attribute_group fpr_balloon_group = {
	.name = "balloon",
	.attrs = fpr_balloon_attrs,
};

/* Free page hinting runs started, base pages hinted and given back */
FPR_HINTING(runs, atomic64_read(&fpr->hint.runs));
FPR_HINTING(hinted, atomic64_read(&fpr->hint.hinted));
FPR_HINTING(returned, atomic64_read(&fpr->hint.returned));
/* Of the pages given back, those the shrinker took */
FPR_HINTING(shrunk, atomic64_read(&fpr->hint.shrunk));
/* Base pages hinted and not given back yet (with the device or after) */
FPR_HINTING(held, fpr_hint_held(fpr));
/* Runs ended early: the device used no buffer for 1 s past the limit */
FPR_HINTING(stalled, atomic64_read(&fpr->hint.stalled));

static struct attribute *fpr_hint_attrs[] = {
	&dev_attr_hinting_runs.attr,
	&dev_attr_hinting_hinted.attr,
	&dev_attr_hinting_returned.attr,
	&dev_attr_hinting_shrunk.attr,
	&dev_attr_hinting_held.attr,
	&dev_attr_hinting_stalled.attr,
	NULL,
};

const struct attribute_group fpr_hint_group = {
	.name = "hinting",
	.attrs = fpr_hint_attrs,
};
