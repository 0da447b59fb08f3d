// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_fpr: free page reporting for the virtio balloon device.
 *
 * Binds to every virtio balloon device. Where the device offers free page
 * reporting (and page poison where the guest needs it) and no other driver
 * holds the page reporting core, it forwards the core's batches to the
 * device's reporting virtqueue (report.c). It always serves the balloon's
 * other functions (balloon.c, stats.c), so that it can replace
 * virtio_balloon on any host.
 */
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/virtio_ring.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "fpr.h"

/* inflate, deflate, stats, free page hint, reporting */
#define FPR_VQ_MAX	5

static bool fpr_guest_wants_poison(void)
{
	return fpr_page_poisoning_enabled() || want_init_on_free();
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
	struct virtqueue *vqs[FPR_VQ_MAX], *hint_vq;
	unsigned int n = 0, stats = 0, hint = 0;
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
	if (offered & BIT_ULL(VIRTIO_BALLOON_F_FREE_PAGE_HINT)) {
		if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
			callbacks[n] = fpr_hint_ack;
		hint = n;
		names[n++] = "free_page_vq";
	}
	/* Last: declined (poison), it shifts nothing */
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING)) {
		callbacks[n] = fpr_ack;
		names[n++] = "reporting_vq";
	}

	err = fpr_find_vqs(vdev, n, vqs, callbacks, names);
	if (err)
		return err;
	fpr->balloon.inflate_vq = vqs[0];
	fpr->balloon.deflate_vq = vqs[1];
	fpr->balloon.stats_vq = virtio_has_feature(vdev,
						   VIRTIO_BALLOON_F_STATS_VQ) ?
				vqs[stats] : NULL;
	/* Unused until fpr_hint_start() */
	hint_vq = virtio_has_feature(vdev, VIRTIO_BALLOON_F_FREE_PAGE_HINT) ?
		  vqs[hint] : NULL;
	fpr_hint_set_vq(fpr, hint_vq);
	fpr->reporting_vq = virtio_has_feature(vdev,
					       VIRTIO_BALLOON_F_REPORTING) ?
			    vqs[n - 1] : NULL;
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

	/* Queueing a report must not allocate memory (nor fail for it) */
	__virtio_clear_bit(vdev, VIRTIO_RING_F_INDIRECT_DESC);
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
	/* No buffer before DRIVER_OK (spec): reports wait for started */
	virtio_device_ready(fpr->vdev);
	fpr_device_started(fpr);
	return 0;
}

/*
 * Leave the core: the device is reset first, so that a report waiting for
 * a device that never answers ends, and its pages go back to the allocator
 * only once the device can no longer touch them.
 */
static void fpr_stop_reporting(struct fpr_dev *fpr)
{
	mutex_lock(&fpr_lock);
	if (fpr_active == fpr)
		fpr_active = NULL;
	mutex_unlock(&fpr_lock);
	/* Unlocked: it may wait for a pass that waits for the device */
	cancel_delayed_work_sync(&fpr->order_work);

	fpr_device_reset(fpr);

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

	fpr = kzalloc(sizeof(*fpr), GFP_KERNEL);
	if (!fpr)
		return -ENOMEM;
	fpr->vdev = vdev;
	vdev->priv = fpr;
	fpr_device_init(fpr);
	fpr_report_init(fpr);
	fpr_policy_init(fpr);
	fpr_hint_init(fpr);
	err = fpr_balloon_init(fpr);
	if (err)
		goto err_free;

	err = fpr_start_device(fpr);
	if (err)
		goto err_free;

	err = device_add_group(&vdev->dev, &fpr_stats_group);
	if (err)
		goto err_reset;
	err = device_add_group(&vdev->dev, &fpr_balloon_group);
	if (err)
		goto err_stats_group;
	err = device_add_group(&vdev->dev, &fpr_hint_group);
	if (err)
		goto err_balloon_group;

	/* Reporting or not, with the reason in the log and reporting/state */
	mutex_lock(&fpr_lock);
	fpr_report_start(fpr);
	mutex_unlock(&fpr_lock);

	err = fpr_balloon_start(fpr);
	if (err)
		goto err_report;
	err = fpr_hint_register(fpr);
	if (err)
		goto err_balloon;
	fpr_hint_start(fpr);
	fpr_device_debugfs_add(fpr);
	fpr_policy_debugfs_add(fpr);
	return 0;

err_balloon:
	fpr_device_teardown(fpr);
	fpr_balloon_stop(fpr);
err_report:
	fpr_stop_reporting(fpr);
	device_remove_group(&vdev->dev, &fpr_hint_group);
err_balloon_group:
	device_remove_group(&vdev->dev, &fpr_balloon_group);
err_stats_group:
	device_remove_group(&vdev->dev, &fpr_stats_group);
err_reset:
	fpr_device_reset(fpr);
	vdev->config->del_vqs(vdev);
err_free:
	vdev->priv = NULL;
	fpr_balloon_free(fpr);
	fpr_policy_free(fpr);
	kfree(fpr);
	return err;
}

