#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""virtio_fpr QEMU test suite: boots each target kernel under TCG with the
module and checks binding, reclaim, parameters, poison, bad input and
bind/unbind churn, and the balloon functions (inflate/deflate, stats,
compaction, deflate-on-OOM). Prints one line per check and a closing
"N passed, N failed" line."""

import argparse
import os
import re
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest  # noqa: E402
from guest import Guest, GuestError, Kernel  # noqa: E402
import reclaim  # noqa: E402
from backoff_suite import BackoffScenarios  # noqa: E402
from balloon_suite import BalloonScenarios, wait_for  # noqa: E402
from binding_suite import BindingScenarios, state  # noqa: E402
from debug_suite import DebugScenarios  # noqa: E402
from fault_suite import FaultScenarios, start, stop  # noqa: E402
from hint_suite import HintScenarios  # noqa: E402
from hotplug_suite import HotplugScenarios  # noqa: E402
from idle_suite import IdleScenarios  # noqa: E402
from status_suite import StatusScenarios  # noqa: E402
from fprsys import (BURST_COOLDOWN, BURSTS, BURSTS_BACK,  # noqa: E402
                    CORE_ORDER, DRIVER,
                    PARAMS, SYSFS, bound,
                    counters, dmesg_has, feature, freeze_restore)
TAINT_OK = (1 << 12) | (1 << 13)        # O: out-of-tree, E: unsigned
# Why a debug kernel cannot meet a timing check
SLOW_FREE = "freeing 1 GiB takes longer than the delay, so passes run " \
    "while it is being freed"


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                           ": " + detail if detail else ""), flush=True)
        return ok


def no_problems(t, g, name):
    bad = g.console_problems()
    t.check(name + "/clean-console", not bad,
            "; ".join(bad[:3]) if bad else "no WARN/BUG/oops")


class Scenarios(BalloonScenarios, BindingScenarios, FaultScenarios,
                HotplugScenarios, BackoffScenarios, DebugScenarios,
                IdleScenarios, StatusScenarios, HintScenarios):
    def __init__(self, kernel, results):
        self.k = kernel
        self.t = results
        self.s = kernel.series

    def name(self, n):
        return "%s/%s" % (self.s, n)

    def check(self, n, ok, detail=""):
        return self.t.check(self.name(n), ok, detail)

    def timed(self, n, ok, in_time, detail, why):
        """A check with a timing part (IN_TIME) that a debug kernel cannot
        meet, for the reason WHY: there only OK is asserted, and the
        detail says what was not."""
        if self.k.debug:
            return self.check(n, ok, "%s; timing not asserted on a debug "
                                     "kernel: %s" % (detail, why))
        return self.check(n, ok and in_time, detail)

    def no_problems(self, g, tag):
        no_problems(self.t, g, self.name(tag))

    def guest(self, tag, **kw):
        return Guest(self.k, name="%s-%s" % (self.s, tag), **kw)

    # 1 + 2 + 3: bind, reclaim, delay_ms and order, on one guest
    def main(self):
        with self.guest("main") as g:
            # no page_reporting_order before 5.14
            core_before = g.read(CORE_ORDER) if g.run(
                "test -e " + CORE_ORDER, check=False)[0] == 0 else None
            g.run("modprobe virtio_fpr")
            self.check("bind", bound(g) and feature(g, 5),
                       "bound, VIRTIO_BALLOON_F_PAGE_REPORTING negotiated")
            self.check("no-poison-feature", not feature(g, 4),
                       "PAGE_POISON not negotiated without page_poison")
            # As virtio_balloon: queueing a report never allocates
            self.check("no-indirect-descriptors",
                       not feature(g, 28) and state(g) == "active",
                       "VIRTIO_RING_F_INDIRECT_DESC declined; state active")
            taint = int(g.read("/proc/sys/kernel/tainted"))
            self.check("taint", taint & ~TAINT_OK == 0 and taint != 0,
                       "taint %d (out-of-tree/unsigned only)" % taint)
            before = counters(g)

            # Right after loading, while the first flush still runs: one
            # allocate/free cycle is not churn, and no pass is deferred
            b0 = int(g.read(BURSTS))
            r = reclaim.measure(g)
            deferred = counters(g)["deferred"]
            self.check("reclaim-default", r.fraction >= 0.9 and
                       deferred == 0, "%s; %d passes deferred" %
                       (r.summary(), deferred))
            # A 1 GiB free is a large one (burst_mb=128): its passes run
            # 100 ms apart, from before the core's first pass at 2 s if
            # the deferrable check runs while the guest frees, else from
            # that pass on (a free too quick to keep the CPU awake)
            t90 = r.time_to(0.9)
            self.timed("burst-large-free", int(g.read(BURSTS)) > b0,
                       t90 is not None and t90 < 3.0,
                       "%d large frees seen; %s (the core alone: a pass "
                       "2 s after the free, then 2 s apart)" %
                       (int(g.read(BURSTS)) - b0, r.summary()), SLOW_FREE)

            c = counters(g)
            self.check("counters",
                       c["reports"] > before["reports"] and
                       # pages: guest pages (PAGE_SIZE, 16 KiB on -16k)
                       (c["pages"] - before["pages"]) * self.k.page_size >=
                       900 * 2**20 and
                       c["bytes"] == c["pages"] * self.k.page_size and
                       c["errors"] == 0 and c["last_report_ms"] > 0 and
                       # nothing below the default order (2 MiB)
                       sum(c["blocks_per_order"][:self.k.order_2m]) == 0,
                       "reports %d, pages %d, errors %d, per order %s" %
                       (c["reports"], c["pages"], c["errors"],
                        c["blocks_per_order"]))

            # The burst is over: delay_ms again, and no new one by itself
            time.sleep(3)
            b0 = int(g.read(BURSTS))
            time.sleep(5)
            delay_now = int(g.read(SYSFS + "/reporting/delay_ms"))
            self.check("burst-ends", delay_now == 2000 and
                       int(g.read(BURSTS)) == b0,
                       "3 s after it: delay in force %d ms, %d bursts in "
                       "5 s" % (delay_now, int(g.read(BURSTS)) - b0))

            # Churn, without the back-off (in force, it holds bursts off
            # too, and its longer delay would stay for the checks below)
            g.run("echo 0 > %s/backoff_max" % PARAMS)
            # 64 MiB of churn frees less than burst_mb: no large free
            b0 = int(g.read(BURSTS))
            start(g, "churn", "fprmem churn 64")
            time.sleep(10)
            _, churned = stop(g, "churn")
            self.check("burst-not-churn", int(g.read(BURSTS)) == b0,
                       "64 MiB churn for 10 s (%s): %d large frees seen" %
                       (churned, int(g.read(BURSTS)) - b0))

            # 256 MiB freed and taken back every few seconds: each burst
            # is taken back, so the next waits a growing cooldown. Not on
            # a debug kernel (one round takes a minute there). Writing
            # without reading first: on 6.12, a loop that reads each page
            # before writing it (fprmem's "zero") got back only about 50
            # of its 256 MiB in MemFree after each free, the rest came
            # back to the next round without passing the free lists'
            # counters, and no burst started (measured 2026-11-26; with
            # plain writes MemFree recovers all and bursts start)
            if not self.k.debug:
                b0, t0 = int(g.read(BURSTS)), int(g.read(BURSTS_BACK))
                p0 = counters(g)["pages"]
                start(g, "churn", "fprmem churn 256 any 1500")
                time.sleep(40)
                _, churned = stop(g, "churn")
                m = re.search(r"churn (\d+) rounds", churned)
                rounds = int(m.group(1)) if m else 0
                bursts = int(g.read(BURSTS)) - b0
                back = int(g.read(BURSTS_BACK)) - t0
                cool = int(g.read(BURST_COOLDOWN))
                mib = (counters(g)["pages"] - p0) * self.k.page_size >> 20
                self.check("burst-cooldown",
                           back >= 2 and 0 < bursts <= rounds // 2,
                           "256 MiB churn, 1.5 s free each round, 40 s "
                           "(%s): %d bursts, %d taken back; cooldown now "
                           "%d ms; %d MiB reported" %
                           (churned, bursts, back, cool, mib))
            g.run("echo 4 > %s/backoff_max" % PARAMS)

            # delay_ms alone: without the large-free rule, the core's 2 s
            g.run("echo 0 > %s/burst_mb" % PARAMS)
            # quiet: no pass the churn above scheduled may still be pending
            r = reclaim.measure(g, quiet=6)
            t10 = r.time_to(0.1)
            self.timed("burst-off", r.fraction >= 0.9,
                       t10 is not None and t10 >= 1.5,
                       "burst_mb=0: %s (nothing before the core's 2 s)" %
                       r.summary(), SLOW_FREE)
            t90_default = r.time_to(0.9) or 99.0

            g.run("echo 200 > %s/delay_ms" % PARAMS)
            r = reclaim.measure(g)
            t90 = r.time_to(0.9)
            self.timed("delay-200ms-faster", r.fraction >= 0.9,
                       t90 is not None and t90 * 3 < t90_default,
                       "%s; default t90 %.1f s" % (r.summary(), t90_default),
                       SLOW_FREE)

            g.run("echo 5000 > %s/delay_ms" % PARAMS)
            # quiet: no pass scheduled by earlier frees may be pending
            r = reclaim.measure(g, seconds=40, quiet=6)
            t10 = r.time_to(0.1)
            self.timed("delay-5000ms-slower", r.fraction >= 0.9,
                       t10 is not None and t10 >= 4.0,
                       "%s (nothing before ~5 s)" % r.summary(), SLOW_FREE)

            g.run("echo 200 > %s/delay_ms; echo 10 > %s/order" %
                  (PARAMS, PARAMS))
            fixed = self.k.order_fixed()
            # Before 6.2 the driver registers again from a work item
            # (a second later while a report is in flight): the write
            # returns first (6.1-arm64 once read 9 here, then reported
            # order 10 only)
            if not fixed:
                wait_for(lambda: g.read(CORE_ORDER) == "10",
                         10 * self.k.slow)
            core = "9" if fixed else g.read(CORE_ORDER)
            before = counters(g)
            r = reclaim.measure(g, seconds=15)
            c = counters(g)
            d9 = c["blocks_per_order"][9] - before["blocks_per_order"][9]
            # order 10 and up (11 with 16 KiB pages: freed memory merges
            # into 32 MiB blocks there)
            d10 = sum(c["blocks_per_order"][10:]) - \
                sum(before["blocks_per_order"][10:])
            if fixed:
                # the core reports pageblock_order and up: 10 is refused
                # with a warning, blocks of order 9 keep coming
                # (a clean 1 GiB free may merge into order 10 blocks only)
                self.check("order-fixed-before-5.14",
                           g.read(PARAMS + "/order") == "9" and
                           d9 + d10 > 0 and
                           dmesg_has(g, "order=10 ignored") and
                           r.fraction >= 0.9,
                           "order=10 ignored with a warning; new blocks: "
                           "order 9 %d, order 10 %d; %s" %
                           (d9, d10, r.summary()))
            else:
                self.check("order-10-runtime",
                           core == "10" and d9 == 0 and d10 > 0,
                           "core order %s; new blocks: order 9 %d, order "
                           "10 and up %d" % (core, d9, d10))
                self.order_frag(g)
            self.bad_runtime(g)
            # 6.1 does not export the core's order, 5.10 has none
            if self.k.base != "6.1" and core_before is not None:
                g.run("rmmod virtio_fpr")
                after = g.read(CORE_ORDER)
                # Unset (-1) comes back as the core's own default: a
                # driver registering later must never see -1
                # (pageblock_order: 9, or 11 with 16 KiB pages)
                pb = "11" if self.k.page_size == 16384 else "9"
                want = pb if core_before == "-1" else core_before
                self.check("core-order-restored", after == want,
                           "page_reporting_order %s before load, %s after "
                           "rmmod" % (core_before, after))
        no_problems(self.t, g, self.name("main"))

    def order_frag(self, g):
        """Free memory only in small holes: order 9 cannot report them,
        a small order can."""
        low = "1" if self.k.base == "6.1" else "0"
        holes = 256 << 20
        # 64 KiB holes, order 4 with 4 KiB pages; with 16 KiB pages 256
        # KiB: order 2 (64 KiB) is freed to the per-CPU lists, where the
        # core cannot see it, until they drain
        hole_kib = 16 * self.k.page_size // 1024
        g.run("echo 9 > %s/order" % PARAMS)
        reclaim.settle(g)
        reclaim.hold(g, 512, how="frag %%d %d" % hole_kib, tag="frag")
        r0 = g.rss()
        time.sleep(4)
        r1 = g.rss()
        g.run("echo %s > %s/order" % (low, PARAMS))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20 * self.k.slow and \
                r1 - g.rss() < 0.7 * holes:
            time.sleep(0.5)
        t = time.monotonic() - t0
        r2 = g.rss()
        c = counters(g)
        small = sum(c["blocks_per_order"][:9])
        # 16 KiB pages: 137 to 145 MiB of the 256 come back in 20 s though
        # about 210 MiB are reported (cause not found yet: docs/arm64.md);
        # the check there asserts that much, not the 60% of 4 KiB pages
        want = 0.45 if self.k.page_size > 4096 else 0.6
        self.check("order-low-frag",
                   g.read(PARAMS + "/order") == low and small > 0 and
                   r0 - r1 < 0.2 * holes and r1 - r2 > want * holes,
                   "256 MiB freed in %d KiB holes: order 9 returned %d MiB "
                   "in 4 s, order %s then %d MiB in %.1f s (%d blocks below "
                   "order 9)" % (hole_kib, (r0 - r1) >> 20, low,
                                 (r1 - r2) >> 20, t, small))
        reclaim.release(g, "frag")
        g.run("echo 9 > %s/order" % PARAMS)

    def too_big_order(self, g):
        """MAX_PAGE_ORDER + 1 (11 on x86-64, 12 on arm64 with 16 KiB
        pages): blocks_per_order has one entry per order."""
        path = "/sys/bus/virtio/devices/virtio0/reporting/blocks_per_order"
        if g.run("test -e " + path, check=False)[0] == 0:
            return str(len(g.read(path).split()))
        return "12" if self.k.page_size == 16384 else "11"

    def bad_runtime(self, g):
        ok = True
        big = self.too_big_order(g)
        for param, value in (("order", big), ("order", "-1"),
                             ("order", "abc"), ("delay_ms", "0"),
                             ("delay_ms", "600001"), ("delay_ms", "x")):
            old = g.read("%s/%s" % (PARAMS, param))
            rc, _ = g.run("echo %s > %s/%s" % (value, PARAMS, param),
                          check=False)
            new = g.read("%s/%s" % (PARAMS, param))
            ok &= rc != 0 and new == old and \
                dmesg_has(g, "%s=%s refused" % (param, value))
        self.check("bad-runtime-params", ok,
                   "out-of-range writes refused with a message, value kept")

    # 2: control without the driver
    def control(self):
        with self.guest("control") as g:
            r = reclaim.measure(g, seconds=12)
            self.check("control-no-driver", r.fraction < 0.1,
                       "without virtio_fpr: " + r.summary())
        no_problems(self.t, g, self.name("control"))

    # The harness itself: a boot that stalls before init is booted again,
    # once, and says what it waited for (guest.py, docs/testing.md "Boot
    # stalls"). The first boot waits forever for a root device that
    # does not exist, in a sleep: the vCPU mostly halted, as in the
    # stalls seen
    def boot_stall(self):
        if self.k.arch == "arm64":
            # no NMI dump there, and no halt flag in QEMU's registers
            print("skip %s: x86 only" % self.name("boot-stall"), flush=True)
            return
        t0 = time.monotonic()
        with self.guest("stall", stall_s=15, first_boot_append=(
                "rdinit=/fpr-none root=/dev/fpr-none rootwait")) as g:
            took = time.monotonic() - t0
            note = g.stall_note or ""
            why = note.split("; console")[0]
            self.check("boot-stall-retried", g.boot_attempts == 2 and
                       took >= 15 and "boot stalled" in note and
                       g.out("echo up") == "up",
                       "first boot waited for a root device: %d boots in "
                       "%.0f s; note: %s" % (g.boot_attempts, took, why))
            # what the boot waited for, from the NMI's task dump (x86).
            # 5.10 prints the NMI's panic but not panic_print's task list
            # (measured 2026-11-28; likely its printk keeps what the NMI
            # prints in a per-CPU buffer the panic no longer flushes)
            if self.k.base == "5.10":
                print("skip %s: no task dump from an NMI panic on 5.10" %
                      self.name("boot-stall-tasks"), flush=True)
            else:
                self.check("boot-stall-tasks",
                           re.search(r"\(pid 1, [DR]\): [^|]*msleep[^|]*"
                                     r"kernel_init", note) is not None, why)
        no_problems(self.t, g, self.name("boot-stall"))

    # 5: bad load parameters and another reporting driver
    def bad_load(self):
        with self.guest("badload") as g:
            ok = True
            for arg in ("order=" + self.too_big_order(g), "order=abc",
                        "delay_ms=0",
                        "delay_ms=700000"):
                rc, _ = g.run("modprobe virtio_fpr %s" % arg, check=False)
                name, _, val = arg.partition("=")
                ok &= rc != 0 and dmesg_has(g, "%s=%s refused" % (name, val))
                ok &= g.run("test -d /sys/module/virtio_fpr",
                            check=False)[0] != 0
            self.check("bad-load-params", ok,
                       "load fails with a message for each bad value")

            g.run("modprobe fpr_holder")
            g.run("modprobe virtio_fpr")
            busy = state(g)
            inflated = self.balloon_to(g, 1792, timeout=120)
            self.check("busy-slot",
                       bound(g) and busy == "off: busy" and inflated and
                       dmesg_has(g, "already registered by another driver"),
                       "another reporting driver holds the core: bound, "
                       "state %r, message, balloon inflated %s" %
                       (busy, "to 1792 MiB" if inflated else "NOT"))
            g.run("rmmod fpr_holder; echo virtio0 > %s/unbind; "
                  "echo virtio0 > %s/bind" % (DRIVER, DRIVER))
            self.check("busy-slot-recovers", state(g) == "active",
                       "reporting once rebound with the core free")
        no_problems(self.t, g, self.name("badload"))

    # 4: poison
    def poison(self):
        for guest_opt, want in (("init_on_free=1", "init_on_free"),
                                ("page_poison=1", "page_poison")):
            for dev in ("on", "off"):
                tag = "%s-dev-%s" % (want, dev)
                with self.guest(tag, append=guest_opt,
                                balloon_props="page-poison=" + dev) as g:
                    g.run("modprobe virtio_fpr delay_ms=200")
                    if want == "page_poison" and \
                            self.k.config("PAGE_POISONING_NO_SANITY"):
                        self.poison_unchecked(g, tag)
                    elif dev == "off":
                        self.check(
                            "poison/" + tag,
                            bound(g) and not feature(g, 5) and
                            state(g) == "off: poison" and dmesg_has(
                                g, "expects free pages to keep their "
                                   "contents (%s)" % want),
                            "balloon only, reporting off: spec: no "
                            "reporting without PAGE_POISON")
                    else:
                        self.poison_on(g, tag, want)
                no_problems(self.t, g, self.name("poison-" + tag))

    def poison_unchecked(self, g, tag):
        """Before 5.11, with PAGE_POISONING_NO_SANITY (Debian 11), the
        allocator does not check the poison: as virtio_balloon there,
        PAGE_POISON is not negotiated and reporting stays on."""
        r = reclaim.measure(g, mib=1024, seconds=15)
        self.check("poison/" + tag,
                   bound(g) and feature(g, 5) and not feature(g, 4) and
                   state(g) == "active" and r.fraction >= 0.9 and
                   not dmesg_has(g, "memory corruption"),
                   "poison unchecked (NO_SANITY): reporting on, "
                   "PAGE_POISON not negotiated; " + r.summary())

    def poison_on(self, g, tag, want):
        ok = bound(g) and feature(g, 5) and feature(g, 4)
        # 1 GiB and 15 s: on 6.7+ the per-CPU free lists grow while a
        # large buffer is freed and hand tens of MiB back to the buddy
        # allocator (where they can be reported) only over some seconds.
        r = reclaim.measure(g, mib=1024, seconds=15)
        c = counters(g)
        rc, out = g.run("fprmem check 1024 0", check=False, timeout=300)
        ok &= c["reports"] > 0 and rc == 0
        ok &= not dmesg_has(g, "memory corruption")
        if want == "init_on_free":
            # poison_val 0: the host may discard, memory comes back
            ok &= r.fraction >= 0.9
        else:
            # QEMU never discards pages whose poison_val is non-zero
            out += " (QEMU keeps pages with a non-zero poison_val)"
        self.check("poison/" + tag, ok,
                   "PAGE_POISON negotiated, %d reports, reused memory: %s; %s"
                   % (c["reports"], out.strip(), r.summary()))

    # 6: unbind/bind and rmmod/insmod under memory churn
    def cycles(self, n=100):
        with self.guest("cycles") as g:
            g.run("modprobe virtio_fpr delay_ms=100")
            start(g, "verify", "fprmem verify 128 100000")
            start(g, "churn", "fprmem churn 64 zero")
            ok_bind = 0
            for _ in range(n):
                g.run("echo virtio0 > %s/unbind; sleep 0.15; "
                      "echo virtio0 > %s/bind; sleep 0.25" %
                      (DRIVER, DRIVER))
                ok_bind += bound(g)
            ok_mod = 0
            for _ in range(n):
                g.run("rmmod virtio_fpr; sleep 0.1; "
                      "modprobe virtio_fpr delay_ms=100; sleep 0.25")
                ok_mod += bound(g)
            c = counters(g)
            rc_c, churn = stop(g, "churn")
            rc_v, verify = stop(g, "verify")
            self.check("cycles",
                       ok_bind == n and ok_mod == n and rc_c == 0 and
                       rc_v == 0,
                       "%d/%d unbind+bind, %d/%d rmmod+insmod under churn "
                       "(%s; %s)" % (ok_bind, n, ok_mod, n, churn, verify))
            r = reclaim.measure(g, seconds=15)
            self.check("reclaim-after-cycles", r.fraction >= 0.9,
                       r.summary() + "; last device %d reports" %
                       c["reports"])
        no_problems(self.t, g, self.name("cycles"))

    def cycles20(self):
        """The short form of cycles, for the targets without the long
        scenarios."""
        self.cycles(n=20)

    # suspend/resume: pm_test=devices runs the drivers' freeze and restore
    # callbacks without needing a wake-up source
    def suspend(self):
        with self.guest("suspend") as g:
            g.run("modprobe virtio_fpr delay_ms=200")
            # A partly inflated balloon is emptied on freeze, refilled after
            inflated = self.balloon_to(g, 1792)
            resumed = freeze_restore(g) == 0 and dmesg_has(g, "suspend debug")
            refilled = inflated and self.balloon_to(g, 1792)
            r = reclaim.measure(g, seconds=15)
            self.check("suspend-resume",
                       resumed and bound(g) and refilled and
                       r.fraction >= 0.9,
                       "device freeze/restore via pm_test with 256 MiB "
                       "ballooned (%s after resume), then %s" %
                       ("kept" if refilled else "LOST", r.summary()))
        no_problems(self.t, g, self.name("suspend"))

    # Long scenarios: make check runs each on the kernel (or kernels)
    # named here, make check-all (--all) on every kernel
    LONG = {"cycles": "6.1", "integrity": "6.1", "exercise": "6.1",
            "status_more": "6.1",
            "poison": "6.12", "idle": "6.12", "feature_matrix": "6.12",
            # the host's part, the same on every kernel
            "control": "6.1",
            # the order is the core's from 6.2, set at registration in 6.1
            "backoff": ("6.1", "7.2"), "params_fuzz": ("6.1", "7.2"),
            "oom": ("6.1", "7.2"),
            # where cycles (100 of each) does not run
            "cycles20": ("6.12", "7.2"),
            "backoff_scale": "7.2",
            "hang": "7.2", "hotplug": "7.2", "broken": "7.2",
            "shutdown": "7.2", "boot_stall": "7.2",
            "hot_unplug": "7.2",
            # three migrations of a 4 GiB guest (docs/hinting.md)
            "hinting": "check-all"}
    # make check-debug (a debug series, no --all) as before the split of
    # the release kernels above: None is every debug kernel
    DEBUG_LONG = {"control": None, "oom": None, "params_fuzz": None,
                  "backoff": None}

    # Targets that run only these (make check-all: everything)
    CORE = ("main", "bad_load", "balloon", "balloon_only", "poison",
            "cycles20", "stall", "status", "hint_teardown")
    CORE_ONLY = ("5.10",)
    # arm64 (cross-built, TCG): make check runs CORE on one 4 KiB and one
    # 16 KiB page kernel, make check-all everything on every arm64 target
    ARM64_CHECK = "6.1-arm64,7.2-arm64-16k"
    # CORE but poison and stall (6 min of the 14 a target takes there),
    # which make check runs on the amd64 kernels
    ARM64_CORE = ("main", "bad_load", "balloon", "balloon_only",
                  "cycles20", "status", "hint_teardown")
    # and these long ones on one arm64 target, as LONG on one amd64
    # kernel each (hotplug plugs virtio-mem there: hotplug_suite.py)
    ARM64_LONG = {"cycles": "6.1-arm64", "integrity": "6.1-arm64",
                  "hotplug": "6.1-arm64",
                  "feature_matrix": "6.1-arm64"}
    AMD64 = "5.10,6.1,6.12-trixie,7.2"
    ARM64_ALL = "5.10-arm64,6.1-arm64,6.12-trixie-arm64," \
        "6.12-trixie-arm64-16k,7.2-arm64,7.2-arm64-16k"

    ALL = ("main", "control", "boot_stall", "bad_load", "balloon_only",
           "poison", "cycles", "cycles20", "suspend", "balloon", "oom",
           "integrity", "hang", "stall", "broken", "shutdown", "core_order",
           "hot_unplug", "hotplug", "feature_matrix", "params_fuzz",
           "backoff", "backoff_scale", "exercise", "idle", "status",
           "status_more", "hint_teardown", "hinting")

    @staticmethod
    def runs_on(name, base, debug=False):
        """Does make check (make check-debug if DEBUG) run scenario NAME
        on kernel series BASE?"""
        if debug and name in Scenarios.DEBUG_LONG:
            on = Scenarios.DEBUG_LONG[name]
            return on is None or on == base
        on = Scenarios.LONG.get(name, base)
        return base in on if isinstance(on, tuple) else on == base

    @staticmethod
    def selection(series, everything=False):
        """The scenarios make check (make check-all if EVERYTHING) runs on
        kernel SERIES."""
        base = series.split("-")[0]
        if everything:
            names = list(Scenarios.ALL)
        elif "-arm64" in series:
            # arm64: the long scenarios belong to the amd64 kernels
            names = list(Scenarios.ARM64_CORE) + [
                n for n, on in Scenarios.ARM64_LONG.items() if on == series]
        elif base in Scenarios.CORE_ONLY:
            names = list(Scenarios.CORE) + [
                n for n in Scenarios.LONG if Scenarios.runs_on(n, base)]
        else:
            names = [n for n in Scenarios.ALL if Scenarios.runs_on(
                n, base, series.endswith("-debug"))]
        # 100 cycles include the 20
        if "cycles" in names and "cycles20" in names:
            names.remove("cycles20")
        return names


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", help="default: %s and %s (--all: %s)" %
                    (Scenarios.AMD64, Scenarios.ARM64_CHECK,
                     Scenarios.ARM64_ALL))
    ap.add_argument("--only", help="scenarios to run on every series "
                    "(default: all; the long ones on one or two series each)")
    ap.add_argument("--all", action="store_true",
                    help="the long scenarios on every series too")
    ap.add_argument("--arch", choices=("amd64", "arm64", "all"),
                    default="all", help="without --series: the kernels "
                    "of that arch (make check runs the two at once)")
    ap.add_argument("--list", action="store_true",
                    help="print the series that would run, one a line, "
                    "those with more scenarios first (tests/run-all.sh "
                    "gives its two workers the longest first)")
    args = ap.parse_args()
    t = Results()
    if not args.series:
        arm64 = Scenarios.ARM64_ALL if args.all else Scenarios.ARM64_CHECK
        args.series = {"amd64": Scenarios.AMD64, "arm64": arm64,
                       "all": Scenarios.AMD64 + "," + arm64}[args.arch]
    if args.list:
        for series in sorted(args.series.split(","), key=lambda s: -len(
                Scenarios.selection(s, args.all))):
            print(series)
        return 0
    for series in args.series.split(","):
        try:
            k = Kernel(series)
        except Exception as e:
            t.check("%s/setup" % series, False, str(e))
            continue
        sc = Scenarios(k, t)
        names = args.only.split(",") if args.only else \
            Scenarios.selection(series, args.all)
        for name in names:
            t0 = time.monotonic()
            try:
                getattr(sc, name)()
            except (GuestError, OSError, KeyError, ValueError) as e:
                t.check("%s/%s" % (series, name), False,
                        "%s\n%s" % (e, traceback.format_exc(limit=3)))
            took = time.monotonic() - t0
            print("# %s/%s took %.0f s" % (series, name, took), flush=True)
    if guest.stalls:
        # Counted apart: a boot that stalls every time is a finding too
        print("# %d boot(s) stalled before init and were booted again "
              "(docs/testing.md, \"Boot stalls\")" % len(guest.stalls))
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
