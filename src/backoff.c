// SPDX-License-Identifier: GPL-2.0
/*
 * Back-off: reporting a block only pays if the guest leaves it alone for a
 * while; if it allocates reported memory again soon, the host has to fault
 * in what it just discarded. A window lasts one delay in force (at least
 * 1 s), so every pass ends one; before the first report of the next pass
 * we count the reported blocks (of this window or earlier ones, see below)
 * that the guest has reallocated since, against those reported in the
 * window. Churn reallocates about as much as it lets us report: if
 * every reported block came back (up to four times as many), the delay
 * goes straight to 2^backoff_max times delay_ms; from half, it doubles.
 * The pass in which the delay grew is deferred: it reports nothing and
 * runs again after the longer delay, so the blocks that gave the verdict
 * are not reported and refaulted once more. One large allocation
 * reallocates far more than is reported meanwhile: that changes nothing.
 * Under a quarter, or nothing reported for two windows, and the delay goes
 * back to delay_ms. So does a window as soon as it has reported
 * FPR_BACKOFF_BURST: that is a large free, not churn, and is not held back
 * by a delay that churn before it had lengthened. Nothing is judged during
 * the first flush after (re)registration, until half of the memory free
 * then was reported or reporting went idle: memory the flush has not
 * reached yet is unreported, so an allocation then takes few of the
 * reported blocks, and one allocate/free cycle would look like churn. The
 * flush's blocks are then forgotten: only reuse of blocks reported after
 * it is judged.
 *
 * The reported blocks are kept as (first pfn, order), oldest first, until
 * they are found reused: with much memory free, churn may come back to
 * them only after many windows (the core puts reported blocks at the tail
 * of the free lists). At most bo->cap are kept, which bounds the scan: a
 * report that finds them all kept forgets the oldest quarter, so new
 * reports are always counted and judged. A block came back unless its
 * first page is still in a free buddy block: of its own order and marked
 * reported, or of a higher order (it merged with a freed buddy: the host
 * still has it discarded, or it was reallocated and freed meanwhile, which
 * we cannot tell apart). Free at its own order but no longer marked
 * reported, or at a lower one, it was reallocated (a merge raises the
 * order; the core marks a block it puts back unmerged). Free pages being
 * reported in the current batch are not in a buddy block: a block that
 * merged into one of them counts as reused (at most one batch a window).
 *
 * Memory hot-remove: a memory notifier forgets the blocks in memory going
 * offline (rounded out to whole blocks of FPR_MAX_ORDER, all that a
 * block's check reads) and tracks none there until the range is offline
 * or stays online, so a scan never reads the struct pages of memory being
 * removed. Blocks are tracked by pfn, so memory hot-added later is tracked
 * like the rest. bo->lock serialises report() (the scan and accounting,
 * one pass at a time, from the core), the notifier and reset.
 */
#include <linux/jiffies.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/notifier.h>
#include <linux/page-flags.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "fpr.h"

/* Blocks tracked at most (256 KiB of them), and one per 32 pages of RAM */
#define FPR_BACKOFF_MAX_BLOCKS	32768UL
#define FPR_BACKOFF_RAM_SHIFT	5
#define FPR_BACKOFF_MIN_CAP	256UL
/* Too few reported in a window to judge from */
#define FPR_BACKOFF_MIN_BLOCKS	4UL
/* So much reported in a window: a large free, back to delay_ms now */
#define FPR_BACKOFF_BURST	(SZ_128M >> PAGE_SHIFT)
/* A tracked block: pfn << FPR_BACKOFF_ORDER_BITS | order */
#define FPR_BACKOFF_ORDER_BITS	5
#define FPR_BACKOFF_ORDER_MASK	(BIT(FPR_BACKOFF_ORDER_BITS) - 1)
/* What a block's check may read around its first page: its buddy block */
#define FPR_BACKOFF_SPAN	BIT(FPR_MAX_ORDER)

static int fpr_backoff_mem_event(struct notifier_block *nb,
				 unsigned long action, void *data);

void fpr_backoff_init(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	struct device *dev = &fpr->vdev->dev;
	int err;

	BUILD_BUG_ON(FPR_MAX_ORDER > FPR_BACKOFF_ORDER_MASK);
	mutex_init(&bo->lock);
	bo->cap = clamp(totalram_pages() >> FPR_BACKOFF_RAM_SHIFT,
			FPR_BACKOFF_MIN_CAP, FPR_BACKOFF_MAX_BLOCKS);
	bo->blocks = kvcalloc(bo->cap, sizeof(*bo->blocks), GFP_KERNEL);
	if (!bo->blocks) {
		dev_warn(dev, "no memory to track reuse: reporting without back-off\n");
		return;
	}
	bo->mem_nb.notifier_call = fpr_backoff_mem_event;
	err = register_memory_notifier(&bo->mem_nb);
	if (err) {
		dev_warn(dev, "cannot follow memory hotplug (%d): reporting without back-off\n",
			 err);
		goto err_free;
	}
	bo->mem_nb_registered = true;
	return;

err_free:
	kvfree(bo->blocks);
	bo->blocks = NULL;
}

