// SPDX-License-Identifier: GPL-2.0
/*
 * Registration with the page reporting core and the report() callback that
 * hands each batch of free pages to the device's reporting virtqueue.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/timekeeping.h>

#include "fpr.h"

static bool fpr_vq_done(struct fpr_dev *fpr)
{
	unsigned int len;

	if (virtqueue_get_buf(fpr->reporting_vq, &len))
		return true;
	/* Pairs with fpr_remove(): once set, the device is reset */
	return smp_load_acquire(&fpr->reset_done);
}

static void fpr_count(struct fpr_dev *fpr, struct scatterlist *sgl,
		      unsigned int nents)
{
	struct fpr_stats *st = &fpr->stats;
	struct scatterlist *sg;
	unsigned int i, order;

	for_each_sg(sgl, sg, nents, i) {
		order = get_order(sg->length);
		if (order < FPR_NR_ORDERS)
			atomic64_inc(&st->blocks[order]);
		atomic64_add(sg->length >> PAGE_SHIFT, &st->pages);
	}
	atomic64_inc(&st->reports);
	atomic64_set(&st->last_report_ms, ktime_get_boottime_ns() / NSEC_PER_MSEC);
}

/*
 * The back-off just grew the delay: end this pass without reporting (the
 * core puts the pages back as not reported) and queue the next one as the
 * core would, 2 s ahead, then have delay.c move it to the delay in force.
 * The core may find nothing new to request a pass for, so we queue it.
 */
static void fpr_report_defer(struct fpr_dev *fpr)
{
	atomic64_inc(&fpr->stats.deferred);
	mod_delayed_work(system_freezable_wq, &fpr->pr.work,
			 msecs_to_jiffies(FPR_CORE_DELAY_MS));
	fpr_delay_kick(fpr);
}

/*
 * Called by the core with pages it isolated from the free lists. They stay
 * out of the allocator until we return, so we must not return before the
 * device has used the buffer (or has been reset and cannot touch it).
 */
static int fpr_report(struct page_reporting_dev_info *pr,
		      struct scatterlist *sgl, unsigned int nents)
{
	struct fpr_dev *fpr = container_of(pr, struct fpr_dev, pr);
	struct virtqueue *vq = fpr->reporting_vq;
	unsigned int waited = 0;
	int err;

	if (fpr_backoff_defer(fpr)) {
		fpr_report_defer(fpr);
		return -EAGAIN;
	}
	spin_lock_irq(&fpr->vq_lock);
	if (fpr->stopping) {
		spin_unlock_irq(&fpr->vq_lock);
		return -ENODEV;
	}
	err = virtqueue_add_inbuf(vq, sgl, nents, fpr, GFP_NOWAIT | __GFP_NOWARN);
	if (!err)
		virtqueue_kick(vq);
	spin_unlock_irq(&fpr->vq_lock);
	if (err) {
		atomic64_inc(&fpr->stats.errors);
		dev_err_ratelimited(&fpr->vdev->dev,
				    "cannot queue a report of %u entries: %d\n",
				    nents, err);
		return err;
	}

	while (!wait_event_timeout(fpr->acked, fpr_vq_done(fpr),
				   FPR_ACK_WARN_SECS * HZ)) {
		waited += FPR_ACK_WARN_SECS;
		atomic64_inc(&fpr->stats.ack_timeouts);
		dev_warn(&fpr->vdev->dev,
			 "device has not acknowledged a report of %u entries for %u s; the pages stay isolated until it does\n",
			 nents, waited);
	}
	/* Pairs with fpr_remove(): a reset device never used the buffer */
	if (smp_load_acquire(&fpr->reset_done))
		return -ENODEV;
	if (waited)
		dev_info(&fpr->vdev->dev, "device acknowledged the report after %u+ s\n",
			 waited);
	fpr_count(fpr, sgl, nents);
	fpr_backoff_account(fpr, sgl, nents);
	return 0;
}

#ifdef FPR_HAVE_PR_ORDER_EXPORT
/* The core reads page_reporting_order on every pass: set it directly. */
static void fpr_core_order_set(unsigned int order)
{
	WRITE_ONCE(page_reporting_order, order);
}

static unsigned int fpr_core_order_get(void)
{
	return READ_ONCE(page_reporting_order);
}
#else
/* Not exported: the core takes pr.order at registration only. */
static void fpr_core_order_set(unsigned int order)
{
}

static unsigned int fpr_core_order_get(void)
{
	return 0;
}
#endif

static int fpr_register(struct fpr_dev *fpr, unsigned int order)
{
	struct device *dev = &fpr->vdev->dev;
	int err;

	/* Registration copies it (6.1), or uses it while no order is set */
	fpr->pr.order = order;
	fpr->core_order_saved = fpr_core_order_get();
	err = page_reporting_register(&fpr->pr);
	if (!err) {
		fpr->registered = true;
		/* Ours must hold over one set earlier; no pass ran yet (2 s) */
		fpr_core_order_set(order);
		return 0;
	}
	if (err == -EBUSY && fpr_active && fpr_active != fpr)
		dev_err(dev, "free page reporting is already done by another virtio_fpr device\n");
	else if (err == -EBUSY)
		dev_err(dev, "free page reporting is already registered by another driver (virtio_balloon or hv_balloon?); unload it first (rmmod virtio_balloon) or blacklist it, see README\n");
	else
		dev_err(dev, "cannot register with the page reporting core: %d\n",
			err);
	return err;
}

int fpr_report_start(struct fpr_dev *fpr)
{
	unsigned int size = virtqueue_get_vring_size(fpr->reporting_vq);

	lockdep_assert_held(&fpr_lock);
	/* A report must fit the ring: it is always queued on an empty one */
	if (size < FPR_PR_CAPACITY_MIN) {
		dev_err(&fpr->vdev->dev,
			"reporting virtqueue holds %u entries, this kernel needs %u\n",
			size, FPR_PR_CAPACITY_MIN);
		return -ENOSPC;
	}
	fpr_pr_set_capacity(&fpr->pr, min_t(unsigned int, size,
					    PAGE_REPORTING_CAPACITY));
	fpr->pr.report = fpr_report;
	fpr_backoff_reset(fpr);
	return fpr_register(fpr, fpr_param_order());
}

void fpr_report_stop(struct fpr_dev *fpr)
{
	lockdep_assert_held(&fpr_lock);
	if (!fpr->registered)
		return;
	page_reporting_unregister(&fpr->pr);
	fpr->registered = false;
	/* Give the next driver the core's order as we found it */
	fpr_core_order_set(fpr->core_order_saved);
}

/* Start a pass soon, e.g. after the order was lowered. */
void fpr_report_kick(struct fpr_dev *fpr)
{
	lockdep_assert_held(&fpr_lock);
	if (fpr->registered)
		mod_delayed_work(system_freezable_wq, &fpr->pr.work,
				 msecs_to_jiffies(fpr_param_delay_ms()));
}

int fpr_report_set_order(struct fpr_dev *fpr, unsigned int order)
{
	lockdep_assert_held(&fpr_lock);
#ifdef FPR_HAVE_PR_ORDER_EXPORT
	fpr_core_order_set(order);
	fpr_report_kick(fpr);
	return 0;
#else
	/* Only registration sets the core's order here: register again */
	fpr_delay_stop(fpr);
	fpr_report_stop(fpr);
	if (fpr_register(fpr, order))
		return -EBUSY;
	fpr_delay_update(fpr);
	return 0;
#endif
}
