# SPDX-License-Identifier: GPL-2.0
"""A QEMU (TCG) guest driven over a serial command channel, with host RSS
sampling and QMP. Used by the virtio_fpr test suite, demo and benchmark."""

import json
import os
import re
import select
import socket
import subprocess
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPTS = os.path.join(TOP, "scripts")

# Console lines that mean the kernel is unhappy (panic_on_warn turns WARNs
# into panics, so most of these end the guest too).
BAD_CONSOLE = re.compile(
    r"(WARNING:|BUG:|Oops|Kernel panic|general protection|"
    r"memory corruption|Call Trace:|UBSAN|KASAN|kmemleak:.*new suspected)")
KMEMLEAK = "/sys/kernel/debug/kmemleak"


def sh(*args):
    return subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout.strip()


class Kernel:
    """One target kernel series: its release, image and initramfs."""

    def __init__(self, series, ko_dir=None):
        """ko_dir: take virtio_fpr.ko from there (e.g. a DKMS build)
        instead of building it from the current sources."""
        self.series = series
        # "6.1-debug" is 6.1 built with KASAN, lockdep, kmemleak...: the
        # same kernel to the tests, only slower and with a leak scanner
        self.base = series.split("-")[0]
        self.debug = series.endswith("-debug")
        self.slow = 4 if self.debug else 1
        # "6.1-arm64", "7.2-arm64-16k": Debian's arm64 kernel (the -16k
        # flavour has 16 KiB pages), under qemu-system-aarch64
        self.arch = sh(os.path.join(SCRIPTS, "kernel.sh"), "arch", series)
        self.page_size = 16384 if series.endswith("-16k") else 4096
        # virtio_fpr's default order: 2 MiB blocks (7 with 16 KiB pages)
        self.order_2m = 21 - (self.page_size.bit_length() - 1)
        self.krel = sh(os.path.join(SCRIPTS, "kernel.sh"), "krel", series)
        img = sh(os.path.join(SCRIPTS, "kernel.sh"), "image", series)
        if ko_dir:
            os.environ["FPR_KO_DIR"] = ko_dir
        else:
            # Always from the current sources: a stale module tests nothing
            os.environ.pop("FPR_KO_DIR", None)
            sh(os.path.join(SCRIPTS, "build.sh"), series)
        self.vmlinuz = os.path.join(img, "vmlinuz")
        self.image_dir = img
        self.initrd = sh(os.path.join(TOP, "tests", "qemu", "initramfs.sh"),
                         series)

    def config(self, name):
        """The value of CONFIG_NAME in the kernel's configuration ("y",
        "m", a string), or None if unset or no configuration is found."""
        for path in (os.path.join(self.image_dir, "root", "boot",
                                  "config-" + self.krel),
                     os.path.join(self.image_dir, "modules", "config"),
                     os.path.join(self.image_dir, "linux", ".config")):
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        if line.startswith("CONFIG_%s=" % name):
                            return line.split("=", 1)[1].strip()
                return None
        return None

    def symbol(self, addr):
        """" (function+0xoffset)" for a kernel text address, from the
        debug kernel's System.map (its guests boot with nokaslr), else
        ""."""
        path = os.path.join(self.image_dir, "linux", "System.map")
        if not self.debug or not os.path.exists(path):
            return ""
        best = None
        with open(path) as f:
            for line in f:
                a, kind, name = line.split()[:3]
                a = int(a, 16)
                # of two names for one address, not the "__" marker
                if kind in "tT" and a <= addr and \
                        (best is None or a > best[0] or
                         (a == best[0] and best[1].startswith("__"))):
                    best = (a, name)
        return " (%s+%#x)" % (best[1], addr - best[0]) if best else ""

    def order_fixed(self):
        """Before 5.14 the core reports pageblock_order only."""
        major, minor = (int(x) for x in self.base.split(".")[:2])
        return (major, minor) < (5, 14)


def task_dump_start(text):
    """Where a panic's task dump (panic_print=1) begins in TEXT: the first
    "task:" line after "Kernel panic - not syncing"; else None. What
    comes before is the report itself."""
    panic = text.find("Kernel panic - not syncing")
    if panic < 0:
        return None
    m = re.search(r"^.*\btask:", text[panic:], re.M)
    return panic + m.start() if m else None


