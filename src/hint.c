// SPDX-License-Identifier: GPL-2.0
/*
 * Free page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT, spec 5.5.6.6). The
 * host starts a run by writing a new free_page_hint_cmd_id: we send that
 * id on the free page queue, then free blocks of the largest order taken
 * off the allocator (no reclaim, no reserves), then the STOP id, also when
 * the host or teardown ends the run early. The host may skip migrating
 * hinted pages. As virtio_balloon does, we hold them until the host
 * writes DONE (not at STOP nor at the next round's new id: blocks freed
 * and taken again would be dirtied and sent), until memory runs short
 * (the shrinker), or until teardown, and then give them back.
 *
 * A hinted block goes back to the allocator only once the device has used
 * its buffer (or was reset): a hint applied after the guest reused the
 * block would drop the guest's writes from the migration. The contents
 * the host may have dropped are never relied on: blocks freed pass
 * through the allocator's free path, which poisons or zeroes them again
 * where the kernel checks free pages (page_poison, init_on_free), and
 * elsewhere nothing expects a free page to keep its contents. So hinting
 * needs no PAGE_POISON.
 *
 * Lists, under hint->lock: "queued" (buffers the device has not used),
 * "held" (used, waiting for the host's word to give them back) and
 * "ended" (used after the host wrote DONE for their run: they go back at
 * the work's next look, also when a new run has started since). A queued
 * block's page_private() says whether its run ended. The two id buffers
 * are never rewritten while the device holds them.
 *
 * The work runs on a queue of our own, freezable and unbound (a run is
 * long; 7.x warns about a queue neither per-CPU nor unbound, and older
 * kernels have no WQ_PERCPU), at high priority: a run races the
 * migration, which sends every page not hinted yet, and at normal
 * priority a busy task on the same CPU took half of it (docs/hinting.md).
 * Outside a run it waits on the queue's callback and the config
 * interrupt; while blocks are queued or held it also looks now and then,
 * from 100 ms up to 10 s apart, and kicks the device at each look while
 * it holds buffers (also when a run waits to start): after a migration
 * the destination uses the buffers only once kicked, and a DONE written
 * while the source was stopped may come with no interrupt.
 */
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "fpr.h"

#define FPR_HINT_ORDER		FPR_MAX_ORDER
#define FPR_HINT_PAGES		BIT(FPR_HINT_ORDER)
/* Taken straight off the free lists: no reclaim, no reserves, no warning */
#define FPR_HINT_GFP		(__GFP_NORETRY | __GFP_NOWARN | __GFP_NOMEMALLOC)
/* A full queue: how long a run waits for the device to use buffers */
#define FPR_HINT_FULL_MS	1000U
/*
 * Blocks the device has not used yet are not the shrinker's to give back:
 * past 1/32 of the guest's memory (at least 2 blocks, one with the device
 * and one waiting) on the queue, a run queues more only while the device
 * used a buffer in the last FPR_HINT_PACE_MS, so that a device that stops
 * answering cannot starve the guest and a slow one does not slow the run
 */
#define FPR_HINT_QUEUED_SHIFT	5
#define FPR_HINT_QUEUED_MIN	2UL
#define FPR_HINT_PACE_MS	200U
/* Looks while blocks are with the device or held: first and last gap */
#define FPR_HINT_POLL_MS	100U
#define FPR_HINT_POLL_MAX_MS	10000U
/* A run that could not start (id buffers still with the device): retry */
#define FPR_HINT_RETRY_MS	1000U
/* page_private() of a queued block whose run the host ended with DONE */
#define FPR_HINT_RUN_DONE	1UL

static bool fpr_hint_id_is_run(u32 id)
{
	return id != VIRTIO_BALLOON_CMD_ID_STOP &&
	       id != VIRTIO_BALLOON_CMD_ID_DONE;
}

static u32 fpr_hint_read_id(struct fpr_dev *fpr)
{
	u32 id;

	virtio_cread_le(fpr->vdev, struct virtio_balloon_config,
			free_page_hint_cmd_id, &id);
	return id;
}

