# SPDX-License-Identifier: GPL-2.0
"""Back-off scenario: under allocate/free churn the delay grows (reported
memory keeps being reallocated) and the pass in which it grew is deferred,
it goes back once the churn stops, a large free is still returned, and
backoff_max=0 turns it off. Mixed into suite.Scenarios."""

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


class BackoffScenarios:
    def backoff(self):
        # The back-off answers memory reallocated within a window (one
        # delay, at least 1 s). Release kernels: 200 ms, windows of 1 s, a
        # 64 MiB churn loops in under one. The debug kernel churns 30 to
        # 60x slower (5 to 9 MiB/s): 4000 ms and 16 MiB keep a loop
        # within a window.
        delay, mib = (4000, 16) if self.k.debug else (200, 64)
        with self.guest("backoff") as g:
            g.run("modprobe virtio_fpr delay_ms=%d" % delay)
            reclaim.settle(g)
            c0 = counters(g)
            start(g, "churn", "fprmem churn %d" % mib)
            # 6.7+ recycles more of the churn through per-CPU lists, so
            # fewer blocks reach the buddy lists and steps come slower
            t0 = time.monotonic()
            seen = watch(g, 90, lambda s: s[0] >= 2)
            secs = time.monotonic() - t0
            _, churned = stop(g, "churn")
            top = max(s for s, _ in seen)
            consistent = all(d == delay << s for s, d in seen)
            c1 = counters(g)
            reused = c1["reused_blocks"] - c0["reused_blocks"]
            # every step up defers the pass that found the reuse
            deferred = c1["deferred"] - c0["deferred"]
            self.check("backoff-under-churn",
                       top >= 2 and consistent and reused > 0 and
                       deferred >= 1,
                       "%d MiB churn (%s) with delay_ms=%d: back-off steps "
                       "%s in %.0f s, delay in force %s ms, %d reported "
                       "blocks reused, %d passes deferred" %
                       (mib, churned, delay, sorted({s for s, _ in seen}),
                        secs, sorted({d for _, d in seen}), reused,
                        deferred))

            # Back to delay_ms once nothing was reported for two windows
            # of the top step (backoff_max, 4 by default): 6.4 s (64 s on
            # the debug kernel), and 10 s to spare
            top = int(g.read(PARAMS + "/backoff_max"))
            wait = 2 * (delay << top) / 1000 + 10
            after = watch(g, wait / g.kernel.slow,
                          lambda s: s == (0, delay))
            r = reclaim.measure(g, mib=1024, seconds=30)
            self.check("backoff-ends",
                       after[-1] == (0, delay) and r.fraction >= 0.9,
                       "churn stopped: step %d after %d s (delay %d ms); "
                       "then %s" % (after[-1][0], len(after), after[-1][1],
                                    r.summary()))

            g.run("echo 0 > %s/backoff_max" % PARAMS)
            c0 = counters(g)
            start(g, "churn", "fprmem churn %d" % mib)
            off = watch(g, 20)
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
