// SPDX-License-Identifier: GPL-2.0
/*
 * The reporting policy: when a pass runs. report.c asks it before each
 * report (fpr_policy_defer()) and tells it what was reported; it asks the
 * back-off (backoff.c) for its step and moves the core's pass (core.c).
 * Nothing here calls back up, and backoff.c calls nothing here.
 *
 * delay_ms: when the page reporting core has work, it queues its pass
 * PAGE_REPORTING_DELAY (2 s) ahead, both after the first free and between
 * passes, and offers no way to change that. When the delay in force
 * (delay_ms, times the back-off multiplier of backoff.c, or FPR_BURST_MS
 * during a large free) differs, a light periodic check moves the core's
 * pending pass so that it runs that long after it was queued.
 *
 * burst_mb: the same check asks burst.c whether a large free is under
 * way; its passes then run FPR_BURST_MS apart. With burst_mb=0, the
 * default delay and no back-off, nothing runs here.
 *
 * The check is deferrable work: on an idle CPU its timer waits for the
 * next wake-up that something else causes, so an idle guest gets no
 * wake-ups from it, whatever delay_ms is. A free that queues a pass keeps
 * the CPU busy (the core requests the pass at the first block freed), so
 * the check usually runs in time; but its timer is on one CPU, and a free
 * on another, or one that ends within a tick, leaves the pass at the
 * core's 2 s. Shorter delays are then late, never later than the core's
 * own; for longer ones (delay_ms above 2000, a back-off step), report()
 * ends such a pass at its first batch and queues it for the rest of the
 * delay (fpr_delay_early(): one batch isolated and put back, debugfs
 * delay_early).
 *
 * The core's delay is checked at run time: a pass of its own found due
 * more than FPR_CORE_DELAY_MS ahead contradicts core.c's assumption 2,
 * and delay_ms is then turned off with a message (the core's own delay
 * holds, as with virtio_balloon).
 *
 * debugfs virtio_fpr/<device>/delay_checks and delay_early (for the
 * tests): the checks that ran, the passes ended as early.
 */
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/vmstat.h>

#include "fpr.h"

/*
 * delay_ms, backed off while reported blocks come back quickly, or
 * FPR_BURST_MS while a large free is reported
 */
unsigned int fpr_policy_delay_ms(struct fpr_dev *fpr)
{
	if (READ_ONCE(fpr->delay_broken))
		return FPR_CORE_DELAY_MS;
	/* A burst is on only at back-off step 0 (burst.c) */
	if (fpr_burst_on(fpr))
		return min(FPR_BURST_MS, fpr_param_delay_ms());
	return fpr_param_delay_at(fpr_backoff_step(fpr));
}

static unsigned long fpr_delay_period(struct fpr_dev *fpr)
{
	/*
	 * Well inside the core's 2 s, so a late check still finds the timer,
	 * and a large free is seen within half a second
	 */
	return msecs_to_jiffies(min(fpr_policy_delay_ms(fpr),
				    FPR_CORE_DELAY_MS / 8));
}

/*
 * The core's own expiry, not one we set: it queued the pass
 * FPR_CORE_DELAY_MS before EXPIRES. Called with delay_lock held.
 */
static bool fpr_delay_core_queued(struct fpr_dev *fpr, unsigned long expires)
{
	if (expires == fpr->delay_expires)
		return false;
	fpr->delay_queued = expires - msecs_to_jiffies(FPR_CORE_DELAY_MS);
	return true;
}

/* Queue the pass at fpr->delay_queued + the delay in force; delay_lock held */
static void fpr_delay_requeue(struct fpr_dev *fpr, unsigned long expires)
{
	unsigned long target, now = jiffies;

	target = fpr->delay_queued + msecs_to_jiffies(fpr_policy_delay_ms(fpr));
	if (target == expires)
		return;
	fpr_core_pass_queue(fpr, time_after(target, now) ? target - now : 1);
	fpr_core_pass_pending(fpr, &fpr->delay_expires);
}

/* Give the core's pending pass the expiry the delay in force asks for */
static void fpr_delay_move(struct fpr_dev *fpr)
{
	unsigned long expires, ahead;

	spin_lock_irq(&fpr->delay_lock);
	if (fpr->delay_broken || !fpr_core_pass_pending(fpr, &expires))
		goto out;
	ahead = expires - jiffies;
	/*
	 * A pass of the core's due more than its delay ahead (a quarter
	 * second of slack for a check that was preempted meanwhile)
	 */
	if (fpr_delay_core_queued(fpr, expires) &&
	    ahead < ULONG_MAX / 2 &&
	    ahead > msecs_to_jiffies(FPR_CORE_DELAY_MS) + HZ / 4) {
		WRITE_ONCE(fpr->delay_broken, true);
		spin_unlock_irq(&fpr->delay_lock);
		dev_warn(&fpr->vdev->dev, "the page reporting core queued a pass %u ms ahead, more than the %u ms assumed: delay_ms and the back-off's delay are off, reporting runs at the core's own delay\n",
			 jiffies_to_msecs(ahead), FPR_CORE_DELAY_MS);
		return;
	}
	/* Also after a runtime change of delay_ms or of the back-off */
	fpr_delay_requeue(fpr, expires);
out:
	spin_unlock_irq(&fpr->delay_lock);
}

/*
 * True if the pass runs at the core's own expiry while the delay in force
 * is longer (the deferrable check did not run in time: its timer waits on
 * an idle CPU while another frees). The pass is then queued for the rest
 * of the delay; the caller ends this one without reporting.
 */
