# SPDX-License-Identifier: GPL-2.0
"""Reliability scenarios: data integrity under aggressive reporting, a
device paused mid-report, every combination of device features, and
parameter fuzzing. Mixed into suite.Scenarios."""

import concurrent.futures
import itertools
import re
import time

import reclaim
from balloon_suite import wait_for
from guest import GuestError
from fprsys import PARAMS, SYSFS, bound, counters, dmesg_has, max_order

# (value, valid?) for kstrtouint(base 0) and the documented ranges;
# order's lower bound is checked separately (1 on 6.1, 0 from 6.2)
# and the largest order (True), one above it (False): params_fuzz()
ORDER_VALUES = (("-1", False), ("1", True), ("5", True),
                ("0xa", True), ("012", True), ("+3", True),
                ("4294967295", False), ("4294967296", False),
                ("18446744073709551616", False), ("abc", False),
                ("9x", False), ("1e1", False), ("", False))
DELAY_VALUES = (("9", False), ("10", True), ("2000", True), ("600000", True),
                ("600001", False), ("0", False), ("-10", False),
                ("0x3e8", True), ("4294967295", False), ("1e3", False),
                ("", False), ("100ms", False))
BACKOFF_VALUES = (("0", True), ("3", True), ("6", True), ("7", False),
                  ("-1", False), ("0x2", True), ("4294967296", False),
                  ("two", False), ("", False))
BURST_VALUES = (("0", True), ("128", True), ("1048576", True),
                ("1048577", False), ("-1", False), ("1G", False),
                ("", False))

# QEMU virtio-balloon properties and the feature bit each one offers
DEVICE_PROPS = (("free-page-reporting", 5), ("page-poison", 4),
                ("deflate-on-oom", 2), ("free-page-hint", 3))


def start(g, tag, cmd):
    """Run cmd in the background; its exit status lands in /tmp/TAG.rc."""
    g.run("rm -f /tmp/%(t)s.rc /tmp/%(t)s.pid; "
          "( %(c)s > /tmp/%(t)s.log 2>&1 & echo $! > /tmp/%(t)s.pid; "
          "wait $!; echo $? > /tmp/%(t)s.rc ) > /dev/null 2>&1 & "
          "while [ ! -s /tmp/%(t)s.pid ]; do sleep 0.05; done" %
          {"t": tag, "c": cmd})


def stop(g, tag):
    """SIGTERM a background command; return (exit status, its output)."""
    out = g.out("kill $(cat /tmp/%(t)s.pid); "
                "while [ ! -s /tmp/%(t)s.rc ]; do sleep 0.1; done; "
                "echo rc=$(cat /tmp/%(t)s.rc); cat /tmp/%(t)s.log" %
                {"t": tag}, timeout=300)
    m = re.match(r"rc=(\d+)", out)
    return (int(m.group(1)) if m else -1), out.partition("\n")[2].strip()


