# SPDX-License-Identifier: GPL-2.0
"""Measure how much of a freed guest allocation the host gets back."""

import time

MIB = 1 << 20


class Reclaim:
    """RSS of QEMU over time after the guest frees an allocation."""

    def __init__(self, mib, base, peak, samples):
        self.mib = mib
        self.base = base
        self.peak = peak
        self.samples = samples          # [(seconds after free, rss)]

    @property
    def grown(self):
        """Bytes the hold added to QEMU's RSS (at least 1)."""
        return max(self.peak - self.base, 1)

    def fraction_at(self, rss):
        return (self.peak - rss) / self.grown

    @property
    def fraction(self):
        return self.fraction_at(self.samples[-1][1]) if self.samples else 0.0

    def time_to(self, fraction):
        for t, rss in self.samples:
            if self.fraction_at(rss) >= fraction:
                return t
        return None

    def summary(self):
        def fmt(t):
            return "never" if t is None else "%.1f s" % t
        return ("%d MiB freed: host got %.0f%% back, t10 %s, t50 %s, t90 %s" %
                (self.mib, 100 * self.fraction, fmt(self.time_to(0.1)),
                 fmt(self.time_to(0.5)), fmt(self.time_to(0.9))))


def pcp_mib(g):
    """MiB on the guest's per-CPU free lists (/proc/zoneinfo's pageset
    counts): free pages that the buddy lists, and so page reporting, do
    not see until the kernel drains them."""
    pages = g.out("awk '$1 == \"count:\" { n += $2 } END { print n + 0 }' "
                  "/proc/zoneinfo")
    return int(pages) * g.kernel.page_size / MIB


def hold(g, mib, how="hold %d", tag="hold"):
    """Start fprmem holding MIB in the guest; return once it is touched
    (at 20 MiB/s or more: a 14 GiB hold under TCG takes minutes)."""
    g.run("fprmem %s > /tmp/%s.log 2>&1 & echo $! > /tmp/%s.pid; "
          "while ! grep -q held /tmp/%s.log; do "
          "kill -0 $(cat /tmp/%s.pid) || exit 1; sleep 0.1; done" %
          (how % mib, tag, tag, tag, tag), timeout=max(300, mib // 20))


def release(g, tag="hold"):
    g.run("p=$(cat /tmp/%s.pid); kill $p; "
          "while kill -0 $p 2>/dev/null; do sleep 0.05; done" % tag)


def settle(g, window=1.5, slack=8 * MIB, limit=30.0):
    """Wait until QEMU's RSS stops moving (e.g. boot-time reporting), at
    most LIMIT seconds (times the kernel's slowness)."""
    end = time.monotonic() + limit * g.kernel.slow
    last = g.rss()
    while time.monotonic() < end:
        time.sleep(window)
        now = g.rss()
        if abs(now - last) < slack:
            return now
        last = now
    return last


def measure(g, mib=1024, seconds=30.0, until=0.97, period=0.1, quiet=0.0):
    """Hold MIB, free it, sample RSS until `until` is reached or `seconds`.
    quiet: seconds to wait between holding and freeing, so that a pass
    that an earlier, unrelated free scheduled has run before ours.
    A debug kernel gets `slow` times as long for both."""
    seconds *= g.kernel.slow
    quiet *= g.kernel.slow
    base = settle(g)
    hold(g, mib)
    time.sleep(quiet)
    peak = g.rss()
    release(g)
    t0 = time.monotonic()
    samples = []
    r = Reclaim(mib, base, peak, samples)
    while True:
        t = time.monotonic() - t0
        samples.append((t, g.rss()))
        if t >= seconds or r.fraction_at(samples[-1][1]) >= until:
            return r
        time.sleep(period)
