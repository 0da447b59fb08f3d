// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_fpr: free page reporting for the virtio balloon device.
 *
 * Binds to the virtio balloon device, negotiates free page reporting (and
 * page poison where the guest needs it) and forwards the page reporting
 * core's batches to the device's reporting virtqueue. It also serves the
 * balloon's other functions (balloon.c, stats.c), so that it can replace
 * virtio_balloon.
 */
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "fpr.h"

/* inflate, deflate, stats, free page hint, reporting */
#define FPR_VQ_MAX	5

static bool fpr_guest_wants_poison(void)
{
	return page_poisoning_enabled_static() || want_init_on_free();
}

static void fpr_ack(struct virtqueue *vq)
{
	struct fpr_dev *fpr = vq->vdev->priv;

	wake_up(&fpr->acked);
}

/*
 * Queue indexes follow the features the device offers, not only those we
 * accept: QEMU, crosvm and Linux's own driver create the stats and free
 * page hint queues whenever the device offers them. Queues we do not use
 * are still created (without a callback) to keep the numbering. The list
 * has no NULL holes: 6.12's virtio-pci frees the wrong queue on one.
 */
static int fpr_find_vqs_all(struct fpr_dev *fpr)
{
	struct virtio_device *vdev = fpr->vdev;
	u64 offered = fpr_device_features(vdev);
	vq_callback_t *callbacks[FPR_VQ_MAX] = {};
	const char *names[FPR_VQ_MAX];
	struct virtqueue *vqs[FPR_VQ_MAX];
	unsigned int n = 0, stats = 0;
	int err;

	callbacks[n] = fpr_balloon_ack;
	names[n++] = "inflate";
	callbacks[n] = fpr_balloon_ack;
	names[n++] = "deflate";
	if (offered & BIT_ULL(VIRTIO_BALLOON_F_STATS_VQ)) {
		if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ))
			callbacks[n] = fpr_stats_request;
		stats = n;
		names[n++] = "stats";
	}
	if (offered & BIT_ULL(VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		names[n++] = "free_page_vq";
	callbacks[n] = fpr_ack;
	names[n++] = "reporting_vq";

	err = fpr_find_vqs(vdev, n, vqs, callbacks, names);
	if (err)
		return err;
	fpr->balloon.inflate_vq = vqs[0];
	fpr->balloon.deflate_vq = vqs[1];
	fpr->balloon.stats_vq = virtio_has_feature(vdev,
						   VIRTIO_BALLOON_F_STATS_VQ) ?
				vqs[stats] : NULL;
	fpr->reporting_vq = vqs[n - 1];
	return 0;
}

static void fpr_write_poison(struct fpr_dev *fpr)
{
	u32 poison_val = 0;

	if (!virtio_has_feature(fpr->vdev, VIRTIO_BALLOON_F_PAGE_POISON))
		return;
	/* init_on_free wants zeroes; page_poison wants PAGE_POISON bytes */
	if (!want_init_on_free())
		memset(&poison_val, PAGE_POISON, sizeof(poison_val));
	virtio_cwrite_le(fpr->vdev, struct virtio_balloon_config, poison_val,
			 &poison_val);
}

/* Say why we cannot report on this device; always returns -ENODEV. */
static int fpr_refuse(struct virtio_device *vdev)
{
	u64 offered = fpr_device_features(vdev);

	if (!(offered & BIT_ULL(VIRTIO_BALLOON_F_REPORTING)))
		dev_err(&vdev->dev,
			"device does not offer free page reporting (VIRTIO_BALLOON_F_PAGE_REPORTING); enable it on the host, e.g. QEMU -device virtio-balloon-pci,free-page-reporting=on\n");
	else
		dev_err(&vdev->dev,
			"guest expects free pages to keep their contents (%s) but the device does not offer VIRTIO_BALLOON_F_PAGE_POISON; not reporting free pages (enable it on the host, e.g. QEMU page-poison=on)\n",
			want_init_on_free() ? "init_on_free" : "page_poison");
	return -ENODEV;
}

static int fpr_validate(struct virtio_device *vdev)
{
	/*
	 * Reported pages may come back zeroed. A guest that expects freed
	 * pages to hold a value must tell the device (PAGE_POISON); without
	 * that feature the spec forbids page reporting.
	 */
	if (!fpr_guest_wants_poison())
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_POISON);
	else if (!virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON))
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_REPORTING);

	/* Reported addresses are guest physical, never IOVAs */
	__virtio_clear_bit(vdev, VIRTIO_F_ACCESS_PLATFORM);
	return 0;
}

/* Queue set-up up to DRIVER_OK; used by probe and restore. */
static int fpr_start_device(struct fpr_dev *fpr)
{
	int err;

	err = fpr_find_vqs_all(fpr);
	if (err) {
		dev_err(&fpr->vdev->dev, "cannot set up the virtqueues: %d\n",
			err);
		return err;
	}
	fpr_write_poison(fpr);
	spin_lock_irq(&fpr->vq_lock);
	fpr->stopping = false;
	fpr->reset_done = false;
	spin_unlock_irq(&fpr->vq_lock);
	virtio_device_ready(fpr->vdev);
	return 0;
}

/*
 * Stop using the device: no new buffers, then reset. A report waiting for
 * a device that never answers then ends, and its pages go back to the
 * allocator only once the device can no longer touch them.
 */
