// SPDX-License-Identifier: GPL-2.0
/*
 * The stats queue (VIRTIO_BALLOON_F_STATS_VQ): one buffer of memory
 * statistics lives with the device; when the host wants fresh figures it
 * hands the buffer back and we refill and requeue it.
 */
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/swap.h>
#include <linux/vmstat.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "fpr.h"

static void fpr_stat(struct fpr_dev *fpr, unsigned int *i, u16 tag, u64 val)
{
	struct virtio_balloon_stat *s = &fpr->balloon.stats[(*i)++];

	s->tag = cpu_to_virtio16(fpr->vdev, tag);
	s->val = cpu_to_virtio64(fpr->vdev, val);
}

#define P2B(pages)	((u64)(pages) << PAGE_SHIFT)

/* Fill the stats array; returns the number of entries */
static unsigned int fpr_stats_fill(struct fpr_dev *fpr)
{
	unsigned int i = 0;
	struct sysinfo si;
#ifdef CONFIG_VM_EVENT_COUNTERS
	unsigned long ev[NR_VM_EVENT_ITEMS];

	all_vm_events(ev);
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_SWAP_IN, P2B(ev[PSWPIN]));
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_SWAP_OUT, P2B(ev[PSWPOUT]));
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_MAJFLT, ev[PGMAJFAULT]);
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_MINFLT, ev[PGFAULT]);
#ifdef CONFIG_HUGETLB_PAGE
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_HTLB_PGALLOC,
		 ev[HTLB_BUDDY_PGALLOC]);
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_HTLB_PGFAIL,
		 ev[HTLB_BUDDY_PGALLOC_FAIL]);
#endif
#ifdef VIRTIO_BALLOON_S_OOM_KILL
	{
		u64 stall = 0;
		enum zone_type z;

		for (z = 0; z < MAX_NR_ZONES; z++)
			stall += ev[ALLOCSTALL_NORMAL - ZONE_NORMAL + z];
		fpr_stat(fpr, &i, VIRTIO_BALLOON_S_OOM_KILL, ev[OOM_KILL]);
		fpr_stat(fpr, &i, VIRTIO_BALLOON_S_ALLOC_STALL, stall);
		fpr_stat(fpr, &i, VIRTIO_BALLOON_S_ASYNC_SCAN,
			 P2B(ev[PGSCAN_KSWAPD]));
		fpr_stat(fpr, &i, VIRTIO_BALLOON_S_DIRECT_SCAN,
			 P2B(ev[PGSCAN_DIRECT]));
		fpr_stat(fpr, &i, VIRTIO_BALLOON_S_ASYNC_RECLAIM,
			 P2B(ev[PGSTEAL_KSWAPD]));
		fpr_stat(fpr, &i, VIRTIO_BALLOON_S_DIRECT_RECLAIM,
			 P2B(ev[PGSTEAL_DIRECT]));
	}
#endif
#endif
	si_meminfo(&si);
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_MEMFREE, P2B(si.freeram));
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_MEMTOT, P2B(si.totalram));
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_AVAIL, P2B(si_mem_available()));
	fpr_stat(fpr, &i, VIRTIO_BALLOON_S_CACHES,
		 P2B(global_node_page_state(NR_FILE_PAGES)));
	return i;
}

/* Put the (refilled) stats buffer with the device */
static int fpr_stats_queue(struct fpr_dev *fpr)
{
	struct fpr_balloon *b = &fpr->balloon;
	struct scatterlist sg;
	unsigned int n = fpr_stats_fill(fpr);
	int err;

	sg_init_one(&sg, b->stats, sizeof(b->stats[0]) * n);
	err = virtqueue_add_outbuf(b->stats_vq, &sg, 1, b, GFP_KERNEL);
	if (err)
		return err;
	virtqueue_kick(b->stats_vq);
	atomic64_inc(&b->counters.stats_updates);
	return 0;
}

static void fpr_stats_work(struct work_struct *work)
{
	struct fpr_balloon *b = container_of(work, struct fpr_balloon,
					     stats_work);
	struct fpr_dev *fpr = container_of(b, struct fpr_dev, balloon);
	unsigned int len;
	int err;

	/* A reset device gets no buffer; it asked before the reset */
	if (fpr_device_is_reset(fpr) || !virtqueue_get_buf(b->stats_vq, &len))
		return;
	err = fpr_stats_queue(fpr);
	/* Broken (by the transport, or the core at shutdown): as every queue */
	if (err == -EIO)
		fpr_device_broken(fpr, b->stats_vq);
	else if (err)
		dev_warn(&fpr->vdev->dev, "cannot requeue the stats buffer: %d\n",
			 err);
}

/* Stats queue callback: the host asks for fresh figures */
void fpr_stats_request(struct virtqueue *vq)
{
	struct fpr_dev *fpr = vq->vdev->priv;

	fpr_balloon_queue(&fpr->balloon, &fpr->balloon.stats_work);
}

void fpr_stats_init(struct fpr_dev *fpr)
{
	INIT_WORK(&fpr->balloon.stats_work, fpr_stats_work);
}

/* After DRIVER_OK: give the device its first stats buffer */
int fpr_stats_start(struct fpr_dev *fpr)
{
	int err;

	if (!fpr->balloon.stats_vq)
		return 0;
	err = fpr_stats_queue(fpr);
	if (err)
		dev_err(&fpr->vdev->dev,
			"cannot queue the first stats buffer: %d\n", err);
	return err;
}