static bool fpr_delay_early(struct fpr_dev *fpr)
{
	unsigned long expires;
	bool early = false;

	if (fpr_policy_delay_ms(fpr) <= FPR_CORE_DELAY_MS)
		return false;
	spin_lock_irq(&fpr->delay_lock);
	expires = fpr_core_pass_expired(fpr);
	if (fpr->delay_live && fpr_delay_core_queued(fpr, expires)) {
		fpr_delay_requeue(fpr, 0);
		fpr->delay_early++;
		early = true;
	}
	spin_unlock_irq(&fpr->delay_lock);
	return early;
}

static void fpr_delay_fn(struct work_struct *work)
{
	struct fpr_dev *fpr = container_of(to_delayed_work(work),
					   struct fpr_dev, delay_work);

	bool watch = fpr_param_burst_pages() && !READ_ONCE(fpr->delay_broken);

	fpr->delay_checks++;
	if (watch)
		fpr_burst_watch(fpr);
	/* Back at the core's delay, a pass we moved went back too: done */
	fpr_delay_move(fpr);
	/* Also once delay_broken: the delay in force is the core's then */
	if (fpr_policy_delay_ms(fpr) != FPR_CORE_DELAY_MS || watch)
		queue_delayed_work(system_freezable_wq, &fpr->delay_work,
				   fpr_delay_period(fpr));
}

void fpr_policy_init(struct fpr_dev *fpr)
{
	INIT_DEFERRABLE_WORK(&fpr->delay_work, fpr_delay_fn);
	spin_lock_init(&fpr->delay_lock);
	fpr_burst_init(fpr);
	fpr_backoff_init(fpr);
}

void fpr_policy_free(struct fpr_dev *fpr)
{
	fpr_backoff_free(fpr);
}

/* The delay in force changed: check the core's pending pass now. */
static void fpr_delay_kick(struct fpr_dev *fpr)
{
	unsigned long flags;

	spin_lock_irqsave(&fpr->delay_lock, flags);
	if (fpr->delay_live)
		mod_delayed_work(system_freezable_wq, &fpr->delay_work, 0);
	spin_unlock_irqrestore(&fpr->delay_lock, flags);
}

/*
 * Queue a pass as the core would, 2 s ahead, then move it to the delay in
 * force: the core may find nothing new to request one for.
 */
void fpr_policy_requeue(struct fpr_dev *fpr)
{
	fpr_core_pass_queue(fpr, msecs_to_jiffies(FPR_CORE_DELAY_MS));
	fpr_delay_kick(fpr);
}

/*
 * Called by report() before each report (SGL, NENTS entries, the blocks
 * the core isolated for it): true if this pass must end
 * without reporting (the core puts its pages back as not reported) and
 * run again later. Either it came at the core's 2 s though the delay in
 * force is longer, or a window just ended with a longer back-off step:
 * the blocks that gave the verdict are not reported and refaulted again.
 */
bool fpr_policy_defer(struct fpr_dev *fpr, struct scatterlist *sgl,
		      unsigned int nents)
{
	int change;

	if (fpr_delay_early(fpr))
		return true;
	/* The core's delay is not the one assumed: no back-off either */
	if (READ_ONCE(fpr->delay_broken))
		return false;
	if (fpr_param_burst_pages())
		fpr_burst_pass(fpr);
	change = fpr_backoff_window_end(fpr, sgl, nents);
	if (change > 0) {
		atomic64_inc(&fpr->stats.deferred);
		fpr_policy_requeue(fpr);
		return true;
	}
	if (change < 0)
		fpr_delay_kick(fpr);
	return false;
}

/* Called with every acknowledged report, of PAGES pages */
void fpr_policy_reported(struct fpr_dev *fpr, struct scatterlist *sgl,
			 unsigned int nents, unsigned long pages)
{
	fpr_backoff_account(fpr, sgl, nents);
	fpr_burst_reported(fpr, pages);
}

/* Reporting (re)starts, before registration: no back-off */
void fpr_policy_reset(struct fpr_dev *fpr)
{
	fpr_backoff_reset(fpr);
}

/* delay_ms or backoff_max changed, or reporting (re)started */
void fpr_policy_update(struct fpr_dev *fpr)
{
	bool was_live;

	lockdep_assert_held(&fpr_lock);
	if (!fpr->registered) {
		fpr_policy_stop(fpr);
		return;
	}
	spin_lock_irq(&fpr->delay_lock);
	was_live = fpr->delay_live;
	fpr->delay_live = true;
	spin_unlock_irq(&fpr->delay_lock);
	/* Registration: the first flush is a large free too */
	if (!was_live)
		fpr_burst_start(fpr);
	fpr_delay_kick(fpr);
}

void fpr_policy_stop(struct fpr_dev *fpr)
{
	/* After this, report() cannot queue the check again */
	spin_lock_irq(&fpr->delay_lock);
	fpr->delay_live = false;
	spin_unlock_irq(&fpr->delay_lock);
	cancel_delayed_work_sync(&fpr->delay_work);
}

/* Under fpr->debugfs, removed with it before the device goes */
void fpr_policy_debugfs_add(struct fpr_dev *fpr)
{
	fpr_backoff_debugfs_add(fpr);
	debugfs_create_ulong("delay_checks", 0400, fpr->debugfs,
			     &fpr->delay_checks);
	debugfs_create_ulong("delay_early", 0400, fpr->debugfs,
			     &fpr->delay_early);
	fpr_burst_debugfs_add(fpr);
}
