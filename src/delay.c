// SPDX-License-Identifier: GPL-2.0
/*
 * delay_ms: when the page reporting core has work, it queues its pass
 * PAGE_REPORTING_DELAY (2 s) ahead, both after the first free and between
 * passes, and offers no way to change that. When delay_ms differs, a light
 * periodic check moves the core's pending pass so that it runs delay_ms
 * after it was queued. With the default delay nothing runs here.
 */
#include <linux/jiffies.h>
#include <linux/timer.h>

#include "fpr.h"

static unsigned long fpr_delay_period(void)
{
	/* Well inside the core's 2 s, so a late check still finds the timer */
	return msecs_to_jiffies(min(fpr_param_delay_ms(), FPR_CORE_DELAY_MS / 4));
}

/* Give the core's pending pass the expiry delay_ms asks for */
static void fpr_delay_move(struct fpr_dev *fpr)
{
	struct delayed_work *pass = &fpr->pr.work;
	unsigned long expires, target, now = jiffies;

	if (!timer_pending(&pass->timer))
		return;
	expires = READ_ONCE(pass->timer.expires);
	/* Not our expiry: the core queued it FPR_CORE_DELAY_MS ahead */
	if (expires != fpr->delay_expires)
		fpr->delay_queued = expires -
				    msecs_to_jiffies(FPR_CORE_DELAY_MS);
	/* Also after a runtime change of delay_ms */
	target = fpr->delay_queued + msecs_to_jiffies(fpr_param_delay_ms());
	if (target == expires)
		return;
	mod_delayed_work(system_freezable_wq, pass,
			 time_after(target, now) ? target - now : 1);
	fpr->delay_expires = READ_ONCE(pass->timer.expires);
}

static void fpr_delay_fn(struct work_struct *work)
{
	struct fpr_dev *fpr = container_of(to_delayed_work(work),
					   struct fpr_dev, delay_work);

	fpr_delay_move(fpr);
	queue_delayed_work(system_freezable_wq, &fpr->delay_work,
			   fpr_delay_period());
}

void fpr_delay_init(struct fpr_dev *fpr)
{
	INIT_DELAYED_WORK(&fpr->delay_work, fpr_delay_fn);
}

/* delay_ms changed, or reporting (re)started: run the check if needed. */
void fpr_delay_update(struct fpr_dev *fpr)
{
	lockdep_assert_held(&fpr_lock);
	if (!fpr->registered || fpr_param_delay_ms() == FPR_CORE_DELAY_MS) {
		cancel_delayed_work_sync(&fpr->delay_work);
		/* Back to the core's delay: a pass we moved goes back too */
		if (fpr->registered)
			fpr_delay_move(fpr);
		fpr->delay_expires = 0;
		return;
	}
	mod_delayed_work(system_freezable_wq, &fpr->delay_work, 0);
}

void fpr_delay_stop(struct fpr_dev *fpr)
{
	cancel_delayed_work_sync(&fpr->delay_work);
	fpr->delay_expires = 0;
}
