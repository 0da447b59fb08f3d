#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reclaim benchmark: the same kernel and QEMU with (a) no balloon driver,
(b) the in-tree virtio_balloon, (c) virtio_fpr at its defaults and (d)
virtio_fpr tuned, under three workloads: free 1 GiB at once, a fragmented
free (64 KiB holes), and an allocate/free churn loop. Prints a Markdown
table and the target ratios, writes RSS-over-time data and a PNG plot
(gnuplot) to build/bench/. Figures only: nothing here is a test."""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qemu"))
from guest import TOP, Guest, Kernel  # noqa: E402
import reclaim  # noqa: E402

MIB = 1 << 20
OUT = os.path.join(TOP, "build", "bench")

CONFIGS = [
    # name, modprobe command, label
    ("none", None, "no balloon driver"),
    ("in-tree", "modprobe virtio_balloon", "in-tree virtio_balloon"),
    ("fpr", "modprobe virtio_fpr", "virtio_fpr defaults"),
    ("fpr-tuned", "modprobe virtio_fpr delay_ms=100 order=%d",
     "virtio_fpr delay_ms=100 order=%d"),
]


def guest_busy(g):
    """Guest CPU seconds not idle, from /proc/stat."""
    f = g.out("head -1 /proc/stat").split()[1:]
    ticks = [int(x) for x in f]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / 100.0


def reporting_irqs(g):
    """Interrupts of the balloon device: one per acknowledged report (no
    other queue is busy here), for either driver."""
    out = g.out("grep -w virtio0 /proc/interrupts || true")
    total = 0
    for line in out.splitlines():
        for c in line.split()[1:]:
            if not c.isdigit():
                break
            total += int(c)
    return total


def free_1g(g):
    busy0, irq0 = guest_busy(g), reporting_irqs(g)
    r = reclaim.measure(g, mib=1024, seconds=20, until=2.0, period=0.1)
    return r, guest_busy(g) - busy0, reporting_irqs(g) - irq0


def fragmented(g):
    """512 MiB touched, 256 MiB freed in 64 KiB holes: MiB returned in 15 s."""
    reclaim.settle(g)
    reclaim.hold(g, 512, how="frag %d 64", tag="frag")
    r0 = g.rss()
    time.sleep(15)
    back = (r0 - g.rss()) / MIB
    reclaim.release(g, "frag")
    return back


def churn(g, seconds=20):
    """Allocate, touch and free 64 MiB in a loop: MiB/s."""
    reclaim.settle(g)
    g.run("fprmem churn 64 > /tmp/churn.log 2>&1 & echo $! > /tmp/churn.pid")
    time.sleep(seconds)
    reclaim.release(g, "churn")
    m = re.search(r"([\d.]+) MiB/s", g.read("/tmp/churn.log"))
    return float(m.group(1)) if m else 0.0


def quiesce(g, still=4.0, limit=90.0):
    """Wait until the driver's first pass over all free memory after
    loading is done: no device interrupt for `still` seconds."""
    end = time.monotonic() + limit
    last, since = reporting_irqs(g), time.monotonic()
    while time.monotonic() < end and time.monotonic() - since < still:
        time.sleep(0.5)
        now = reporting_irqs(g)
        if now != last:
            last, since = now, time.monotonic()


def run_config(k, name, cmd, order):
    """Each workload in a fresh guest: one workload's leftovers (memory
    the host already took back, or did not) must not bias the next."""
    res = {}
    for workload in (free_1g, fragmented, churn):
        with Guest(k, name="bench-" + name) as g:
            if cmd:
                g.run(cmd % order if "%d" in cmd else cmd)
                quiesce(g)
            res[workload.__name__] = workload(g)
            bad = g.console_problems()
        if bad:
            print("  kernel problems with %s: %s" % (name, bad[:3]))
    r, busy, irqs = res["free_1g"]
    return {"reclaim": r, "busy": busy, "irqs": irqs,
            "frag": res["fragmented"], "churn": res["churn"]}


def fmt_t(t):
    return "-" if t is None else "%.1f" % t


def write_plot(results, labels, series):
    os.makedirs(OUT, exist_ok=True)
    for name, res in results.items():
        r = res["reclaim"]
        with open(os.path.join(OUT, "rss-%s.dat" % name), "w") as f:
            for t, rss in r.samples:
                f.write("%.2f %.1f\n" % (t, rss / MIB))
    plot = os.path.join(OUT, "reclaim-%s.png" % series)
    lines = ", ".join("'%s/rss-%s.dat' using 1:2 with lines lw 2 title '%s'"
                      % (OUT, n, labels[n]) for n in results)
    script = ("set terminal pngcairo size 900,500 noenhanced\n"
              "set output '%s'\n"
              "set title 'QEMU RSS after the guest frees 1 GiB (%s, TCG)'\n"
              "set xlabel 'seconds after free'\nset ylabel 'RSS (MiB)'\n"
              "set grid\nset key top right\nplot %s\n" % (plot, series, lines))
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("no plot: %s" % e)
        return None
    return plot


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", default="6.1")
    ap.add_argument("--tuned-order", type=int, default=3)
    args = ap.parse_args()
    k = Kernel(args.series)
    results, labels = {}, {}
    for name, cmd, label in CONFIGS:
        print("running %s ..." % name, flush=True)
        labels[name] = label % args.tuned_order if "%d" in label else label
        results[name] = run_config(k, name, cmd, args.tuned_order)

    print("\n## Reclaim benchmark, %s, 2 GiB guest, QEMU TCG\n" % k.krel)
    print("| configuration | 1 GiB free: returned | t50 (s) | t90 (s) | "
          "guest busy CPU in 20 s (s) | device interrupts | fragmented: MiB of 256 returned | "
          "churn MiB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in results:
        res = results[name]
        r = res["reclaim"]
        print("| %s | %.0f%% | %s | %s | %.1f | %d | %.0f | %.0f |" %
              (labels[name], 100 * r.fraction, fmt_t(r.time_to(0.5)),
               fmt_t(r.time_to(0.9)), res["busy"], res["irqs"], res["frag"],
               res["churn"]))

    it, fd, ft, no = (results[n] for n in ("in-tree", "fpr", "fpr-tuned",
                                           "none"))
    t90 = {n: results[n]["reclaim"].time_to(0.9) or 99.0 for n in results}
    print("\nTargets (ratios from this run):")
    print("- defaults vs in-tree: returned %.0f%% vs %.0f%%, t90 %.1f vs "
          "%.1f s" % (100 * fd["reclaim"].fraction,
                      100 * it["reclaim"].fraction, t90["fpr"],
                      t90["in-tree"]))
    print("- tuned t90 speed-up over in-tree: %.1fx (target 5x)" %
          (t90["in-tree"] / t90["fpr-tuned"]))
    print("- fragmented, tuned vs in-tree: %.0f vs %.0f MiB" %
          (ft["frag"], it["frag"]))
    for n in ("fpr", "fpr-tuned"):
        print("- churn, %s vs none: %+.1f%% (target within 2%%)" %
              (labels[n], 100 * (results[n]["churn"] / no["churn"] - 1)))
    plot = write_plot(results, labels, k.krel)
    if plot:
        print("\nplot: %s" % plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
