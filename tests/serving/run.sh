#!/usr/bin/env bash
# run.sh — the shared copies of rvflat indexes, with relvec in shared_preload_libraries, on
# a throwaway cluster of its own: every scan through the shared copy equals a sequential
# scan (every opclass, ties, NULLs); a copy one backend built serves the others; an insert,
# a delete, a VACUUM, a TRUNCATE or a REINDEX in one backend is seen by the next scan of
# every other; a small relvec.shared_cache_mb evicts, a too small one scans the pages; one
# copy however many backends scan; concurrent writers and readers always agree with a
# sequential scan of the same snapshot; concurrent scans of one copy are batched (one pass
# for all of them) and still answer exactly what a sequential scan does, with batching off,
# under statement_timeout while a batch waits and with members terminated mid-batch; a
# streaming standby with relvec preloaded serves from copies of its own. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh
. scripts/lib/tap.sh
DB=relvec_serving
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

echo "1..48"
RV_PG_OPTS="-c shared_preload_libraries=relvec -c max_parallel_workers_per_gather=0" rv_cluster_start >/dev/null ||
	{ echo "Bail out! cannot start a cluster with relvec preloaded"; exit 1; }
psql -q -X -d postgres -c "CREATE DATABASE $DB" || exit 1
q -c "CREATE EXTENSION relvec" -f tests/lib/knn.sql >/dev/null || { echo "Bail out! setup failed"; exit 1; }
q <<'SQL' || { echo "Bail out! setup failed"; exit 1; }
-- values on a coarse grid: many ties of distance; some NULLs
CREATE TABLE t (id serial PRIMARY KEY, e embedding(6));
INSERT INTO t (e) SELECT CASE WHEN i % 97 = 0 THEN NULL ELSE
	ARRAY[i % 5, i % 3, (i * 7) % 4, 1, -(i % 2), (i % 11) * 0.5]::real[]::embedding END
	FROM generate_series(1, 4000) i;
CREATE INDEX t_l2 ON t USING rvflat (e embedding_l2_ops);
CREATE INDEX t_ip ON t USING rvflat (e embedding_ip_ops);
CREATE INDEX t_cos ON t USING rvflat (e embedding_cosine_ops);
CREATE INDEX t_l1 ON t USING rvflat (e embedding_l1_ops);
-- the index scan is the plan the test means
CREATE FUNCTION uses_index(op text) RETURNS bool LANGUAGE plpgsql AS $f$
DECLARE l text; found bool := false;
BEGIN
	SET LOCAL enable_seqscan = off;
	FOR l IN EXECUTE format('EXPLAIN SELECT id FROM t ORDER BY e %s ''[1,1,1,1,1,1]'' LIMIT 5', op) LOOP
		found := found OR l LIKE '%Index Scan using%';
	END LOOP;
	RETURN found;
END $f$;
-- every operator, several queries, a LIMIT past the NULLs: index = seq scan
CREATE FUNCTION all_equal() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op,
		(VALUES ('[1,1,1,1,1,1]'::embedding), ('[0,2,0,1,-1,2]'), ('[4,0,3,1,0,5]')) v(qv)
	WHERE knn(op, qv, 4100, true) IS DISTINCT FROM knn(op, qv, 4100, false) $$;
SQL
stat() { q -c "SELECT $1 FROM relvec_cache_stats"; }

check "every opclass's scan is an index scan" test "$(q -c "SELECT bool_and(uses_index(op)) FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op")" = t
check "through the shared copies, every scan equals a sequential scan (4 opclasses, ties, NULLs)" \
	test "$(q -c "SELECT all_equal()")" = 0
check "one shared copy per index, built once" test "$(q -c "SELECT count(*) FROM relvec_cache WHERE state = 'ready'"):$(stat builds)" = "4:4"
hits_before=$(stat hits)
q -c "SELECT knn('<->', '[1,1,1,1,1,1]', 10, true)" >/dev/null
q -c "SELECT knn('<->', '[1,1,1,1,1,1]', 10, true)" >/dev/null
check "other backends' scans hit the copy (no new build)" \
	test "$(stat hits):$(stat builds)" = "$((hits_before + 2)):4"

