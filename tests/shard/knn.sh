#!/usr/bin/env bash
# knn.sh — the batched functions over a sharded corpus (relvec_shard_knn,
# relvec_shard_stitch_knn) and one catalog on every shard (relvec_publish,
# relvec_catalog_fingerprint). A coordinator and two shards on loopback (tests/shard/lib.sh);
# the Fashion-MNIST fixture hash-partitioned by id into three postgres_fdw partitions (two
# on shard1, one on shard2), and the same rows in one local table on the coordinator. The
# sharded answers must equal the single-server functions over the local table exactly
# (keys, ranks, distances as text), for every metric and stitching route; the rows a shard
# returns must be k per query; shards whose catalog differs, lacks the set, or is down are
# refused by name. TAP output. Run it under the install lock:
#   /tmp/pglock.sh "$PWD" bash tests/shard/knn.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh
. scripts/lib/tap.sh
. tests/shard/lib.sh

# the first error line of SQL on cluster I, with its SQLSTATE: "ERROR:  22023: message"
err() {   # err I SQL
	sq "$1" -v VERBOSITY=verbose -c "$2" 2>&1 | grep -m1 '^ERROR'
}
# err, and the line must contain every further argument
fails() {   # fails I SQL TEXT...
	local i=$1 sql=$2 e; shift 2
	e=$(err "$i" "$sql")
	[ -n "$e" ] || { echo "# no error from: $sql"; return 1; }
	for t in "$@"; do
		grep -qF -- "$t" <<<"$e" || { echo "# $e"; echo "# does not contain: $t"; return 1; }
	done
}
# two queries give the same output on the coordinator (and some output)
same() {   # same SQL_A SQL_B
	local a b
	a=$(sq 0 -c "$1") || return 1
	b=$(sq 0 -c "$2") || return 1
	[ -n "$a" ] || { echo "# no rows"; return 1; }
	[ "$a" = "$b" ] && return 0
	diff <(tr , '\n' <<<"$a") <(tr , '\n' <<<"$b") | head -n 10 | sed 's/^/# /'
	return 1
}
# the result of a kNN function as one line, in (query, rank) order
rows() {   # rows FROM_CLAUSE
	echo "SELECT count(*) || ' ' || string_agg(query_key || ':' || rank || ':' || corpus_key || ':' || distance::text, ','
		ORDER BY query_key::int, rank) FROM $1"
}

QUERIES_A="SELECT idx, a FROM fixtures.fmnist WHERE split = ''test'' AND idx % 10 = 0"
QUERIES_B="SELECT idx, b FROM fixtures.fmnist WHERE split = ''test'' AND idx % 10 = 0"

echo "1..37"
shard_clusters_start 2 || { echo "Bail out! cannot start the clusters"; exit 1; }
bash tests/load-fixtures.sh relvec_shard || { echo "Bail out! cannot load the fixtures"; exit 1; }
for i in 1 2; do
	sq "$i" -c "CREATE TABLE items_0 (id int, label int, a embedding(64), b embedding(64));
		CREATE TABLE items_1 (LIKE items_0); CREATE TABLE items_2 (LIKE items_0)" || exit 1
done
sq 0 <<'SQL' || { echo "Bail out! cannot create the sharded table"; exit 1; }
CREATE TABLE items (id int NOT NULL, label int, a embedding(64), b embedding(64)) PARTITION BY HASH (id);
CREATE FOREIGN TABLE items_0 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 0) SERVER shard1;
CREATE FOREIGN TABLE items_1 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 1) SERVER shard2;
CREATE FOREIGN TABLE items_2 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 2) SERVER shard1;
INSERT INTO items SELECT idx, label, a, b FROM fixtures.fmnist;
CREATE TABLE items_local AS SELECT idx AS id, label, a, b FROM fixtures.fmnist;
SQL

# --- relvec_shard_knn = relvec_knn on one server ---------------------------------------
for m in l2 ip cosine l1; do
	check "relvec_shard_knn = relvec_knn, metric $m" same \
		"$(rows "relvec_shard_knn('$QUERIES_A', 'items', 10, '$m', vector_column => 'a')")" \
		"$(rows "relvec_knn('$QUERIES_A', 'SELECT id, a FROM items_local', 10, '$m')")"
