#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Packaging test, on this machine (root, Debian 12), as a user would:
#   build the .deb from a clean copy, lintian; install it with the 6.1
#   headers present (DKMS builds for 6.1); install the 6.12 headers from
#   bookworm-backports (DKMS rebuilds by itself); boot 6.12 under QEMU with
#   the DKMS-built module; kernels without CONFIG_PAGE_REPORTING or older
#   than 6.1 get a skip message; the build is signed with DKMS's MOK key;
#   the virtio-fpr command and its man page are installed; purge leaves
#   nothing behind.
# Ends with "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

check() { # name status detail
	fpr_result "dkms/$1" "$2" "$3"
}
finish() {
	fpr_summary
	exit
}

export DEBIAN_FRONTEND=noninteractive
fpr_need dkms dh-dkms debhelper dpkg-dev fakeroot lintian linux-headers-amd64 \
	build-essential dwarves
pkg=virtio-fpr-dkms
name=virtio-fpr
version=$(awk -F'[()]' 'NR == 1 { print $2 }' "$FPR_TOP/debian/changelog")
k61=$("$FPR_TOP/scripts/kernel.sh" krel 6.1)
k612=$("$FPR_TOP/scripts/kernel.sh" krel 6.12)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Build from a clean copy of the tree (tracked and new files only).
mkdir -p "$work/$name"
(cd "$FPR_TOP" && { git ls-files -co --exclude-standard 2>/dev/null ||
	find . -path ./build -prune -o -path ./.git -prune -o -type f -print; } |
	grep -v '^build/' | cpio -pdm --quiet "$work/$name")
(cd "$work/$name" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1
deb=$(ls "$work"/${pkg}_*_all.deb 2>/dev/null)
check deb-build "$([ -n "$deb" ]; echo $?)" "dpkg-buildpackage -us -uc -b: $(basename "${deb:-none}")"
[ -n "$deb" ] || { tail -20 "$work/build.log"; finish; }
lintian "$work"/*.changes > "$work/lintian.log" 2>&1
errors=$(grep -c '^E:' "$work/lintian.log")
check lintian "$([ "$errors" = 0 ]; echo $?)" \
	"$errors errors, $(grep -c '^W:' "$work/lintian.log") warnings"

# Start from a machine without the package and without the 6.12 headers,
# so that installing them must trigger DKMS.
apt-get purge -y -qq "$pkg" >/dev/null 2>&1
apt-get remove -y -qq "linux-headers-$k612" >/dev/null 2>&1

# 2. Install with the 6.1 headers present.
apt-get install -y -qq "$deb" > "$work/install.log" 2>&1
st=$(dkms status "$name/$version" -k "$k61" 2>/dev/null)
ko61=$(ls /lib/modules/"$k61"/updates/dkms/virtio_fpr.ko* 2>/dev/null)
check install-6.1 "$([[ $st == *installed* ]] && [ -n "$ko61" ]; echo $?)" \
	"dkms status: ${st:-nothing}"
check modprobe.d "$([ -f /usr/lib/modprobe.d/virtio-fpr.conf ] &&
	modprobe -n --show-config 2>/dev/null | grep -q 'blacklist virtio_balloon'; echo $?)" \
	"/usr/lib/modprobe.d/virtio-fpr.conf blacklists virtio_balloon"

# Debian's dkms signs what it builds with its MOK key (created at the first
# build): the signature names that key (docs/secure-boot.md)
key=/var/lib/dkms/mok.pub
signer=$(modinfo -F signer "$ko61" 2>/dev/null)
sig_key=$(modinfo -F sig_key "$ko61" 2>/dev/null | tr -d ':' | tr 'a-f' 'A-F')
serial=$(openssl x509 -inform DER -in "$key" -noout -serial 2>/dev/null |
	sed 's/^serial=//' | tr 'a-f' 'A-F' | sed 's/^0*//')
subject=$(openssl x509 -inform DER -in "$key" -noout -subject 2>/dev/null)
check dkms-signed "$([ "$(modinfo -F sig_id "$ko61" 2>/dev/null)" = 'PKCS#7' ] &&
	[ -n "$signer" ] && [[ $subject == *"$signer"* ]] &&
	[ -n "$serial" ] && [ "${sig_key#"${sig_key%%[!0]*}"}" = "$serial" ]; echo $?)" \
	"signer \"${signer:-none}\", key $sig_key = $key ($serial)"
