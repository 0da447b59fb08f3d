// SPDX-License-Identifier: GPL-2.0
/*
 * burst_mb: a large free (a process exit, the first flush after loading)
 * is reported in passes FPR_BURST_MS apart instead of the core's 2 s per
 * 1/16 of each free list. policy.c's check calls fpr_burst_watch() (every
 * 250 ms at most, deferrable) and asks fpr_burst_on() for the delay.
 *
 * A burst starts when free memory has grown by burst_mb since the check
 * before and is still there at the next check: churn that takes it back
 * within a check is no burst. Growth the driver itself causes does not
 * count: memory a pass holds isolated while the device works (no check
 * then), hinted blocks given back, balloon deflation (never populated on
 * the host). A burst ends once it has reported as much as it grew, or
 * FPR_BURST_HOLD_MS after its last report.
 *
 * Churn of burst_mb or more (allocate/free cycles of hundreds of MiB)
 * would make every cycle a burst, reported and faulted back each time:
 * when free memory drops by half a burst below its highest since the
 * burst began, during it or within FPR_BURST_REUSE_MS of its end, the
 * burst ends and the next waits a cooldown that doubles each time, up to
 * FPR_BURST_COOLDOWN_MAX_MS, and halves after a burst that stayed free.
 * Nothing is a burst while the back-off is in force, or when delay_ms
 * asks for more than the core's 2 s (the administrator wants it slower).
 *
 * debugfs virtio_fpr/<device>/bursts, bursts_taken_back and
 * burst_cooldown_ms (for the tests).
 */
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/vmstat.h>

#include "fpr.h"

/*
 * Free memory, less what the driver gave back itself (see the top): the
 * counters only grow, so differences between two calls are what counts
 */
static long fpr_burst_free(struct fpr_dev *fpr)
{
	return (long)global_zone_page_state(NR_FREE_PAGES) -
	       (long)atomic64_read(&fpr->hint.returned) -
	       (long)atomic64_read(&fpr->balloon.counters.deflated);
}

static bool fpr_burst_allowed(struct fpr_dev *fpr)
{
	return fpr_param_burst_pages() &&
	       fpr_param_delay_ms() <= FPR_CORE_DELAY_MS &&
	       !fpr_backoff_step(fpr);
}

bool fpr_burst_on(struct fpr_dev *fpr)
{
	return READ_ONCE(fpr->burst.active) && fpr_burst_allowed(fpr);
}

/* Under b->lock: PAGES to report, free memory is FREE now */
static void fpr_burst_begin(struct fpr_dev *fpr, long pages, long free)
{
	struct fpr_burst *b = &fpr->burst;

	b->left = pages;
	b->grown = pages;
	b->peak = free;
	b->until = jiffies + msecs_to_jiffies(FPR_BURST_HOLD_MS);
	b->watching = true;
	WRITE_ONCE(b->active, true);
	b->count++;
}

/* Under b->lock: free memory grew by burst_mb, and no cooldown holds */
static bool fpr_burst_grown(struct fpr_burst *b, long free)
{
	return time_after_eq(jiffies, b->hold_until) &&
	       free - b->mark >= (long)fpr_param_burst_pages();
}

/* Under b->lock: the burst is over; still watch whether it is taken back */
static void fpr_burst_end(struct fpr_dev *fpr)
{
	struct fpr_burst *b = &fpr->burst;

	WRITE_ONCE(b->active, false);
	b->reuse_until = jiffies + msecs_to_jiffies(FPR_BURST_REUSE_MS);
}

/* Under b->lock: is the last burst being taken back? */
static void fpr_burst_judge(struct fpr_dev *fpr, long free)
{
	struct fpr_burst *b = &fpr->burst;

	if (!b->watching)
		return;
	b->peak = max(b->peak, free);
	if (free + b->grown / 2 <= b->peak) {
		b->watching = false;
		b->taken_back++;
		b->cooldown_ms = clamp(2 * b->cooldown_ms,
				       FPR_BURST_COOLDOWN_MIN_MS,
				       FPR_BURST_COOLDOWN_MAX_MS);
		b->hold_until = jiffies + msecs_to_jiffies(b->cooldown_ms);
		if (b->active)
			fpr_burst_end(fpr);
	} else if (!b->active && time_after_eq(jiffies, b->reuse_until)) {
		b->watching = false;
		b->cooldown_ms /= 2;
	}
}

