#!/usr/bin/env bash
# run-ann-bench.sh — approximate kNN indexes measured the way ann-benchmarks does: for each data
# set and index, the build time, the index size, the insert rate, and recall@10 against the
# exact answers with the QPS of the same queries, over a sweep of each index's search knob; one
# throwaway cluster, one run. Prints figures and ratios, writes a TSV and a recall-QPS plot per
# data set, asserts nothing.
#
# Data sets (ANN_DATA, default "clustered fmnist words random"); queries are never corpus rows:
#   clustered  synthetic (build/bench/bench_ann_gen, seeded): 1,000 Gaussian clusters in a
#              48-d latent space with a decaying spectrum, mapped to D dims, plus small noise;
#              N x D, default 1,000,000 x 768; queries and inserted rows from the same model,
#              other seeds (bench/bench_ann_gen.c says why random data alone is meaningless)
#   fmnist     ../shared/data/fmnist/fmnist_mlp_a.fvecs, 70,000 x 64: the first rows are the
#              corpus, the last NQ rows (test images) the queries
#   words      ../shared/data/words/w2v_cbow300.fvecs, 20,000 x 300 (most frequent first): the
#              same split, so the queries are the rarest words
#   random     isotropic Gaussian N x D, default 100,000 x 768 (the hard case)
# Indexes, each built on the same table (metric ANN_METRIC, default cosine):
#   rvflat     relvec's exact index: the exact point (recall 1) every ratio is against
#   rvivf      when the access method exists (pg_am): USING rvivf (e embedding_<metric>_ops)
#              [WITH (lists = ANN_IVF_LISTS)], sweeping relvec.ivf_probes; one curve per value
#              of ANN_IVF_RERANK (relvec.ivf_rerank; unset: the server's default). Skipped with
#              a message when absent, or when relvec.ivf_probes is not a setting
#   pgv-hnsw, pgv-ivfflat  when pgvector is available (pg_available_extensions): a vector copy
#              of the table (e::text::vector); HNSW m = 16, ef_construction = 64 sweeping
#              hnsw.ef_search; IVFFlat lists = rows / 1000 sweeping ivfflat.probes (<= lists)
# Per index: CREATE INDEX time (server-side), pg_relation_size (against the table's pg_table_size,
# TOAST included: pgvector keeps its vectors there), then per knob value recall@10
# (every query once, one session; the exact index over its first 50) against the exact top-10
# (relvec_knn, computed once per data set and checked against a sequential scan on 5 queries),
# then QPS and mean latency from pgbench for each client count (ANN_CLIENTS, default "1 2"),
# ANN_SECONDS each (default 10), over the steady window (after every client's first transaction,
# which loads the library in its backend), one transaction
#   SELECT id FROM t ORDER BY e <=> (SELECT e FROM q WHERE id = :qid) LIMIT 10   (qid random)
# prepared, with the index's knob in PGOPTIONS and enable_seqscan off (the plan is checked to be
# the index scan); last, the rate of one INSERT ... SELECT of ANN_INSERTS rows (default 10,000)
# into the indexed table, rolled back, next to the same INSERT without an index.
# Per data set, last: each index's best QPS at recall@10 >= 0.90 / 0.95 / 0.99, and rvivf
# against pgvector's HNSW of the same run (QPS at those recalls, build time, size, inserts).
# Output: the table on stdout; bench/results/ann-<data>.tsv (every point: one row per knob value
# and client count; ANN_RESULTS moves the folder, ignored by git); bench/results/ann-<data>.png,
# QPS (log) against recall, a curve per index and client count, drawn by gnuplot: when it is
# missing the script runs `scripts/setup-debian.sh --bench` as root, else skips the plots.
# --quick: 20,000-row sets (real sets cut to 20,000), 200 queries, 2,000 inserts, 3 s per point,
# and files named ann-<data>-quick.*: a few minutes in all.
#
# Environment (each overrides --quick too): ANN_ROWS_CLUSTERED (1000000), ANN_ROWS_RANDOM
# (100000), ANN_ROWS_FMNIST / ANN_ROWS_WORDS (all but the queries), ANN_DIMS (768),
# ANN_LATENT (48), ANN_CLUSTERS (1000), ANN_QUERIES (1000), ANN_INSERTS (10000), ANN_SECONDS
# (10), ANN_CLIENTS ("1 2"), ANN_DATA, ANN_METRIC (cosine | l2 | ip), ANN_IVF_LISTS (automatic),
# ANN_IVF_PROBES ("1 2 4 8 16 32 64"), ANN_IVF_RERANK (""), ANN_HNSW_EF ("10 20 40 80 160 320"),
# ANN_IVFFLAT_PROBES ("1 2 4 8 16 32 64"), ANN_EXACT=0 (no rvflat point), ANN_PGVECTOR=0,
# ANN_PLOT=0, ANN_SHARED_BUFFERS (4GB), ANN_MWM (maintenance_work_mem, 4GB), RELVEC_SHARED
# (../shared). At the defaults it runs for hours on 2 cores (the 1M set: generation and COPY of
# 7.7 GB of text, and pgvector's HNSW build when it is there); --quick for a look.
# It uses the relvec installed in the system PostgreSQL: build, install and run it under the
# install lock when other builds may be installed meanwhile:
#   flock /tmp/relvec-install.lock bash -c 'make -s -j2 && make -s install && bench/run-ann-bench.sh --quick'
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh

