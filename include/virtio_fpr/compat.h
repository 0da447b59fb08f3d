/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version shims for virtio_fpr. Each shim names the kernel that
 * changed the interface. FPR_HAVE_* macros come from build-time probes of
 * the target kernel's headers (see src/Kbuild).
 */
#ifndef _VIRTIO_FPR_COMPAT_H
#define _VIRTIO_FPR_COMPAT_H

#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/page_reporting.h>
#include <linux/shrinker.h>
#include <linux/virtio_config.h>

/* 6.8 added MAX_PAGE_ORDER; 6.4 made MAX_ORDER inclusive, 6.1 has it exclusive */
#if defined(MAX_PAGE_ORDER)
#define FPR_MAX_ORDER	MAX_PAGE_ORDER
#elif defined(FPR_HAVE_EXCLUSIVE_MAX_ORDER)
#define FPR_MAX_ORDER	(MAX_ORDER - 1)
#else
#define FPR_MAX_ORDER	MAX_ORDER
#endif
#define FPR_NR_ORDERS	(FPR_MAX_ORDER + 1)

/* 5.11 added page_poisoning_enabled_static(); 5.10 poisons unchecked with NO_SANITY */
#ifdef FPR_HAVE_POISONING_STATIC
#define fpr_page_poisoning_enabled()	page_poisoning_enabled_static()
#else
#define fpr_page_poisoning_enabled()	(page_poisoning_enabled() && \
					 !IS_ENABLED(CONFIG_PAGE_POISONING_NO_SANITY))
#endif

/* 5.17 added virtio_reset_device(); before, the transport's reset op */
static inline void fpr_reset_device(struct virtio_device *vdev)
{
#ifdef FPR_HAVE_RESET_DEVICE
	virtio_reset_device(vdev);
#else
	vdev->config->reset(vdev);
#endif
}

/* 5.14 added page_reporting_dev_info.order; before, pageblock_order only */
#ifdef FPR_HAVE_PR_ORDER
#define FPR_PR_ORDER_FIXED		false
#define fpr_pr_order(pr)		((pr)->order)
#define fpr_pr_set_order(pr, o)		((pr)->order = (o))
#else
#define FPR_PR_ORDER_FIXED		true
#define fpr_pr_order(pr)		((unsigned int)pageblock_order)
#define fpr_pr_set_order(pr, o)		do { } while (0)
#endif

/* 6.18 wrapped page->flags in memdesc_flags_t */
#ifdef FPR_HAVE_MEMDESC_FLAGS
#define fpr_page_flags(page)	(&(page)->flags.f)
#else
#define fpr_page_flags(page)	(&(page)->flags)
#endif

/*
 * 7.2 (not 6.12): struct virtio_driver's shutdown method, in place of the
 * core's break and reset. No shim: FPR_HAVE_VIRTIO_SHUTDOWN guards it in
 * main.c and device.c, as CONFIG_PM_SLEEP guards freeze.
 */

/* 6.17 moved schedule_delayed_work() to system_percpu_wq (the core's pass) */
#ifdef FPR_HAVE_PERCPU_SCHEDULE
#define FPR_SCHEDULE_WQ	system_percpu_wq
#else
#define FPR_SCHEDULE_WQ	system_wq
#endif

/* 6.11 passes struct virtqueue_info to virtio_find_vqs() */
#ifdef FPR_HAVE_VIRTQUEUE_INFO
static inline int fpr_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			       struct virtqueue *vqs[],
			       vq_callback_t *callbacks[],
			       const char * const names[])
{
	struct virtqueue_info info[8] = {};
	unsigned int i;

	if (WARN_ON(nvqs > ARRAY_SIZE(info)))
		return -EINVAL;
	for (i = 0; i < nvqs; i++) {
		info[i].name = names[i];
		info[i].callback = callbacks[i];
	}
	return virtio_find_vqs(vdev, nvqs, vqs, info, NULL);
}
#else
static inline int fpr_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			       struct virtqueue *vqs[],
			       vq_callback_t *callbacks[],
			       const char * const names[])
{
	return virtio_find_vqs(vdev, nvqs, vqs, callbacks, names, NULL);
}
#endif

/* 6.17 added 128-bit feature words; transports may drop get_features */
static inline u64 fpr_device_features(struct virtio_device *vdev)
{
#ifdef FPR_HAVE_EXTENDED_FEATURES
	u64 features[VIRTIO_FEATURES_U64S];

	virtio_get_features(vdev, features);
	return features[0];
#else
	return vdev->config->get_features(vdev);
#endif
}

/* 7.x added page_reporting_dev_info.capacity (batches below 32) */
#ifdef FPR_HAVE_PR_CAPACITY
#define fpr_pr_set_capacity(pr, n)	((pr)->capacity = (n))
#define FPR_PR_CAPACITY_MIN		1U
#else
#define fpr_pr_set_capacity(pr, n)	do { } while (0)
#define FPR_PR_CAPACITY_MIN		PAGE_REPORTING_CAPACITY
#endif

/*
 * 7.x: <linux/balloon.h> replaced balloon_compaction.h; the core now keeps
 * the managed page counts and does a migration's list work itself.
 */
#ifdef FPR_HAVE_BALLOON_CORE
#include <linux/balloon.h>
#define FPR_BALLOON_MIGRATION	IS_ENABLED(CONFIG_BALLOON_MIGRATION)

static inline void fpr_balloon_set_adjust(struct balloon_dev_info *b,
					  bool adjust)
{
	b->adjust_managed_page_count = adjust;
}

