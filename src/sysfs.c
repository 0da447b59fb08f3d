// SPDX-License-Identifier: GPL-2.0
/*
 * Counters, read-only, in /sys/bus/virtio/devices/virtioN/reporting/ and
 * .../virtioN/balloon/.
 */
#include <linux/device.h>
#include <linux/sysfs.h>
#include <linux/virtio.h>

#include "fpr.h"

static struct fpr_stats *fpr_dev_stats(struct device *dev)
{
	struct fpr_dev *fpr = dev_to_virtio(dev)->priv;

	return &fpr->stats;
}

#define FPR_COUNTER_ATTR(name, expr)					\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	struct fpr_stats *st = fpr_dev_stats(dev);			\
									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static DEVICE_ATTR_RO(name)

FPR_COUNTER_ATTR(reports, atomic64_read(&st->reports));
FPR_COUNTER_ATTR(pages, atomic64_read(&st->pages));
FPR_COUNTER_ATTR(bytes, atomic64_read(&st->pages) << PAGE_SHIFT);
FPR_COUNTER_ATTR(errors, atomic64_read(&st->errors));
FPR_COUNTER_ATTR(ack_timeouts, atomic64_read(&st->ack_timeouts));
FPR_COUNTER_ATTR(last_report_ms, atomic64_read(&st->last_report_ms));

/* One array of the same type: blocks reported at order 0, 1, ... */
static ssize_t blocks_per_order_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct fpr_stats *st = fpr_dev_stats(dev);
	int order, len = 0;

	for (order = 0; order < FPR_NR_ORDERS; order++)
		len += sysfs_emit_at(buf, len, "%s%llu", order ? " " : "",
				     (unsigned long long)atomic64_read(&st->blocks[order]));
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(blocks_per_order);

static struct attribute *fpr_stats_attrs[] = {
	&dev_attr_reports.attr,
	&dev_attr_pages.attr,
	&dev_attr_bytes.attr,
	&dev_attr_errors.attr,
	&dev_attr_ack_timeouts.attr,
	&dev_attr_last_report_ms.attr,
	&dev_attr_blocks_per_order.attr,
	NULL,
};

const struct attribute_group fpr_stats_group = {
	.name = "reporting",
	.attrs = fpr_stats_attrs,
};

static struct fpr_balloon *fpr_dev_balloon(struct device *dev)
{
	struct fpr_dev *fpr = dev_to_virtio(dev)->priv;

	return &fpr->balloon;
}

#define FPR_BALLOON_ATTR(name, expr)					\
static ssize_t balloon_##name##_show(struct device *dev,		\
				     struct device_attribute *attr,	\
				     char *buf)				\
{									\
	struct fpr_balloon *b = fpr_dev_balloon(dev);			\
									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static struct device_attribute dev_attr_balloon_##name =		\
	__ATTR(name, 0444, balloon_##name##_show, NULL)

/* Device pages (4 KiB) now in the balloon */
FPR_BALLOON_ATTR(pages, READ_ONCE(b->num_pages));
FPR_BALLOON_ATTR(inflated, atomic64_read(&b->counters.inflated));
FPR_BALLOON_ATTR(deflated, atomic64_read(&b->counters.deflated));
FPR_BALLOON_ATTR(migrated, atomic64_read(&b->counters.migrated));
FPR_BALLOON_ATTR(oom_deflated, atomic64_read(&b->counters.oom_deflated));
FPR_BALLOON_ATTR(stats_updates, atomic64_read(&b->counters.stats_updates));

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
