#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Demo: boot a Debian kernel under QEMU with virtio_fpr, allocate 1 GiB in
the guest, free it, and watch the QEMU process hand it back to the host."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import Guest, Kernel  # noqa: E402
import reclaim  # noqa: E402
from fprsys import counters  # noqa: E402

MIB = 1 << 20


def bar(rss, top):
    width = 50
    n = int(width * rss / max(top, 1))
    return "#" * n + "." * (width - n)


def show(g, mib, seconds, label):
    print("\n== %s: guest allocates %d MiB, then frees it" % (label, mib))
    base = reclaim.settle(g)
    reclaim.hold(g, mib)
    peak = g.rss()
    print("   host RSS of QEMU: %5d MiB before, %5d MiB while held" %
          (base // MIB, peak // MIB))
    reclaim.release(g)
    t0 = time.monotonic()
    while True:
        t = time.monotonic() - t0
        rss = g.rss()
        print("   t=%5.1f s  %5d MiB  %s" % (t, rss // MIB, bar(rss, peak)),
              flush=True)
        if t > seconds or (peak - rss) > 0.95 * (peak - base):
            break
        time.sleep(0.5)
    print("   host got back %d of %d MiB in %.1f s" %
          ((peak - rss) // MIB, mib, t))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", default="6.1",
                    help="kernel series to boot: 6.1, 6.12 or 7.2")
    ap.add_argument("--mib", type=int, default=1024)
    args = ap.parse_args()
    print("Preparing the %s kernel, initramfs and module..." % args.series)
    k = Kernel(args.series)
    with Guest(k, name="demo") as g:
        print("Guest %s booted in %.1f s (QEMU TCG, 2 GiB, "
              "virtio-balloon-pci,free-page-reporting=on)" %
              (k.krel, g.boot_seconds))
        g.run("modprobe virtio_fpr")
        print("   " + g.out("dmesg | grep 'virtio_fpr virtio0'"))
        show(g, args.mib, 20, "defaults (order 9, burst_mb 128)")
        # What the in-tree driver does: the core's 2 s per 1/16 of a list
        g.run("echo 0 > /sys/module/virtio_fpr/parameters/burst_mb")
        show(g, args.mib, 20, "burst_mb=0 (the core's pace, as "
             "virtio_balloon)")
        c = counters(g)
        print("\nCounters (/sys/bus/virtio/devices/virtio0/reporting/):")
        for name in sorted(c):
            print("   %-17s %s" % (name, c[name]))
        bad = g.console_problems()
    if bad:
        print("kernel problems:\n" + "\n".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
