// SPDX-License-Identifier: GPL-2.0
/*
 * Registration with the page reporting core and the report() callback that
 * hands each batch of free pages to the device's reporting virtqueue.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/pageblock-flags.h>
#include <linux/scatterlist.h>
#include <linux/timekeeping.h>

#include "fpr.h"

/* Count an acknowledged report; returns its size in pages */
static unsigned long fpr_count(struct fpr_dev *fpr, struct scatterlist *sgl,
			       unsigned int nents)
{
	struct fpr_stats *st = &fpr->stats;
	unsigned long pages = 0;
	struct scatterlist *sg;
	unsigned int i, order;

	for_each_sg(sgl, sg, nents, i) {
		order = get_order(sg->length);
		if (order < FPR_NR_ORDERS)
			atomic64_inc(&st->blocks[order]);
		pages += sg->length >> PAGE_SHIFT;
	}
	atomic64_add(pages, &st->pages);
	atomic64_inc(&st->reports);
	atomic64_set(&st->last_report_ms, ktime_get_boottime_ns() / NSEC_PER_MSEC);
	return pages;
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
	struct virtqueue *vq;
	bool used;
	int err;

	/* Not now (policy.c): the core puts the pages back as not reported */
	if (fpr_policy_defer(fpr, sgl, nents))
		return -EAGAIN;
	spin_lock_irq(&fpr->vq_lock);
	/* One report at a time, on the queue of the device as set up now */
	if (fpr->stopping || fpr->skip_reports || fpr->in_flight) {
		spin_unlock_irq(&fpr->vq_lock);
		return -ENODEV;
	}
	vq = fpr->reporting_vq;
	/* No indirect descriptors (main.c): this allocates nothing */
	err = virtqueue_add_inbuf(vq, sgl, nents, fpr, GFP_NOWAIT | __GFP_NOWARN);
	if (!err)
		virtqueue_kick(vq);
	/* A broken queue too: freeze waits for its reset (quiesce) */
	if (!err || err == -EIO)
		fpr->in_flight = true;
	spin_unlock_irq(&fpr->vq_lock);
	if (err && err != -EIO) {
		atomic64_inc(&fpr->stats.errors);
		dev_err_ratelimited(&fpr->vdev->dev,
				    "cannot queue a report of %u entries: %d\n",
				    nents, err);
		return err;
	}

	if (err)
		fpr_device_broken(fpr, vq);
	used = !err && fpr_device_wait_used(fpr, &fpr->acked, vq, nents,
					    "reported blocks");
	/* Done with vq: freeze may delete it now (fpr_report_quiesce()) */
	spin_lock_irq(&fpr->vq_lock);
	fpr->in_flight = false;
	spin_unlock_irq(&fpr->vq_lock);
	wake_up_all(&fpr->acked);
	/* A reset device never uses the buffer: the pages go back unreported */
	if (!used)
		return err ?: -ENODEV;
	fpr_policy_reported(fpr, sgl, nents, fpr_count(fpr, sgl, nents));
	return 0;
}

static const char * const fpr_state_names[] = {
	[FPR_STARTING]		= "starting",
	[FPR_ACTIVE]		= "active",
	[FPR_OFF_NOT_OFFERED]	= "off: device does not offer it",
	[FPR_OFF_POISON]	= "off: poison",
	[FPR_OFF_BUSY]		= "off: busy",
	[FPR_OFF_ERROR]		= "off: error",
};

/* sysfs reporting/state */
const char *fpr_report_state(struct fpr_dev *fpr)
{
	enum fpr_state state = READ_ONCE(fpr->state);

	if (state == FPR_ACTIVE && fpr_device_is_reset(fpr))
		return "off: device reset";
	return fpr_state_names[state];
}

