#!/usr/bin/env bash
# run.sh — ALTER EXTENSION relvec UPDATE from every released version keeps the data, the
# indexes and the catalog, and gives exactly the objects a fresh install of the current
# version has. Installs 0.1.0 from its released script (sql/relvec--0.1.0.sql), fills a
# database the way 0.1.0 users did (data, rvflat indexes, spaces, a frozen anchor set, a
# fitted translation, stored relative vectors, a non-superuser with the grants 0.1.0
# needed), updates, and compares. Needs PGHOST/PGPORT/PGUSER of a running cluster with
# relvec installed. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
old=relvec_upgrade_old
new=relvec_upgrade_new
. scripts/lib/tap.sh
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
same() {    # same DB1 DB2 SQL: the query gives the same output in both databases
	local a b
	a=$(q "$1" "$3") && b=$(q "$2" "$3") && [ "$a" = "$b" ] && return 0
	diff <(echo "$a") <(echo "$b") | head -20 | sed 's/^/# /'
	return 1
}

# Every object of the extension, described the same way whatever created it.
describe="
WITH members AS (
	SELECT d.classid, d.objid FROM pg_depend d
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'relvec'))
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' ' ||
	coalesce(obj_description(p.oid, 'pg_proc'), '-') || ' ' || coalesce(p.proacl::text, '-')
	FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid AND p.prokind <> 'a'
UNION ALL
SELECT 'aggregate ' || p.oid::regprocedure || ' ' || a.aggtransfn::regproc || ' ' || a.aggfinalfn::regproc || ' ' ||
	a.aggcombinefn::regproc || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
	FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid AND p.prokind = 'a'
	JOIN pg_aggregate a ON a.aggfnoid = p.oid
UNION ALL
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '-') || ' ' ||
	coalesce(obj_description(c.oid, 'pg_class'), '-')
	FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' ||
	a.attnotnull || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
	FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind = 'r'
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'constraint ' || c.relname || ' ' || pg_get_constraintdef(k.oid)
	FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	JOIN pg_constraint k ON k.conrelid = c.oid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
	FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typstorage::text || ' ' || t.typalign::text || ' ' || coalesce(obj_description(t.oid, 'pg_type'), '-')
	FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT 'operator ' || o.oid::regoperator || ' ' || o.oprcode::regproc || ' ' || o.oprcom::regoperator
	FROM members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
UNION ALL
SELECT 'access method ' || a.amname || ' ' || a.amtype::text || ' ' || a.amhandler::regproc || ' ' ||
	coalesce(obj_description(a.oid, 'pg_am'), '-')
	FROM members m JOIN pg_am a ON m.classid = 'pg_am'::regclass AND a.oid = m.objid
UNION ALL
SELECT 'opclass ' || am.amname || ' ' || oc.opcname || ' ' || coalesce(obj_description(oc.oid, 'pg_opclass'), '-')
	FROM members m JOIN pg_opclass oc ON m.classid = 'pg_opclass'::regclass AND oc.oid = m.objid
	JOIN pg_am am ON am.oid = oc.opcmethod
UNION ALL
SELECT 'cast ' || format_type(c.castsource, NULL) || ' -> ' || format_type(c.casttarget, NULL) || ' ' ||
	coalesce(c.castfunc::regprocedure::text, '-') || ' ' || c.castcontext::text
	FROM members m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'access method ' || a.amname || ' ' || a.amhandler::regproc
	FROM members m JOIN pg_am a ON m.classid = 'pg_am'::regclass AND a.oid = m.objid
UNION ALL
SELECT 'config ' || unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'relvec'
ORDER BY 1"

echo "1..18"
psql -q -X -d postgres -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" \
	-c "CREATE DATABASE $old" -c "CREATE DATABASE $new" || exit 1
psql -q -X -d postgres -c "DROP ROLE IF EXISTS rv_upgrade_user" -c "CREATE ROLE rv_upgrade_user" >/dev/null

