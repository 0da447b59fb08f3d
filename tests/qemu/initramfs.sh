#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test initramfs for one kernel series:
#   initramfs.sh SERIES   -> prints the path of the .cpio.gz
# Holds busybox, fprmem, the guest init, the kernel's virtio modules and
# our modules (built by scripts/build.sh), with a modules.dep from depmod.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

series=${1:?usage: $0 SERIES}
fpr_need busybox-static cpio gzip kmod xz-utils zstd gcc libc6-dev
krel=$("$FPR_TOP/scripts/kernel.sh" krel "$series")
kimg=$("$FPR_TOP/scripts/kernel.sh" image "$series")
ko=$FPR_TOP/build/ko/$krel
[ -f "$ko/virtio_fpr.ko" ] || die "build the modules first: scripts/build.sh $series"
out=$FPR_TOP/build/initramfs-$krel.cpio.gz
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
gcc -O2 -Wall -Wextra -static -o "$root/bin/fprmem" "$FPR_TOP/tests/guest/fprmem.c"
install -m 0755 "$FPR_TOP/tests/guest/init" "$root/init"

mods=$root/lib/modules/$krel
mkdir -p "$mods/kernel" "$mods/extra"
(cd "$kimg/modules" && find kernel/drivers/virtio kernel/mm -name '*.ko*' 2>/dev/null) |
while read -r m; do
	mkdir -p "$mods/$(dirname "$m")"
	case $m in
	*.xz) xz -dc "$kimg/modules/$m" > "$mods/${m%.xz}" ;;
	*.zst) zstd -qdc "$kimg/modules/$m" > "$mods/${m%.zst}" ;;
	*) cp "$kimg/modules/$m" "$mods/$m" ;;
	esac
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$kimg/modules/$f" ] && cp "$kimg/modules/$f" "$mods/"
done
cp "$ko"/*.ko "$mods/extra/"
depmod -b "$root" "$krel"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
