#!/usr/bin/env bash
# run-index-bench.sh — the exact kNN index rvflat against its baselines, measured in the same
# run on a throwaway cluster; prints figures and ratios, asserts nothing.
#
# For random data (uniform in [-1, 1)) and clustered data (100 random centres plus noise),
# N x D embeddings (default 100,000 x 768), cosine, k = 10, NQ queries:
#   - single-query SQL latency (median over the queries, timed inside the server) of
#     ORDER BY e <=> q LIMIT k through rvflat vs a sequential scan with the same operator,
#     and vs the streaming read of the index's bytes from memory (build/bench/bench_stream);
#   - the same with the backend's host copy of the index (relvec.rvflat_cache_mb);
#   - recall@k of rvflat against the sequential scan (it is exact: 1.0);
#   - CREATE INDEX time vs the time to read the table;
#   - when pgvector is installed (CREATE EXTENSION vector succeeds): its exact scan and its
#     HNSW index (m = 16, ef_construction = 64, ef_search = 40: the defaults), latency and
#     recall@k, on the same vectors.
#   - when a Vulkan device 0 exists (RELVEC_BENCH_VULKAN=0 skips it): rvflat with the index
#     resident on it (relvec.device = 'vulkan:0'; the warm-up query uploads it), latency and
#     recall@k. On a machine without a GPU that device is Mesa lavapipe, which runs the shader
#     on the CPU: those figures are NOT GPU figures, only a check that the path works.
# RELVEC_BENCH_ROWS, RELVEC_BENCH_DIMS, RELVEC_BENCH_QUERIES shrink it; RELVEC_BENCH_HNSW=0
# skips pgvector. Queries run without parallel workers. Run it under the install lock
# (flock /tmp/relvec-install.lock) when other builds may be installed meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh
N=${RELVEC_BENCH_ROWS:-100000}
D=${RELVEC_BENCH_DIMS:-768}
NQ=${RELVEC_BENCH_QUERIES:-20}
K=10
HNSW=${RELVEC_BENCH_HNSW:-1}
VULKAN=${RELVEC_BENCH_VULKAN:-1}

make -s build/bench/bench_stream
RV_PG_OPTS="-c shared_buffers=2GB -c max_parallel_workers_per_gather=0 -c jit=off -c maintenance_work_mem=2GB -c max_wal_size=8GB" \
	rv_cluster_start >/dev/null
psql -q -X -d postgres -c "CREATE DATABASE relvec_ibench"
b() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d relvec_ibench "$@"; }
b <<SQL
CREATE EXTENSION relvec;
CREATE FUNCTION rnd(d int, s float8) RETURNS embedding LANGUAGE sql VOLATILE AS
	\$\$ SELECT array_agg(((random() * 2 - 1) * s)::real)::embedding FROM generate_series(1, d) \$\$;
SELECT setseed(0.25);
CREATE TABLE centres AS SELECT c, rnd($D, 1) AS e FROM generate_series(1, 100) c;
CREATE TABLE t_random (id int, e embedding($D));
INSERT INTO t_random SELECT i, rnd($D, 1) FROM generate_series(1, $N) i;
CREATE TABLE t_clustered (id int, e embedding($D));
INSERT INTO t_clustered SELECT i, c.e + rnd($D, 0.15) FROM generate_series(1, $N) i JOIN centres c ON c.c = i % 100 + 1;
CREATE TABLE q_random AS SELECT i AS qid, rnd($D, 1) AS e FROM generate_series(1, $NQ) i;
CREATE TABLE q_clustered AS SELECT i AS qid, c.e + rnd($D, 0.15) AS e FROM generate_series(1, $NQ) i JOIN centres c ON c.c = (i * 7) % 100 + 1;
VACUUM ANALYZE t_random; VACUUM ANALYZE t_clustered;

