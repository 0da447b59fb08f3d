#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build virtio_fpr (and the test-only modules) for one kernel series.
#   build.sh SERIES [make args...]   e.g. build.sh 7.2 W=1 C=2
# Output: build/ko/<krel>/*.ko. 5.10, 6.12-trixie and 7.2 build inside a
# chroot of their suite (scripts/chroot.sh); the arm64 series
# (scripts/kernel.sh) cross-build with aarch64-linux-gnu-gcc there or on
# the host.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=${1:?usage: $0 SERIES [make args]}
shift
krel=$("$FPR_TOP/scripts/kernel.sh" krel "$series")
kdir=$("$FPR_TOP/scripts/kernel.sh" headers "$series")
out=$FPR_TOP/build/ko/$krel
work=$FPR_TOP/build/tree/$krel
mkdir -p "$out"
cross=()
if [ "$("$FPR_TOP/scripts/kernel.sh" arch "$series")" = arm64 ]; then
	cross=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
fi

# Two suites started at once build the same kernel's tree: one at a time.
exec 9>"$FPR_TOP/build/.build-$krel.lock"
flock 9

# A private copy per kernel: parallel builds cannot mix objects.
rm -rf "$work"
mkdir -p "$work"
cp -r "$FPR_TOP/src" "$FPR_TOP/include" "$work/"
mkdir -p "$work/tests"
cp -r "$FPR_TOP/tests/modules" "$work/tests/"

# The headers kernel.sh made in the chroot are (still) there; the arm64
# ones are marked once complete
headers_ready() {
	[ -f "$root/.fpr-ready" ] && [ -f "$root$kdir/Makefile" ] &&
		{ [ ${#cross[@]} = 0 ] || [ -f "$root$kdir/.fpr-ready" ]; }
}

suite=$("$FPR_TOP/scripts/kernel.sh" chroot "$series")
if [ -n "$suite" ]; then
	root=$("$FPR_TOP/scripts/chroot.sh" "$suite")
	# Another job remakes the chroot (chroot.sh, exclusive lock) when
	# it needs other headers: build under a shared lock, with ours still
	# there once we hold it. Not while calling chroot.sh or kernel.sh
	# headers: they may wait for the exclusive lock
	exec 8>"$(fpr_chroot_lock "$suite")"
	tries=0
	until flock -s 8 && headers_ready; do
		flock -u 8
		tries=$((tries + 1))
		[ "$tries" -lt 3 ] ||
			die "the $suite chroot keeps losing the headers for $krel"
		log "the $suite chroot was remade meanwhile: headers for $krel again"
		"$FPR_TOP/scripts/kernel.sh" headers "$series" >/dev/null
	done
	# Debian's headers lack the script with which 6.19+ checks that
	# sparse knows typeof_unqual (without it C=2 quietly runs no sparse):
	# supply one that does that check. The amd64 and arm64 builds share
	# the common headers and may run it at once: each run checks a
	# temporary file of its own (an older one shared a fixed name), and
	# the script is replaced whole
	common=$root$kdir/../linux-headers-${krel%-*64*}-common
	valid=$common/scripts/checker-valid.sh
	if grep -qs checker-valid.sh "$common/Makefile" &&
	   { [ ! -x "$valid" ] || grep -qs '^# virtio-fpr:' "$valid"; }; then
		cat > "$valid.$$" <<'EOS'
#!/bin/sh
# virtio-fpr: stands in for the kernel's scripts/checker-valid.sh
f=$(mktemp --suffix=.c) || exit 0
printf 'int x; __typeof_unqual__(x) y;\n' > "$f"
"$@" -Wno-decl "$f" 2>&1 | grep -q . || echo 1
rm -f "$f"
EOS
		chmod +x "$valid.$$"
		if cmp -s "$valid.$$" "$valid"; then
			rm -f "$valid.$$"
		else
			mv -f "$valid.$$" "$valid"
		fi
	fi
	# A folder of our own: other checkouts may share the chroot
	mkdir -p "$root/build"
	cwork=$(mktemp -d "$root/build/$krel.XXXXXX")
	trap 'rm -rf "$cwork"' EXIT
	cp -r "$work/." "$cwork"
	# objtool reads /proc: mount it in a private mount namespace
	for d in src tests/modules; do
		# shellcheck disable=SC2016 # expanded by the inner shell
		unshare -m /bin/sh -c \
			'mount -t proc proc "$0/proc" && exec chroot "$0" make "$@"' \
			"$root" -C "$kdir" M="${cwork#"$root"}/$d" "${cross[@]}" "$@" \
			modules
	done
	rm -rf "$work"
	mv "$cwork" "$work"
	exec 8>&-
else
	for d in src tests/modules; do
		make -C "$kdir" M="$work/$d" "${cross[@]}" "$@" modules
	done
fi
# Each file whole: a guest's initramfs (tests/qemu/initramfs.sh) may be
# packed from here meanwhile, by another make check job
for ko in "$work"/src/*.ko "$work"/tests/modules/*.ko; do
	cp "$ko" "$out/.$(basename "$ko").$$"
	mv -f "$out/.$(basename "$ko").$$" "$out/$(basename "$ko")"
done
echo "$out"