/* Free page queue callback: the device used buffers */
void fpr_hint_ack(struct virtqueue *vq)
{
	struct fpr_dev *fpr = vq->vdev->priv;
	struct fpr_hint *h = &fpr->hint;
	unsigned long flags;

	wake_up(&h->acked);
	/* Outside a run: the work reaps them (and gives back after DONE) */
	spin_lock_irqsave(&h->lock, flags);
	if (h->waiting && !h->stopping)
		mod_delayed_work(h->wq, &h->work, 0);
	spin_unlock_irqrestore(&h->lock, flags);
}

/*
 * Move what the device used from queued to held, or to ended if its run
 * is over; everything once it was reset (it touches none of them again).
 * Under hint->lock. stall_acks (device.c) leaves used buffers unseen.
 */
static void fpr_hint_reap(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;
	struct page *page;
	unsigned int len;
	void *token;

	lockdep_assert_held(&h->lock);
	if (fpr_device_is_reset(fpr) || !h->vq) {
		list_splice_init(&h->queued, &h->held);
		h->held_blocks += h->queued_blocks;
		h->queued_blocks = 0;
		h->id_queued = false;
		h->stop_queued = false;
		return;
	}
	while (!READ_ONCE(fpr->stall_acks) &&
	       (token = virtqueue_get_buf(h->vq, &len))) {
		h->used++;
		if (token == &h->id_buf) {
			h->id_queued = false;
			continue;
		}
		if (token == &h->stop_buf) {
			h->stop_queued = false;
			continue;
		}
		page = token;
		h->used_at = jiffies;
		h->queued_blocks--;
		if (page_private(page) == FPR_HINT_RUN_DONE) {
			list_move(&page->lru, &h->ended);
			h->ended_blocks++;
		} else {
			list_move(&page->lru, &h->held);
			h->held_blocks++;
		}
	}
}

/* Move up to nr blocks from list (count *n) to pages; returns how many */
static unsigned long fpr_hint_take(struct list_head *list, unsigned long *n,
				   struct list_head *pages, unsigned long nr)
{
	struct page *page, *next;
	unsigned long taken = 0;

	list_for_each_entry_safe(page, next, list, lru) {
		if (taken == nr)
			break;
		list_move(&page->lru, pages);
		taken++;
	}
	*n -= taken;
	return taken;
}

/* Which used blocks fpr_hint_return() gives back */
enum fpr_hint_which {
	FPR_HINT_RETURN_ENDED,	/* of ended runs only */
	FPR_HINT_RETURN_ALL,	/* also those waiting for DONE */
};

/*
 * Give up to nr blocks back to the allocator, those of ended runs first;
 * returns how many
 */
static unsigned long fpr_hint_return(struct fpr_dev *fpr, unsigned long nr,
				     enum fpr_hint_which which)
{
	struct fpr_hint *h = &fpr->hint;
	struct page *page, *next;
	unsigned long n;
	LIST_HEAD(pages);

	spin_lock_irq(&h->lock);
	fpr_hint_reap(fpr);
	n = fpr_hint_take(&h->ended, &h->ended_blocks, &pages, nr);
	if (which == FPR_HINT_RETURN_ALL)
		n += fpr_hint_take(&h->held, &h->held_blocks, &pages, nr - n);
	spin_unlock_irq(&h->lock);

	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		set_page_private(page, 0);
		__free_pages(page, FPR_HINT_ORDER);
	}
	atomic64_add(n * FPR_HINT_PAGES, &h->returned);
	return n;
}

/*
 * Queue a run's id (start) or the STOP id (end); the buffer is its token.
 * A run starts only once the device gave both buffers back; STOP goes out
 * during teardown too (the spec wants every run ended), not to a device
 * that was reset.
 */