/* Why this device cannot report (said once, in the log), or FPR_ACTIVE */
static enum fpr_state fpr_report_refused(struct fpr_dev *fpr)
{
	struct virtio_device *vdev = fpr->vdev;

	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING))
		return FPR_ACTIVE;
	/* Offered, then declined in validate: the spec's poison rule */
	if (fpr_device_features(vdev) & BIT_ULL(VIRTIO_BALLOON_F_REPORTING)) {
		dev_warn(&vdev->dev,
			 "free page reporting off: the guest expects free pages to keep their contents (%s) but the device does not offer VIRTIO_BALLOON_F_PAGE_POISON; serving the balloon only (enable it on the host, e.g. QEMU page-poison=on)\n",
			 want_init_on_free() ? "init_on_free" : "page_poison");
		return FPR_OFF_POISON;
	}
	dev_warn(&vdev->dev,
		 "free page reporting off: the device does not offer it (VIRTIO_BALLOON_F_PAGE_REPORTING); serving the balloon only (enable it on the host, e.g. QEMU -device virtio-balloon-pci,free-page-reporting=on, libvirt <memballoon freePageReporting='on'>)\n");
	return FPR_OFF_NOT_OFFERED;
}

/* The order parameter if given, else one the administrator set in the core */
static unsigned int fpr_report_order(void)
{
	unsigned int core = fpr_core_order();

	if (fpr_param_order_given() || core > FPR_MAX_ORDER)
		return fpr_param_order();
	return core;
}

static int fpr_register(struct fpr_dev *fpr, unsigned int order)
{
	struct device *dev = &fpr->vdev->dev;
	int err;

	/* Before 6.2 registration sets the core's order from it (0: default) */
	fpr_pr_set_order(&fpr->pr, order);
	fpr->core_order_saved = fpr_core_order();
	err = page_reporting_register(&fpr->pr);
	if (!err) {
		fpr->registered = true;
		/* 6.2+ keeps an order set earlier; no pass ran yet (2 s) */
		fpr_core_set_order(order);
		fpr->core_order_set = order;
		return 0;
	}
	if (err == -EBUSY && fpr_active && fpr_active != fpr)
		dev_warn(dev, "free page reporting off: another virtio_fpr device does it; serving the balloon only\n");
	else if (err == -EBUSY)
		dev_warn(dev, "free page reporting off: it is already registered by another driver (virtio_balloon or hv_balloon?); serving the balloon only. Unload it (rmmod virtio_balloon) or blacklist it, then unbind and bind this device, see README\n");
	else
		dev_warn(dev, "free page reporting off: cannot register with the page reporting core: %d; serving the balloon only\n",
			 err);
	WRITE_ONCE(fpr->state, err == -EBUSY ? FPR_OFF_BUSY : FPR_OFF_ERROR);
	return err;
}

static void fpr_unregister(struct fpr_dev *fpr)
{
	unsigned int saved = fpr->core_order_saved;

	if (!fpr->registered)
		return;
	/*
	 * Put the core's order back while we still hold the core: no other
	 * driver registers in between, so none sees a value we wrote later.
	 * Never -1: the core would shift by it. One that someone else wrote
	 * while we were bound stays.
	 */
	if (fpr_core_order() == fpr->core_order_set)
		fpr_core_set_order(saved == FPR_CORE_ORDER_UNSET ?
				   pageblock_order : saved);
	else if (fpr_core_order_runtime())
		dev_info(&fpr->vdev->dev, "page_reporting_order was changed to %u while bound; leaving it\n",
			 fpr_core_order());
	page_reporting_unregister(&fpr->pr);
	fpr->registered = false;
}

/*
 * Before 6.2 only registration sets the core's order: register again, from
 * a work item, so that the parameter write returns at once. Unregistering
 * waits for the core's pass, which must not be waiting for the device:
 * with a report in flight, try again in a second; otherwise passes return
 * at once until we are registered again.
 */