done
check "k larger than a shard's rows: every row, in order" same \
	"$(rows "relvec_shard_knn('SELECT 1, a FROM fixtures.fmnist WHERE idx = 60000', 'items', 1300, 'l2', 'id', 'a')")" \
	"$(rows "relvec_knn('SELECT 1, a FROM fixtures.fmnist WHERE idx = 60000', 'SELECT id, a FROM items_local', 1300, 'l2')")"

# k rows per query from each shard, and nothing else (DEBUG1 counts what each shard sent)
transferred() {
	local out
	out=$(sq 0 -c "SET client_min_messages = debug1" \
		-c "SELECT count(*) FROM relvec_shard_knn('$QUERIES_A', 'items', 10, 'cosine', vector_column => 'a')" 2>&1)
	grep -q '^1000$' <<<"$out" || { echo "# $out" | head -5; return 1; }
	eq "$(grep -c 'relvec_shard_knn: shard "shard1" returned 1000 rows for 100 queries' <<<"$out")" 1 &&
	eq "$(grep -c 'relvec_shard_knn: shard "shard2" returned 1000 rows for 100 queries' <<<"$out")" 1 &&
	eq "$(grep -c 'returned' <<<"$out")" 2
}
check "each shard returns k rows per query" transferred

# --- stitching: publish the catalog, then relvec_shard_stitch_knn = relvec_stitch_knn ----
sq 0 <<'SQL' >/dev/null || { echo "Bail out! cannot set up the catalog"; exit 1; }
SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A');
SELECT relvec_create_space('mlp_b', 64, 'Fashion-MNIST encoder B');
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_set_space_mean('mlp_a', 'SELECT a FROM fixtures.fmnist');
SELECT relvec_set_space_mean('mlp_b', 'SELECT b FROM fixtures.fmnist');
SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a');
SQL
fp() { sq "$1" -c "SELECT relvec_catalog_fingerprint('fm300', 'mlp_b', 'mlp_a')"; }
published() {
	local p1 p2
	p1=$(sq 0 -c "SELECT relvec_publish('shard1', 'fm300', 'mlp_b', 'mlp_a')") &&
	p2=$(sq 0 -c "SELECT relvec_publish('shard2', 'fm300', 'mlp_b', 'mlp_a')") &&
	eq "$p1" "$(fp 0)" && eq "$p2" "$p1" && eq "$(fp 1)" "$p1" && eq "$(fp 2)" "$p1" &&
	eq "$(sq 2 -c "SELECT relvec_catalog_fingerprint('fm300')")" "$(sq 0 -c "SELECT relvec_catalog_fingerprint('fm300')")"
}
check "relvec_publish: every shard's fingerprint equals the coordinator's" published
# the copy is exact: the same anchors and matrix, bit for bit, and the same mean
exact_copy() {
	local q="SELECT md5(string_agg(s.name || a.key || a.e::text, ',' ORDER BY s.name, a.ord))
		|| md5((SELECT string_agg(x::text, ',') FROM relvec_translations, unnest(matrix) x))
		|| md5((SELECT mean::text FROM relvec_spaces WHERE name = 'mlp_a'))
		FROM relvec_anchors a JOIN relvec_spaces s USING (space_id)"
	eq "$(sq 1 -c "$q")" "$(sq 0 -c "$q")"
}
check "the shard's anchors, matrix and mean equal the coordinator's" exact_copy
republish() {
	local before
	before=$(sq 1 -c "SELECT set_id FROM relvec_anchor_sets WHERE name = 'fm300'")
	eq "$(sq 0 -c "SELECT relvec_publish('shard1', 'fm300', 'mlp_b', 'mlp_a')")" "$(fp 0)" &&
	eq "$(sq 1 -c "SELECT set_id FROM relvec_anchor_sets WHERE name = 'fm300'")" "$before"
}
check "publishing an identical copy again changes nothing" republish

for via in translation absolute; do
	check "relvec_shard_stitch_knn = relvec_stitch_knn, via $via" same \
		"$(rows "relvec_shard_stitch_knn('$QUERIES_B', 'mlp_b', 'items', 'mlp_a', 'fm300', 10, '$via', vector_column => 'a')")" \
		"$(rows "relvec_stitch_knn('$QUERIES_B', 'mlp_b', 'SELECT id, a FROM items_local', 'mlp_a', 'fm300', 10, '$via')")"
