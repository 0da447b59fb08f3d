#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# All tests: static checks (scripts/lint.sh), the QEMU suite on every
# target kernel (tests/qemu/suite.py), the debug-kernel scenarios on our
# KASAN/lockdep/kmemleak build of 6.1 (scripts/debug-kernel.sh; built once
# and cached, in the background at the lowest priority while the rest
# runs) and the DKMS/Debian packaging test (tests/dkms/test-dkms.sh).
# Installs what it needs. Ends with "N passed, N failed" summed over all
# of them, and the total time.
#   tests/run-all.sh [--all]
# make check and make check-all: the jobs below (lint per arch, the suite
# per kernel, packaging, the debug scenarios) run on two workers, one per
# host core, each taking the next job in the list when it is free.
# --all (make check-all) runs every scenario on every kernel of both
# arches, and the long ones too; see suite.py for what make check runs
# where.
#   tests/run-all.sh --series 5.10,6.1,... [--only main,...]
# one worker: lint, the QEMU suite's selection, packaging; the debug
# scenarios beside them.
#   tests/run-all.sh --debug [6.1|6.12]
# runs only the whole QEMU suite on the debug kernel of that series (make
# check-debug [DEBUG_SERIES=6.12], 3 to 4 hours; two timings are not
# asserted there, see README).
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

fpr_need qemu-system-x86 qemu-system-arm python3 make gcc busybox-static cpio kmod

# The jobs: lint per arch, the suite per kernel (suite.py --list: the
# kernels with more scenarios first, so that the two workers end
# together), packaging, and the debug scenarios last: beside a slow debug
# guest, timings in the suites have less margin (docs/testing.md)
job_list() { # [--all]
	local kernels k

	kernels=$("$FPR_TOP/tests/qemu/suite.py" --list "$@") ||
		die "tests/qemu/suite.py --list $* failed"
	[ -n "$kernels" ] || die "tests/qemu/suite.py --list $* named no kernel"
	echo lint-amd64
	echo lint-arm64
	for k in $kernels; do
		echo "suite-$k"
	done
	echo dkms
	echo debug
}

# A job that has not ended after this long is killed, with its guests
# (make check's longest takes about 20 min; make check-all's a few hours)
JOB_LIMIT=${FPR_JOB_LIMIT:-100m}
[ "$*" != --all ] || JOB_LIMIT=${FPR_JOB_LIMIT:-6h}

start=$(date +%s)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Interrupted: stop the jobs (each in a process group of its own, under
# timeout, which passes the signal on to it), the workers and the build
on_signal() {
	local f

	trap '' INT TERM
	for f in "$logs"/.pid-*; do
		[ ! -e "$f" ] || kill -TERM "$(cat "$f")" 2>/dev/null
	done
	kill -TERM 0
	exit 130
}
trap on_signal INT TERM

# The debug kernel builds (once, about 20 min of a core) at the lowest
# priority, in the background; the debug job waits for it
build_debug() {
	local build_log=$FPR_CACHE/debug-kernel-build.log rc=0

	nice -n 19 "$FPR_TOP/scripts/debug-kernel.sh" > "$build_log" 2>&1 ||
		rc=$?
	[ "$rc" = 0 ] ||
		tail -20 "$build_log" | sed 's/^/    /' > "$logs/.debug-failed"
	echo "$rc" > "$logs/.debug-built.new"
	mv "$logs/.debug-built.new" "$logs/.debug-built"
}

# Wait for the debug kernel (3 h at most); false if it was not built
debug_built() {
	for _ in $(seq 2160); do
		[ -e "$logs/.debug-built" ] || ! kill -0 "$build_pid" 2>/dev/null &&
			break
		sleep 5
	done
	[ "$(cat "$logs/.debug-built" 2>/dev/null)" = 0 ] && return
	echo "FAIL debug-kernel/build: scripts/debug-kernel.sh failed:"
	cat "$logs/.debug-failed" 2>/dev/null
	echo "0 passed, 1 failed"
	return 1
}

# One job, killed with its guests after JOB_LIMIT. The debug kernel's
# scenarios that make check runs run at the workers' priority (niced, a
# debug guest once did not boot in time; docs/testing.md)
run_job() { # job [suite.py arguments]
	local job=$1 cmd rc=0
	shift

	case $job in
	lint-*) cmd=("$FPR_TOP/scripts/lint.sh" --arch "${job#lint-}") ;;
	suite-*) cmd=("$FPR_TOP/tests/qemu/suite.py" --series "${job#suite-}"
		"$@") ;;
	dkms) cmd=("$FPR_TOP/tests/dkms/test-dkms.sh") ;;
	debug)
		debug_built || return 0
		cmd=("$FPR_TOP/tests/qemu/suite.py" --series 6.1-debug
			--only "${FPR_DEBUG_ONLY:-exercise,bad_load}")
		;;
	esac
	timeout --kill-after=60 "$JOB_LIMIT" "${cmd[@]}" &
	echo $! > "$logs/.pid-$job"
	wait $! || rc=$?
	rm -f "$logs/.pid-$job"
	[ "$rc" != 124 ] || echo "FAIL $job: not done in $JOB_LIMIT, killed"
	return "$rc"
}

