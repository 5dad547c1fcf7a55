#!/usr/bin/env bash
# run-sql-bench.sh — SQL-level benchmarks against a throwaway cluster; prints figures and
# ratios measured in the same run, asserts nothing.
#
# project: relvec_project_query over N2 x 768 rows and 256 anchors against the bare bridge
# call (bench_project) on the same shape, in the same run.
#
# storage: an exact scan (ORDER BY e <-> q LIMIT 10) over N 768-d embeddings stored with
# the type's STORAGE = main (inline) against the same rows with STORAGE = external (moved
# to the TOAST table), to show why the type is declared main.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh
N=${RELVEC_BENCH_ROWS:-50000}
N2=${RELVEC_BENCH_PROJECT_ROWS:-100000}
REPS=${RELVEC_BENCH_REPS:-5}

RV_PG_OPTS="-c shared_buffers=1GB -c max_parallel_workers_per_gather=0 -c jit=off" rv_cluster_start >/dev/null
psql -q -X -d postgres -c "CREATE DATABASE relvec_bench"
psql -q -X -d relvec_bench -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION relvec;
CREATE TABLE emb_main (id int, e embedding(768));
CREATE TABLE emb_external (id int, e embedding(768));
ALTER TABLE emb_external ALTER COLUMN e SET STORAGE EXTERNAL;
INSERT INTO emb_main
	SELECT i, (SELECT array_agg(random()::real) FROM generate_series(1, 768) WHERE i > 0)::embedding
	FROM generate_series(1, $N) i;
INSERT INTO emb_external SELECT * FROM emb_main;
VACUUM ANALYZE emb_main;
VACUUM ANALYZE emb_external;
SQL

# best-of-REPS wall time in ms of one query (after one warm-up run)
time_query() {
	psql -X -q -d relvec_bench -v ON_ERROR_STOP=1 -c "$1" >/dev/null
	local best="" t
	for _ in $(seq "$REPS"); do
		t=$(psql -X -q -d relvec_bench -At -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
	done
	echo "$best"
}

Q="(SELECT e FROM emb_main WHERE id = 1)"
main_ms=$(time_query "SELECT id FROM emb_main ORDER BY e <-> $Q LIMIT 10")
ext_ms=$(time_query "SELECT id FROM emb_external ORDER BY e <-> $Q LIMIT 10")
main_mb=$(psql -X -At -d relvec_bench -c "SELECT pg_relation_size('emb_main') / 1048576")
ext_heap_mb=$(psql -X -At -d relvec_bench -c "SELECT pg_relation_size('emb_external') / 1048576")
ext_toast_mb=$(psql -X -At -d relvec_bench -c "SELECT pg_relation_size(reltoastrelid) / 1048576 FROM pg_class WHERE relname = 'emb_external'")
echo "storage: exact scan, $N x 768, ORDER BY <-> LIMIT 10 (best of $REPS, shared_buffers warm)"
echo "  STORAGE main (relvec's choice): $main_ms ms   heap ${main_mb} MB, no TOAST"
echo "  STORAGE external:               $ext_ms ms   heap ${ext_heap_mb} MB + TOAST ${ext_toast_mb} MB"
awk "BEGIN{printf \"  external / main = %.2fx\n\", $ext_ms / $main_ms}"

# --- projection throughput ------------------------------------------------------------------
psql -q -X -d relvec_bench -v ON_ERROR_STOP=1 <<SQL
\o /dev/null
CREATE TABLE proj_items (id int, e embedding(768));
-- the storage rows, repeated until there are N2
INSERT INTO proj_items SELECT g * $N + id, e FROM emb_main, generate_series(0, ($N2 - 1) / $N) g
	WHERE g * $N + id <= $N2;
VACUUM ANALYZE proj_items;
SELECT relvec_create_space('bench768', 768);
SELECT relvec_choose_anchors('bench256', 'bench768', 'SELECT id, e FROM proj_items WHERE id <= 5000', 256, 'random', 1);
SELECT relvec_freeze_anchor_set('bench256');
SQL
rows=$(psql -X -At -d relvec_bench -c "SELECT count(*) FROM proj_items")
sql_ms=$(time_query "SELECT count(*) FROM relvec_project_query('SELECT id, e FROM proj_items', 'bench256', 'bench768')")
bare=$(RELVEC_BENCH_N=$rows RELVEC_BENCH_D=768 RELVEC_BENCH_K=256 build/bench/bench_project)
bare_ms=$(echo "$bare" | sed -n 's/.*cosine: \([0-9.]*\) ms.*/\1/p')
echo "project: $rows x 768, 256 anchors, cosine (best of $REPS)"
echo "  relvec_project_query (SQL, heap read + projection + tuplestore): $sql_ms ms"
echo "  bare rv_project (bridge only):                                  $bare_ms ms"
awk "BEGIN{printf \"  SQL / bare = %.2fx; SQL throughput %.0f rows/s\n\", $sql_ms / $bare_ms, $rows / ($sql_ms / 1000)}"
