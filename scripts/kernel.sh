#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Target kernels: resolve, fetch images, provide headers.
#   kernel.sh krel SERIES      print the kernel release (uname -r) of SERIES
#   kernel.sh image SERIES     fetch + unpack the Debian image; print its
#                              folder (with vmlinuz and modules/ links)
#   kernel.sh headers SERIES   make the headers buildable; print their folder
#   kernel.sh chroot SERIES    print the suite whose chroot (scripts/chroot.sh)
#                              builds for SERIES, or nothing (host build)
# SERIES: 5.10 (bullseye), 6.1 (bookworm), 6.12 (bookworm-backports),
# 6.12-trixie (trixie), 7.2 (sid), and 6.1-debug and 6.12-debug: our
# KASAN/lockdep/kmemleak builds of linux-source-6.1 and -6.12
# (scripts/debug-kernel.sh), guest kernels for the QEMU suite only.
# 5.10, 6.12-trixie and 7.2 build in a chroot of their suite, with the
# compiler and sparse of that suite (the kernel's own gcc: 10, 14, 16);
# the host (bookworm, gcc-12) builds 6.1 and 6.12.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite_of() {
	case $1 in
	5.10) echo bullseye ;;
	6.1) echo bookworm ;;
	6.12) echo bookworm-backports ;;
	6.12-trixie) echo trixie ;;
	7.2) echo sid ;;
	*) die "unknown kernel series '$1' (known: $FPR_SERIES)" ;;
	esac
}

# The suite of the chroot that builds for SERIES; nothing for the host
chroot_of() {
	case $1 in
	5.10 | 6.12-trixie | 7.2) suite_of "$1" ;;
	esac
}

# The ABI name the amd64 meta package of SERIES depends on.
krel_of() {
	local suite ver dep
	if [ "${1%-debug}" != "$1" ]; then
		cat "$("$FPR_TOP/scripts/debug-kernel.sh" "${1%-debug}")/linux/include/config/kernel.release"
		return
	fi
	suite=$(suite_of "$1")
	if [ "$suite" = bookworm ]; then
		dep=$(apt-cache depends linux-headers-amd64 2>/dev/null |
		      awk '/Depends: linux-headers-[0-9]/ { print $2; exit }')
		echo "${dep#linux-headers-}"
		return
	fi
	fpr_aptx_update
	ver=$(fpr_suite_version linux-image-amd64 "$suite")
	[ -n "$ver" ] || die "no linux-image-amd64 in $suite"
	dep=$(fpr_aptx apt-cache show "linux-image-amd64=$ver" |
	      sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\).*/\1/p' | head -1)
	echo "${dep#linux-image-}"
}

cmd_image() {
	local series=$1 krel dir deb m v
	if [ "${series%-debug}" != "$series" ]; then
		"$FPR_TOP/scripts/debug-kernel.sh" "${series%-debug}"
		return
	fi
	krel=$(krel_of "$series")
	dir=$FPR_CACHE/kernels/$krel
	if [ ! -f "$dir/.ready" ]; then
		fpr_need xz-utils zstd kmod
		[ "$series" = 6.1 ] && { apt-get update -qq || true; }
		rm -rf "$dir"
		log "fetching kernel image $krel"
		fpr_download "$series" "linux-image-$krel" "$dir/deb"
		# 7.x splits the image into linux-binary and linux-modules
		if [ "$series" = 7.2 ]; then
			fpr_download "$series" "linux-binary-$krel" "$dir/deb"
			fpr_download "$series" "linux-modules-$krel" "$dir/deb"
		fi
		for deb in "$dir"/deb/*.deb; do
			dpkg-deb -x "$deb" "$dir/root"
		done
		# 6.x: /boot/vmlinuz-K and /lib/modules/K; 7.x: /usr/lib/modules/K
		for m in "$dir/root/lib/modules/$krel" "$dir/root/usr/lib/modules/$krel"; do
			[ -d "$m/kernel" ] && ln -sfn "$m" "$dir/modules"
		done
		for v in "$dir/root/boot/vmlinuz-$krel" "$dir/modules/vmlinuz"; do
			[ -f "$v" ] && ln -sfn "$v" "$dir/vmlinuz"
		done
		if [ ! -f "$dir/vmlinuz" ] || [ ! -d "$dir/modules" ]; then
			die "no vmlinuz or modules in the $krel image"
		fi
		rm -rf "$dir/deb"
		touch "$dir/.ready"
	fi
	echo "$dir"
}

# Print the kernel build folder for SERIES (inside its chroot if it has one).
cmd_headers() {
	local series=$1 krel dir deb suite
	krel=$(krel_of "$series")
	suite=$(chroot_of "$series")
	if [ -n "$suite" ]; then
		"$FPR_TOP/scripts/chroot.sh" "$suite" "$krel" >/dev/null
		echo "/usr/src/linux-headers-$krel"
		return
	fi
	case $series in
	*-debug)
		echo "$("$FPR_TOP/scripts/debug-kernel.sh" "${series%-debug}")/linux"
		;;
	6.1)
		fpr_need make gcc libelf-dev dwarves linux-headers-amd64
		[ -e "/lib/modules/$krel/build/Makefile" ] ||
			die "linux-headers-amd64 did not bring headers for $krel"
		echo "/lib/modules/$krel/build"
		;;
	*)
		# The backports headers depend on the image package: unpack
		# them in a private folder instead of installing both.
		fpr_need make gcc-12 libelf-dev dwarves
		dir=$FPR_CACHE/headers/$krel
		if [ ! -f "$dir/.ready" ]; then
			rm -rf "$dir"
			log "fetching headers for $krel"
			fpr_download "$series" "linux-headers-$krel" "$dir/deb"
			fpr_download "$series" "linux-headers-${krel%-amd64}-common" "$dir/deb"
			fpr_download "$series" "linux-kbuild-${krel%-amd64}" "$dir/deb"
			for deb in "$dir"/deb/*.deb; do
				dpkg-deb -x "$deb" "$dir"
			done
			rm -rf "$dir/deb"
			sed -i "s|^include /usr/src/|include $dir/usr/src/|" \
				"$dir/usr/src/linux-headers-$krel/Makefile"
			touch "$dir/.ready"
		fi
		echo "$dir/usr/src/linux-headers-$krel"
		;;
	esac
}

[ $# -eq 2 ] || die "usage: $0 krel|image|headers|chroot SERIES"
case $1 in
krel) krel_of "$2" ;;
image) cmd_image "$2" ;;
headers) cmd_headers "$2" ;;
chroot) chroot_of "$2" ;;
*) die "usage: $0 krel|image|headers|chroot SERIES" ;;
esac
