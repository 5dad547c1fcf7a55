#!/usr/bin/env bash
# run-shard-bench.sh — what sharding costs: the same corpus on one server, on one shard and on
# two shards behind a coordinator (postgres_fdw on loopback, tests/shard/lib.sh), measured in
# one run. Figures are printed, never asserted.
#
# Data (bench/serving/serving_data.c, seeded): N x D clustered vectors (default 200,000 x 768)
# and 100 queries of the same model, cosine, top-10. Clusters: a coordinator with the corpus in
# a local table `one` (rvflat index) and three partitioned tables over foreign tables:
#   items1       one partition: all rows on shard 1 (table items_full)
#   items2       hash-partitioned by id in two: shard 1 and shard 2 (table items_s each)
# every shard table with its own rvflat index.
#
# Printed per configuration (one server; 1 shard; 2 shards; 2 shards with
# relvec.shard_pushdown = off, PostgreSQL's own Merge Append plan):
#   single-query latency  p50 and p90 of REPS queries of ORDER BY e <=> q LIMIT 10, one
#                         session, each statement planned with its query (EXECUTE ... USING)
#   rows, bytes moved     rows the shards sent for one query (EXPLAIN ANALYZE of the pushed-down
#                         plan), and the bytes the coordinator's shard connections moved for it,
#                         measured on the loopback interface (/proc/net/dev, both directions:
#                         psql reaches the coordinator over its Unix socket and is not counted)
#   batched kNN           100 queries at once: relvec_knn on one server, relvec_shard_knn on
#                         the sharded tables (when that function exists)
# and the ratio of each to one server. On a 2-core machine the shards share the cores with the
# coordinator: two shards cannot be faster here; the ratios are the distributed path's overhead.
#
#   BENCH_N (200000), BENCH_D (768), BENCH_REPS (20)
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh
. tests/shard/lib.sh

N=${BENCH_N:-200000}
D=${BENCH_D:-768}
REPS=${BENCH_REPS:-20}
NQ=100
K=10

GEN=build/bench/serving_data
if [ ! -x $GEN ] || [ bench/serving/serving_data.c -nt $GEN ]; then
	mkdir -p build/bench
	cc -O3 -march=native -Wall -Wextra -Werror -o $GEN bench/serving/serving_data.c -lm || exit 1
fi

echo "shard bench: $N x $D clustered, cosine, top-$K; $REPS single queries, $NQ batched"
echo "machine: $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
RV_PG_OPTS="-c shared_buffers=1GB -c max_parallel_workers_per_gather=0 -c jit=off -c maintenance_work_mem=1GB -c max_wal_size=8GB" \
	shard_clusters_start 2 >/dev/null || exit 1
WORK=$(mktemp -d /tmp/relvec-shbench.XXXXXX)
trap 'shard_clusters_stop; rm -rf "$WORK"' EXIT