# The last "N passed, N failed" line of a log, if any
result_line() {
	grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1
}

# Take the first job of the queue; false once it is empty
next_job() {
	local fd

	exec {fd}> "$logs/.queue.lock"
	flock "$fd"
	job=$(head -n 1 "$logs/.queue")
	sed -i 1d "$logs/.queue"
	exec {fd}>&-
	[ -n "$job" ]
}

# A worker: jobs until none is left; each job's log is printed whole
# once it has ended. A job that exits with an error but counted no
# failure (or was killed) gets one of its own
worker() { # number [suite.py arguments]
	local n=$1 t0 job fd rc
	shift

	while next_job; do
		t0=$(date +%s)
		echo "# $job started (worker $n, $(( (t0 - start) / 60 )) min in)"
		rc=0
		run_job "$job" "$@" > "$logs/$job" 2>&1 || rc=$?
		if [ "$rc" != 0 ] &&
			result_line "$logs/$job" | grep -q ' 0 failed$'; then
			printf 'FAIL %s: exited with status %s\n0 passed, 1 failed\n' \
				"$job" "$rc" > "$logs/$job-status"
		fi
		exec {fd}> "$logs/.print.lock"
		flock "$fd"
		cat "$logs/$job" "$logs/$job-status" 2>/dev/null
		echo "# $job took $(($(date +%s) - t0)) s (worker $n, ended" \
			"$(( ($(date +%s) - start) / 60 )) min in)"
		exec {fd}>&-
	done
}

if [ "${1:-}" = --debug ]; then
	"$FPR_TOP/tests/qemu/suite.py" --series "${2:-6.1}-debug" 2>&1 |
		tee "$logs/suite-debug"
elif [ $# = 0 ] || [ "$*" = --all ]; then
	job_list "$@" > "$logs/.queue" || exit 1
	# A job that never ran leaves an empty log: counted as failed
	while read -r job; do
		: > "$logs/$job"
	done < "$logs/.queue"
	build_debug &
	build_pid=$!
	worker 1 "$@" &
	worker1=$!
	worker 2 "$@"
	wait "$worker1"
	wait "$build_pid"
else
	# one worker, the debug scenarios beside it
	: > "$logs/debug"
	build_debug &
	build_pid=$!
	(run_job debug > "$logs/debug" 2>&1) &
	debug_pid=$!
	"$FPR_TOP/scripts/lint.sh" 2>&1 | tee "$logs/lint"
	"$FPR_TOP/tests/qemu/suite.py" "$@" 2>&1 | tee "$logs/suite"
	"$FPR_TOP/tests/dkms/test-dkms.sh" 2>&1 | tee "$logs/dkms"
	wait "$debug_pid"
	cat "$logs/debug"
fi

passed=0
failed=0
for f in "$logs"/*; do
	line=$(result_line "$f")
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
