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
 * The delay grows only when a second window calls for it before one
 * clears it (under a quarter, idle or a burst; a window that tracked
 * fewer than FPR_BACKOFF_MIN_BLOCKS is no evidence either way:
 * before, one such window between two calling for a rise cleared the
 * suspicion; so a trickle of fewer a window keeps the step until a
 * window judges, two pass without a report, or a burst): a single
 * allocate/free cycle after the flush can take back, in one window, about
 * as many reported blocks as that window reported (measured on 6.1: a
 * 1 GiB one, judged alone, sent the delay to the top step now and then).
 * The pass in which the delay grew is deferred: it reports nothing and
 * runs again after the longer delay, so the blocks that gave the verdict
 * are not reported and refaulted once more. One large allocation
 * reallocates far more than is reported meanwhile: that changes nothing.
 * Under a quarter, or nothing reported for two windows, and the delay goes
 * back to delay_ms. So does a window as soon as it has reported
 * FPR_BACKOFF_BURST of which under half came back: that is a large free,
 * not churn, and is not held back by a delay that churn before it had
 * lengthened. Nothing is judged during
 * the first flush after (re)registration, until half of the memory free
 * then was reported or reporting went idle: memory the flush has not
 * reached yet is unreported, so an allocation then takes few of the
 * reported blocks, and one allocate/free cycle would look like churn.
 *
 * The reported blocks are tracked in a bitmap over the guest's page frames,
 * one bit per 2^chunk_order pages, set at the block's first page: a block
 * is still reported while that page is a free buddy page marked reported
 * (core.c). A block no longer reported was reallocated, or merged with a
 * freed buddy: free, its memory still discarded on the host. At the end
 * of a window a block that is allocated now is reused. One that is free
 * again (or in the batch the core is about to report) may have merged, or
 * been reallocated and freed within the window: a churn that allocates
 * and frees within milliseconds looks like that. The allocator's own
 * count tells them apart in bulk: of the blocks free again, as many as
 * the pages allocated in the window could have filled (at the smallest
 * block tracked) count as reused, the rest as merged (debugfs). Under
 * churn that is all of them; when freed pages merge with reported blocks
 * and little is allocated (7.2-arm64-16k: the per-CPU lists drain into
 * the buddy lists for about 10 s after a churn, which held the back-off
 * up), few. Without CONFIG_VM_EVENT_COUNTERS all count as reused. The
 * rule for one large allocation above still sees its blocks: held, or
 * freed again within what it allocated.
 * At most bo->cap blocks are tracked (one per 32 pages of RAM, at most
 * 32768: it bounds the scan); a window that had to leave a report
 * untracked for want of room clears the map after its judgement, so
 * every window judges the blocks it reported. (Before, the map was
 * cleared only if still full once the reused blocks were forgotten: with
 * a few reused each window, it stayed full and the verdict froze.)
 *
 * Memory hotplug: a memory notifier forgets the blocks in memory going
 * offline (a check reads only a block's first page) and tracks none there
 * until the range is offline or stays online, so a scan never reads the
 * struct pages of memory being removed; memory onlined above the map
 * grows it. bo->lock serialises report() (scan and accounting, one pass
 * at a time, from the core), the notifier and reset.
 *
 * debugfs virtio_fpr/<device>/backoff (for the tests): the memory the map
 * covers, the blocks it tracks, and the blocks found merged.
 */
#include <linux/bitmap.h>
#include <linux/compiler.h>
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/mutex.h>
#include <linux/nodemask.h>
#include <linux/notifier.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmstat.h>

#include "fpr.h"

/* Bits in the map at most (256 KiB): 4 KiB chunks up to 8 GiB of RAM */
#define FPR_BACKOFF_MAX_BITS	BIT(21)
/* Blocks tracked at most, bounding the work at the end of a window */
#define FPR_BACKOFF_MAX_BLOCKS	32768UL
#define FPR_BACKOFF_MIN_CAP	256UL
#define FPR_BACKOFF_RAM_SHIFT	5
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

/* Chunk order so that pfns below END fit in FPR_BACKOFF_MAX_BITS bits */
static unsigned int fpr_chunk_order(unsigned long end)
{
	unsigned int order = 0;

	while ((end >> order) >= FPR_BACKOFF_MAX_BITS)
		order++;
	return order;
}

/*
 * Cover the pfns below END: a larger map, same chunks (bits kept) or
 * larger ones (map cleared). False if there is no memory for it.
 */
static bool fpr_backoff_cover(struct fpr_backoff *bo, unsigned long end)
{
	unsigned int order = fpr_chunk_order(end);
	unsigned long nbits = (end >> order) + 1;
	unsigned long *map, *old;

	map = kvcalloc(BITS_TO_LONGS(nbits), sizeof(long), GFP_KERNEL);
	if (!map)
		return false;
	mutex_lock(&bo->lock);
	old = bo->map;
	if (old && order == bo->chunk_order) {
		bitmap_copy(map, old, min(nbits, bo->nbits));
	} else {
		bo->tracked = 0;
		bo->full = false;
		bo->reported = 0;
		bo->min_pages = 0;
	}
	bo->map = map;
	bo->nbits = nbits;
	bo->chunk_order = order;
	mutex_unlock(&bo->lock);
	kvfree(old);
	return true;
}

static int fpr_backoff_mem_event(struct notifier_block *nb,
				 unsigned long action, void *data);

void fpr_backoff_init(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	struct device *dev = &fpr->vdev->dev;
	int err;

	mutex_init(&bo->lock);
	bo->cap = clamp(totalram_pages() >> FPR_BACKOFF_RAM_SHIFT,
			FPR_BACKOFF_MIN_CAP, FPR_BACKOFF_MAX_BLOCKS);
	if (!fpr_backoff_cover(bo, fpr_end_pfn())) {
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
	kvfree(bo->map);
	bo->map = NULL;
}

/* After fpr_backoff_init(), failed or not; reporting has stopped */
void fpr_backoff_free(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;

	/* Waits for a running notifier: none runs after this */
	if (bo->mem_nb_registered)
		unregister_memory_notifier(&bo->mem_nb);
	bo->mem_nb_registered = false;
	kvfree(bo->map);
	bo->map = NULL;
}

/*
 * Pages the allocator has handed out since boot (PGALLOC), or 0 if not
 * counted. Unlocked, not all_vm_events(): report() holds the core's batch
 * isolated, and memory offline waits for those pages holding the CPU
 * hotplug lock. A CPU's counts folded into another's meanwhile can make
 * the sum jump or drop: the window's difference is then too large, and
 * its blocks free again all count as reused.
 */
static unsigned long fpr_backoff_allocs(void)
{
	unsigned long sum = 0;
#ifdef CONFIG_VM_EVENT_COUNTERS
	enum zone_type z;
	int cpu;

	/* ZONE_DEVICE pages never come from the allocator: no PGALLOC */
	for_each_possible_cpu(cpu)
		for (z = 0; z <= ZONE_MOVABLE; z++)
			sum += per_cpu(vm_event_states, cpu)
				.event[PGALLOC_NORMAL - ZONE_NORMAL + z];
#endif
	return sum;
}

/* Reporting (re)starts: nothing reported yet, no back-off */
void fpr_backoff_reset(struct fpr_dev *fpr)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned long allocs = fpr_backoff_allocs();
	struct sysinfo si;

	si_meminfo(&si);
	mutex_lock(&bo->lock);
	bo->flush_left = si.freeram / 2;
	if (bo->map)
		bitmap_zero(bo->map, bo->nbits);
	bo->tracked = 0;
	bo->full = false;
	bo->reported = 0;
	bo->reported_pages = 0;
	bo->min_pages = 0;
	bo->allocs = allocs;
	bo->suspect = false;
	bo->window_start = jiffies;
	WRITE_ONCE(bo->last_report, jiffies);
	WRITE_ONCE(bo->level, 0);
	mutex_unlock(&bo->lock);
}

/* The window length at back-off step STEP: one delay, so one pass */
static unsigned long fpr_backoff_window(unsigned int step)
{
	return max_t(unsigned long, msecs_to_jiffies(fpr_param_delay_at(step)),
		     HZ);
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

/* Is PFN in the report the core is about to send (SGL, NENTS entries)? */
static bool fpr_backoff_in_report(unsigned long pfn, struct scatterlist *sgl,
				  unsigned int nents)
{
	struct scatterlist *sg;
	unsigned long first;
	unsigned int i;

	for_each_sg(sgl, sg, nents, i) {
		first = page_to_pfn(sg_page(sg));
		if (pfn >= first && pfn < first + (sg->length >> PAGE_SHIFT))
			return true;
	}
	return false;
}

/*
 * Forget tracked blocks the guest has reallocated; return how many. If a
 * report of this window found no room, forget them all: the next window
 * tracks what it reports. Called with bo->lock held.
 */
static unsigned long fpr_backoff_reused(struct fpr_dev *fpr,
					struct scatterlist *sgl,
					unsigned int nents,
					unsigned long allocs)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned long bit, pfn, seen = 0, reused = 0, again = 0, filled;

	for_each_set_bit(bit, bo->map, bo->nbits) {
		pfn = bit << bo->chunk_order;
		if (!(++seen % 1024))
			cond_resched();
		if (fpr_core_block_reported(pfn))
			continue;
		__clear_bit(bit, bo->map);
		bo->tracked--;
		if (fpr_core_pfn_free(pfn) ||
		    fpr_backoff_in_report(pfn, sgl, nents))
			again++;
		else
			reused++;
	}
	/* Blocks free again the window's allocations could have filled */
	filled = again;
	if (allocs && bo->allocs && bo->min_pages)
		filled = min(again, (allocs - bo->allocs) / bo->min_pages);
	reused += filled;
	bo->merged += again - filled;
	bo->allocs = allocs;
	atomic64_add(reused, &fpr->stats.reused);
	/*
	 * Judged after the blocks found reused are forgotten: the map may
	 * have room for a few again, but this window had none for some of
	 * its reports, and the next would track little more than those few
	 */
	if (bo->full) {
		bitmap_zero(bo->map, bo->nbits);
		bo->tracked = 0;
		bo->full = false;
	}
	if (!bo->tracked)
		bo->min_pages = 0;
	return reused;
}

/* The step after a window: bo->reported blocks reported, REUSED since */
static unsigned int fpr_backoff_judge(struct fpr_dev *fpr, unsigned int level,
				      unsigned long reused, bool idle)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned int top = fpr_param_backoff_max();

	/* Nothing reported for two windows: blocks came back slowly */
	if (idle) {
		bo->suspect = false;
		return 0;
	}
	/*
	 * So much reported, and under half of it back: a large free. (A
	 * window of the top step can report 128 MiB of churn: 7.2 did, and
	 * the step fell from 3 to 0 under a 64 MiB loop.)
	 */
	if (bo->reported_pages >= FPR_BACKOFF_BURST &&
	    reused * 2 < bo->reported) {
		bo->suspect = false;
		return 0;
	}
	/* Too little to judge: it neither raises nor clears */
	if (bo->reported < FPR_BACKOFF_MIN_BLOCKS)
		return level;
	if (reused * 4 < bo->reported) {
		bo->suspect = false;
		return 0;
	}
	/* The first flush is on, or a large allocation */
	if (bo->flush_left || reused > bo->reported * 4)
		return level;
	/* All of it came back: churn, whatever the delay was */
	if (reused >= bo->reported)
		return top;
	if (reused * 2 >= bo->reported && level < top)
		return level + 1;
	return level;
}

