# SPDX-License-Identifier: GPL-2.0
"""The virtio-fpr status command (tools/virtio-fpr, copied into the guest's
initramfs as /bin/virtio-fpr) run in the guest under busybox ash: exit
status and message without the module, with no device, with lockdown;
its text and --json output checked against the sysfs files. Mixed into
suite.Scenarios."""

import json
import re
import time

import reclaim
from fprsys import DRIVER, PARAMS, SYSFS, counters, dmesg_has

MIB = 1 << 20
FEATURES = (("reporting", 5), ("poison", 4), ("stats", 1),
            ("deflate_on_oom", 2))


def mib(nbytes):
    """NBYTES in MiB as the command prints it (one decimal)."""
    return float("%.1f" % (nbytes / MIB))


def status(g, args=""):
    """Run the command in the guest: (exit status, output)."""
    return g.run("virtio-fpr %s 2>&1" % args, check=False)


def status_json(g):
    rc, out = status(g, "--json")
    return rc, json.loads(out)


def sysfs_features(g):
    bits = g.read(SYSFS + "/features")
    return {name: bits[bit] == "1" for name, bit in FEATURES}


def params(g):
    return {p: int(g.read("%s/%s" % (PARAMS, p)))
            for p in ("order", "delay_ms", "backoff_max", "burst_mb")}


def per_order_text(blocks):
    """What the command prints for blocks_per_order."""
    s = ["order %d: %d blocks (%.1f MiB)" %
         (o, n, n * 4096 * (1 << o) / MIB) for o, n in enumerate(blocks) if n]
    return ", ".join(s) or "none"


def field(out, label):
    """The rest of the line starting with LABEL (e.g. "Reported:")."""
    m = re.search(r"^\s*%s\s*(.*)$" % re.escape(label), out, re.M)
    return m.group(1).strip() if m else None