static void fpr_stop_device(struct fpr_dev *fpr)
{
	spin_lock_irq(&fpr->vq_lock);
	fpr->stopping = true;
	spin_unlock_irq(&fpr->vq_lock);
	virtio_reset_device(fpr->vdev);
	/* Pairs with fpr_report(): the reset is complete before it sees this */
	smp_store_release(&fpr->reset_done, true);
	wake_up_all(&fpr->acked);
}

/* Unregister from the core; the device is reset first, see above */
static void fpr_stop_reporting(struct fpr_dev *fpr)
{
	mutex_lock(&fpr_lock);
	fpr_active = NULL;
	fpr_delay_stop(fpr);
	mutex_unlock(&fpr_lock);

	fpr_stop_device(fpr);

	mutex_lock(&fpr_lock);
	fpr_report_stop(fpr);
	mutex_unlock(&fpr_lock);
}

static int fpr_probe(struct virtio_device *vdev)
{
	struct fpr_dev *fpr;
	int err;

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "device has no config space access\n");
		return -EINVAL;
	}
	if (!virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING))
		return fpr_refuse(vdev);

	fpr = kzalloc(sizeof(*fpr), GFP_KERNEL);
	if (!fpr)
		return -ENOMEM;
	fpr->vdev = vdev;
	vdev->priv = fpr;
	spin_lock_init(&fpr->vq_lock);
	init_waitqueue_head(&fpr->acked);
	fpr_delay_init(fpr);
	fpr_backoff_init(fpr);
	fpr_balloon_init(fpr);

	err = fpr_start_device(fpr);
	if (err)
		goto err_free;

	err = device_add_group(&vdev->dev, &fpr_stats_group);
	if (err)
		goto err_reset;
	err = device_add_group(&vdev->dev, &fpr_balloon_group);
	if (err)
		goto err_stats_group;

	mutex_lock(&fpr_lock);
	err = fpr_report_start(fpr);
	if (!err) {
		fpr_active = fpr;
		fpr_delay_update(fpr);
	}
	mutex_unlock(&fpr_lock);
	if (err)
		goto err_balloon_group;

	err = fpr_balloon_start(fpr);
	if (err)
		goto err_report;

	dev_info(&vdev->dev,
		 "free page reporting enabled: order %u (%lu KiB), delay %u ms%s\n",
		 fpr_param_order(), (PAGE_SIZE << fpr_param_order()) / SZ_1K,
		 fpr_param_delay_ms(),
		 virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON) ?
		 ", page poison" : "");
	return 0;

err_report:
	fpr_stop_reporting(fpr);
err_balloon_group:
	device_remove_group(&vdev->dev, &fpr_balloon_group);
err_stats_group:
	device_remove_group(&vdev->dev, &fpr_stats_group);
err_reset:
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
err_free:
	vdev->priv = NULL;
	fpr_backoff_free(fpr);
	kfree(fpr);
	return err;
}

static void fpr_remove(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;

	/* Balloon pages go back to the guest while the device still works */
	fpr_balloon_stop(fpr);
	fpr_stop_reporting(fpr);

	device_remove_group(&vdev->dev, &fpr_balloon_group);
	device_remove_group(&vdev->dev, &fpr_stats_group);
	vdev->config->del_vqs(vdev);
	vdev->priv = NULL;
	fpr_backoff_free(fpr);
	kfree(fpr);
}

static void fpr_config_changed(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;

	if (fpr)
		fpr_balloon_changed(fpr);
}

#ifdef CONFIG_PM_SLEEP
/*
 * Suspend and hibernation: the core's passes run on a freezable workqueue,
 * already frozen here, so no report is in flight. Reporting stays
 * registered; the balloon is emptied (as virtio_balloon does), the device
 * is reset and set up again on restore, and the balloon refilled.
 */
static int fpr_freeze(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;

	fpr_balloon_stop(fpr);
	mutex_lock(&fpr_lock);
	fpr_delay_stop(fpr);
	mutex_unlock(&fpr_lock);
	fpr_stop_device(fpr);
	vdev->config->del_vqs(vdev);
	return 0;
}

static int fpr_restore(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;
	int err;

	err = fpr_start_device(fpr);
	if (err)
		return err;
	mutex_lock(&fpr_lock);
	fpr_delay_update(fpr);
	mutex_unlock(&fpr_lock);
	return fpr_balloon_start(fpr);
}
#endif

static unsigned int fpr_features[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	VIRTIO_BALLOON_F_PAGE_POISON,
	VIRTIO_BALLOON_F_REPORTING,
};

static const struct virtio_device_id fpr_id_table[] = {
	{ VIRTIO_ID_BALLOON, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, fpr_id_table);

static struct virtio_driver fpr_driver = {
	.feature_table		= fpr_features,
	.feature_table_size	= ARRAY_SIZE(fpr_features),
	.driver.name		= KBUILD_MODNAME,
	.id_table		= fpr_id_table,
	.validate		= fpr_validate,
	.probe			= fpr_probe,
	.remove			= fpr_remove,
	.config_changed		= fpr_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze			= fpr_freeze,
	.restore		= fpr_restore,
#endif
};
module_virtio_driver(fpr_driver);

MODULE_DESCRIPTION("Free page reporting driver for the virtio balloon device");
MODULE_AUTHOR("virtio-fpr developers");
MODULE_LICENSE("GPL");
