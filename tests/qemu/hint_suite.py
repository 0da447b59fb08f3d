# SPDX-License-Identifier: GPL-2.0
"""Free page hinting: a 4 GiB guest with about 3 GiB of free (dirty)
memory live-migrated to a second QEMU (-incoming on a unix socket) with
free-page-hint=on, once with virtio_fpr, once with virtio_balloon and once
without a balloon driver; the RAM transferred and the time of each, data
checked on the destination, reporting and the balloon there, and a
cancelled migration. Mixed into suite.Scenarios."""

import os
import socket
import threading
import time

import reclaim
from balloon_suite import MIB, actual_mib, meminfo_kib, wait_for
from binding_suite import BREAK, STALL, TEARDOWN_LIMIT, state, timed
from fault_suite import start, stop
from fprsys import PARAMS, counters, dmesg_has, feature, max_order
from guest import GuestError

MEM = 4096          # MiB of guest memory
DIRTY = 3072        # MiB written and freed before the migration
DATA = 512          # MiB of checksummed data that must arrive intact
IOTHREAD = ("-object", "iothread,id=hint0")
PROPS = "free-page-hint=on,iothread=hint0"
# Fast enough that hinting is what makes the difference, not the link
FAST = 4 << 30
# hint_cancel: slow, and the stream goes through a Relay held after
# HOLD_SYNCS bitmap syncs (the first is at setup): alone, SLOW did not
# keep 5.10's migration running until the cancel (docs/hinting.md)
SLOW = 64 * MIB
HOLD_SYNCS = 2
# hint_teardown: a migration to nowhere, slow enough that its first round
# outlasts the scenario (the guest's used memory takes minutes at this
# rate), and that can never converge
NOWHERE = "exec:cat > /dev/null"
CRAWL = 1 * MIB
DOWNTIME_MS = 1
# The first QEMU whose TCG destinations arrive intact (docs/hinting.md,
# "Destination integrity": 7.2 loses guest memory with either balloon
# driver and without one, 10.0 with none of them)
INTACT_QEMU = (10, 0)


def migration(g, timeout=600):
    """Wait for the migration from G to end; return query-migrate."""
    end = time.monotonic() + timeout
    while True:
        q = g.qmp("query-migrate")
        if q.get("status") in ("completed", "failed", "cancelled") or \
                time.monotonic() > end:
            return q
        time.sleep(0.5)


def hinting(g):
    return counters(g, "hinting")


def synced(g, n):
    """query-migrate once G's migration synced its dirty bitmap N times,
    or is neither in setup nor active; else None."""
    q = g.qmp("query-migrate")
    if q.get("status") not in ("setup", "active") or \
            q.get("ram", {}).get("dirty-sync-count", 0) >= n:
        return q
    return None