class StatusScenarios:
    # status on every kernel; status_more (one kernel in make check, see
    # suite.py LONG): the reporting-off and lockdown cases, two guests
    def status(self):
        self.status_device()

    def status_more(self):
        self.status_off()
        self.status_lockdown()

    def status_device(self):
        with self.guest("status") as g:
            rc, out = status(g)
            rc_j, j = status_json(g)
            self.check("status-not-loaded",
                       rc == 2 and "module is not loaded" in out and
                       "modprobe virtio_fpr" in out and rc_j == 2 and
                       j["module"]["loaded"] is False,
                       "before modprobe: exit %d, %r; --json exit %d" %
                       (rc, out.splitlines()[0], rc_j))

            g.run("modprobe virtio_fpr delay_ms=200")
            # Something to report and something in the balloon
            reclaim.hold(g, 256)
            reclaim.release(g)
            end = time.monotonic() + 30 * self.k.slow
            while counters(g)["reports"] == 0 and time.monotonic() < end:
                time.sleep(0.5)
            inflated = self.balloon_to(g, 1920)
            # No pass from now on: the counters stand still while compared
            g.run("echo 600000 > %s/delay_ms" % PARAMS)
            time.sleep(1)
            c = counters(g)
            b = counters(g, "balloon")
            st = g.read(SYSFS + "/reporting/state")
            feat = sysfs_features(g)
            par = params(g)
            t0 = time.monotonic()
            rc, out = status(g)
            took = time.monotonic() - t0
            rc_j, j = status_json(g)
            still = counters(g) == c and counters(g, "balloon") == b
            print(out, flush=True)

            yn = {True: "yes", False: "no"}
            want = {
                "Device:": "virtio0 (driver virtio_fpr)",
                "Parameters:": "order=%d delay_ms=%d backoff_max=%d "
                "burst_mb=%d" % (par["order"], par["delay_ms"],
                                 par["backoff_max"], par["burst_mb"]),
                "Features:": "reporting %s, poison %s, stats %s, "
                "deflate-on-OOM %s" % tuple(
                    yn[feat[n]] for n in ("reporting", "poison", "stats",
                                          "deflate_on_oom")),
                "Reporting:": st,
                "Delay:": "%d ms in force (delay_ms << back-off step %d)" %
                (c["delay_ms"], c["backoff_step"]),
                "per order:": per_order_text(c["blocks_per_order"]),
                "errors": "%d, ack timeouts %d, resets %d, in flight %d, "
                "reused blocks %d, deferred passes %d" %
                (c["errors"], c["ack_timeouts"], c["resets"], c["in_flight"],
                 c["reused_blocks"], c["deferred"]),
                "Balloon:": "%.1f MiB (%d pages)" %
                (b["pages"] * 4096 / MIB, b["pages"]),
                "inflated": "%d, deflated %d, migrated %d, deflated on OOM "
                "%d, stats updates %d" %
                (b["inflated"], b["deflated"], b["migrated"],
                 b["oom_deflated"], b["stats_updates"]),
            }
            bad = ["%s %r != %r" % (k, field(out, k), v)
                   for k, v in want.items() if field(out, k) != v]
            rep = field(out, "Reported:") or ""
            m = re.match(r"([\d.]+) MiB in (\d+) reports \((\d+) pages\), "
                         r"last ([\d.]+) s ago$", rep)
            if not m or m.group(1) != "%.1f" % (c["bytes"] / MIB) or \
                    int(m.group(2)) != c["reports"] or \
                    int(m.group(3)) != c["pages"] or \
                    not 0 <= float(m.group(4)) < 600:
                bad.append("Reported: %r" % rep)
            self.check("status-text",
                       rc == 0 and still and not bad and c["reports"] > 0 and
                       b["pages"] == 32768 and inflated,
                       "exit %d; every field equals sysfs (%d reports, "
                       "balloon %d pages)%s" %
                       (rc, c["reports"], b["pages"],
                        "; MISMATCH: " + "; ".join(bad) if bad else ""))

            d = j["devices"][0] if j.get("devices") else {}
            rj = dict(d.get("reporting", {}))
            bj = dict(d.get("balloon", {}))
            ok = rc_j == 0 and len(j["devices"]) == 1 and \
                d["name"] == "virtio0" and d["driver"] == "virtio_fpr" and \
                d["features"] == feat and j["parameters"] == par and \
                rj.pop("state") == st and rj.pop("active") is True and \
                rj.pop("reason") is None and \
                rj.pop("mib") == mib(c["bytes"]) and \
                0 <= rj.pop("last_report_ms_ago") < 600000 and rj == c and \
                bj.pop("mib") == mib(b["pages"] * 4096) and \
                bj == b
            self.check("status-json", ok,
                       "--json exit %d, parsed on the host: reporting, "
                       "balloon, features and parameters equal sysfs" % rc_j)

            # One run takes about a second under TCG: 3 runs in 1 s steps
            secs = int(3 * (took + 1)) + 1
            # timeout signals virtio-fpr alone: its sleep lives on as a
            # child of init (PID 1, the command loop), and is let end
            # before the next command (one cut short after it, seen once:
            # "sh: unbind: not found")
            rc_w, out_w = g.run("timeout %d virtio-fpr --watch 1 2>&1; "
                                "sleep 2" % secs, check=False)
            shown = out_w.count("Device:       virtio0")
            self.check("status-watch", shown >= 2,
                       "--watch 1 for %d s: shown %d times (one run takes "
                       "%.1f s here)" % (secs, shown, took))

            g.run("echo virtio0 > %s/unbind" % DRIVER)
            rc, out = status(g)
            rc_j, j = status_json(g)
            g.run("echo virtio0 > %s/bind" % DRIVER)
            self.check("status-no-device",
                       rc == 3 and "no device is bound" in out and
                       "Balloon device virtio0: driver none" in out and
                       rc_j == 3 and j["devices"] == [] and
                       j["balloon_devices"] == [{"name": "virtio0",
                                                 "driver": "none"}] and
                       status(g)[0] == 0,
                       "unbound: exit %d, %r; bound again: exit 0" %
                       (rc, out.splitlines()[0]))
        self.no_problems(g, "status")

    def status_off(self):
        with self.guest("status-off", balloon="off") as g:
            g.run("modprobe virtio_fpr")
            st = g.read(SYSFS + "/reporting/state")
            rc, out = status(g)
            rc_j, j = status_json(g)
            d = j["devices"][0]
            self.check("status-reporting-off",
                       rc == 0 and st == "off: device does not offer it" and
                       field(out, "Reporting:") == st and
                       "free-page-reporting=on" in (field(out, "why:") or "")
                       and "reporting no" in out and rc_j == 0 and
                       d["reporting"]["active"] is False and
                       "free-page-reporting=on" in d["reporting"]["reason"]
                       and d["features"]["reporting"] is False,
                       "device without free-page-reporting: %r, why: %r" %
                       (st, field(out, "why:")))
        self.no_problems(g, "status-off")

    def status_lockdown(self):
        with self.guest("status-lockdown", append="lockdown=integrity") as g:
            rc_m, out_m = g.run("modprobe virtio_fpr 2>&1", check=False)
            refused = rc_m != 0 and \
                g.run("test -d /sys/module/virtio_fpr", check=False)[0] and \
                dmesg_has(g, "unsigned module loading is restricted")
            # securityfs not mounted: the kernel log tells
            rc1, out1 = status(g)
            g.run("mount -t securityfs securityfs /sys/kernel/security")
            mode = g.read("/sys/kernel/security/lockdown")
            rc, out = status(g)
            rc_j, j = status_json(g)
            print(out, flush=True)
            said = all(s in o for o in (out, out1) for s in
                       ("locked down", "unsigned",
                        "mokutil --import /var/lib/dkms/mok.pub"))
            self.check("status-lockdown",
                       refused and rc == 2 and rc1 == 2 and said and
                       "(integrity," in out and rc_j == 2 and
                       j["lockdown"] == "integrity" and
                       j["refused_unsigned"] is True,
                       "lockdown=integrity (%s): modprobe refused (%r); "
                       "status exit %d, names lockdown and the MOK fix" %
                       (mode, out_m.strip()[-70:], rc))
        self.no_problems(g, "status-lockdown")
