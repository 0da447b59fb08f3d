# SPDX-License-Identifier: GPL-2.0
"""Binding on every host and teardown that cannot hang: a device without
reporting or without page poison, another driver holding the reporting
core, the administrator's page_reporting_order, and a device that stops
acknowledging (debugfs stall_acks) during unbind, rmmod, an order write
and a freeze, and queues that break under the driver (debugfs
break_device). Mixed into suite.Scenarios."""

import os
import subprocess
import time

import reclaim
from balloon_suite import MIB, QOM, actual_mib, meminfo_kib, wait_for
from fault_suite import start, stop
from fprsys import (CORE_ORDER, DRIVER, PARAMS, SYSFS, bound, counters,
                    dmesg_has, feature, freeze_restore, pm_callback_secs)
from guest import TOP

STALL = "/sys/kernel/debug/virtio_fpr/virtio0/stall_acks"
BREAK = "/sys/kernel/debug/virtio_fpr/virtio0/break_device"
# Both need the module loaded with fault_injection=1
LOAD_FAULTS = "modprobe virtio_fpr order=3 delay_ms=100 fault_injection=1"
# What a teardown with a silent device may take: the driver gives it
# FPR_TEARDOWN_SECS (5 s), then resets it
TEARDOWN_LIMIT = 10.0
# pm_test=devices waits this long between freeze and restore
PM_TEST_WAIT = 5.0


def state(g):
    return g.read(SYSFS + "/reporting/state")


def install_modprobe_conf(g):
    """The packaged /usr/lib/modprobe.d file (blacklist virtio_balloon)."""
    with open(os.path.join(TOP, "modprobe.d", "virtio-fpr.conf")) as f:
        lines = f.read().splitlines()
    # One command a line on the guest's channel: one echo a line
    g.run("mkdir -p /etc/modprobe.d && { %s; } > "
          "/etc/modprobe.d/virtio-fpr.conf" %
          "; ".join("echo '%s'" % line for line in lines))


def timed(g, cmd, timeout=120):
    """Run CMD in the guest; (exit status, seconds it took)."""
    t = time.monotonic()
    rc, _ = g.run(cmd, check=False, timeout=timeout)
    return rc, time.monotonic() - t


