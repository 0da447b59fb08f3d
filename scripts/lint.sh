#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style and static checks, one result line each and a closing
# "N passed, N failed":
#   checkpatch.pl --strict (from Debian's linux-source package)
#   W=1 and sparse (C=2) builds against every target kernel ($FPR_SERIES
#   and the arm64 ones, $FPR_SERIES_ARM64: cross-built)
#   ShellCheck on the scripts (tools/virtio-fpr also as POSIX sh),
#   python3 -m py_compile and flake8 on the harness, groff/man warnings on
#   the man page
#   scripts/lint.sh [--arch amd64|arm64]: only the builds for that arch
#   (with amd64, the other checks too); make check runs the two at once
set -uo pipefail
. "$(dirname "$0")/lib.sh"

arch=all
if [ "${1:-}" = --arch ]; then
	arch=${2:?usage: $0 [--arch amd64|arm64]}
fi
case $arch in
all) targets="$FPR_SERIES $FPR_SERIES_ARM64" ;;
amd64) targets=$FPR_SERIES ;;
arm64) targets=$FPR_SERIES_ARM64 ;;
*) die "unknown arch $arch" ;;
esac

result() { # name status log-file: the log is shown when it failed
	fpr_result "lint/$1" "$2"
	[ "$2" = 0 ] || sed 's/^/    /' "$3" | head -40
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# checkpatch.pl and its data files, from Debian's linux-source package
checkpatch() {
	local dir=$FPR_CACHE/checkpatch deb tarball
	if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
		fpr_need perl xz-utils
		rm -rf "$dir" && mkdir -p "$dir"
		fpr_apt_update
		(cd "$dir" && apt-get download -q linux-source >/dev/null 2>&1 &&
		 apt-get download -q "$(apt-cache depends linux-source |
			awk '/Depends: linux-source-/ { print $2; exit }')" >/dev/null 2>&1) ||
			die "cannot download linux-source"
		deb=$(ls "$dir"/linux-source-[0-9]*.deb)
		tarball=$(dpkg-deb -c "$deb" | awk '/\.tar\.xz$/ { print $6 }')
		dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" |
			tar -xJ -C "$dir" --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch'
		rm -f "$dir"/*.deb
	fi
	echo "$dir/scripts/checkpatch.pl"
}

cd "$FPR_TOP" || exit 1
checkpatch_all() {
	local cp files
	cp=$(checkpatch)
	if git rev-parse --git-dir >/dev/null 2>&1; then
		mapfile -t files < <(git ls-files --cached --others --exclude-standard \
			'src/*.[ch]' 'include/*.h' 'tests/modules/*.c')
	else
		mapfile -t files < <(find src include tests/modules -name '*.[ch]' \
			! -name '*.mod.c')
	fi
	"$cp" --strict --no-tree --quiet --show-types -f "${files[@]}" > "$log" 2>&1
	result checkpatch-strict $? "$log"
}
[ "$arch" = arm64 ] || checkpatch_all

# C=2 runs the host's sparse (6.1, 6.12), or that of the target's chroot
# (5.10, 6.12-trixie, 7.2: scripts/chroot.sh), for amd64 and arm64
fpr_need sparse
for series in $targets; do
	"$FPR_TOP/scripts/build.sh" "$series" W=1 C=2 > "$log" 2>&1
	status=$?
	# sparse and the compiler both say "warning:" or "error:"; kbuild
	# says when it skipped sparse
	if grep -E "(warning|error):|is not available or not up to date" \
		"$log" | grep -v "^make" >/dev/null; then
		status=1
	fi
	result "build-$series-W1-sparse" "$status" "$log"
done

if [ "$arch" = arm64 ]; then
	fpr_summary
	exit
fi
fpr_need shellcheck python3
(cd "$FPR_TOP" && shellcheck -x -e SC1091 scripts/*.sh tests/*.sh \
	tests/*/*.sh tests/guest/init .ci/run tools/virtio-fpr) > "$log" 2>&1
result shellcheck $? "$log"
# The status command runs under dash and busybox ash too: POSIX sh only
(cd "$FPR_TOP" && shellcheck -s sh tools/virtio-fpr && sh -n tools/virtio-fpr) \
	> "$log" 2>&1
result shellcheck-posix-sh $? "$log"
(cd "$FPR_TOP" && python3 -m py_compile tests/*/*.py) > "$log" 2>&1
result python-compile $? "$log"
fpr_need flake8
(cd "$FPR_TOP" && flake8 tests/) > "$log" 2>&1
result flake8 $? "$log"

fpr_need groff-base man-db
(cd "$FPR_TOP" && groff -ww -z -man man/virtio-fpr.8 &&
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l man/virtio-fpr.8) 2>&1 \
	>/dev/null | tee "$log" | grep -q . && status=1 || status=0
result man-page "$status" "$log"

fpr_summary