def parse_task_dump(text, limit=6, frames=14):
    """From a panic's task dump (panic_print=1), pid 1 and the tasks in D
    state, each as "comm (pid N, S): innermost < ... < outermost", with
    the reliable frames only (no "? ")."""
    out, cur = [], None
    for line in text.splitlines():
        m = re.search(r"task:(.+?)\s+state:(\S).*?\bpid:\s*(\d+)", line)
        if m:
            comm, state, pid = m.group(1).strip(), m.group(2), m.group(3)
            cur = [] if pid == "1" or state == "D" else None
            if cur is not None:
                out.append(("%s (pid %s, %s)" % (comm, pid, state), cur))
            continue
        f = re.search(r"\]\s+([A-Za-z_][\w.]*)\+0x", line)
        if cur is not None and f and len(cur) < frames and \
                not f.group(1).startswith("__schedule"):
            cur.append(f.group(1))
    return ["%s: %s" % (who, " < ".join(st)) for who, st in out[:limit]]


class GuestError(Exception):
    pass


class GuestExited(GuestError):
    """QEMU ended; the message holds the console's last lines."""


class GuestStalled(GuestError):
    """The boot stopped making progress; the message says where."""


# A boot that printed something, then nothing for this long while QEMU
# used under STALL_CPU of a core or the vCPU sat halted, has stalled (a
# release kernel boots in 6-9 s, the debug kernel in 90 s, busy all
# along)
STALL_S = 60
STALL_CPU = 0.1
# x86: an NMI then makes the kernel panic and print every task, so the
# report names what the boot waits for (blocked()). The whole dump is
# flushed at the panic: a log buffer that holds it
NMI_DUMP = "unknown_nmi_panic panic_print=1 log_buf_len=1M "
# Boots that stalled and were booted again, in this process (suite.py
# prints the count)
stalls = []