/*
 * Called before each report (policy.c), of SGL (NENTS entries). At the end
 * of a window, judge it and start the next one. Returns 1 if the step grew
 * (the caller defers this pass), -1 if it fell (the caller moves the
 * pending pass), else 0.
 */
int fpr_backoff_window_end(struct fpr_dev *fpr, struct scatterlist *sgl,
			   unsigned int nents)
{
	struct fpr_backoff *bo = &fpr->backoff;
	unsigned long allocs, window, now = jiffies;
	unsigned int old, level;
	bool idle;

	if (!bo->map)
		return 0;
	old = fpr_backoff_step(fpr);
	window = fpr_backoff_window(READ_ONCE(bo->level));
	if (time_before(now, bo->window_start + window) &&
	    bo->reported_pages < FPR_BACKOFF_BURST)
		return 0;
	idle = time_after_eq(now, READ_ONCE(bo->last_report) + 2 * window);
	allocs = fpr_backoff_allocs();
	mutex_lock(&bo->lock);
	if (idle)
		bo->flush_left = 0;
	level = fpr_backoff_judge(fpr, old,
				  fpr_backoff_reused(fpr, sgl, nents, allocs),
				  idle);
	/* A rise needs a second window that calls for one before any clears */
	if (level > old && !bo->suspect) {
		bo->suspect = true;
		level = old;
	} else if (level > old) {
		bo->suspect = false;
	}
	bo->window_start = now;
	bo->reported = 0;
	bo->reported_pages = 0;
	mutex_unlock(&bo->lock);
	if (level == READ_ONCE(bo->level))
		return 0;
	WRITE_ONCE(bo->level, level);
	return level > old ? 1 : -1;
}

