# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers: Debian mirror, extra suites, cache folder.
# Sourced by the other scripts; never names a host: the mirror is read
# from this machine's own apt configuration.

FPR_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FPR_CACHE=${FPR_CACHE:-$FPR_TOP/build/cache}
# Target kernel series, oldest first (scripts/kernel.sh maps them to suites)
export FPR_SERIES="5.10 6.1 6.12 6.12-trixie 7.2"
# The arm64 targets (cross-built; arm64-16k: 16 KiB pages)
export FPR_SERIES_ARM64="5.10-arm64 6.1-arm64 6.12-trixie-arm64
 6.12-trixie-arm64-16k 7.2-arm64 7.2-arm64-16k"
mkdir -p "$FPR_CACHE"

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

# The Debian mirror this machine's apt already uses for its own release.
fpr_mirror() {
	local codename
	codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
	# shellcheck disable=SC2016 # apt's own $(...) format fields
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v c="$codename" '$2 == c { print $1; exit }'
}

# Result lines of the shell test scripts, counted: "ok   NAME: DETAIL" or
# "FAIL NAME: DETAIL"; fpr_summary prints "N passed, N failed" and fails
# if anything did.
FPR_PASSED=0
FPR_FAILED=0
fpr_result() { # name status [detail]
	if [ "$2" = 0 ]; then
		echo "ok   $1${3:+: $3}"
		FPR_PASSED=$((FPR_PASSED + 1))
	else
		echo "FAIL $1${3:+: $3}"
		FPR_FAILED=$((FPR_FAILED + 1))
	fi
}

fpr_summary() {
	echo "$FPR_PASSED passed, $FPR_FAILED failed"
	[ "$FPR_FAILED" = 0 ]
}

# Install host packages that are missing (apt-get update once if needed).
fpr_need() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		die "need root to install: ${missing[*]}"
	fi
	# One install at a time: run-all.sh builds the debug kernel in the
	# background while the other tests install their packages. The
	# timeout: apt run by anything else (unattended-upgrades) is waited
	# for, not an error
	(
		flock 9
		apt-get update -qq || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o DPkg::Lock::Timeout=300 \
			--no-install-recommends "${missing[@]}" >/dev/null
	) 9> "$FPR_CACHE/.apt-install.lock"
}

# apt-get update of the host's lists, under fpr_need's lock: apt-get
# update does not wait for apt's locks (DPkg::Lock::Timeout leaves the
# lists out), and the other job's fpr_need fails on one held here
fpr_apt_update() {
	(
		flock 9
		apt-get update -qq || true
	) 9> "$FPR_CACHE/.apt-install.lock"
}

# Take the cache lock NAME ($FPR_CACHE/.NAME.lock) on fd 7, waiting 30 min
# at most (a download): two jobs or two checkouts sharing the cache may
# both fetch the same thing, one unpacks it and the other finds it ready.
# Release it with "exec 7>&-" once the thing is ready.
fpr_cache_lock() {
	exec 7>"$FPR_CACHE/.$1.lock"
	flock -w 1800 7 || die "$1: still locked after 30 min"
}

# The lock of SUITE's chroot (scripts/chroot.sh): exclusive to make it or
# write into it, shared to build in it (scripts/build.sh). Never ask for it
# while holding it: a shared holder that waits for the exclusive lock in
# a child waits for itself.
fpr_chroot_lock() {
	echo "$FPR_CACHE/.$1-chroot.lock"
}

# apt-get/apt-cache against the suites other than the host's, in a private
# state folder so the host's apt setup is untouched; amd64 and arm64
# (name arm64 packages as PKG:arm64), with a package cache of its own so
# that older checkouts (amd64 only) do not make apt rebuild it each time.
FPR_APTX=$FPR_CACHE/apt
FPR_APTX_SUITES="bullseye bookworm bookworm-backports trixie sid"
fpr_aptx_opts() {
	echo "-o Dir=$FPR_APTX -o Dir::State::status=$FPR_APTX/status" \
	     "-o Dir::Etc::trusted=/etc/apt/trusted.gpg" \
	     "-o Dir::Etc::trustedparts=/etc/apt/trusted.gpg.d" \
	     "-o Debug::NoLocking=1 -o APT::Sandbox::User=root" \
	     "-o Acquire::Check-Valid-Until=false" \
	     "-o APT::Architecture=amd64 -o APT::Architectures::=arm64" \
	     "-o Dir::Cache::pkgcache=pkgcache-arm64.bin" \
	     "-o Dir::Cache::srcpkgcache=srcpkgcache-arm64.bin"
}

fpr_aptx_update() {
	# make check's amd64 and arm64 halves may both get here first
	(
		flock 6
		# fpr_aptx under it (here or in a child) must not ask for the
		# shared lock: a new request on the same file waits for us
		FPR_APTX_LOCKED=1 fpr_aptx_update_locked
	) 6> "$FPR_CACHE/.aptx-update.lock"
}

fpr_aptx_update_locked() {
	local m s list stamp=$FPR_APTX/updated
	m=$(fpr_mirror)
	[ -n "$m" ] || die "no Debian mirror found in the apt configuration"
	list=$(for s in $FPR_APTX_SUITES; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $m $s main"
	done)
	# Refresh at most every 6 hours, when the list of suites changed, and
	# when an older checkout's update left out the arm64 lists
	if [ -f "$stamp" ] && [ -z "$(find "$stamp" -mmin +360)" ] &&
	   [ "$list" = "$(cat "$FPR_APTX/etc/apt/sources.list" 2>/dev/null)" ] &&
	   ls "$FPR_APTX"/var/lib/apt/lists/*_sid_main_binary-arm64_* >/dev/null 2>&1; then
		return 0
	fi
	mkdir -p "$FPR_APTX/etc/apt/sources.list.d" \
		 "$FPR_APTX/etc/apt/preferences.d" \
		 "$FPR_APTX/var/lib/apt/lists/partial" \
		 "$FPR_APTX/var/cache/apt/archives/partial"
	touch "$FPR_APTX/status"
	echo "$list" > "$FPR_APTX/etc/apt/sources.list"
	# shellcheck disable=SC2046
	apt-get $(fpr_aptx_opts) update -qq || die "apt update for extra suites failed"
	touch "$stamp"
}

fpr_aptx() {
	local cmd=$1
	shift
	if [ -n "${FPR_APTX_LOCKED:-}" ]; then
		# shellcheck disable=SC2046
		"$cmd" $(fpr_aptx_opts) "$@"
		return
	fi
	# The lists are read without apt's locks (Debug::NoLocking): a shared
	# lock keeps fpr_aptx_update (exclusive) from rewriting them meanwhile
	(
		flock -s 6
		# shellcheck disable=SC2046
		"$cmd" $(fpr_aptx_opts) "$@"
	) 6> "$FPR_CACHE/.aptx-update.lock"
}

# Download package $2 (from the extra suites unless SERIES is 6.1) to $3.
fpr_download() {
	local series=$1 pkg=$2 dir=$3
	mkdir -p "$dir"
	if [ "$series" = 6.1 ]; then
		(cd "$dir" && apt-get download -q "$pkg" >/dev/null) ||
			die "cannot download $pkg"
	else
		(cd "$dir" && fpr_aptx apt-get download -q "$pkg" >/dev/null) ||
			die "cannot download $pkg"
	fi
}

# Newest version of package $1 in suite $2 (one of FPR_APTX_SUITES).
fpr_suite_version() {
	fpr_aptx apt-cache madison "$1" |
		awk -F'|' -v s="$2/main" '$3 ~ " "s" " { gsub(/ /, "", $2); print $2; exit }'
}