done
# relative: the corpus rows are projected a chunk at a time (sgemm), and a shard's chunks
# hold other rows than one server's, so distances agree within 1e-6, as relvec_stitch_knn's
# with relvec_project's; the keys and ranks must be the same
near() {   # near SHARDED LOCAL: the same (query, rank, key), distances within 1e-6
	eq "$(sq 0 -c "WITH a AS (SELECT * FROM $1), b AS (SELECT * FROM $2)
		SELECT (SELECT count(*) FROM a) || ' ' || count(*) FILTER (WHERE a.corpus_key IS DISTINCT FROM b.corpus_key
			OR NOT abs(a.distance - b.distance) <= 1e-6) FROM a FULL JOIN b USING (query_key, rank)")" "$3 0"
}
check "relvec_shard_stitch_knn = relvec_stitch_knn, via relative" near \
	"relvec_shard_stitch_knn('$QUERIES_B', 'mlp_b', 'items', 'mlp_a', 'fm300', 10, 'relative', vector_column => 'a')" \
	"relvec_stitch_knn('$QUERIES_B', 'mlp_b', 'SELECT id, a FROM items_local', 'mlp_a', 'fm300', 10, 'relative')" 1000
check "relvec_shard_stitch_knn = relvec_stitch_knn, relative, two similarities, centred on the space means" near \
	"relvec_shard_stitch_knn('$QUERIES_B', 'mlp_b', 'items', 'mlp_a', 'fm300', 5, 'relative', 'cosine+euclidean', 'space', 'id', 'a')" \
	"relvec_stitch_knn('$QUERIES_B', 'mlp_b', 'SELECT id, a FROM items_local', 'mlp_a', 'fm300', 5, 'relative', 'cosine+euclidean', 'space')" 500

# --- shards whose catalog differs are refused by name ------------------------------------
STITCH="SELECT count(*) FROM relvec_shard_stitch_knn('$QUERIES_B', 'mlp_b', 'items', 'mlp_a', 'fm300', 10, 'relative', vector_column => 'a')"
STITCH_T="SELECT count(*) FROM relvec_shard_stitch_knn('$QUERIES_B', 'mlp_b', 'items', 'mlp_a', 'fm300', 10, 'translation', vector_column => 'a')"
sq 2 -c "SELECT relvec_set_space_mean('mlp_a', 'SELECT a FROM items_1')" >/dev/null
check "a shard whose anchor set differs is refused, naming it" \
	fails 0 "$STITCH" '55000' 'anchor set "fm300" on shard "shard2" differs'
check "publishing over a different copy needs replace" \
	fails 0 "SELECT relvec_publish('shard2', 'fm300')" '42710' 'shard "shard2": space "mlp_a" already exists with other contents'
check "publish with replace => true makes it equal again" \
	eq "$(sq 0 -c "SELECT relvec_publish('shard2', 'fm300', replace => true)" -c "$STITCH")" \
	"$(sq 0 -c "SELECT relvec_catalog_fingerprint('fm300')")
1000"
sq 2 -c "SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a', 'linear')" >/dev/null
check "a shard whose translation differs is refused for the translation route, naming it" \
	fails 0 "$STITCH_T" '55000' 'translation from space "mlp_b" to space "mlp_a" in anchor set "fm300" on shard "shard2" differs'
check "... and the relative route still runs" eq "$(sq 0 -c "$STITCH")" 1000
sq 1 -c "SELECT relvec_drop_anchor_set('fm300', cascade => true)" >/dev/null
check "a shard without the anchor set is refused, naming it" \
	fails 0 "$STITCH" '55000' 'anchor set "fm300" does not exist on shard "shard1"'
check "publish restores both shards, translation included" \
	eq "$(sq 0 -c "SELECT relvec_publish('shard1', 'fm300', 'mlp_b', 'mlp_a')" \
		-c "SELECT relvec_publish('shard2', 'fm300', 'mlp_b', 'mlp_a', replace => true)" -c "$STITCH_T" | tail -n 1)" 1000

# --- errors ------------------------------------------------------------------------------
check "bad metric: relvec_knn's error" eq \
	"$(err 0 "SELECT * FROM relvec_shard_knn('$QUERIES_A', 'items', 10, 'l3', vector_column => 'a')")" \
	"$(err 0 "SELECT * FROM relvec_knn('$QUERIES_A', 'SELECT id, a FROM items_local', 10, 'l3')")"
