#!/usr/bin/env bash
# run-knn-bench.sh — relvec_knn and relvec_stitch_knn through SQL against the bare C
# computations of bench_knn, measured in the same run; prints figures and ratios, asserts
# nothing. Needs the extension installed (make install); on a shared machine hold
# /tmp/relvec-install.lock around the install and this script.
#
# knn: 100 queries top-10 (cosine) over N x D random rows: relvec_knn vs the same pass in C
# through the bridge vs a bare cblas_sgemm plus selection; plus the time SQL takes just to
# read the corpus rows (the floor of any SQL-side pass).
#
# stitch: relvec_stitch_knn (relative, 300 anchors) with encoder B's 10,000 Fashion-MNIST test
# items as queries and encoder A's 60,000 train items as the corpus (64-d, ../shared/data), vs
# the bare bridge computation (rv_project + rv_topk in C) on the same data; and the stitched
# 10-NN accuracy through SQL next to the reference numbers of ../shared/data/README.md.
#
# RELVEC_BENCH_N (default 100000), RELVEC_BENCH_D (768), RELVEC_BENCH_REPS (3),
# RELVEC_SHARED (default ../shared), RELVEC_BENCH_STITCH=0 skips the stitch part,
# RELVEC_BENCH_SHARED_BUFFERS (default 1GB: a 768-d corpus of 100,000 rows, 391 MB, is then
# read through PostgreSQL's ring buffer; with 2GB it stays in shared buffers).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh
N=${RELVEC_BENCH_N:-100000}
D=${RELVEC_BENCH_D:-768}
REPS=${RELVEC_BENCH_REPS:-3}
SHARED=${RELVEC_SHARED:-$(pwd)/../shared}
FM="$SHARED/data/fmnist"
export RELVEC_BENCH_N=$N RELVEC_BENCH_D=$D RELVEC_BENCH_REPS=$REPS RELVEC_SHARED=$SHARED

make -s build/bench/bench_knn >/dev/null
RV_PG_OPTS="-c shared_buffers=${RELVEC_BENCH_SHARED_BUFFERS:-1GB} -c max_parallel_workers_per_gather=0 -c jit=off" rv_cluster_start >/dev/null
psql -q -X -d postgres -c "CREATE DATABASE relvec_bench"
psql -q -X -d relvec_bench -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION relvec;
CREATE TABLE corpus (id int, e embedding($D));
CREATE TABLE queries (id int, e embedding($D));
INSERT INTO corpus SELECT i, (SELECT array_agg(random()::real * 2 - 1) FROM generate_series(1, $D) WHERE i > 0)::embedding
	FROM generate_series(1, $N) i;
INSERT INTO queries SELECT i, (SELECT array_agg(random()::real * 2 - 1) FROM generate_series(1, $D) WHERE i > 0)::embedding
	FROM generate_series(1, 100) i;
VACUUM ANALYZE corpus;
VACUUM ANALYZE queries;
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
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

sql_ms=$(time_query "SELECT count(*) FROM relvec_knn('SELECT id, e FROM queries', 'SELECT id, e FROM corpus', 10, 'cosine')")
read_ms=$(time_query "SELECT count(*) FROM relvec_knn('SELECT id, e FROM queries LIMIT 1', 'SELECT id, e FROM corpus', 1, 'l2')")
c_line=$(RELVEC_BENCH_PART=knn build/bench/bench_knn | grep '^knn cosine')
bridge_ms=$(echo "$c_line" | sed -n 's/.*bridge \([0-9.]*\) ms.*/\1/p')
bare_ms=$(echo "$c_line" | sed -n 's/.*bare \([0-9.]*\) ms.*/\1/p')
echo "knn: 100 queries top-10 cosine over $N x $D (best of $REPS; shared_buffers ${RELVEC_BENCH_SHARED_BUFFERS:-1GB}; shared, noisy machine: indicative)"
echo "  relvec_knn through SQL          ${sql_ms} ms"
echo "  one query through SQL (the SPI read of the corpus and one streaming scan) ${read_ms} ms"
echo "  the same pass in C (bridge)     ${bridge_ms} ms"
echo "  bare cblas_sgemm + selection    ${bare_ms} ms"
echo "  ratios: SQL / bare $(ratio "$sql_ms" "$bare_ms"), bridge / bare $(ratio "$bridge_ms" "$bare_ms") (target <= 1.2)"

