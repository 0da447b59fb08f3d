/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio_fpr private definitions.
 */
#ifndef _FPR_H
#define _FPR_H

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/page_reporting.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <virtio_fpr/compat.h>

/* The core waits this long before a pass (PAGE_REPORTING_DELAY; core.c) */
#define FPR_CORE_DELAY_MS	2000U
/* A large free (burst_mb, burst.c): passes this far apart */
#define FPR_BURST_MS		100U
/* ... until it reported what it grew, or this long without a report */
#define FPR_BURST_HOLD_MS	1000U
/*
 * Taken back within this after it ended: the next burst waits, 2 s,
 * doubling. Generous: a wrong verdict only sends the next large free
 * at delay_ms, as the core would.
 */
#define FPR_BURST_REUSE_MS	10000U
#define FPR_BURST_COOLDOWN_MIN_MS	2000U
#define FPR_BURST_COOLDOWN_MAX_MS	64000U
/* The core's page_reporting_order before anyone set it (-1), or unknown */
#define FPR_CORE_ORDER_UNSET	UINT_MAX
/* Longest delay_ms, also the cap of the backed-off delay */
#define FPR_DELAY_MAX_MS	600000U
/* Period of the "device has not acknowledged" warning */
#define FPR_ACK_WARN_SECS	10U
/* Teardown gives a device this long to use its buffers, then resets it */
#define FPR_TEARDOWN_SECS	5U

struct fpr_stats {
	atomic64_t reports;		/* acknowledged report requests */
	atomic64_t pages;		/* base pages in them */
	atomic64_t errors;		/* reports or balloon requests that failed */
	atomic64_t ack_timeouts;	/* FPR_ACK_WARN_SECS waits without ack */
	atomic64_t resets;		/* device reset while it held buffers */
	atomic64_t reused;		/* reported blocks reallocated (backoff.c) */
	atomic64_t deferred;		/* passes deferred by the back-off */
	atomic64_t blocks[FPR_NR_ORDERS];	/* reported blocks per order */
	atomic64_t last_report_ms;	/* CLOCK_BOOTTIME of the last ack */
};

/* Stats we fill in for the host (spec 5.5.6.3) */
#ifdef VIRTIO_BALLOON_S_OOM_KILL
#define FPR_NR_STATS	16	/* 6.10 added OOM kills, stalls, scans, reclaim */
#else
#define FPR_NR_STATS	10
#endif

/* Pages per batch on the inflate and deflate queues */
#define FPR_BALLOON_BATCH	256

struct fpr_balloon_stats {
	atomic64_t inflated;		/* pages ever given to the host */
	atomic64_t deflated;		/* pages ever taken back */
	atomic64_t migrated;		/* balloon pages moved by compaction */
	atomic64_t oom_deflated;	/* pages taken back on OOM */
	atomic64_t stats_updates;	/* stats buffers sent to the host */
};

/* balloon.c and stats.c: inflate/deflate, deflate-on-OOM, stats queue */
struct fpr_balloon {
	struct virtqueue *inflate_vq;
	struct virtqueue *deflate_vq;
	struct virtqueue *stats_vq;		/* NULL without STATS_VQ */
	struct balloon_dev_info bdi;
	struct vfsmount *bdi_mnt;		/* holds bdi.inode before 6.0 */
	bool adjust_managed;			/* !DEFLATE_ON_OOM */

	struct mutex lock;			/* pfns, vq use, num_pages */
	unsigned int num_pages;			/* in 4 KiB virtio pages */
	unsigned int num_pfns;
	__virtio32 pfns[FPR_BALLOON_BATCH];
	wait_queue_head_t acked;

	spinlock_t stop_lock;			/* stop_update */
	bool stop_update;			/* no new work (teardown) */
	struct work_struct size_work;
	struct work_struct stats_work;
	struct notifier_block oom_nb;
	bool oom_registered;

	struct virtio_balloon_stat stats[FPR_NR_STATS];
	struct fpr_balloon_stats counters;
};

/* burst.c: a large free, reported quickly; under lock */
struct fpr_burst {
	spinlock_t lock;		/* watch (check) vs reported (report()) */
	bool active;			/* passes FPR_BURST_MS apart */
	bool seen;			/* grew by burst_mb at the last check */
	bool watching;			/* is the last burst taken back? */
	long mark;			/* free pages at the last check */
	long grown;			/* by how much the burst's free grew */
	long left;			/* pages it still has to report */
	long peak;			/* most free pages since it began */
	unsigned long until;		/* jiffies: ends unless a report */
	unsigned long reuse_until;	/* jiffies: watching ends (if over) */
	unsigned long hold_until;	/* jiffies: no burst before */
	u32 cooldown_ms;		/* wait after a burst taken back */
	unsigned long count;		/* bursts, for debugfs */
	unsigned long taken_back;	/* of those, taken back soon */
};