/* The delay check, every 250 ms at most (policy.c) */
void fpr_burst_watch(struct fpr_dev *fpr)
{
	struct fpr_burst *b = &fpr->burst;
	long free;

	/* A pass holds pages isolated: they would look taken and given back */
	if (READ_ONCE(fpr->in_flight))
		return;
	free = fpr_burst_free(fpr);
	spin_lock_irq(&b->lock);
	fpr_burst_judge(fpr, free);
	if (b->active) {
		if (time_after_eq(jiffies, b->until))
			fpr_burst_end(fpr);
	} else if (fpr_burst_allowed(fpr) && fpr_burst_grown(b, free)) {
		if (!b->seen) {
			/* Still there at the next check? Same mark then */
			b->seen = true;
			goto out;
		}
		fpr_burst_begin(fpr, free - b->mark, free);
	}
	b->seen = false;
	b->mark = free;
out:
	spin_unlock_irq(&b->lock);
}

/*
 * Before each report (policy.c): the check is deferrable, so a free that
 * ends before it runs and leaves the CPU idle (a fast guest) is first seen
 * when the core's pass wakes it, 2 s later. The growth is still there:
 * start the burst now, so that the passes after this one come quickly.
 */
void fpr_burst_pass(struct fpr_dev *fpr)
{
	struct fpr_burst *b = &fpr->burst;
	long free;

	if (READ_ONCE(b->active) || !fpr_burst_allowed(fpr))
		return;
	/* No verdict here: the pass holds a batch isolated (see the watch) */
	free = fpr_burst_free(fpr);
	spin_lock_irq(&b->lock);
	if (!b->active && fpr_burst_grown(b, free)) {
		fpr_burst_begin(fpr, free - b->mark, free);
		b->seen = false;
		b->mark = free;
	}
	spin_unlock_irq(&b->lock);
}

/* After each acknowledged report of PAGES base pages */
void fpr_burst_reported(struct fpr_dev *fpr, unsigned long pages)
{
	struct fpr_burst *b = &fpr->burst;
	unsigned long flags;

	if (!READ_ONCE(b->active))
		return;
	spin_lock_irqsave(&b->lock, flags);
	if (b->active) {
		b->left -= min_t(long, pages, b->left);
		b->until = jiffies + msecs_to_jiffies(FPR_BURST_HOLD_MS);
		if (!b->left)
			fpr_burst_end(fpr);
	}
	spin_unlock_irqrestore(&b->lock, flags);
}

/* Reporting (re)starts: its first flush is a large free if large enough */
void fpr_burst_start(struct fpr_dev *fpr)
{
	struct fpr_burst *b = &fpr->burst;
	long free = fpr_burst_free(fpr);
	long now = global_zone_page_state(NR_FREE_PAGES);

	spin_lock_irq(&b->lock);
	b->seen = false;
	b->watching = false;
	b->mark = free;
	if (fpr_burst_allowed(fpr) && now >= (long)fpr_param_burst_pages()) {
		fpr_burst_begin(fpr, now, free);
		/* Memory free at load was not just freed: no reuse verdict */
		b->watching = false;
	}
	spin_unlock_irq(&b->lock);
}

void fpr_burst_init(struct fpr_dev *fpr)
{
	spin_lock_init(&fpr->burst.lock);
}

void fpr_burst_debugfs_add(struct fpr_dev *fpr)
{
	debugfs_create_ulong("bursts", 0400, fpr->debugfs, &fpr->burst.count);
	debugfs_create_u32("burst_cooldown_ms", 0400, fpr->debugfs,
			   &fpr->burst.cooldown_ms);
	debugfs_create_ulong("bursts_taken_back", 0400, fpr->debugfs,
			     &fpr->burst.taken_back);
}
