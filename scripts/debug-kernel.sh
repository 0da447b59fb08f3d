#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (once, cached) a debug guest kernel from Debian's kernel source:
# KASAN, lockdep, kmemleak, debugobjects, debug_pagealloc and UBSAN, plus
# the virtio, balloon and page-reporting options the QEMU suite needs.
#   debug-kernel.sh [SERIES]   build if needed; print the build folder
# SERIES: 6.1 (linux-source-6.1, bookworm; the default) or 6.12
# (linux-source-6.12, bookworm-backports).
# The folder holds the source tree linux/ (KDIR for out-of-tree modules),
# and, as scripts/kernel.sh's image folders do, links vmlinuz and modules/.
# scripts/kernel.sh serves it as kernel series "SERIES-debug".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=${1:-6.1}
src=linux-source-$series
patches=$(dirname "$0")/debug-kernel-patches/$series
fpr_need make gcc bc bison flex libssl-dev libelf-dev cpio kmod xz-utils patch
case $series in
6.1)
	fpr_need "$src"
	tarball=/usr/src/$src.tar.xz
	ver=$(dpkg-query -W -f='${Version}' "$src")
	;;
6.12)
	fpr_aptx_update
	ver=$(fpr_suite_version "$src" bookworm-backports)
	[ -n "$ver" ] || die "no $src in bookworm-backports"
	tarball=$FPR_CACHE/debug-kernel/$src-$ver/usr/src/$src.tar.xz
	;;
*) die "no debug kernel for series '$series' (known: 6.1, 6.12)" ;;
esac

# Options on top of x86_64_defconfig + kvm_guest.config. One per line;
# "y"/"m"/"n" or a value. HZ as Debian's kernels (defconfig: 1000): a
# starved guest boots sooner (docs/testing.md)
options() {
	cat <<'EOF'
MODULES y
MODULE_UNLOAD y
LOCALVERSION "-fpr-debug"
LOCALVERSION_AUTO n
VIRTIO_PCI m
VIRTIO_BALLOON m
VIRTIO_MEM n
PAGE_REPORTING y
BALLOON_COMPACTION y
COMPACTION y
MIGRATION y
PAGE_POISONING y
SUSPEND y
PM_SLEEP y
MEMORY_HOTPLUG y
MEMORY_HOTREMOVE y
ACPI_HOTPLUG_MEMORY y
DEBUG_FS y
HZ_1000 n
HZ_250 y
HZ 250
DEBUG_INFO_NONE y
KASAN y
KASAN_GENERIC y
KASAN_OUTLINE y
KASAN_VMALLOC y
PROVE_LOCKING y
DEBUG_ATOMIC_SLEEP y
DEBUG_KMEMLEAK y
DEBUG_KMEMLEAK_MEM_POOL_SIZE 16000
DEBUG_KMEMLEAK_AUTO_SCAN n
DEBUG_OBJECTS y
DEBUG_OBJECTS_FREE y
DEBUG_OBJECTS_TIMERS y
DEBUG_OBJECTS_WORK y
DEBUG_OBJECTS_RCU_HEAD y
DEBUG_OBJECTS_PERCPU_COUNTER y
DEBUG_OBJECTS_ENABLE_DEFAULT 1
DEBUG_PAGEALLOC y
DEBUG_PAGEALLOC_ENABLE_DEFAULT y
UBSAN y
UBSAN_BOUNDS y
UBSAN_SHIFT y
UBSAN_BOOL y
UBSAN_ENUM y
EOF
	# 6.9 dropped it: every file is instrumented
	[ "$series" != 6.1 ] || echo "UBSAN_SANITIZE_ALL y"
	cat <<'EOF'
DEBUG_LIST y
DRM n
SOUND n
WLAN n
WIRELESS n
USB_SUPPORT n
HID n
ETHERNET n
NETFILTER n
IPV6 n
NFS_FS n
EXT4_FS n
AGP n
EOF
}

# Fixes to the source that the debug options need, for this series
# (debug-kernel-patches/SERIES/*.patch, each saying why; none for 6.12)
patch_files() {
	[ -d "$patches" ] || return 0
	find "$patches" -name '*.patch' | LC_ALL=C sort
}

# A change of the options or patches is a new build: the folder is
# named by the source version and both
dir=$FPR_CACHE/debug-kernel/$ver-$({
	options
	# the changes, not their descriptions
	patch_files | xargs -r sed -n "/^--- /,\$p"
} | md5sum | cut -c1-8)
tree=$dir/linux

# The source tarball, from the backports package unpacked (not installed)
fetch_source() {
	local unpacked=$FPR_CACHE/debug-kernel/$src-$ver

	[ ! -f "$tarball" ] || return 0
	rm -rf "$FPR_CACHE/debug-kernel/$src"-*
	fpr_download "$series" "$src=$ver" "$unpacked/deb"
	dpkg-deb -x "$unpacked"/deb/*.deb "$unpacked"
	rm -rf "$unpacked/deb"
}

build() {
	log "building the debug kernel from $src $ver (once; cached)"
	fetch_source
	# this series' builds of other sources or options, 2 GiB each
	find "$FPR_CACHE/debug-kernel" -mindepth 1 -maxdepth 1 -type d \
		-name "$series.*" -exec rm -rf {} +
	mkdir -p "$dir"
	tar -xaf "$tarball" -C "$dir"
	mv "$dir/$src" "$tree"
	local p
	for p in $(patch_files); do
		log "applying $(basename "$p")"
		patch -d "$tree" -p1 -s --forward < "$p"
	done
	make -C "$tree" -s x86_64_defconfig kvm_guest.config
	local name val
	while read -r name val; do
		case $val in
		y) "$tree/scripts/config" --file "$tree/.config" -e "$name" ;;
		m) "$tree/scripts/config" --file "$tree/.config" -m "$name" ;;
		n) "$tree/scripts/config" --file "$tree/.config" -d "$name" ;;
		\"*) "$tree/scripts/config" --file "$tree/.config" \
			--set-str "$name" "$(eval echo "$val")" ;;
		*) "$tree/scripts/config" --file "$tree/.config" \
			--set-val "$name" "$val" ;;
		esac
	done < <(options)
	make -C "$tree" -s olddefconfig
	# Every option must have survived olddefconfig's dependency checks
	while read -r name val; do
		case $val in
		n) grep -q "^CONFIG_$name=" "$tree/.config" &&
			die "CONFIG_$name still set" ;;
		*) grep -q "^CONFIG_$name=" "$tree/.config" ||
			die "CONFIG_$name did not stick (a dependency is missing)" ;;
		esac
	done < <(options)
	make -C "$tree" -s -j"$(nproc)" bzImage modules
	make -C "$tree" -s INSTALL_MOD_PATH="$dir/root" modules_install
	touch "$dir/.ready"
}

# One build at a time: tests/run-all.sh starts one in the background and
# the debug suite's call waits here for it
mkdir -p "$FPR_CACHE/debug-kernel"
exec 9> "$FPR_CACHE/debug-kernel/.lock"
if ! flock -n 9; then
	log "waiting for the debug kernel build in progress"
	flock 9
fi
[ -f "$dir/.ready" ] || build >&2
exec 9>&-
krel=$(cat "$tree/include/config/kernel.release")
ln -sfn linux/arch/x86/boot/bzImage "$dir/vmlinuz"
ln -sfn "root/lib/modules/$krel" "$dir/modules"
echo "$dir"