static void fpr_report_order_work(struct work_struct *work)
{
	struct fpr_dev *fpr = container_of(to_delayed_work(work),
					   struct fpr_dev, order_work);
	unsigned int order;
	bool busy;

	mutex_lock(&fpr_lock);
	order = fpr_param_order();
	if (fpr_active != fpr || !fpr->registered ||
	    fpr_pr_order(&fpr->pr) == order)
		goto out;
	spin_lock_irq(&fpr->vq_lock);
	busy = fpr->in_flight;
	fpr->skip_reports = !busy;
	spin_unlock_irq(&fpr->vq_lock);
	if (busy) {
		schedule_delayed_work(&fpr->order_work, HZ);
		goto out;
	}
	fpr_policy_stop(fpr);
	fpr_unregister(fpr);
	if (fpr_register(fpr, order))
		fpr_active = NULL;
	else
		fpr_policy_update(fpr);
	spin_lock_irq(&fpr->vq_lock);
	fpr->skip_reports = false;
	spin_unlock_irq(&fpr->vq_lock);
out:
	mutex_unlock(&fpr_lock);
}

void fpr_report_init(struct fpr_dev *fpr)
{
	INIT_DELAYED_WORK(&fpr->order_work, fpr_report_order_work);
	fpr->pr.report = fpr_report;
}

/* At probe: register unless the device or the core says no; never fails */
void fpr_report_start(struct fpr_dev *fpr)
{
	struct device *dev = &fpr->vdev->dev;
	unsigned int size, order;

	lockdep_assert_held(&fpr_lock);
	WRITE_ONCE(fpr->state, fpr_report_refused(fpr));
	if (fpr->state != FPR_ACTIVE)
		return;
	/* A report must fit the ring: it is always queued on an empty one */
	size = virtqueue_get_vring_size(fpr->reporting_vq);
	if (size < FPR_PR_CAPACITY_MIN) {
		dev_warn(dev, "free page reporting off: the reporting virtqueue holds %u entries, this kernel needs %u; serving the balloon only\n",
			 size, FPR_PR_CAPACITY_MIN);
		WRITE_ONCE(fpr->state, FPR_OFF_ERROR);
		return;
	}
	fpr_pr_set_capacity(&fpr->pr, min_t(unsigned int, size,
					    PAGE_REPORTING_CAPACITY));
	fpr_policy_reset(fpr);
	order = fpr_report_order();
	if (fpr_register(fpr, order))
		return;
	fpr_param_order_adopt(order);
	fpr_active = fpr;
	fpr_policy_update(fpr);
	dev_info(dev, "free page reporting enabled: order %u (%lu KiB), delay %u ms%s\n",
		 order, (PAGE_SIZE << order) / SZ_1K, fpr_param_delay_ms(),
		 virtio_has_feature(fpr->vdev, VIRTIO_BALLOON_F_PAGE_POISON) ?
		 ", page poison" : "");
}

/* Freeze: the device is reset; wait until report() has left its queue */
void fpr_report_quiesce(struct fpr_dev *fpr)
{
	wait_event(fpr->acked, !READ_ONCE(fpr->in_flight));
}

/* The device is reset, or never reported: leave the core */
void fpr_report_stop(struct fpr_dev *fpr)
{
	lockdep_assert_held(&fpr_lock);
	fpr_policy_stop(fpr);
	fpr_unregister(fpr);
}

/* A write of the order parameter, under fpr_lock: apply it, never wait */
void fpr_report_set_order(struct fpr_dev *fpr, unsigned int order)
{
	lockdep_assert_held(&fpr_lock);
	/* Before 5.14 the order is always pageblock_order (params.c) */
	if (!fpr->registered || FPR_PR_ORDER_FIXED)
		return;
	if (!fpr_core_order_runtime()) {
		mod_delayed_work(system_wq, &fpr->order_work, 0);
		return;
	}
	fpr_core_set_order(order);
	fpr->core_order_set = order;
	/* A pass soon, e.g. for blocks a lower order now admits */
	fpr_policy_requeue(fpr);
}