/* After fpr_backoff_init(), failed or not; reporting is stopped */
void fpr_backoff_free(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;

	/* Waits for a running notifier: none runs after this */
	if (bo->mem_nb_registered)
		unregister_memory_notifier(&bo->mem_nb);
	bo->mem_nb_registered = false;
	kvfree(bo->blocks);
	bo->blocks = NULL;
}

/* Reporting (re)starts: nothing reported yet, no back-off */
void fpr_backoff_reset(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	struct sysinfo si;

	si_meminfo(&si);
	mutex_lock(&bo->lock);
	bo->flush_left = si.freeram / 2;
	bo->flushing = true;
	WRITE_ONCE(bo->nr, 0);
	bo->reported = 0;
	bo->reported_pages = 0;
	bo->window_start = jiffies;
	WRITE_ONCE(bo->last_report, jiffies);
	WRITE_ONCE(bo->level, 0);
	mutex_unlock(&bo->lock);
}

/* Reported blocks tracked now (sysfs reporting/tracked_blocks) */
unsigned long fpr_backoff_tracked(struct fpr_dev *fpr)
{
	return READ_ONCE(fpr->backoff.nr);
}

/* The window length at back-off step STEP: one delay, so one pass */
static unsigned long fpr_backoff_window(unsigned int step)
{
	return max_t(unsigned long, msecs_to_jiffies(fpr_delay_at(step)), HZ);
}

/* The back-off step in force: delay_ms is multiplied by 2^step */
unsigned int fpr_backoff_step(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned int step = min(READ_ONCE(bo->level), fpr_param_backoff_max());

	/* Nothing reported for two windows: the churn is over */
	if (step && time_after(jiffies, READ_ONCE(bo->last_report) +
					2 * fpr_backoff_window(step)))
		return 0;
	return step;
}

/*
 * The order of the free buddy block that holds the page at PFN, or -1 if
 * that page is not free (allocated, on a per-CPU list, isolated); *head is
 * the block's first page. Unlocked, like is_free_buddy_page(), which does
 * not give the order: page_private() of a buddy page can change under us,
 * so only an order that is a buddy order and covers PFN is taken, and the
 * walk stays in the FPR_BACKOFF_SPAN block of PFN. A race misjudges one
 * block.
 */
static int fpr_backoff_buddy(unsigned long pfn, struct page **head)
{
	struct page *page = pfn_to_online_page(pfn);
	unsigned long order;
	unsigned int o;

	if (!page)
		return -1;
	for (o = 0; o <= FPR_MAX_ORDER; o++) {
		*head = page - (pfn & (BIT(o) - 1));
		/* data_race: unlocked, as compaction scans */
		if (!data_race(PageBuddy(*head)))
			continue;
		/* data_race: as above; an order is checked before use */
		order = data_race(page_private(*head));
		if (order >= o && order <= FPR_MAX_ORDER)
			return order;
	}
	return -1;
}

/* Has the guest reallocated the tracked block BLOCK? See the top */
static bool fpr_backoff_reused_block(unsigned long block)
{
	int order = block & FPR_BACKOFF_ORDER_MASK;
	struct page *head;
	int free;

	free = fpr_backoff_buddy(block >> FPR_BACKOFF_ORDER_BITS, &head);
	if (free < order)
		return true;
	if (free > order)
		return false;
	/* data_race: as above. Not PageReported(): it asserts !compound */
	return !data_race(test_bit(PG_reported, fpr_page_flags(head)));
}

/* End of a window: forget the tracked blocks reallocated; how many? */
static unsigned long fpr_backoff_scan(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned int i, kept = 0;

	for (i = 0; i < bo->nr; i++)
		if (!fpr_backoff_reused_block(bo->blocks[i]))
			bo->blocks[kept++] = bo->blocks[i];
	WRITE_ONCE(bo->nr, kept);
	atomic64_add(i - kept, &fpr->stats.reused);
	return i - kept;
}

/* The step after a window: REPORTED blocks reported in it, REUSED since */
static unsigned int fpr_backoff_judge(struct fpr_dev *fpr, unsigned int level,
				      unsigned long reported,
				      unsigned long reused, bool idle)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned int max = fpr_param_backoff_max();

	/* Nothing reported for two windows: blocks came back slowly */
	if (idle || reused * 4 < reported ||
	    bo->reported_pages >= FPR_BACKOFF_BURST)
		return 0;
	/* The first flush is on, too little to judge, or a large allocation */
	if (bo->flush_left || reported < FPR_BACKOFF_MIN_BLOCKS ||
	    reused > reported * 4)
		return level;
	/* All of it came back: churn, whatever the delay was */
	if (reused >= reported)
		return max;
	if (reused * 2 >= reported && level < max)
		return level + 1;
	return level;
}

