#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot one kernel with a virtio_fpr.ko built elsewhere (e.g. by DKMS) and
check that it binds and gives freed memory back. Prints one line of
figures; the exit status tells whether it passed."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import Guest, Kernel  # noqa: E402
import reclaim  # noqa: E402
from fprsys import SYSFS  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", required=True)
    ap.add_argument("--ko-dir", required=True)
    args = ap.parse_args()
    k = Kernel(args.series, ko_dir=args.ko_dir)
    with Guest(k, name="boot-ko") as g:
        g.run("modprobe virtio_fpr delay_ms=200")
        bound = g.out("basename $(readlink %s/driver)" % SYSFS)
        r = reclaim.measure(g, seconds=15)
        bad = g.console_problems()
    ok = bound == "virtio_fpr" and r.fraction >= 0.9 and not bad
    print("%s on %s, driver %s; %s%s" %
          (args.ko_dir, k.krel, bound, r.summary(),
           "; " + "; ".join(bad[:3]) if bad else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