# a write in one backend is seen by the next scan of every other
q -c "INSERT INTO t (e) VALUES ('[1,1,1,1,1,1]'), ('[1,1,1,1,1,1]'), (NULL)" >/dev/null
check "an insert in another backend: the next scan sees it (index = seq scan)" test "$(q -c "SELECT all_equal()")" = 0
check "... through a new copy (the old one is retired)" test "$(q -c "SELECT count(*) FROM relvec_cache WHERE state = 'ready'")" = 4
q -c "DELETE FROM t WHERE id % 3 = 0" -c "VACUUM t" >/dev/null
check "a DELETE and a VACUUM in another backend: index = seq scan" test "$(q -c "SELECT all_equal()")" = 0
q -c "REINDEX INDEX t_l2" >/dev/null
check "after REINDEX: index = seq scan" test "$(q -c "SELECT all_equal()")" = 0
q -c "TRUNCATE t" -c "INSERT INTO t (e) SELECT ARRAY[i % 4, 1, 2, i % 3, 0, i % 2]::real[] FROM generate_series(1, 500) i" >/dev/null
check "after TRUNCATE and new rows: index = seq scan" test "$(q -c "SELECT all_equal()")" = 0

# many backends, one copy
for i in 1 2 3 4 5 6; do q -c "SELECT knn('<=>', '[1,2,3,4,5,6]', 5, true)" >/dev/null & done
wait
check "six more backends scanned: still one copy of that index" \
	test "$(q -c "SELECT count(*) FROM relvec_cache WHERE index = 't_cos'::regclass AND state = 'ready'")" = 1

# a cache too small for one index: the scans read the pages, and are right
q -c "INSERT INTO t (e) SELECT ARRAY[random(), random(), random(), random(), random(), random()]::real[] FROM generate_series(1, 50000)" >/dev/null
set_cache_mb() {   # set_cache_mb VALUE|DEFAULT: reload, and wait until new backends see it
	local want
	if [ "$1" = DEFAULT ]; then
		psql -X -q -d postgres -c "ALTER SYSTEM RESET relvec.shared_cache_mb" -c "SELECT pg_reload_conf()" >/dev/null
		want=1GB
	else
		psql -X -q -d postgres -c "ALTER SYSTEM SET relvec.shared_cache_mb = $1" -c "SELECT pg_reload_conf()" >/dev/null
		want=${1}MB
	fi
	for _ in $(seq 1 50); do [ "$(q -c "SHOW relvec.shared_cache_mb")" = "$want" ] && return; sleep 0.1; done
}
set_cache_mb 1
large_before=$(stat too_large)
check "an index larger than relvec.shared_cache_mb: index = seq scan (from the pages)" test "$(q -c "SELECT all_equal()")" = 0
check "... and counted as too large, not copied" test "$(stat too_large)" -gt "$large_before"

# room for some copies only: the least recently used go
q -c "CREATE TABLE small_a (id int, e embedding(6))" -c "CREATE TABLE small_b (id int, e embedding(6))" \
	-c "INSERT INTO small_a SELECT i, ARRAY[i, 1, 2, 3, 4, 5]::real[] FROM generate_series(1, 12000) i" \
	-c "INSERT INTO small_b SELECT i, ARRAY[1, i, 2, 3, 4, 5]::real[] FROM generate_series(1, 12000) i" \
	-c "CREATE INDEX ON small_a USING rvflat (e embedding_l2_ops)" -c "CREATE INDEX ON small_b USING rvflat (e embedding_l2_ops)" >/dev/null
ev_before=$(stat evictions)
answers=""
for i in 1 2 3; do
	for t in small_a small_b; do
		answers+=$(q -c "SET enable_seqscan = off" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM $t ORDER BY e <-> '[7,7,2,3,4,5]' LIMIT 3) s" | tail -n 1)";"
	done
