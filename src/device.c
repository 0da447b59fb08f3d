// SPDX-License-Identifier: GPL-2.0
/*
 * Buffers in flight and the device's reset. A report or a balloon request
 * waits until the device has used its buffer: the pages must not go back
 * to the guest (or be counted told) before that. A device that never
 * answers must not hold up unbind, rmmod or suspend: once teardown has
 * begun, a wait gives the device FPR_TEARDOWN_SECS more and then resets
 * it. A reset device touches no buffer again, so every waiter may then
 * release its pages: reported pages go back unreported, balloon pages
 * untold (the device forgot them with the reset).
 *
 * A broken queue (marked by the transport or the virtio core) never hands
 * a buffer back: the device is reset as soon as one is seen, so the pages
 * go back then, not at the next teardown.
 *
 * debugfs virtio_fpr/<device>/, fault injection for the tests, with
 * fault_injection=1 at load only: stall_acks: while set, the driver
 * ignores used buffers on every queue (hint.c too), as if the device had
 * stopped acknowledging them; break_device: writing 1 marks every queue
 * broken (virtio_break_device(), as the virtio core does to a device it
 * gives up on). Neither can be undone but by a rebind.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#include "fpr.h"

static struct dentry *fpr_debugfs_root;

void fpr_device_init(struct fpr_dev *fpr)
{
	spin_lock_init(&fpr->vq_lock);
	mutex_init(&fpr->reset_lock);
	init_waitqueue_head(&fpr->acked);
}

/* The device is (again) set up: buffers may be queued, waits are unbounded */
void fpr_device_started(struct fpr_dev *fpr)
{
	spin_lock_irq(&fpr->vq_lock);
	fpr->stopping = false;
	fpr->reset_done = false;
	spin_unlock_irq(&fpr->vq_lock);
	WRITE_ONCE(fpr->teardown, false);
}

bool fpr_device_is_reset(struct fpr_dev *fpr)
{
	/* Pairs with fpr_device_reset(): the reset is complete */
	return smp_load_acquire(&fpr->reset_done);
}

/* Every waiter looks again: device.c's, the balloon's and the hint work */
static void fpr_device_wake_all(struct fpr_dev *fpr)
{
	wake_up_all(&fpr->acked);
	wake_up_all(&fpr->balloon.acked);
	wake_up_all(&fpr->hint.acked);
	fpr_hint_changed(fpr);
}

/*
 * No new buffers, then reset: the device uses none of those it holds
 * afterwards. Idempotent: true if this call reset it, and woke every
 * waiter.
 */
bool fpr_device_reset(struct fpr_dev *fpr)
{
	bool did = false;

	mutex_lock(&fpr->reset_lock);
	if (!fpr->reset_done) {
		spin_lock_irq(&fpr->vq_lock);
		fpr->stopping = true;
		spin_unlock_irq(&fpr->vq_lock);
		fpr_reset_device(fpr->vdev);
		/* Pairs with fpr_device_is_reset(): the reset is complete */
		smp_store_release(&fpr->reset_done, true);
		did = true;
	}
	mutex_unlock(&fpr->reset_lock);
	/*
	 * Once (the hint work calls this, and the wake-up requeues it); the
	 * hinted blocks go back too: the device forgot them
	 */
	if (did)
		fpr_device_wake_all(fpr);
	return did;
}

/* Unbind, rmmod or freeze has begun: bound every wait from now on */
void fpr_device_teardown(struct fpr_dev *fpr)
{
	WRITE_ONCE(fpr->teardown_start, jiffies);
	/* Pairs with fpr_device_overdue(): the start is set first */
	smp_store_release(&fpr->teardown, true);
}

static bool fpr_device_overdue(struct fpr_dev *fpr)
{
	/* Pairs with fpr_device_teardown(): teardown_start is set */
	return smp_load_acquire(&fpr->teardown) &&
	       time_after(jiffies, READ_ONCE(fpr->teardown_start) +
				   FPR_TEARDOWN_SECS * HZ);
}

/*
 * Teardown began FPR_TEARDOWN_SECS ago and the device still holds N WHAT
 * (since START, jiffies): reset it, logged and counted, so that every
 * waiter may release what it holds. True if it was reset.
 */
bool fpr_device_reset_overdue(struct fpr_dev *fpr, unsigned long n,
			      const char *what, unsigned long start)
{
	if (!fpr_device_overdue(fpr))
		return false;
	/* Logged and counted once, by the waiter whose call reset it */
	if (fpr_device_reset(fpr)) {
		atomic64_inc(&fpr->stats.resets);
		dev_warn(&fpr->vdev->dev, "device has not used %lu %s in %u s and is going away: resetting it\n",
			 n, what, jiffies_to_msecs(jiffies - start) / 1000);
	}
	return true;
}

/*
 * Halt, power-off, reboot or kexec: system_state is set before any device
 * shutdown begins. Where the virtio core lets a driver replace its device
 * shutdown (7.2 has it, 6.12 not), main.c calls fpr_device_shutdown();
 * without it the core breaks every queue and resets the device behind our
 * back, and a waiter that sees the broken queue resets it again, quietly.
 */