# --- a 0.1.0 database in use --------------------------------------------------------------
psql -q -X -v ON_ERROR_STOP=1 -d "$old" -o /dev/null <<'SQL' || { echo "Bail out! cannot fill the 0.1.0 database"; exit 1; }
CREATE EXTENSION relvec VERSION '0.1.0';
CREATE TABLE items (id int PRIMARY KEY, a embedding(3), b embedding(3), rel embedding);
INSERT INTO items (id, a, b) SELECT i, ARRAY[sin(i), cos(i), i * 1e-3]::real[],
	ARRAY[cos(i) + 1, -sin(i), i * 2e-3]::real[] FROM generate_series(1, 300) i;
CREATE INDEX items_a_cos ON items USING rvflat (a embedding_cosine_ops);
CREATE INDEX items_b_l2 ON items USING rvflat (b embedding_l2_ops);
SELECT relvec_create_space('sa', 3, 'model A');
SELECT relvec_create_space('sb', 3, 'model B');
SELECT relvec_create_anchor_set('a5', ARRAY['1', '2', '3', '4', '5']);
SELECT relvec_set_anchors('a5', 'sa', 'SELECT id, a FROM items WHERE id <= 5');
SELECT relvec_set_anchors('a5', 'sb', 'SELECT id, b FROM items WHERE id <= 5');
SELECT relvec_freeze_anchor_set('a5');
SELECT relvec_create_anchor_set('draft', ARRAY['7', '8']);
SELECT relvec_fit_translation('a5', 'sb', 'sa', 'orthogonal');
SELECT relvec_set_space_mean('sa', 'SELECT a FROM items');
UPDATE items SET rel = relvec_project(a, 'a5', 'sa');
-- what 0.1.0's README told administrators to grant
GRANT SELECT, INSERT, UPDATE, DELETE ON relvec_spaces, relvec_anchor_sets, relvec_anchors, relvec_translations TO rv_upgrade_user;
GRANT USAGE ON SEQUENCE relvec_spaces_space_id_seq, relvec_anchor_sets_set_id_seq TO rv_upgrade_user;
SQL
check "0.1.0 installed from its released script" eq "$(q $old "SELECT extversion FROM pg_extension WHERE extname = 'relvec'")" 0.1.0
D="SELECT md5(string_agg(a::text || b::text || rel::text, ';' ORDER BY id)) FROM items"
C="SELECT md5(string_agg(x, ';' ORDER BY x)) FROM (
	SELECT name || dims || coalesce(description, '') || coalesce(mean::text, '') || mean_version AS x FROM relvec_spaces
	UNION ALL SELECT name || keys::text || frozen FROM relvec_anchor_sets
	UNION ALL SELECT set_id || '/' || space_id || '/' || ord || key || e::text FROM relvec_anchors
	UNION ALL SELECT method || from_mean::text || from_std::text || to_mean::text || to_std::text || matrix::text FROM relvec_translations) c"
K="SELECT string_agg(id::text, ',' ORDER BY a <=> '[1,0.5,0]' , id) FROM (SELECT id, a FROM items ORDER BY a <=> '[1,0.5,0]' LIMIT 7) t"
TR="SELECT md5(string_agg(relvec_translate(b, 'a5', 'sb', 'sa')::real[]::text, ';' ORDER BY id)) FROM items"
data_before=$(q $old "$D"); cat_before=$(q $old "$C"); knn_before=$(q $old "$K"); tr_before=$(q $old "$TR")

# --- the update -----------------------------------------------------------------------------
upd=$(psql -X -v ON_ERROR_STOP=1 -d "$old" -c "ALTER EXTENSION relvec UPDATE" 2>&1)
check "ALTER EXTENSION relvec UPDATE succeeds" test $? -eq 0 || echo "$upd" | sed 's/^/# /'
check "now at the default version $(sed -n "s/^default_version = '\(.*\)'/\1/p" relvec.control)" eq \
	"$(q $old "SELECT extversion FROM pg_extension WHERE extname = 'relvec'")" \
	"$(sed -n "s/^default_version = '\(.*\)'/\1/p" relvec.control)"
check "user data unchanged (embeddings and stored relative vectors)" eq "$(q $old "$D")" "$data_before"
check "catalog rows unchanged (spaces, means, sets, anchors, translation)" eq "$(q $old "$C")" "$cat_before"
check "rvflat indexes valid and used after the update" eq \
	"$(q $old "SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass AND indisvalid AND indisready")" 3
