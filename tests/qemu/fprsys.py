# SPDX-License-Identifier: GPL-2.0
"""The guest's view of virtio_fpr: sysfs paths, binding, feature bits,
kernel log and counters. Shared by the suite, the demo and the benchmark."""

import re

SYSFS = "/sys/bus/virtio/devices/virtio0"
PARAMS = "/sys/module/virtio_fpr/parameters"
DRIVER = "/sys/bus/virtio/drivers/virtio_fpr"
CORE_ORDER = "/sys/module/page_reporting/parameters/page_reporting_order"
# Large frees seen (burst_mb)
BURSTS = "/sys/kernel/debug/virtio_fpr/virtio0/bursts"
BURSTS_BACK = "/sys/kernel/debug/virtio_fpr/virtio0/bursts_taken_back"
BURST_COOLDOWN = "/sys/kernel/debug/virtio_fpr/virtio0/burst_cooldown_ms"


def bound(g):
    """virtio0 is bound to virtio_fpr."""
    return g.run("test -e %s/driver" % SYSFS, check=False)[0] == 0 and \
        g.out("basename $(readlink %s/driver)" % SYSFS) == "virtio_fpr"


def feature(g, bit):
    """Feature bit negotiated with the device."""
    return g.read(SYSFS + "/features")[bit] == "1"


def dmesg_has(g, text):
    return g.run("dmesg | grep -qF -- '%s'" % text, check=False)[0] == 0


def freeze_restore(g):
    """Run the drivers' freeze and restore callbacks (pm_test=devices, no
    wake-up source needed); return the exit status. The kernel logs how
    long each device's callbacks took (pm_print_times)."""
    g.run("echo 1 > /sys/power/pm_print_times", check=False)
    return g.run("echo devices > /sys/power/pm_test && "
                 "echo freeze > /sys/power/state", check=False,
                 timeout=120)[0]


def pm_callback_secs(g):
    """Seconds the power management callbacks of virtio0's transport
    device (virtio-pci's, which call the driver's freeze and restore)
    took in the last freeze_restore(), from the kernel's pm_print_times
    lines, as a list; None where the kernel printed none."""
    dev = g.out("basename $(dirname $(readlink -f %s))" % SYSFS)
    out = g.out("dmesg | sed -n '/PM: suspend entry/h; /PM: suspend "
                "entry/!H; ${x; p}' | grep ' %s: .* returned ' || true"
                % dev)
    took = [int(m.group(1)) / 1e6 for m in
            re.finditer(r" returned -?\d+ after (\d+) usecs", out)]
    return took or None


def max_order(g):
    """The guest's largest page order (/proc/buddyinfo's last column)."""
    return int(g.out("awk 'NR == 1 { print NF - 5 }' /proc/buddyinfo"))


def counters(g, group="reporting"):
    """The driver's counters in SYSFS/GROUP ("reporting" or "balloon"), as
    a dict (blocks_per_order as a list)."""
    out = g.out("cd %s/%s && for f in *; do echo \"$f $(cat $f)\"; done"
                % (SYSFS, group))
    c = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        if name == "state":     # the one text file: see reporting_state()
            continue
        vals = [int(v) for v in value.split()]
        c[name] = vals if name == "blocks_per_order" else vals[0]
    return c