done
check "two indexes that do not fit together: evictions" test "$(stat evictions)" -gt "$ev_before"
check "... and every answer right" test "$answers" = "7,6,8;7,6,8;7,6,8;7,6,8;7,6,8;7,6,8;"
set_cache_mb DEFAULT

# concurrent writers and readers: each reader compares index and seq scan in one snapshot
# (TRUNCATE restarted nothing: keep the 3,000 oldest rows, so no reader sees an empty table)
q -c "DELETE FROM t WHERE id NOT IN (SELECT id FROM t ORDER BY id LIMIT 3000)" -c "VACUUM t" >/dev/null
writer() {
	for i in $(seq 1 25); do
		q -c "INSERT INTO t (e) SELECT ARRAY[random() * 4, 1, 2, random() * 3, 0, 1]::real[] FROM generate_series(1, 20)" \
		  -c "UPDATE t SET e = ARRAY[random() * 4, 1, 2, random() * 3, 0, 1]::real[] WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 5)" \
		  -c "DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 10)" >/dev/null
		[ $((i % 8)) -eq 0 ] && q -c "VACUUM t" >/dev/null
	done
}
reader() {
	local bad=0 i r
	for i in $(seq 1 25); do
		r=$(psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
			-c "SELECT coalesce((knn('<->', '[1,1,1,1,1,1]', 300, true) = knn('<->', '[1,1,1,1,1,1]', 300, false))::int, -9) +
			           coalesce((knn('<=>', '[2,1,2,1,0,1]', 300, true) = knn('<=>', '[2,1,2,1,0,1]', 300, false))::int, -9)" -c "COMMIT" 2>&1 |
			tee -a "$1.log" | grep -E '^[0-9]+$|ERROR' | head -n 3)
		[ "$r" = 2 ] || { bad=$((bad + 1)); [ -n "${DEBUG:-}" ] && echo "# reader $1 round $i: $r" >&2; }
	done
	echo "$bad" >"$1"
}
T=$(mktemp -d /tmp/relvec-serving.XXXXXX)
writer & w=$!
reader "$T/r1" & r1=$!
reader "$T/r2" & r2=$!
wait $w $r1 $r2
check "concurrent INSERT/UPDATE/DELETE/VACUUM and two readers: every index scan equals the seq scan of its snapshot" \
	test "$(cat "$T/r1"):$(cat "$T/r2")" = "0:0" || grep -hvE '^(2|BEGIN|COMMIT)$' "$T"/r*.log | head -5 | cat -A | sed 's/^/# /'
rm -rf "$T"
# dynamic batching: concurrent scans of one copy share a pass
q -c "SELECT setseed(0.25)" -c "CREATE TABLE big (id int PRIMARY KEY, e embedding(256))" \
	-c "INSERT INTO big SELECT i, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 256) j WHERE i > 0)::embedding FROM generate_series(1, 20000) i" \
	-c "CREATE INDEX big_cos ON big USING rvflat (e embedding_cosine_ops)" \
	-c "CREATE INDEX big_l2 ON big USING rvflat (e embedding_l2_ops)" \
	-c "CREATE INDEX big_ip ON big USING rvflat (e embedding_ip_ops)" \
	-c "CREATE INDEX big_l1 ON big USING rvflat (e embedding_l1_ops)" >/dev/null