QUICK=0
for a in "$@"; do
	case $a in
		--quick) QUICK=1 ;;
		-h | --help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) echo "usage: run-ann-bench.sh [--quick]" >&2; exit 2 ;;
	esac
done
q() { [ "$QUICK" = 1 ] && echo "$1" || echo "$2"; }	# the --quick value or the default
ROWS_CLUSTERED=${ANN_ROWS_CLUSTERED:-$(q 20000 1000000)}
ROWS_RANDOM=${ANN_ROWS_RANDOM:-$(q 20000 100000)}
ROWS_FMNIST=${ANN_ROWS_FMNIST:-$(q 20000 all)}
ROWS_WORDS=${ANN_ROWS_WORDS:-$(q 20000 all)}
D=${ANN_DIMS:-768}
LATENT=${ANN_LATENT:-48}
CLUSTERS=${ANN_CLUSTERS:-1000}
NQ=${ANN_QUERIES:-$(q 200 1000)}
INS=${ANN_INSERTS:-$(q 2000 10000)}
SECS=${ANN_SECONDS:-$(q 3 10)}
CLIENTS=${ANN_CLIENTS:-1 2}
DATASETS=${ANN_DATA:-clustered fmnist words random}
METRIC=${ANN_METRIC:-cosine}
IVF_LISTS=${ANN_IVF_LISTS:-}
IVF_PROBES=${ANN_IVF_PROBES:-1 2 4 8 16 32 64}
IVF_RERANK=${ANN_IVF_RERANK:-}
HNSW_EF=${ANN_HNSW_EF:-10 20 40 80 160 320}
IVFFLAT_PROBES=${ANN_IVFFLAT_PROBES:-1 2 4 8 16 32 64}
EXACT=${ANN_EXACT:-1}
PGVECTOR=${ANN_PGVECTOR:-1}
PLOT=${ANN_PLOT:-1}
RESULTS=${ANN_RESULTS:-bench/results}
SHARED=${RELVEC_SHARED:-$(pwd)/../shared}
EXACT_NREC=50	# queries the exact index answers in the recall pass (a scan of every row each)
K=10
DB=relvec_annbench
SUFFIX=$(q -quick "")
case $METRIC in
	cosine) OP='<=>' PGV_OPS=vector_cosine_ops ;;
	l2) OP='<->' PGV_OPS=vector_l2_ops ;;
	ip) OP='<#>' PGV_OPS=vector_ip_ops ;;
	*) echo "ANN_METRIC is cosine, l2 or ip" >&2; exit 2 ;;
esac
OPS=embedding_${METRIC}_ops
for ds in $DATASETS; do
	case $ds in clustered | fmnist | words | random) ;; *) echo "ANN_DATA names clustered, fmnist, words, random" >&2; exit 2 ;; esac
