#!/usr/bin/env bash
# run.sh — pg_dump / pg_restore keep embeddings and relvec's catalog (spaces, anchor sets,
# parallel anchors, frozen state, fitted translations) exactly, and projection and
# translation give the same vectors after a restore. Values tagged with a space keep it,
# in plain embedding columns and in columns bound to a space, in custom and plain format,
# whether the catalog's rows or the user's data are restored first; binary COPY keeps
# them too. Needs PGHOST/PGPORT/PGUSER of a running cluster with relvec installed. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
src=relvec_dump_src
dst=relvec_dump_dst
. scripts/lib/tap.sh
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..17"
psql -q -X -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
psql -q -X -v ON_ERROR_STOP=1 -d "$src" -o /dev/null <<'SQL'
CREATE EXTENSION relvec;
CREATE TABLE items (id int PRIMARY KEY, e embedding(3));
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), i * 1e-3]::real[] FROM generate_series(1, 200) i;
SELECT relvec_create_space('s3', 3, 'a space');
SELECT relvec_create_anchor_set('a4', ARRAY['1', '2', '3', '4']);
SELECT relvec_set_anchors('a4', 's3', 'SELECT id, e FROM items WHERE id <= 4');
SELECT relvec_create_space('s3b', 3, 'a rotated copy');
SELECT relvec_set_anchors('a4', 's3b', $$SELECT id, ARRAY[cos(i) + 1, -sin(i), i * 2e-3]::real[]::embedding
	FROM items, LATERAL (SELECT id::float8 i) x WHERE id <= 4$$);
SELECT relvec_freeze_anchor_set('a4');
SELECT relvec_fit_translation('a4', 's3', 's3b', 'affine');
SELECT relvec_set_space_mean('s3', 'SELECT e FROM items');
-- spaces in the type: a plain column holding values of two spaces and untagged ones, a
-- column bound to a space, and a space whose name needs quotes; ids out of name order
SELECT relvec_create_space('Model "Z"', 2);
CREATE TABLE tagged (id int PRIMARY KEY, e embedding, b embedding(s3b), z embedding('Model "Z"'));
INSERT INTO tagged SELECT i, CASE i % 3 WHEN 0 THEN relvec_tag(e, 's3') WHEN 1 THEN relvec_translate(e, 'a4', 's3', 's3b')
	ELSE e END, relvec_translate(e, 'a4', 's3', 's3b'), subvector(e, 1, 2) FROM items i(i, e) WHERE i <= 60;
SQL
pg_dump -Fc -d "$src" -f "$RV_DUMP_FILE" && pg_restore --exit-on-error -d "$dst" "$RV_DUMP_FILE"
check "pg_dump and pg_restore succeed without errors" test $? -eq 0
E="SELECT md5(string_agg(e::text, ';' ORDER BY id)) FROM items"
check "embeddings restored exactly" test "$(q $src "$E")" = "$(q $dst "$E")"
S="SELECT md5(string_agg(name || dims || coalesce(description, '') || mean::text, ';')) FROM relvec_spaces"
check "spaces restored (with the mean)" test "$(q $src "$S")" = "$(q $dst "$S")"
check "anchor sets restored, still frozen" test "$(q $dst "SELECT frozen::text || keys::text FROM relvec_anchor_sets WHERE name = 'a4'")" = "true{1,2,3,4}"
A="SELECT count(*) || md5(string_agg(key || e::text, ';' ORDER BY ord)) FROM relvec_anchors"
check "parallel anchors restored" test "$(q $src "$A")" = "$(q $dst "$A")"
P="SELECT md5(string_agg(relvec_project(e, 'a4', 's3', 'cosine', 'space')::text, ';' ORDER BY id)) FROM items"
check "projection gives the same vectors after the restore" test "$(q $src "$P")" = "$(q $dst "$P")"
T="SELECT count(*) || md5(string_agg(method || from_mean::text || from_std::text || to_mean::text || to_std::text || matrix::text || bias::text || fitted_at::text, ';')) FROM relvec_translations"
check "fitted translations restored" test "$(q $src "$T")" = "$(q $dst "$T")"
R="SELECT md5(string_agg(relvec_translate(e, 'a4', 's3', 's3b')::text, ';' ORDER BY id)) FROM items"
check "translation gives the same vectors after the restore" test "$(q $src "$R")" = "$(q $dst "$R")"

