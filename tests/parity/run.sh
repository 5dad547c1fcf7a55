#!/usr/bin/env bash
# run.sh — PostgreSQL vs SQLite parity on the fixtures, against the running test cluster
# (PGHOST/PGPORT from scripts/lib/cluster.sh) and build/sqlite/relvec.so. Uses a database of
# its own, relvec_parity, dropped at the end. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3      # Debian's python3: its sqlite3 module can load extensions
tmp=$(mktemp -d /tmp/relvec-parity.XXXXXX)
trap 'rm -rf "$tmp"; psql -q -X -d postgres -c "DROP DATABASE IF EXISTS relvec_parity" >/dev/null 2>&1' EXIT
PGOPTIONS="-c client_min_messages=warning" psql -q -X -d postgres -c "DROP DATABASE IF EXISTS relvec_parity" -c "CREATE DATABASE relvec_parity" || exit 1
psql -q -X -d relvec_parity -c "CREATE EXTENSION relvec" || exit 1
bash tests/load-fixtures.sh relvec_parity || exit 1
$PY tests/sqlite/fixtures.py "$tmp/fixtures.db" || exit 1
$PY tests/parity/parity.py relvec_parity build/sqlite/relvec.so "$tmp/fixtures.db"
