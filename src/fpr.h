/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio_fpr private definitions.
 */
#ifndef _FPR_H
#define _FPR_H

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/page_reporting.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <virtio_fpr/compat.h>

/* The core waits this long before a pass (PAGE_REPORTING_DELAY, all kernels) */
#define FPR_CORE_DELAY_MS	2000U
/* Period of the "device has not acknowledged" warning */
#define FPR_ACK_WARN_SECS	10U

struct fpr_stats {
	atomic64_t reports;		/* acknowledged report requests */
	atomic64_t pages;		/* base pages in them */
	atomic64_t errors;		/* reports that failed */
	atomic64_t ack_timeouts;	/* FPR_ACK_WARN_SECS waits without ack */
	atomic64_t blocks[FPR_NR_ORDERS];	/* reported blocks per order */
	atomic64_t last_report_ms;	/* CLOCK_BOOTTIME of the last ack */
};

struct fpr_dev {
	struct virtio_device *vdev;
	struct virtqueue *reporting_vq;
	struct page_reporting_dev_info pr;
	bool registered;		/* pr is registered with the core */
	unsigned int core_order_saved;	/* core order before we registered */

	/* Serialises vq use against device teardown */
	spinlock_t vq_lock;
	bool stopping;			/* no new buffers (under vq_lock) */
	bool reset_done;		/* device reset: it uses no buffer */
	wait_queue_head_t acked;

	/* delay_ms != core delay: move the core's pending pass (delay.c) */
	struct delayed_work delay_work;
	unsigned long delay_expires;	/* expiry we last gave the pass */

	struct fpr_stats stats;
};

/* params.c: module parameters and the one device they apply to */
extern struct mutex fpr_lock;
extern struct fpr_dev *fpr_active;	/* under fpr_lock */
unsigned int fpr_param_order(void);
unsigned int fpr_param_delay_ms(void);

/* report.c: page reporting core registration and report() */
int fpr_report_start(struct fpr_dev *fpr);
void fpr_report_stop(struct fpr_dev *fpr);
int fpr_report_set_order(struct fpr_dev *fpr, unsigned int order);
void fpr_report_kick(struct fpr_dev *fpr);

/* delay.c: delay_ms applied to the core's pass scheduling */
void fpr_delay_init(struct fpr_dev *fpr);
void fpr_delay_update(struct fpr_dev *fpr);
void fpr_delay_stop(struct fpr_dev *fpr);

/* sysfs.c: counters */
extern const struct attribute_group fpr_stats_group;

#endif /* _FPR_H */