/* backoff.c: reuse of reported blocks, and the delay multiplier */
struct fpr_backoff {
	struct mutex lock;		/* report() vs memory notifier, reset */
	struct notifier_block mem_nb;	/* memory hotplug */
	bool mem_nb_registered;
	unsigned long off_start;	/* pfns going offline: not tracked */
	unsigned long off_end;
	unsigned long *map;		/* first chunk of each reported block */
	unsigned long nbits;
	unsigned int chunk_order;	/* 2^chunk_order pages per bit */
	unsigned long tracked;		/* bits set in map */
	unsigned long cap;		/* most bits set in map */
	bool full;			/* a report in window found no room */
	unsigned long reported;		/* tracked blocks reported in window */
	unsigned long reported_pages;	/* all pages reported in window */
	unsigned long flush_left;	/* pages of the first flush to report */
	unsigned long window_start;	/* jiffies */
	unsigned long last_report;	/* jiffies */
	unsigned int level;		/* delay_ms << level, see backoff_max */
	bool suspect;			/* last window called for a rise */
	unsigned long allocs;		/* PGALLOC at last verdict or reset */
	unsigned long min_pages;	/* smallest block tracked, pages */
	unsigned long merged;		/* blocks found merged, in all */
};

/* hint.c: free page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT) */
struct fpr_hint {
	struct virtqueue *vq;		/* NULL without FREE_PAGE_HINT */
	spinlock_t lock;		/* vq use, lists, counts, stopping */
	bool stopping;			/* teardown: no run, no work */
	bool id_queued;			/* id_buf is with the device */
	bool stop_queued;		/* stop_buf is with the device */
	bool waiting;			/* work waits for the device or DONE */
	struct list_head queued;	/* blocks the device has not used */
	struct list_head held;		/* used blocks, until DONE */
	struct list_head ended;		/* used, their run ended: go back */
	unsigned long queued_blocks;
	unsigned long held_blocks;
	unsigned long ended_blocks;
	atomic_t config_pending;	/* re-read the command id */
	u32 id_seen;			/* last command id read */
	u32 cmd_id_active;		/* id of the last run started (work) */
	__virtio32 id_buf;		/* a run's id on the queue */
	__virtio32 stop_buf;		/* VIRTIO_BALLOON_CMD_ID_STOP */
	wait_queue_head_t acked;
	struct workqueue_struct *wq;	/* freezable, unbound: runs */
	struct delayed_work work;
	unsigned int poll_ms;		/* next look while waiting (work) */
	unsigned long used;		/* buffers the device used (lock) */
	unsigned long used_seen;	/* used at the work's last look */
	unsigned long used_at;		/* jiffies: a block used last (lock) */
	struct shrinker shrinker;	/* before 6.7 (compat.h) */
	struct shrinker *shrinker_p;	/* the registered one, or NULL */
	atomic64_t runs;		/* runs started */
	atomic64_t hinted;		/* base pages hinted */
	atomic64_t returned;		/* base pages given back */
	atomic64_t shrunk;		/* of those, by the shrinker */
	atomic64_t stalled;		/* runs ended: no room for 1 s */
};

/* Why free page reporting is on or off for a device (sysfs reporting/state) */
enum fpr_state {
	FPR_STARTING,			/* probe has not decided yet */
	FPR_ACTIVE,
	FPR_OFF_NOT_OFFERED,		/* no VIRTIO_BALLOON_F_PAGE_REPORTING */
	FPR_OFF_POISON,			/* guest poisons, device lacks PAGE_POISON */
	FPR_OFF_BUSY,			/* another driver holds the core */
	FPR_OFF_ERROR,			/* queue too small, registration error */
};

struct fpr_dev {
	struct virtio_device *vdev;
	struct virtqueue *reporting_vq;	/* NULL without PAGE_REPORTING */
	struct page_reporting_dev_info pr;
	enum fpr_state state;		/* under fpr_lock */
	bool registered;		/* pr is registered with the core */
	unsigned int core_order_saved;	/* core order before we registered */
	unsigned int core_order_set;	/* core order we set */
	struct delayed_work order_work;	/* re-registers at a new order (6.1) */

