#!/usr/bin/env bash
# run.sh — tests of the offline command-line tool build/relvec against a throwaway
# PostgreSQL cluster with relvec installed (run it under the install lock:
#   flock /tmp/relvec-install.lock bash -c 'make -s install && bash tests/cli/run.sh').
# Pulls the Fashion-MNIST and word fixtures, the catalog and a table of mixed types into
# new SQLite files and checks every value against the server; checks that failed,
# refused and interrupted pulls and imports leave the file byte for byte as it was; runs
# kNN and stitched queries offline and compares them with the same queries on the server.
# TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh
RELVEC=$(pwd)/build/relvec
[ -x "$RELVEC" ] || { echo "Bail out! $RELVEC is not built (make)"; exit 1; }
T=$(mktemp -d /tmp/relvec-cli.XXXXXX)
DB=relvec_cli
n=0
failed=0

ok() {      # ok NAME COMMAND...: passes when the command succeeds
	local name=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=$((failed + 1)); fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# run CMD...: run the tool, keep its exit status in $rc and its stderr in $T/err
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
status_is() { [ "$rc" -eq "$1" ] || { echo "# exit status $rc, expected $1: $(head -c 400 "$T/err")"; return 1; }; }
err_has() { grep -qF -- "$1" "$T/err" || { echo "# stderr lacks '$1': $(head -c 400 "$T/err")"; return 1; }; }
fails_with() { status_is "$1" && err_has "$2"; }    # fails_with CODE TEXT
sha() { if [ -e "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo absent; fi; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
lite() { sqlite3 -batch "$1" "$2"; }

# Compare embeddings: $1 = file of "key|text form" lines from the server, $2 = SQLite file,
# $3 = SQLite query returning (key, blob). Equal when every blob is the bridge layout of
# exactly the float32 values the server prints (the text form reads back exactly).
same_embeddings() {
	python3 - "$@" <<'PY'
import sqlite3, struct, sys
want = {}
for line in open(sys.argv[1]):
    k, t = line.rstrip("\n").split("|", 1)
    want[k] = None if t == "" else [float(x) for x in t.strip("[]").split(",")]
rows = sqlite3.connect(sys.argv[2]).execute(sys.argv[3]).fetchall()
if len(rows) != len(want):
    sys.exit("# %d rows in SQLite, %d on the server" % (len(rows), len(want)))
for k, b in rows:
    v = want.get(str(k), "missing")
    if v is None and b is None:
        continue
    if v == "missing" or v is None or b is None:
        sys.exit("# key %s: %r vs %r" % (k, v, b))
    exp = struct.pack("<HH%df" % len(v), len(v), 0, *v)
    if bytes(b) != exp:
        sys.exit("# key %s: blob differs from the server's value" % k)
PY
}

# the exit trap goes after rv_cluster_start, whose own trap would replace it (and leave $T behind)
rv_cluster_start >/dev/null || { rm -rf "$T"; echo "Bail out! cannot start a cluster"; exit 1; }
trap 'rv_cluster_stop; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
psql -q -X -d postgres -c "CREATE DATABASE $DB" || exit 1
q "CREATE EXTENSION relvec" >/dev/null || exit 1
# pgvector has no Debian package: the one case that needs it is skipped when it is absent
have_pgvector=$(q "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'vector'")
if [ "$have_pgvector" = t ]; then q "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null || exit 1; fi
bash tests/load-fixtures.sh "$DB" || exit 1
psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -o /dev/null <<'SQL' || exit 1
SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A');
SELECT relvec_create_space('mlp_b', 64);
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_set_space_mean('mlp_a', 'SELECT a FROM fixtures.fmnist');
CREATE TABLE misc (id int8, small int2, flag bool, r real, d float8, t text, num numeric, ts timestamptz,
	b bytea, e embedding, arr int[], "odd ""name""" varchar(5));
INSERT INTO misc VALUES
	(1, -3, true, 1.5, 0.1, 'héllo, "world"', 12345678901234567890.5, '2024-01-02 03:04:05+00', '\x00ff10',
	 '[1,-2.5,3e-7]', '{1,2}', 'x'),
	(2, NULL, false, -0.0, 1e300, '', NULL, NULL, '\x', '[0]', NULL, NULL),
	(9223372036854775807, 32767, NULL, NULL, NULL, NULL, -1, NULL, NULL, NULL, '{}', '');
-- each row costs 5 ms on the server: long enough to interrupt a pull in the middle
CREATE TABLE public.words (x int);
CREATE TABLE tiny (x int);
CREATE VIEW slow AS SELECT i, pg_sleep(0.005)::text AS z FROM generate_series(1, 2000) i;
-- space tags: values tagged by hand (even rows), untagged ones, a column bound to mlp_b,
-- and a table holding a tag that no space of this catalog has
CREATE TABLE tagged (k text, e embedding, eb embedding(mlp_b));
INSERT INTO tagged SELECT idx::text, CASE WHEN idx % 2 = 0 THEN relvec_tag(a, 'mlp_a') ELSE a END, b
	FROM fixtures.fmnist WHERE split = 'test' ORDER BY idx LIMIT 12;
INSERT INTO tagged VALUES ('null', NULL, NULL);
CREATE TABLE tagged_back (k text, e embedding, eb embedding(mlp_b));
CREATE TABLE orphan (k text, e embedding);
INSERT INTO orphan VALUES ('fine', '[1,2]'), ('lost', '#4321:[1,2]');
SQL
if [ "$have_pgvector" = t ]; then
	q "ALTER TABLE misc ADD COLUMN v vector(3);
	   UPDATE misc SET v = CASE id WHEN 1 THEN '[1,2,3]' WHEN 9223372036854775807 THEN '[0.5,0.25,-1]' END::vector" \
		>/dev/null || exit 1
fi
have_translations=$(q "SELECT to_regclass('relvec_translations') IS NOT NULL")
have_pg_stitch=$(q "SELECT to_regproc('relvec_stitch_knn') IS NOT NULL")
have_pg_compare=$(q "SELECT to_regproc('relvec_compare_spaces') IS NOT NULL")
if [ "$have_translations" = t ]; then
	q "SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a'); SELECT relvec_fit_translation('fm300', 'mlp_a', 'mlp_b', 'affine')" >/dev/null || exit 1
fi
# functions of the SQLite extension that may not exist yet on this branch
has_fn() {
	[ "$(sqlite3 :memory: ".load build/sqlite/relvec" "SELECT count(*) FROM (SELECT name FROM pragma_function_list
		UNION SELECT name FROM pragma_module_list) WHERE name = '$1'")" != 0 ]
}
export PGTZ=UTC
CONN="dbname=$DB application_name=relvec_cli_test"
F=$T/fm.db

# --- command line ------------------------------------------------------------------------
run "$RELVEC"
ok "no command: usage error 1" status_is 1
for c in pull import query stitch compare; do
	run "$RELVEC" $c --help
	ok "$c --help exits 0 and documents exit codes" bash -c "[ $rc -eq 0 ] && grep -q 'Exit status' $T/out"
done
run "$RELVEC" pull "$CONN" "$F" --table fixtures.fmnist --bogus
ok "unknown option: usage error 1" fails_with 1 'unknown option "--bogus"'
run "$RELVEC" query "$F" --table t --key 1 -k 0
ok "-k 0: usage error 1" fails_with 1 '-k must be an integer between 1 and'

# --- pull: errors before anything is written ----------------------------------------------
run "$RELVEC" pull "host=127.0.0.1 port=1 dbname=x connect_timeout=5" "$F" --table fixtures.fmnist
ok "unreachable server: exit 3 with libpq's message" fails_with 3 'cannot connect to the server:'
ok "unreachable server: no file created" test "$(sha "$F")" = absent
echo "not a database, just text" >"$T/text.db"
before=$(sha "$T/text.db")
run "$RELVEC" pull "$CONN" "$T/text.db" --table fixtures.fmnist
ok "pull into a file that is not SQLite: exit 2" fails_with 2 "is not an SQLite database"
ok "that file is untouched" test "$(sha "$T/text.db")" = "$before"
run "$RELVEC" pull "$CONN" "$F" --table fixtures.fmnist --table fixtures.nope
ok "a missing table: exit 2 naming it" fails_with 2 'table "fixtures.nope" does not exist on the server'
ok "a failed pull into a new file leaves no file" test "$(sha "$F")" = absent

# --- pull: fixtures, catalog and mixed types --------------------------------------------------
run "$RELVEC" pull "$CONN" "$F" --table fixtures.fmnist --table fixtures.words --table misc
ok "pull fmnist, words, misc and the catalog" status_is 0
ok "progress lines name each table (stderr is not a terminal)" err_has 'pull fixtures.fmnist: 1300 rows in'
ok "row counts equal the server's" test "$(lite "$F" "SELECT (SELECT count(*) FROM fmnist) || ',' || (SELECT count(*) FROM words) || ',' || (SELECT count(*) FROM misc)")" \
	= "$(q "SELECT (SELECT count(*) FROM fixtures.fmnist) || ',' || (SELECT count(*) FROM fixtures.words) || ',' || (SELECT count(*) FROM misc)")"
q "SELECT idx, a FROM fixtures.fmnist" >"$T/a.txt"
ok "fmnist.a: every embedding byte-equal to the server's values" same_embeddings "$T/a.txt" "$F" "SELECT idx, a FROM fmnist"
q "SELECT idx, b FROM fixtures.fmnist" >"$T/b.txt"
ok "fmnist.b: every embedding byte-equal" same_embeddings "$T/b.txt" "$F" "SELECT idx, b FROM fmnist"
q "SELECT word, ft FROM fixtures.words" >"$T/w.txt"
ok "words.ft (100-d): every embedding byte-equal" same_embeddings "$T/w.txt" "$F" "SELECT word, ft FROM words"
ok "other columns: split, label, is_anchor, anchor_no as TEXT/INTEGER" test \
	"$(lite "$F" "SELECT md5 FROM (SELECT group_concat(idx || split || label || is_anchor || coalesce(anchor_no, 'N'), ';') AS md5 FROM (SELECT * FROM fmnist ORDER BY idx))")" \
	= "$(q "SELECT string_agg(idx || split || label || is_anchor::int || coalesce(anchor_no::text, 'N'), ';' ORDER BY idx) FROM fixtures.fmnist")"
ok "column types: INTEGER, TEXT, BLOB" test "$(lite "$F" "SELECT group_concat(type, ',') FROM pragma_table_info('fmnist')")" \
	= "INTEGER,TEXT,INTEGER,INTEGER,INTEGER,BLOB,BLOB"
# (SQLite stores an integral REAL as an integer on disk, so -0.0 reads back as 0.0)
ok "mixed types: integers, booleans, reals, text, numeric, timestamptz, bytea, arrays, NULLs" test \
	"$(lite "$F" "SELECT group_concat(quote(id) || '|' || quote(small) || '|' || quote(flag) || '|' || quote(r) || '|' || quote(d) || '|' || quote(t) || '|' || quote(num) || '|' || quote(ts) || '|' || quote(b) || '|' || quote(arr) || '|' || quote(\"odd \"\"name\"\"\"), ';') FROM (SELECT * FROM misc ORDER BY id)")" \
	= "1|-3|1|1.5|0.1|'héllo, \"world\"'|'12345678901234567890.5'|'2024-01-02 03:04:05+00'|X'00FF10'|'{1,2}'|'x';2|NULL|0|0.0|1.0e+300|''|NULL|NULL|X''|NULL|NULL;9223372036854775807|32767|NULL|NULL|NULL|NULL|'-1'|NULL|NULL|'{}'|''"
q "SELECT id, e FROM misc" >"$T/me.txt"
ok "mixed types: relvec embedding column" same_embeddings "$T/me.txt" "$F" "SELECT id, e FROM misc"
if [ "$have_pgvector" = t ]; then
	q "SELECT id, v FROM misc" >"$T/mv.txt"
	ok "mixed types: pgvector vector column becomes an embedding BLOB" same_embeddings "$T/mv.txt" "$F" "SELECT id, v FROM misc"
else
	skip "mixed types: pgvector vector column becomes an embedding BLOB" "pgvector is not installed"
fi
ok "catalog: spaces with dims, description, mean_version" test \
	"$(lite "$F" "SELECT group_concat(name || ':' || dims || ':' || coalesce(description, '') || ':' || mean_version, ';') FROM (SELECT * FROM relvec_spaces ORDER BY name)")" \
	= "$(q "SELECT string_agg(name || ':' || dims || ':' || coalesce(description, '') || ':' || mean_version, ';' ORDER BY name) FROM relvec_spaces")"
q "SELECT name, mean FROM relvec_spaces" >"$T/mean.txt"
ok "catalog: space means byte-equal (NULL stays NULL)" same_embeddings "$T/mean.txt" "$F" "SELECT name, mean FROM relvec_spaces"
ok "catalog: anchor set keys as a JSON array, frozen" test \
	"$(lite "$F" "SELECT name || frozen || json(keys) FROM relvec_anchor_sets")" \
	= "$(q "SELECT name || frozen::int || array_to_json(keys) FROM relvec_anchor_sets")"
q "SELECT s.name || '/' || a.ord || '/' || a.key, a.e FROM relvec_anchors a JOIN relvec_spaces s USING (space_id)" >"$T/anc.txt"
ok "catalog: 600 parallel anchors byte-equal, in order, in the right spaces" same_embeddings "$T/anc.txt" "$F" \
	"SELECT s.name || '/' || a.ord || '/' || a.key, a.e FROM relvec_anchors a JOIN relvec_spaces s USING (space_id)"
if [ "$have_translations" = t ]; then
	q "SELECT sf.name || '>' || st.name, t.method, t.from_mean, t.from_std, t.to_mean, t.to_std, t.matrix, t.bias,
		to_char(t.fitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM relvec_translations t
		JOIN relvec_spaces sf ON sf.space_id = t.from_space_id JOIN relvec_spaces st ON st.space_id = t.to_space_id" >"$T/tr.txt"
	ok "catalog: both fitted translations, every vector and the matrix byte-equal" python3 - "$T/tr.txt" "$F" <<'PY'
import sqlite3, struct, sys
def vec(t, header=True):
    if t == "":
        return None
    v = [float(x) for x in t.strip("[]{}").split(",")]
    return (struct.pack("<HH", len(v), 0) if header else b"") + struct.pack("<%df" % len(v), *v)
want = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("|")
    want[f[0]] = (f[1], vec(f[2]), vec(f[3]), vec(f[4]), vec(f[5]), vec(f[6], False), vec(f[7]), f[8])
rows = sqlite3.connect(sys.argv[2]).execute("""SELECT sf.name || '>' || st.name, t.method, t.from_mean, t.from_std,
    t.to_mean, t.to_std, t.matrix, t.bias, t.fitted_at FROM relvec_translations t
    JOIN relvec_spaces sf ON sf.space_id = t.from_space_id JOIN relvec_spaces st ON st.space_id = t.to_space_id""").fetchall()
assert len(want) == 2 and len(rows) == 2, (len(want), len(rows))
for r in rows:
    got = tuple(bytes(x) if isinstance(x, bytes) else x for x in r[1:])
    assert got == want[r[0]], r[0]
assert want["mlp_a>mlp_b"][6] is not None and want["mlp_b>mlp_a"][6] is None
PY
else
	skip "catalog: translations copied" "the server has no relvec_translations"
fi

# --- pull: space tags, remapped to the file's ids by name ----------------------------------
# a file whose spaces were made in another order: mlp_b and mlp_a have other ids than on the server
S=$T/spaces.db
sqlite3 -batch "$S" ".load build/sqlite/relvec" "SELECT relvec_create_space('other', 3); SELECT relvec_create_space('mlp_b', 64);
	SELECT relvec_create_space('mlp_a', 64);" >/dev/null
ok "the file's ids differ from the server's" test \
	"$(lite "$S" "SELECT group_concat(name || '=' || space_id, ',') FROM (SELECT * FROM relvec_spaces WHERE name LIKE 'mlp%' ORDER BY name)")" \
	!= "$(q "SELECT string_agg(name || '=' || space_id, ',' ORDER BY name) FROM relvec_spaces")"
run "$RELVEC" pull "$CONN" "$S" --table tagged --quiet
ok "pull a table of tagged, untagged and bound values" status_is 0
ok "every value names the server's space (relvec_space_of on both sides)" test \
	"$(sqlite3 "$S" ".load build/sqlite/relvec" "SELECT group_concat(k || ':' || coalesce(relvec_space_of(e), '-') || ':' || coalesce(relvec_space_of(eb), '-'), ';') FROM (SELECT * FROM tagged ORDER BY k)")" \
	= "$(q "SELECT string_agg(k || ':' || coalesce(relvec_space_of(e), '-') || ':' || coalesce(relvec_space_of(eb), '-'), ';' ORDER BY k) FROM tagged")"
ok "... through the file's ids: mlp_a's values carry the file's 3, the bound column's mlp_b's 2, untagged stay 0" test \
	"$(lite "$S" "SELECT count(*) FROM tagged WHERE k <> 'null' AND (substr(e, 3, 2) <> CASE WHEN CAST(k AS INTEGER) % 2 = 0
		THEN x'0300' ELSE x'0000' END OR substr(eb, 3, 2) <> x'0200')")" = 0
q "SELECT k, relvec_untag(e), relvec_untag(eb) FROM tagged" >"$T/untagged.txt"
ok "... and their values byte-equal to the server's" python3 - "$T/untagged.txt" "$S" <<'PY'
import sqlite3, struct, sys
want = {}
for line in open(sys.argv[1]):
    k, e, eb = line.rstrip("\n").split("|")
    want[k] = [None if t == "" else [float(x) for x in t.strip("[]").split(",")] for t in (e, eb)]
rows = sqlite3.connect(sys.argv[2]).execute("SELECT k, e, eb FROM tagged").fetchall()
assert len(rows) == len(want) == 13, (len(rows), len(want))
for k, *bs in rows:
    for w, b in zip(want[k], bs):
        assert (w is None) == (b is None), k
        if b is not None:
            assert bytes(b)[4:] == struct.pack("<%df" % len(w), *w) and struct.unpack_from("<H", b)[0] == len(w), k
PY
# printed with embedding_text, loaded back into PostgreSQL by text COPY: each value gets its space back by name
sqlite3 -batch -separator "$(printf '\t')" -nullvalue '\N' "$S" ".load build/sqlite/relvec" \
	"SELECT k, embedding_text(e), embedding_text(eb) FROM tagged" >"$T/tagged.tsv"
ok "embedding_text writes the file's name#id: (mlp_a is #3 in the file)" grep -q "	mlp_a#3:\[" "$T/tagged.tsv"
ok "text COPY of it into PostgreSQL (a plain and a bound column)" \
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "\\copy tagged_back FROM '$T/tagged.tsv'"
ok "... every value equal to the original, its space included (= compares tags)" test \
	"$(q "SELECT count(*) FROM tagged t JOIN tagged_back b USING (k) WHERE t.e IS NOT DISTINCT FROM b.e AND t.eb IS NOT DISTINCT FROM b.eb
		AND relvec_space_of(t.e) IS NOT DISTINCT FROM relvec_space_of(b.e)")" = 13
before=$(sha "$S")
run "$RELVEC" pull "$CONN" "$S" --table orphan --quiet
ok "a tag the server's catalog does not have: exit 2 naming table, row and key" \
	fails_with 2 'table "orphan" row 2 (key "lost"), column "e": embedding of space #4321, which the server'"'"'s catalog does not have'
ok "... and the file is unchanged" test "$(sha "$S")" = "$before"
qa=$(q "SELECT a FROM fixtures.fmnist WHERE split = 'test' ORDER BY idx LIMIT 1 OFFSET 2")
run "$RELVEC" query "$S" --table tagged --column e --where "k <> 'null'" --vector "mlp_b#2:$qa" -k 3
ok "query --vector of another space than the table's: exit 2, PostgreSQL's message" \
	fails_with 2 'embeddings of different spaces "mlp_b" and "mlp_a"'
run "$RELVEC" query "$S" --table tagged --column e --where "k <> 'null'" --vector "mlp_a#77:$qa" -k 1 --metric l2 --csv
ok "query --vector tagged by name (an id from elsewhere): the nearest is itself" \
	bash -c "[ $rc -eq 0 ] && sed -n 2p $T/out | grep -q ',0\$'"
run "$RELVEC" query "$S" --table tagged --column e --vector "\"We'ird\"#3:[1]" -k 1
ok "query --vector with a quoted name holding a quote: the extension's message, exit 2" \
	fails_with 2 "space \"We'ird\" does not exist"
stitch_s() { run "$RELVEC" stitch "$S" --queries-table tagged --queries-column eb --query-space "$1" --queries-where "k <> 'null'" \
	--corpus-table tagged --corpus-column e --corpus-space mlp_a --corpus-where "k <> 'null'" --anchor-set fm300 -k 2 --csv; }
stitch_s mlp_b
ok "stitch keeps tags: mlp_b queries, a corpus of mlp_a and untagged rows (exit 0)" \
	bash -c "[ $rc -eq 0 ] && [ \$(wc -l < $T/out) -eq 25 ]"
stitch_s mlp_a
ok "stitch: queries of mlp_b given as mlp_a, exit 2 with PostgreSQL's message" \
	fails_with 2 'embedding belongs to space "mlp_b", not "mlp_a"'

# --- pull: refusals and failures leave an existing file byte for byte ----------------------
before=$(sha "$F")
run "$RELVEC" pull "$CONN" "$F" --table fixtures.words
ok "a table that exists in the file: exit 2 without --replace" fails_with 2 'table "words" already exists'
ok "refused pull leaves the file unchanged" test "$(sha "$F")" = "$before"
run "$RELVEC" pull "$CONN" "$F" --table fixtures.words --replace --table fixtures.nope
ok "a missing second table after a replaced first one: exit 2" fails_with 2 'does not exist on the server'
ok "failed pull leaves the file unchanged (sha256)" test "$(sha "$F")" = "$before"
run "$RELVEC" pull "$CONN" "$F" --table fixtures.words --table public.words --replace
ok "two tables that would get one SQLite name: usage error 1" fails_with 1 'would both become table "words"'
ok "... and the file is unchanged" test "$(sha "$F")" = "$before"
run "$RELVEC" pull "$CONN" "$F" --table misc --table relvec_spaces --replace
ok "a catalog table name as a data table: exit 2" fails_with 2 'reserved for the relvec catalog'
ok "... and the file is unchanged" test "$(sha "$F")" = "$before"

# server gone in the middle: the backend is terminated while it streams the slow view
(sleep 2; q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'relvec_cli_test'" >/dev/null) &
run "$RELVEC" pull "$CONN" "$F" --table slow --table fixtures.words --replace --quiet
wait
ok "server connection lost mid-transfer: exit 3" fails_with 3 'server error'
ok "... and the file is unchanged" test "$(sha "$F")" = "$before"

# SIGINT in the middle of the transfer
"$RELVEC" pull "$CONN" "$F" --table fixtures.words --replace --table slow --quiet >"$T/out" 2>"$T/err" &
pid=$!
sleep 2
kill -INT $pid
wait $pid
rc=$?
ok "SIGINT mid-transfer: exit 4" fails_with 4 'interrupted'
ok "... and the file is unchanged" test "$(sha "$F")" = "$before"
ok "... and no journal is left behind" test ! -e "$F-journal"

run "$RELVEC" pull "$CONN" "$F" --table fixtures.words --replace --quiet
ok "--replace overwrites the table" status_is 0
ok "... with the server's rows, not twice" test "$(lite "$F" "SELECT count(*) FROM words")" = 2000
ok "... and the catalog is merged, not duplicated" test "$(lite "$F" "SELECT (SELECT count(*) FROM relvec_spaces) || ',' || (SELECT count(*) FROM relvec_anchor_sets) || ',' || (SELECT count(*) FROM relvec_anchors)")" = "2,1,600"
sqlite3 "$F" "UPDATE relvec_spaces SET dims = 32 WHERE name = 'mlp_b'" 2>/dev/null
before=$(sha "$F")
run "$RELVEC" pull "$CONN" "$F" --table tiny --quiet
ok "a space whose dims differ in the file: exit 2 naming it" fails_with 2 'space "mlp_b" has 32 dimensions in the file and 64 on the server'
ok "... and the file is unchanged" test "$(sha "$F")" = "$before"
sqlite3 "$F" "PRAGMA ignore_check_constraints = 1; UPDATE relvec_spaces SET dims = 4294967360 WHERE name = 'mlp_b'"
before=$(sha "$F")
run "$RELVEC" pull "$CONN" "$F" --table tiny --quiet
ok "dims 2^32 + 64 in the file: exit 2, the file's value as it is" \
	fails_with 2 'space "mlp_b" has 4294967360 dimensions in the file and 64 on the server'
ok "... and the file is unchanged" test "$(sha "$F")" = "$before"
run "$RELVEC" pull "$CONN" "$F" --table tiny --quiet --replace
ok "--replace overwrites a space of other dims" status_is 0
ok "... it has the server's dims and its anchors again" test \
	"$(lite "$F" "SELECT dims || ',' || (SELECT count(*) FROM relvec_anchors a WHERE a.space_id = s.space_id) FROM relvec_spaces s WHERE name = 'mlp_b'")" = "64,300"
G=$T/set.db
sqlite3 "$G" ".load build/sqlite/relvec" "SELECT relvec_create_anchor_set('fm300', json_array('1', '2'))" >/dev/null
before=$(sha "$G")
run "$RELVEC" pull "$CONN" "$G" --table tiny --quiet
ok "an anchor set with other keys in the file: exit 2 naming it" fails_with 2 'anchor set "fm300" differs between the file and the server'
ok "... and the file is unchanged" test "$(sha "$G")" = "$before"
run "$RELVEC" pull "$CONN" "$G" --table tiny --quiet --replace
ok "--replace overwrites it: the server's 300 keys, frozen" \
	bash -c "[ $rc -eq 0 ] && [ \"\$(sqlite3 $G 'SELECT json_array_length(keys) || frozen FROM relvec_anchor_sets')\" = 3001 ]"
ok "... and every anchor equals the server's again" same_embeddings "$T/anc.txt" "$G" \
	"SELECT s.name || '/' || a.ord || '/' || a.key, a.e FROM relvec_anchors a JOIN relvec_spaces s USING (space_id)"

# --- import ---------------------------------------------------------------------------------
I=$T/imp.db
head -c 1000 tests/fixtures/fmnist_a_subset.fvecs >"$T/trunc.fvecs"
run "$RELVEC" import "$I" --fvecs "$T/trunc.fvecs" --space mlp_a --table items
ok "truncated fvecs: exit 2, says so" fails_with 2 'is truncated: 1000 bytes is not a whole number of 64-dimensional records (260 bytes each)'
ok "... and no file is created" test "$(sha "$I")" = absent
run "$RELVEC" import "$I" --fvecs tests/fixtures/fmnist_a_subset.fvecs --space mlp_a --table items --quiet
	ok "import 1300 vectors, creating space mlp_a" status_is 0
ok "... rows keyed by index, blobs equal to the fvecs payload" python3 - "$I" tests/fixtures/fmnist_a_subset.fvecs <<'PY'
import sqlite3, struct, sys
data = open(sys.argv[2], "rb").read()
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT key, e FROM items ORDER BY CAST(key AS INTEGER)").fetchall()
tag = db.execute("SELECT space_id FROM relvec_spaces WHERE name = 'mlp_a'").fetchone()[0]
assert len(rows) == len(data) // 260, len(rows)
for i, (k, e) in enumerate(rows):
    assert k == str(i) and bytes(e) == struct.pack("<HH", 64, tag) + data[i * 260 + 4:(i + 1) * 260], i
PY
ok "... and the space is registered with 64 dims" test "$(lite "$I" "SELECT dims FROM relvec_spaces WHERE name = 'mlp_a'")" = 64
ok "... and the vectors are tagged with it" test \
	"$(sqlite3 "$I" ".load build/sqlite/relvec" "SELECT group_concat(DISTINCT relvec_space_of(e)) FROM items")" = mlp_a
before=$(sha "$I")
python3 - tests/fixtures/fmnist_a_subset.fvecs "$T/bad_d.fvecs" "$T/nan.fvecs" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
bad = bytearray(data); struct.pack_into("<i", bad, 260 * 700, 63)          # record 700 claims 63 dims
open(sys.argv[2], "wb").write(bad)
nan = bytearray(data); struct.pack_into("<f", nan, 260 * 900 + 4 + 40, float("nan"))
open(sys.argv[3], "wb").write(nan)
PY
run "$RELVEC" import "$I" --fvecs "$T/bad_d.fvecs" --space mlp_a --table more --quiet
ok "a record with other dimensions: exit 2 naming it" fails_with 2 'record 700 has 63 dimensions, the first has 64'
ok "... nothing written (sha256)" test "$(sha "$I")" = "$before"
run "$RELVEC" import "$I" --fvecs "$T/nan.fvecs" --space mlp_a --table more --quiet
ok "a NaN value: exit 2 with the bridge's message" fails_with 2 'record 900: '
ok "... nothing written" test "$(sha "$I")" = "$before"
run "$RELVEC" import "$I" --fvecs tests/fixtures/words_ft100_2k.fvecs --space mlp_a --table w --quiet
ok "fvecs dims differ from the space's: exit 2" fails_with 2 'space "mlp_a" has 64 dimensions'
cp "$I" "$T/imp_wrap.db"
sqlite3 "$T/imp_wrap.db" "PRAGMA ignore_check_constraints = 1; UPDATE relvec_spaces SET dims = 4294967360 WHERE name = 'mlp_a'"
run "$RELVEC" import "$T/imp_wrap.db" --fvecs tests/fixtures/fmnist_a_subset.fvecs --space mlp_a --table more --quiet
ok "a space of dims 2^32 + 64 in the file is not taken for 64: exit 2" \
	fails_with 2 'space "mlp_a" has 4294967360 dimensions, "tests/fixtures/fmnist_a_subset.fvecs" has 64'
run "$RELVEC" import "$I" --fvecs tests/fixtures/fmnist_a_subset.fvecs --space mlp_a --table more --keys tests/fixtures/words_2k.csv --quiet
ok "key file with another row count: exit 2" fails_with 2 'has 2000 keys'
run "$RELVEC" import "$T/text.db" --fvecs tests/fixtures/fmnist_a_subset.fvecs --space mlp_a --table t
ok "import into a file that is not SQLite: exit 2" fails_with 2 "is not an SQLite database"
ok "... untouched" test "$(sha "$T/text.db")" = "$(echo "not a database, just text" | sha256sum | cut -d' ' -f1)"
run "$RELVEC" import "$I" --fvecs tests/fixtures/words_ft100_2k.fvecs --space ft100 --table words \
	--keys tests/fixtures/words_2k.csv --key-field word --quiet
ok "import with keys from a CSV column" bash -c "[ $rc -eq 0 ] && [ \"\$(sqlite3 $I \"SELECT key FROM words WHERE rowid = 1\")\" = the ]"
ok "... tagged with ft100, not with mlp_a" test \
	"$(sqlite3 "$I" ".load build/sqlite/relvec" "SELECT relvec_space_of(e) || ',' || (SELECT relvec_space_of(e) FROM items LIMIT 1) FROM words LIMIT 1")" = ft100,mlp_a
run "$RELVEC" query "$I" --table words --key-column key --vector 'mlp_a#1:[1]' -k 1
ok "query of an mlp_a vector among ft100 rows: exit 2, the spaces before the dimensions" \
	fails_with 2 'embeddings of different spaces "mlp_a" and "ft100"'
before=$(sha "$I")
run "$RELVEC" import "$I" --fvecs tests/fixtures/words_ft100_2k.fvecs --space ft100 --table words \
	--keys tests/fixtures/words_2k.csv --key-field word --quiet
ok "importing the same keys again: exit 2 (primary key), nothing written" \
	bash -c "[ $rc -eq 2 ] && [ \"$(sha "$I")\" = \"$before\" ]"

# --- offline queries against the server's answers --------------------------------------------
run "$RELVEC" query "$T/missing.db" --table fmnist --key 1
ok "query on a missing file: exit 2, no file created" bash -c "[ $rc -eq 2 ] && [ ! -e $T/missing.db ]"
run "$RELVEC" query "$F" --table nope --key 1
ok "query on an unknown table: exit 2" fails_with 2 'table "nope" does not exist'
run "$RELVEC" query "$F" --table fmnist --column a --vector '[1,2,nan]'
ok "query with a malformed vector: exit 2" status_is 2
qkey=$(q "SELECT idx FROM fixtures.fmnist WHERE split = 'test' ORDER BY idx LIMIT 1")
run "$RELVEC" query "$F" --table fmnist --column a --key "$qkey" -k 10 --csv
q "SELECT f.idx || ',' || (f.a <=> x.a) FROM fixtures.fmnist f, (SELECT a FROM fixtures.fmnist WHERE idx = $qkey) x
	ORDER BY f.a <=> x.a, f.idx LIMIT 10" >"$T/pg_knn.csv"
# near-ties may swap places: neighbours must agree where the distances differ by more than 1e-6
same_knn() {
	python3 - "$1" "$2" <<'PY'
import csv, sys
got = list(csv.DictReader(open(sys.argv[1])))
want = [l.strip().split(",") for l in open(sys.argv[2])]
assert len(got) == len(want) > 0, (len(got), len(want))
for i, (g, (k, d)) in enumerate(zip(got, want)):
    assert abs(float(g["distance"]) - float(d)) < 1e-6, (g, k, d)
    if g["corpus_key"] != k:
        assert any(abs(float(w[1]) - float(d)) < 1e-6 for w in want if w[0] == g["corpus_key"]), (g, k, d)
PY
}
ok "query --key: the same 10 neighbours and distances (1e-6) as on the server" same_knn "$T/out" "$T/pg_knn.csv"
vec=$(q "SELECT ft FROM fixtures.words WHERE word = 'house'")
run "$RELVEC" query "$F" --table words --column ft --key-column word --vector "$vec" -k 5 --metric l2 --csv
q "SELECT word || ',' || (ft <-> '$vec') FROM fixtures.words ORDER BY ft <-> '$vec', word LIMIT 5" >"$T/pg_knn.csv"
ok "query --vector --metric l2 on words: the same as on the server" same_knn "$T/out" "$T/pg_knn.csv"
run "$RELVEC" query "$F" --table words --column ft --key-column word --key house -k 3
ok "query prints an aligned table by default" bash -c "[ $rc -eq 0 ] && head -1 $T/out | grep -q '^rank  corpus_key  *distance' && grep -q '^(3 rows)' $T/out"
run "$RELVEC" query "$F" --table fmnist --column a --key nope
ok "query with an unknown key: exit 2" fails_with 2 'key "nope" is not in table "fmnist"'
run "$RELVEC" query "$F" --table fmnist --column a --key "$qkey" --metric cos
ok "query with an unknown metric: exit 2 with the extension's message" fails_with 2 'unknown metric "cos"'

stitch_how="relvec_stitch_knn"
has_fn relvec_stitch_knn || stitch_how="relvec_project + relvec_knn (no relvec_stitch_knn yet)"
# stitch_vs_server CENTER [PGFUNC [VIA]]: mlp_b test queries against the mlp_a train corpus, 5 neighbours
# offline, 7 on the server (PGFUNC CENTER prints the server's rows; by default relvec_project on
# both sides and the cosine operator, ties by key)
stitch_vs_server() {
	run "$RELVEC" stitch "$F" --queries-table fmnist --queries-column b --query-space mlp_b \
		--queries-where "split = 'test' AND idx % 50 = 0" --corpus-table fmnist --corpus-column a --corpus-space mlp_a \
		--corpus-where "split = 'train'" --anchor-set fm300 -k 5 --center "$1" --via "${3:-relative}" --csv
	[ "$rc" -eq 0 ] || { echo "# exit status $rc: $(head -c 300 "$T/err")"; return 1; }
	if [ -n "${2:-}" ]; then
		"$2" "$1" >"$T/pg_stitch.csv" || return 1
	else
		q "WITH qs AS (SELECT idx, relvec_project(b, 'fm300', 'mlp_b', 'cosine', '$1') r FROM fixtures.fmnist
				WHERE split = 'test' AND idx % 50 = 0),
			cs AS (SELECT idx, relvec_project(a, 'fm300', 'mlp_a', 'cosine', '$1') r FROM fixtures.fmnist WHERE split = 'train')
			SELECT qi || ',' || rk || ',' || ci || ',' || d FROM (SELECT qs.idx qi, cs.idx ci, qs.r <=> cs.r d,
				row_number() OVER (PARTITION BY qs.idx ORDER BY qs.r <=> cs.r, cs.idx) rk FROM qs, cs) t WHERE rk <= 7" >"$T/pg_stitch.csv"
	fi
	python3 - "$T/out" "$T/pg_stitch.csv" <<'PY'
import csv, sys
got = {(r["query_key"], int(r["rank"])): (r["corpus_key"], float(r["distance"])) for r in csv.DictReader(open(sys.argv[1]))}
want = {}
for l in open(sys.argv[2]):
    q, rk, c, d = l.strip().split(",")
    want[(q, int(rk))] = (c, float(d))
# the server lists 7 neighbours, offline 5: a near-tie at rank 5 may bring in the server's 6th
assert len(want) == 140 and len(got) == 100 and set(got) <= set(want), (len(got), len(want))
for key, (gc, gd) in got.items():
    c, d = want[key]
    assert abs(gd - d) < 1e-6, (key, gd, d)
    # neighbours agree unless a near-tie within 1e-6 swapped two of them
    assert gc == c or any(abs(w[1] - gd) < 1e-6 for k2, w in want.items() if k2[0] == key[0] and w[0] == gc), (key, gc, c)
PY
}
ok "stitch offline through $stitch_how = the server's relative route (20 queries x 5, 1e-6)" stitch_vs_server none
ok "stitch --center anchors offline = the server's" stitch_vs_server anchors
if [ "$have_pg_stitch" = t ]; then
	# the same query through the server's own relvec_stitch_knn
	pg_stitch_knn() {
		q "SELECT query_key || ',' || rank || ',' || corpus_key || ',' || distance FROM relvec_stitch_knn(
			'SELECT idx, b FROM fixtures.fmnist WHERE split = ''test'' AND idx % 50 = 0', 'mlp_b',
			'SELECT idx, a FROM fixtures.fmnist WHERE split = ''train''', 'mlp_a', 'fm300', 7, center => '$1')"
	}
	ok "stitch offline = the server's relvec_stitch_knn" stitch_vs_server none pg_stitch_knn
	ok "stitch --center anchors offline = the server's relvec_stitch_knn" stitch_vs_server anchors pg_stitch_knn
	if [ "$have_translations" = t ] && has_fn relvec_fit_translation; then
		# the translation fitted on the server (mlp_b -> mlp_a), used offline as pulled
		pg_stitch_translation() {
			q "SELECT query_key || ',' || rank || ',' || corpus_key || ',' || distance FROM relvec_stitch_knn(
				'SELECT idx, b FROM fixtures.fmnist WHERE split = ''test'' AND idx % 50 = 0', 'mlp_b',
				'SELECT idx, a FROM fixtures.fmnist WHERE split = ''train''', 'mlp_a', 'fm300', 7, via => 'translation')"
		}
		ok "stitch --via translation offline (the pulled translation) = the server's relvec_stitch_knn" \
			stitch_vs_server none pg_stitch_translation translation
	fi
else
	skip "stitch offline = the server's relvec_stitch_knn" "the server has no relvec_stitch_knn"
	skip "stitch --center anchors offline = the server's relvec_stitch_knn" "the server has no relvec_stitch_knn"
fi
if ! has_fn relvec_stitch_knn; then
	run "$RELVEC" stitch "$F" --queries-table fmnist --queries-column b --query-space mlp_b --corpus-table fmnist \
		--corpus-column a --corpus-space mlp_a --anchor-set fm300 --via translation
	ok "stitch --via translation without relvec_stitch_knn: exit 2 saying so" fails_with 2 'needs relvec_stitch_knn'
fi
run "$RELVEC" stitch "$F" --queries-table fmnist --queries-column b --query-space mlp_b --corpus-table fmnist \
	--corpus-column a --corpus-space mlp_a --anchor-set nope
ok "stitch with an unknown anchor set: exit 2, PostgreSQL's message" fails_with 2 'anchor set "nope" does not exist'
if has_fn relvec_compare_spaces && [ "$have_pg_compare" = t ]; then
	items="SELECT idx, a, b FROM fmnist WHERE split = 'test'"
	run "$RELVEC" compare "$F" --anchor-set fm300 --space-a mlp_a --space-b mlp_b --items-sql "$items" --csv
	pg=$(q "SELECT jaccard || ',' || mrr || ',' || cosine || ',' || cka FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
		'SELECT idx, a, b FROM fixtures.fmnist WHERE split = ''test''')")
	ok "compare: the same four measures (1e-6) as on the server" python3 -c "
import csv, sys
g = next(csv.DictReader(open('$T/out'))); w = '$pg'.split(',')
assert all(abs(float(g[k]) - float(v)) < 1e-6 for k, v in zip(['jaccard', 'mrr', 'cosine', 'cka'], w)), (g, w)"
else
	skip "compare: the same measures as on the server" "relvec_compare_spaces is not in both the SQLite extension and the server yet"
fi

# --- damaged and crafted files: bad input is exit 2, never a crash or a write ----------------
# A small catalog made by the extension itself: spaces a and b (2-d), frozen set s of four
# keys, table t of items; each case damages a copy by hand, as a file from elsewhere might be.
C=$T/craft.db
sqlite3 -batch "$C" ".load build/sqlite/relvec" "
	SELECT relvec_create_space('a', 2); SELECT relvec_create_space('b', 2);
	SELECT relvec_create_anchor_set('s', '[\"w\",\"x\",\"y\",\"z\"]');
	CREATE TABLE t (k TEXT, a BLOB, b BLOB);
	INSERT INTO t VALUES ('w', embedding('[1,0]'), embedding('[0,1]')), ('x', embedding('[0,1]'), embedding('[-1,0.2]')),
		('y', embedding('[1,1]'), embedding('[-1,1.1]')), ('z', embedding('[2,-1]'), embedding('[1,2]')),
		('q1', embedding('[0.5,0.2]'), embedding('[-0.2,0.5]')), ('q2', embedding('[-1,0.3]'), embedding('[-0.3,-1]'));
	SELECT relvec_set_anchors('s', 'a', 'SELECT k, a FROM t WHERE length(k) = 1');
	SELECT relvec_set_anchors('s', 'b', 'SELECT k, b FROM t WHERE length(k) = 1');
	SELECT relvec_freeze_anchor_set('s'); SELECT relvec_fit_translation('s', 'a', 'b');" >/dev/null
stitch_c() { run "$RELVEC" stitch "$1" --queries-table t --queries-column a --query-space a --corpus-table t \
	--corpus-column b --corpus-space b --anchor-set s -k 2 --csv "${@:2}"; }
compare_c() { run "$RELVEC" compare "$1" --anchor-set s --space-a a --space-b b -k 2 --csv "${@:2}"; }
# damaged NAME SQL [keep]: a copy of the crafted file, damaged by SQL past its guard triggers,
# which are then put back (a complete catalog with bad rows) unless a third argument is given
damaged() {
	cp "$C" "$T/$1.db"
	sqlite3 -batch "$T/$1.db" ".load build/sqlite/relvec" "DROP TRIGGER relvec_anchor_sets_frozen;
		DROP TRIGGER relvec_anchors_frozen_insert; DROP TRIGGER relvec_anchors_frozen_update;
		DROP TRIGGER relvec_anchors_frozen_delete; $2; ${3:-SELECT relvec_catalog_init()}" >/dev/null
}
stitch_c "$C"
ok "crafted file: stitch answers (exit 0)" status_is 0
cp "$T/out" "$T/stitch_good.csv"
compare_c "$C" --items-sql "SELECT k, a, b FROM t"
ok "crafted file: compare answers (exit 0)" status_is 0
cp "$T/out" "$T/compare_good.csv"

damaged notrig "" "SELECT 1"
before=$(sha "$T/notrig.db")
stitch_c "$T/notrig.db"
ok "catalog triggers missing: stitch reads the file (was exit 5, readonly database)" status_is 0
ok "... with the same answer" cmp -s "$T/out" "$T/stitch_good.csv"
stitch_c "$T/notrig.db" --via translation
ok "... and through the translation route" status_is 0
compare_c "$T/notrig.db" --items-sql "SELECT k, a, b FROM t"
ok "catalog triggers missing: compare reads the file, same answer" bash -c "[ $rc -eq 0 ] && cmp -s $T/out $T/compare_good.csv"
ok "... and neither wrote to it" test "$(sha "$T/notrig.db")" = "$before"

compare_c "$C" --items-sql "DELETE FROM t RETURNING k, a, b"
ok "a DML --items-sql: exit 2 with PostgreSQL's message (was exit 5)" fails_with 2 'items must be a read-only query'
compare_c "$C" --items-sql "SELECT k, a, b FROM t WHERE relvec_create_space('c', 3) IS NOT NULL"
ok "--items-sql that writes through a function: exit 2, not 5" fails_with 2 'readonly database'
run "$RELVEC" query "$C" --table t --column a --key q1 --where "relvec_create_space('c', 3) IS NOT NULL"
ok "a --where that writes through a function: exit 2" fails_with 2 'readonly database'
ok "... and the file is unchanged" test "$(lite "$C" "SELECT count(*) || ',' || (SELECT count(*) FROM relvec_spaces) FROM t")" = "6,2"

damaged short "UPDATE relvec_anchor_sets SET keys = '[\"w\"]'"
stitch_c "$T/short.db"
ok "keys shorter than the anchor rows: exit 2 with PostgreSQL's count (was SIGABRT)" \
	fails_with 2 'anchor set "s" has 4 of 1 anchors in space "a"'
compare_c "$T/short.db" --items-sql "SELECT k, a, b FROM t"
ok "... compare: exit 2 too" fails_with 2 'anchor set "s" has 4 of 1 anchors in space "a"'
damaged surplus "INSERT INTO relvec_anchors SELECT set_id, space_id, ord + 4, key || '2', e FROM relvec_anchors"
stitch_c "$T/surplus.db"
ok "surplus anchor rows: exit 2" fails_with 2 'anchor set "s" has 8 of 4 anchors in space "a"'
damaged object "UPDATE relvec_anchor_sets SET keys = '{\"w\": 1}'"
stitch_c "$T/object.db"
ok "keys not a JSON array: exit 2" fails_with 2 'keys of anchor set "s" are not a JSON array of strings'
damaged numbers "UPDATE relvec_anchor_sets SET keys = '[1, 2, 3, 4]'"
stitch_c "$T/numbers.db"
ok "keys not strings: exit 2" fails_with 2 'keys of anchor set "s" are not a JSON array of strings'
damaged order "UPDATE relvec_anchor_sets SET keys = '[\"z\",\"y\",\"x\",\"w\"]'"
stitch_c "$T/order.db"
ok "anchors out of step with the keys: exit 2, not a wrong answer" fails_with 2 'anchor 1 in space "a" is "w", not key "z"'
damaged trunc "UPDATE relvec_anchors SET e = substr(e, 1, 9) WHERE key = 'y'"
stitch_c "$T/trunc.db"
ok "a truncated anchor BLOB: exit 2" fails_with 2 'embedding blob of 9 bytes does not match its 2 dimensions'
damaged header "UPDATE relvec_anchors SET e = x'02000700000000000000803f' WHERE key = 'y'"
stitch_c "$T/header.db"
ok "an anchor BLOB tagged with another space: exit 2" fails_with 2 'anchor "y" in space "a": embedding belongs to space #7, not "a"'
damaged dims "PRAGMA ignore_check_constraints = 1; UPDATE relvec_spaces SET dims = 4294967298 WHERE name = 'a'"
stitch_c "$T/dims.db"
ok "space dims out of range: exit 2" fails_with 2 'dimensions of space "a" cannot exceed 16000'
damaged matrix "UPDATE relvec_translations SET matrix = substr(matrix, 1, 5)"
stitch_c "$T/matrix.db" --via translation
ok "a truncated translation matrix: exit 2" fails_with 2 'stored translation from space "a" to space "b" in anchor set "s" is damaged'
damaged rowblob "UPDATE t SET b = x'0300' WHERE k = 'y'"
stitch_c "$T/rowblob.db"
ok "a damaged corpus BLOB: exit 2" fails_with 2 'embedding blob of 2 bytes is shorter than its header'
cp "$C" "$T/nocat.db"
sqlite3 -batch "$T/nocat.db" "DROP TABLE relvec_translations; DROP TABLE relvec_anchors; DROP TABLE relvec_anchor_sets; DROP TABLE relvec_spaces"
before=$(sha "$T/nocat.db")
stitch_c "$T/nocat.db"
ok "a file without a catalog: exit 2, the set does not exist (not a write attempt)" fails_with 2 'anchor set "s" does not exist'
ok "... and it is left without one" test "$(sha "$T/nocat.db")" = "$before"
# a page of the file overwritten with noise: SQLite's "malformed" is bad input
cp "$C" "$T/noise.db"
python3 - "$T/noise.db" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
ps = int.from_bytes(b[16:18], "big") or 65536
for i in range(ps, min(len(b), 3 * ps)):
    b[i] = (i * 131 + 7) % 251
open(p, "wb").write(b)
PY
stitch_c "$T/noise.db"
ok "a file with damaged pages: exit 2" status_is 2

echo "1..$n"
[ "$failed" -eq 0 ]