/* Called with every acknowledged report */
void fpr_backoff_account(struct fpr_dev *fpr, struct scatterlist *sgl,
			 unsigned int nents)
{
	struct fpr_backoff *bo = &fpr->backoff;
	struct scatterlist *sg;
	unsigned long pfn, pages;
	unsigned int i;

	if (!bo->map)
		return;
	WRITE_ONCE(bo->last_report, jiffies);
	mutex_lock(&bo->lock);
	for_each_sg(sgl, sg, nents, i) {
		pages = sg->length >> PAGE_SHIFT;
		bo->reported_pages += pages;
		bo->flush_left -= min(bo->flush_left, pages);
		pfn = page_to_pfn(sg_page(sg));
		/* Blocks are aligned to their size: smaller ones are skipped */
		if (sg->length < (PAGE_SIZE << bo->chunk_order) ||
		    (pfn >> bo->chunk_order) >= bo->nbits ||
		    (pfn >= bo->off_start && pfn < bo->off_end))
			continue;
		if (bo->tracked >= bo->cap) {
			bo->full = true;
			continue;
		}
		if (!__test_and_set_bit(pfn >> bo->chunk_order, bo->map))
			bo->tracked++;
		if (!bo->min_pages || pages < bo->min_pages)
			bo->min_pages = pages;
		bo->reported++;
	}
	mutex_unlock(&bo->lock);
}

