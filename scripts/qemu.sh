#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the QEMU of another Debian suite from the host, without installing
# it system-wide: SUITE's qemu-system-x86 and qemu-system-arm are
# installed (once, cached) in the chroot of scripts/chroot.sh and run
# through that chroot's own dynamic loader and libraries, so that host
# paths (sockets under /tmp, kernels, initramfs) stay usable.
#   qemu.sh SUITE qemu-system-x86_64 ARGS...   e.g. qemu.sh trixie ...
#   qemu.sh SUITE --version                    what it runs
# tests/qemu/guest.py runs its guests through it when FPR_QEMU=SUITE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite=${1:?usage: $0 SUITE qemu-system-ARCH ARGS...}
prog=${2:?usage: $0 SUITE qemu-system-ARCH ARGS...}
shift 2
case $prog in
--version) bin=qemu-system-x86_64 ;;
qemu-system-x86_64) bin=$prog ;;
qemu-system-aarch64) bin=$prog ;;
*) die "unknown QEMU $prog" ;;
esac
case $bin in
qemu-system-x86_64) pkg=qemu-system-x86 ;;
*) pkg=qemu-system-arm ;;
esac

root=$("$FPR_TOP/scripts/chroot.sh" "$suite")
if [ ! -x "$root/usr/bin/$bin" ]; then
	# Writes into the chroot: alone (builds in it hold the lock shared,
	# and scripts/kernel.sh runs apt there for the arm64 cross gcc)
	exec 7>"$(fpr_chroot_lock "$suite")"
	flock 7
	[ -f "$root/.fpr-ready" ] || die "the $suite chroot went away meanwhile"
	if [ ! -x "$root/usr/bin/$bin" ]; then
		log "installing $pkg in the $suite chroot"
		chroot "$root" apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive chroot "$root" \
			apt-get install -y -qq --no-install-recommends "$pkg" >&2
	fi
	exec 7>&-
fi

libs=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu
# The accelerators (TCG too) are loadable modules in Debian's QEMU
export QEMU_MODULE_DIR=$root/usr/lib/x86_64-linux-gnu/qemu
run=("$root/lib64/ld-linux-x86-64.so.2" --library-path "$libs"
     "$root/usr/bin/$bin")
if [ "$prog" = --version ]; then
	exec "${run[@]}" --version
fi
# The firmware: the chroot's, not the host's (Debian's /usr/share/qemu
# holds links into the other firmware packages' folders)
exec "${run[@]}" -L "$root/usr/share/qemu" -L "$root/usr/share/seabios" "$@"
