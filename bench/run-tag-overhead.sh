#!/usr/bin/env bash
# run-tag-overhead.sh — what spaces in the type cost untagged values: the same single-query
# searches with a baseline build (a git revision before space tags, default 90470cf) and with
# the working tree, one after the other on one throwaway cluster and the same data; prints
# both medians and their ratio, asserts nothing. Also the tagged case (a column bound to a
# space, a tagged query) on the working tree.
#
#   - sequential scan: SELECT id FROM t ORDER BY e <=> q LIMIT 10 (enable_indexscan off)
#   - rvflat index scan: the same through an rvflat cosine index
#   - value size: pg_column_size of a stored 768-d value
# N x D random vectors (default 100,000 x 768), NQ queries (default 15), medians measured in
# the server. The baseline is built in a temporary worktree and installed, then the working
# tree's build is installed again: run it under the install lock
# (flock /tmp/relvec-install.lock) when other builds may be installed meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/lib/cluster.sh
BASE=${RELVEC_BENCH_BASE:-90470cf}
N=${RELVEC_BENCH_ROWS:-100000}
D=${RELVEC_BENCH_DIMS:-768}
NQ=${RELVEC_BENCH_QUERIES:-15}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

WT=$(mktemp -d /tmp/relvec-base.XXXXXX)
cleanup() { git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || true; rm -rf "$WT"; rv_cluster_stop; }
git worktree add -q --detach "$WT" "$BASE"
echo "building the baseline $BASE ($(git log -1 --format=%s "$BASE" | cut -c1-60)...)"
make -s -C "$WT" -j2 >/dev/null
make -s -j2 >/dev/null

RV_PG_OPTS="-c shared_buffers=1GB -c max_parallel_workers_per_gather=0 -c jit=off -c maintenance_work_mem=1GB" \
	rv_cluster_start >/dev/null
trap cleanup EXIT
b() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d relvec_tbench "$@"; }

setup_sql="
CREATE EXTENSION relvec;
CREATE FUNCTION rnd(d int) RETURNS embedding LANGUAGE sql VOLATILE AS
	\$\$ SELECT array_agg((random() * 2 - 1)::real)::embedding FROM generate_series(1, d) \$\$;
SELECT setseed(0.5);
CREATE TABLE t (id int, e embedding($D));
INSERT INTO t SELECT i, rnd($D) FROM generate_series(1, $N) i;
CREATE TABLE q AS SELECT i AS qid, rnd($D) AS e FROM generate_series(1, $NQ) i;
CREATE INDEX t_rvflat ON t USING rvflat (e embedding_cosine_ops);
VACUUM ANALYZE t;
CREATE FUNCTION bench(sql text, idx bool) RETURNS float8 LANGUAGE plpgsql AS \$f\$
DECLARE r record; t0 timestamptz; times float8[] := '{}'; ids int[];
BEGIN
	PERFORM set_config('enable_indexscan', idx::text, true);
	PERFORM set_config('enable_seqscan', (NOT idx)::text, true);
	FOR r IN SELECT qid, e FROM q ORDER BY qid LOOP
		IF r.qid = 1 THEN EXECUTE format('SELECT array_agg(id) FROM (%s) s', sql) INTO ids USING r.e; END IF;
		t0 := clock_timestamp();
		EXECUTE format('SELECT array_agg(id) FROM (%s) s', sql) INTO ids USING r.e;
		times := times || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
	END LOOP;
	RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END \$f\$;"

measure() {   # measure LABEL: seq and index medians of the installed build
	local seq idx size
	b -c "SELECT count(*) FROM t" >/dev/null
	seq=$(b -c "SELECT round(bench('SELECT id FROM t ORDER BY e <=> \$1 LIMIT 10', false)::numeric, 1)")
	idx=$(b -c "SELECT round(bench('SELECT id FROM t ORDER BY e <=> \$1 LIMIT 10', true)::numeric, 1)")
	size=$(b -c "SELECT pg_column_size(e) FROM t LIMIT 1")
	echo "$seq $idx $size"
}

echo "data: $N x $D random, cosine, k = 10, $NQ queries (medians, ms)"
$SUDO make -s -C "$WT" install >/dev/null
psql -q -X -d postgres -c "CREATE DATABASE relvec_tbench"
b <<<"$setup_sql" >/dev/null
read -r base_seq base_idx base_size <<<"$(measure)"
psql -q -X -d postgres -c "DROP DATABASE relvec_tbench"

$SUDO make -s install >/dev/null
psql -q -X -d postgres -c "CREATE DATABASE relvec_tbench"
b <<<"$setup_sql" >/dev/null
read -r new_seq new_idx new_size <<<"$(measure)"
# the tagged case: the column bound to a space, the queries tagged with it
b -c "SELECT relvec_create_space('bench_space', $D)" >/dev/null
b -c "CREATE TABLE t_tagged (id int, e embedding(bench_space))" -c "INSERT INTO t_tagged SELECT * FROM t" \
	-c "DROP TABLE t" -c "ALTER TABLE t_tagged RENAME TO t" -c "CREATE INDEX t_rvflat ON t USING rvflat (e embedding_cosine_ops)" \
	-c "UPDATE q SET e = relvec_tag(e, 'bench_space')" -c "VACUUM ANALYZE t" >/dev/null
read -r tag_seq tag_idx tag_size <<<"$(measure)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
printf '\n%-40s %10s %10s %10s\n' "" "baseline" "untagged" "ratio"
printf '%-40s %10s %10s %10s\n' "sequential scan, single query (ms)" "$base_seq" "$new_seq" "$(ratio "$new_seq" "$base_seq")"
printf '%-40s %10s %10s %10s\n' "rvflat index scan, single query (ms)" "$base_idx" "$new_idx" "$(ratio "$new_idx" "$base_idx")"
printf '%-40s %10s %10s %10s\n' "stored value size (bytes)" "$base_size" "$new_size" "$(ratio "$new_size" "$base_size")"
printf '\n%-40s %10s %10s\n' "tagged (bound column, tagged query)" "tagged" "vs untagged"
printf '%-40s %10s %10s\n' "sequential scan, single query (ms)" "$tag_seq" "$(ratio "$tag_seq" "$new_seq")"
printf '%-40s %10s %10s\n' "rvflat index scan, single query (ms)" "$tag_idx" "$(ratio "$tag_idx" "$new_idx")"
printf '%-40s %10s %10s\n' "stored value size (bytes)" "$tag_size" "$(ratio "$tag_size" "$new_size")"
echo "baseline $BASE; machine load and OpenBLAS kernel as they were; nothing asserted"