B=$(mktemp -d /tmp/relvec-batch.XXXXXX)
for k in 1 2 3 4 5 6 7 8; do
	qv=$(q -c "SELECT ARRAY(SELECT sin($k * 1.3 + j * 0.7)::real FROM generate_series(1, 256) j)::embedding::text")
	for op in '<=>' '<->' '<#>' '<+>'; do
		f="$B/q$k.sql"
		[ "$op" = '<->' ] && f="$B/l2q$k.sql"
		[ "$op" = '<#>' ] && f="$B/ipq$k.sql"
		[ "$op" = '<+>' ] && f="$B/l1q$k.sql"
		echo "SELECT '$k$op' || string_agg(id::text, ',') FROM (SELECT id FROM big ORDER BY e $op '$qv' LIMIT 10) s;" >"$f"
		q -c "SET enable_indexscan = off" -f "$f" | tail -n 1 >>"$B/expected"
	done
	# past a batched scan's candidate list (64 rows): a long LIMIT, or a filter that rejects most
	op='<=>'; [ $((k % 2)) = 0 ] && op='<->'
	if [ $((k % 4)) -lt 2 ]; then
		echo "SELECT 'w$k$op' || string_agg(id::text, ',') FROM (SELECT id FROM big ORDER BY e $op '$qv' LIMIT 150) s;" >"$B/wq$k.sql"
	else
		echo "SELECT 'w$k$op' || string_agg(id::text, ',') FROM (SELECT id FROM big WHERE id % 13 = 0 ORDER BY e $op '$qv' LIMIT 10) s;" >"$B/wq$k.sql"
	fi
	q -c "SET enable_indexscan = off" -f "$B/wq$k.sql" | tail -n 1 >>"$B/expected"
done
looper() {   # looper NAME ROUNDS SETTINGS...: every query (of $QSET) ROUNDS times in one session
	local name=$1 rounds=$2 i k
	shift 2
	{
		echo "SET enable_seqscan = off;"
		echo "SET application_name = 'looper';"
		# a batch opens whenever another scan holds the copy: the int8 passes are too short
		# for two scans of this small table to overlap often (relvec.batch_min_active)
		echo "SET relvec.batch_min_active = 0;"
		# the batches' own checks: the cosine copy's cones would spare its scans a full pass
		echo "SET relvec.cone_scan = off;"
		for s in "$@"; do echo "SET $s;"; done
		for i in $(seq 1 "$rounds"); do for k in 1 2 3 4 5 6 7 8; do cat "$B/${QSET:-}q$k.sql"; done; done
	} | timeout 300 psql -X -q -At -d "$DB" >"$B/$name.out" 2>"$B/$name.err"
}
wrong() { cat "$B"/"$1"*.out | grep -vxFf "$B/expected" | grep -c .; }
answered() { cat "$B"/"$1"*.out | grep -c .; }
# the copies first (a scan that finds none reads the pages while one is made)
t0=$(date +%s%N)
q -c "SET enable_seqscan = off" -f "$B/q1.sql" -f "$B/l2q1.sql" -f "$B/ipq1.sql" -f "$B/l1q1.sql" >/dev/null
echo "# the four copies of big (20,000 x 256) made in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
batches_before=$(stat batches)
for l in 1 2 3 4 5 6 7 8; do looper "a$l" 3 "relvec.batch_wait_us = 5000" & done
wait
check "8 backends scanning one copy, batched: all 192 answers equal the sequential scan's" \
	test "$(answered a):$(wrong a):$(cat "$B"/a*.err | grep -c .)" = "192:0:0"
check "... in batches of several queries (relvec_cache_stats)" \
	test "$(stat batches)" -gt "$batches_before" -a "$(stat largest_batch)" -ge 2
check "... several by lower bounds then exact rechecks (gemm_batches)" test "$(stat gemm_batches)" -gt 0
check "... counted on the index's copy too (relvec_cache)" \
	test "$(q -c "SELECT batches > 0 AND batched >= 2 * batches FROM relvec_cache WHERE index = 'big_cos'::regclass AND state = 'ready'")" = t
gemm_before=$(stat gemm_batches)
for set in l2 ip; do
	for l in 1 2 3 4 5 6 7 8; do QSET=$set looper "$set$l" 3 "relvec.batch_wait_us = 5000" & done
	wait
	check "$set: 8 backends, batched: all 192 answers equal the sequential scan's" \
		test "$(answered $set):$(wrong $set):$(cat "$B"/$set*.err | grep -c .)" = "192:0:0" ||
		{ echo "# answered:wrong:errors $(answered $set):$(wrong $set):$(cat "$B"/$set*.err | grep -c .)"; cat "$B"/$set*.out | grep -vxFf "$B/expected" | head -3 | sed 's/^/# /'; }
