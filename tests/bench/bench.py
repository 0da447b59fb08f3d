#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reclaim benchmark: the same kernel and QEMU with (a) no balloon driver,
(b) the in-tree virtio_balloon, (c) virtio_fpr at its defaults and (d)
virtio_fpr tuned, under three workloads: free 1 GiB at once, a fragmented
free (64 KiB holes), and an allocate/free churn loop; then what churn costs
the host (QEMU's minor faults and the MiB they mapped, quiet and loaded
host); then large guests (8 and 16 GiB) freeing most of their memory, one
at a time: t50/t90 against the size freed. The churn loop runs in
one guest per driver, alternately with the driver loaded and unloaded, so
that guest-to-guest noise (about 10% under TCG) does not swamp the
difference, with transparent huge pages off in the guest (see churn()),
and once without any driver as an A/A control. Prints a Markdown table and
the target ratios, writes RSS-over-time data and PNG plots (gnuplot) to
build/bench/. Figures only: nothing here is a test."""

import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qemu"))
from backoff_suite import churn_rate  # noqa: E402
from guest import TOP, Guest, Kernel  # noqa: E402
import fprsys  # noqa: E402
import reclaim  # noqa: E402

MIB = 1 << 20
OUT = os.path.join(TOP, "build", "bench")

CONFIGS = [
    # name, modprobe command, label
    ("none", None, "no balloon driver"),
    ("in-tree", "modprobe virtio_balloon", "in-tree virtio_balloon"),
    ("fpr", "modprobe virtio_fpr", "virtio_fpr defaults"),
    ("fpr-no-backoff", "modprobe virtio_fpr backoff_max=0",
     "virtio_fpr backoff_max=0"),
    ("fpr-tuned", "modprobe virtio_fpr delay_ms=100 order=%d",
     "virtio_fpr delay_ms=100 order=%d"),
]


def with_order(text, order):
    """A CONFIGS command or label with the tuned order filled in."""
    return text % order if text and "%d" in text else text


# A churn() result: mean change loaded vs unloaded, stdev of the pairs,
# 95% confidence half-width of the mean, MiB/s loaded, device interrupts,
# and for virtio_fpr the cost model (refault_cost()): MiB reported during
# the loaded phases, their length (s), and the guest ms that refaulting a
# MiB, reporting a MiB and sending one report cost (None: not measured).
Churn = collections.namedtuple("Churn", "change sd ci speed irqs reported "
                               "loaded_s refault_ms report_ms irq_ms")


def fmt_churn(ch):
    """Mean change ± stdev and the 95% interval of a churn() result."""
    return "%+.1f%% ± %.1f, 95%% confidence %+.1f%% to %+.1f%%" % (
        100 * ch.change, 100 * ch.sd, 100 * (ch.change - ch.ci),
        100 * (ch.change + ch.ci))


def churn_bound(ch):
    """The most reporting can have cost the loaded phases (a fraction of
    their time): every MiB reported refaulted within them, and reporting's
    own time, a*reports + b*MiB, bounded by whichever of reports or MiB
    grew more relative to the measurement of a*R + b*M."""
    if ch.refault_ms is None:
        return None
    report = max(ch.reported * ch.report_ms, ch.irqs * ch.irq_ms)
    return (ch.reported * ch.refault_ms + report) / 1000 / ch.loaded_s


def fmt_bound(ch):
    b = churn_bound(ch)
    if ch.reported is None:
        return "-"
    if b is None:
        return "refault cost not measured"
    return ("%.0f MiB reported (%.1f MiB/s), refault %.2f ms/MiB, "
            "reporting %.2f ms/MiB or %.1f ms/report: at most %.2f%%" %
            (ch.reported, ch.reported / ch.loaded_s, ch.refault_ms,
             ch.report_ms, ch.irq_ms, 100 * b))


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


# Two-sided 95% quantiles of Student's t for 1 to 20 degrees of freedom
T95 = (12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20,
       2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.10, 2.09, 2.09)


def ci95(values):
    """Half-width of the 95% confidence interval of the mean of VALUES."""
    n = len(values)                 # 2 to 21: main() checks --pairs
    return T95[n - 2] * statistics.stdev(values) / n ** 0.5


def churn(k, name, cmd, pairs=4, seconds=12, thp=False):
    """Churn throughput with the driver loaded relative to unloaded, in one
    guest, phases in ABBA order: a Churn. With CMD None both phases run
    without a driver (an A/A control: the interval the noise alone
    gives). Transparent huge pages are off in the guest unless THP: under
    TCG, churning huge pages makes phases of a driverless guest differ by
    about 17%, 4 KiB pages by about 4%.
    For virtio_fpr, the cost model bounds the same change with far less
    noise: MiB reported during the loaded phases, times what refaulting
    and reporting a MiB costs in this guest (refault_cost())."""
    module = cmd.split()[1] if cmd else None
    ours = module == "virtio_fpr"
    ratios, loaded, irqs, reported = [], [], 0, 0
    with Guest(k, name="bench-churn-" + name) as g:
        if not thp:
            g.run("echo never > /sys/kernel/mm/transparent_hugepage/enabled")
        for i in range(pairs):
            speed = {}
            for state in ("off", "on") if i % 2 == 0 else ("on", "off"):
                if state == "on" and cmd:
                    g.run(cmd)
                    quiesce(g)
                elif cmd:
                    g.run("rmmod %s 2>/dev/null; true" % module)
                reclaim.settle(g)
                irq0 = reporting_irqs(g)
                bytes0 = reported_bytes(g) if ours and state == "on" else 0
                speed[state] = churn_rate(g, 64, seconds)
                if state == "on":
                    irqs += reporting_irqs(g) - irq0
                    if ours:
                        reported += (reported_bytes(g) - bytes0) / MIB
            ratios.append(speed["on"] / speed["off"] - 1)
            loaded.append(speed["on"])
        cost = refault_cost(g) if ours else (None, None, None)
    return Churn(statistics.mean(ratios), statistics.stdev(ratios),
                 ci95(ratios), statistics.mean(loaded), irqs,
                 reported if ours else None, pairs * seconds, *cost)


# Host faults under churn: what reporting costs the host directly
FAULT_CONFIGS = [
    ("none", None, "no balloon driver"),
    ("in-tree", "modprobe virtio_balloon", "in-tree virtio_balloon"),
    ("fpr", "modprobe virtio_fpr", "virtio_fpr defaults"),
    ("fpr-200", "modprobe virtio_fpr delay_ms=200", "virtio_fpr delay_ms=200"),
]


def qemu_minflt(g):
    """Minor faults of the QEMU process so far (/proc/PID/stat field
    10): each is the host mapping a guest page again, e.g. one it had
    discarded after a report."""
    with open("/proc/%d/stat" % g.proc.pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


class RssRises:
    """Samples QEMU's VmRSS every PERIOD s in a thread, between start()
    and stop(): the sum of its rises is the MiB the host mapped in again
    (4 KiB or 2 MiB a fault, with THP), a lower bound (a rise and a fall
    within one period cancel out)."""

    def __init__(self, g, period=0.1):
        self.g, self.period = g, period
        self.rises, self.done = 0, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        last = self.g.rss()
        while not self.done.wait(self.period):
            now = self.g.rss()
            self.rises += max(now - last, 0)
            last = now

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        """MiB faulted back while sampling."""
        self.done.set()
        self.thread.join()
        return self.rises / MIB


def host_hogs(n):
    """N busy loops on the host (a loaded host), to stop with
    stop_hogs()."""
    return [subprocess.Popen(["sh", "-c", "while :; do :; done"])
            for _ in range(n)]


def stop_hogs(hogs):
    for h in hogs:
        h.kill()
        h.wait()


def host_faults(k, name, cmd, seconds=60, hogs=0):
    """QEMU minor faults during SECONDS of a 64 MiB allocate/touch/free
    loop in a 2 GiB guest, started after the driver's first flush, with
    HOGS busy loops on the host; the MiB/s the loop reached; the MiB
    they faulted back (RssRises)."""
    with Guest(k, name="bench-faults-" + name) as g:
        if cmd:
            g.run(cmd)
        quiesce(g)
        busy = host_hogs(hogs)
        try:
            f0, rises = qemu_minflt(g), RssRises(g).start()
            rate = churn_rate(g, 64, seconds)
            mib = rises.stop()
            faults = qemu_minflt(g) - f0
        finally:
            stop_hogs(busy)
    return faults, rate, mib


def faults_table(k, configs, seconds):
    """Host faults under churn per driver, on a quiet host and with two
    busy loops on the host's cores; each minus the run without a driver."""
    rows = {}
    for name, cmd, label in configs:
        print("faults: %s ..." % name, flush=True)
        rows[name] = (label, host_faults(k, name, cmd, seconds),
                      host_faults(k, name, cmd, seconds, hogs=2))
    print_faults(k, rows, seconds)
    plot = write_faults_plot(rows, k.krel)
    if plot:
        print("\nplot: %s" % plot)
    return rows