-- median wall time (ms) of sql over the queries of qtab (parameter 1 = the query), measured in the
-- server, after one warm-up query; the ids of each answer go to results(method, qid, ids)
CREATE TABLE results (method text, qid int, ids int[]);
CREATE FUNCTION bench(method text, sql text, qtab text, qcol text DEFAULT 'e') RETURNS float8 LANGUAGE plpgsql AS \$f\$
DECLARE r record; t0 timestamptz; times float8[] := '{}'; ids int[];
BEGIN
	FOR r IN EXECUTE format('SELECT qid, %I AS e FROM %I ORDER BY qid', qcol, qtab) LOOP
		IF r.qid = 1 THEN EXECUTE format('SELECT array_agg(id) FROM (%s) s', sql) INTO ids USING r.e; END IF;
		t0 := clock_timestamp();
		EXECUTE format('SELECT array_agg(id) FROM (%s) s', sql) INTO ids USING r.e;
		times := times || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
		INSERT INTO results VALUES (method, r.qid, ids);
	END LOOP;
	RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END \$f\$;
-- mean recall@k of a method against the exact answers
CREATE FUNCTION recall(method text, exact text) RETURNS float8 LANGUAGE sql AS \$\$
	SELECT avg((SELECT count(*) FROM unnest(a.ids) x WHERE x = ANY (e.ids))::float8 / cardinality(e.ids))
	FROM results a JOIN results e USING (qid) WHERE a.method = \$1 AND e.method = \$2 \$\$;
-- best-of-reps wall time (ms) of a statement
CREATE FUNCTION timed(sql text, reps int DEFAULT 3) RETURNS float8 LANGUAGE plpgsql AS \$f\$
DECLARE t0 timestamptz; best float8; t float8;
BEGIN
	FOR i IN 1..reps LOOP
		t0 := clock_timestamp(); EXECUTE sql;
		t := extract(epoch FROM clock_timestamp() - t0) * 1000;
		best := least(best, t);
	END LOOP;
	RETURN best;
END \$f\$;
SQL

have_pgvector=0
if [ "$HNSW" = 1 ] && b -c "CREATE EXTENSION vector" 2>/dev/null; then have_pgvector=1; fi

echo "rvflat: $N x $D, cosine, k = $K, median over $NQ queries (server-side timing; shared 2-core machine: indicative)"
for data in random clustered; do
	T=t_$data
	read_ms=$(b -c "SELECT round(timed('SELECT sum(embedding_dims(e)) FROM $T')::numeric, 1)")
	build_ms=$(b -c "SELECT round(timed('DROP INDEX IF EXISTS ${T}_cos; CREATE INDEX ${T}_cos ON $T USING rvflat (e embedding_cosine_ops)')::numeric, 1)")
	idx_bytes=$(b -c "SELECT pg_relation_size('${T}_cos')")
	tbl_bytes=$(b -c "SELECT pg_relation_size('$T')")
	b -c "SELECT count(*) FROM $T" >/dev/null   # warm
	plan=$(b -c "EXPLAIN SELECT id FROM $T ORDER BY e <=> (SELECT e FROM q_$data WHERE qid = 1) LIMIT $K" | grep -c "Index Scan using ${T}_cos" || true)
	idx_ms=$(b -c "SELECT round(bench('rvflat-$data', 'SELECT id FROM $T ORDER BY e <=> \$1 LIMIT $K', 'q_$data')::numeric, 2)")
	seq_ms=$(b -c "SET enable_indexscan = off" -c "SELECT round(bench('seq-$data', 'SELECT id FROM $T ORDER BY e <=> \$1 LIMIT $K', 'q_$data')::numeric, 2)")
	rec=$(b -c "SELECT round(recall('rvflat-$data', 'seq-$data')::numeric, 4)")
	cache_ms=$(b -c "SET relvec.rvflat_cache_mb = 4096" -c "SELECT round(bench('rvflat-cache-$data', 'SELECT id FROM $T ORDER BY e <=> \$1 LIMIT $K', 'q_$data')::numeric, 2)")
	cache_rec=$(b -c "SELECT round(recall('rvflat-cache-$data', 'seq-$data')::numeric, 4)")
	stream=$(RELVEC_BENCH_BYTES=$idx_bytes build/bench/bench_stream)
	stream_ms=$(sed -n 's/.*: \([0-9.]*\) ms.*/\1/p' <<<"$stream")
	echo "== $data data"
	echo "  planner uses rvflat for ORDER BY <=> LIMIT: $([ "$plan" -ge 1 ] && echo yes || echo NO)"
	echo "  rvflat index scan:            $idx_ms ms   recall@$K vs seq scan $rec"
	echo "  rvflat, host copy cached:     $cache_ms ms   recall@$K vs seq scan $cache_rec (relvec.rvflat_cache_mb; the warm-up query builds the copy)"
	echo "  seq scan, same operator:      $seq_ms ms"
	echo "  streaming read of the index:  $stream_ms ms ($((idx_bytes / 1048576)) MB)"
	if [ "$VULKAN" = 1 ] && vk_name=$(b -c "SELECT name || ' (' || type || ')' FROM relvec_devices() WHERE index = 0") && [ -n "$vk_name" ]; then
		vk_ms=$(b -c "SET relvec.device = 'vulkan:0'" -c "SELECT round(bench('rvflat-vk-$data', 'SELECT id FROM $T ORDER BY e <=> \$1 LIMIT $K', 'q_$data')::numeric, 2)")
		vk_rec=$(b -c "SELECT round(recall('rvflat-vk-$data', 'seq-$data')::numeric, 4)")
		vk_note=""; [[ "$vk_name" == *"(cpu)" ]] && vk_note=" (CPU-type device: lavapipe runs the shader on the CPU; NOT a GPU figure)"
		echo "  rvflat resident on vulkan:0:  $vk_ms ms   recall@$K vs seq scan $vk_rec; $vk_name$vk_note"
		awk "BEGIN{printf \"  rvflat vulkan:0 / rvflat CPU = %.2fx\n\", $vk_ms / $idx_ms}"
	fi
	awk "BEGIN{printf \"  seq / rvflat = %.1fx (target >= 10); rvflat / streaming read = %.2fx (target <= 1.5)\n\", $seq_ms / $idx_ms, $idx_ms / $stream_ms}"
	awk "BEGIN{printf \"  cached: seq / rvflat = %.1fx (target >= 10); rvflat / streaming read = %.2fx (target <= 1.5)\n\", $seq_ms / $cache_ms, $cache_ms / $stream_ms}"
	echo "  CREATE INDEX:                 $build_ms ms vs reading the table $read_ms ms ($((tbl_bytes / 1048576)) MB): $(awk "BEGIN{printf \"%.2fx\", $build_ms / $read_ms}")"
	if [ "$have_pgvector" = 1 ]; then
		b <<SQL