done
check "... some of them by lower bounds (gemm_batches $gemm_before -> $(stat gemm_batches))" test "$(stat gemm_batches)" -gt "$gemm_before"
# cones: scans of the cosine copy visit its groups of rows nearest first (random data here:
# few are skipped, but every path runs), alone and past their first 64 rows
cones_before=$(stat cone_scans)
for l in 1 2 3 4 5 6 7 8; do looper "cn$l" 3 "relvec.cone_scan = on" & done
for l in 1 2 3 4; do QSET=w looper "cw$l" 2 "relvec.cone_scan = on" & done
wait
check "relvec.cone_scan = on: 12 backends, cosine and LIMIT 150 / filtered scans: every answer equals the sequential scan's" \
	test "$(answered cn):$(wrong cn):$(answered cw):$(wrong cw):$(cat "$B"/cn*.err "$B"/cw*.err | grep -c .)" = "192:0:64:0:0"
check "... through the copy's cones (cone_scans $cones_before -> $(stat cone_scans), cone_rows $(stat cone_rows))" \
	test "$(stat cone_scans)" -gt "$cones_before"
# random rows: the cones skip nothing, and once 64 scans have bounded every row the copy's
# scans make full passes again (which batch)
c0=$(stat cone_scans)
q -c "SET enable_seqscan = off" -c "SET relvec.cone_scan = on" -f "$B/q1.sql" -f "$B/q2.sql" >/dev/null
check "... on rows without clusters, after 64 scans that bounded every row: full passes again (cone_scans stays $c0)" \
	test "$(stat cone_scans)" = "$c0"
# cones that skip: clustered rows (100 tight clusters of 120 rows, 32 dimensions), with
# duplicates (ties), a zero vector and NULLs; top-10s, scans far past the groups a top-10
# visits (LIMIT 700, a filter that rejects 16 rows in 17), each equal to the seq scan
q -c "SELECT setseed(0.5)" \
	-c "CREATE TABLE cen AS SELECT c, array_agg((random() - 0.5)::real ORDER BY j) v FROM generate_series(0, 99) c, generate_series(1, 32) j GROUP BY c" \
	-c "CREATE TABLE clu (id int, e embedding(32))" \
	-c "INSERT INTO clu SELECT i, (SELECT array_agg(cen.v[j] + ((random() - 0.5) * 0.08)::real ORDER BY j) FROM generate_series(1, 32) j)::embedding FROM generate_series(1, 12000) i JOIN cen ON cen.c = i % 100" \
	-c "INSERT INTO clu SELECT id + 100000, e FROM clu WHERE id % 400 = 0" \
	-c "INSERT INTO clu VALUES (200001, NULL), (200002, array_fill(0, ARRAY[32])::real[]::embedding), (200003, NULL)" \
	-c "CREATE INDEX clu_cos ON clu USING rvflat (e embedding_cosine_ops)" >/dev/null
cone_sql() {   # cone_sql K LIMIT [WHERE]: the ids of one scan near cluster 7K
	echo "SELECT string_agg(id::text, ',') FROM (SELECT id FROM clu ${3:-} ORDER BY e <=> (SELECT (SELECT array_agg(v[j] + 0.01 * sin(j * $1) ORDER BY j) FROM generate_series(1, 32) j)::embedding FROM cen WHERE c = 7 * $1) LIMIT $2) s"
}
cones_before=$(stat cone_scans); cone_rows_before=$(stat cone_rows); cone_bad=0; cone_n=0
for k in 1 2 3 4 5 6; do
	for lim in "10" "700" "10 WHERE id % 17 = 0"; do
		set -- $lim; l=$1; shift
		a=$(q -c "SET enable_seqscan = off" -c "$(cone_sql $k "$l" "$*")" | tail -n 1)
		b=$(q -c "SET enable_indexscan = off" -c "$(cone_sql $k "$l" "$*")" | tail -n 1)
		cone_n=$((cone_n + 1)); [ "$a" = "$b" ] && [ -n "$a" ] || cone_bad=$((cone_bad + 1))
	done