static inline void fpr_balloon_adjust(struct page *page, long n, bool adjust)
{
}

static inline void fpr_balloon_migrated(struct balloon_dev_info *b,
					struct page *newpage,
					struct page *page, bool adjust)
{
}
#else
#include <linux/balloon_compaction.h>
#define FPR_BALLOON_MIGRATION	IS_ENABLED(CONFIG_BALLOON_COMPACTION)

static inline void fpr_balloon_set_adjust(struct balloon_dev_info *b,
					  bool adjust)
{
}

static inline void fpr_balloon_adjust(struct page *page, long n, bool adjust)
{
	if (adjust)
		adjust_managed_page_count(page, n);
}

/* 6.17 (and stable backports) replaced balloon_page_delete() on migration */
#ifdef FPR_HAVE_BALLOON_FINALIZE
#define fpr_balloon_page_finalize(page)	balloon_page_finalize(page)
#else
#define fpr_balloon_page_finalize(page)	balloon_page_delete(page)
#endif

/* The host has newpage instead of page: move the balloon's bookkeeping */
static inline void fpr_balloon_migrated(struct balloon_dev_info *b,
					struct page *newpage,
					struct page *page, bool adjust)
{
	unsigned long flags;

	if (adjust && page_zone(page) != page_zone(newpage)) {
		adjust_managed_page_count(page, 1);
		adjust_managed_page_count(newpage, -1);
	}
	get_page(newpage);
	spin_lock_irqsave(&b->pages_lock, flags);
	balloon_page_insert(b, newpage);
	b->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	fpr_balloon_page_finalize(page);
	spin_unlock_irqrestore(&b->pages_lock, flags);
	put_page(page);
}
#endif

/* 6.7 allocates shrinkers (shrinker_alloc()); 6.0 named them; before, no name */
#ifdef FPR_HAVE_SHRINKER_ALLOC
#define fpr_shrinker_priv(s, type, member)	((type *)(s)->private_data)

static inline struct shrinker *
fpr_shrinker_create(struct shrinker *unused,
		    unsigned long (*count)(struct shrinker *,
					   struct shrink_control *),
		    unsigned long (*scan)(struct shrinker *,
					  struct shrink_control *),
		    void *priv, const char *fmt, const char *arg)
{
	struct shrinker *s = shrinker_alloc(0, fmt, arg);

	if (!s)
		return ERR_PTR(-ENOMEM);
	s->count_objects = count;
	s->scan_objects = scan;
	s->private_data = priv;
	shrinker_register(s);
	return s;
}

static inline void fpr_shrinker_destroy(struct shrinker *s)
{
	shrinker_free(s);
}
#else
#define fpr_shrinker_priv(s, type, member)	container_of(s, type, member)

static inline struct shrinker *
fpr_shrinker_create(struct shrinker *s,
		    unsigned long (*count)(struct shrinker *,
					   struct shrink_control *),
		    unsigned long (*scan)(struct shrinker *,
					  struct shrink_control *),
		    void *priv, const char *fmt, const char *arg)
{
	int err;

	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
#ifdef FPR_HAVE_SHRINKER_NAME
	err = register_shrinker(s, fmt, arg);
#else
	err = register_shrinker(s);
#endif
	return err ? ERR_PTR(err) : s;
}

static inline void fpr_shrinker_destroy(struct shrinker *s)
{
	unregister_shrinker(s);
}
#endif

struct vfsmount;

/* 6.0 moved balloon pages with balloon_mops; before, via the bdi's inode */
#if defined(FPR_HAVE_BALLOON_INODE) && defined(CONFIG_BALLOON_COMPACTION)
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>

static inline int fpr_balloon_fs_init(struct fs_context *fc)
{
	return init_pseudo(fc, BALLOON_KVM_MAGIC) ? 0 : -ENOMEM;
}

static inline int fpr_balloon_inode_alloc(struct balloon_dev_info *b,
					  struct vfsmount **mnt)
{
	/*
	 * balloon_page_insert() needs an inode whose mapping has balloon_aops:
	 * one on a pseudo file system of our own per device, as 5.10's
	 * virtio_balloon has. No owner: a bound device must not pin us.
	 */
	static struct file_system_type fs = {
		.name			= "virtio_fpr-balloon",
		.init_fs_context	= fpr_balloon_fs_init,
		.kill_sb		= kill_anon_super,
	};
	struct vfsmount *m;
	struct inode *inode;

	m = kern_mount(&fs);
	if (IS_ERR(m))
		return PTR_ERR(m);
	inode = alloc_anon_inode(m->mnt_sb);
	if (IS_ERR(inode)) {
		kern_unmount(m);
		return PTR_ERR(inode);
	}
	inode->i_mapping->a_ops = &balloon_aops;
	b->inode = inode;
	*mnt = m;
	return 0;
}

/* Once no page is in the balloon (nor isolated from it) */
static inline void fpr_balloon_inode_free(struct balloon_dev_info *b,
					  struct vfsmount **mnt)
{
	if (!*mnt)
		return;
	iput(b->inode);
	b->inode = NULL;
	kern_unmount(*mnt);
	*mnt = NULL;
}
#else
static inline int fpr_balloon_inode_alloc(struct balloon_dev_info *b,
					  struct vfsmount **mnt)
{
	return 0;
}

static inline void fpr_balloon_inode_free(struct balloon_dev_info *b,
					  struct vfsmount **mnt)
{
}
#endif

#endif /* _VIRTIO_FPR_COMPAT_H */