	/* device.c: buffers in flight against reset and teardown */
	spinlock_t vq_lock;
	bool stopping;			/* no new buffers (under vq_lock) */
	bool skip_reports;		/* report() returns at once (vq_lock) */
	bool reset_done;		/* device reset: it uses no buffer */
	struct mutex reset_lock;	/* one reset at a time */
	bool teardown;			/* waits end FPR_TEARDOWN_SECS after */
	unsigned long teardown_start;	/* jiffies */
	bool stall_acks;		/* fault injection: ignore used buffers */
	bool in_flight;			/* a report is queued (under vq_lock) */
	struct dentry *debugfs;
	wait_queue_head_t acked;

	/* delay_ms != core delay: move the core's pending pass (policy.c) */
	struct delayed_work delay_work;
	spinlock_t delay_lock;		/* delay_live vs. queueing delay_work */
	bool delay_live;		/* delay_work may be queued */
	bool delay_broken;		/* the core's delay is not FPR_CORE_DELAY_MS */
	unsigned long delay_checks;	/* delay_work runs, for debugfs */
	unsigned long delay_early;	/* passes ended as early (policy.c) */
	unsigned long delay_expires;	/* expiry we last gave the pass */
	unsigned long delay_queued;	/* when the core queued that pass */
	struct fpr_burst burst;

	struct fpr_backoff backoff;
	struct fpr_stats stats;
	struct fpr_balloon balloon;
	struct fpr_hint hint;
};

/*
 * params.c: module parameters and the one device they apply to. Its write
 * handlers call down (report.c, policy.c); the other files only read the
 * values, here, so no file calls back up into params.c.
 */
struct fpr_params {
	unsigned int order;		/* until given: see params.c */
	bool order_given;		/* at load or written since */
	unsigned int delay_ms;
	unsigned int backoff_max;
	unsigned int burst_mb;		/* a large free, in MiB; 0: off */
	bool fault_injection;		/* debugfs stall_acks, break_device */
};

extern struct mutex fpr_lock;
extern struct fpr_dev *fpr_active;	/* under fpr_lock */
extern struct fpr_params fpr_params;

static inline unsigned int fpr_param_order(void)
{
	return READ_ONCE(fpr_params.order);
}

static inline bool fpr_param_order_given(void)
{
	return READ_ONCE(fpr_params.order_given);
}

/* Reporting started at ORDER (the core's) without a given order */
static inline void fpr_param_order_adopt(unsigned int order)
{
	lockdep_assert_held(&fpr_lock);
	WRITE_ONCE(fpr_params.order, order);
}

static inline bool fpr_param_fault_injection(void)
{
	return READ_ONCE(fpr_params.fault_injection);
}

static inline unsigned int fpr_param_delay_ms(void)
{
	return READ_ONCE(fpr_params.delay_ms);
}

static inline unsigned int fpr_param_backoff_max(void)
{
	return READ_ONCE(fpr_params.backoff_max);
}

/* A free this large (base pages) is reported quickly; 0: never */
static inline unsigned long fpr_param_burst_pages(void)
{
	return (unsigned long)READ_ONCE(fpr_params.burst_mb) <<
	       (20 - PAGE_SHIFT);
}

/* delay_ms at back-off step STEP (2^STEP times), capped */
static inline unsigned int fpr_param_delay_at(unsigned int step)
{
	return min(fpr_param_delay_ms() << step, FPR_DELAY_MAX_MS);
}

/* core.c: every access to the page reporting core's private state */
void fpr_core_exit(void);
bool fpr_core_order_runtime(void);
unsigned int fpr_core_order(void);
void fpr_core_set_order(unsigned int order);
bool fpr_core_pass_pending(struct fpr_dev *fpr, unsigned long *expires);
unsigned long fpr_core_pass_expired(struct fpr_dev *fpr);
void fpr_core_pass_queue(struct fpr_dev *fpr, unsigned long delay);
bool fpr_core_block_reported(unsigned long pfn);
bool fpr_core_pfn_free(unsigned long pfn);

/* device.c: waits for the device that end when it is reset, and resets */
void fpr_device_init(struct fpr_dev *fpr);
void fpr_device_started(struct fpr_dev *fpr);
bool fpr_device_reset(struct fpr_dev *fpr);
bool fpr_device_is_reset(struct fpr_dev *fpr);
void fpr_device_broken(struct fpr_dev *fpr, struct virtqueue *vq);
bool fpr_device_reset_overdue(struct fpr_dev *fpr, unsigned long n,
			      const char *what, unsigned long start);