static int fpr_hint_send_id(struct fpr_dev *fpr, bool start, u32 id)
{
	struct fpr_hint *h = &fpr->hint;
	__virtio32 *buf = start ? &h->id_buf : &h->stop_buf;
	bool *queued = start ? &h->id_queued : &h->stop_queued;
	struct scatterlist sg;
	int err;

	spin_lock_irq(&h->lock);
	fpr_hint_reap(fpr);
	if (!h->vq || fpr_device_is_reset(fpr) || (start && h->stopping)) {
		err = -ENODEV;
	} else if (*queued || (start && h->stop_queued)) {
		err = -EBUSY;
	} else {
		*buf = cpu_to_virtio32(fpr->vdev, id);
		sg_init_one(&sg, buf, sizeof(*buf));
		err = virtqueue_add_outbuf(h->vq, &sg, 1, buf, GFP_ATOMIC);
		if (!err) {
			*queued = true;
			virtqueue_kick(h->vq);
		}
	}
	spin_unlock_irq(&h->lock);
	return err;
}

/*
 * Kick the device about buffers it has not used: after a migration the
 * destination looks at the queue only when kicked. Under hint->lock.
 */
static void fpr_hint_notify(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;

	lockdep_assert_held(&h->lock);
	if (h->vq && !fpr_device_is_reset(fpr) &&
	    (h->queued_blocks || h->id_queued || h->stop_queued))
		virtqueue_notify(h->vq);
}

/* Send an id once the device gave the buffers back (bounded) */
static int fpr_hint_send_id_wait(struct fpr_dev *fpr, bool start, u32 id)
{
	unsigned long end = jiffies + msecs_to_jiffies(FPR_HINT_FULL_MS);
	bool kicked = false;
	int err;

	while ((err = fpr_hint_send_id(fpr, start, id)) == -EBUSY &&
	       time_before(jiffies, end)) {
		if (!kicked) {
			spin_lock_irq(&fpr->hint.lock);
			fpr_hint_notify(fpr);
			spin_unlock_irq(&fpr->hint.lock);
			kicked = true;
		}
		wait_event_idle_timeout(fpr->hint.acked,
					fpr_device_is_reset(fpr) ||
					(start && READ_ONCE(fpr->hint.stopping)),
					msecs_to_jiffies(10));
	}
	return err;
}

/*
 * Room on the queue for one more block and the STOP id, after a reap;
 * past limit blocks unused by the device, only while it makes progress
 */
static bool fpr_hint_room(struct fpr_dev *fpr, unsigned long limit)
{
	struct fpr_hint *h = &fpr->hint;
	bool room;

	spin_lock_irq(&h->lock);
	fpr_hint_reap(fpr);
	room = !h->vq || fpr_device_is_reset(fpr) ||
	       (h->vq->num_free > 2 &&
		(h->queued_blocks < limit ||
		 time_before(jiffies, h->used_at +
			     msecs_to_jiffies(FPR_HINT_PACE_MS))));
	spin_unlock_irq(&h->lock);
	return room;
}

/* The queue, if it is broken (device.c resets the device then); under lock */
static struct virtqueue *fpr_hint_broken_vq(struct fpr_hint *h)
{
	lockdep_assert_held(&h->lock);
	return h->vq && virtqueue_is_broken(h->vq) ? h->vq : NULL;
}

/* Teardown, a reset, or a config change to look at: a run pauses */
static bool fpr_hint_interrupted(struct fpr_dev *fpr)
{
	return READ_ONCE(fpr->hint.stopping) || fpr_device_is_reset(fpr) ||
	       atomic_read(&fpr->hint.config_pending);
}

/* Read the command id if the host may have changed it */
static void fpr_hint_update_id(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;

	if (atomic_xchg(&h->config_pending, 0))
		WRITE_ONCE(h->id_seen, fpr_hint_read_id(fpr));
}

/*
 * Read the command id with no config interrupt to say it changed (the
 * host may end a run with none, top of the file). QEMU answers STOP (0)
 * while it takes hints, not the run's id: only DONE or a new id count
 * here; a real STOP comes with an interrupt.
 */
static void fpr_hint_peek_id(struct fpr_dev *fpr)
{
	u32 id = fpr_hint_read_id(fpr);

	if (id != VIRTIO_BALLOON_CMD_ID_STOP)
		WRITE_ONCE(fpr->hint.id_seen, id);
}