t0=$SECONDS
$GEN gen clustered "$N" "$D" 20 21 "$WORK/c.f32"
$GEN gen clustered "$NQ" "$D" 20 22 "$WORK/q.f32"
$GEN text "$WORK/c.f32" "$N" "$D" >"$WORK/c.txt"
$GEN text "$WORK/q.f32" "$NQ" "$D" >"$WORK/q.txt"
chmod 644 "$WORK"/*.txt; chmod 755 "$WORK"
# every shard table is loaded whole, then keeps its hash partition's rows (satisfies_hash_partition
# over a partitioned table of the same key type hashes as the coordinator does)
for i in 1 2; do
	sq "$i" <<SQL || exit 1
CREATE TABLE items_s (id int PRIMARY KEY, e embedding($D));
COPY items_s FROM '$WORK/c.txt';
CREATE TABLE hp (id int) PARTITION BY HASH (id);
DELETE FROM items_s WHERE NOT satisfies_hash_partition('hp'::regclass, 2, $((i - 1)), id);
VACUUM ANALYZE items_s;
CREATE INDEX ON items_s USING rvflat (e embedding_cosine_ops);
SQL
done
sq 1 <<SQL || exit 1
CREATE TABLE items_full (id int PRIMARY KEY, e embedding($D));
COPY items_full FROM '$WORK/c.txt';
VACUUM ANALYZE items_full;
CREATE INDEX ON items_full USING rvflat (e embedding_cosine_ops);
SQL
sq 0 <<SQL || exit 1
CREATE TABLE one (id int PRIMARY KEY, e embedding($D));
COPY one FROM '$WORK/c.txt';
VACUUM ANALYZE one;
CREATE INDEX ON one USING rvflat (e embedding_cosine_ops);
-- the planner sees relvec from a session's first statement (README: Beyond one machine)
ALTER DATABASE relvec_shard SET session_preload_libraries = 'relvec';
CREATE TABLE q (id int PRIMARY KEY, e embedding($D));
COPY q FROM '$WORK/q.txt';
CREATE TABLE items1 (id int, e embedding($D)) PARTITION BY HASH (id);
CREATE FOREIGN TABLE items1_p0 PARTITION OF items1 FOR VALUES WITH (MODULUS 1, REMAINDER 0)
	SERVER shard1 OPTIONS (table_name 'items_full');
CREATE TABLE items2 (id int, e embedding($D)) PARTITION BY HASH (id);
CREATE FOREIGN TABLE items2_p0 PARTITION OF items2 FOR VALUES WITH (MODULUS 2, REMAINDER 0)
	SERVER shard1 OPTIONS (table_name 'items_s');
CREATE FOREIGN TABLE items2_p1 PARTITION OF items2 FOR VALUES WITH (MODULUS 2, REMAINDER 1)
	SERVER shard2 OPTIONS (table_name 'items_s');
-- bytes on the loopback interface: the coordinator's postgres_fdw connections to the shards
-- (psql talks to the coordinator over its Unix socket, so it is not counted)
CREATE FUNCTION lo_bytes() RETURNS bigint LANGUAGE sql AS \$\$
	SELECT split_part(regexp_replace(l, '^\s*lo:\s*', ''), ' ', 1)::bigint
	FROM regexp_split_to_table(pg_read_file('/proc/net/dev'), E'\n') l WHERE l ~ '^\s*lo:' \$\$;
-- bytes received on loopback during one top-k (connections already open)
CREATE FUNCTION moved(tbl text) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE
	b0 bigint;
	got text;
BEGIN
	EXECUTE format('SELECT string_agg(id::text, %L) FROM (SELECT id FROM %s ORDER BY e <=> \$1 LIMIT $K) s', ',', tbl)
		INTO got USING (SELECT e FROM q WHERE id = 2);
	b0 := lo_bytes();
	EXECUTE format('SELECT string_agg(id::text, %L) FROM (SELECT id FROM %s ORDER BY e <=> \$1 LIMIT $K) s', ',', tbl)
		INTO got USING (SELECT e FROM q WHERE id = 1);
	RETURN lo_bytes() - b0;
END \$\$;
-- p50 and p90 (ms) of REPS single queries, each planned with its query vector
CREATE FUNCTION lat(tbl text, reps int) RETURNS TABLE (p50 float8, p90 float8, check_ids text)
LANGUAGE plpgsql AS \$\$
DECLARE
	t float8[] := '{}';
	qv embedding;
	t0 timestamptz;
	ids text := '';
	got text;
BEGIN
	EXECUTE format('SELECT string_agg(id::text, %L) FROM (SELECT id FROM %s ORDER BY e <=> \$1 LIMIT $K) s', ',', tbl)
		INTO got USING (SELECT e FROM q WHERE id = $NQ);	-- warm-up: connections, pages
	FOR i IN 1..reps LOOP
		SELECT e INTO qv FROM q WHERE id = i;
		t0 := clock_timestamp();
		EXECUTE format('SELECT string_agg(id::text, %L) FROM (SELECT id FROM %s ORDER BY e <=> \$1 LIMIT $K) s', ',', tbl)
			INTO got USING qv;
		t := t || extract(epoch FROM clock_timestamp() - t0) * 1000;
		ids := ids || got || ';';
	END LOOP;
	RETURN QUERY SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), percentile_cont(0.9) WITHIN GROUP (ORDER BY x), md5(ids)
		FROM unnest(t) x;
END \$\$;
SQL
echo "data loaded in $((SECONDS - t0)) s (one server, one shard holding all rows, two shards of $(sq 1 -c "SELECT count(*) FROM items_s") and $(sq 2 -c "SELECT count(*) FROM items_s") rows)"

# one configuration: NAME TABLE [SETTINGS]
declare -A P50 ROWS
run_cfg() {
	local name=$1 tbl=$2 set=${3:-} out p50 p90 ids plan rows bytes
	out=$(sq 0 -c "SET client_min_messages = warning" ${set:+-c "$set"} -c "SELECT round(p50::numeric, 1) || ' ' || round(p90::numeric, 1) || ' ' || check_ids FROM lat('$tbl', $REPS)") || return 1
	read -r p50 p90 ids <<<"$out"
	P50[$name]=$p50
	[ "$name" = "one server" ] && REF_IDS=$ids
	plan=$(sq 0 ${set:+-c "$set"} -c "EXPLAIN (ANALYZE, VERBOSE, TIMING OFF, COSTS OFF) SELECT id FROM $tbl ORDER BY e <=> (SELECT e FROM q WHERE id = 1) LIMIT $K")
	rows=$(sed -n 's/.*Rows From Shards: //p' <<<"$plan")
	[ -n "$rows" ] || rows=-
	bytes=$(sq 0 ${set:+-c "$set"} -c "SELECT moved('$tbl')")
	ROWS[$name]=$bytes
	printf '%-32s %9s %9s %8s %12s %6s\n' "$name" "$p50" "$p90" "$rows" "$bytes" \
		"$([ "$ids" = "$REF_IDS" ] && echo same || echo DIFFERENT)"
}
echo
echo "single query, ORDER BY e <=> q LIMIT $K ($REPS queries; ms)"
printf '%-32s %9s %9s %8s %12s %6s\n' configuration p50 p90 rows "bytes moved" answers
run_cfg "one server" one
run_cfg "1 shard (pushed down)" items1
run_cfg "2 shards (pushed down)" items2
run_cfg "2 shards (Merge Append, off)" items2 "SET relvec.shard_pushdown = off"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "overhead against one server (p50): 1 shard $(ratio "${P50[1 shard (pushed down)]}" "${P50[one server]}")x, 2 shards $(ratio "${P50[2 shards (pushed down)]}" "${P50[one server]}")x; pushdown against Merge Append on 2 shards: $(ratio "${P50[2 shards (Merge Append, off)]}" "${P50[2 shards (pushed down)]}")x faster, $(ratio "${ROWS[2 shards (Merge Append, off)]}" "${ROWS[2 shards (pushed down)]}")x fewer bytes moved"

echo
echo "batched kNN: $NQ queries, top-$K"
bt() {   # bt SQL: seconds, then md5 of the answer
	sq 0 -c "SET client_min_messages = warning" -c "CREATE TEMP TABLE r AS $1" -c "SELECT md5(string_agg(query_key || ':' || rank || ':' || corpus_key, ',' ORDER BY query_key::int, rank)) FROM r" \
		| tail -n 1
}
timed() { local t0 t1 h; t0=$(date +%s.%N); h=$(bt "$1") || return 1; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" -v h="$h" 'BEGIN { printf "%.2f %s", b - a, h }'; }
read -r b1 h1 <<<"$(timed "SELECT * FROM relvec_knn('SELECT id, e FROM q', 'SELECT id, e FROM one ORDER BY id', $K)")"
printf '%-32s %8s s\n' "one server (relvec_knn)" "$b1"
if [ "$(sq 0 -c "SELECT to_regproc('relvec_shard_knn') IS NOT NULL")" = t ]; then
	for t in items1 items2; do
		read -r bs hs <<<"$(timed "SELECT * FROM relvec_shard_knn('SELECT id, e FROM q', '$t', $K)")"
		printf '%-32s %8s s   %sx one server, answers %s\n' "$t (relvec_shard_knn)" "$bs" "$(ratio "$bs" "$b1")" \
			"$([ "$hs" = "$h1" ] && echo same || echo DIFFERENT)"
	done
else
	echo "relvec_shard_knn: not in this build, skipped"
fi
