#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Target kernels: resolve, fetch images, provide headers.
#   kernel.sh krel SERIES      print the kernel release (uname -r) of SERIES
#   kernel.sh image SERIES     fetch + unpack the Debian image; print its
#                              folder (with vmlinuz and modules/ links)
#   kernel.sh headers SERIES   make the headers buildable; print their folder
#   kernel.sh arch SERIES      print the Debian architecture: amd64 or arm64
#   kernel.sh chroot SERIES    print the suite whose chroot (scripts/chroot.sh)
#                              builds for SERIES, or nothing (host build)
# SERIES: 5.10 (bullseye), 6.1 (bookworm), 6.12 (bookworm-backports),
# 6.12-trixie (trixie), 7.2 (sid), and 6.1-debug and 6.12-debug: our
# KASAN/lockdep/kmemleak builds of linux-source-6.1 and -6.12
# (scripts/debug-kernel.sh), guest kernels for the QEMU suite only.
# 5.10, 6.12-trixie and 7.2 build in a chroot of their suite, with the
# compiler and sparse of that suite (the kernel's own gcc: 10, 14, 16);
# the host (bookworm, gcc-12) builds 6.1 and 6.12.
# SERIES-arm64 and SERIES-arm64-16k (5.10-arm64, 6.1-arm64,
# 6.12-trixie-arm64[-16k], 7.2-arm64[-16k]): Debian's arm64 kernel of the
# same suite (-16k: its 16 KiB page flavour, trixie and later), built
# with aarch64-linux-gnu-gcc against its arm64 headers whose host tools
# (linux-kbuild-*, arm64 binaries) are replaced by the amd64 package of
# the same version.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The Debian kernel flavour of SERIES: amd64, arm64 or arm64-16k
flavour_of() {
	case $1 in
	*-arm64) echo arm64 ;;
	*-arm64-16k) echo arm64-16k ;;
	*) echo amd64 ;;
	esac
}

# SERIES without its arm64 flavour suffix: 6.12-trixie-arm64-16k -> 6.12-trixie
base_of() {
	local s=${1%-16k}
	echo "${s%-arm64}"
}

suite_of() {
	case $(base_of "$1") in
	5.10) echo bullseye ;;
	6.1) echo bookworm ;;
	6.12) echo bookworm-backports ;;
	6.12-trixie) echo trixie ;;
	7.2) echo sid ;;
	*) die "unknown kernel series '$1' (known: $FPR_SERIES $FPR_SERIES_ARM64)" ;;
	esac
}

# The suite of the chroot that builds for SERIES; nothing for the host
chroot_of() {
	case $(base_of "$1") in
	5.10 | 6.12-trixie | 7.2) suite_of "$1" ;;
	esac
}

# The ABI name the meta package of SERIES (amd64 or its flavour) depends on.
krel_of() {
	local suite ver dep flavour
	flavour=$(flavour_of "$1")
	if [ "${1%-debug}" != "$1" ]; then
		cat "$("$FPR_TOP/scripts/debug-kernel.sh" "${1%-debug}")/linux/include/config/kernel.release"
		return
	fi
	suite=$(suite_of "$1")
	if [ "$flavour" != amd64 ]; then
		fpr_aptx_update
		ver=$(fpr_suite_version "linux-image-$flavour:arm64" "$suite")
		[ -n "$ver" ] || die "no linux-image-$flavour in $suite"
		dep=$(fpr_aptx apt-cache show "linux-image-$flavour:arm64=$ver" |
		      grep -o 'linux-image-[0-9][^ ,]*' | head -1)
		echo "${dep#linux-image-}"
		return
	fi
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
	local series=$1 krel dir deb m v pkg pkgs arch=
	if [ "${series%-debug}" != "$series" ]; then
		"$FPR_TOP/scripts/debug-kernel.sh" "${series%-debug}"
		return
	fi
	krel=$(krel_of "$series")
	# (set -e does not reach into $(...): an empty one would be the cache)
	[ -n "$krel" ] || die "no kernel release for $series"
	dir=$FPR_CACHE/kernels/$krel
	fpr_cache_lock "kernel-$krel"
	if [ ! -f "$dir/.ready" ]; then
		fpr_need xz-utils zstd kmod
		[ "$series" = 6.1 ] && fpr_apt_update
		[ "$(flavour_of "$series")" = amd64 ] || arch=:arm64
		rm -rf "$dir"
		log "fetching kernel image $krel"
		pkgs=("linux-image-$krel")
		# 7.x splits the image into linux-binary and linux-modules
		[ "$(base_of "$series")" = 7.2 ] &&
			pkgs+=("linux-binary-$krel" "linux-modules-$krel")
		for pkg in "${pkgs[@]}"; do
			fpr_download "$series" "$pkg$arch" "$dir/deb"
		done
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
	exec 7>&-
	echo "$dir"
}

