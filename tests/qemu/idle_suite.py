# SPDX-License-Identifier: GPL-2.0
"""An idle guest costs nothing: the delay_ms check (policy.c) is deferrable
work, so however short delay_ms is, an idle guest gets no extra timer
interrupts, and the first pass after idle still runs at delay_ms."""

import time

import reclaim
from fprsys import PARAMS

CHECKS = "/sys/kernel/debug/virtio_fpr/virtio0/delay_checks"
EARLY = "/sys/kernel/debug/virtio_fpr/virtio0/delay_early"


def local_timer_irqs(g):
    """The guest's local timer interrupts in /proc/interrupts: LOC on
    x86, arch_timer on arm64 (the per-CPU counts after the label)."""
    line = g.out("grep -E '^ *LOC:|arch_timer' /proc/interrupts | head -1")
    counts = []
    for field in line.split()[1:]:
        if not field.isdigit():
            break
        counts.append(int(field))
    return sum(counts)


class IdleScenarios:
    def idle_window(self, g, seconds):
        """Timer interrupts and delay checks over SECONDS of idling."""
        irq0, chk0 = local_timer_irqs(g), int(g.read(CHECKS))
        time.sleep(seconds)
        return local_timer_irqs(g) - irq0, int(g.read(CHECKS)) - chk0

    def quiet(self, g, seconds=5, limit=60):
        """Wait until the guest's timer interrupts per SECONDS stop
        falling: for about 15 s after boot a 7.2 guest takes up to 1.7
        times as many as later, whatever the driver does."""
        last = None
        end = time.monotonic() + limit * g.kernel.slow
        while time.monotonic() < end:
            now, _ = self.idle_window(g, seconds)
            if last is not None and now >= last * 0.9:
                return
            last = now

    def idle(self):
        secs = 20
        with self.guest("idle") as g:
            # burst_mb=0: delay_ms=2000 runs no check at all
            g.run("modprobe virtio_fpr burst_mb=0")
            reclaim.settle(g)
            self.quiet(g)
            irq_def, chk_def = self.idle_window(g, secs)
            # delay_ms=10 polled every 10 ms before: 2000 checks here
            g.run("echo 10 > %s/delay_ms" % PARAMS)
            irq_10, chk_10 = self.idle_window(g, secs)
            g.run("echo 2000 > %s/delay_ms" % PARAMS)
            # the defaults: burst_mb's watch runs the check (250 ms)
            g.run("echo 128 > %s/burst_mb" % PARAMS)
            irq_b, chk_b = self.idle_window(g, secs)
            # Deferrable: a check runs only when the CPU is awake anyway,
            # so at most once per timer interrupt; polling every 10 ms
            # would run 100 a second and add as many interrupts
            self.check("idle-no-wakeups",
                       chk_10 <= irq_10 and chk_10 < secs * 100 // 4 and
                       irq_10 <= irq_def * 1.25 + 5 * secs and
                       chk_b <= irq_b and irq_b <= irq_def * 1.25 + 5 * secs,
                       "%d s idle: delay_ms=10 %d timer interrupts, %d "
                       "checks; delay_ms=2000 %d timer interrupts, %d "
                       "checks; the defaults (burst_mb=128) %d timer "
                       "interrupts, %d checks" %
                       (secs, irq_10, chk_10, irq_def, chk_def, irq_b,
                        chk_b))

            # After the idle stretch the first pass still comes at
            # delay_ms, not at the core's 2 s: the free keeps the CPU busy
            # while the deferrable check moves the pass
            g.run("echo 200 > %s/delay_ms; echo 0 > %s/burst_mb" %
                  (PARAMS, PARAMS))
            time.sleep(5)
            r = reclaim.measure(g)
            t10 = r.time_to(0.1)
            self.timed("idle-first-pass", r.fraction >= 0.9,
                       t10 is not None and t10 < 1.5,
                       "after 5 s idle, delay_ms=200: %s" % r.summary(),
                       "freeing 1 GiB takes longer than the delay")
        self.no_problems(g, "idle")
        self.idle_smp()

    def idle_smp(self):
        """Two vCPUs: the deferrable check's timer sits on one CPU while
        the other frees, so it may miss the pass; a delay longer than the
        core's 2 s must hold all the same (report() ends a pass that came
        at the core's expiry, fpr_delay_early())."""
        with self.guest("idle-smp", smp=2) as g:
            g.run("modprobe virtio_fpr burst_mb=0 delay_ms=5000")
            reclaim.settle(g)
            time.sleep(10)
            r = reclaim.measure(g, seconds=40, quiet=6)
            t10 = r.time_to(0.1)
            early = int(g.read(EARLY))
            self.timed("idle-smp-delay-5000", r.fraction >= 0.9,
                       t10 is not None and t10 >= 4.0,
                       "2 vCPUs, delay_ms=5000 after 10 s idle: %s "
                       "(nothing before ~5 s); %d passes ended as early" %
                       (r.summary(), early),
                       "freeing 1 GiB takes longer than the delay")
        self.no_problems(g, "idle-smp")
