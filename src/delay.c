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

static void fpr_delay_fn(struct work_struct *work)
{
	struct fpr_dev *fpr = container_of(to_delayed_work(work),
					   struct fpr_dev, delay_work);
	struct delayed_work *pass = &fpr->pr.work;
	unsigned long expires, target, now = jiffies;

	/* A pass waits on its timer, queued by the core or moved by us */
	if (timer_pending(&pass->timer)) {
		expires = READ_ONCE(pass->timer.expires);
		if (expires != fpr->delay_expires) {
			/* The core queued it FPR_CORE_DELAY_MS ahead */
			target = expires - msecs_to_jiffies(FPR_CORE_DELAY_MS) +
				 msecs_to_jiffies(fpr_param_delay_ms());
			mod_delayed_work(system_freezable_wq, pass,
					 time_after(target, now) ?
					 target - now : 1);
			fpr->delay_expires = READ_ONCE(pass->timer.expires);
		}
	}
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
		fpr_delay_stop(fpr);
		return;
	}
	fpr->delay_expires = 0;
	mod_delayed_work(system_freezable_wq, &fpr->delay_work, 0);
}

void fpr_delay_stop(struct fpr_dev *fpr)
{
	cancel_delayed_work_sync(&fpr->delay_work);
}