def fmt_faults(run, base):
    """One host's cells of a faults_table() row: faults (above BASE),
    MiB faulted back (above BASE), loop MiB/s."""
    df = run[0] - base[0] if base else 0
    dm = run[2] - base[2] if base else 0
    return "%d (%+d) | %.0f (%+.0f) | %.0f" % (run[0], df, run[2], dm,
                                               run[1])


def print_faults(k, rows, seconds):
    base = rows.get("none")
    print("\n## Host faults under churn, %s, 2 GiB guest, QEMU TCG\n" %
          k.krel)
    print("| configuration | quiet host: QEMU minor faults (above no "
          "driver) | MiB faulted back (above no driver) | loop MiB/s | "
          "loaded host: faults (above no driver) | MiB faulted back | "
          "loop MiB/s |")
    print("|---|---|---|---|---|---|---|")
    for name, (label, quiet, loaded) in rows.items():
        print("| %s | %s | %s |" %
              (label, fmt_faults(quiet, base and base[1]),
               fmt_faults(loaded, base and base[2])))
    print("\n%d s of a 64 MiB allocate/touch/free loop after the first "
          "flush; loaded: two busy loops on the host's cores meanwhile. "
          "MiB faulted back: the rises of QEMU's VmRSS sampled every "
          "100 ms, summed. One run each: TCG timings are relative." %
          seconds)