/* The run with id ID must end: the host changed its mind, or teardown */
static bool fpr_hint_run_over(struct fpr_dev *fpr, u32 id)
{
	fpr_hint_update_id(fpr);
	return READ_ONCE(fpr->hint.stopping) || fpr_device_is_reset(fpr) ||
	       READ_ONCE(fpr->hint.id_seen) != id;
}

/*
 * Hint one block (limit: as for fpr_hint_room()); 0, or why the run is
 * over: -ENOMEM (no free block left), -ETIMEDOUT (no room for
 * FPR_HINT_FULL_MS), -ECANCELED (the host or teardown ended it), -EIO
 * (a broken queue: the work resets the device)
 */
static int fpr_hint_one(struct fpr_dev *fpr, u32 id, unsigned long limit)
{
	unsigned long end = jiffies + msecs_to_jiffies(FPR_HINT_FULL_MS);
	struct fpr_hint *h = &fpr->hint;
	struct scatterlist sg;
	struct page *page;
	int err = -ENODEV;
	long left;

	/*
	 * A config change that leaves the id alone only wakes the wait; the
	 * run ends after FPR_HINT_FULL_MS without room in all (a freeze
	 * waits for the run)
	 */
	while (!fpr_hint_room(fpr, limit)) {
		left = (long)(end - jiffies);
		if (left > 0 &&
		    wait_event_idle_timeout(h->acked,
					    fpr_hint_room(fpr, limit) ||
					    fpr_hint_interrupted(fpr), left)) {
			if (fpr_hint_run_over(fpr, id))
				return -ECANCELED;
			continue;
		}
		fpr_hint_peek_id(fpr);
		return fpr_hint_run_over(fpr, id) ? -ECANCELED : -ETIMEDOUT;
	}
	if (fpr_hint_run_over(fpr, id))
		return -ECANCELED;
	page = alloc_pages(FPR_HINT_GFP, FPR_HINT_ORDER);
	if (!page)
		return -ENOMEM;
	sg_init_table(&sg, 1);
	sg_set_page(&sg, page, PAGE_SIZE << FPR_HINT_ORDER, 0);

	spin_lock_irq(&h->lock);
	if (h->vq && !h->stopping && !fpr_device_is_reset(fpr) &&
	    h->vq->num_free > 1) {
		err = virtqueue_add_inbuf(h->vq, &sg, 1, page, GFP_ATOMIC);
		if (!err) {
			list_add(&page->lru, &h->queued);
			h->queued_blocks++;
			virtqueue_kick(h->vq);
		}
	}
	spin_unlock_irq(&h->lock);
	if (err) {
		__free_pages(page, FPR_HINT_ORDER);
		return err == -EIO ? -EIO : -ECANCELED;
	}
	atomic64_add(FPR_HINT_PAGES, &h->hinted);
	return 0;
}

