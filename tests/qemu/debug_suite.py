# SPDX-License-Identifier: GPL-2.0
"""Every path of the driver in one guest, sized for the debug kernel
(6.1-debug, 6.12-debug: KASAN, lockdep, kmemleak, debugobjects,
debug_pagealloc, UBSAN): reporting at a low order with back-off under
churn and checksummed data, inflate/deflate, stats, unbind/bind and
rmmod/insmod mid-report, device paused, freeze/restore, then a kmemleak
scan (the harness's console_problems()). Mixed into suite.Scenarios."""

import re
import time

from balloon_suite import QOM
from fault_suite import start, stop
from fprsys import DRIVER, bound, counters, freeze_restore


class DebugScenarios:
    def exercise(self, cycles=10):
        # The debug kernel frees a page 30-100 times slower, and each
        # unbind or rmmod gives the balloon back: there half the balloon
        # and half the cycles (with all of both: 15 min in make check
        # on a new machine)
        size, cycles = (1792, cycles // 2) if self.k.debug else \
            (1536, cycles)
        with self.guest("exercise") as g:
            low = 1 if self.k.base == "6.1" else 0
            load = "modprobe virtio_fpr order=%d delay_ms=50" % low
            if self.k.debug:
                # A leak on purpose: the scan at the end must find it
                g.run("modprobe fpr_leak")
            g.run(load)
            start(g, "verify", "fprmem verify 128 100000")
            start(g, "churn", "fprmem churn 64 zero")
            g.qmp("qom-set", path=QOM,
                  property="guest-stats-polling-interval", value=1)
            inflated = self.balloon_to(g, size, timeout=150)
            time.sleep(10)
            g.qmp("stop")
            time.sleep(5)
            g.qmp("cont")
            ok_cycles = 0
            for _ in range(cycles):
                g.run("echo virtio0 > %s/unbind; sleep 0.3; "
                      "echo virtio0 > %s/bind; sleep 0.5" %
                      (DRIVER, DRIVER))
                g.run("rmmod virtio_fpr; sleep 0.2; %s; sleep 0.5" % load)
                ok_cycles += bound(g)
            rc_s = freeze_restore(g)
            deflated = self.balloon_to(g, 2048, timeout=150)
            time.sleep(5)
            c = counters(g)
            b = counters(g, "balloon")
            rc_c, churn = stop(g, "churn")
            rc_v, verify = stop(g, "verify")
            m = re.search(r"verified (\d+) bytes, (\d+) corrupt", verify)
            found = self.leak_found(g)
            problems = g.console_problems()
            self.check("exercise",
                       inflated and deflated and ok_cycles == cycles and
                       rc_s == 0 and rc_c == 0 and rc_v == 0 and
                       m is not None and m.group(2) == "0" and
                       c["reports"] > 0 and b["stats_updates"] > 0 and
                       found and not problems,
                       "%s, booted in %.0f s: %d reports (%d MiB), %d "
                       "reused blocks, %d passes deferred; balloon "
                       "%d MiB and back (last binding: %d pages in, %d "
                       "out), %d stats updates; paused 5 s; %d/%d "
                       "unbind+bind and rmmod+insmod; freeze/restore rc %d; "
                       "%s; %s; %s" %
                       (self.k.krel, g.boot_seconds, c["reports"],
                        c["pages"] >> 8,
                        c["reused_blocks"], c["deferred"], size,
                        b["inflated"],
                        b["deflated"],
                        b["stats_updates"], ok_cycles, cycles, rc_s,
                        churn, verify,
                        "kmemleak: found fpr_leak's object, nothing else"
                        if self.k.debug and found and not problems
                        else "problems: %s" % problems[:3]))
        self.no_problems(g, "exercise")

    def leak_found(self, g):
        """Debug kernels: kmemleak reports fpr_leak's object (the scan
        works); it is then cleared. Elsewhere: True."""
        if not self.k.debug:
            return True
        g.kmemleak()
        found = "fpr_leak_alloc" in g.leak_report
        g.run("echo clear > /sys/kernel/debug/kmemleak")
        g.leaks = []
        return bool(found)