man -w virtio-fpr > /dev/null 2>&1
man=$?
/usr/sbin/virtio-fpr > "$work/status.log" 2>&1
rc=$?
check status-command "$([ $man = 0 ] && [ $rc = 2 ] &&
	grep -q 'not loaded' "$work/status.log"; echo $?)" \
	"/usr/sbin/virtio-fpr and virtio-fpr(8) installed; here (module not loaded): exit $rc"

# 3. Install the 6.12 image and headers from bookworm-backports: the dkms
#    kernel hooks must build for 6.12 without being asked.
fpr_aptx_update
debs=$work/k612
mkdir -p "$debs"
for p in "linux-image-$k612" "linux-headers-$k612" \
	 "linux-headers-${k612%-amd64}-common" "linux-kbuild-${k612%-amd64}"; do
	(cd "$debs" && fpr_aptx apt-get download -q "$p" >/dev/null 2>&1)
done
apt-get install -y -qq "$debs"/*.deb > "$work/k612.log" 2>&1
st=$(dkms status "$name/$version" -k "$k612" 2>/dev/null)
check rebuild-6.12 "$([[ $st == *installed* ]]; echo $?)" \
	"after installing the 6.12 headers: ${st:-nothing}"
echo "    dkms status: $(dkms status "$name" | tr '\n' ';')"

# 4. Boot 6.12 under QEMU with the module DKMS built.
kodir=$work/ko612
mkdir -p "$kodir"
cp /lib/modules/"$k612"/updates/dkms/virtio_fpr.ko* "$kodir/" 2>/dev/null
"$FPR_TOP/tests/qemu/boot_ko.py" --series 6.12 --ko-dir "$kodir" \
	> "$work/boot.log" 2>&1
check qemu-6.12 $? "$(tail -1 "$work/boot.log")"

# 5. Kernels DKMS must skip with a message, not a compiler error. In a
#    private DKMS tree, so the system's builds stay as they are.
alt=$work/dkmstree
mkdir -p "$alt"
dkms add "$name/$version" --dkmstree "$alt" > "$work/skip0.log" 2>&1
fake=$work/fake-headers
cp -a "/usr/src/linux-headers-$k61/." "$fake/"
sed -i 's/^CONFIG_PAGE_REPORTING=y/# CONFIG_PAGE_REPORTING is not set/' "$fake/.config"
dkms build "$name/$version" -k "$k61" --kernelsourcedir "$fake" \
	--dkmstree "$alt" > "$work/skip1.log" 2>&1
rc=$?
check skip-no-page-reporting "$([ $rc = 77 ] && grep -q BUILD_EXCLUSIVE "$work/skip1.log" &&
	! grep -q 'error:' "$work/skip1.log"; echo $?)" \
	"rc $rc: $(grep -m1 -i 'exclusive\|not compatible' "$work/skip1.log")"
dkms build "$name/$version" -k 5.4.0-99-amd64 --dkmstree "$alt" \
	--kernelsourcedir "/usr/src/linux-headers-$k61" > "$work/skip2.log" 2>&1
rc=$?
check skip-too-old "$([ $rc = 77 ] && grep -q BUILD_EXCLUSIVE "$work/skip2.log"; echo $?)" \
	"rc $rc: $(grep -m1 -i 'exclusive\|not compatible' "$work/skip2.log")"

# 6. Purge: nothing left.
apt-get purge -y -qq "$pkg" > "$work/purge.log" 2>&1
left=$(ls -d /var/lib/dkms/"$name" /usr/src/"$name"-* \
	/lib/modules/*/updates/dkms/virtio_fpr.ko* \
	/usr/lib/modprobe.d/virtio-fpr.conf /usr/sbin/virtio-fpr \
	/usr/share/man/man8/virtio-fpr.8* 2>/dev/null)
check purge "$([ -z "$left" ]; echo $?)" "left behind: ${left:-nothing}"
finish