/* One run; an error if it could not start (the work retries or resets) */
static int fpr_hint_run(struct fpr_dev *fpr, u32 id)
{
	struct fpr_hint *h = &fpr->hint;
	unsigned long n, limit;
	int err;

	err = fpr_hint_send_id_wait(fpr, true, id);
	if (err) {
		if (err != -ENODEV)
			dev_warn_ratelimited(&fpr->vdev->dev,
					     "cannot start free page hinting run %u: %d%s\n",
					     id, err, err == -EBUSY ?
					     " (will retry)" : "");
		return err;
	}
	h->cmd_id_active = id;
	atomic64_inc(&h->runs);
	/* Progress is what the device uses from now on */
	spin_lock_irq(&h->lock);
	h->used_at = jiffies - msecs_to_jiffies(FPR_HINT_PACE_MS) - 1;
	spin_unlock_irq(&h->lock);
	/*
	 * At most the guest's memory once: under pressure the shrinker frees
	 * blocks that the run would otherwise take and hint again and again.
	 */
	limit = totalram_pages() >> (FPR_HINT_ORDER + FPR_HINT_QUEUED_SHIFT);
	limit = max(limit, FPR_HINT_QUEUED_MIN);
	for (n = totalram_pages() >> FPR_HINT_ORDER; n; n--) {
		/* Blocks of ended runs go back and are hinted again */
		if (!(n % limit))
			fpr_hint_return(fpr, ULONG_MAX, FPR_HINT_RETURN_ENDED);
		err = fpr_hint_one(fpr, id, limit);
		if (err == -ETIMEDOUT)
			atomic64_inc(&h->stalled);
		if (err)
			break;
		cond_resched();
	}
	/* The work resets the device, which gives every block back */
	if (err == -EIO)
		return err;
	/* Room was kept for it, and the buffer was back before the start */
	err = fpr_hint_send_id_wait(fpr, false, VIRTIO_BALLOON_CMD_ID_STOP);
	if (err == -EIO)
		return err;
	if (err && err != -ENODEV)
		dev_warn_ratelimited(&fpr->vdev->dev,
				     "cannot end free page hinting run %u: %d\n",
				     id, err);
	return 0;
}

/*
 * The host wrote DONE: every block used so far goes back now, and those
 * still queued once the device has used them (a later run does not
 * hold them up).
 */
static void fpr_hint_done(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;
	struct page *page;

	spin_lock_irq(&h->lock);
	fpr_hint_reap(fpr);
	list_for_each_entry(page, &h->queued, lru)
		set_page_private(page, FPR_HINT_RUN_DONE);
	spin_unlock_irq(&h->lock);
	fpr_hint_return(fpr, ULONG_MAX, FPR_HINT_RETURN_ALL);
}

/*
 * At the host's command: a new id runs, DONE gives the blocks back. Then,
 * while blocks are still with the device or held, look again later (see
 * the top of the file), kicking the device.
 */
static void fpr_hint_work(struct work_struct *work)
{
	struct fpr_hint *h = container_of(to_delayed_work(work),
					  struct fpr_hint, work);
	struct fpr_dev *fpr = container_of(h, struct fpr_dev, hint);
	struct virtqueue *broken;
	unsigned long delay = 0;
	bool waiting;
	int err;
	u32 id;

	/* Acks during a run only wake it */
	spin_lock_irq(&h->lock);
	h->waiting = false;
	broken = fpr_hint_broken_vq(h);
	spin_unlock_irq(&h->lock);
	/* Held blocks never come back from a broken queue (device.c) */
	if (broken)
		fpr_device_broken(fpr, broken);
	/* Reset (a broken queue, a hung device, teardown): it holds none */
	if (fpr_device_is_reset(fpr)) {
		fpr_hint_return(fpr, ULONG_MAX, FPR_HINT_RETURN_ALL);
		return;
	}
	atomic_set(&h->config_pending, 0);
	id = fpr_hint_read_id(fpr);
	WRITE_ONCE(h->id_seen, id);
	/* After STOP or DONE the host may use the same id again (spec) */
	if (!fpr_hint_id_is_run(id))
		h->cmd_id_active = VIRTIO_BALLOON_CMD_ID_STOP;
	while (fpr_hint_id_is_run(id) && id != h->cmd_id_active) {
		if (READ_ONCE(h->stopping) || fpr_device_is_reset(fpr))
			return;
		err = fpr_hint_run(fpr, id);
		if (err == -EIO) {
			/* Reset, which gives every block back */
			fpr_device_broken(fpr, h->vq);
			return;
		}
		if (err) {
			/* Retried later, never at once: no busy loop */
			delay = msecs_to_jiffies(FPR_HINT_RETRY_MS);
			break;
		}
		fpr_hint_update_id(fpr);
		id = READ_ONCE(h->id_seen);
	}
	if (id == VIRTIO_BALLOON_CMD_ID_DONE)
		fpr_hint_done(fpr);
	else
		fpr_hint_return(fpr, ULONG_MAX, FPR_HINT_RETURN_ENDED);

	spin_lock_irq(&h->lock);
	fpr_hint_reap(fpr);
	waiting = !h->stopping && (delay || h->queued_blocks ||
				   h->held_blocks || h->ended_blocks ||
				   h->id_queued || h->stop_queued);
	/* The device used buffers since the last look: look again soon */
	if (h->used != h->used_seen)
		h->poll_ms = FPR_HINT_POLL_MS;
	h->used_seen = h->used;
	if (waiting && !delay) {
		delay = msecs_to_jiffies(h->poll_ms);
		h->poll_ms = min(2 * h->poll_ms, FPR_HINT_POLL_MAX_MS);
	} else if (!waiting) {
		h->poll_ms = FPR_HINT_POLL_MS;
	}
	/* Also before a retry: an unkicked destination never frees the ids */
	if (waiting)
		fpr_hint_notify(fpr);
	h->waiting = waiting;
	if (waiting)
		queue_delayed_work(h->wq, &h->work, delay);
	spin_unlock_irq(&h->lock);
}

