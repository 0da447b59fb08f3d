#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: installs what it needs and runs the reclaim benchmark.
#   tests/bench/bench.sh [--series 6.1|6.12|7.2] [--tuned-order N] [--churn-only]
#   [--faults-only] [--scale-only [--scale GUEST_MIB:FREED_MIB,...]]
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
fpr_need qemu-system-x86 python3 make gcc busybox-static cpio kmod gnuplot-nox
exec "$FPR_TOP/tests/bench/bench.py" "$@"
