#!/usr/bin/env bash
# run-serving-bench.sh — exact kNN served to many connections at once: rvflat read from its
# pages, from a per-backend host copy, from the one shared copy (relvec preloaded), with and
# without dynamic batching, and pgvector's exact scan and HNSW index when it is installed;
# measured with pgbench on a throwaway cluster of its own, with the in-memory floor of the
# same search measured in the same run. Prints figures and ratios, asserts nothing.
#
# Data (bench/serving/serving_data.c, seeded): N x D vectors (default 100,000 x 768), random
# (uniform in [-1, 1)) and clustered (1,000 Gaussian clusters in a 32-dimensional latent
# space mapped to D dimensions, plus noise), loaded with COPY; an rvflat index with
# embedding_cosine_ops; NQ query vectors (default 200) of the same distribution in a table
# queries_<data>. Each pgbench transaction is one
#   SELECT id FROM t ORDER BY e <=> (SELECT q FROM queries WHERE id = :qid) LIMIT 10
# with qid drawn at random (prepared; the generic plan is checked to be the index scan).
#
# Configurations, each on a freshly restarted server (one warm-up query first):
#   pages        relvec not preloaded, no cache: every scan reads the index pages
#   per-backend  not preloaded, relvec.rvflat_cache_mb for every connection (PGOPTIONS):
#                each backend builds its own host copy on its first query
#   shared       shared_preload_libraries = relvec (relvec.shared_cache_mb at its default,
#                or raised to fit the copy), relvec.batch_size = 1 when that setting exists
#   shared+batch preloaded, the batching settings at their defaults; skipped with a message
#                when relvec.batch_size does not exist in the installed build
#   shared+owner preloaded with relvec.device_owner = BENCH_OWNER_DEVICE (gpu, vulkan:N) and
#                every session's relvec.device the same: the device owner's candidates,
#                rechecked from the shared copy; skipped with a message when it is unset
#   pgv-exact, pgv-hnsw-40, pgv-hnsw-100: pgvector when available (a copy of the table as
#                vector(D)): a sequential scan, then HNSW (m = 16, ef_construction = 64) at
#                hnsw.ef_search 40 and 100, with recall@10 against the exact answers (all
#                queries; the exact scan, slow, over the first 50)
# For each, pgbench with each client count (-j = min(clients, 2)) for BENCH_SECONDS. QPS and
# p50 / p99 latency come from the per-transaction log over the steady window: from the moment
# every client has finished its first transaction (connection, library load, a per-backend
# copy) to the end of the run; "warm" is the time before that window. Memory: the sum of PSS
# (/proc/PID/smaps) of the postmaster and all its children, sampled at 60% of the run
# (shared memory is counted once, split between the processes that map it), and the bytes of
# the shared copies (relvec_cache); "server": the private memory (USS) of those processes
# plus the shared memory segment (shared_memory_size) and the shared copies, which PSS
# undercounts where no living process has read all of a copy. "load" is the 1-minute load
# average at that moment (the bench's own clients included): on a shared machine it says how
# far to trust the figures.
# Correctness under load: after the timed runs of a relvec configuration, max(clients)
# concurrent clients answer about NQ random queries and every answer (ids, in order) is
# compared with the sequential scan's; errors in the server log are counted.
# The floor: single-thread exact cosine top-10 of the same data in memory (normalized once;
# per query one vectorized pass of float32 dot products and a selection), median of 5
# queries; each configuration's 1-client p50 is printed as a ratio to it.
#
# Environment: BENCH_ROWS (100000), BENCH_DIMS (768), BENCH_QUERIES (200), BENCH_SECONDS (20),
# BENCH_CLIENTS ("1 2 4 8 16"), BENCH_DATA (random | clustered | both; both), BENCH_OWNER_DEVICE
# (unset: no shared+owner configuration), BENCH_CHECK=0
# skips the checks under load, BENCH_PGVECTOR=0 skips pgvector. A quick run:
#   BENCH_ROWS=20000 BENCH_SECONDS=5 BENCH_CLIENTS="1 4" BENCH_DATA=clustered bench/run-serving-bench.sh
# It uses the relvec installed in the system PostgreSQL: build, install and run it under the
# install lock when other builds may be installed meanwhile:
#   flock /tmp/relvec-install.lock sh -c 'make -s install && bench/run-serving-bench.sh'
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh
N=${BENCH_ROWS:-100000}
D=${BENCH_DIMS:-768}
NQ=${BENCH_QUERIES:-200}
SECS=${BENCH_SECONDS:-20}
CLIENTS=${BENCH_CLIENTS:-1 2 4 8 16}
DATASETS=${BENCH_DATA:-both}
CHECK=${BENCH_CHECK:-1}
PGVECTOR=${BENCH_PGVECTOR:-1}
K=10
DB=relvec_sbench
[ "$DATASETS" = both ] && DATASETS="random clustered"
for d in $DATASETS; do
	case $d in random | clustered) ;; *) echo "BENCH_DATA is random, clustered or both" >&2; exit 2 ;; esac
