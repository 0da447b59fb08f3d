# SPDX-License-Identifier: GPL-2.0
"""Back-off scenario: under allocate/free churn the delay grows (reported
memory keeps being reallocated) and the pass in which it grew is deferred,
it goes back once the churn stops, a large free is still returned, and
backoff_max=0 turns it off. Mixed into suite.Scenarios."""

import math
import re
import time

import reclaim
from fault_suite import start, stop
from fprsys import PARAMS, SYSFS, counters

REPORTING = SYSFS + "/reporting"


def step_and_delay(g):
    step, delay = g.out("cat %s/backoff_step %s/delay_ms" %
                        (REPORTING, REPORTING)).split()
    return int(step), int(delay)


def watch(g, seconds, until=None):
    """Sample (step, delay in force) every second for SECONDS (times the
    kernel's slowness, as reclaim.measure), or until until(sample) is
    true."""
    seen = []
    end = time.monotonic() + seconds * g.kernel.slow
    while time.monotonic() < end:
        seen.append(step_and_delay(g))
        if until is not None and until(seen[-1]):
            break
        time.sleep(1)
    return seen


def churn_rate(g, mib, seconds=8):
    """MiB/s of fprmem churn MIB in this guest, no driver loaded."""
    start(g, "rate", "fprmem churn %d" % mib)
    time.sleep(seconds)
    _, out = stop(g, "rate")
    m = re.search(r"([\d.]+) MiB/s", out)
    return float(m.group(1)) if m else 0.0


def debug_delay(rate, mib):
    """delay_ms for a churn of MIB at RATE MiB/s: one loop takes at most
    half a window (one delay), 4 to 40 s in whole seconds."""
    if rate <= 0:
        return 40000
    return min(max(4, math.ceil(2 * mib / rate)), 40) * 1000


class BackoffScenarios:
    def backoff(self):
        # The back-off answers memory reallocated within a window (one
        # delay, at least 1 s). Release kernels: 200 ms, windows of 1 s, a
        # 64 MiB churn loops in under one; it must climb two steps. The
        # debug kernels churn 10 to 60x slower, slower still with other
        # guests on the host (3 to 18 MiB/s): there the delay is sized to
        # the measured rate so that a loop takes at most half a window,
        # and the churn must take the back-off to its top step,
        # backoff_max=1. A smaller churn reports too few blocks a window
        # to be judged (16 MiB: 1 to 4 a report, 4 are needed), and only
        # some of what is reported comes back within a window there, so
        # a second step can take minutes; one step still runs every
        # path: judging, deferring, the longer delay, and the way back.
        mib, delay, rate, need = 64, 200, None, 2
        with self.guest("backoff") as g:
            if self.k.debug:
                need = 1
                rate = churn_rate(g, mib)
                delay = debug_delay(rate, mib)
                # the first flush (judged by nothing) at the default
                # delay: at the sized one it takes minutes there
                g.run("modprobe virtio_fpr backoff_max=%d" % need)
                reclaim.settle(g)
                g.run("echo %d > %s/delay_ms" % (delay, PARAMS))
            else:
                g.run("modprobe virtio_fpr delay_ms=%d" % delay)
            reclaim.settle(g)
            c0 = counters(g)
            start(g, "churn", "fprmem churn %d" % mib)
            # 6.7+ recycles more of the churn through per-CPU lists, so
            # fewer blocks reach the buddy lists and steps come slower
            t0 = time.monotonic()
            seen = watch(g, 90, lambda s: s[0] >= need)
            secs = time.monotonic() - t0
            _, churned = stop(g, "churn")
            top = max(s for s, _ in seen)
            consistent = all(d == delay << s for s, d in seen)
            c1 = counters(g)
            reused = c1["reused_blocks"] - c0["reused_blocks"]
            # every step up defers the pass that found the reuse
            deferred = c1["deferred"] - c0["deferred"]
            self.check("backoff-under-churn",
                       top >= need and consistent and reused > 0 and
                       deferred >= 1,
                       "%d MiB churn (%s)%s with delay_ms=%d: back-off "
                       "steps %s in %.0f s, delay in force %s ms, %d "
                       "reported blocks reused, %d passes deferred" %
                       (mib, churned,
                        "" if rate is None else
                        ", %.1f MiB/s without the driver" % rate,
                        delay, sorted({s for s, _ in seen}),
                        secs, sorted({d for _, d in seen}), reused,
                        deferred))

            # Back to delay_ms once nothing was reported for two windows
            # of the top step (backoff_max, 4 by default), counted from
            # the pass after the churn stopped, which reports its last
            # free: three windows, 9.6 s (on the debug kernels 6 delays,
            # 24 to 240 s), and 10 s to spare
            top = int(g.read(PARAMS + "/backoff_max"))
            wait = 3 * (delay << top) / 1000 + 10
            after = watch(g, wait / g.kernel.slow,
                          lambda s: s == (0, delay))
            # a 1 GiB free takes about four passes of the core: 30 s
            # (times the kernel's slowness), longer at a debug delay
            r = reclaim.measure(g, mib=1024, seconds=max(
                30, (5 * delay / 1000 + 10) / g.kernel.slow))
            self.check("backoff-ends",
                       after[-1] == (0, delay) and r.fraction >= 0.9,
                       "churn stopped: step %d after %d s (delay %d ms); "
                       "then %s" % (after[-1][0], len(after), after[-1][1],
                                    r.summary()))

            g.run("echo 0 > %s/backoff_max" % PARAMS)
            c0 = counters(g)
            start(g, "churn", "fprmem churn %d" % mib)
            # at least two passes: 20 s (a debug kernel's delay: 3 delays)
            off = watch(g, max(20, 3 * delay / 1000 / g.kernel.slow))
            stop(g, "churn")
            c1 = counters(g)
            deferred = c1["deferred"] - c0["deferred"]
            reports = c1["reports"] - c0["reports"]
            self.check("backoff-off",
                       all(s == (0, delay) for s in off) and
                       deferred == 0 and reports > 0,
                       "backoff_max=0: delay stays %s ms under churn, %d "
                       "reports, %d passes deferred" %
                       (sorted({d for _, d in off}), reports, deferred))
        self.no_problems(g, "backoff")