/*
 * Called before each report. At the end of a window, judge it and start
 * the next one; true if the step grew: the caller defers this pass, queues
 * the next one and then has delay.c move it (fpr_delay_kick()).
 */
bool fpr_backoff_defer(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned long window, now = jiffies;
	unsigned int old, level;
	bool idle, grew = false, kick = false;

	mutex_lock(&bo->lock);
	if (!bo->blocks)
		goto out;
	old = fpr_backoff_step(fpr);
	window = fpr_backoff_window(READ_ONCE(bo->level));
	if (time_before(now, bo->window_start + window) &&
	    bo->reported_pages < FPR_BACKOFF_BURST)
		goto out;
	idle = time_after_eq(now, READ_ONCE(bo->last_report) + 2 * window);
	if (idle)
		bo->flush_left = 0;
	if (bo->flushing && !bo->flush_left) {
		/*
		 * The first flush just ended. What the guest reallocated of
		 * it meanwhile (one allocate/free cycle, say) is no churn:
		 * forget its blocks and judge those reported from now on.
		 */
		bo->flushing = false;
		WRITE_ONCE(bo->nr, 0);
		level = old;
	} else {
		level = fpr_backoff_judge(fpr, old, bo->reported,
					  fpr_backoff_scan(fpr), idle);
	}
	bo->window_start = now;
	bo->reported = 0;
	bo->reported_pages = 0;
	if (level != READ_ONCE(bo->level)) {
		WRITE_ONCE(bo->level, level);
		grew = level > old;
		kick = !grew;
	}
out:
	mutex_unlock(&bo->lock);
	if (kick)
		fpr_delay_kick(fpr);
	return grew;
}

/* Called with every acknowledged report */
void fpr_backoff_account(struct fpr_dev *fpr, struct scatterlist *sgl,
			 unsigned int nents)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned int i, drop = bo->cap / 4;
	unsigned long pfn, pages;
	struct scatterlist *sg;

	mutex_lock(&bo->lock);
	if (!bo->blocks)
		goto out;
	WRITE_ONCE(bo->last_report, jiffies);
	for_each_sg(sgl, sg, nents, i) {
		pages = sg->length >> PAGE_SHIFT;
		bo->reported_pages += pages;
		bo->flush_left -= min(bo->flush_left, pages);
		pfn = page_to_pfn(sg_page(sg));
		if (pfn >= bo->off_start && pfn < bo->off_end)
			continue;
		/* All kept: forget the oldest quarter, count this one */
		if (bo->nr == bo->cap) {
			memmove(bo->blocks, bo->blocks + drop,
				(bo->cap - drop) * sizeof(*bo->blocks));
			WRITE_ONCE(bo->nr, bo->cap - drop);
		}
		/* One block per entry, of PAGE_SIZE << order */
		bo->blocks[bo->nr] = pfn << FPR_BACKOFF_ORDER_BITS |
				     get_order(sg->length);
		WRITE_ONCE(bo->nr, bo->nr + 1);
		bo->reported++;
	}
out:
	mutex_unlock(&bo->lock);
}

/* Under bo->lock: forget the tracked blocks in [START, END) */
static void fpr_backoff_forget(struct fpr_backoff *bo, unsigned long start,
			       unsigned long end)
{
	unsigned int i, kept = 0;
	unsigned long pfn;

	for (i = 0; i < bo->nr; i++) {
		pfn = bo->blocks[i] >> FPR_BACKOFF_ORDER_BITS;
		if (pfn < start || pfn >= end)
			bo->blocks[kept++] = bo->blocks[i];
	}
	WRITE_ONCE(bo->nr, kept);
}

/*
 * Memory going offline may be removed once offline: forget its blocks and
 * track none there until then (or until it stays online). The pages the
 * core isolated for a report are not free: offlining waits for them, so a
 * report of that memory is accounted before it is offline.
 */
static int fpr_backoff_mem_event(struct notifier_block *nb,
				 unsigned long action, void *data)
{
	struct fpr_backoff *bo = container_of(nb, struct fpr_backoff, mem_nb);
	struct memory_notify *mn = data;
	unsigned long start, end;

	switch (action) {
	case MEM_GOING_OFFLINE:
		start = round_down(mn->start_pfn, FPR_BACKOFF_SPAN);
		end = round_up(mn->start_pfn + mn->nr_pages, FPR_BACKOFF_SPAN);
		mutex_lock(&bo->lock);
		/* One at a time (mem_hotplug_lock); should two overlap */
		if (bo->off_end) {
			start = min(start, bo->off_start);
			end = max(end, bo->off_end);
		}
		bo->off_start = start;
		bo->off_end = end;
		fpr_backoff_forget(bo, start, end);
		mutex_unlock(&bo->lock);
		break;
	case MEM_OFFLINE:
	case MEM_CANCEL_OFFLINE:
		mutex_lock(&bo->lock);
		bo->off_start = 0;
		bo->off_end = 0;
		mutex_unlock(&bo->lock);
		break;
	}
	return NOTIFY_OK;
}