/*
 * Whatever the device does, this finishes: waits for it end
 * FPR_TEARDOWN_SECS after teardown begins, with a reset (device.c).
 */
static void fpr_remove(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;

	fpr_device_teardown(fpr);
	fpr_device_debugfs_remove(fpr);
	/* Hinted and balloon pages back while the device still works */
	fpr_hint_stop(fpr);
	fpr_balloon_stop(fpr);
	fpr_stop_reporting(fpr);
	fpr_hint_unregister(fpr);

	device_remove_group(&vdev->dev, &fpr_hint_group);
	device_remove_group(&vdev->dev, &fpr_balloon_group);
	device_remove_group(&vdev->dev, &fpr_stats_group);
	vdev->config->del_vqs(vdev);
	vdev->priv = NULL;
	fpr_balloon_free(fpr);
	fpr_policy_free(fpr);
	kfree(fpr);
}

static void fpr_config_changed(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;

	if (!fpr)
		return;
	fpr_balloon_changed(fpr);
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		fpr_hint_changed(fpr);
}

#ifdef CONFIG_PM_SLEEP
/*
 * Suspend and hibernation: reporting stays registered; a pass that runs
 * meanwhile finds the device stopped and reports nothing. The balloon is
 * emptied (as virtio_balloon does), the device reset and set up again on
 * restore, and the balloon refilled. Bounded like remove.
 */
static int fpr_freeze(struct virtio_device *vdev)
{
	struct fpr_dev *fpr = vdev->priv;

	fpr_device_teardown(fpr);
	fpr_hint_stop(fpr);
	fpr_balloon_stop(fpr);
	mutex_lock(&fpr_lock);
	fpr_policy_stop(fpr);
	mutex_unlock(&fpr_lock);
	fpr_device_reset(fpr);
	/* A pass (not frozen) may still be in report(): let it leave first */
	fpr_report_quiesce(fpr);
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
	fpr_policy_update(fpr);
	mutex_unlock(&fpr_lock);
	err = fpr_balloon_start(fpr);
	if (err)
		return err;
	fpr_hint_start(fpr);
	return 0;
}
#endif

#ifdef FPR_HAVE_VIRTIO_SHUTDOWN
/* In place of the virtio core's break and reset (device.c) */
static void fpr_shutdown(struct virtio_device *vdev)
{
	fpr_device_shutdown(vdev->priv);
}
#endif

static unsigned int fpr_features[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	VIRTIO_BALLOON_F_FREE_PAGE_HINT,
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
#ifdef FPR_HAVE_VIRTIO_SHUTDOWN
	.shutdown		= fpr_shutdown,
#endif
};

static int __init fpr_init(void)
{
	int err;

	fpr_device_debugfs_init();
	err = register_virtio_driver(&fpr_driver);
	if (err)
		goto err_debugfs;
	return 0;

err_debugfs:
	fpr_device_debugfs_exit();
	fpr_core_exit();
	return err;
}
module_init(fpr_init);

static void __exit fpr_exit(void)
{
	unregister_virtio_driver(&fpr_driver);
	fpr_device_debugfs_exit();
	fpr_core_exit();
}
module_exit(fpr_exit);

MODULE_DESCRIPTION("Free page reporting driver for the virtio balloon device");
MODULE_AUTHOR("virtio-fpr developers");
MODULE_LICENSE("GPL");
