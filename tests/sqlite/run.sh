#!/usr/bin/env bash
# run.sh — the SQLite suite: builds the fixtures database, runs every tests/sqlite/*.sql
# through runner.py (Python's sqlite3 with load_extension) and checks that the extension
# also loads with .load in the sqlite3 shell. Prints TAP; exits nonzero on any failure.
# RELVEC_SQLITE_EXT names another build of the extension (make asan-test: build/asan/).
set -uo pipefail
cd "$(dirname "$0")/../.."
EXT=${RELVEC_SQLITE_EXT:-build/sqlite/relvec.so}
PY=/usr/bin/python3      # Debian's python3: its sqlite3 module can load extensions
[ -f "$EXT" ] || { echo "not ok 1 - $EXT is not built (run make)"; exit 1; }
tmp=$(mktemp -d /tmp/relvec-sqlite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
status=0

echo "# loading"
out=$(sqlite3 :memory: ".load ${EXT%.so}" "SELECT embedding_text(l2_normalize('[3,4]'));" 2>&1)
if [ "$out" = "[0.6,0.8]" ]; then echo "ok 1 - .load ${EXT%.so} in the sqlite3 shell"
else echo "not ok 1 - .load ${EXT%.so} in the sqlite3 shell"; echo "#   got: $out"; status=1; fi
out=$($PY -c "
import sqlite3
db = sqlite3.connect(':memory:')
db.enable_load_extension(True)
db.load_extension('${EXT%.so}')
print(db.execute(\"SELECT embedding_l2_squared_distance('[1,2,3]', '[4,6,8]')\").fetchone()[0])
" 2>&1)
if [ "$out" = "50.0" ]; then echo "ok 2 - load_extension in Python's sqlite3"
else echo "not ok 2 - load_extension in Python's sqlite3"; echo "#   got: $out"; status=1; fi
out=$(sqlite3 :memory: ".load ${EXT%.so}" ".load ${EXT%.so}" "SELECT embedding_dims('[1,2]');" 2>&1)
if [ "$out" = "2" ]; then echo "ok 3 - loading twice on one connection is harmless"
else echo "not ok 3 - loading twice on one connection is harmless"; echo "#   got: $out"; status=1; fi
# SQLite's printf is not C's: it has l and ll but no z, j, t or h length modifier, and its
# %z is "a string to free", so "%zu" frees the value it is given. Every format literal of
# a sqlite3_*printf call in the extension and the CLI must do without them.
out=$($PY - extension/sqlite/*.c extension/cli/*.c <<'PY' 2>&1
import re, sys
call = re.compile(r"\bsqlite3_(?:v?mprintf|v?snprintf|str_v?appendf)\s*\(")
bad = re.compile(r"%[-+ 0#!,]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:z|j|t|hh|h|L)[diouxXn]")
for path in sys.argv[1:]:
    text = open(path).read()
    for m in call.finditer(text):
        end = text.find(";", m.end())
        for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', text[m.end():end]):
            if bad.search(lit):
                print("%s:%d: %s" % (path, text.count("\n", 0, m.start()) + 1, lit))
PY
)
if [ -z "$out" ]; then echo "ok 4 - no C length modifier SQLite's printf lacks (z, j, t, h) in a sqlite3_*printf format"
else echo "not ok 4 - no C length modifier SQLite's printf lacks (z, j, t, h) in a sqlite3_*printf format"; echo "$out" | sed 's/^/#   /'; status=1; fi
echo "1..4"

$PY tests/sqlite/fixtures.py "$tmp/fixtures.db" || exit 1
$PY tests/sqlite/runner.py "$EXT" "$tmp/fixtures.db" tests/sqlite/[0-9]*.sql || status=1
exit $status