class Guest:
    """Boot a guest; run() shell commands in it; rss() of the QEMU process."""

    def __init__(self, kernel, mem_mib=2048, append="", balloon="on",
                 balloon_props="", smp=1, name="guest", extra=(),
                 mem_opts="", incoming=None, qemu=None, stall_s=None,
                 first_boot_append=None):
        """incoming: a migration URI; the guest then comes from a source
        QEMU (migrate) instead of booting, and run() talks to it once the
        migration completed. qemu: a Debian suite whose QEMU runs the
        guest (scripts/qemu.sh), as FPR_QEMU does for every guest.
        stall_s: STALL_S for this guest. first_boot_append: kernel
        parameters for the first boot only (for the harness's own test of
        a boot that stalls: one that waits for a root device forever)."""
        self.kernel = kernel
        # Short: the QMP socket's path must fit sun_path (108 bytes)
        self.dir = tempfile.mkdtemp(prefix="fpr-%s-" % name[:48])
        self.console = os.path.join(self.dir, "console.log")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        # 6.1's KASAN can report a wild access in an interrupt taken early
        # in boot with 5-level paging, which TCG's "max" CPU offers
        cpu = "max,la57=off" if kernel.debug else "max"
        if kernel.debug:
            # A stalled boot's instruction pointer is then System.map's
            append = "nokaslr " + append
        if kernel.arch == "arm64":
            # One UART on "virt": the commands go over a virtio console,
            # in the last slot so that the balloon stays virtio0. QEMU's
            # own pointer authentication is much faster under TCG
            machine = ["qemu-system-aarch64", "-machine", "virt",
                       "-cpu", "max,pauth-impdef=on"]
            console = "console=ttyAMA0 fpr_cmd=hvc0 "
            serial, port = "addr=0x1f", []
            if "bus=" in balloon_props:
                # A balloon behind a root port comes after every device
                # of the root bus: the console goes behind a later one
                serial = "bus=rpcmd"
                port = ["-device", "pcie-root-port,id=rpcmd,bus=pcie.0,"
                        "chassis=31,addr=0x1f"]
            channel = port + [
                "-device", "virtio-serial-pci,id=vser," + serial,
                "-device", "virtconsole,chardev=cmd"]
        else:
            machine = ["qemu-system-x86_64", "-machine", "q35",
                       "-cpu", cpu]
            console = "console=ttyS0 " + NMI_DUMP
            channel = ["-serial", "chardev:cmd"]
        qemu = qemu or os.environ.get("FPR_QEMU")
        if qemu:
            # FPR_QEMU=trixie: that suite's QEMU, from its chroot
            machine[:1] = [os.path.join(SCRIPTS, "qemu.sh"), qemu,
                           machine[0]]
        cmd = machine + [
            "-accel", "tcg",
            "-smp", str(smp), "-m", str(mem_mib) + mem_opts,
            "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-kernel", kernel.vmlinuz,
            "-initrd", kernel.initrd,
            "-append", console + "panic_on_warn=1 panic=-1 oops=panic "
            "loglevel=6 " + append,
            "-serial", "file:" + self.console,
            "-chardev", "stdio,id=cmd,signal=off"] + channel + [
            "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        cmd += list(extra)
        if incoming:
            cmd += ["-incoming", incoming]
        if balloon is not None:
            dev = "virtio-balloon-pci,id=balloon0,free-page-reporting=" + \
                balloon
            if balloon_props:
                dev += "," + balloon_props
            cmd += ["-device", dev]
        self.cmd = cmd
        self.first_cmd = None
        if first_boot_append:
            i = cmd.index("-append") + 1
            self.first_cmd = cmd[:i] + [cmd[i] + " " + first_boot_append] + \
                cmd[i + 1:]
        self.proc = None
        self.qmp_timeout = None     # seconds, for _qmp_brief()
        self.stall_s = stall_s or STALL_S
        self.boot_attempts = 0
        self.stall_note = None
        self.buf = b""
        self.qmp_sock = None
        self.boot_seconds = None
        self.leaks = []
        self.leak_report = ""
        self.commands = 0           # run() calls, so far
        self.scanned_at = -1        # self.commands at the last leak scan
        self._start()
        if incoming:
            return
        t = time.monotonic()
        try:
            self._wait_ready(120 * kernel.slow)
        except GuestStalled as e:
            # A kernel that sleeps forever before init answered tests
            # nothing of ours (init loads no virtio_fpr before @@READY;
            # the check is for an init that would): say so, boot once
            # more (docs/testing.md, "Boot stalls")
            if "virtio_fpr" in self.console_text():
                raise
            self.stall_note = "%s: booting again after: %s" % (name, e)
            stalls.append(self.stall_note)
            print("note: " + self.stall_note, flush=True)
            self._start()
            self._wait_ready(120 * kernel.slow)
        self.boot_seconds = time.monotonic() - t

    def _start(self):
        self.boot_attempts += 1
        self.dump_at = None         # where an NMI's task dump starts
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._qmp_close()
            for pipe in (self.proc.stdin, self.proc.stdout,
                         self.proc.stderr):
                pipe.close()
            self.buf = b""
            # The first attempt's console, kept beside the new one
            if os.path.exists(self.console):
                os.replace(self.console, self.console + ".1")
        cmd = self.first_cmd if self.first_cmd and \
            self.boot_attempts == 1 else self.cmd
        self.proc = subprocess.Popen(cmd,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

    def _cpu_seconds(self):
        """CPU time the QEMU process used so far (user + system)."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / \
            os.sysconf("SC_CLK_TCK")

    def _console_size(self):
        try:
            return os.path.getsize(self.console)
        except OSError:
            return 0

    def _halted(self, looks=5):
        """How many of LOOKS at the vCPUs, half a second apart, found all
        of them halted (x86; None where QEMU does not say)."""
        n = 0
        for i in range(looks):
            if i:
                time.sleep(0.5)
            try:
                regs = self._qmp_brief("human-monitor-command",
                                       **{"command-line": "info registers -a"})
            except Exception:
                return None
            flags = re.findall(r"HLT=(\d)", regs)
            if not flags:
                return None
            n += all(f == "1" for f in flags)
        return n

    def _wait_ready(self, limit):
        """Wait for init's @@READY. Raises GuestStalled when for STALL_S
        the console stayed the same and QEMU stayed (nearly) idle or its
        vCPU halted: a boot waiting for what never comes, as the debug
        kernel's RCU Tasks self-test did (docs/testing.md, "Boot
        stalls"). Any other failure: GuestError with where the boot
        stopped, since the log is all CI keeps."""
        t = time.monotonic()
        # The clock starts once the kernel printed: before, qemu.sh may
        # still be installing a QEMU (FPR_QEMU), silent and idle
        mark = None
        try:
            while True:
                left = t + limit - time.monotonic()
                if left <= 0:
                    raise GuestError("timeout waiting for the guest; " +
                                     self.where() + self.blocked())
                try:
                    line = self._readline(min(left, 10))
                except GuestExited:
                    raise
                except GuestError:
                    now = time.monotonic()
                    size, cpu = self._console_size(), self._cpu_seconds()
                    if not size:
                        continue
                    if mark is None or size != mark[1]:
                        mark = (now, size, cpu)
                    elif now - mark[0] >= self.stall_s:
                        used = (cpu - mark[2]) / (now - mark[0])
                        halted = self._halted()
                        # halted, with timers ticking (a busy boot, even
                        # a slow one, uses its core)
                        if used <= STALL_CPU or halted is not None and \
                                halted >= 4 and used < 5 * STALL_CPU:
                            raise GuestStalled(
                                "boot stalled: for %.0f s no console "
                                "output, %.1f s of QEMU CPU time, vCPUs "
                                "halted at %s of 5 looks; %s%s" %
                                (now - mark[0], cpu - mark[2],
                                 "unknown" if halted is None else halted,
                                 self.where(), self.blocked()))
                        # silent but busy: look again in stall_s
                        mark = (now, size, cpu)
                    continue
                if not line.startswith("@@READY"):
                    raise GuestError("guest did not boot: %r" % line)
                return
        except BaseException as e:
            # No "with" holds it yet: a guest left booting takes a core
            # from every guest after it (seen: four debug guests, each
            # failing for the ones before it)
            self.proc.kill()
            self.proc.wait()
            if isinstance(e, GuestError) and \
                    not isinstance(e, GuestExited):
                raise type(e)("%s after %.0f s (host load %.1f %.1f "
                              "%.1f); console ends:\n%s" %
                              ((e, time.monotonic() - t) +
                               os.getloadavg() +
                               (self.console_tail(8, self.dump_at),))) \
                    from None
            raise

    def where(self):
        """The vCPU's state, from QEMU's monitor: QEMU's run state, halted
        or not (x86), and the instruction pointer, with its symbol where
        the debug kernel's System.map has it. Never raises."""
        try:
            state = self._qmp_brief("query-status")["status"]
            regs = self._qmp_brief("human-monitor-command",
                                   **{"command-line": "info registers"})
            m = re.search(r"\b(?:RIP|EIP|PC)=([0-9a-f]+)", regs)
            halted = re.search(r"HLT=(\d)", regs)
            text = "QEMU %s, vCPU %s" % (
                state, "state unknown" if not halted else
                "halted" if halted.group(1) == "1" else "running")
            if m:
                ip = int(m.group(1), 16)
                text += " at %#x%s" % (ip, self.kernel.symbol(ip))
            return text
        except Exception as e:
            return "QEMU's monitor did not answer (%r)" % e

    def blocked(self):
        """x86: inject an NMI, which makes the kernel panic and print every
        task (NMI_DUMP), and return "; blocked: " with the stacks of pid 1
        and of the tasks in D state, else "". The guest is gone after it.
        Never raises."""
        if self.kernel.arch == "arm64" or self.proc.poll() is not None:
            return ""
        try:
            start = len(self.console_text())
            # (not while the firmware runs: no kernel to answer)
            if not start:
                return ""
            if self._qmp_brief("query-status")["status"] != "running":
                return ""
            self._qmp_brief("inject-nmi")
            self.dump_at = start
        except Exception:
            return ""
        finally:
            # the guest is going away
            self._qmp_close()
        try:
            # panic=-1 and -no-reboot: QEMU ends once the dump is out
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            pass
        try:
            tasks = parse_task_dump(self.console_text()[start:])
        except OSError:
            tasks = []
        return "; blocked: " + " | ".join(tasks) if tasks else \
            "; no task dump after an NMI"

    # --- command channel -------------------------------------------------
    def _readline(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise GuestError("timeout waiting for the guest")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise GuestExited("guest exited:\n" +
                                      self.console_tail())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def run(self, command, timeout=120, check=True):
        """Run a shell command in the guest; return (rc, output)."""
        self.commands += 1
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        out = []
        while True:
            line = self._readline(timeout * self.kernel.slow)
            m = re.match(r"^@@RC (\d+)$", line)
            if m:
                rc = int(m.group(1))
                break
            out.append(line)
        text = "\n".join(out)
        if check and rc != 0:
            raise GuestError("guest command failed (%d): %s\n%s" %
                             (rc, command, text))
        return rc, text

    def out(self, command, timeout=120):
        return self.run(command, timeout)[1].strip()

    def read(self, path):
        return self.out("cat " + path)

    # --- host view -------------------------------------------------------
    def rss(self):
        """Resident memory of the QEMU process, in bytes."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise GuestError("no VmRSS")

    def console_text(self):
        with open(self.console, errors="replace") as f:
            return f.read()

    def console_tail(self, n=40, end=None):
        """The last N lines before END (default: before a panic's task
        dump)."""
        text = self.console_text()
        if end is None:
            end = task_dump_start(text)
        return "\n".join(text[:end].splitlines()[-n:])

    def console_problems(self):
        """Kernel complaints on the console and, on a debug kernel, the
        objects kmemleak suspects (scanned now if the guest still runs)."""
        self.kmemleak()
        text = self.console_text()
        # (a panic's task dump: every task's "Call Trace:")
        return [ln for ln in text[:task_dump_start(text)].splitlines()
                if BAD_CONSOLE.search(ln)] + \
            ["kmemleak: " + ln for ln in self.leaks]

    def kmemleak(self):
        """Debug kernels: ask kmemleak for a scan; keep the suspects'
        headlines in self.leaks and print the whole report. Nothing ran
        since the last scan: its result stands."""
        if not self.kernel.debug or self.proc.poll() is not None or \
                self.scanned_at == self.commands:
            return
        try:
            # Two scans: kmemleak reports an object only once its contents
            # stayed the same across a scan
            _, out = self.run("echo scan > %s && echo scan > %s && cat %s" %
                              (KMEMLEAK, KMEMLEAK, KMEMLEAK), timeout=100,
                              check=False)
        except GuestError as e:
            self.leaks = ["no kmemleak scan: %s" % e]
            return
        self.scanned_at = self.commands
        self.leak_report = out
        self.leaks = [ln.strip() for ln in out.splitlines()
                      if ln.startswith("unreferenced object")]
        if self.leaks:
            print("kmemleak report of %s:\n%s" % (self.dir, out), flush=True)

    # --- QMP -------------------------------------------------------------
    def _qmp_close(self):
        if self.qmp_sock:
            self.qmp_file.close()
            self.qmp_sock.close()
            self.qmp_sock = None

    def qmp(self, execute, **arguments):
        if self.qmp_sock is None:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.settimeout(self.qmp_timeout)
                s.connect(self.qmp_path)
                f = s.makefile("rw")
                json.loads(f.readline())
            except BaseException:
                s.close()
                raise
            self.qmp_file, self.qmp_sock = f, s
            self.qmp("qmp_capabilities")
        self.qmp_sock.settimeout(self.qmp_timeout)
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        self.qmp_file.write(json.dumps(msg) + "\n")
        self.qmp_file.flush()
        while True:
            reply = json.loads(self.qmp_file.readline())
            if "event" in reply:
                continue
            if "error" in reply:
                raise GuestError("QMP %s: %s" % (execute, reply["error"]))
            return reply.get("return")

    def _qmp_brief(self, execute, **arguments):
        """qmp() within 5 s, for a look at a guest that may not answer;
        a connection that failed is closed (of no further use)."""
        try:
            self.qmp_timeout = 5
            return self.qmp(execute, **arguments)
        except Exception:
            self._qmp_close()
            raise
        finally:
            self.qmp_timeout = None

    def close(self):
        if self.proc.poll() is None:
            try:
                self.kmemleak()
                self.proc.stdin.write(b"exit\n")
                self.proc.stdin.close()
                self.proc.wait(5)
            except Exception:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._qmp_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
