#!/usr/bin/env bash
# run.sh — pg_dump / pg_restore keep embeddings and relvec's catalog (spaces, anchor sets,
# parallel anchors, frozen state, fitted translations) exactly, and projection and
# translation give the same vectors after a restore. Needs PGHOST/PGPORT/PGUSER of a running cluster with relvec installed. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
src=relvec_dump_src
dst=relvec_dump_dst
. scripts/lib/tap.sh
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..8"
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
[ -n "${KEEP:-}" ] || psql -q -X -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
[ "$failed" -eq 0 ]
