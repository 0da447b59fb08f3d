// SPDX-License-Identifier: GPL-2.0
/*
 * The balloon itself: inflate and deflate towards the device's num_pages
 * target, give pages back on OOM (DEFLATE_ON_OOM) and let compaction move
 * balloon pages, so that replacing virtio_balloon loses nothing.
 */
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/oom.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "fpr.h"

/* Pages of the device (4 KiB) in one guest page */
#define FPR_VPAGES_PER_PAGE	(PAGE_SIZE >> VIRTIO_BALLOON_PFN_SHIFT)
/* Pages given back per OOM notification (1 MiB with 4 KiB pages) */
#define FPR_OOM_PAGES		256

/* Inflate and deflate queue callback */
void fpr_balloon_ack(struct virtqueue *vq)
{
	struct fpr_dev *fpr = vq->vdev->priv;

	wake_up(&fpr->balloon.acked);
}

/*
 * Hand the pfns array to the device and wait until it has used it, or
 * until it is reset (by teardown, or when its queue broke: device.c): a
 * reset device forgot the pages, so the caller may go on either way.
 */
static void fpr_balloon_tell_host(struct fpr_dev *fpr, struct virtqueue *vq)
{
	struct fpr_balloon *b = &fpr->balloon;
	struct scatterlist sg;
	int err;

	lockdep_assert_held(&b->lock);
	if (fpr_device_is_reset(fpr))
		return;
	sg_init_one(&sg, b->pfns, sizeof(b->pfns[0]) * b->num_pfns);
	/* One buffer at a time: fails only on a broken queue (-EIO) */
	err = virtqueue_add_outbuf(vq, &sg, 1, b, GFP_KERNEL);
	if (err) {
		fpr_device_broken(fpr, vq);
		return;
	}
	virtqueue_kick(vq);
	fpr_device_wait_used(fpr, &b->acked, vq, b->num_pfns,
			     vq == b->inflate_vq ? "inflated pages" :
			     "deflated pages");
}

static void fpr_balloon_set_pfns(struct fpr_dev *fpr, struct page *page)
{
	struct fpr_balloon *b = &fpr->balloon;
	unsigned long pfn = page_to_pfn(page) <<
			    (PAGE_SHIFT - VIRTIO_BALLOON_PFN_SHIFT);
	unsigned int i;

	for (i = 0; i < FPR_VPAGES_PER_PAGE; i++)
		b->pfns[b->num_pfns++] = cpu_to_virtio32(fpr->vdev, pfn + i);
}

/* Take up to num device pages from the guest; returns how many it took */
static unsigned int fpr_balloon_fill(struct fpr_dev *fpr, unsigned int num)
{
	struct fpr_balloon *b = &fpr->balloon;
	struct page *page, *next;
	unsigned int done = 0;
	LIST_HEAD(pages);

	num = min_t(unsigned int, num, FPR_BALLOON_BATCH);
	num = rounddown(num, FPR_VPAGES_PER_PAGE);
	/* Allocate outside the lock: allocation may compact (migrate us) */
	for (; done < num; done += FPR_VPAGES_PER_PAGE) {
		page = balloon_page_alloc();
		if (!page) {
			dev_info_ratelimited(&fpr->vdev->dev,
					     "out of memory while inflating the balloon; retrying later\n");
			msleep(200);
			break;
		}
		list_add(&page->lru, &pages);
	}

	mutex_lock(&b->lock);
	b->num_pfns = 0;
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		balloon_page_enqueue(&b->bdi, page);
		fpr_balloon_adjust(page, -1, b->adjust_managed);
		fpr_balloon_set_pfns(fpr, page);
		b->num_pages += FPR_VPAGES_PER_PAGE;
	}
	if (b->num_pfns)
		fpr_balloon_tell_host(fpr, b->inflate_vq);
	atomic64_add(b->num_pfns / FPR_VPAGES_PER_PAGE, &b->counters.inflated);
	done = b->num_pfns;
	mutex_unlock(&b->lock);
	return done;
}

/*
 * Give up to num device pages back to the guest; returns how many. The
 * host hears of them before any is reused (MUST_TELL_HOST or not), unless
 * the device was reset: then it holds none of them.
 */