check "k <= 0: relvec_knn's error" eq \
	"$(err 0 "SELECT * FROM relvec_shard_knn('$QUERIES_A', 'items', 0, vector_column => 'a')")" \
	"$(err 0 "SELECT * FROM relvec_knn('$QUERIES_A', 'SELECT id, a FROM items_local', 0)")"
check "not a partitioned table" \
	fails 0 "SELECT * FROM relvec_shard_knn('$QUERIES_A', 'items_local', 10, vector_column => 'a')" \
	'42809' '"items_local" is not a partitioned table'
check "two embedding columns and none named" \
	fails 0 "SELECT * FROM relvec_shard_knn('$QUERIES_A', 'items', 10)" '42702' 'more than one column of type embedding'
sq 0 -c "CREATE ROLE reader; GRANT SELECT ON fixtures.fmnist TO reader; GRANT USAGE ON SCHEMA fixtures TO reader" || exit 1
check "no SELECT privilege on the parent" \
	fails 0 "SET ROLE reader; SELECT * FROM relvec_shard_knn('$QUERIES_A', 'items', 10, vector_column => 'a')" \
	'42501' 'permission denied for table items'
check "unknown anchor set: relvec_stitch_knn's error" eq \
	"$(err 0 "SELECT * FROM relvec_shard_stitch_knn('$QUERIES_B', 'mlp_b', 'items', 'mlp_a', 'nope', 10, vector_column => 'a')")" \
	"$(err 0 "SELECT * FROM relvec_stitch_knn('$QUERIES_B', 'mlp_b', 'SELECT id, a FROM items_local', 'mlp_a', 'nope', 10)")"

check "tagged queries: the same answer as one server" same \
	"$(rows "relvec_shard_knn('SELECT idx, relvec_tag(a, ''mlp_a'') FROM fixtures.fmnist WHERE idx % 100 = 0', 'items', 5, 'l2', vector_column => 'a')")" \
	"$(rows "relvec_knn('SELECT idx, relvec_tag(a, ''mlp_a'') FROM fixtures.fmnist WHERE idx % 100 = 0', 'SELECT id, a FROM items_local', 5, 'l2')")"
# the catalog functions' errors have their own SQLSTATEs
check "fingerprint of an unknown set" fails 0 "SELECT relvec_catalog_fingerprint('nope')" '42704' 'anchor set "nope" does not exist'
check "fingerprint with one space" fails 0 "SELECT relvec_catalog_fingerprint('fm300', 'mlp_b')" '22023'
check "fingerprint of a translation not fitted" \
	fails 0 "SELECT relvec_catalog_fingerprint('fm300', 'mlp_a', 'mlp_b')" '55000' 'no translation fitted'
check "publish to an unknown server" fails 0 "SELECT relvec_publish('nope', 'fm300')" '42704' 'server "nope" does not exist'
check "import: no keys" fails 1 "SELECT relvec_import_anchor_set('x', '{}', '{mlp_a}', '{}', false)" '22023'
check "import: anchors of other dimensions" \
	fails 1 "SELECT relvec_import_anchor_set('x', '{k}', '{mlp_a}', ARRAY['[1,2]'::embedding], false)" '22000' 'has 2 dimensions'
check "import: a mean of other dimensions" fails 1 "SELECT relvec_import_space('s', 3, NULL, '[1,2]', false)" '22000'
check "import: a matrix of the wrong size" \
	fails 1 "SELECT relvec_import_translation('fm300', 'mlp_b', 'mlp_a', 'orthogonal', from_mean, from_std, to_mean, to_std, '{1}', NULL, false) FROM relvec_translations" '22000' 'matrix must be'
check "import: replacing another role's translation needs its privileges" \
	fails 1 "CREATE ROLE other; GRANT USAGE ON SCHEMA public TO other; SET ROLE other;
		SELECT relvec_import_translation('fm300', 'mlp_b', 'mlp_a', 'orthogonal', to_mean, from_std, from_mean, to_std, matrix, NULL, true) FROM relvec_translations" \
	'42501' 'must be owner of the translation'

# a stopped shard: an error naming it, never a partial answer
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "${SHARD_DIR[2]}/data" -m fast -w stop >/dev/null
check "a stopped shard gives an error naming it" \
	fails 0 "SELECT * FROM relvec_shard_knn('$QUERIES_A', 'items', 10, vector_column => 'a')" 'shard2'
tap_done
