#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Create (once) and print the path of a Debian sid chroot that holds the
# newest sid kernel headers and the gcc they need. Cached under $FPR_CACHE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root=$FPR_CACHE/sid-chroot
if [ -f "$root/.fpr-ready" ]; then
	echo "$root"
	exit 0
fi

fpr_need mmdebstrap debian-archive-keyring
mirror=$(fpr_mirror)
[ -n "$mirror" ] || die "no Debian mirror in the apt configuration"

rm -rf "$root" "$root.tmp"
log "building sid chroot in $root (one time, a few minutes)"
mmdebstrap --quiet --variant=apt --mode=root \
	--aptopt='Acquire::Check-Valid-Until "false"' \
	--include=linux-headers-amd64,make,sparse,dwarves,kmod,xz-utils,zstd \
	sid "$root.tmp" "deb $mirror sid main" >&2
mv "$root.tmp" "$root"
touch "$root/.fpr-ready"
echo "$root"
