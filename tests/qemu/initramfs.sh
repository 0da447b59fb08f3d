#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test initramfs for one kernel series:
#   initramfs.sh SERIES   -> prints the path of the .cpio.gz
# FPR_KO_DIR=DIR takes our modules from DIR (e.g. a DKMS build) instead of
# build/ko/<krel>; .ko.xz/.ko.zst there are unpacked.
# Holds busybox, fprmem, the virtio-fpr command, the guest init, the
# kernel's virtio modules and our modules (built by scripts/build.sh), with
# a modules.dep from depmod. arm64 series: Debian's arm64 busybox-static,
# fprmem cross-compiled, and virtio_console for the command channel (hvc0:
# the virt machine has one UART).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

series=${1:?usage: $0 SERIES}
fpr_need busybox-static cpio gzip kmod xz-utils zstd gcc libc6-dev
krel=$("$FPR_TOP/scripts/kernel.sh" krel "$series")
kimg=$("$FPR_TOP/scripts/kernel.sh" image "$series")
ko=${FPR_KO_DIR:-$FPR_TOP/build/ko/$krel}
ls "$ko"/virtio_fpr.ko* >/dev/null 2>&1 ||
	die "no virtio_fpr.ko in $ko: build it first (scripts/build.sh $series)"
out=$FPR_TOP/build/initramfs-$krel${FPR_KO_DIR:+-custom}.cpio.gz
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc}
cc=gcc
if [ "$("$FPR_TOP/scripts/kernel.sh" arch "$series")" = arm64 ]; then
	fpr_need gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	cc=aarch64-linux-gnu-gcc
	bb=$FPR_CACHE/busybox-arm64
	if [ ! -x "$bb/bin/busybox" ]; then
		fpr_aptx_update
		rm -rf "$bb" && mkdir -p "$bb/deb"
		(cd "$bb/deb" && fpr_aptx apt-get download -q \
			"busybox-static:arm64/$(. /etc/os-release &&
				echo "$VERSION_CODENAME")" >/dev/null) ||
			die "cannot download busybox-static:arm64"
		dpkg-deb -x "$bb"/deb/*.deb "$bb"
		rm -rf "$bb/deb"
	fi
	cp "$bb/bin/busybox" "$root/bin/busybox"
else
	cp /bin/busybox "$root/bin/busybox"
fi
# The applets of the host's busybox (the same release; an arm64 one
# cannot run here)
for applet in $(/bin/busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
"$cc" -O2 -Wall -Wextra -static -o "$root/bin/fprmem" \
	"$FPR_TOP/tests/guest/fprmem.c"
install -m 0755 "$FPR_TOP/tests/guest/init" "$root/init"
# The status command, as shipped: run by busybox ash in the guest
install -m 0755 "$FPR_TOP/tools/virtio-fpr" "$root/bin/virtio-fpr"

mods=$root/lib/modules/$krel
mkdir -p "$mods/kernel" "$mods/extra"
# copy_ko SRC DEST-WITHOUT-SUFFIX: copy a module, uncompressed
copy_ko() {
	case $1 in
	*.xz) xz -dc "$1" > "$2" ;;
	*.zst) zstd -qdc "$1" > "$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

# drivers/char: virtio_console (arm64's command channel); our debug
# kernels build the virtio drivers in and have no such folder
(cd "$kimg/modules" && for d in kernel/drivers/virtio kernel/drivers/char; do
	[ ! -d "$d" ] || find "$d" -name 'virtio*.ko*'
done) |
while read -r m; do
	mkdir -p "$mods/$(dirname "$m")"
	copy_ko "$kimg/modules/$m" "$mods/${m%.ko*}.ko"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$kimg/modules/$f" ] && cp "$kimg/modules/$f" "$mods/"
done
for m in "$ko"/*.ko*; do
	copy_ko "$m" "$mods/extra/$(basename "${m%.ko*}").ko"
done
# Test helpers come from our own build when the modules come from elsewhere
if [ -n "${FPR_KO_DIR:-}" ] && [ -d "$FPR_TOP/build/ko/$krel" ]; then
	for m in fpr_holder fpr_leak; do
		cp "$FPR_TOP/build/ko/$krel/$m.ko" "$mods/extra/" 2>/dev/null || true
	done
fi
depmod -b "$root" "$krel"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