def reported_bytes(g):
    return fprsys.counters(g)["bytes"]


def held_seconds(g, mib):
    """Touch MIB in the guest (fprmem hold), free it: seconds it took
    (None if fprmem's log does not say)."""
    reclaim.hold(g, mib)
    log = g.read("/tmp/hold.log")
    reclaim.release(g)
    m = re.search(r"held \d+ MiB in ([\d.]+) s", log)
    if not m:
        print("  refault round skipped: fprmem hold said %r" % log[:200])
        return None
    return float(m.group(1))


def refault_cost(g, mib=512, rounds=3):
    """What reporting costs the guest, in ms, median of ROUNDS: per MiB,
    touching memory the host took back minus touching memory it kept
    (the host's fault and zeroing); the guest CPU time of reporting
    (isolating, the device's discard; idle time is not counted) per MiB
    and per report. None each if no round could measure."""
    refault, report, per_irq = [], [], []
    for _ in range(rounds):
        g.run("rmmod virtio_fpr 2>/dev/null; true")
        held_seconds(g, mib)                   # now resident on the host
        rss0 = g.rss()
        kept = held_seconds(g, mib)
        if kept is None or g.rss() - rss0 > mib * MIB / 8:
            continue                           # not the same pages again
        busy0, irq0 = guest_busy(g), reporting_irqs(g)
        g.run("modprobe virtio_fpr delay_ms=100")
        quiesce(g)
        busy, sent = guest_busy(g) - busy0, reported_bytes(g) / MIB
        irqs = reporting_irqs(g) - irq0
        g.run("rmmod virtio_fpr")
        rss0 = g.rss()
        taken = held_seconds(g, mib)
        back = (g.rss() - rss0) / MIB          # MiB the host faulted in
        # a reload reports only what is not marked reported from before
        if taken is None or back < mib / 4 or sent < mib / 2 or not irqs:
            continue
        refault.append(1000 * (taken - kept) / back)
        report.append(1000 * busy / sent)
        per_irq.append(1000 * busy / irqs)
    if not refault:
        return None, None, None
    return (statistics.median(refault), statistics.median(report),
            statistics.median(per_irq))


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