/*
 * config_changed: the host may have written a new command id. Also after
 * a device reset (device.c): the blocks go back.
 */
void fpr_hint_changed(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;
	unsigned long flags;

	spin_lock_irqsave(&h->lock, flags);
	atomic_set(&h->config_pending, 1);
	if (!h->stopping && h->vq) {
		h->poll_ms = FPR_HINT_POLL_MS;
		mod_delayed_work(h->wq, &h->work, 0);
	}
	spin_unlock_irqrestore(&h->lock, flags);
	wake_up(&h->acked);
}

static unsigned long fpr_hint_count(struct shrinker *s,
				    struct shrink_control *sc)
{
	struct fpr_hint *h = fpr_shrinker_priv(s, struct fpr_hint, shrinker);
	struct fpr_dev *fpr = container_of(h, struct fpr_dev, hint);
	unsigned long flags, held;

	/*
	 * Also what the device used since the work last looked: a run ends
	 * when the allocator runs dry, so nothing else may look again
	 * before memory runs short
	 */
	spin_lock_irqsave(&h->lock, flags);
	fpr_hint_reap(fpr);
	held = h->held_blocks + h->ended_blocks;
	spin_unlock_irqrestore(&h->lock, flags);
	return held * FPR_HINT_PAGES;
}

/* Memory runs short: give back the blocks the device is done with */
static unsigned long fpr_hint_scan(struct shrinker *s,
				   struct shrink_control *sc)
{
	struct fpr_hint *h = fpr_shrinker_priv(s, struct fpr_hint, shrinker);
	struct fpr_dev *fpr = container_of(h, struct fpr_dev, hint);
	unsigned long n;

	n = fpr_hint_return(fpr, DIV_ROUND_UP(sc->nr_to_scan, FPR_HINT_PAGES),
			    FPR_HINT_RETURN_ALL);
	atomic64_add(n * FPR_HINT_PAGES, &h->shrunk);
	return n ? n * FPR_HINT_PAGES : SHRINK_STOP;
}

void fpr_hint_init(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;

	spin_lock_init(&h->lock);
	INIT_LIST_HEAD(&h->queued);
	INIT_LIST_HEAD(&h->held);
	INIT_LIST_HEAD(&h->ended);
	init_waitqueue_head(&h->acked);
	INIT_DELAYED_WORK(&h->work, fpr_hint_work);
	h->poll_ms = FPR_HINT_POLL_MS;
	h->stopping = true;
}

