#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# All tests: static checks (scripts/lint.sh), the QEMU suite on every
# target kernel (tests/qemu/suite.py), the debug-kernel scenarios on our
# KASAN/lockdep/kmemleak build of 6.1 (scripts/debug-kernel.sh; built once
# and cached, about 20 min, in the background while the rest runs) and the
# DKMS/Debian packaging test
# (tests/dkms/test-dkms.sh). Installs what it needs. Ends with
# "N passed, N failed" summed over all of them.
#   tests/run-all.sh [--all] [--series 5.10,6.1,6.12-trixie,7.2] [--only main,...]
# The default series include arm64: most of CORE on 6.1-arm64 and
# 7.2-arm64-16k (--all: every scenario on all six arm64 targets), built
# and run beside the amd64 ones; see suite.py.
# With arguments, only the QEMU suite's selection changes: by default the
# long scenarios (suite.py's LONG) run on one or two kernels each, --all
# (make check-all) runs them on every kernel.
#   tests/run-all.sh --debug [6.1|6.12]
# runs only the whole QEMU suite on the debug kernel of that series (make
# check-debug [DEBUG_SERIES=6.12], 3 to 4 hours; two timings are not
# asserted there, see README).
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

fpr_need qemu-system-x86 qemu-system-arm python3 make gcc busybox-static cpio kmod

# The amd64 kernels that make check runs in the second lane, after
# arm64's two targets: 5.10 (CORE only, 14 min), and then the debug
# scenarios (15 to 20 min); make check-all, with six arm64 targets in
# that lane, runs all of them in the first
SECOND_LANE=5.10
[ "$*" != --all ] || SECOND_LANE=

start=$(date +%s)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
if [ "${1:-}" = --debug ]; then
	"$FPR_TOP/tests/qemu/suite.py" --series "${2:-6.1}-debug" 2>&1 |
		tee "$logs/suite-debug"
else
	# The debug kernel builds (once, about 20 min of both cores) at the
	# lowest priority while the other tests run; then its scenarios
	# (about 15 min of slow guests whose timings are not asserted) run
	# once the second lane is done, on its core, at the first lane's
	# priority: niced beside the first lane (as the second lane is) a
	# debug guest once did not boot in time (docs/testing.md). Not
	# stall: on a core of its own it took over 20 min (make check-debug
	# runs it), which would take make check past 80 min there
	build_log=$FPR_CACHE/debug-kernel-build.log
	(
		if nice -n 19 "$FPR_TOP/scripts/debug-kernel.sh" \
			> "$build_log" 2>&1; then
			# 3 h at most (files from "." are no results)
			for _ in $(seq 2160); do
				[ -e "$logs/.lane2-done" ] && break
				sleep 5
			done
			"$FPR_TOP/tests/qemu/suite.py" \
				--series 6.1-debug \
				--only "${FPR_DEBUG_ONLY:-exercise,bad_load}"
		else
			echo "FAIL debug-kernel/build: scripts/debug-kernel.sh failed:"
			tail -20 "$build_log" | sed 's/^/    /'
			echo "0 passed, 1 failed"
		fi
	) > "$logs/suite-debug" 2>&1 &
	debug_pid=$!
	if [ $# = 0 ] || [ "$*" = --all ]; then
		# A step that never ran leaves an empty log: counted as failed
		: > "$logs/suite-arm64"
		[ -z "$SECOND_LANE" ] || : > "$logs/suite-second"
		# arm64 (cross-built, its own guests): its builds and scenarios
		# run beside the amd64 ones, on the other core, and then
		# SECOND_LANE's amd64 kernels
		(
			nice -n 5 "$FPR_TOP/scripts/lint.sh" --arch arm64 \
				> "$logs/lint-arm64" 2>&1
			nice -n 5 "$FPR_TOP/tests/qemu/suite.py" --arch arm64 "$@" \
				> "$logs/suite-arm64" 2>&1
			[ -z "$SECOND_LANE" ] ||
				nice -n 5 "$FPR_TOP/tests/qemu/suite.py" \
					--series "$SECOND_LANE" "$@" \
					> "$logs/suite-second" 2>&1
			touch "$logs/.lane2-done"
		) &
		arm64_pid=$!
		"$FPR_TOP/scripts/lint.sh" --arch amd64 2>&1 | tee "$logs/lint"
		"$FPR_TOP/tests/qemu/suite.py" --arch amd64 \
			--skip "$SECOND_LANE" "$@" 2>&1 |
			tee "$logs/suite"
		wait "$arm64_pid"
		cat "$logs/lint-arm64" "$logs/suite-arm64"
		[ -z "$SECOND_LANE" ] || cat "$logs/suite-second"
	else
		# one lane: the debug scenarios run beside it
		touch "$logs/.lane2-done"
		"$FPR_TOP/scripts/lint.sh" 2>&1 | tee "$logs/lint"
		"$FPR_TOP/tests/qemu/suite.py" "$@" 2>&1 | tee "$logs/suite"
	fi
	# while the debug scenarios may still run (on a new machine they
	# start only once their kernel is built, 55 min in)
	"$FPR_TOP/tests/dkms/test-dkms.sh" 2>&1 | tee "$logs/dkms"
	wait "$debug_pid"
	cat "$logs/suite-debug"
fi

passed=0
failed=0
for f in "$logs"/*; do
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$f" | tail -1)
	if [ -z "$line" ]; then
		echo "FAIL $(basename "$f"): ended without a result line"
		failed=$((failed + 1))
		continue
	fi
	read -r p _ f _ <<< "$line"
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "# total time $(( ($(date +%s) - start) / 60 )) min"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
