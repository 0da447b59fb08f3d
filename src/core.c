// SPDX-License-Identifier: GPL-2.0
/*
 * Every access to the page reporting core's private state (mm/page_reporting.c)
 * lives here. The core offers drivers page_reporting_register() and the
 * report() callback only; what else we touch, and what we assume of it:
 *
 * 1. page_reporting_order, the smallest order the core reports. 6.2 made it
 *    an exported (GPL) variable, left unset (-1) until the first driver
 *    registers, and read on every pass; registration sets it only while
 *    unset. Before 6.2 it is not exported and registration always sets it
 *    from pr->order; before 5.14 neither exists and the core reports
 *    pageblock_order only (params.c, compat.h). We look the symbol up at
 *    first use (symbol_get(), no build-time probe): found, we read and
 *    write it; not found, the order changes only by registering again
 *    (report.c), and before 5.14 not at all. If a later core stops
 *    reading it per pass, a runtime order change applies at the next
 *    registration instead; sysfs reporting/blocks_per_order shows that.
 * 2. The pending pass is pr->work, a delayed_work the core queues
 *    PAGE_REPORTING_DELAY (2 s, a private #define) after a free that
 *    crosses the order, and again after a pass that ran out of budget,
 *    with schedule_delayed_work(). We read its timer's expiry and move it
 *    with mod_delayed_work() on the same workqueue (policy.c),
 *    so it never runs twice at once. A pass queued twice runs twice; the
 *    core's state machine makes the second a cheap no-op. If a later core uses another delay,
 *    policy.c computes the time of queueing wrongly and reporting runs at
 *    the delay in force measured from a wrong start: late or early, never
 *    lost. If it stops using pr->work, moving the timer does nothing and
 *    the core's own 2 s holds: delay_ms and the back-off no longer apply.
 *    A pass found due more than 2 s ahead turns delay_ms off (policy.c).
 *    report() reads the expiry of the timer that started the running
 *    pass, which a fired timer keeps, to tell the core's from ours.
 * 3. The core calls report() from that work item, one pass at a time, and
 *    takes pages back as not reported when report() returns an error.
 *    report() refuses a second report while one is in flight anyway.
 * 4. At unregister the order we put back stays: the core never resets it
 *    to -1, so an unset order comes back as pageblock_order and the next
 *    driver (or our next probe) takes that as set.
 * 5. A free block the core has reported has PG_reported set on its first
 *    page (a PageBuddy page) from the time the core puts it back until it
 *    leaves the free list: allocated, or merged with a freed buddy. The
 *    back-off reads both flags unlocked, as compaction scans free pages
 *    (fpr_core_block_reported()); a racing read misjudges one block. If a
 *    later core stops marking blocks, every reported block looks reused:
 *    the back-off lengthens the delay under any allocation after a free
 *    (backoff_max=0 turns it off); it never loses a page.
 * 6. Not the core's but the allocator's: a free block's first page is a
 *    PageBuddy page with the block's order in page_private (buddy_order()
 *    in mm/internal.h); a page inside a free block is neither. The
 *    back-off walks up the heads that could hold a page, as
 *    is_free_buddy_page() does, unlocked (fpr_core_pfn_free()), and
 *    takes an order above FPR_MAX_ORDER as not free, as compaction's
 *    buddy_order_unsafe() readers do: a racing read misjudges one block.
 *    If a later allocator keeps the order elsewhere, reported blocks no
 *    longer marked look allocated: as before 6., reallocated and merged
 *    blocks then count alike, as reused.
 */
#include <linux/mm.h>
#include <linux/memory_hotplug.h>
#include <linux/module.h>
#include <linux/page-flags.h>
#include <linux/timer.h>
#include <linux/workqueue.h>

#include "fpr.h"

/* Exported from 6.2 (mm/page_reporting.c); declared for symbol_get() only */
extern unsigned int page_reporting_order;

static unsigned int *fpr_core_order_ptr;

/* Looked up at first use: that may be a load parameter, before init */
static unsigned int *fpr_core_order_var(void)
{
	unsigned int *var = READ_ONCE(fpr_core_order_ptr);

	if (var)
		return var;
	var = symbol_get(page_reporting_order);
	/* One reference kept: a lookup that lost a race drops its own */
	if (var && cmpxchg(&fpr_core_order_ptr, NULL, var))
		symbol_put(page_reporting_order);
	return READ_ONCE(fpr_core_order_ptr);
}

void fpr_core_exit(void)
{
	if (fpr_core_order_ptr)
		symbol_put(page_reporting_order);
}

/* The core reads its order on every pass: it can change while registered */
bool fpr_core_order_runtime(void)
{
	return fpr_core_order_var();
}

/* The core's order, FPR_CORE_ORDER_UNSET if unset or not visible to us */
unsigned int fpr_core_order(void)
{
	unsigned int *order = fpr_core_order_var();

	return order ? READ_ONCE(*order) : FPR_CORE_ORDER_UNSET;
}

void fpr_core_set_order(unsigned int order)
{
	unsigned int *var = fpr_core_order_var();

	if (var)
		WRITE_ONCE(*var, order);
}

/*
 * The expiry of the pass that runs now (called from report()): a fired
 * timer keeps its last expiry (2. above)
 */
unsigned long fpr_core_pass_expired(struct fpr_dev *fpr)
{
	return READ_ONCE(fpr->pr.work.timer.expires);
}

/* Is a pass queued (not running)? Its timer's expiry in *expires */
bool fpr_core_pass_pending(struct fpr_dev *fpr, unsigned long *expires)
{
	struct delayed_work *pass = &fpr->pr.work;

	if (!timer_pending(&pass->timer))
		return false;
	*expires = READ_ONCE(pass->timer.expires);
	return true;
}

/*
 * Queue the pass DELAY jiffies from now, or move it there, on the workqueue
 * of the core's schedule_delayed_work(): on another one the pass could run
 * twice at once. Not frozen during suspend, so a pass waiting for the
 * device never holds up the freezer (freeze resets the device).
 */
void fpr_core_pass_queue(struct fpr_dev *fpr, unsigned long delay)
{
	mod_delayed_work(FPR_SCHEDULE_WQ, &fpr->pr.work, delay);
}

/* Is the free block starting at PFN still marked reported (5. above)? */
bool fpr_core_block_reported(unsigned long pfn)
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

/* Is the page at PFN in a free buddy block, merged or not (6. above)? */
bool fpr_core_pfn_free(unsigned long pfn)
{
	unsigned long head_order;
	unsigned int order;
	struct page *page;

	for (order = 0; order <= FPR_MAX_ORDER; order++) {
		/* A head at or below PFN: in its section, as PFN is */
		page = pfn_to_online_page(pfn & ~((1UL << order) - 1));
		if (!page)
			return false;
		/* data_race: unlocked, as above */
		if (!data_race(PageBuddy(page)))
			continue;
		/* data_race: as above; a free block's head holds its order */
		head_order = data_race(page_private(page));
		if (head_order >= order && head_order <= FPR_MAX_ORDER)
			return true;
	}
	return false;
}