if [ "${RELVEC_BENCH_STITCH:-1}" = 0 ] || [ ! -f "$FM/fmnist_mlp_a.fvecs" ]; then
	echo "stitch: skipped (no $FM/fmnist_mlp_a.fvecs or RELVEC_BENCH_STITCH=0)"
	exit 0
fi
psql -q -X -d relvec_bench -v ON_ERROR_STOP=1 -c "CREATE TABLE fa (key int, e embedding(64)); CREATE TABLE fb (key int, e embedding(64));
	CREATE TABLE labels (key int, split text, label int, name text); CREATE TABLE anchors (no int, key int, label int)"
python3 scripts/fvecs2csv.py "$FM/fmnist_mlp_a.fvecs" | psql -q -X -d relvec_bench -c "\copy fa FROM STDIN (FORMAT csv)"
python3 scripts/fvecs2csv.py "$FM/fmnist_mlp_b.fvecs" | psql -q -X -d relvec_bench -c "\copy fb FROM STDIN (FORMAT csv)"
psql -q -X -d relvec_bench -c "\copy labels FROM '$FM/fmnist_labels.csv' (FORMAT csv, HEADER)"
psql -q -X -d relvec_bench -c "\copy anchors FROM '$FM/anchors_seed0.csv' (FORMAT csv, HEADER)"
psql -q -X -d relvec_bench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
VACUUM ANALYZE fa; VACUUM ANALYZE fb; ANALYZE labels;
SELECT relvec_create_space('mlp_a', 64); SELECT relvec_create_space('mlp_b', 64);
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(key::text ORDER BY no) FROM anchors));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT key, e FROM fa WHERE key IN (SELECT key FROM anchors)');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT key, e FROM fb WHERE key IN (SELECT key FROM anchors)');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a');
SQL
STITCH="relvec_stitch_knn('SELECT key, e FROM fb WHERE key >= 60000', 'mlp_b', 'SELECT key, e FROM fa WHERE key < 60000 ORDER BY key', 'mlp_a', 'fm300', 10"
stitch_ms=$(time_query "SELECT count(*) FROM $STITCH)")
s_line=$(RELVEC_BENCH_PART=stitch build/bench/bench_knn | grep '^stitch')
sbare_ms=$(echo "$s_line" | sed -n 's/.*bridge \([0-9.]*\) ms.*/\1/p')
echo "stitch: relative route, 10,000 B queries x 60,000 A corpus, 64-d, 300 anchors, top-10 (best of $REPS)"
echo "  relvec_stitch_knn through SQL   ${stitch_ms} ms"
echo "  bare bridge (rv_project + rv_topk in C, same data) ${sbare_ms} ms"
echo "  ratio SQL / bare $(ratio "$stitch_ms" "$sbare_ms")"
# stitched classification; a tied vote goes to the smallest label, as in the reference
accuracy() {
	psql -X -At -d relvec_bench -c "WITH nn AS (SELECT * FROM $STITCH, '$1', 'cosine', '$2')),
	votes AS (SELECT n.query_key, l.label, count(*) AS votes FROM nn n JOIN labels l ON l.key = n.corpus_key::int GROUP BY 1, 2),
	pred AS (SELECT DISTINCT ON (query_key) query_key, label FROM votes ORDER BY query_key, votes DESC, label)
	SELECT round(avg((p.label = l.label)::int), 4) FROM pred p JOIN labels l ON l.key = p.query_key::int"
}
echo "  stitched 10-NN accuracy mlp_b -> mlp_a through SQL (reference of shared/data/README.md):"
echo "    absolute $(accuracy absolute none) (0.1013), relative $(accuracy relative none) (0.8627),"
echo "    relative/anchors $(accuracy relative anchors) (0.8572), translation $(accuracy translation none) (0.8745)"
# fitting a translation on the 300 anchors (a re-fit replaces the stored one)
fit_l=$(time_query "SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a', 'linear')")
fit_a=$(time_query "SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a', 'affine')")
fit_o=$(time_query "SELECT relvec_fit_translation('fm300', 'mlp_b', 'mlp_a', 'orthogonal')")
trans_ms=$(time_query "SELECT count(*) FROM $STITCH, 'translation')")
echo "translation: fit on 300 anchors, 64-d -> 64-d, through SQL (catalog reads and the stored row included)"
echo "  orthogonal (Procrustes, SVD) ${fit_o} ms, linear ${fit_l} ms, affine ${fit_a} ms"
echo "  relvec_stitch_knn via translation, same 10,000 x 60,000: ${trans_ms} ms"