done
for c in $CLIENTS; do
	case $c in '' | *[!0-9]*) echo "ANN_CLIENTS is a list of client counts" >&2; exit 2 ;; esac
done
T_START=$SECONDS

# --- the plots' tool ---------------------------------------------------------------------------
if [ "$PLOT" = 1 ] && ! command -v gnuplot >/dev/null; then
	if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
		echo "plots: gnuplot is missing; installing it (scripts/setup-debian.sh --bench)"
		bash scripts/setup-debian.sh --bench >/tmp/relvec-annbench-setup.log 2>&1 \
			|| echo "plots: the install failed (/tmp/relvec-annbench-setup.log)"
	fi
	command -v gnuplot >/dev/null || { PLOT=0; echo "plots: gnuplot is missing (scripts/setup-debian.sh --bench installs it): skipped, the TSV files are written"; }
fi

GEN=build/bench/bench_ann_gen
make -s "$GEN"
mkdir -p "$RESULTS"
RV_PG_OPTS="-c shared_buffers=${ANN_SHARED_BUFFERS:-4GB} -c max_parallel_workers_per_gather=0 -c jit=off -c maintenance_work_mem=${ANN_MWM:-4GB} -c max_wal_size=8GB" \
	rv_cluster_start >/dev/null
WORK=$(mktemp -d /tmp/relvec-annbench.XXXXXX)
trap 'rv_cluster_stop; rm -rf "$WORK"' EXIT
psql -q -X -d postgres -c "CREATE DATABASE $DB"
# psql on the bench database; OPTS (a point's settings) go to the server
OPTS=""
b() { PGOPTIONS="$OPTS -c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
# seconds from $1 to $2 (date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# x/y as "N.NNx", or n/a
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || a == "-" || b == "-" || b + 0 == 0) print "n/a"; else printf "%.3gx", a / b }'; }

b <<'SQL'
CREATE EXTENSION relvec;
-- wall time (ms) of one statement, in the server
CREATE FUNCTION timed_ms(sql text) RETURNS float8 LANGUAGE plpgsql AS $f$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE sql;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $f$;
CREATE UNLOGGED TABLE answers (tag text, qid int, ids int[]);
SQL

echo "ANN bench$( [ "$QUICK" = 1 ] && echo " (--quick)"): data $DATASETS; $METRIC, recall@$K over $NQ held-out queries; QPS by pgbench, ${SECS} s per point, clients: $CLIENTS"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average at start: $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL $(pg_config --version | awk '{print $2}')"

# --- which indexes ------------------------------------------------------------------------------
have_ivf=0
if [ "$(b -c "SELECT count(*) FROM pg_am WHERE amname = 'rvivf'")" = 1 ]; then
	if [ "$(b -c "LOAD 'relvec'" -c "SELECT count(*) FROM pg_settings WHERE name = 'relvec.ivf_probes'")" = 1 ]; then
		have_ivf=1
		echo "rvivf: present; relvec.ivf_probes = $(b -c "LOAD 'relvec'" -c "SHOW relvec.ivf_probes") and relvec.ivf_rerank = $(b -c "LOAD 'relvec'" -c "SELECT coalesce(current_setting('relvec.ivf_rerank', true), '(absent)')") by default"
		[ -z "$IVF_RERANK" ] || [ "$(b -c "LOAD 'relvec'" -c "SELECT count(*) FROM pg_settings WHERE name = 'relvec.ivf_rerank'")" = 1 ] \
			|| { echo "rvivf: relvec.ivf_rerank is not a setting: ANN_IVF_RERANK ignored"; IVF_RERANK=""; }
	else
		echo "rvivf: the access method exists but relvec.ivf_probes is not a setting: rvivf skipped (the sweep would measure one point)"
	fi
else
	echo "rvivf: the access method does not exist in the installed relvec (pg_am): rvivf skipped"
fi
have_pgvector=0
if [ "$PGVECTOR" = 1 ] && [ "$(b -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ]; then
	b -c "CREATE EXTENSION vector"
	have_pgvector=1
	echo "pgvector $(b -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'"): HNSW and IVFFlat are measured"
