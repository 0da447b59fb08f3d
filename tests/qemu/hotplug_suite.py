# SPDX-License-Identifier: GPL-2.0
"""Memory hot-add and hot-remove with virtio_fpr reporting: 512 MiB is
plugged through QMP (a pc-dimm, announced through ACPI, on amd64;
virtio-mem on arm64, whose virt machine announces DIMMs through ACPI only
while Debian's arm64 kernels lack CONFIG_ACPI_HOTPLUG_MEMORY), onlined
movable; its memory is used, freed and must come back to the host through
its own backing file; then it is unplugged while a churn keeps reports in
flight and checksummed data lives in it (offlining migrates that data).
The back-off's map grows over the new memory without a reload. Mixed into
suite.Scenarios."""

import os
import re
import time

import reclaim
from balloon_suite import meminfo_kib, wait_for
from fault_suite import start, stop
from fprsys import counters

MIB = 1 << 20
PLUG_MIB = 512


def backing_mib(path):
    """MiB of the plugged memory's backing file (tmpfs) the host holds."""
    return os.stat(path).st_blocks * 512 / MIB


def backoff_covered_mib(g):
    """MiB of guest physical memory the back-off's map covers."""
    out = g.run("cat /sys/kernel/debug/virtio_fpr/virtio0/backoff")[1]
    return int(re.search(r"covered_mib (\d+)", out).group(1))


def memory_device(g, dev_id):
    """query-memory-devices' data for dev_id, or None."""
    for d in g.qmp("query-memory-devices"):
        if d["data"].get("id") == dev_id:
            return d["data"]
    return None


class Dimm:
    """A new pc-dimm each round: device_add, device_del (ACPI)."""
    name = "pc-dimm"
    mem_opts = ",slots=2,maxmem=4G"

    def __init__(self, rounds):
        self.paths = ["/dev/shm/fpr-%d-dimm%d" % (os.getpid(), i)
                      for i in range(rounds)]
        self.qemu_args = []

    def setup(self, g):
        return True

    def plug(self, g, i):
        g.qmp("object-add", **{"qom-type": "memory-backend-file",
                               "id": "mem%d" % i, "mem-path": self.paths[i],
                               "size": PLUG_MIB * MIB, "share": True})
        g.qmp("device_add", driver="pc-dimm", id="dimm%d" % i,
              memdev="mem%d" % i)

    def top_mib(self, g, i):
        d = memory_device(g, "dimm%d" % i)
        return (d["addr"] + d["size"]) // MIB if d else -1

    def unplug(self, g, i):
        g.qmp("device_del", id="dimm%d" % i)

    def unplugged(self, g, i):
        return memory_device(g, "dimm%d" % i) is None

    def release(self, g, i):
        g.qmp("object-del", id="mem%d" % i)


class VirtioMem:
    """One virtio-mem device (after the balloon: it stays virtio0), its
    requested size set to 512 MiB and back to 0 each round."""
    name = "virtio-mem"
    mem_opts = ",maxmem=4G"

    def __init__(self, rounds):
        path = "/dev/shm/fpr-%d-vmem" % os.getpid()
        self.paths = [path] * rounds
        self.qemu_args = [
            "-object", "memory-backend-file,id=vmem0,mem-path=%s,size=%dM,"
            "share=on" % (path, PLUG_MIB),
            "-device", "virtio-mem-pci,id=vm0,memdev=vmem0,"
            "requested-size=0,addr=0x1e"]

    def setup(self, g):
        g.run("modprobe virtio_mem", check=False)
        return g.run("test -d /sys/bus/virtio/drivers/virtio_mem",
                     check=False)[0] == 0

    def resize(self, g, mib):
        g.qmp("qom-set", path="vm0", property="requested-size",
              value=mib * MIB)

    def plug(self, g, i):
        self.resize(g, PLUG_MIB)

    def top_mib(self, g, i):
        # virtio-mem plugs its blocks from the start of its region
        d = memory_device(g, "vm0")
        return (d["memaddr"] + d["size"]) // MIB if d else -1

    def unplug(self, g, i):
        self.resize(g, 0)

    def unplugged(self, g, i):
        return memory_device(g, "vm0")["size"] == 0

    def release(self, g, i):
        pass


