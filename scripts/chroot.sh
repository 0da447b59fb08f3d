#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Create (once) and print the path of a Debian chroot of SUITE that holds
# kernel headers and the gcc and sparse they need, for the target kernels
# whose toolchain the host lacks (scripts/kernel.sh says which).
#   chroot.sh SUITE [KREL]   e.g. chroot.sh trixie 6.12.63+deb13-amd64
# With KREL, the chroot holds linux-headers-KREL (a chroot made for an
# older release is made anew); without it, the suite's newest headers.
# Cached under $FPR_CACHE/SUITE-chroot; the mirror is the one this
# machine's apt uses.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite=${1:?usage: $0 SUITE [KREL]}
krel=${2:-}
root=$FPR_CACHE/$suite-chroot
headers=linux-headers-${krel:-amd64}

ready() {
	[ -f "$root/.fpr-ready" ] &&
		{ [ -z "$krel" ] || [ -d "$root/usr/src/linux-headers-$krel" ]; }
}

if ready; then
	echo "$root"
	exit 0
fi
# Two builds may ask at once: one makes it, the other waits; and it is
# remade only once the builds in it (scripts/build.sh: shared) are done
exec 8>"$(fpr_chroot_lock "$suite")"
flock 8
if ready; then
	echo "$root"
	exit 0
fi

fpr_need mmdebstrap debian-archive-keyring
mirror=$(fpr_mirror)
[ -n "$mirror" ] || die "no Debian mirror in the apt configuration"

rm -rf "$root" "$root.tmp"
log "building $suite chroot in $root with $headers (one time, a few minutes)"
mmdebstrap --quiet --variant=apt --mode=root \
	--aptopt='Acquire::Check-Valid-Until "false"' \
	--include="$headers,make,sparse,dwarves,kmod,xz-utils,zstd" \
	"$suite" "$root.tmp" "deb $mirror $suite main" >&2
mv "$root.tmp" "$root"
touch "$root/.fpr-ready"
echo "$root"