else
	echo "pgvector: not available (or ANN_PGVECTOR=0): HNSW and IVFFlat skipped"
fi
[ "$EXACT" = 1 ] || echo "rvflat: ANN_EXACT=0, no exact point (ratios to it are n/a)"

# --- one data set's tables ----------------------------------------------------------------------
# load_data DS: t_DS (id 1..N, the corpus), q_DS (id 1..NQ, the queries), x_DS (ANN_INSERTS
# rows to insert, ids after the corpus); sets N, DIMS, DESC.
load_data() {
	local ds=$1 file total n
	case $ds in
		clustered | random)
			local seed=100
			[ "$ds" = random ] && seed=200
			N=$([ "$ds" = clustered ] && echo "$ROWS_CLUSTERED" || echo "$ROWS_RANDOM")
			DIMS=$D
			if [ "$ds" = clustered ]; then
				DESC="synthetic clustered ($CLUSTERS clusters, $LATENT-d latent space, scales 1/sqrt(i+1))"
			else
				DESC="isotropic Gaussian"
			fi
			b -c "CREATE TABLE t_$ds (id int, e embedding($DIMS))" -c "CREATE TABLE q_$ds (id int PRIMARY KEY, e embedding($DIMS))" \
				-c "CREATE TABLE x_$ds (id int, e embedding($DIMS))"
			# one model seed; the corpus, the queries and the inserts are three point streams
			"$GEN" "$ds" "$N" "$DIMS" $seed $((seed + 1)) 1 --latent="$LATENT" --clusters="$CLUSTERS" | b -c "COPY t_$ds (id, e) FROM STDIN"
			"$GEN" "$ds" "$NQ" "$DIMS" $seed $((seed + 2)) 1 --latent="$LATENT" --clusters="$CLUSTERS" | b -c "COPY q_$ds (id, e) FROM STDIN"
			"$GEN" "$ds" "$INS" "$DIMS" $seed $((seed + 3)) $((N + 1)) --latent="$LATENT" --clusters="$CLUSTERS" | b -c "COPY x_$ds (id, e) FROM STDIN"
			;;
		fmnist | words)
			if [ "$ds" = fmnist ]; then
				file=$SHARED/data/fmnist/fmnist_mlp_a.fvecs n=$ROWS_FMNIST
			else
				file=$SHARED/data/words/w2v_cbow300.fvecs n=$ROWS_WORDS
			fi
			if [ ! -f "$file" ]; then
				echo "== $ds: $file is missing: skipped"
				return 1
			fi
			DIMS=$(od -An -t d4 -N4 "$file" | tr -d ' ')
			total=$(($(stat -c %s "$file") / (4 * (DIMS + 1))))
			N=$((total - NQ))
			[ "$n" = all ] || [ "$n" -ge "$N" ] || N=$n
			DESC="$(basename "$file"), first $N rows; queries its last $NQ rows"
			b -c "CREATE TABLE t_$ds (id int, e embedding($DIMS))" -c "CREATE TABLE q_$ds (id int PRIMARY KEY, e embedding($DIMS))"
			# fvecs2csv numbers rows from 0: ids 1..N for the corpus, 1..NQ for the queries
			python3 scripts/fvecs2csv.py "$file" --rows 0:"$N" \
				| awk '{ i = index($0, ","); print substr($0, 1, i - 1) + 1 "," substr($0, i + 1) }' \
				| b -c "COPY t_$ds (id, e) FROM STDIN (FORMAT csv)"
			python3 scripts/fvecs2csv.py "$file" --rows $((total - NQ)): \
				| awk -v off=$((total - NQ - 1)) '{ i = index($0, ","); print substr($0, 1, i - 1) - off "," substr($0, i + 1) }' \
				| b -c "COPY q_$ds (id, e) FROM STDIN (FORMAT csv)"
			# inserts: copies of the first corpus rows (real rows of the same distribution)
			b -c "CREATE TABLE x_$ds AS SELECT id + $N AS id, e FROM t_$ds WHERE id <= $INS ORDER BY id"
			;;
	esac
	b -c "VACUUM ANALYZE t_$ds" -c "VACUUM ANALYZE q_$ds" -c "VACUUM ANALYZE x_$ds"
}

