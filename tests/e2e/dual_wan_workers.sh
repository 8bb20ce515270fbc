#!/usr/bin/env bash
# The dual-WAN edge (dual_wan.sh) with two workers sharing the SNAT port space.
# The ISP ports are AF_PACKET with two queues, whose fanout hashes each reply to
# a queue whatever worker sent the flow, so about half of the replies reach the
# worker that does not hold their binding and must be steered to the one that
# does (docs/edge.md). Without steering about half the connections fail.
exec env DUAL_WAN_WORKERS=2 bash "$(dirname "$0")/dual_wan.sh"
