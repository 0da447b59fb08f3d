#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build virtio_fpr (and the test-only modules) for one kernel series.
#   build.sh SERIES [make args...]   e.g. build.sh 7.2 W=1 C=2
# Output: build/ko/<krel>/*.ko. 7.2 builds inside the sid chroot.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=${1:?usage: $0 SERIES [make args]}
shift
krel=$("$FPR_TOP/scripts/kernel.sh" krel "$series")
kdir=$("$FPR_TOP/scripts/kernel.sh" headers "$series")
out=$FPR_TOP/build/ko/$krel
work=$FPR_TOP/build/tree/$krel
mkdir -p "$out"

# Two suites started at once build the same kernel's tree: one at a time.
exec 9>"$FPR_TOP/build/.build-$krel.lock"
flock 9

# A private copy per kernel: parallel builds cannot mix objects.
rm -rf "$work"
mkdir -p "$work"
cp -r "$FPR_TOP/src" "$FPR_TOP/include" "$work/"
mkdir -p "$work/tests"
cp -r "$FPR_TOP/tests/modules" "$work/tests/"

if [ "$series" = 7.2 ]; then
	root=$("$FPR_TOP/scripts/sid-chroot.sh")
	# Debian's headers lack the script with which 6.19+ checks that
	# sparse knows typeof_unqual (without it C=2 quietly runs no sparse):
	# supply one that does that check
	valid=$root$kdir/../linux-headers-${krel%-amd64}-common/scripts/checker-valid.sh
	if [ ! -x "$valid" ]; then
		cat > "$valid" <<'EOS'
#!/bin/sh
# virtio-fpr: stands in for the kernel's scripts/checker-valid.sh
printf 'int x; __typeof_unqual__(x) y;\n' > /tmp/fpr-checker.c
"$@" -Wno-decl /tmp/fpr-checker.c 2>&1 | grep -q . || echo 1
rm -f /tmp/fpr-checker.c
EOS
		chmod +x "$valid"
	fi
	rm -rf "$root/build/$krel"
	mkdir -p "$root/build"
	cp -r "$work" "$root/build/$krel"
	# objtool reads /proc: mount it in a private mount namespace
	for d in src tests/modules; do
		# shellcheck disable=SC2016 # expanded by the inner shell
		unshare -m /bin/sh -c \
			'mount -t proc proc "$0/proc" && exec chroot "$0" make "$@"' \
			"$root" -C "$kdir" M="/build/$krel/$d" "$@" modules
	done
	rm -rf "$work"
	cp -r "$root/build/$krel" "$work"
else
	for d in src tests/modules; do
		make -C "$kdir" M="$work/$d" "$@" modules
	done
fi
cp "$work"/src/*.ko "$work"/tests/modules/*.ko "$out/"
echo "$out"