void fpr_device_teardown(struct fpr_dev *fpr);
void fpr_device_shutdown(struct fpr_dev *fpr);
bool fpr_device_wait_used(struct fpr_dev *fpr, wait_queue_head_t *wq,
			  struct virtqueue *vq, unsigned int n,
			  const char *what);
void fpr_device_debugfs_init(void);
void fpr_device_debugfs_exit(void);
void fpr_device_debugfs_add(struct fpr_dev *fpr);
void fpr_device_debugfs_remove(struct fpr_dev *fpr);

/* report.c: page reporting core registration and report() */
void fpr_report_init(struct fpr_dev *fpr);
void fpr_report_start(struct fpr_dev *fpr);
void fpr_report_stop(struct fpr_dev *fpr);
void fpr_report_quiesce(struct fpr_dev *fpr);
void fpr_report_set_order(struct fpr_dev *fpr, unsigned int order);
const char *fpr_report_state(struct fpr_dev *fpr);

/*
 * policy.c: when passes run, the one piece report.c asks: delay_ms, times
 * the back-off's step (backoff.c), applied to the core's pass (core.c)
 */
void fpr_policy_init(struct fpr_dev *fpr);
void fpr_policy_free(struct fpr_dev *fpr);
void fpr_policy_reset(struct fpr_dev *fpr);
void fpr_policy_update(struct fpr_dev *fpr);
void fpr_policy_stop(struct fpr_dev *fpr);
bool fpr_policy_defer(struct fpr_dev *fpr, struct scatterlist *sgl,
		      unsigned int nents);
void fpr_policy_requeue(struct fpr_dev *fpr);
void fpr_policy_reported(struct fpr_dev *fpr, struct scatterlist *sgl,
			 unsigned int nents, unsigned long pages);
unsigned int fpr_policy_delay_ms(struct fpr_dev *fpr);
void fpr_policy_debugfs_add(struct fpr_dev *fpr);

/* burst.c: a large free, reported in quick passes (policy.c asks) */
void fpr_burst_init(struct fpr_dev *fpr);
void fpr_burst_start(struct fpr_dev *fpr);
void fpr_burst_watch(struct fpr_dev *fpr);
void fpr_burst_pass(struct fpr_dev *fpr);
bool fpr_burst_on(struct fpr_dev *fpr);
void fpr_burst_reported(struct fpr_dev *fpr, unsigned long pages);
void fpr_burst_debugfs_add(struct fpr_dev *fpr);

/* backoff.c: longer delays while reported blocks are reused quickly */
void fpr_backoff_init(struct fpr_dev *fpr);
void fpr_backoff_free(struct fpr_dev *fpr);
void fpr_backoff_reset(struct fpr_dev *fpr);
void fpr_backoff_debugfs_add(struct fpr_dev *fpr);
unsigned int fpr_backoff_step(struct fpr_dev *fpr);
int fpr_backoff_window_end(struct fpr_dev *fpr, struct scatterlist *sgl,
			   unsigned int nents);
void fpr_backoff_account(struct fpr_dev *fpr, struct scatterlist *sgl,
			 unsigned int nents);

/* balloon.c: the device's num_pages target, deflate-on-OOM, migration */
int fpr_balloon_init(struct fpr_dev *fpr);
void fpr_balloon_free(struct fpr_dev *fpr);
int fpr_balloon_start(struct fpr_dev *fpr);
void fpr_balloon_stop(struct fpr_dev *fpr);
void fpr_balloon_changed(struct fpr_dev *fpr);
void fpr_balloon_queue(struct fpr_balloon *b, struct work_struct *w);
void fpr_balloon_ack(struct virtqueue *vq);

/* stats.c: the stats queue */
void fpr_stats_init(struct fpr_dev *fpr);
int fpr_stats_start(struct fpr_dev *fpr);
void fpr_stats_request(struct virtqueue *vq);

/* hint.c: free page hinting */
void fpr_hint_init(struct fpr_dev *fpr);
int fpr_hint_register(struct fpr_dev *fpr);
void fpr_hint_unregister(struct fpr_dev *fpr);
void fpr_hint_set_vq(struct fpr_dev *fpr, struct virtqueue *vq);
void fpr_hint_start(struct fpr_dev *fpr);
void fpr_hint_stop(struct fpr_dev *fpr);
void fpr_hint_changed(struct fpr_dev *fpr);
void fpr_hint_ack(struct virtqueue *vq);
unsigned long fpr_hint_held(struct fpr_dev *fpr);

/* sysfs.c: counters */
extern const struct attribute_group fpr_stats_group;
extern const struct attribute_group fpr_balloon_group;
extern const struct attribute_group fpr_hint_group;

#endif /* _FPR_H */
