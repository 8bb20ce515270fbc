#!/usr/bin/env bash
# The leaf with BIRD 2 instead of FRR (issue 14): deploy/examples/leaf-bird.yaml
# and bird/leaf-bird.conf, unmodified but for the lab's devices. BIRD peers
# with the spines through the router's ports and writes its ECMP route into
# the kernel's table, which the router mirrors (kernel-routes). The checks
# are tests/e2e/leaf_bgp.sh's.
exec env LEAF_DAEMON=bird bash "$(dirname "$0")/leaf_bgp.sh"