static unsigned int fpr_balloon_leak(struct fpr_dev *fpr, unsigned int num)
{
	struct fpr_balloon *b = &fpr->balloon;
	LIST_HEAD(pages);
	struct page *page, *next;
	unsigned int done;

	mutex_lock(&b->lock);
	num = min3(num, (unsigned int)FPR_BALLOON_BATCH, b->num_pages);
	num = rounddown(num, FPR_VPAGES_PER_PAGE);
	b->num_pfns = 0;
	while (b->num_pfns < num) {
		/* NULL while compaction holds the pages isolated */
		page = balloon_page_dequeue(&b->bdi);
		if (!page)
			break;
		fpr_balloon_set_pfns(fpr, page);
		list_add(&page->lru, &pages);
		b->num_pages -= FPR_VPAGES_PER_PAGE;
	}
	if (b->num_pfns)
		fpr_balloon_tell_host(fpr, b->deflate_vq);
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		fpr_balloon_adjust(page, 1, b->adjust_managed);
		put_page(page);
	}
	atomic64_add(b->num_pfns / FPR_VPAGES_PER_PAGE, &b->counters.deflated);
	done = b->num_pfns;
	mutex_unlock(&b->lock);
	return done;
}

static void fpr_balloon_update_actual(struct fpr_dev *fpr)
{
	u32 actual = fpr->balloon.num_pages;

	virtio_cwrite_le(fpr->vdev, struct virtio_balloon_config, actual,
			 &actual);
}

/* Device pages to take (> 0) or give back (< 0) to meet the target */
static s64 fpr_balloon_towards_target(struct fpr_dev *fpr)
{
	u32 target;

	virtio_cread_le(fpr->vdev, struct virtio_balloon_config, num_pages,
			&target);
	/*
	 * Whole guest pages, rounded up; in 64 bits: with 16 or 64 KiB pages
	 * a u32 ALIGN() of a target near U32_MAX wraps to 0 and would empty
	 * the balloon instead of filling it
	 */
	return (s64)ALIGN((u64)target, FPR_VPAGES_PER_PAGE) -
	       fpr->balloon.num_pages;
}

/* Queue balloon or stats work unless the device is being torn down */
void fpr_balloon_queue(struct fpr_balloon *b, struct work_struct *w)
{
	unsigned long flags;

	spin_lock_irqsave(&b->stop_lock, flags);
	if (!b->stop_update)
		queue_work(system_freezable_wq, w);
	spin_unlock_irqrestore(&b->stop_lock, flags);
}

static void fpr_balloon_size_work(struct work_struct *work)
{
	struct fpr_balloon *b = container_of(work, struct fpr_balloon,
					     size_work);
	struct fpr_dev *fpr = container_of(b, struct fpr_dev, balloon);
	s64 diff;

	/* Reset after an error: its target means nothing until a rebind */
	if (fpr_device_is_reset(fpr))
		return;
	diff = fpr_balloon_towards_target(fpr);
	if (!diff)
		return;
	if (diff > 0)
		diff -= fpr_balloon_fill(fpr, min_t(s64, diff, U32_MAX));
	else
		diff += fpr_balloon_leak(fpr, min_t(s64, -diff, U32_MAX));
	fpr_balloon_update_actual(fpr);
	/* One batch per run: let others (and the freezer) in between */
	if (diff)
		fpr_balloon_queue(b, work);
}

/* config_changed: the host set a new target */
void fpr_balloon_changed(struct fpr_dev *fpr)
{
	fpr_balloon_queue(&fpr->balloon, &fpr->balloon.size_work);
}

static int fpr_balloon_oom_notify(struct notifier_block *nb,
				  unsigned long dummy, void *parm)
{
	struct fpr_balloon *b = container_of(nb, struct fpr_balloon, oom_nb);
	struct fpr_dev *fpr = container_of(b, struct fpr_dev, balloon);
	unsigned long *freed = parm;
	unsigned int n;

	n = fpr_balloon_leak(fpr, FPR_OOM_PAGES) / FPR_VPAGES_PER_PAGE;
	if (!n)
		return NOTIFY_OK;
	*freed += n;
	atomic64_add(n, &b->counters.oom_deflated);
	fpr_balloon_update_actual(fpr);
	dev_info_ratelimited(&fpr->vdev->dev,
			     "out of memory: deflated the balloon by %u pages\n",
			     n);
	return NOTIFY_OK;
}