def run_config(k, name, cmd, args):
    """Each workload in a fresh guest: one workload's leftovers (memory
    the host already took back, or did not) must not bias the next."""
    res = {}
    for workload in (free_1g, fragmented):
        with Guest(k, name="bench-" + name) as g:
            if cmd:
                g.run(with_order(cmd, args.tuned_order))
                quiesce(g)
            res[workload.__name__] = workload(g)
            bad = g.console_problems()
        if bad:
            print("  kernel problems with %s: %s" % (name, bad[:3]))
    r, busy, irqs = res["free_1g"]
    return {"reclaim": r, "busy": busy, "irqs": irqs,
            "frag": res["fragmented"],
            "churn": churn(k, name, with_order(cmd, args.tuned_order),
                           args.pairs, args.seconds, args.guest_thp)}


# Scale: large guests freeing most of their memory, one guest at a time.
# A scale_run() result: the Reclaim, the guest's boot and fill seconds.
ScaleRun = collections.namedtuple("ScaleRun", "reclaim boot_s fill_s")
SCALE = "2048:1024,8192:6144,16384:14336"


def parse_sizes(text):
    """--scale's GUEST_MIB:FREED_MIB,... as [(guest, freed)]."""
    sizes = []
    for item in text.split(","):
        guest, freed = (int(x) for x in item.split(":"))
        if not 0 < freed < guest:
            raise ValueError("%s: freed must be below the guest's size" %
                             item)
        sizes.append((guest, freed))
    return sizes


def scale_run(k, name, cmd, guest_mib, free_mib, seconds):
    """A GUEST_MIB guest with the driver loaded after its first flush
    holds FREE_MIB (fprmem hold) and frees it: RSS sampled every 100 ms
    until 98% is back or SECONDS passed."""
    with Guest(k, mem_mib=guest_mib, name="bench-scale-" + name) as g:
        if cmd:
            g.run(cmd)
            quiesce(g, limit=240)
        r = reclaim.measure(g, mib=free_mib, seconds=seconds, until=0.98,
                            period=0.1)
        m = re.search(r"held \d+ MiB in ([\d.]+) s",
                      g.read("/tmp/hold.log"))
        bad = g.console_problems()
        boot = g.boot_seconds
    if bad:
        print("  kernel problems with %s: %s" % (name, bad[:3]))
    return ScaleRun(r, boot, float(m.group(1)) if m else None)


def scale_table(k, configs, sizes, seconds):
    """scale_run() per size and driver; prints a row as each ends (a
    run can take minutes) and the table: {(name, guest, freed): run}."""
    runs = {}
    for guest, freed in sizes:
        for name, cmd, label in configs:
            print("scale: %s, %d MiB guest frees %d MiB ..." %
                  (name, guest, freed), flush=True)
            run = scale_run(k, name, cmd, guest, freed, seconds)
            runs[(name, guest, freed)] = run
            print("  " + fmt_scale(label, guest, run), flush=True)
    labels = {c[0]: c[2] for c in configs}
    print_scale(k, labels, runs, seconds)
    plot = write_scale_plot(runs, labels, k.krel)
    if plot:
        print("\nplot: %s" % plot)
    return runs


def fmt_scale(label, guest, run):
    r = run.reclaim
    return "| %s | %d GiB | %.0f GiB | %.0f%% | %s | %s | %.0f | %s |" % (
        label, guest // 1024, r.mib / 1024, 100 * r.fraction,
        fmt_t(r.time_to(0.5)), fmt_t(r.time_to(0.9)), run.boot_s,
        fmt_t(run.fill_s))