/* Forget the blocks in [START, END) pfns; called with bo->lock held */
static void fpr_backoff_forget(struct fpr_backoff *bo, unsigned long start,
			       unsigned long end)
{
	unsigned long bit, first = start >> bo->chunk_order;
	unsigned long last = min(DIV_ROUND_UP(end, BIT(bo->chunk_order)),
				 bo->nbits);

	for (bit = first; bit < last; bit++)
		if (__test_and_clear_bit(bit, bo->map))
			bo->tracked--;
}

static int fpr_backoff_mem_event(struct notifier_block *nb,
				 unsigned long action, void *data)
{
	struct fpr_backoff *bo = container_of(nb, struct fpr_backoff, mem_nb);
	struct fpr_dev *fpr = container_of(bo, struct fpr_dev, backoff);
	struct memory_notify *mn = data;
	unsigned long covered, start = mn->start_pfn;
	unsigned long end = start + mn->nr_pages;

	switch (action) {
	case MEM_GOING_OFFLINE:
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
	case MEM_ONLINE:
		mutex_lock(&bo->lock);
		covered = bo->nbits << bo->chunk_order;
		mutex_unlock(&bo->lock);
		if (end > covered && !fpr_backoff_cover(bo, end))
			dev_warn_once(&fpr->vdev->dev, "no memory to track reuse above %lu MiB: the back-off ignores memory there\n",
				      covered >> (20 - PAGE_SHIFT));
		break;
	}
	return NOTIFY_OK;
}

static int fpr_backoff_show(struct seq_file *m, void *v)
{
	struct fpr_backoff *bo = m->private;

	mutex_lock(&bo->lock);
	seq_printf(m, "covered_mib %lu\ntracked %lu\ncap %lu\nmerged %lu\n",
		   bo->map ? (bo->nbits << bo->chunk_order) >> (20 - PAGE_SHIFT) :
		   0, bo->tracked, bo->cap, bo->merged);
	mutex_unlock(&bo->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fpr_backoff);

/* Under fpr->debugfs, removed with it before fpr_backoff_free() */
void fpr_backoff_debugfs_add(struct fpr_dev *fpr)
{
	debugfs_create_file("backoff", 0400, fpr->debugfs, &fpr->backoff,
			    &fpr_backoff_fops);
}