class Relay:
    """A migration stream from a unix socket at PATH, where the source
    connects, on to the destination's socket TO; hold() stops passing it
    on. The source's migration thread then blocks in its write once the
    socket buffers are full (a few hundred KiB): the migration stays
    active, the guest runs and QMP answers; migrate_cancel shuts the
    source's socket down, which ends that write."""

    def __init__(self, path, to):
        self.to = to
        self.flowing = threading.Event()
        self.flowing.set()
        self.passed = 0             # bytes, source to destination
        self.threads = []
        self.listener = socket.socket(socket.AF_UNIX)
        self.socks = [self.listener]
        self.listener.bind(path)
        self.listener.listen(1)

    def connect(self, timeout=30):
        """After migrate: take the source's connection, connect to the
        destination and start passing."""
        self.listener.settimeout(timeout)
        src = self.listener.accept()[0]
        src.settimeout(None)
        dst = socket.socket(socket.AF_UNIX)
        self.socks += [src, dst]
        dst.connect(self.to)
        # (nothing comes back without a return path; passed on all the same)
        for a, b, gated in ((src, dst, True), (dst, src, False)):
            t = threading.Thread(target=self.pump, args=(a, b, gated),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def pump(self, a, b, gated):
        try:
            while True:
                if gated:
                    self.flowing.wait()
                data = a.recv(1 << 16)
                if not data:
                    break
                b.sendall(data)
                if gated:
                    self.passed += len(data)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def hold(self):
        self.flowing.clear()

    def close(self):
        """Both ends see the connection end (the destination QEMU fails
        its incoming migration and exits). Shut down before closing: a
        pump blocked in recv() returns, and no descriptor is closed
        under a pump."""
        socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.flowing.set()
        for t in self.threads:
            t.join(5)
        for s in socks:
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HintScenarios:
    def hint_qemu_suite(self):
        """Debian 12's QEMU 7.2 aborts an aarch64 TCG guest's migration
        (tcg_handle_interrupt: assertion failed:
        qemu_mutex_iothread_locked): arm64 guests that migrate run under
        Debian 13's (scripts/qemu.sh)."""
        return "trixie" if self.k.arch == "arm64" else None

    def hint_mib(self, pages):
        """MiB in PAGES base pages (the counters count base pages)."""
        return pages * self.k.page_size >> 20

    def hint_pages(self, mib):
        return (mib << 20) // self.k.page_size

    def hint_guest(self, tag, reporting, incoming=None):
        return self.guest(tag, mem_mib=MEM, balloon=reporting,
                          balloon_props=PROPS, extra=IOTHREAD,
                          incoming=incoming, qemu=self.hint_qemu_suite())

    def hint_prepare(self, g, driver):
        """Load DRIVER ("fpr", "inbox" or "none"), leave DIRTY MiB of
        free memory that is not zero, and start the checksummed data."""
        if driver == "fpr":
            # Reporting would zero the free memory before the migration:
            # its passes wait 10 min here, hinting alone makes the gap
            g.run("modprobe virtio_fpr delay_ms=600000 burst_mb=0")
        elif driver == "inbox":
            g.run("modprobe virtio_balloon")
        start(g, "dirty", "fprmem hold %d" % DIRTY)
        wait_for(lambda: "held" in g.out("cat /tmp/dirty.log"), 300, 1)
        stop(g, "dirty")
        start(g, "verify", "fprmem verify %d 100000" % DATA)

    def hint_migrate(self, driver):
        """One migration with DRIVER; returns (MiB transferred, seconds,
        data intact on the destination, what fprmem said there), or None
        when it failed (checked here)."""
        reporting = "on" if driver == "fpr" else "off"
        tag = "hint-" + driver
        with self.hint_guest(tag, reporting) as src:
            self.hint_prepare(src, driver)
            before = counters(src) if driver == "fpr" else None
            sock = os.path.join(src.dir, "migrate.sock")
            with self.hint_guest(tag + "-dst", reporting,
                                 incoming="unix:" + sock) as dst:
                wait_for(lambda: os.path.exists(sock), 30, 0.1)
                v = src.qmp("query-version")["qemu"]
                self.hint_qemu = (v["major"], v["minor"], v["micro"])
                src.qmp("migrate-set-parameters",
                        **{"max-bandwidth": FAST})
                t = time.monotonic()
                src.qmp("migrate", uri="unix:" + sock)
                q = migration(src)
                secs = time.monotonic() - t
                if not self.check(tag + "/migrated",
                                  q.get("status") == "completed",
                                  "status %s" % q.get("status")):
                    return None
                mib = q["ram"]["transferred"] / MIB
                src.proc.kill()
                src.proc.wait()
                try:
                    rc, out = stop(dst, "verify")
                except (GuestError, OSError) as e:
                    rc, out = -1, "destination lost: %s; console: %s" % (
                        e, "; ".join(dst.console_problems()[:2]))
                # fprmem checks everything once more when stopped
                intact = rc == 0 and " 0 corrupt" in out and \
                    not out.startswith("verified 0 ")
                if intact:
                    if driver == "fpr":
                        self.hint_after(dst, before)
                    self.no_problems(dst, tag + "-dst")
        return mib, secs, intact, out

    def hint_after(self, g, before):
        """On the destination: hinting ran and its blocks went back, and
        reporting and the balloon work."""
        wait_for(lambda: hinting(g)["held"] == 0, 30)
        h = hinting(g)
        c = counters(g)
        self.check("hint-fpr/hinted",
                   feature(g, 3) and h["runs"] >= 1 and
                   h["hinted"] >= self.hint_pages(1024) and h["held"] == 0 and
                   c["pages"] - before["pages"] < self.hint_pages(256),
                   "FREE_PAGE_HINT negotiated; %d runs (%d ended "
                   "stalled), %d MiB hinted, %d MiB returned, %d MiB "
                   "held after the migration; %d MiB reported before it" %
                   (h["runs"], h["stalled"], self.hint_mib(h["hinted"]),
                    self.hint_mib(h["returned"]), self.hint_mib(h["held"]),
                    self.hint_mib(c["pages"] - before["pages"])))
        self.hint_others(g, "hint-fpr")

    def hint_others(self, g, tag):
        """Reporting and the balloon work after hinting."""
        c = counters(g)
        g.run("echo 200 > %s/delay_ms" % PARAMS)
        got = wait_for(lambda: (counters(g)["pages"] - c["pages"]) >=
                       self.hint_pages(1024), 120, 1)
        c2 = counters(g)
        self.check(tag + "/reporting-after",
                   bool(got) and c2["errors"] == 0,
                   "%d MiB reported after hinting" %
                   (self.hint_mib(c2["pages"] - c["pages"])))
        g.qmp("balloon", value=(MEM - 256) * MIB)
        ok = wait_for(lambda: actual_mib(g) <= MEM - 256, 120, 1)
        g.qmp("balloon", value=MEM * MIB)
        back = wait_for(lambda: actual_mib(g) >= MEM, 120, 1)
        self.check(tag + "/balloon-after", bool(ok) and bool(back),
                   "inflated by 256 MiB and back after hinting")

    def hint_cancel(self):
        """A migration cancelled during a hinting run: every hinted block
        goes back to the guest. The stream goes through a Relay, held from
        the host once QEMU synced twice, so that the migration cannot
        converge before the cancel while the guest runs on."""
        tag = "hint-cancel"
        with self.hint_guest(tag, "on") as src:
            self.hint_prepare(src, "fpr")
            sock = os.path.join(src.dir, "migrate.sock")
            path = os.path.join(src.dir, "relay.sock")
            with self.hint_guest(tag + "-dst", "on",
                                 incoming="unix:" + sock), \
                    Relay(path, sock) as relay:
                wait_for(lambda: os.path.exists(sock), 30, 0.1)
                # A migration that converges all the same pauses before
                # its last round (the guest stopped, QMP answering)
                # instead of sending it, BQL held, into the held relay
                src.qmp("migrate-set-capabilities", capabilities=[
                    {"capability": "pause-before-switchover",
                     "state": True}])
                src.qmp("migrate-set-parameters", **{
                    "max-bandwidth": SLOW, "downtime-limit": DOWNTIME_MS})
                t0 = time.monotonic()
                src.qmp("migrate", uri="unix:" + path)
                relay.connect()
                # QEMU writes STOP before each bitmap sync, then a new id:
                # the second sync's id is out when query-migrate counts
                # it, and the guest starts that run without the migration
                # thread. Watched over QMP, not in the guest (its
                # commands wait while a run takes the vCPU)
                q = wait_for(lambda: synced(src, HOLD_SYNCS), 240, 0.05)
                relay.hold()
                how = "stream held at bitmap sync %s, %.1f s after the " \
                    "start, %d MiB relayed" % (
                        q.get("ram", {}).get("dirty-sync-count")
                        if q else "none", time.monotonic() - t0,
                        relay.passed >> 20)
                # (what was already under way drains into the buffers)
                time.sleep(1)
                q = src.qmp("query-migrate")
                if q.get("status") != "active":
                    src.qmp("migrate_cancel")
                    self.check(tag + "/held-until-done", False,
                               "migration %s (%d bitmap syncs): %s" %
                               (q.get("status"), q.get("ram", {}).get(
                                   "dirty-sync-count", 0), how))
                    return
                held = wait_for(lambda: hinting(src)["held"], 120, 0.5)
                # the blocks stay held until DONE, as with virtio_balloon
                rounds = wait_for(lambda: hinting(src)["runs"] >= 2, 240,
                                  0.5)
                h = hinting(src)
                # (the shrinker may give some back: the guest runs short).
                # The files are read one by one while it may run, and it
                # counts a block returned before shrunk: so shrunk is read
                # again after returned, and must have caught up with it
                shrunk = hinting(src)["shrunk"]
                q = src.qmp("query-migrate")
                self.check(tag + "/held-until-done",
                           bool(rounds) and h["held"] > 0 and
                           h["returned"] <= shrunk and
                           q.get("status") == "active",
                           "after %d runs (%d ended stalled): %d MiB held, "
                           "%d MiB given back before DONE; %d MiB given "
                           "back by the shrinker by the next look; %s; "
                           "migration %s, %d MiB relayed in all" %
                           (h["runs"], h["stalled"],
                            self.hint_mib(h["held"]),
                            self.hint_mib(h["returned"]),
                            self.hint_mib(shrunk), how, q.get("status"),
                            relay.passed >> 20))
                before = h["held"]
                t1 = time.monotonic()
                src.qmp("migrate_cancel")
                # QEMU shut its socket down: the write it waits in fails
                # at once. The destination reads the end of a half stream
                # and exits (not checked)
                relay.close()
                q = migration(src, 120)
                cancelled = time.monotonic() - t1
                zero = wait_for(lambda: hinting(src)["held"] == 0, 30)
                back = time.monotonic() - t1
                h = hinting(src)
                self.check(tag + "/nothing-held",
                           held > 0 and q.get("status") == "cancelled" and
                           bool(zero) and h["returned"] == h["hinted"],
                           "%d MiB held when cancelled (%s in %.1f s); "
                           "%d MiB held %.1f s after the cancel, %d MiB "
                           "hinted, %d MiB returned" %
                           (self.hint_mib(before), q.get("status"),
                            cancelled, self.hint_mib(h["held"]), back,
                            self.hint_mib(h["hinted"]),
                            self.hint_mib(h["returned"])))
            self.hint_others(src, tag)
            rc, out = stop(src, "verify")
            self.check(tag + "/data-intact", rc == 0 and " 0 corrupt" in out
                       and not out.startswith("verified 0 "), out)
            self.no_problems(src, tag)

    def hint_intact(self, driver, name, run):
        """The checksummed data on the destination of DRIVER's migration
        RUN: asserted from INTACT_QEMU on. Older QEMUs under TCG lose
        guest memory in some migrations whatever the guest runs (7.2:
        with either balloon driver and without one, docs/hinting.md), so
        that a lost destination says nothing about the driver there: the
        result is printed, as skipped (FPR_QEMU=trixie checks it)."""
        qemu = "QEMU %d.%d.%d" % self.hint_qemu
        detail = "%s; %d MiB checksummed, on the destination with %s: %s" \
            % (qemu, DATA, name, run[3][:160])
        tag = "hint-%s/data-intact" % driver
        if self.hint_qemu >= INTACT_QEMU:
            self.check(tag, run[2], detail)
        else:
            print("skip %s: %s loses guest memory in migrations under TCG "
                  "(docs/hinting.md); %s" % (self.name(tag), qemu, detail),
                  flush=True)

    def hinting(self):
        runs = {}
        for driver in ("fpr", "inbox", "none"):
            runs[driver] = self.hint_migrate(driver)
        if all(runs.values()):
            fpr, inbox, none = (runs[d][0] for d in ("fpr", "inbox", "none"))
            # Under TCG the guest zeroes each block it takes (init_on_alloc)
            # while the migration already sends: hinting wins about half
            # of the free memory (virtio_balloon too), not all of it
            self.check("hint/transferred",
                       fpr <= 1.25 * inbox + 64 and fpr < 0.75 * none,
                       "RAM transferred: virtio_fpr %.0f MiB in %.1f s, "
                       "virtio_balloon %.0f MiB in %.1f s, no driver "
                       "%.0f MiB in %.1f s" %
                       (fpr, runs["fpr"][1], inbox, runs["inbox"][1],
                        none, runs["none"][1]))
        for d, name in (("fpr", "virtio_fpr"), ("inbox", "virtio_balloon"),
                        ("none", "no balloon driver")):
            if runs[d]:
                self.hint_intact(d, name, runs[d])
        self.hint_cancel()

    def hint_teardown(self):
        """Every target, one guest and no second QEMU: migrations to
        nowhere start hinting runs; reporting waits (delay_ms 10 min), so
        that only hinted blocks are with the device. With its acks
        stalled, a run stops at the blocks a silent device may keep (the
        data checker is not killed for memory), rmmod finishes within the
        teardown limit and gives every block back. After modprobe, blocks
        still with the device when a migration is cancelled go back once
        it answers, while the next migration's run goes on; cancelling
        that one leaves nothing held."""
        tag = "hint-teardown"
        slow = self.k.slow
        load = "modprobe virtio_fpr delay_ms=600000 burst_mb=0 " \
            "fault_injection=1"
        mib = self.hint_mib
        with self.guest(tag, balloon_props=PROPS, extra=IOTHREAD,
                        qemu=self.hint_qemu_suite()) as g:
            g.run(load)
            start(g, "verify", "fprmem verify 128 100000")
            # the driver's limit (hint.c): 1/32 of the memory, at least
            # 2 blocks of the largest order
            order = max_order(g)
            pages = meminfo_kib(g, "MemTotal") * 1024 // self.k.page_size
            cap = max(pages >> (order + 5), 2) << order

            def stalled_run():
                g.run("echo 1 > " + STALL)
                stalled = hinting(g)["stalled"]
                g.qmp("migrate", uri=NOWHERE)
                last = [0]

                def settled():
                    # the run ends after 1 s without room, and counts it
                    h = hinting(g)
                    done = h["held"] > 0 and h["held"] == last[0] and \
                        h["stalled"] > stalled
                    last[0] = h["held"]
                    return done
                wait_for(settled, 120 * slow, 2)
                h = hinting(g)
                h["stalled"] -= stalled
                return h

            g.qmp("migrate-set-parameters", **{
                "max-bandwidth": CRAWL, "downtime-limit": DOWNTIME_MS})
            h = stalled_run()

            def free():
                # with 16 KiB pages the blocks (32 MiB, pageblock order)
                # go back to the per-CPU lists, outside MemFree
                return meminfo_kib(g, "MemFree") / 1024 + reclaim.pcp_mib(g)
            free0 = free()
            # (a reset before rmmod would give the blocks back early)
            early = counters(g)
            early["held"] = hinting(g)["held"]
            rc, secs = timed(g, "rmmod virtio_fpr")
            back = free() - free0
            reset = dmesg_has(g, "hinted blocks in")
            status = g.qmp("query-migrate").get("status")
            self.check(tag + "/stalled-rmmod",
                       h["runs"] == 1 and h["held"] == cap and
                       h["stalled"] == 1 and
                       rc == 0 and secs < TEARDOWN_LIMIT * slow and
                       back >= mib(h["held"]) - 8 and reset and
                       status == "active",
                       "%d MiB hinted (limit %d MiB) in %d runs to a "
                       "device that does not answer, %d counted stalled: "
                       "rmmod in %.1f s (limit %.0f s), free %+.0f MiB; "
                       "reset %s; migration %s; before rmmod: %d MiB "
                       "held, %d reports, %d ack timeouts, %d resets" %
                       (mib(h["held"]), mib(cap), h["runs"], h["stalled"],
                        secs,
                        TEARDOWN_LIMIT * slow, back,
                        "logged" if reset else "NOT logged", status,
                        mib(early["held"]), early["reports"],
                        early["ack_timeouts"],
                        early["resets"]))
            g.qmp("migrate_cancel")
            migration(g, 120)

            g.run(load)
            h = stalled_run()
            g.qmp("migrate_cancel")
            migration(g, 120)
            # DONE reaches the driver (a config interrupt), then a new
            # migration starts before the device answers again
            time.sleep(3 * slow)
            g.qmp("migrate", uri=NOWHERE)
            g.run("echo 0 > " + STALL)

            def ended_back():
                # not the shrinker's (the next run takes memory down to
                # the watermarks): shrunk read after returned, as above
                returned = hinting(g)["returned"]
                return returned - hinting(g)["shrunk"] >= h["hinted"]
            ended = wait_for(ended_back, 30 * slow, 0.5)
            status = g.qmp("query-migrate").get("status")
            again = wait_for(lambda: hinting(g)["runs"] > h["runs"] and
                             hinting(g)["held"] > 0, 120 * slow, 1)
            h2 = hinting(g)
            self.check(tag + "/ended-run-back",
                       h["stalled"] == 1 and bool(ended) and
                       status == "active" and bool(again),
                       "%d MiB with the device (a run counted stalled %d "
                       "times) when its migration was cancelled: %s while "
                       "the next one was %s; that one's run: %d MiB held" %
                       (mib(h["hinted"]), h["stalled"], "given back"
                        if ended else "NOT given back", status,
                        mib(h2["held"])))
            g.qmp("migrate_cancel")
            q = migration(g, 120)
            zero = wait_for(lambda: hinting(g)["held"] == 0, 30 * slow)
            h3 = hinting(g)
            self.check(tag + "/nothing-held",
                       q.get("status") == "cancelled" and bool(zero) and
                       h3["returned"] == h3["hinted"],
                       "migration %s; then %d MiB held, %d MiB hinted, %d "
                       "MiB returned" %
                       (q.get("status"), mib(h3["held"]), mib(h3["hinted"]),
                        mib(h3["returned"])))

            # the queues break (as the virtio core breaks them) while a silent
            # device holds a run's blocks: they never come back from it,
            # so the device is reset and the blocks go back at once
            h = stalled_run()
            t = time.monotonic()
            g.run("echo 1 > " + BREAK)
            zero = wait_for(lambda: hinting(g)["held"] == 0, 15 * slow, 0.2)
            secs = time.monotonic() - t
            logged = dmesg_has(g, "free_page_vq queue broken")
            st = state(g)
            g.qmp("migrate_cancel")
            migration(g, 120)
            # (a busy loop in the hint work once made every command
            # take 4 s: the blocks were back, 22 s later)
            self.check(tag + "/broken-queue",
                       h["held"] > 0 and bool(zero) and secs < 5 * slow and
                       logged and st == "off: device reset",
                       "%d MiB held when the queues broke: %s in %.1f s "
                       "(limit %d s); "
                       "reset %s; reporting %s" %
                       (mib(h["held"]), "given back" if zero else
                        "NOT given back", secs, 5 * slow,
                        "logged" if logged else "NOT logged", st))
            rc, out = stop(g, "verify")
            self.check(tag + "/data-intact", rc == 0 and " 0 corrupt" in out
                       and not out.startswith("verified 0 "), out)
        self.no_problems(g, tag)