done
cone_scans=$(( $(stat cone_scans) - cones_before )); cone_rows=$(( $(stat cone_rows) - cone_rows_before ))
check "cones that skip (clustered, ties, a zero vector, NULLs): $cone_n scans, top-10s, LIMIT 700 and filtered, each equal to the seq scan" \
	test "$cone_bad:$cone_scans" = "0:$cone_n"
check "... a scan bounded $((cone_rows / (cone_scans > 0 ? cone_scans : 1))) rows of 12,032 on average (fewer than a fifth)" \
	test "$cone_rows" -lt $((cone_scans * 12032 / 5))
# a cancel while the first scan makes a copy (pages, codes, cones): the slot is released and
# the next scan makes the copy and answers right (shorter timeouts until one lands)
q -c "CREATE TABLE cb AS SELECT * FROM big" -c "CREATE INDEX cb_cos ON cb USING rvflat (e embedding_cosine_ops)" >/dev/null
sed 's/FROM big/FROM cb/' "$B/q3.sql" >"$B/cbq.sql"
build_canceled=0
for tmo in 80 40 20 10 5 2; do
	out=$(q -c "SET enable_seqscan = off" -c "SET statement_timeout = '${tmo}ms'" -f "$B/cbq.sql" 2>&1 || true)
	case "$out" in *"canceling statement due to statement timeout"*) build_canceled=1; break ;; esac
	# the copy was made in time: drop it (a new index state) and try a shorter timeout
	q -c "REINDEX INDEX cb_cos" >/dev/null
done
check "a cancel while the first scan makes a copy ($build_canceled): no slot left building, the next scan makes it and answers as the seq scan" \
	test "$build_canceled:$(q -c "SELECT count(*) FROM relvec_cache WHERE state = 'building'"):$(q -c "SET enable_seqscan = off" -f "$B/cbq.sql" | tail -n 1):$(q -c "SELECT count(*) FROM relvec_cache WHERE index = 'cb_cos'::regclass AND state = 'ready'")" = \
		"1:0:$(q -c "SET enable_indexscan = off" -f "$B/cbq.sql" | tail -n 1):1"
# bounds from the copy's int8 codes (on: plain C where the CPU has no VNNI) and from float32
# products (off): the same answers either way
for mode in on off; do
	for l in 1 2 3 4 5 6 7 8; do looper "i8$mode$l" 3 "relvec.batch_wait_us = 5000" "relvec.int8_bounds = $mode" & done
	wait
	check "relvec.int8_bounds = $mode: 8 backends, batched: all 192 answers equal the sequential scan's" \
		test "$(answered i8$mode):$(wrong i8$mode):$(cat "$B"/i8$mode*.err | grep -c .)" = "192:0:0"
done
gemm_before=$(stat gemm_batches)
for round in 1 2 3 4 5 6; do   # until some batch ran (scans must overlap: timing)
	for l in 1 2 3 4 5 6 7 8; do QSET=w looper "w$round-$l" 3 "relvec.batch_wait_us = 20000" & done
	wait
	[ "$(stat gemm_batches)" -gt "$gemm_before" ] && break
done
check "LIMIT 150, or a filter that rejects 12 rows in 13: 8 backends, batched, every answer right" \
	test "$(answered w):$(wrong w):$(cat "$B"/w*.err | grep -c .)" = "$((192 * round)):0:0" ||
	echo "# answered:wrong:errors $(answered w):$(wrong w):$(cat "$B"/w*.err | grep -c .)"