# QPS and mean latency (ms) of a pgbench per-transaction log (stdin) over its steady window:
# from the moment every client has finished its first transaction (a backend's first query
# loads the library and warms its caches) to the last transaction's end; "nan nan" if empty
steady() {
	awk '{ e = $5 * 1000000 + $6; n++; E[n] = e; L[n] = $3
	       if (!($1 in f) || $2 < fno[$1]) { f[$1] = e; fno[$1] = $2 }
	       if (e > t1) t1 = e }
	     END { t0 = 0; for (c in f) if (f[c] > t0) t0 = f[c]
	           m = 0; s = 0; for (i = 1; i <= n; i++) if (E[i] > t0) { m++; s += L[i] }
	           if (m == 0 || t1 <= t0) print "nan nan"; else printf "%.1f %.3f\n", m / ((t1 - t0) / 1e6), s / m / 1000 }'
}

# --- one index: build, sweep, insert ------------------------------------------------------------
# CURVES: "label|settings|knob|values" per curve of the index (settings: PGOPTIONS of every
# point, knob: the GUC swept over the values; an empty knob and the value "exact" for one point).
# run_index DS NAME TABLE QTABLE XTABLE COL USING NREC
#   NAME the index's name in the output, TABLE/QTABLE/XTABLE the corpus, queries and inserts,
#   COL their column, USING what follows "CREATE INDEX ann_idx ON TABLE USING", NREC how many
#   queries the recall pass asks
run_index() {
	local ds=$1 name=$2 table=$3 qtable=$4 xtable=$5 col=$6 using=$7 nrec=$8
	local build_ms idx_mb tbl_mb ins_ms ins_rate plan curve label settings knob values v tag rec c out qps lat rc l
	local sql=$WORK/$ds-$name.sql rows=""
	printf '\\set qid random(1, %d)\nSELECT id FROM %s ORDER BY %s %s (SELECT %s FROM %s WHERE id = :qid) LIMIT %d;\n' \
		"$NQ" "$table" "$col" "$OP" "$col" "$qtable" $K >"$sql"
	OPTS=""
	# a failed build (an index still being written) skips this index, not the run
	if ! build_ms=$(b -c "SELECT round(timed_ms('CREATE INDEX ann_idx ON $table USING $using')::numeric, 0)" 2>"$WORK/err"); then
		printf "   %-22s CREATE INDEX failed, skipped: %s\n" "$name" "$(head -1 "$WORK/err")"
		return 0
	fi
	idx_mb=$(b -c "SELECT round(pg_relation_size('ann_idx') / 1048576.0, 1)")
	tbl_mb=$(b -c "SELECT round(pg_table_size('$table') / 1048576.0, 1)")
	b -c "ANALYZE $table"
	OPTS="-c enable_seqscan=off"
	# shellcheck disable=SC2016  # $1 is the prepared statement's parameter
	plan=$(b -c "SET plan_cache_mode = force_generic_plan" \
		-c "PREPARE p(int) AS $(sed -n 2p "$sql" | sed 's/:qid/$1/; s/;$//')" -c "EXPLAIN (COSTS OFF) EXECUTE p(1)")
	printf "   %-22s build %8.1f s   %8s MB (%s the table)\n" "$name" "$(awk -v m="$build_ms" 'BEGIN { print m / 1000 }')" "$idx_mb" "$(ratio "$idx_mb" "$tbl_mb")"
	grep -q "Index Scan using ann_idx" <<<"$plan" || { echo "   PLAN IS NOT THE INDEX SCAN:"; while read -r l; do echo "     $l"; done <<<"$plan"; }
	for curve in "${CURVES[@]}"; do
		IFS='|' read -r label settings knob values <<<"$curve"
		for v in $values; do
			OPTS="-c enable_seqscan=off $settings${knob:+ -c $knob=$v}"
			tag=$ds/$label/$v
			if b -c "INSERT INTO answers SELECT '$tag', q.id, ARRAY(SELECT t.id FROM $table t ORDER BY t.$col $OP q.$col LIMIT $K)
				FROM $qtable q WHERE q.id <= $nrec" 2>"$WORK/err"; then
				rec=$(b -c "SELECT round(avg((SELECT count(*) FROM unnest(a.ids) x WHERE x = ANY (r.ids))::numeric / $K), 4)
					FROM answers a JOIN truth_$ds r USING (qid) WHERE a.tag = '$tag'")
			else
				rec=nan
				echo "   the recall pass failed: $(head -1 "$WORK/err")" >&2
			fi
			printf "   %-22s %-18s %9s" "$label" "${knob:+${knob#*.}=}$v" "$rec"
			for c in $CLIENTS; do
				out=$WORK/pgbench.out
				rc=0
				rm -f "$WORK"/log.*
				PGOPTIONS="$OPTS" pgbench -n -M prepared -c "$c" -j "$c" -T "$SECS" -f "$sql" \
					--log --log-prefix="$WORK/log" $DB >"$out" 2>&1 || rc=$?
				read -r qps lat <<<"$( (cat "$WORK"/log.* 2>/dev/null || true) | steady)"
				if [ "$rc" != 0 ] || [ "$qps" = nan ]; then
					echo "   pgbench failed ($c clients, exit $rc): $(grep -m1 -i -E "error|abort" "$out" || tail -1 "$out")" >&2
					qps=nan lat=nan
				fi
				printf " %10.1f %8.2f" "$qps" "$lat"
				rows+="$ds	$N	$DIMS	$NQ	$METRIC	$label	${knob:-none}	$v	$c	$rec	$qps	$lat	$(awk -v m="$build_ms" 'BEGIN { printf "%.1f", m / 1000 }')	$idx_mb	@INS@"$'\n'
			done
			echo
		done
	done
	OPTS=""
	ins_ms=$(b -c "BEGIN" -c "SELECT timed_ms('INSERT INTO $table SELECT * FROM $xtable')" -c "ROLLBACK")
	ins_rate=$(awk -v m="$ins_ms" -v n="$INS" 'BEGIN { printf "%.0f", n / (m / 1000) }')
	echo "   $(printf "%-22s" "$name") insert $INS rows: $ins_rate rows/s ($(ratio "$ins_rate" "${HEAP_RATE[$table]}") the rate without an index)"
	b -c "DROP INDEX ann_idx" -c "VACUUM $table"
	printf '%s' "${rows//@INS@/$ins_rate}" >>"$TSV"
}

# rate (rows/s) of the INSERT of XTABLE into TABLE without an index, rolled back
heap_rate() {
	local ms
	ms=$(b -c "BEGIN" -c "SELECT timed_ms('INSERT INTO $1 SELECT * FROM $2')" -c "ROLLBACK")
	b -c "VACUUM $1"
	awk -v m="$ms" -v n="$INS" 'BEGIN { printf "%.0f", n / (m / 1000) }'
}
declare -A HEAP_RATE

# plot DS TITLE: QPS (log) against recall from the TSV, a curve per index and client count
plot() {
	local ds=$1 title=$2 png=$RESULTS/ann-$1$SUFFIX.png cmd="" lt=0 label c dat
	while read -r label; do
		lt=$((lt + 1))
		for c in $CLIENTS; do
			dat=$WORK/plot-$lt-$c.dat
			awk -F'\t' -v l="$label" -v c="$c" 'NR > 1 && $6 == l && $9 == c && $10 != "nan" && $11 != "nan" { print $10, $11 }' "$TSV" | sort -n >"$dat"
			[ -s "$dat" ] || continue
			cmd+="${cmd:+, }'$dat' using 1:2 with linespoints lt $lt dt $([ "$c" = "${CLIENTS%% *}" ] && echo 1 || echo 2) pt 7 ps 0.6 title '$label, $c client$([ "$c" = 1 ] || echo s)'"
		done
	done < <(awk -F'\t' 'NR > 1 { print $6 }' "$TSV" | awk '!seen[$0]++')
	[ -n "$cmd" ] || return 0
	gnuplot <<GP || { echo "   plot: gnuplot failed"; return 0; }
set terminal pngcairo size 900,600 noenhanced
set output '$png'
set title '$title'
set xlabel 'recall@$K'
set ylabel 'queries per second (log)'
set logscale y
set grid
set key bottom left box opaque
set xrange [*:1.005]
plot $cmd
GP
	echo "   plot: $png"
}

# best QPS (clients C) of LABEL with recall >= R in the TSV, or "-"
best() { awk -F'\t' -v l="$1" -v c="$2" -v r="$3" 'NR > 1 && $6 == l && $9 == c && $10 != "nan" && $10 >= r && $11 != "nan" && $11 > m { m = $11 } END { print (m == "" ? "-" : m) }' "$TSV"; }

# --- the data sets ------------------------------------------------------------------------------
for ds in $DATASETS; do
	t0=$(date +%s.%N)
	load_data "$ds" || continue
	t1=$(date +%s.%N)
	TSV=$RESULTS/ann-$ds$SUFFIX.tsv
	printf 'dataset\trows\tdims\tqueries\tmetric\tindex\tknob\tvalue\tclients\trecall\tqps\tlatency_ms\tbuild_s\tindex_mb\tinsert_rows_s\n' >"$TSV"
	# the exact answers: relvec_knn's one pass per chunk of queries, checked against a seq scan
	b -c "CREATE TABLE truth_$ds AS SELECT query_key::int AS qid, array_agg(corpus_key::int ORDER BY rank) AS ids
		FROM relvec_knn('SELECT id, e FROM q_$ds', 'SELECT id, e FROM t_$ds', $K, '$METRIC') GROUP BY 1"
	t2=$(date +%s.%N)
	agree=$(b -c "SET enable_indexscan = off" -c "SELECT count(*) FROM q_$ds q JOIN truth_$ds r ON r.qid = q.id
		WHERE q.id <= 5 AND ARRAY(SELECT t.id FROM t_$ds t ORDER BY t.e $OP q.e, t.id LIMIT $K) = r.ids")
	echo
	echo "== $ds: $N x $DIMS, $DESC; $METRIC, $NQ queries, k = $K"
	printf "   loaded in %.1f s (table %s MB); exact answers (relvec_knn) in %.1f s, equal to a sequential scan's on %d of 5 queries\n" \
		"$(secs "$t0" "$t1")" "$(b -c "SELECT round(pg_relation_size('t_$ds') / 1048576.0, 1)")" "$(secs "$t1" "$t2")" "$agree"
	HEAP_RATE[t_$ds]=$(heap_rate "t_$ds" "x_$ds")
	echo "   INSERT of $INS rows without an index: ${HEAP_RATE[t_$ds]} rows/s (rolled back)"
	printf "   %-22s %-18s %9s" index knob recall@$K
	for c in $CLIENTS; do printf " %10s %8s" "QPS ${c}c" "ms ${c}c"; done
	echo
	if [ "$EXACT" = 1 ]; then
		CURVES=("rvflat-exact|||exact")
		run_index "$ds" rvflat "t_$ds" "q_$ds" "x_$ds" e "rvflat (e $OPS)" $((NQ < EXACT_NREC ? NQ : EXACT_NREC))
	fi
	if [ "$have_ivf" = 1 ]; then
		CURVES=()
		if [ -z "$IVF_RERANK" ]; then
			CURVES+=("rvivf||relvec.ivf_probes|$IVF_PROBES")
		else
			for r in $IVF_RERANK; do CURVES+=("rvivf-rerank$r|-c relvec.ivf_rerank=$r|relvec.ivf_probes|$IVF_PROBES"); done
		fi
		run_index "$ds" "rvivf${IVF_LISTS:+ lists=$IVF_LISTS}" "t_$ds" "q_$ds" "x_$ds" e \
			"rvivf (e $OPS)${IVF_LISTS:+ WITH (lists = $IVF_LISTS)}" "$NQ"
	fi
	if [ "$have_pgvector" = 1 ]; then
		b -c "CREATE TABLE v_$ds AS SELECT id, e::text::vector($DIMS) AS v FROM t_$ds" \
			-c "CREATE TABLE vq_$ds AS SELECT id, e::text::vector($DIMS) AS v FROM q_$ds" -c "ALTER TABLE vq_$ds ADD PRIMARY KEY (id)" \
			-c "CREATE TABLE vx_$ds AS SELECT id, e::text::vector($DIMS) AS v FROM x_$ds" \
			-c "VACUUM ANALYZE v_$ds" -c "VACUUM ANALYZE vq_$ds" -c "VACUUM ANALYZE vx_$ds"
		HEAP_RATE[v_$ds]=$(heap_rate "v_$ds" "vx_$ds")
		CURVES=("pgv-hnsw||hnsw.ef_search|$HNSW_EF")
		run_index "$ds" "pgv-hnsw m=16 efc=64" "v_$ds" "vq_$ds" "vx_$ds" v "hnsw (v $PGV_OPS) WITH (m = 16, ef_construction = 64)" "$NQ"
		lists=$((N / 1000 > 0 ? N / 1000 : 1))
		probes=$(for p in $IVFFLAT_PROBES; do [ "$p" -lt "$lists" ] && printf '%s ' "$p"; done; echo "$lists")
		CURVES=("pgv-ivfflat||ivfflat.probes|$probes")
		run_index "$ds" "pgv-ivfflat lists=$lists" "v_$ds" "vq_$ds" "vx_$ds" v "ivfflat (v $PGV_OPS) WITH (lists = $lists)" "$NQ"
		b -c "DROP TABLE v_$ds, vq_$ds, vx_$ds"
	fi
	# the summary of the data set: best QPS at a few recall levels, and x the exact point
	c1=${CLIENTS%% *}
	exact_qps=$(best rvflat-exact "$c1" 0)
	echo "   best QPS at $c1 client(s) with recall@$K >= 0.90 / 0.95 / 0.99, and its ratio to the exact index's QPS ($exact_qps):"
	while read -r label; do
		[ "$label" = rvflat-exact ] && continue
		line=""
		for r in 0.90 0.95 0.99; do
			v=$(best "$label" "$c1" $r)
			line+="${line:+ / }$v$([ "$v" = - ] || echo " ($(ratio "$v" "$exact_qps"))")"
		done
		printf "     %-20s %s\n" "$label" "$line"
	done < <(awk -F'\t' 'NR > 1 { print $6 }' "$TSV" | awk '!seen[$0]++')
	[ "$(awk -F'\t' 'NR > 1 && $6 != "rvflat-exact"' "$TSV" | wc -l)" -gt 0 ] || echo "     (no approximate index was measured)"
	# rvivf against pgvector's HNSW, both from this run
	if [ -n "$(awk -F'\t' 'NR > 1 && $6 == "pgv-hnsw"' "$TSV")" ] && [ -n "$(awk -F'\t' 'NR > 1 && $6 == "rvivf"' "$TSV")" ]; then
		col() { awk -F'\t' -v l="$1" -v c="$2" 'NR > 1 && $6 == l { print $c; exit }' "$TSV"; }
		line=""
		for r in 0.90 0.95 0.99; do
			line+="${line:+ / }$(ratio "$(best rvivf "$c1" $r)" "$(best pgv-hnsw "$c1" $r)")"
		done
		echo "   rvivf / pgv-hnsw: QPS at recall@$K >= 0.90 / 0.95 / 0.99 ($c1 client(s)): $line;" \
			"build $(ratio "$(col pgv-hnsw 13)" "$(col rvivf 13)") faster; size $(ratio "$(col rvivf 14)" "$(col pgv-hnsw 14)");" \
			"inserts $(ratio "$(col rvivf 15)" "$(col pgv-hnsw 15)")"
	fi
	echo "   points: $TSV"
	[ "$PLOT" = 1 ] && plot "$ds" "$ds: $N x $DIMS, $METRIC, recall@$K vs QPS ($NQ queries, ${SECS} s per point)"
	b -c "DROP TABLE t_$ds, q_$ds, x_$ds, truth_$ds" -c "DELETE FROM answers"
done
echo
echo "done in $((SECONDS - T_START)) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
