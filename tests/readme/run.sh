#!/usr/bin/env bash
# run.sh — the README doc test: every fenced code block of README.md, in order, as written,
# against a throwaway cluster with relvec installed and the fixtures loaded (TAP; one test
# per block). The convention for which tool runs a block, and how the figures the README
# states are checked, is at the top of tests/readme/readme.py. The top block's demo installs
# the extension again, so run it alone under the install lock:
#   flock /tmp/relvec-install.lock bash -c 'make -s install >/dev/null && bash tests/readme/run.sh'
# An argument names another file to run instead of README.md (to test the test).
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh
for f in build/relvec build/sqlite/relvec.so; do
	[ -e "$f" ] || { echo "Bail out! $f is not built (make)"; exit 1; }
done
T=$(mktemp -d /tmp/relvec-readme.XXXXXX)
rv_cluster_start >/dev/null || { rm -rf "$T"; echo "Bail out! cannot start a cluster"; exit 1; }
# after rv_cluster_start, whose own trap this replaces
trap 'rv_cluster_stop; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
# the README's connection strings name the database "shop"
psql -q -X -d postgres -c "CREATE DATABASE shop" || { echo "Bail out! cannot create the database"; exit 1; }
export PGDATABASE=shop
python3 tests/readme/readme.py "${1:-README.md}" "$T"