done
CMAX=0 CMIN=
for c in $CLIENTS; do
	[ "$c" -gt "$CMAX" ] && CMAX=$c
	{ [ -z "$CMIN" ] || [ "$c" -lt "$CMIN" ]; } && CMIN=$c
done

GEN=build/bench/serving_data
if [ ! -x $GEN ] || [ bench/serving/serving_data.c -nt $GEN ]; then
	mkdir -p build/bench
	cc -O3 -march=native -Wall -Wextra -Werror -o $GEN bench/serving/serving_data.c -lm
fi

RV_PG_OPTS="-c shared_buffers=1GB -c max_parallel_workers_per_gather=0 -c jit=off -c maintenance_work_mem=2GB -c max_wal_size=8GB" \
	rv_cluster_start >/dev/null
WORK=$(mktemp -d /tmp/relvec-sbench.XXXXXX)
trap 'rv_cluster_stop; rm -rf "$WORK"' EXIT
psql -q -X -d postgres -c "CREATE DATABASE $DB"
# psql on the bench database; OPTS (a configuration's settings) go to the server
OPTS=""
b() { PGOPTIONS="$OPTS -c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }

# Restart the server with shared_preload_libraries = $1 ('' or relvec).
restart() {
	if [ -n "$1" ]; then
		psql -X -q -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = '$1'"
	else
		psql -X -q -d postgres -c "ALTER SYSTEM RESET shared_preload_libraries"
	fi
	rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$RV_CLUSTER_DIR/data" -l "$RV_CLUSTER_DIR/server.log" \
		-m fast -w restart >/dev/null || { tail -20 "$RV_CLUSTER_DIR/server.log"; return 1; }
}

# Memory (kB) of the postmaster and all its descendants (relvec-deviced is a child of the
# device owner worker, not of the postmaster), in one pass over their smaps (under load,
# listing and reading 16 backends takes a few seconds): the sum of their PSS, then of their
# private memory: Private_Clean + Private_Dirty of their private mappings only (a shared
# mapping's pages that one process alone has touched count as private in smaps too: the
# shared segments are added whole instead). With the shared memory segment and the shared
# copies added, the private memory gives the server's memory without counting a shared page
# twice or missing one no living process has touched (PSS splits the shared pages among the
# processes that touched them, so a copy read in part counts in part).
mem_kb() {
	local pm
	pm=$(head -1 "$RV_CLUSTER_DIR/data/postmaster.pid")
	{ echo "$pm"; ps -o pid= --ppid "$pm" | while read -r c; do echo "$c"; ps -o pid= --ppid "$c" || true; done; } | while read -r p; do
		cat "/proc/$p/smaps" 2>/dev/null || true
	done | awk '/^[0-9a-f]+-[0-9a-f]+ / { sh = substr($2, 4, 1) == "s" }
		/^Pss:/ { pss += $2 }
		/^Private_(Clean|Dirty):/ { if (!sh) priv += $2 }
		END { print pss + 0, priv + 0 }'
}

# seconds from $1 to $2 (date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

copy_mb=$(( (N * (4 * D + 16) + 1048575) / 1048576 ))
cache_mb=$(( copy_mb * 2 > 1024 ? copy_mb * 2 : 1024 ))

echo "serving bench: $N x $D, cosine, top-$K, $NQ queries, ${SECS} s per run, clients: $CLIENTS; data: $DATASETS"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- data -----------------------------------------------------------------------------------
b -c "CREATE EXTENSION relvec"
have_cache_view=$(b -c "SELECT to_regclass('relvec_cache') IS NOT NULL")
have_pgvector=0
if [ "$PGVECTOR" = 1 ] && [ "$(b -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ]; then
	b -c "CREATE EXTENSION vector"
	have_pgvector=1
	echo "pgvector $(b -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'") is available: its exact scan and HNSW are measured"
else
	echo "pgvector: not available (or BENCH_PGVECTOR=0): its configurations are skipped"
fi
b -c "CREATE UNLOGGED TABLE answers (cfg int, qid int, ids int[])"
for data in $DATASETS; do
	seed=10; [ "$data" = clustered ] && seed=20	# the same data whichever BENCH_DATA
	t0=$(date +%s.%N)
	$GEN gen "$data" "$N" "$D" $seed $((seed + 1)) "$WORK/$data.f32"
	$GEN gen "$data" "$NQ" "$D" $seed $((seed + 2)) "$WORK/q_$data.f32"
	b <<SQL
CREATE TABLE t_$data (id int, e embedding($D));
CREATE TABLE queries_$data (id int PRIMARY KEY, q embedding($D));
SQL
	$GEN text "$WORK/$data.f32" "$N" "$D" | b -c "COPY t_$data FROM STDIN"
	$GEN text "$WORK/q_$data.f32" "$NQ" "$D" | b -c "COPY queries_$data FROM STDIN"
	t1=$(date +%s.%N)
	b -c "CREATE INDEX t_${data}_cos ON t_$data USING rvflat (e embedding_cosine_ops)" -c "VACUUM ANALYZE t_$data" -c "VACUUM ANALYZE queries_$data"
	t2=$(date +%s.%N)
	# the exact answers, from a sequential scan with the same operator
	b -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" -c "CREATE TABLE ref_$data AS
		SELECT q.id AS qid, ARRAY(SELECT t.id FROM t_$data t ORDER BY t.e <=> q.q, t.ctid LIMIT $K) AS ids FROM queries_$data q"
	t3=$(date +%s.%N)
	printf "%s data: generated and loaded in %.1f s; rvflat index %d MB built in %.1f s; exact answers (seq scan) for %d queries in %.1f s\n" \
		"$data" "$(secs "$t0" "$t1")" "$(b -c "SELECT pg_relation_size('t_${data}_cos') / 1048576")" "$(secs "$t1" "$t2")" "$NQ" "$(secs "$t2" "$t3")"
	if [ "$have_pgvector" = 1 ]; then
		b -c "CREATE TABLE v_$data (id int, v vector($D))" -c "CREATE TABLE vq_$data (id int PRIMARY KEY, q vector($D))"
		$GEN text "$WORK/$data.f32" "$N" "$D" | b -c "COPY v_$data FROM STDIN"
		$GEN text "$WORK/q_$data.f32" "$NQ" "$D" | b -c "COPY vq_$data FROM STDIN"
		b -c "VACUUM ANALYZE v_$data" -c "VACUUM ANALYZE vq_$data"
	fi
done

# --- the floor ------------------------------------------------------------------------------
declare -A FLOOR
for data in $DATASETS; do
	$GEN floor "$WORK/$data.f32" "$N" "$WORK/q_$data.f32" "$NQ" "$D" $K 5 >"$WORK/floor_$data"
	FLOOR[$data]=$(head -1 "$WORK/floor_$data")
	agree=0
	for r in 1 2 3 4 5; do
		[ "$(sed -n "s/^$r: //p" "$WORK/floor_$data")" = "$(b -c "SELECT array_to_string(ids, ' ') FROM ref_$data WHERE qid = $r")" ] && agree=$((agree + 1))
	done
	echo "floor, $data: single-thread exact top-$K in memory (one thread) ${FLOOR[$data]} ms, median of 5; its answers equal the seq scan's on $agree of 5 queries"
done
rm -f "$WORK"/*.f32

# --- one configuration ---------------------------------------------------------------------
RESULTS=$WORK/results
: >"$RESULTS"
cfgno=0
batching=unknown
# run_config DATA NAME PRELOAD OPTS TABLE QTABLE PLAN_PATTERN CHECK(exact|recall|none)
run_config() {
	local data=$1 name=$2 preload=$3 table=$5 qtable=$6 plan_pat=$7 check=$8
	local sql=$WORK/$data-$name.sql log_off plan c j tag rc qps p50 p99 stats m warm win pss cmb load aborted nrec
	OPTS=$4
	cfgno=$((cfgno + 1))
	restart "$preload"
	log_off=$(stat -c %s "$RV_CLUSTER_DIR/server.log")
	printf '\\set qid random(1, %d)\nSELECT id FROM %s ORDER BY e <=> (SELECT q FROM %s WHERE id = :qid) LIMIT %d;\n' \
		"$NQ" "$table" "$qtable" $K >"$sql"
	[ "$table" = "v_$data" ] && sed -i 's/ORDER BY e /ORDER BY v /' "$sql"
	plan=$(b -c "SET plan_cache_mode = force_generic_plan" \
		-c "PREPARE p(int) AS $(sed -n 2p "$sql" | sed 's/:qid/$1/; s/;$//')" -c "EXPLAIN (COSTS OFF) EXECUTE p(1)")
	# warm-up: the pages into shared buffers, the shared copy built
	b -c "SELECT count(*) FROM ($(sed -n 2p "$sql" | sed 's/:qid/1/; s/;$//')) s" >/dev/null
	echo "== $data / $name${OPTS:+ (PGOPTIONS:$OPTS)}${preload:+ (shared_preload_libraries = $preload)}"
	if grep -q "$plan_pat" <<<"$plan"; then
		echo "   plan: $(grep -o "$plan_pat[a-z_0-9]*" <<<"$plan" | head -1)"
	else
		echo "   PLAN IS NOT THE EXPECTED ONE ($plan_pat):"; sed 's/^/     /' <<<"$plan"
	fi
	if [ "$have_cache_view" = t ] && [ -n "$preload" ]; then
		echo "   shared copy after the warm-up: $(b -c "SELECT coalesce(string_agg(state || ', ' || pg_size_pretty(bytes), '; '), 'none') FROM relvec_cache WHERE index = '${table}_cos'::regclass")"
	fi
	for c in $CLIENTS; do
		j=$((c < 2 ? c : 2))
		tag=$data-$name-$c
		( sleep $((SECS * 3 / 5)); read -r pss uss <<<"$(mem_kb)"; load=$(cut -d' ' -f1 /proc/loadavg)
		  cmb=0; [ "$have_cache_view" = t ] && cmb=$(b -c "SELECT coalesce(sum(bytes), 0) FROM relvec_cache")
		  shm=$(b -c "SHOW shared_memory_size" | tr -dc '0-9')
		  echo "$pss $cmb $load $((uss + ${shm:-0} * 1024 + cmb / 1024))" >"$WORK/mem_$tag" ) &
		rc=0
		PGOPTIONS="$OPTS" pgbench -n -M prepared -c "$c" -j "$j" -T "$SECS" -f "$sql" \
			--log --log-prefix="$WORK/log_$tag" $DB >"$WORK/out_$tag" 2>&1 || rc=$?
		wait
		aborted=$(grep -c "aborted" "$WORK/out_$tag" || true)
		# steady window: after every client's first transaction, to the last end
		stats=$( (cat "$WORK/log_$tag".* 2>/dev/null || true) | awk -v out="$WORK/lat_$tag" '
			{ e = $5 * 1000000 + $6; s = e - $3; n++; E[n] = e; L[n] = $3
			  if (!($1 in f) || $2 < fno[$1]) { f[$1] = e; fno[$1] = $2 }
			  if (start == "" || s < start) start = s
			  if (e > t1) t1 = e }
			END { t0 = 0; for (c in f) if (f[c] > t0) t0 = f[c]
			      m = 0; for (i = 1; i <= n; i++) if (E[i] > t0) { m++; print L[i] > out }
			      if (n == 0) print "0 0 0"; else printf "%d %.3f %.3f\n", m, (t0 - start) / 1e6, (t1 - t0) / 1e6 }')
		read -r m warm win <<<"$stats"
		if [ "$m" -gt 0 ]; then
			read -r p50 p99 <<<"$(sort -n "$WORK/lat_$tag" | awk '{ a[NR] = $1 }
				END { i = int(NR * 0.5); if (i < NR * 0.5) i++; k = int(NR * 0.99); if (k < NR * 0.99) k++
				      printf "%.2f %.2f\n", a[i] / 1000, a[k] / 1000 }')"
			qps=$(awk -v m="$m" -v w="$win" 'BEGIN { printf "%.1f", (w > 0 ? m / w : 0) }')
		else
			p50=nan p99=nan qps=0
		fi
		read -r pss cmb load srv <"$WORK/mem_$tag" || { pss=0 cmb=0 load=? srv=0; }
		printf "   %3d clients: %8s QPS  p50 %8s ms  p99 %8s ms  warm %5.1f s  window %5.1f s (%d tx)  PSS %6d MB  server %6d MB  shared copies %5d MB  load %s%s\n" \
			"$c" "$qps" "$p50" "$p99" "$warm" "$win" "$m" $((pss / 1024)) $((srv / 1024)) $((cmb / 1048576)) "$load" \
			"$( [ "$rc" != 0 ] || [ "$aborted" != 0 ] && echo "  pgbench exit $rc, $aborted aborted: $(grep -m1 -i -E "error|abort" "$WORK/out_$tag")")"
		echo "$data $name $c $qps $p50 $p99 $((pss / 1024)) $((cmb / 1048576)) $((srv / 1024))" >>"$RESULTS"
		rm -f "$WORK/log_$tag".* "$WORK/lat_$tag"
	done
	if [ "$check" = exact ] && [ "$CHECK" = 1 ]; then
		sed "2s/^SELECT id FROM .*/INSERT INTO answers VALUES ($cfgno, :qid, ARRAY($(sed -n 2p "$sql" | sed 's/;$//')));/" "$sql" >"$sql.check"
		PGOPTIONS="$OPTS" pgbench -n -M prepared -c "$CMAX" -j $((CMAX < 2 ? CMAX : 2)) -t $(((NQ + CMAX - 1) / CMAX)) \
			-f "$sql.check" $DB >"$WORK/out_check" 2>&1 || echo "   check run: pgbench failed: $(grep -m1 -i -E "error|abort" "$WORK/out_check")"
		echo "   under load ($CMAX clients): $(b -c "SELECT count(*) FILTER (WHERE a.ids IS DISTINCT FROM r.ids) || ' of ' || count(*) FROM answers a JOIN ref_$data r USING (qid) WHERE a.cfg = $cfgno") answers differ from the seq scan's"
	fi
	if [ "$check" = recall ]; then
		# over every query; the exact scan (a few hundred ms a query) over the first 50
		nrec=$NQ
		[ "$name" = pgv-exact ] && [ "$NQ" -gt 50 ] && nrec=50
		b -c "INSERT INTO answers SELECT $cfgno, q.id, ARRAY(SELECT v.id FROM v_$data v ORDER BY v.v <=> q.q LIMIT $K) FROM vq_$data q WHERE q.id <= $nrec"
		RECALL[$data-$name]=$(b -c "SELECT round(avg((SELECT count(*) FROM unnest(a.ids) x WHERE x = ANY (r.ids))::numeric / $K), 4)
			FROM answers a JOIN ref_$data r USING (qid) WHERE a.cfg = $cfgno")
		echo "   recall@$K against the exact answers, queries 1..$nrec: ${RECALL[$data-$name]}"
	fi
	errs=$(tail -c +"$((log_off + 1))" "$RV_CLUSTER_DIR/server.log" | grep -c -E "ERROR|FATAL|PANIC|terminated by signal" || true)
	[ "$errs" = 0 ] || { echo "   server log: $errs errors:"; tail -c +"$((log_off + 1))" "$RV_CLUSTER_DIR/server.log" | grep -E "ERROR|FATAL|PANIC|terminated by signal" | sort | uniq -c | sort -rn | head -5 | sed 's/^/     /'; }
}
declare -A RECALL

# --- the configurations ----------------------------------------------------------------------
restart relvec
if [ "$(b -c "SELECT count(*) FROM pg_settings WHERE name = 'relvec.batch_size'")" = 1 ]; then
	batching=yes
	echo "batching: relvec.batch_size = $(b -c "SHOW relvec.batch_size"), relvec.batch_wait_us = $(b -c "SELECT coalesce(current_setting('relvec.batch_wait_us', true), '(absent)')") by default"
else
	batching=no
	echo "batching: relvec.batch_size does not exist in the installed relvec: the shared+batch configuration is skipped"
fi
shared_opts=""
[ "$batching" = yes ] && shared_opts="-c relvec.batch_size=1"
if [ "$copy_mb" -gt 1000 ]; then
	b -c "ALTER SYSTEM SET relvec.shared_cache_mb = $cache_mb"
	echo "relvec.shared_cache_mb = $cache_mb (the default 1024 does not hold a $copy_mb MB copy)"
fi
for data in $DATASETS; do
	rv="Index Scan using t_${data}_cos"
	run_config "$data" pages "" "-c relvec.rvflat_cache_mb=0" "t_$data" "queries_$data" "$rv" exact
	run_config "$data" per-backend "" "-c relvec.rvflat_cache_mb=$cache_mb" "t_$data" "queries_$data" "$rv" exact
	run_config "$data" shared relvec "$shared_opts" "t_$data" "queries_$data" "$rv" exact
	if [ "$batching" = yes ]; then
		run_config "$data" shared+batch relvec "" "t_$data" "queries_$data" "$rv" exact
	else
		echo "== $data / shared+batch: skipped (relvec.batch_size absent)"
	fi
	if [ -n "${BENCH_OWNER_DEVICE:-}" ]; then
		b -c "ALTER SYSTEM SET relvec.device_owner = '$BENCH_OWNER_DEVICE'"
		run_config "$data" shared+owner relvec "-c relvec.device=$BENCH_OWNER_DEVICE" "t_$data" "queries_$data" "$rv" exact
		echo "   the device owner: $(b -c "SELECT device || ', ' || uploads || ' uploads, ' || requests || ' requests, ' || batches || ' batches of ' || batched || ' queries, largest ' || largest_batch FROM relvec_device_owner")"
		b -c "ALTER SYSTEM RESET relvec.device_owner"
	else
		echo "== $data / shared+owner: skipped (BENCH_OWNER_DEVICE unset; gpu on a GPU machine, vulkan:0 for lavapipe)"
	fi
	if [ "$have_pgvector" = 1 ]; then
		run_config "$data" pgv-exact "" "" "v_$data" "vq_$data" "Seq Scan on v_$data" recall
		t0=$(date +%s.%N)
		b -c "CREATE INDEX v_${data}_hnsw ON v_$data USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
		printf "pgvector HNSW (m = 16, ef_construction = 64) on %s built in %.1f s\n" "$data" "$(secs "$t0" "$(date +%s.%N)")"
		run_config "$data" pgv-hnsw-40 "" "-c hnsw.ef_search=40" "v_$data" "vq_$data" "Index Scan using v_${data}_hnsw" recall
		run_config "$data" pgv-hnsw-100 "" "-c hnsw.ef_search=100" "v_$data" "vq_$data" "Index Scan using v_${data}_hnsw" recall
		b -c "DROP INDEX v_${data}_hnsw"
	fi
done

# --- summary ---------------------------------------------------------------------------------
# get DATA NAME CLIENTS FIELD (4 qps, 5 p50, 6 p99, 7 pss, 8 cache, 9 server memory)
get() { awk -v d="$1" -v n="$2" -v c="$3" -v f="$4" '$1 == d && $2 == n && $3 == c { print $f }' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.3gx", a / b }'; }
echo
echo "== summary: QPS (p50 ms / p99 ms) by clients; PSS MB at the largest client count"
for data in $DATASETS; do
	printf "%-10s %-13s" "$data" "config"
	for c in $CLIENTS; do printf " %24s" "$c clients"; done
	printf " %9s %10s %8s\n" "PSS MB" "p50/floor" "recall"
	for name in pages per-backend shared shared+batch shared+owner pgv-exact pgv-hnsw-40 pgv-hnsw-100; do
		[ -n "$(get "$data" "$name" "$CMAX" 4)" ] || continue
		printf "%-10s %-13s" "" "$name"
		for c in $CLIENTS; do printf " %24s" "$(get "$data" "$name" "$c" 4) ($(get "$data" "$name" "$c" 5)/$(get "$data" "$name" "$c" 6))"; done
		p1=$(get "$data" "$name" 1 5)
		printf " %9s %10s %8s\n" "$(get "$data" "$name" "$CMAX" 7)" "$( [ -n "$p1" ] && ratio "$p1" "${FLOOR[$data]}" || echo "n/a")" "${RECALL[$data-$name]:-1 (exact)}"
	done
	echo "   floor (in memory, one thread): ${FLOOR[$data]} ms; p50/floor is the 1-client p50 over it"
	sb=shared+batch
	[ "$batching" = yes ] || { sb=shared; echo "   (batching absent: 'shared' stands in for shared+batch below)"; }
	echo "   QPS at $CMAX clients, $sb / per-backend: $(ratio "$(get "$data" $sb "$CMAX" 4)" "$(get "$data" per-backend "$CMAX" 4)")"
	echo "   QPS at $CMAX clients, $sb / pages: $(ratio "$(get "$data" $sb "$CMAX" 4)" "$(get "$data" pages "$CMAX" 4)")"
	echo "   memory (PSS), shared: $CMAX clients / $CMIN client(s): $(ratio "$(get "$data" shared "$CMAX" 7)" "$(get "$data" shared "$CMIN" 7)") ($(get "$data" shared "$CMAX" 7) MB vs $(get "$data" shared "$CMIN" 7) MB)"
	echo "   memory (PSS) at $CMAX clients, per-backend / shared: $(ratio "$(get "$data" per-backend "$CMAX" 7)" "$(get "$data" shared "$CMAX" 7)")"
	for name in shared $sb; do
		echo "   server memory (private memory of every process + shared memory + shared copies), $name: $CMAX clients / $CMIN client(s): $(ratio "$(get "$data" $name "$CMAX" 9)" "$(get "$data" $name "$CMIN" 9)") ($(get "$data" $name "$CMAX" 9) MB vs $(get "$data" $name "$CMIN" 9) MB)"
	done
	if [ "$have_pgvector" = 1 ]; then
		echo "   QPS at $CMAX clients, $sb / pgvector HNSW ef_search 40: $(ratio "$(get "$data" $sb "$CMAX" 4)" "$(get "$data" pgv-hnsw-40 "$CMAX" 4)") (recall 1 vs ${RECALL[$data-pgv-hnsw-40]})"
		echo "   QPS at 1 client, $sb / pgvector HNSW ef_search 40: $(ratio "$(get "$data" $sb 1 4)" "$(get "$data" pgv-hnsw-40 1 4)")"
	else
		echo "   pgvector: not measured"
	fi
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