check "... by lower bounds, past the candidate list (gemm_batches $gemm_before -> $(stat gemm_batches))" test "$(stat gemm_batches)" -gt "$gemm_before"
# L1 has no inner-product form: its batches share one exact pass
batches_before=$(stat batches)
gemm_before=$(stat gemm_batches)
for l in 1 2 3 4 5 6 7 8; do QSET=l1 looper "l1$l" 3 "relvec.batch_wait_us = 5000" & done
wait
check "l1: 8 backends, batched exact passes: all 192 answers equal the sequential scan's" \
	test "$(answered l1):$(wrong l1):$(cat "$B"/l1*.err | grep -c .)" = "192:0:0" ||
	echo "# answered:wrong:errors $(answered l1):$(wrong l1):$(cat "$B"/l1*.err | grep -c .)"
check "... in batches ($batches_before -> $(stat batches)), none by lower bounds" \
	test "$(stat batches)" -gt "$batches_before" -a "$(stat gemm_batches)" = "$gemm_before"
batches_before=$(stat batches)
for l in 1 2 3 4; do looper "b$l" 2 "relvec.batch_size = 1" "relvec.batch_wait_us = 5000" & done
wait
check "relvec.batch_size = 1: no batch, answers right" \
	test "$(stat batches):$(answered b):$(wrong b)" = "$batches_before:64:0"

# statement_timeout while a batch waits: the canceled leave, the others answer right
timeouts=0
# (a shorter timeout each round: a fast machine may finish a batch within the first)
for round in 1 2 3 4 5; do
	tmo=$(echo "8 6 4 3 2" | cut -d' ' -f$round)
	for l in 1 2 3 4 5 6; do looper "c$round-$l" 2 "relvec.batch_wait_us = 100000" "statement_timeout = '${tmo}ms'" & done
	wait
	timeouts=$(cat "$B"/c*.err | grep -c "canceling statement due to statement timeout")
	[ "$timeouts" -gt 0 ] && break
done
check "statement_timeout during batched scans (their waits included): some canceled ($timeouts), no other error" \
	test "$timeouts" -gt 0 -a "$(cat "$B"/c*.err | grep -v "canceling statement due to statement timeout" | grep -c .)" = 0
check "... every answer given is right" test "$(wrong c)" = 0
check "... and every pin released" test "$(q -c "SELECT coalesce(sum(pins), 0) FROM relvec_cache")" = 0

# members terminated mid-batch: the others answer right, nobody hangs (400 rounds: the
# terminations below end every looper within a few polls, however fast its scans)
for l in 1 2 3 4 5 6; do looper "d$l" 400 "relvec.batch_wait_us = 20000" & done
killed=0
for i in $(seq 1 30); do
	killed=$((killed + $(q -c "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'looper' AND state = 'active' LIMIT 1) s")))
	sleep 0.1
done
wait
check "backends terminated inside batches ($killed): every answer the others gave is right" \
	test "$killed" -gt 0 -a "$(wrong d)" = 0 -a "$(answered d)" -gt 0
check "... no pin left, and the next scan answers right" \
	test "$(q -c "SELECT coalesce(sum(pins), 0) FROM relvec_cache")" = 0 -a "$(q -c "SET enable_seqscan = off" -f "$B/q3.sql" | tail -n 1)" = "$(grep '^3<=>' "$B/expected")"
# the device owner (relvec.device_owner = auto) found no GPU here: sessions under auto take its
# word and scan on the CPU without loading the Vulkan loader and drivers themselves
if [ "$(q -c "SELECT pid > 0 AND device IS NULL FROM relvec_device_owner")" = t ]; then
	check "the device owner runs without a GPU: an auto session's scans of a large index leave Vulkan unloaded" \
		eq "$(q -c "SET enable_seqscan = off" -f "$B/q3.sql" \
			-c "SELECT count(*) || ':' || (relvec_backend() NOT LIKE '%no GPU found%') FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\\n') l WHERE l ~ 'libvulkan|LLVM-15'" | tail -n 1)" "0:true"
else
	n=$((n + 1)); echo "ok $n - # SKIP the device owner has a GPU here (or does not run)"
fi
rm -rf "$B"
check "relvec_cache_stats: on, with its limit" test "$(q -c "SELECT enabled || ':' || limit_bytes FROM relvec_cache_stats")" = "true:1073741824"

