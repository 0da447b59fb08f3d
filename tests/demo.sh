#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo (make demo): installs what it needs, boots a guest with the
# module and shows freed guest memory going back to the host.
#   tests/demo.sh [--series 6.1|6.12|7.2]
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
fpr_need qemu-system-x86 python3 make gcc busybox-static cpio kmod
exec "$FPR_TOP/tests/qemu/demo.py" "$@"
