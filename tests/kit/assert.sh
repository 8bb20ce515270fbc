#!/usr/bin/env bash
# Tiny assertion helpers for the end-to-end tests.
E2E_FAILS=0
pass() { printf '  ok    %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; E2E_FAILS=$((E2E_FAILS + 1)); }
check() { # check DESCRIPTION CMD...
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
contains() { # contains HAYSTACK NEEDLE
    case "$1" in *"$2"*) return 0 ;; *) printf '        expected to find: %s\n        in: %s\n' "$2" "$1"; return 1 ;; esac
}
finish() {
    if [ "$E2E_FAILS" -ne 0 ]; then echo "$E2E_FAILS check(s) failed"; exit 1; fi
    echo "all checks passed"
}