static bool fpr_device_going_down(void)
{
	return system_state == SYSTEM_HALT ||
	       system_state == SYSTEM_POWER_OFF ||
	       system_state == SYSTEM_RESTART;
}

#ifdef FPR_HAVE_VIRTIO_SHUTDOWN
/*
 * What the core would do, in its order: no kick reaches the device after
 * the reset (some devices wedge on one), every callback sees the queues
 * broken; then one reset, through fpr_device_reset(), so that the device
 * is reset once and every waiter wakes at once and gives back what it
 * holds. Quiet: nothing went wrong.
 */
void fpr_device_shutdown(struct fpr_dev *fpr)
{
	struct device *dev = &fpr->vdev->dev;

	virtio_break_device(fpr->vdev);
	virtio_synchronize_cbs(fpr->vdev);
	if (fpr_device_reset(fpr))
		dev_dbg(dev, "shutdown: device reset\n");
	else
		dev_dbg(dev, "shutdown: device already reset\n");
}
#endif

/*
 * VQ is broken: the device will use none of its buffers. Reset it, logged
 * and counted once, so that every waiter may release what it holds. Not
 * an error while the system goes down: the virtio core broke it.
 */
void fpr_device_broken(struct fpr_dev *fpr, struct virtqueue *vq)
{
	const char *name = vq->name;

	if (!fpr_device_reset(fpr))
		return;
	if (fpr_device_going_down()) {
		dev_dbg(&fpr->vdev->dev, "%s queue broken at shutdown\n", name);
		return;
	}
	atomic64_inc(&fpr->stats.errors);
	dev_err(&fpr->vdev->dev, "%s queue broken; the device was reset\n",
		name);
}

/*
 * Has the device used the one buffer on VQ (*used), or been reset? After
 * a reset VQ is not touched: freeze deletes it once the waiter is gone.
 */
static bool fpr_device_done(struct fpr_dev *fpr, struct virtqueue *vq,
			    bool *used)
{
	unsigned int len;

	if (fpr_device_is_reset(fpr))
		return true;
	/* (none from a broken queue, or one broken by a bad ring here) */
	if (!READ_ONCE(fpr->stall_acks) && virtqueue_get_buf(vq, &len))
		*used = true;
	return *used || virtqueue_is_broken(vq);
}

/*
 * Wait until the device has used the one buffer (N WHAT) on VQ: true. False
 * when the device was reset instead and will never use it.
 */
bool fpr_device_wait_used(struct fpr_dev *fpr, wait_queue_head_t *wq,
			  struct virtqueue *vq, unsigned int n,
			  const char *what)
{
	struct device *dev = &fpr->vdev->dev;
	unsigned long start = jiffies;
	unsigned int secs = 0;
	bool used = false;

	for (;;) {
		/* Idle: a report held by a silent device is no load */
		wait_event_idle_timeout(*wq, fpr_device_done(fpr, vq, &used),
					HZ);
		if (used || fpr_device_is_reset(fpr))
			break;
		/* A broken queue never hands the buffer back */
		if (virtqueue_is_broken(vq)) {
			fpr_device_broken(fpr, vq);
			continue;
		}
		if (fpr_device_reset_overdue(fpr, n, what, start))
			continue;
		if (++secs % FPR_ACK_WARN_SECS)
			continue;
		atomic64_inc(&fpr->stats.ack_timeouts);
		dev_warn(dev, "device has not acknowledged %u %s for %u s; they stay with it until it does\n",
			 n, what, secs);
	}
	if (used && secs >= FPR_ACK_WARN_SECS)
		dev_info(dev, "device acknowledged %u %s after %u+ s\n", n, what,
			 secs);
	return used;
}

void fpr_device_debugfs_init(void)
{
	fpr_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

void fpr_device_debugfs_exit(void)
{
	debugfs_remove_recursive(fpr_debugfs_root);
}

static ssize_t fpr_device_break_write(struct file *file,
				      const char __user *buf, size_t len,
				      loff_t *ppos)
{
	struct fpr_dev *fpr = file->private_data;
	bool now;
	int err;

	err = kstrtobool_from_user(buf, len, &now);
	if (err)
		return err;
	if (!now)
		return len;
	dev_info(&fpr->vdev->dev, "breaking every queue (debugfs)\n");
	virtio_break_device(fpr->vdev);
	/* Each finds its queue broken, the hint work with blocks held too */
	fpr_device_wake_all(fpr);
	return len;
}

static const struct file_operations fpr_device_break_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = fpr_device_break_write,
	.llseek = noop_llseek,
};

void fpr_device_debugfs_add(struct fpr_dev *fpr)
{
	fpr->debugfs = debugfs_create_dir(dev_name(&fpr->vdev->dev),
					  fpr_debugfs_root);
	if (!fpr_param_fault_injection())
		return;
	debugfs_create_bool("stall_acks", 0600, fpr->debugfs,
			    &fpr->stall_acks);
	debugfs_create_file("break_device", 0200, fpr->debugfs, fpr,
			    &fpr_device_break_fops);
}

void fpr_device_debugfs_remove(struct fpr_dev *fpr)
{
	debugfs_remove_recursive(fpr->debugfs);
	fpr->debugfs = NULL;
}