index_scan_same() {
	psql -X -At -d $old -c "SET enable_seqscan = off" -c "EXPLAIN $K" | grep -q 'Index Scan using items_a_cos' &&
		eq "$(psql -X -At -d $old -c "SET enable_seqscan = off" -c "$K" | tail -n 1)" "$knn_before"
}
check "an index scan gives the rows it gave before" index_scan_same
ivf_same() {   # an rvivf index built after the update, every list probed, answers as before
	local out
	q $old "CREATE INDEX items_a_ivf ON items USING rvivf (a embedding_cosine_ops)" >/dev/null || return 1
	out=$(psql -X -q -At -d $old -c "BEGIN" -c "DROP INDEX items_a_cos" -c "SET LOCAL enable_seqscan = off" \
		-c "SET LOCAL relvec.ivf_probes = 16384" -c "SET LOCAL relvec.ivf_rerank = 100000" \
		-c "EXPLAIN $K" -c "$K" -c "ROLLBACK") || return 1
	grep -q 'Index Scan using items_a_ivf' <<<"$out" || { echo "# no rvivf index scan"; return 1; }
	eq "$(tail -n 1 <<<"$out")" "$knn_before"
}
check "an rvivf index (new in 0.2.0) builds after the update and answers as the rvflat index did" ivf_same
check "the stored translation translates as before" eq "$(q $old "$TR")" "$tr_before"
check "rows of 0.1.0 are owned by the role that ran the update" eq \
	"$(q $old "SELECT string_agg(DISTINCT owner::text, ',') FROM (SELECT owner FROM relvec_spaces UNION ALL SELECT owner FROM relvec_anchor_sets UNION ALL SELECT owner FROM relvec_translations) o")" \
	"$(q $old "SELECT current_user")"
check "projection through the updated catalog equals the stored relative vectors" eq \
	"$(q $old "SELECT count(*) FROM items WHERE relvec_project(a, 'a5', 'sa') <> rel")" 0
check "the functions of 0.2.0 work after the update" eq "$(q $old "SELECT relvec_create_space('sc', 4); SELECT relvec_drop_space('sc'); SELECT count(*) FROM relvec_spaces" | tail -n 1)" 2
check "the 0.1.0 grants no longer let a role write the catalog directly" bash -c "
	out=\$(psql -X -At -d $old -c 'SET ROLE rv_upgrade_user' -c \"DELETE FROM relvec_anchor_sets WHERE name = 'draft'\" 2>&1);
	echo \"\$out\" | grep -q 'permission denied for table relvec_anchor_sets' || { echo \"# \$out\"; exit 1; }"
check "the plpgsql helpers of 0.1.0 are gone" eq \
	"$(q $old "SELECT count(*) FROM pg_proc WHERE proname IN ('relvec_require', 'relvec_space_id', 'relvec_set_id')")" 0

# --- the updated database has exactly what a fresh install has ----------------------------------
q $new "CREATE EXTENSION relvec" >/dev/null
check "every object equal to a fresh install (functions, tables, columns, defaults, constraints, triggers, grants, comments)" \
	same $old $new "$describe"
check "the description compared covers the catalog functions and the guard triggers" bash -c "
	[ \"\$(psql -X -At -d $new -c \"$describe\" | grep -cE 'relvec_create_space|relvec_spaces_guard|relvec_drop_translation')\" -ge 3 ]"
check "no function of the extension leaves search_path open (SQL and plpgsql)" eq "$(q $old "
	SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_language l ON l.oid = p.prolang
	WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'relvec')
	  AND l.lanname IN ('sql', 'plpgsql')
	  AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog%', false)")" 0
check "a second update is a no-op (already at the default version)" bash -c "psql -X -q -d $old -c 'ALTER EXTENSION relvec UPDATE' 2>&1 | grep -q 'already'"

[ -n "${KEEP:-}" ] || psql -q -X -d postgres -c "DROP DATABASE $old" -c "DROP DATABASE $new" -c "DROP ROLE rv_upgrade_user"
[ "$failed" -eq 0 ]