# --- spaces in the type ------------------------------------------------------------------
TG="SELECT md5(string_agg(id || ':' || coalesce(relvec_space_of(e), '-') || ':' || e::text || ':' ||
	relvec_space_of(b) || ':' || b::text || ':' || relvec_space_of(z), ';' ORDER BY id)) FROM tagged"
check "tagged values restored with their spaces (plain column, bound columns; custom format)" \
	test "$(q $src "$TG")" = "$(q $dst "$TG")"
check "the bound columns are bound again" test "$(q $dst "SELECT string_agg(space || '.' || column_name, ',' ORDER BY column_name) FROM relvec_bound_columns")" \
	= 's3b.b,Model "Z".z'
check "a restored bound column still refuses another space" bash -c \
	"psql -X -d $dst -c \"INSERT INTO tagged (id, b) VALUES (999, relvec_tag('[1,2,3]', 's3'))\" 2>&1 | grep -q 'cannot be stored as an embedding of space \"s3b\"'"

# plain format, through psql
d2=relvec_dump_plain
psql -q -X -d postgres -c "DROP DATABASE IF EXISTS $d2" -c "CREATE DATABASE $d2"
pg_dump -Fp -d "$src" -f "$RV_DUMP_FILE.sql" && psql -q -X -v ON_ERROR_STOP=1 -d "$d2" -f "$RV_DUMP_FILE.sql" >/dev/null 2>&1
check "a plain-format dump restores through psql" test $? -eq 0
check "tagged values restored with their spaces (plain format)" test "$(q $src "$TG")" = "$(q $d2 "$TG")"

# the user's data before the catalog's rows: the tags' ids stand until the spaces arrive
d3=relvec_dump_datafirst
psql -q -X -d postgres -c "DROP DATABASE IF EXISTS $d3" -c "CREATE DATABASE $d3"
pg_restore -l "$RV_DUMP_FILE" >"$RV_DUMP_FILE.list"
{ grep -v 'TABLE DATA' "$RV_DUMP_FILE.list"; grep 'TABLE DATA' "$RV_DUMP_FILE.list" | grep -v ' relvec_'; \
  grep 'TABLE DATA' "$RV_DUMP_FILE.list" | grep ' relvec_'; } >"$RV_DUMP_FILE.datafirst"
order_ok=$(awk '/TABLE DATA/ { n++; if ($0 ~ / relvec_/) { if (!r) r = n } else u = n } END { print (u < r) ? "yes" : "no" }' "$RV_DUMP_FILE.datafirst")
pg_restore --exit-on-error -L "$RV_DUMP_FILE.datafirst" -d "$d3" "$RV_DUMP_FILE"
check "a restore with the user's data before the catalog's rows succeeds ($order_ok: data first)" \
	bash -c "[ \$? -eq 0 ] && [ '$order_ok' = yes ]"
check "tagged values restored with their spaces (data first)" test "$(q $src "$TG")" = "$(q $d3 "$TG")"

# the catalog's rows first (the opposite order)
d4=relvec_dump_catfirst
psql -q -X -d postgres -c "DROP DATABASE IF EXISTS $d4" -c "CREATE DATABASE $d4"
{ grep -v 'TABLE DATA' "$RV_DUMP_FILE.list"; grep 'TABLE DATA' "$RV_DUMP_FILE.list" | grep ' relvec_'; \
  grep 'TABLE DATA' "$RV_DUMP_FILE.list" | grep -v ' relvec_'; } >"$RV_DUMP_FILE.catfirst"
pg_restore --exit-on-error -L "$RV_DUMP_FILE.catfirst" -d "$d4" "$RV_DUMP_FILE"
check "tagged values restored with their spaces (catalog first)" test "$(q $src "$TG")" = "$(q $d4 "$TG")"

# binary COPY out and back in keeps the tags (ids: the same database)
q $src "CREATE TABLE tagged_copy (LIKE tagged)" >/dev/null
psql -X -q -d $src -c "\\copy tagged TO '$RV_DUMP_FILE.bin' (FORMAT binary)" &&
	psql -X -q -d $src -c "\\copy tagged_copy FROM '$RV_DUMP_FILE.bin' (FORMAT binary)"
check "binary COPY keeps the tags" test "$(q $src "$TG")" = "$(q $src "${TG/FROM tagged/FROM tagged_copy}")"
[ -n "${KEEP:-}" ] || psql -q -X -d postgres -c "DROP DATABASE $d2" -c "DROP DATABASE $d3" -c "DROP DATABASE $d4"
[ -n "${KEEP:-}" ] || psql -q -X -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
[ "$failed" -eq 0 ]
