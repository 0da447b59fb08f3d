// SPDX-License-Identifier: GPL-2.0
/*
 * Back-off: reporting a block only pays if the guest leaves it alone for a
 * while; if it allocates reported memory again soon, the host has to fault
 * in what it just discarded. A window lasts one delay in force (at least
 * 1 s), so every pass ends one; before the first report of the next pass
 * we count the blocks reported in the window that the guest has since
 * reallocated. Churn reallocates about as much as it lets us report: if
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
 * reported blocks, and one allocate/free cycle would look like churn.
 *
 * The reported blocks are tracked in a bitmap over the guest's page frames,
 * one bit per 2^chunk_order pages, set at the block's first page: a block
 * is still reported while that page is a free buddy page marked reported.
 * Only report() (one pass at a time, from the core) uses the bitmap.
 */
#include <linux/bitmap.h>
#include <linux/compiler.h>
#include <linux/jiffies.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/nodemask.h>
#include <linux/page-flags.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "fpr.h"

/* Bits in the map at most (256 KiB): 4 KiB chunks up to 8 GiB of RAM */
#define FPR_BACKOFF_MAX_BITS	BIT(21)
/* Blocks tracked at most, bounding the work at the end of a window */
#define FPR_BACKOFF_MAX_BLOCKS	65536UL
/* Too few reported in a window to judge from */
#define FPR_BACKOFF_MIN_BLOCKS	4UL
/* So much reported in a window: a large free, back to delay_ms now */
#define FPR_BACKOFF_BURST	(SZ_128M >> PAGE_SHIFT)

static unsigned long fpr_end_pfn(void)
{
	unsigned long end = 0;
	int nid;

	for_each_online_node(nid)
		end = max(end, pgdat_end_pfn(NODE_DATA(nid)));
	return end;
}

void fpr_backoff_init(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned long end = fpr_end_pfn();

	while ((end >> bo->chunk_order) >= FPR_BACKOFF_MAX_BITS)
		bo->chunk_order++;
	bo->nbits = (end >> bo->chunk_order) + 1;
	bo->map = bitmap_zalloc(bo->nbits, GFP_KERNEL);
	if (!bo->map)
		dev_warn(&fpr->vdev->dev, "no memory to track reuse: reporting without back-off\n");
}

void fpr_backoff_free(struct fpr_dev *fpr)
{
	bitmap_free(fpr->backoff.map);
	fpr->backoff.map = NULL;
}

/* Reporting (re)starts: nothing reported yet, no back-off */
void fpr_backoff_reset(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	struct sysinfo si;

	si_meminfo(&si);
	bo->flush_left = si.freeram / 2;

	if (bo->map)
		bitmap_zero(bo->map, bo->nbits);
	bo->tracked = 0;
	bo->reported = 0;
	bo->reported_pages = 0;
	bo->window_start = jiffies;
	WRITE_ONCE(bo->last_report, jiffies);
	WRITE_ONCE(bo->level, 0);
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

/* Is the block starting at PFN still free and reported? */
static bool fpr_still_reported(unsigned long pfn)
{
	struct page *page = pfn_to_online_page(pfn);

	if (!page)
		return false;
	/* data_race: unlocked, as compaction scans; a miss misjudges a block */
	if (!data_race(PageBuddy(page)))
		return false;
	/* data_race: as above. Not PageReported(): it asserts !compound */
	return data_race(test_bit(PG_reported, fpr_page_flags(page)));
}

/* Forget tracked blocks the guest has reallocated; return how many */
static unsigned long fpr_backoff_reused(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned long bit, reused = 0;

	for_each_set_bit(bit, bo->map, bo->nbits) {
		if (fpr_still_reported(bit << bo->chunk_order))
			continue;
		__clear_bit(bit, bo->map);
		reused++;
	}
	bo->tracked -= reused;
	atomic64_add(reused, &fpr->stats.reused);
	return reused;
}

/* The step after a window: bo->reported blocks reported, REUSED since */
static unsigned int fpr_backoff_judge(struct fpr_dev *fpr, unsigned int level,
				      unsigned long reused, bool idle)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned int max = fpr_param_backoff_max();

	/* Nothing reported for two windows: blocks came back slowly */
	if (idle || reused * 4 < bo->reported ||
	    bo->reported_pages >= FPR_BACKOFF_BURST)
		return 0;
	/* The first flush is on, too little to judge, or a large allocation */
	if (bo->flush_left || bo->reported < FPR_BACKOFF_MIN_BLOCKS ||
	    reused > bo->reported * 4)
		return level;
	/* All of it came back: churn, whatever the delay was */
	if (reused >= bo->reported)
		return max;
	if (reused * 2 >= bo->reported && level < max)
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
	bool idle;

	if (!bo->map)
		return false;
	old = fpr_backoff_step(fpr);
	window = fpr_backoff_window(READ_ONCE(bo->level));
	if (time_before(now, bo->window_start + window) &&
	    bo->reported_pages < FPR_BACKOFF_BURST)
		return false;
	idle = time_after_eq(now, READ_ONCE(bo->last_report) + 2 * window);
	if (idle)
		bo->flush_left = 0;
	level = fpr_backoff_judge(fpr, old, fpr_backoff_reused(fpr), idle);
	bo->window_start = now;
	bo->reported = 0;
	bo->reported_pages = 0;
	if (level == READ_ONCE(bo->level))
		return false;
	WRITE_ONCE(bo->level, level);
	if (level > old)
		return true;
	fpr_delay_kick(fpr);
	return false;
}

/* Called with every acknowledged report */
void fpr_backoff_account(struct fpr_dev *fpr, struct scatterlist *sgl,
			 unsigned int nents)
{
	struct fpr_backoff *bo = &fpr->backoff;
	struct scatterlist *sg;
	unsigned long pfn;
	unsigned int i;

	if (!bo->map)
		return;
	WRITE_ONCE(bo->last_report, jiffies);
	for_each_sg(sgl, sg, nents, i) {
		bo->reported_pages += sg->length >> PAGE_SHIFT;
		bo->flush_left -= min(bo->flush_left,
				      (unsigned long)sg->length >> PAGE_SHIFT);
		pfn = page_to_pfn(sg_page(sg));
		/* Blocks are aligned to their size: smaller ones are skipped */
		if (sg->length < (PAGE_SIZE << bo->chunk_order) ||
		    (pfn >> bo->chunk_order) >= bo->nbits ||
		    bo->tracked >= FPR_BACKOFF_MAX_BLOCKS)
			continue;
		if (!__test_and_set_bit(pfn >> bo->chunk_order, bo->map))
			bo->tracked++;
		bo->reported++;
	}
}