# a streaming standby with relvec preloaded serves from copies of its own, and sees the
# primary's changes through them (the copy's key, relfilenode and change counter, is in WAL)
REPLICA_DIR=$(mktemp -d /tmp/relvec-standby.XXXXXX)
chmod 755 "$REPLICA_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$REPLICA_DIR"
trap 'rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$REPLICA_DIR/data" -m fast -w stop >/dev/null 2>&1; rm -rf "$REPLICA_DIR"; rv_cluster_stop' EXIT
rport=$(rv_free_port)
rq() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$REPLICA_DIR" -p "$rport" -d "$DB" "$@"; }
standby_ok=1
rv_as_owner "$(rv_pgbin)/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$REPLICA_DIR/data" -R -X stream --checkpoint=fast \
	>"$REPLICA_DIR/basebackup.log" 2>&1 || { standby_ok=0; sed 's/^/# /' "$REPLICA_DIR/basebackup.log"; }
[ $standby_ok = 1 ] && { rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$REPLICA_DIR/data" -l "$REPLICA_DIR/server.log" -w \
	-o "-p $rport -k $REPLICA_DIR -c listen_addresses=127.0.0.1 -c hot_standby=on -c shared_preload_libraries=relvec -c max_parallel_workers_per_gather=0" \
	start >/dev/null || { standby_ok=0; tail -n 5 "$REPLICA_DIR/server.log" | sed 's/^/# /'; }; }
caught_up() {   # the standby has replayed the primary's WAL up to now (the insert position:
	# with synchronous_commit = off, the write position can be behind a commit just made)
	local lsn c
	lsn=$(q -c "SELECT pg_current_wal_insert_lsn()")
	for _ in $(seq 1 100); do
		c=$(rq -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)
		[ "$c" = t ] && return 0
		sleep 0.2
	done
	return 1
}
standby_up() { [ $standby_ok = 1 ] && caught_up; }
check "a standby with relvec preloaded starts and catches up" standby_up
check "on the standby: every scan through its shared copies equals a sequential scan" test "$(rq -c "SELECT all_equal()")" = 0
check "... from copies of its own (4 ready, built there)" \
	eq "$(rq -c "SELECT count(*) FROM relvec_cache WHERE state = 'ready'"):$(rq -c "SELECT builds > 0 FROM relvec_cache_stats")" "4:t"
q -c "INSERT INTO t (e) VALUES ('[9,9,9,9,9,9]'), ('[9,9,9,9,9,9]')" -c "DELETE FROM t WHERE id % 5 = 0" >/dev/null
replayed=ok
caught_up || replayed="not replayed after 20 s"
check "the primary's insert and delete: the standby's next scans see them (index = seq scan)" \
	eq "$(rq -c "SELECT all_equal()"):$replayed" "0:ok" || rq -c "SELECT op, qv, length(knn(op, qv, 4100, true)), length(knn(op, qv, 4100, false))
		FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, (VALUES ('[1,1,1,1,1,1]'::embedding), ('[0,2,0,1,-1,2]'), ('[4,0,3,1,0,5]')) v(qv)
		WHERE knn(op, qv, 4100, true) IS DISTINCT FROM knn(op, qv, 4100, false)" -c "TABLE relvec_cache" | sed 's/^/# /'
nine() { "$@" -c "SET enable_seqscan = off" -c "SELECT string_agg(id || ':' || d, ',') FROM (SELECT id, e <-> '[9,9,9,9,9,9]' AS d FROM t ORDER BY e <-> '[9,9,9,9,9,9]' LIMIT 3) s"; }
check "... the standby's index answers as the primary's" eq "$(nine rq)" "$(nine q)"
crash=$(grep -E "terminated by signal|terminating any other active server processes" "$RV_CLUSTER_DIR/server.log")
check "no server process died during these tests" test -z "$crash" || echo "$crash" | sed 's/^/# /'
tap_done