/* Probe: the work queue and the shrinker, when the device hints */
int fpr_hint_register(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;
	struct shrinker *s;
	int err;

	if (!virtio_has_feature(fpr->vdev, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		return 0;
	h->wq = alloc_workqueue("virtio_fpr-hint/%s",
				WQ_UNBOUND | WQ_FREEZABLE | WQ_HIGHPRI, 0,
				dev_name(&fpr->vdev->dev));
	if (!h->wq) {
		err = -ENOMEM;
		goto err_msg;
	}
	s = fpr_shrinker_create(&h->shrinker, fpr_hint_count, fpr_hint_scan,
				h, "virtio_fpr-hint:%s", dev_name(&fpr->vdev->dev));
	if (IS_ERR(s)) {
		err = PTR_ERR(s);
		goto err_wq;
	}
	h->shrinker_p = s;
	return 0;

err_wq:
	destroy_workqueue(h->wq);
	h->wq = NULL;
err_msg:
	dev_err(&fpr->vdev->dev, "cannot set up free page hinting: %d\n", err);
	return err;
}

/* Remove, after fpr_hint_stop() */
void fpr_hint_unregister(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;

	if (h->shrinker_p)
		fpr_shrinker_destroy(h->shrinker_p);
	h->shrinker_p = NULL;
	if (h->wq)
		destroy_workqueue(h->wq);
	h->wq = NULL;
}

/* find_vqs (probe, restore): the free page queue, or NULL without one */
void fpr_hint_set_vq(struct fpr_dev *fpr, struct virtqueue *vq)
{
	struct fpr_hint *h = &fpr->hint;

	spin_lock_irq(&h->lock);
	h->vq = vq;
	spin_unlock_irq(&h->lock);
}

/* After DRIVER_OK (probe, restore): serve the host's command ids */
void fpr_hint_start(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;

	if (!h->vq || !h->wq)
		return;
	spin_lock_irq(&h->lock);
	h->cmd_id_active = VIRTIO_BALLOON_CMD_ID_STOP;
	h->id_seen = VIRTIO_BALLOON_CMD_ID_STOP;
	h->stopping = false;
	spin_unlock_irq(&h->lock);
	/* A run the host asked for before we were ready */
	fpr_hint_changed(fpr);
}

/*
 * Teardown (remove, freeze; teardown has begun, see device.c): no new
 * run (one under way ends with STOP), then every block back once the
 * device used it, or after it was reset when it does not within
 * FPR_TEARDOWN_SECS. Bounded.
 */
void fpr_hint_stop(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;
	unsigned long start = jiffies;
	struct virtqueue *broken;

	spin_lock_irq(&h->lock);
	h->stopping = true;
	h->waiting = false;
	spin_unlock_irq(&h->lock);
	wake_up_all(&h->acked);
	cancel_delayed_work_sync(&h->work);

	for (;;) {
		fpr_hint_return(fpr, ULONG_MAX, FPR_HINT_RETURN_ALL);
		if (!READ_ONCE(h->queued_blocks) && !READ_ONCE(h->id_queued) &&
		    !READ_ONCE(h->stop_queued))
			break;
		if (fpr_device_reset_overdue(fpr, READ_ONCE(h->queued_blocks),
					     "hinted blocks", start))
			continue;
		spin_lock_irq(&h->lock);
		broken = fpr_hint_broken_vq(h);
		if (!broken)
			fpr_hint_notify(fpr);
		spin_unlock_irq(&h->lock);
		/* It never hands them back: no need to wait for teardown's end */
		if (broken) {
			fpr_device_broken(fpr, broken);
			continue;
		}
		wait_event_idle_timeout(h->acked, fpr_device_is_reset(fpr),
					msecs_to_jiffies(FPR_HINT_POLL_MS));
	}
	spin_lock_irq(&h->lock);
	h->vq = NULL;
	spin_unlock_irq(&h->lock);
	/* What the shrinker reaped since the last look (none is queued) */
	fpr_hint_return(fpr, ULONG_MAX, FPR_HINT_RETURN_ALL);
}

/* sysfs hinting/held: base pages hinted and not yet given back */
unsigned long fpr_hint_held(struct fpr_dev *fpr)
{
	struct fpr_hint *h = &fpr->hint;
	unsigned long flags, n;

	/* One sum: a block moves between the lists under the lock */
	spin_lock_irqsave(&h->lock, flags);
	n = h->queued_blocks + h->held_blocks + h->ended_blocks;
	spin_unlock_irqrestore(&h->lock, flags);
	return n * FPR_HINT_PAGES;
}
