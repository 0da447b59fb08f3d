// SPDX-License-Identifier: GPL-2.0
/*
 * delay_ms: when the page reporting core has work, it queues its pass
 * PAGE_REPORTING_DELAY (2 s) ahead, both after the first free and between
 * passes, and offers no way to change that. When the delay in force
 * (delay_ms, times the back-off multiplier of backoff.c) differs, a light
 * periodic check moves the core's pending pass so that it runs that long
 * after it was queued. With the default delay and no back-off nothing runs
 * here.
 *
 * The check is deferrable work: on an idle CPU its timer waits for the
 * next wake-up that something else causes, so an idle guest gets no
 * wake-ups from it, whatever delay_ms is. A free that queues a pass keeps
 * the CPU busy (the core requests the pass at the first block freed), so
 * the check runs on time then; one short enough to end before the check
 * finds its pass is reported at the core's own 2 s, never later. Between
 * the passes of a backlog report.c moves each pass at once (kick).
 *
 * The core's delay is checked at run time: a pass of its own found due
 * more than FPR_CORE_DELAY_MS ahead contradicts core.c's assumption 2,
 * and delay_ms is then turned off with a message (the core's own delay
 * holds, as with virtio_balloon).
 *
 * debugfs virtio_fpr/<device>/delay_checks (for the tests): the checks
 * that ran.
 */
#include <linux/debugfs.h>
#include <linux/jiffies.h>

#include "fpr.h"

/* delay_ms at back-off step STEP */
unsigned int fpr_delay_at(unsigned int step)
{
	return min(fpr_param_delay_ms() << step, FPR_DELAY_MAX_MS);
}

/* delay_ms, backed off while reported blocks come back quickly */
unsigned int fpr_delay_effective(struct fpr_dev *fpr)
{
	if (READ_ONCE(fpr->delay_broken))
		return FPR_CORE_DELAY_MS;
	return fpr_delay_at(fpr_backoff_step(fpr));
}

static unsigned long fpr_delay_period(struct fpr_dev *fpr)
{
	/* Well inside the core's 2 s, so a late check still finds the timer */
	return msecs_to_jiffies(min(fpr_delay_effective(fpr),
				    FPR_CORE_DELAY_MS / 4));
}

/* Give the core's pending pass the expiry the delay in force asks for */
static void fpr_delay_move(struct fpr_dev *fpr)
{
	unsigned long expires, target, now = jiffies;

	if (fpr->delay_broken || !fpr_core_pass_pending(fpr, &expires))
		return;
	/* Not our expiry: the core queued it FPR_CORE_DELAY_MS ahead */
	if (expires != fpr->delay_expires) {
		/* A jiffy of slack: the core's timer may be rounded up */
		target = now + msecs_to_jiffies(FPR_CORE_DELAY_MS) + 1;
		if (time_after(expires, target)) {
			WRITE_ONCE(fpr->delay_broken, true);
			dev_warn(&fpr->vdev->dev, "the page reporting core queued a pass %u ms ahead, more than the %u ms assumed: delay_ms and the back-off's delay are off, reporting runs at the core's own delay\n",
				 jiffies_to_msecs(expires - now),
				 FPR_CORE_DELAY_MS);
			return;
		}
		fpr->delay_queued = expires -
				    msecs_to_jiffies(FPR_CORE_DELAY_MS);
	}
	/* Also after a runtime change of delay_ms or of the back-off */
	target = fpr->delay_queued + msecs_to_jiffies(fpr_delay_effective(fpr));
	if (target == expires)
		return;
	fpr_core_pass_queue(fpr, time_after(target, now) ? target - now : 1);
	fpr_core_pass_pending(fpr, &fpr->delay_expires);
}

static void fpr_delay_fn(struct work_struct *work)
{
	struct fpr_dev *fpr = container_of(to_delayed_work(work),
					   struct fpr_dev, delay_work);

	fpr->delay_checks++;
	/* Back at the core's delay, a pass we moved went back too: done */
	fpr_delay_move(fpr);
	if (fpr_delay_effective(fpr) != FPR_CORE_DELAY_MS && !fpr->delay_broken)
		queue_delayed_work(system_freezable_wq, &fpr->delay_work,
				   fpr_delay_period(fpr));
}

void fpr_delay_init(struct fpr_dev *fpr)
{
	INIT_DEFERRABLE_WORK(&fpr->delay_work, fpr_delay_fn);
	spin_lock_init(&fpr->delay_lock);
}

/* The delay in force changed: check the core's pending pass now. */
void fpr_delay_kick(struct fpr_dev *fpr)
{
	unsigned long flags;

	spin_lock_irqsave(&fpr->delay_lock, flags);
	if (fpr->delay_live)
		mod_delayed_work(system_freezable_wq, &fpr->delay_work, 0);
	spin_unlock_irqrestore(&fpr->delay_lock, flags);
}

/* delay_ms changed, or reporting (re)started */
void fpr_delay_update(struct fpr_dev *fpr)
{
	lockdep_assert_held(&fpr_lock);
	if (!fpr->registered) {
		fpr_delay_stop(fpr);
		return;
	}
	spin_lock_irq(&fpr->delay_lock);
	fpr->delay_live = true;
	spin_unlock_irq(&fpr->delay_lock);
	fpr_delay_kick(fpr);
}

void fpr_delay_stop(struct fpr_dev *fpr)
{
	/* After this, report() (backoff.c) cannot queue the check again */
	spin_lock_irq(&fpr->delay_lock);
	fpr->delay_live = false;
	spin_unlock_irq(&fpr->delay_lock);
	cancel_delayed_work_sync(&fpr->delay_work);
	fpr->delay_expires = 0;
}

/* Under fpr->debugfs, removed with it before the device goes */
void fpr_delay_debugfs_add(struct fpr_dev *fpr)
{
	debugfs_create_ulong("delay_checks", 0400, fpr->debugfs,
			     &fpr->delay_checks);
}