/*
 * Compaction moves a balloon page: the host gets newpage and gives back
 * page. Never wait for the balloon lock here; the caller retries later.
 */
static int fpr_balloon_migrate(struct balloon_dev_info *bdi,
			       struct page *newpage, struct page *page,
			       enum migrate_mode mode)
{
	struct fpr_balloon *b = container_of(bdi, struct fpr_balloon, bdi);
	struct fpr_dev *fpr = container_of(b, struct fpr_dev, balloon);

	if (!mutex_trylock(&b->lock))
		return -EAGAIN;
	b->num_pfns = 0;
	fpr_balloon_set_pfns(fpr, newpage);
	fpr_balloon_tell_host(fpr, b->inflate_vq);
	fpr_balloon_migrated(bdi, newpage, page, b->adjust_managed);
	b->num_pfns = 0;
	fpr_balloon_set_pfns(fpr, page);
	fpr_balloon_tell_host(fpr, b->deflate_vq);
	atomic64_inc(&b->counters.migrated);
	mutex_unlock(&b->lock);
	return 0;
}

int fpr_balloon_init(struct fpr_dev *fpr)
{
	struct fpr_balloon *b = &fpr->balloon;
	int err;

	balloon_devinfo_init(&b->bdi);
	err = fpr_balloon_inode_alloc(&b->bdi, &b->bdi_mnt);
	if (err) {
		dev_err(&fpr->vdev->dev, "cannot set up balloon page migration: %d\n",
			err);
		return err;
	}
	mutex_init(&b->lock);
	init_waitqueue_head(&b->acked);
	spin_lock_init(&b->stop_lock);
	b->stop_update = true;
	INIT_WORK(&b->size_work, fpr_balloon_size_work);
	b->oom_nb.notifier_call = fpr_balloon_oom_notify;
	b->oom_nb.priority = 80;	/* before other OOM notifiers */
	fpr_stats_init(fpr);
	return 0;
}

/* After fpr_balloon_stop(): no page is in the balloon */
void fpr_balloon_free(struct fpr_dev *fpr)
{
	fpr_balloon_inode_free(&fpr->balloon.bdi, &fpr->balloon.bdi_mnt);
}

/* After DRIVER_OK: serve the target, stats and OOM notifications */
int fpr_balloon_start(struct fpr_dev *fpr)
{
	struct fpr_balloon *b = &fpr->balloon;
	struct virtio_device *vdev = fpr->vdev;
	int err;

	b->adjust_managed = !virtio_has_feature(vdev,
					       VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	fpr_balloon_set_adjust(&b->bdi, b->adjust_managed);
	if (FPR_BALLOON_MIGRATION)
		b->bdi.migratepage = fpr_balloon_migrate;

	if (!b->adjust_managed) {
		err = register_oom_notifier(&b->oom_nb);
		if (err) {
			dev_err(&vdev->dev,
				"cannot register the OOM notifier: %d\n", err);
			return err;
		}
		b->oom_registered = true;
	}

	spin_lock_irq(&b->stop_lock);
	b->stop_update = false;
	spin_unlock_irq(&b->stop_lock);

	err = fpr_stats_start(fpr);
	if (err)
		goto err_stop;
	fpr_balloon_changed(fpr);
	return 0;

err_stop:
	fpr_balloon_stop(fpr);
	return err;
}

/*
 * Before the device is reset: no more work, then every balloon page back
 * to the guest, told to the host first.
 */
void fpr_balloon_stop(struct fpr_dev *fpr)
{
	struct fpr_balloon *b = &fpr->balloon;

	spin_lock_irq(&b->stop_lock);
	b->stop_update = true;
	spin_unlock_irq(&b->stop_lock);
	cancel_work_sync(&b->size_work);
	cancel_work_sync(&b->stats_work);
	if (b->oom_registered) {
		unregister_oom_notifier(&b->oom_nb);
		b->oom_registered = false;
	}

	while (READ_ONCE(b->num_pages)) {
		if (!fpr_balloon_leak(fpr, b->num_pages))
			msleep(20);	/* pages isolated by compaction */
	}
	fpr_balloon_update_actual(fpr);
}