class HotplugScenarios:
    def hotplug(self, rounds=3):
        if self.k.debug:
            rounds = 1      # an unplug under churn takes minutes there
        dev = (VirtioMem if self.k.arch == "arm64" else Dimm)(rounds)
        try:
            with self.guest("hotplug", mem_opts=dev.mem_opts,
                            extra=dev.qemu_args,
                            append="memhp_default_state=online_movable") \
                    as g:
                if g.run("test -d /sys/devices/system/memory",
                         check=False)[0]:
                    # our debug build has no CONFIG_MEMORY_HOTPLUG
                    print("skip %s: the kernel has no memory hotplug" %
                          self.name("hotplug"), flush=True)
                    return
                if not dev.setup(g):
                    # Debian 11's arm64 kernel has no CONFIG_VIRTIO_MEM
                    print("skip %s: the kernel has no %s driver" %
                          (self.name("hotplug"), dev.name), flush=True)
                    return
                self.hotplug_rounds(g, dev, rounds)
        finally:
            for path in set(dev.paths):
                if os.path.exists(path):
                    os.unlink(path)
        self.no_problems(g, "hotplug")

    def hotplug_rounds(self, g, dev, rounds):
        slow = self.k.slow
        g.run("modprobe virtio_fpr order=3 delay_ms=100")
        base = meminfo_kib(g, "MemTotal") // 1024
        added, returned, removed, verified = [], [], [], []
        covered = [backoff_covered_mib(g)]
        top = []
        reports = 0
        for i in range(rounds):
            path = dev.paths[i]
            dev.plug(g, i)
            wait_for(lambda: meminfo_kib(g, "MemTotal") // 1024 >=
                     base + PLUG_MIB - 16, 30 * slow)
            added.append(meminfo_kib(g, "MemTotal") // 1024 - base)
            top.append(dev.top_mib(g, i))
            # no reload: the back-off's map grows over the new memory, and
            # its notifier forgets its blocks before they go offline
            covered.append(backoff_covered_mib(g))
            # user memory fills ZONE_MOVABLE (the new memory) first
            reclaim.hold(g, PLUG_MIB - 32)
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
            dev.unplug(g, i)
            gone = wait_for(lambda: dev.unplugged(g, i), 60 * slow)
            reports += counters(g)["reports"] - r0
            rc_c, _ = stop(g, "churn")
            rc_v, verify = stop(g, "verify")
            removed.append((gone, meminfo_kib(g, "MemTotal") // 1024 - base,
                            rc_c == 0, inside))
            m = re.search(r"verified (\d+) bytes, (\d+) corrupt", verify)
            verified.append((rc_v, int(m.group(1)) if m else -1,
                             int(m.group(2)) if m else -1))
            if gone:
                dev.release(g, i)

        self.check("hotplug-added-memory-reported",
                   all(a >= PLUG_MIB - 16 for a in added) and
                   all(u >= PLUG_MIB / 2 and lft <= 64
                       for u, lft in returned),
                   "%d rounds: %d MiB of %s online movable (MemTotal +%s "
                   "MiB); its backing file held %s MiB, then %s MiB after "
                   "the free" %
                   (rounds, PLUG_MIB, dev.name,
                    "/".join("%d" % a for a in added),
                    "/".join("%.0f" % u for u, _ in returned),
                    "/".join("%.0f" % lft for _, lft in returned)))
        self.check("hotplug-backoff-covers-memory",
                   all(c >= t > covered[0]
                       for c, t in zip(covered[1:], top)),
                   "the back-off's map covered %d MiB at load, then %s MiB "
                   "with the %s ending at %s MiB" %
                   (covered[0], "/".join("%d" % c for c in covered[1:]),
                    dev.name, "/".join("%d" % t for t in top)))
        self.check("hotplug-removed-mid-report",
                   all(gone and abs(left) <= 16 and ok and inside >= 128
                       for gone, left, ok, inside in removed) and
                   reports > 0 and
                   all(rc == 0 and n > 0 and bad == 0
                       for rc, n, bad in verified),
                   "%d unplugs under a 64 MiB churn at order 3, "
                   "delay_ms=100 (%d reports meanwhile), %s MiB of the "
                   "plugged memory in use: %s; MemTotal "
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