def print_scale(k, labels, runs, seconds):
    print("\n## Scale, %s, QEMU TCG\n" % k.krel)
    print("| configuration | guest | freed | returned | t50 (s) | t90 (s) | "
          "boot (s) | fill (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, guest, _), run in runs.items():
        print(fmt_scale(labels[name], guest, run))
    print("\nOne guest at a time; the driver loaded after boot and its "
          "first flush done; the guest touches the memory (fill: fprmem "
          "hold) and frees it; QEMU's RSS sampled every 100 ms until 98%% "
          "is back or %d s passed; t50/t90: seconds after the free until "
          "50%%/90%% of what the hold grew is back. Returned: at the last "
          "sample. One run each: TCG timings are relative." % seconds)


def fmt_t(t):
    return "-" if t is None else "%.1f" % t


def gnuplot(script):
    """Run a gnuplot SCRIPT: True if it drew."""
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("no plot: %s" % e)
        return False
    return True


def write_faults_plot(rows, series):
    """Bar charts of faults_table()'s ROWS: QEMU minor faults and MiB
    faulted back per driver, quiet and loaded host."""
    os.makedirs(OUT, exist_ok=True)
    data = os.path.join(OUT, "faults.dat")
    with open(data, "w") as f:
        for name, (_, quiet, loaded) in rows.items():
            f.write('"%s" %d %d %.1f %.1f\n' % (
                name, quiet[0], loaded[0], quiet[2], loaded[2]))
    plot = os.path.join(OUT, "faults-%s.png" % series)
    bars = ("'%s' using %%d:xtic(1) title 'quiet host', '' using %%d "
            "title 'loaded host'" % data)
    script = ("set terminal pngcairo size 1000,450 noenhanced\n"
              "set output '%s'\nset multiplot layout 1,2 title "
              "'Host faults during 64 MiB churn (%s, TCG); none: no driver, "
              "fpr: virtio_fpr defaults, fpr-200: delay_ms=200'\n"
              "set style data histogram\nset style histogram cluster "
              "gap 1\nset style fill solid 0.8 border -1\nset grid y\n"
              "set yrange [0:*]\nset key top left\n"
              "set ylabel 'QEMU minor faults'\nplot %s\n"
              "set ylabel 'MiB faulted back (VmRSS rises)'\nplot %s\n"
              "unset multiplot\n" %
              (plot, series, bars % (2, 3), bars % (4, 5)))
    return plot if gnuplot(script) else None


def write_scale_plot(runs, labels, series):
    """t50 and t90 against the GiB freed, per driver: RUNS from
    scale_table()."""
    os.makedirs(OUT, exist_ok=True)
    lines = []
    for name in labels:
        data = os.path.join(OUT, "scale-%s.dat" % name)
        with open(data, "w") as f:
            for (n, _, free), run in sorted(runs.items(),
                                            key=lambda x: x[0][2]):
                t90 = run.reclaim.time_to(0.9)
                if n == name and t90 is not None:
                    f.write("%.2f %.2f\n" % (free / 1024, t90))
        lines.append("'%s' using 1:2 with linespoints lw 2 pt 7 title "
                     "'%s'" % (data, labels[name]))
    plot = os.path.join(OUT, "scale-%s.png" % series)
    script = ("set terminal pngcairo size 900,500 noenhanced\n"
              "set output '%s'\nset title 't90 of the memory freed coming "
              "back to the host (%s, TCG)'\nset xlabel 'GiB freed'\n"
              "set ylabel 't90 (s)'\nset grid\nset key top left\n"
              "set xrange [0:*]\nset yrange [0:*]\nplot %s\n" %
              (plot, series, ", ".join(lines)))
    return plot if gnuplot(script) else None


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
    return plot if gnuplot(script) else None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", default="6.1")
    ap.add_argument("--tuned-order", type=int, default=3)
    ap.add_argument("--churn-only", action="store_true",
                    help="only the churn workload, one line per driver")
    ap.add_argument("--pairs", type=int, default=4,
                    help="churn: loaded/unloaded phase pairs (2 to 21)")
    ap.add_argument("--seconds", type=int, default=12,
                    help="churn: length of one phase")
    ap.add_argument("--configs", default=",".join(c[0] for c in CONFIGS),
                    help="churn-only: which drivers, comma-separated "
                    "(none: the A/A control)")
    ap.add_argument("--faults-only", action="store_true",
                    help="only host faults under churn (quiet and loaded "
                    "host), one guest per driver")
    ap.add_argument("--fault-seconds", type=int, default=60,
                    help="faults: length of the churn loop")
    ap.add_argument("--scale-only", action="store_true",
                    help="only the scale runs: large guests freeing most "
                    "of their memory, one guest at a time")
    ap.add_argument("--scale", default=SCALE,
                    help="scale: GUEST_MIB:FREED_MIB,... (default %s)" %
                    SCALE)
    ap.add_argument("--scale-configs", default="in-tree,fpr",
                    help="scale: which drivers, comma-separated (none: "
                    "no driver, returns nothing)")
    ap.add_argument("--scale-seconds", type=int, default=90,
                    help="scale: longest RSS sampling after the free")
    ap.add_argument("--guest-thp", action="store_true",
                    help="churn: leave transparent huge pages on in the "
                    "guest (noisier under TCG)")
    args = ap.parse_args()
    if not 2 <= args.pairs <= len(T95) + 1 or args.seconds < 2:
        ap.error("--pairs takes 2 to %d, --seconds at least 2" %
                 (len(T95) + 1))
    try:
        sizes = parse_sizes(args.scale)
    except ValueError as e:
        ap.error("--scale: %s" % e)
    scale_configs = [c for c in CONFIGS
                     if c[0] in args.scale_configs.split(",")]
    k = Kernel(args.series)
    if args.scale_only:
        scale_table(k, scale_configs, sizes, args.scale_seconds)
        return 0
    if args.faults_only:
        faults_table(k, FAULT_CONFIGS, args.fault_seconds)
        return 0
    if args.churn_only:
        for name, cmd, label in CONFIGS:
            if name not in args.configs.split(","):
                continue
            ch = churn(k, name, with_order(cmd, args.tuned_order),
                       args.pairs, args.seconds, args.guest_thp)
            print("%s: churn %s %s (%.0f MiB/s), %d "
                  "interrupts; %d pairs of %d s; cost model: %s" %
                  (with_order(label, args.tuned_order),
                   "loaded vs unloaded" if cmd else "A/A", fmt_churn(ch),
                   ch.speed, ch.irqs, args.pairs, args.seconds,
                   fmt_bound(ch)), flush=True)
        return 0
    results, labels = {}, {}
    for name, cmd, label in CONFIGS:
        print("running %s ..." % name, flush=True)
        labels[name] = with_order(label, args.tuned_order)
        results[name] = run_config(k, name, cmd, args)

    none_busy = results["none"]["busy"]
    print("\n## Reclaim benchmark, %s, 2 GiB guest, QEMU TCG\n" % k.krel)
    print("| configuration | 1 GiB free: returned | t50 (s) | t90 (s) | "
          "guest CPU for reporting (s) | device interrupts | "
          "fragmented: MiB of 256 returned | churn, loaded vs unloaded | "
          "interrupts during churn | churn cost model |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in results:
        res = results[name]
        r = res["reclaim"]
        ch = res["churn"]
        b = churn_bound(ch)
        print("| %s | %.0f%% | %s | %s | %.1f | %d | %.0f | %s | %d | %s |" %
              (labels[name], 100 * r.fraction, fmt_t(r.time_to(0.5)),
               fmt_t(r.time_to(0.9)), res["busy"] - none_busy, res["irqs"],
               res["frag"],
               "%+.1f%% ± %.1f (%.0f MiB/s)" % (100 * ch.change,
                                                100 * ch.sd, ch.speed),
               ch.irqs, "-" if b is None else "≤ %.2f%%" % (100 * b)))
    print("\nGuest CPU for reporting: guest busy time in the 20 s after the "
          "free, minus that of the run without a driver. Churn: 64 MiB "
          "allocated, touched and freed in a loop, %d pairs of %d s phases "
          "with the driver loaded and unloaded in the same guest (no "
          "driver: both phases without, the noise alone); mean "
          "change ± standard deviation of the pairs. Cost model: MiB "
          "virtio_fpr reported during the loaded phases times what "
          "refaulting and reporting a MiB costs in that guest, over the "
          "loaded time." %
          (args.pairs, args.seconds))

    it, fd, ft = (results[n] for n in ("in-tree", "fpr", "fpr-tuned"))
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
    print("- churn, A/A control (no driver in either phase): %s" %
          fmt_churn(results["none"]["churn"]))
    for n in ("in-tree", "fpr", "fpr-no-backoff", "fpr-tuned"):
        ch = results[n]["churn"]
        print("- churn, %s loaded vs unloaded: %s; cost model: %s "
              "(target within 2%%)" % (labels[n], fmt_churn(ch),
                                       fmt_bound(ch)))
    plot = write_plot(results, labels, k.krel)
    if plot:
        print("\nplot: %s" % plot)
    faults_table(k, FAULT_CONFIGS, args.fault_seconds)
    scale_table(k, scale_configs, sizes, args.scale_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
