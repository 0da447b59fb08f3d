# SPDX-License-Identifier: GPL-2.0
"""Back-off scenario: under allocate/free churn the delay grows (reported
memory keeps being reallocated), it goes back once the churn stops, a
large free is still returned, and backoff_max=0 turns it off. Mixed into
suite.Scenarios."""

import time

import reclaim
from fault_suite import start, stop
from fprsys import PARAMS, SYSFS, counters

REPORTING = SYSFS + "/reporting"


def step_and_delay(g):
    step, delay = g.out("cat %s/backoff_step %s/delay_ms" %
                        (REPORTING, REPORTING)).split()
    return int(step), int(delay)


def watch(g, seconds, until_step=None):
    """Sample (step, delay in force) every second for SECONDS, or until
    the step reaches UNTIL_STEP."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(step_and_delay(g))
        if until_step is not None and seen[-1][0] >= until_step:
            break
        time.sleep(1)
    return seen


class BackoffScenarios:
    def backoff(self):
        with self.guest("backoff") as g:
            # 200 ms: windows of 1 s, so the steps come within seconds
            g.run("modprobe virtio_fpr delay_ms=200")
            reclaim.settle(g)
            reused0 = counters(g)["reused_blocks"]
            start(g, "churn", "fprmem churn 64")
            # 6.7+ recycles more of the churn through per-CPU lists, so
            # fewer blocks reach the buddy lists and steps come slower
            t0 = time.monotonic()
            seen = watch(g, 90, until_step=2)
            secs = time.monotonic() - t0
            stop(g, "churn")
            top = max(s for s, _ in seen)
            consistent = all(d == 200 << s for s, d in seen)
            reused = counters(g)["reused_blocks"] - reused0
            self.check("backoff-under-churn",
                       top >= 2 and consistent and reused > 0,
                       "64 MiB churn with delay_ms=200: back-off steps %s "
                       "in %.0f s, delay in force %s ms, %d reported blocks "
                       "reused" % (sorted({s for s, _ in seen}), secs,
                                   sorted({d for _, d in seen}), reused))

            after = watch(g, 15)
            r = reclaim.measure(g, mib=1024, seconds=30)
            self.check("backoff-ends",
                       after[-1] == (0, 200) and r.fraction >= 0.9,
                       "churn stopped: step %d after 15 s (delay %d ms); "
                       "then %s" % (after[-1][0], after[-1][1], r.summary()))

            g.run("echo 0 > %s/backoff_max" % PARAMS)
            start(g, "churn", "fprmem churn 64")
            off = watch(g, 20)
            stop(g, "churn")
            self.check("backoff-off",
                       all(s == (0, 200) for s in off),
                       "backoff_max=0: delay stays %s ms under churn" %
                       sorted({d for _, d in off}))
        self.no_problems(g, "backoff")