CREATE TABLE v_$data AS SELECT id, e::text::vector($D) AS v FROM $T;
ALTER TABLE q_$data ADD COLUMN v vector($D);
UPDATE q_$data SET v = e::text::vector;
VACUUM ANALYZE v_$data;
SQL
		pv_seq=$(b -c "SET enable_indexscan = off" -c "SELECT round(bench('pgv-seq-$data', 'SELECT id FROM v_$data ORDER BY v <=> \$1 LIMIT $K', 'q_$data', 'v')::numeric, 2)")
		hnsw_build=$(b -c "SELECT round(timed('CREATE INDEX v_${data}_hnsw ON v_$data USING hnsw (v vector_cosine_ops)', 1)::numeric, 0)")
		pv_hnsw=$(b -c "SELECT round(bench('pgv-hnsw-$data', 'SELECT id FROM v_$data ORDER BY v <=> \$1 LIMIT $K', 'q_$data', 'v')::numeric, 2)")
		pv_rec=$(b -c "SELECT round(recall('pgv-hnsw-$data', 'seq-$data')::numeric, 4)")
		pv_seq_rec=$(b -c "SELECT round(recall('pgv-seq-$data', 'seq-$data')::numeric, 4)")
		echo "  pgvector exact (seq scan):    $pv_seq ms   recall@$K $pv_seq_rec"
		echo "  pgvector HNSW:                $pv_hnsw ms   recall@$K $pv_rec (build ${hnsw_build} ms)"
		awk "BEGIN{printf \"  pgvector exact / rvflat = %.1fx; rvflat / HNSW = %.1fx\n\", $pv_seq / $idx_ms, $idx_ms / $pv_hnsw}"
		b -c "DROP TABLE v_$data"
	else
		echo "  pgvector: not installed (or RELVEC_BENCH_HNSW=0), skipped"
	fi
done