# Print the kernel build folder for SERIES (inside its chroot if it has one).
cmd_headers() {
	local series=$1 krel dir deb suite
	krel=$(krel_of "$series")
	[ -n "$krel" ] || die "no kernel release for $series"
	suite=$(chroot_of "$series")
	if [ "$(flavour_of "$series")" != amd64 ]; then
		arm64_headers "$series" "$krel" "$suite"
		return
	fi
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
		# the same lock as arm64_headers'
		fpr_cache_lock "headers-$krel"
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
		exec 7>&-
		echo "$dir/usr/src/linux-headers-$krel"
		;;
	esac
}

# arm64 headers for SERIES (release KREL), in the chroot of SUITE or, with
# none, in a private folder: Debian's arm64 headers and common headers,
# with the amd64 linux-kbuild of the same version for their host tools
# (fixdep, modpost...), and the cross compiler of that suite.
arm64_headers() {
	local series=$1 krel=$2 suite=$3 root dir ver kver deb tmp
	if [ -n "$suite" ]; then
		# The amd64 chroot of the suite, with its amd64 kbuild
		root=$("$FPR_TOP/scripts/chroot.sh" "$suite" \
			"$(krel_of "$(base_of "$series")")")
		dir=$root
	else
		fpr_need make gcc-aarch64-linux-gnu libelf-dev dwarves
		root=
		dir=$FPR_CACHE/headers/$krel
	fi
	fpr_cache_lock "headers-$krel"
	if [ ! -f "$dir/usr/src/linux-headers-$krel/.fpr-ready" ]; then
		log "fetching arm64 headers for $krel"
		fpr_aptx_update
		ver=$(fpr_aptx apt-cache show "linux-headers-$krel:arm64" |
		      awk '/^Version:/ { print $2; exit }')
		kver=$(fpr_aptx apt-cache show "linux-headers-$krel:arm64" |
		       grep -o 'linux-kbuild-[0-9][^ ,]*' | head -1)
		if [ -z "$ver" ] || [ -z "$kver" ]; then
			die "no linux-headers-$krel for arm64"
		fi
		tmp=$(mktemp -d)
		fpr_download "$series" "linux-headers-$krel:arm64" "$tmp"
		fpr_download "$series" \
			"linux-headers-${krel%-arm64*}-common=$ver" "$tmp"
		fpr_download "$series" "$kver:amd64=$ver" "$tmp"
		if [ -n "$root" ]; then
			# Other jobs build in (shared lock) and remake (exclusive)
			# the suite's chroot: write into it alone. Taken after
			# chroot.sh, which takes it itself
			exec 8>"$(fpr_chroot_lock "$suite")"
			flock 8
			if [ ! -f "$root/.fpr-ready" ]; then
				rm -rf "$tmp"
				die "the $suite chroot went away meanwhile"
			fi
		fi
		for deb in "$tmp"/*.deb; do
			dpkg-deb -x "$deb" "$dir"
		done
		rm -rf "$tmp"
		if [ -z "$root" ]; then
			sed -i "s|^include /usr/src/|include $dir/usr/src/|" \
				"$dir/usr/src/linux-headers-$krel/Makefile"
		elif ! chroot "$root" sh -c 'command -v aarch64-linux-gnu-gcc' \
				>/dev/null; then
			log "installing gcc-aarch64-linux-gnu in the $suite chroot"
			chroot "$root" apt-get update -qq >&2
			DEBIAN_FRONTEND=noninteractive chroot "$root" \
				apt-get install -y -qq --no-install-recommends \
				gcc-aarch64-linux-gnu libc6-dev-arm64-cross >&2
		fi
		touch "$dir/usr/src/linux-headers-$krel/.fpr-ready"
		[ -z "$root" ] || exec 8>&-
	fi
	if [ -n "$root" ]; then
		echo "/usr/src/linux-headers-$krel"
	else
		echo "$dir/usr/src/linux-headers-$krel"
	fi
}

[ $# -eq 2 ] || die "usage: $0 krel|image|headers|chroot|arch SERIES"
case $1 in
arch) flavour_of "$2" | sed 's/-16k$//' ;;
krel) krel_of "$2" ;;
image) cmd_image "$2" ;;
headers) cmd_headers "$2" ;;
chroot) chroot_of "$2" ;;
*) die "usage: $0 krel|image|headers|chroot|arch SERIES" ;;
esac
