#!/usr/bin/env bash
# The preamble of every end-to-end test. A test starts with
#
#   source "$(dirname "$0")/../kit/e2e.sh"
#
# and then has: strict mode; HERE (the test's folder) and ROOT (the checkout);
# the lab (deploy/lab/lib.sh: lab_init, lab_config, lab_up, lab_metric,
# lab_metric_sum, ...); the checks (check, contains, pass, fail, finish);
# FLOWS (deploy/lab/flows.py) and LAB_TOOLS (deploy/lab); and, once
# lab_init has picked the port, ctl (ecmpctl against the lab's router).
#
# scripts/test.sh finds the tests by their file names (tests/e2e/*.sh):
# adding a test is adding a file.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_TOOLS=$ROOT/deploy/lab
FLOWS="python3 $LAB_TOOLS/flows.py"
source "$LAB_TOOLS/lib.sh"
source "$ROOT/tests/kit/assert.sh"

# ctl ARGS: ecmpctl against the lab router's API.
ctl() { "$ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT" "$@"; }
