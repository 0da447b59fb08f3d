# SPDX-License-Identifier: GPL-2.0
"""Memory hot-add and hot-remove with virtio_fpr reporting: a 512 MiB
DIMM is plugged through QMP (ACPI), onlined movable, its memory is used,
freed and must come back to the host through the DIMM's own backing file;
then it is unplugged while a churn keeps reports in flight and checksummed
data lives in it (offlining migrates that data). The back-off's map
grows over the DIMM without a reload. Mixed into
suite.Scenarios."""

import os
import re
import time

import reclaim
from balloon_suite import meminfo_kib, wait_for
from fault_suite import start, stop
from fprsys import counters

MIB = 1 << 20
DIMM_MIB = 512


def backing_mib(path):
    """MiB of the DIMM's backing file (tmpfs) the host holds."""
    return os.stat(path).st_blocks * 512 / MIB


def backoff_covered_mib(g):
    """MiB of guest physical memory the back-off's map covers."""
    out = g.run("cat /sys/kernel/debug/virtio_fpr/virtio0/backoff")[1]
    return int(re.search(r"covered_mib (\d+)", out).group(1))


def dimm_top_mib(g, dimm):
    """Where the DIMM ends in guest physical memory, in MiB."""
    for d in g.qmp("query-memory-devices"):
        if d["data"].get("id") == dimm:
            return (d["data"]["addr"] + d["data"]["size"]) // MIB
    return -1


def dimm_present(g, dimm):
    return any(d["data"].get("id") == dimm
               for d in g.qmp("query-memory-devices"))


class HotplugScenarios:
    def hotplug(self, rounds=3):
        if self.k.debug:
            rounds = 1      # an unplug under churn takes minutes there
        if self.k.arch == "arm64":
            # The virt machine announces DIMMs through ACPI only, these
            # guests boot from a device tree, and Debian's arm64 kernels
            # lack CONFIG_ACPI_HOTPLUG_MEMORY anyway (tried through UEFI
            # with ACPI: the DIMM stayed offline); virtio-mem
            # (CONFIG_VIRTIO_MEM=m there) would be the way
            print("skip %s: Debian's arm64 kernel has no "
                  "CONFIG_ACPI_HOTPLUG_MEMORY" % self.name("hotplug"),
                  flush=True)
            return
        with self.guest("hotplug", mem_opts=",slots=2,maxmem=4G",
                        append="memhp_default_state=online_movable") as g:
            if g.run("test -d /sys/devices/system/memory",
                     check=False)[0]:
                # our debug build has no CONFIG_MEMORY_HOTPLUG
                print("skip %s: the kernel has no memory hotplug" %
                      self.name("hotplug"), flush=True)
                return
            try:
                self.hotplug_rounds(g, rounds)
            finally:
                for i in range(rounds):
                    path = self.dimm_path(g, i)
                    if os.path.exists(path):
                        os.unlink(path)
        self.no_problems(g, "hotplug")

    def dimm_path(self, g, i):
        return "/dev/shm/fpr-%d-dimm%d" % (g.proc.pid, i)

    def hotplug_rounds(self, g, rounds):
        slow = self.k.slow
        g.run("modprobe virtio_fpr order=3 delay_ms=100")
        base = meminfo_kib(g, "MemTotal") // 1024
        added, returned, removed, verified = [], [], [], []
        covered = [backoff_covered_mib(g)]
        top = []
        reports = 0
        for i in range(rounds):
            mem, dimm, path = "mem%d" % i, "dimm%d" % i, \
                self.dimm_path(g, i)
            g.qmp("object-add", **{"qom-type": "memory-backend-file",
                                   "id": mem, "mem-path": path,
                                   "size": DIMM_MIB * MIB, "share": True})
            g.qmp("device_add", driver="pc-dimm", id=dimm, memdev=mem)
            wait_for(lambda: meminfo_kib(g, "MemTotal") // 1024 >=
                     base + DIMM_MIB - 16, 30 * slow)
            added.append(meminfo_kib(g, "MemTotal") // 1024 - base)
            top.append(dimm_top_mib(g, dimm))
            # no reload: the back-off's map grows over the DIMM, and its
            # notifier forgets the DIMM's blocks before they go offline
            covered.append(backoff_covered_mib(g))
            # user memory fills ZONE_MOVABLE (the DIMM) first
            reclaim.hold(g, DIMM_MIB - 32)
            used = backing_mib(path)
            reclaim.release(g)
            wait_for(lambda: backing_mib(path) <= 64, 20 * slow)
            returned.append((used, backing_mib(path)))

            # unplug with reports in flight and data to migrate out
            start(g, "verify", "fprmem verify 128 100000")
            start(g, "churn", "fprmem churn 64 zero")
            # the debug kernel fills memory 30-100x slower
            wait_for(lambda: backing_mib(path) >= 128, 30 * slow)
            time.sleep(3)
            inside = backing_mib(path)
            r0 = counters(g)["reports"]
            g.qmp("device_del", id=dimm)
            gone = wait_for(lambda: not dimm_present(g, dimm), 60 * slow)
            reports += counters(g)["reports"] - r0
            rc_c, _ = stop(g, "churn")
            rc_v, verify = stop(g, "verify")
            removed.append((gone, meminfo_kib(g, "MemTotal") // 1024 - base,
                            rc_c == 0, inside))
            m = re.search(r"verified (\d+) bytes, (\d+) corrupt", verify)
            verified.append((rc_v, int(m.group(1)) if m else -1,
                             int(m.group(2)) if m else -1))
            if gone:
                g.qmp("object-del", id=mem)

        self.check("hotplug-added-memory-reported",
                   all(a >= DIMM_MIB - 16 for a in added) and
                   all(u >= DIMM_MIB / 2 and lft <= 64
                       for u, lft in returned),
                   "%d rounds: DIMM of %d MiB online movable (MemTotal +%s "
                   "MiB); its backing file held %s MiB, then %s MiB after "
                   "the free" %
                   (rounds, DIMM_MIB, "/".join("%d" % a for a in added),
                    "/".join("%.0f" % u for u, _ in returned),
                    "/".join("%.0f" % lft for _, lft in returned)))
        self.check("hotplug-backoff-covers-dimm",
                   all(c >= t > covered[0]
                       for c, t in zip(covered[1:], top)),
                   "the back-off's map covered %d MiB at load, then %s MiB "
                   "with the DIMM ending at %s MiB" %
                   (covered[0], "/".join("%d" % c for c in covered[1:]),
                    "/".join("%d" % t for t in top)))
        self.check("hotplug-removed-mid-report",
                   all(gone and abs(left) <= 16 and ok and inside >= 128
                       for gone, left, ok, inside in removed) and
                   reports > 0 and
                   all(rc == 0 and n > 0 and bad == 0
                       for rc, n, bad in verified),
                   "%d unplugs under a 64 MiB churn at order 3, "
                   "delay_ms=100 (%d reports meanwhile), %s MiB of the "
                   "DIMM in use: %s; MemTotal "
                   "back to %s MiB from the start; checksummed data "
                   "%s MiB verified, %s corrupt words" %
                   (rounds, reports,
                    "/".join("%.0f" % r[3] for r in removed),
                    "/".join("removed" if r[0] else "NOT removed"
                             for r in removed),
                    "/".join("%+d" % r[1] for r in removed),
                    "/".join("%d" % (n >> 20) for _, n, _ in verified),
                    "/".join("%d" % bad for _, _, bad in verified)))
        r = reclaim.measure(g)
        self.check("hotplug-reclaim-after", r.fraction >= 0.9, r.summary())