class BindingScenarios:
    def balloon_works(self, g, total0):
        """Inflate by 512 MiB through QMP and back, stats: (ok, detail)."""
        down = self.balloon_to(g, 1536, timeout=120)
        mem = meminfo_kib(g, "MemTotal") * 1024
        g.qmp("qom-set", path=QOM,
              property="guest-stats-polling-interval", value=1)

        def stats_total():
            st = g.qmp("qom-get", path=QOM, property="guest-stats")
            return st["stats"].get("stat-total-memory", -1)
        # The stats follow within a polling interval or two
        stats = wait_for(lambda: stats_total() == mem, 10 * self.k.slow)
        up = self.balloon_to(g, 2048, timeout=120)
        shrunk = (total0 * 1024 - mem) // MIB
        ok = down and up and 500 <= shrunk <= 520 and stats
        return ok, ("QMP balloon 1536 MiB %s (MemTotal -%d MiB), back to "
                    "2048 %s; guest-stats total %s MemTotal" %
                    ("reached" if down else "NOT reached", shrunk,
                     "reached" if up else "NOT reached",
                     "=" if stats else "!="))

    def balloon_only_case(self, tag, why, text, **kw):
        with self.guest(tag, **kw) as g:
            install_modprobe_conf(g)
            # As udev would: load by the device's alias
            g.run("modprobe $(cat %s/modalias)" % SYSFS)
            total0 = meminfo_kib(g, "MemTotal")
            inbox = g.run("lsmod | grep -q '^virtio_balloon '",
                          check=False)[0] == 0
            st = state(g)
            ok, detail = self.balloon_works(g, total0)
            self.check("balloon-only/" + tag,
                       bound(g) and not inbox and not feature(g, 5) and
                       st == why and dmesg_has(g, text) and ok and
                       counters(g)["reports"] == 0,
                       "virtio_fpr bound by alias (virtio_balloon "
                       "blacklisted%s), state %r, log names %r; %s" %
                       (", but loaded" if inbox else "", st, text, detail))
        self.no_problems(g, "balloon-only-" + tag)

    # 1: a device without reporting (QEMU's default), and page_poison=1
    # on a device without page-poison: the balloon still works
    def balloon_only(self):
        self.balloon_only_case("no-reporting",
                               "off: device does not offer it",
                               "free-page-reporting=on", balloon="off")
        # Before 5.11 with PAGE_POISONING_NO_SANITY (Debian 11) the
        # poison is never checked and reporting stays on (suite.poison):
        # there init_on_free=1 asks for the contents to be kept
        opt = "init_on_free" if \
            self.k.config("PAGE_POISONING_NO_SANITY") else "page_poison"
        self.balloon_only_case("poison", "off: poison",
                               "keep their contents (%s)" % opt,
                               append=opt + "=1",
                               balloon_props="page-poison=off")

    # 2: a device that stops acknowledging, with 1 GiB inflated and a
    # report in flight: every teardown finishes, no memory is lost or
    # corrupted, and the device reports again afterwards
    def stall(self):
        with self.guest("stall") as g:
            g.run(LOAD_FAULTS)
            total0 = meminfo_kib(g, "MemTotal")
            start(g, "verify", "fprmem verify 128 100000")
            results = []
            # A debug kernel frees a page 30-100 times slower: there 256
            # MiB inflated (with 512, the scenario took 24 min in stop
            # 26's CI), and the limit times its slowness
            size = 1792 if self.k.debug else 1024
            limit = TEARDOWN_LIMIT * self.k.slow
            bad = []

            def need(what, ok):
                if not ok:
                    bad.append(what)

            def stalled_report(what):
                """Inflate to 1 GiB, stall acks, wait for a report in
                flight."""
                need(what + ": inflated", self.balloon_to(g, size))
                need(what + ": report in flight", self.report_held(g))

            def reports_again(what):
                need(what + ": reports again", self.reports_again(g))

            stalled_report("order write")
            # An order write (re-registration on 6.1) after a long delay
            g.run("echo 600000 > %s/delay_ms" % PARAMS)
            rc, secs = timed(g, "echo 5 > %s/order" % PARAMS)
            results.append("order write %.1f s" % secs)
            need("order write", rc == 0 and secs < limit)
            g.run("echo 100 > %s/delay_ms" % PARAMS)

            t = time.monotonic()
            rc = freeze_restore(g)
            secs = time.monotonic() - t - PM_TEST_WAIT
            # The limit is on what the driver's callbacks take (the
            # kernel's own timing): freezing and thawing every task and
            # device of a TCG guest added 3.7 s on 5.10, more on a
            # loaded host
            cb = pm_callback_secs(g)
            driver = secs if cb is None else sum(cb)
            results.append("freeze/restore %.1f s (+%d s pm_test), %s" %
                           (secs, PM_TEST_WAIT, "callbacks not logged"
                            if cb is None else "virtio0's callbacks " +
                            " + ".join("%.1f" % c for c in cb) + " s"))
            need("freeze", rc == 0 and driver < limit and
                 secs < 3 * limit and bound(g))
            g.run("echo 0 > " + STALL)
            reports_again("freeze")

            for how, cmd, back in (
                    ("unbind", "echo virtio0 > %s/unbind" % DRIVER,
                     "echo virtio0 > %s/bind" % DRIVER),
                    ("rmmod", "rmmod virtio_fpr",
                     LOAD_FAULTS)):
                stalled_report(how)
                rc, secs = timed(g, cmd)
                gone = not bound(g)
                mem = meminfo_kib(g, "MemTotal")
                results.append("%s %.1f s, MemTotal %+d MiB" %
                               (how, secs, (mem - total0) // 1024))
                need(how, rc == 0 and secs < limit and gone and
                     mem == total0)
                g.run(back)
                need(how + ": rebound", bound(g) and state(g) == "active")
                reports_again(how)
            rc_v, verify = stop(g, "verify")
            need("verifier", rc_v == 0)
            need("balloon refilled", wait_for(
                lambda: actual_mib(g) == size, 60 * self.k.slow))
            self.check("stalled-device-teardown", not bad,
                       "acks stalled with %d MiB inflated and a report in "
                       "flight: %s (limit %.0f s); reports again after "
                       "each; %s%s" %
                       (2048 - size, "; ".join(results), limit, verify,
                        "; FAILED: " + ", ".join(bad) if bad else ""))
            self.check("stalled-device-log",
                       dmesg_has(g, "is going away: resetting it"),
                       "the reset is logged")
        self.no_problems(g, "stall")

    def report_held(self, g):
        """Stall acks (fault_injection=1), then a large free, which
        reaches the buddy lists: True once its report waits for the
        device."""
        g.run("echo 1 > " + STALL)
        reclaim.hold(g, 256, tag="fill")
        reclaim.release(g, "fill")
        return wait_for(
            lambda: g.read(SYSFS + "/reporting/in_flight") == "1",
            20 * self.k.slow)

    def reports_again(self, g):
        """A large free is reported (within 30 s): True."""
        before = counters(g)["reports"]
        reclaim.hold(g, 256, tag="fill")
        reclaim.release(g, "fill")
        return wait_for(lambda: counters(g)["reports"] > before,
                        30 * self.k.slow)

    # Queues that break under the driver, as the virtio core breaks them
    # when it gives up on a device: with a report in flight the device is
    # reset at once (not at the next teardown), the report's pages go
    # back unreported; unbind then gives the balloon's pages back, a
    # rebind works again
    def broken(self):
        slow = self.k.slow
        size = 1792
        with self.guest("broken") as g:
            g.run(LOAD_FAULTS)
            total0 = meminfo_kib(g, "MemTotal")
            start(g, "verify", "fprmem verify 128 100000")
            inflated = self.balloon_to(g, size)
            in_flight = self.report_held(g)
            before = counters(g)
            t = time.monotonic()
            g.run("echo 1 > " + BREAK)
            reset = wait_for(lambda: state(g) == "off: device reset",
                             TEARDOWN_LIMIT * slow, 0.2)
            secs = time.monotonic() - t
            after = counters(g)
            logged = dmesg_has(g, "queue broken; the device was reset")
            g.run("echo 0 > " + STALL)
            # a reset device gets nothing more
            reclaim.hold(g, 256, tag="fill")
            reclaim.release(g, "fill")
            time.sleep(2)
            quiet = counters(g)["reports"] == after["reports"]
            self.check("broken-queue-reset",
                       inflated and in_flight and reset and
                       secs < TEARDOWN_LIMIT * slow and
                       after["in_flight"] == 0 and
                       after["errors"] > before["errors"] and
                       after["resets"] == before["resets"] and
                       logged and quiet,
                       "queues broken with %d MiB inflated and a report "
                       "in flight (%s): device reset in %.1f s, report "
                       "%s, errors +%d, %s, %s" %
                       (2048 - size, "yes" if in_flight else "NO", secs,
                        "ended" if after["in_flight"] == 0 else
                        "STILL IN FLIGHT",
                        after["errors"] - before["errors"],
                        "logged" if logged else "NOT logged",
                        "nothing reported after" if quiet else
                        "REPORTED AFTER"))
            rc, secs = timed(g, "echo virtio0 > %s/unbind" % DRIVER)
            mem = meminfo_kib(g, "MemTotal")
            g.run("echo virtio0 > %s/bind" % DRIVER)
            active = bound(g) and state(g) == "active"
            refilled = wait_for(lambda: actual_mib(g) == size, 60 * slow)
            again = self.reports_again(g)
            rc_v, verify = stop(g, "verify")
            self.check("broken-queue-teardown",
                       rc == 0 and secs < TEARDOWN_LIMIT * slow and
                       mem == total0 and active and refilled and again and
                       rc_v == 0,
                       "unbind %.1f s, MemTotal %+d MiB; rebound (%s), "
                       "balloon %s, %s; %s" %
                       (secs, (mem - total0) // 1024,
                        "active" if active else "NOT active",
                        "refilled" if refilled else "NOT refilled",
                        "reports again" if again else "NO REPORTS", verify))
        self.no_problems(g, "broken")

    # Reboot with a report held by a silent device and the balloon
    # inflated: the system goes down in time, and the driver logs no
    # error there (7.2's virtio core breaks and resets every device at
    # shutdown; a waiter that sees it then resets quietly. Its waiters
    # look once a second: a reboot as quick as this one, 0.1 s, ended
    # before they did without that, so only a slower one shows it)
    def shutdown(self):
        slow = self.k.slow
        with self.guest("shutdown") as g:
            g.run(LOAD_FAULTS)
            inflated = self.balloon_to(g, 1792)
            in_flight = self.report_held(g)
            # The driver's debug lines reach the console (the debug
            # kernel has no dynamic debug; nor a shutdown method to see)
            g.run("c=/sys/kernel/debug/dynamic_debug/control; "
                  "! test -e $c || echo 'module virtio_fpr +p' > $c; "
                  "dmesg -n 8")
            t = time.monotonic()
            # the shell's answer never comes: the guest goes down
            g.proc.stdin.write(b"reboot -f\n")
            g.proc.stdin.flush()
            try:
                g.proc.wait(TEARDOWN_LIMIT * slow)
            except subprocess.TimeoutExpired:
                pass
            secs = time.monotonic() - t
            down = g.proc.poll() is not None
            text = g.console_text()
            restarted = "reboot: Restarting system" in text
            # (its debug lines about the shutdown are not noise)
            noise = [ln.split("] ", 1)[-1] for ln in text.splitlines()
                     if "virtio_fpr" in ln and
                     "shutdown: device" not in ln and
                     "queue broken at shutdown" not in ln and
                     ("broken" in ln or "error" in ln or "reset" in ln or
                      "cannot" in ln)]
            # Where the virtio core lets a driver replace its device
            # shutdown (7.2; not 6.12 and older), the driver resets the
            # device itself, once, before the restart
            method = self.k.base not in ("5.10", "6.1", "6.12")
            own = text.find("shutdown: device")
            end = text.find("reboot: Restarting")
            self.check("shutdown-method",
                       end >= 0 and (0 <= own < end) == method,
                       "the driver's own shutdown: %s (expected: %s)" %
                       ("ran before the restart" if 0 <= own < end else
                        "no restart logged" if end < 0 else "not run",
                        "yes" if method else "no"))
            self.check("shutdown-quiet",
                       inflated and in_flight and down and restarted and
                       not noise,
                       "reboot -f with 256 MiB inflated and a report in "
                       "flight (%s): %s in %.1f s (limit %.0f), %s" %
                       ("yes" if in_flight else "NO",
                        "restarted" if restarted else "NOT restarted",
                        secs, TEARDOWN_LIMIT * slow,
                        "nothing logged by virtio_fpr" if not noise else
                        "logged: %s" % "; ".join(noise[:2])))
        self.no_problems(g, "shutdown")

    # 5: the administrator's page_reporting_order, honoured and kept
    def core_order(self):
        if self.k.base == "6.1":
            # 6.1's core sets its order from every registration, ours or
            # virtio_balloon's: there is no administrator's value to keep
            print("# %s: page_reporting_order kept only from 6.2" %
                  self.name("core-order"), flush=True)
            return
        with self.guest("core-order",
                        append="page_reporting.page_reporting_order=5") as g:
            g.run("modprobe virtio_fpr")
            used = g.read(PARAMS + "/order")
            core = g.read(CORE_ORDER)
            logged = dmesg_has(g, "enabled: order 5 ")
            g.run("echo virtio0 > %s/unbind" % DRIVER)
            after = g.read(CORE_ORDER)
            self.check("core-order-honoured",
                       used == "5" and core == "5" and logged and
                       after == "5",
                       "page_reporting_order=5 on the command line: order "
                       "%s used (core %s), %s after unbind" %
                       (used, core, after))
            # Someone else changes it while we are bound: it stays
            g.run("echo virtio0 > %s/bind" % DRIVER)
            g.run("echo 7 > " + CORE_ORDER)
            g.run("rmmod virtio_fpr")
            kept = g.read(CORE_ORDER)
            self.check("core-order-not-overwritten", kept == "7",
                       "changed to 7 while bound: %s after rmmod" % kept)
        self.no_problems(g, "core-order")

    # 3: the balloon unplugged (PCIe hot-unplug) while inflated and with a
    # report in flight, then plugged back
    def hot_unplug(self):
        port = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1"]
        with self.guest("unplug", extra=port, balloon_props="bus=rp1") as g:
            g.run(LOAD_FAULTS)
            total0 = meminfo_kib(g, "MemTotal")
            start(g, "verify", "fprmem verify 128 100000")
            inflated = self.balloon_to(g, 1024)
            in_flight = self.report_held(g)
            t = time.monotonic()
            g.qmp("device_del", id="balloon0")
            # QEMU drops the device once the guest has removed its driver
            # and powered the slot off
            gone = wait_for(lambda: not any(
                d.get("qdev_id") == "balloon0" for d in self.pci_devices(g)),
                60 * self.k.slow)
            secs = time.monotonic() - t
            mem = meminfo_kib(g, "MemTotal")
            g.qmp("device_add", driver="virtio-balloon-pci", id="balloon1",
                  bus="rp1", **{"free-page-reporting": "on"})
            dev = wait_for(lambda: g.out(
                "ls %s | grep virtio || true" % DRIVER), 60 * self.k.slow)
            path = "/sys/bus/virtio/devices/%s" % dev
            active = dev and wait_for(lambda: g.read(
                path + "/reporting/state") == "active", 10 * self.k.slow)
            before = int(g.read(path + "/reporting/reports")) if dev else 0
            reclaim.hold(g, 256, tag="fill")
            reclaim.release(g, "fill")
            reports = dev and wait_for(lambda: int(g.read(
                path + "/reporting/reports")) > before, 30 * self.k.slow)
            rc_v, verify = stop(g, "verify")
            self.check("hot-unplug",
                       inflated and in_flight and gone and
                       mem == total0 and active and reports and rc_v == 0,
                       "device_del with 1 GiB inflated and a report in "
                       "flight (acks stalled): device gone in %.1f s%s, "
                       "MemTotal %+d MiB; device_add: %s bound, %s, %s; "
                       "%s" % (secs, "" if gone else " (NOT gone)",
                               (mem - total0) // 1024, dev or "nothing",
                               "active" if active else "NOT active",
                               "reports" if reports else "NO reports",
                               verify))
        self.no_problems(g, "unplug")

    def pci_devices(self, g):
        """QEMU's PCI devices, behind bridges too."""
        found = []

        def walk(devices):
            for d in devices:
                found.append(d)
                walk(d.get("pci_bridge", {}).get("devices", []))
        for bus in g.qmp("query-pci"):
            walk(bus["devices"])
        return found