class FaultScenarios:
    # churn with order=0 and the shortest delay while checksummed data
    # stays alive; init_on_free makes the kernel trust freed pages to be
    # zero, so a reused page that was reported must read zero
    def integrity(self, seconds=90):
        with self.guest("integrity", append="init_on_free=1",
                        balloon_props="page-poison=on") as g:
            order = 1 if self.k.base == "6.1" else 0     # lowest allowed
            g.run("modprobe virtio_fpr order=%d delay_ms=10" % order)
            start(g, "verify", "fprmem verify 256 100000")
            start(g, "churn1", "fprmem churn 48 zero")
            # bursts: a second churner comes and goes
            g.run("(end=$(($(date +%%s) + %d)); "
                  "while [ $(date +%%s) -lt $end ]; do "
                  "fprmem churn 96 zero >> /tmp/burst.log 2>&1 & p=$!; "
                  "sleep 3; kill $p; wait $p || echo BAD >> /tmp/burst.log; "
                  "sleep 1; done) > /dev/null 2>&1 & echo $! > /tmp/bursts.pid"
                  % seconds)
            time.sleep(seconds + 5)
            rc_c, churn = stop(g, "churn1")
            rc_v, verify = stop(g, "verify")
            bursts = g.read("/tmp/burst.log")
            c = counters(g)
            rc_k, check = g.run("fprmem check 512 0", check=False,
                                timeout=300)
            m = re.search(r"verified (\d+) bytes, (\d+) corrupt", verify)
            nz = sum(int(x) for x in
                     re.findall(r"(\d+) not zero", churn + bursts))
            pages = sum(int(x) for x in
                        re.findall(r"(\d+) pages checked", churn + bursts))
            self.check("integrity",
                       rc_c == 0 and rc_v == 0 and rc_k == 0 and m and
                       int(m.group(2)) == 0 and nz == 0 and
                       "BAD" not in bursts and c["reports"] > 100,
                       "%d s of churn at order %d: %s MiB verified, %s "
                       "corrupt words; %d reused pages checked, %d not "
                       "zero; %d reports of %d MiB; then %s" %
                       (seconds, order,
                        int(m.group(1)) >> 20 if m else "?",
                        m.group(2) if m else "?", pages, nz, c["reports"],
                        c["pages"] >> 8, check.strip()))
        self.no_problems(g, "integrity")

    # the device stops answering (QMP stop) in the middle of reporting
    def hang(self):
        with self.guest("hang") as g:
            g.run("modprobe virtio_fpr order=3 delay_ms=10")
            start(g, "verify", "fprmem verify 128 100000")
            start(g, "churn", "fprmem churn 64")
            time.sleep(5)
            before = counters(g)["reports"]
            g.qmp("stop")
            time.sleep(15)
            paused = g.qmp("query-status")["status"]
            g.qmp("cont")
            time.sleep(5 * self.k.slow)
            # then a free that reaches the free lists: the churn's memory
            # may go round the per-CPU lists alone (with 16 KiB pages its
            # 64 MiB are two THPs), which the core never sees
            reclaim.hold(g, 256, tag="fill")
            reclaim.release(g, "fill")
            # a guest sharing the host cores with others may need longer
            # for its next pass: up to 30 s (times the slowness) in all
            wait_for(lambda: counters(g)["reports"] > before,
                     25 * self.k.slow, period=1)
            c = counters(g)
            after = c["reports"]
            stop(g, "churn")
            rc_v, verify = stop(g, "verify")
            r = reclaim.measure(g, seconds=15)
            self.check("device-paused",
                       paused == "paused" and after > before and
                       rc_v == 0 and r.fraction >= 0.9,
                       "paused 15 s mid-churn (%d reports before, %d "
                       "after it and a 256 MiB free; back-off step %d, %d "
                       "passes deferred, %d blocks reused); %s; then %s" %
                       (before, after, c["backoff_step"], c["deferred"],
                        c["reused_blocks"], verify, r.summary()))
        self.no_problems(g, "hang")

    # every combination of the device's optional features, two guests at
    # a time (one per host core): what is checked is binding and
    # reporting, with no timing beyond generous limits
    def feature_matrix(self):
        combos = list(itertools.product(("on", "off"), repeat=4))
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            outcomes = list(ex.map(self.feature_combo, combos))
        bad = 0
        for tag, ok, why in outcomes:
            if not ok:
                bad += 1
                self.check("features/" + tag, False, why)
        self.check("feature-matrix", bad == 0,
                   "%d device feature combinations: bound; reporting "
                   "with the right queue, or balloon only with a "
                   "message; %d failed" % (len(outcomes), bad))

    def feature_combo(self, combo):
        """Boot a guest whose device offers COMBO; (tag, ok, why)."""
        props = ",".join("%s=%s" % (p, v) for (p, _), v in
                         zip(DEVICE_PROPS[1:], combo[1:]))
        on = dict(zip((p for p, _ in DEVICE_PROPS), combo))
        kw = {"balloon": combo[0], "balloon_props": props}
        if on["free-page-hint"] == "on":
            kw["extra"] = ["-object", "iothread,id=io0"]
            kw["balloon_props"] += ",iothread=io0"
        tag = "+".join(p for p, _ in DEVICE_PROPS if on[p] == "on") or "none"
        try:
            with self.guest("features-" + tag, **kw) as g:
                g.run("modprobe virtio_fpr delay_ms=100", check=False)
                ok, why = self.features_ok(g, on)
                problems = g.console_problems()
        except GuestError as e:
            return tag, False, str(e)
        return tag, ok and not problems, "; ".join([why] + problems[:2])

    def features_ok(self, g, on):
        """(ok, why) for one device feature combination."""
        f = g.read(SYSFS + "/features")
        want = {4: "0", 1: "1", 28: "0",
                3: "1" if on["free-page-hint"] == "on" else "0",
                5: "1" if on["free-page-reporting"] == "on" else "0",
                2: "1" if on["deflate-on-oom"] == "on" else "0"}
        if not bound(g) or any(f[bit] != v for bit, v in want.items()):
            return False, "bound %s, features %s" % (bound(g), f[:32])
        if on["free-page-reporting"] == "off":
            st = g.read(SYSFS + "/reporting/state")
            if st != "off: device does not offer it" or \
                    not dmesg_has(g, "free-page-reporting=on"):
                return False, "state %r, or no message" % st
            if not self.balloon_to(g, 1984, timeout=60):
                return False, "balloon target 1984 MiB not reached"
            return True, "balloon only, with the message"
        # 512 MiB: 6.7+ keeps tens of MiB on per-CPU lists for a while
        r = reclaim.measure(g, mib=512, seconds=10)
        reports = counters(g)["reports"]
        if r.fraction < 0.8 or reports == 0:
            return False, "%d reports; %s" % (reports, r.summary())
        if not self.balloon_to(g, 1984, timeout=60):
            return False, "balloon target 1984 MiB not reached"
        return True, r.summary()

    # every parameter over its type's range, at load and at runtime
    def params_fuzz(self):
        lo = 1 if self.k.base == "6.1" else 0
        cases = [("order", v, ok) for v, ok in ORDER_VALUES] + \
            [("order", "0", lo == 0)] + \
            [("delay_ms", v, ok) for v, ok in DELAY_VALUES] + \
            [("backoff_max", v, ok) for v, ok in BACKOFF_VALUES] + \
            [("burst_mb", v, ok) for v, ok in BURST_VALUES]
        with self.guest("fuzz") as g:
            # the largest order: 10, 11 with 16 KiB pages
            top = max_order(g)
            cases += [("order", str(top), True),
                      ("order", str(top + 1), False)]
            wrong = []
            for name, val, valid in cases:
                rc, _ = g.run("modprobe virtio_fpr %s='%s'" % (name, val),
                              check=False)
                loaded = rc == 0
                if loaded != valid or (not valid and not dmesg_has(
                        g, "%s=%s refused" % (name, val))):
                    wrong.append("load %s=%r" % (name, val))
                g.run("rmmod virtio_fpr 2>/dev/null; true")
            g.run("modprobe virtio_fpr")
            for name, val, valid in cases:
                base = {"order": "9", "delay_ms": "2000",
                        "backoff_max": "3", "burst_mb": "64"}[name]
                path = "%s/%s" % (PARAMS, name)
                g.run("echo %s > %s" % (base, path))
                rc, _ = g.run("echo '%s' > %s" % (val, path), check=False)
                now = g.read(path)
                if (rc == 0) != valid or (not valid and now != base):
                    wrong.append("write %s=%r (now %s)" % (name, val, now))
            self.check("params-fuzz", not wrong and bound(g),
                       "%d values at load and at runtime: accepted exactly "
                       "when in range, refused with a message otherwise%s" %
                       (len(cases), "; wrong: " + ", ".join(wrong[:4])
                        if wrong else ""))
        self.no_problems(g, "fuzz")
