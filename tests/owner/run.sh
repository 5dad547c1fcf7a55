#!/usr/bin/env bash
# run.sh — the relvec device owner (extension/pg/deviceowner.c, extension/deviced/deviced.c)
# on a throwaway cluster of its own with relvec preloaded and relvec.device_owner =
# 'vulkan:0' (Mesa's lavapipe here: the shaders run on the CPU, through the real Vulkan
# loader and driver): one process opens the device and the backends do not; every rvflat
# scan it serves equals a sequential scan (every opclass, ties, NULLs); the first scan of an
# index's state uploads it once and a write replaces it; concurrent scans of one index are
# answered in batches; a backend that sets relvec.device = 'cpu' never asks it; cancels and
# statement_timeout while a backend waits; relvec-deviced killed with SIGKILL: the scans in
# flight and the next ones answer right on the CPU with a NOTICE, no server process
# restarts, the worker starts it again and scans go back to it; an index larger than its
# memory is scanned on the CPU without being sent; a server stop stops it;
# relvec.device_owner = 'off' starts none. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh
. scripts/lib/tap.sh
DB=relvec_owner
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
owner() { q -c "SELECT $1 FROM relvec_device_owner"; }

if ! vulkaninfo --summary 2>/dev/null | grep -q "deviceName" && ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
	echo "1..0 # SKIP no Vulkan device (mesa-vulkan-drivers: scripts/setup-debian.sh)"
	exit 0
fi

echo "1..27"
RV_PG_OPTS="-c shared_preload_libraries=relvec -c relvec.device_owner=vulkan:0 -c relvec.device_owner_batch_wait_us=20000 -c max_parallel_workers_per_gather=0" \
	rv_cluster_start >/dev/null || { echo "Bail out! cannot start a cluster with relvec preloaded"; exit 1; }
psql -q -X -d postgres -c "CREATE DATABASE $DB" || exit 1
q -c "CREATE EXTENSION relvec" -f tests/lib/knn.sql >/dev/null || { echo "Bail out! setup failed"; exit 1; }
q <<'SQL' || { echo "Bail out! setup failed"; exit 1; }
SELECT setseed(0.5);
-- values on a coarse grid (ties of distance) in the first 4,000 rows, random ones after; NULLs
CREATE TABLE t (id serial PRIMARY KEY, e embedding(16));
INSERT INTO t (e) SELECT CASE WHEN i % 97 = 0 THEN NULL WHEN i <= 4000 THEN
	(SELECT array_agg(((i * j) % 5)::real) FROM generate_series(1, 16) j)::embedding
	ELSE (SELECT array_agg(random()::real * 4 - 2) FROM generate_series(1, 16) j WHERE i > 0)::embedding END
	FROM generate_series(1, 30000) i;
CREATE INDEX t_l2 ON t USING rvflat (e embedding_l2_ops);
CREATE INDEX t_ip ON t USING rvflat (e embedding_ip_ops);
CREATE INDEX t_cos ON t USING rvflat (e embedding_cosine_ops);
CREATE INDEX t_l1 ON t USING rvflat (e embedding_l1_ops);
CREATE TABLE qs (qv embedding);
INSERT INTO qs VALUES ('[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]'), ('[0,2,0,1,-1,2,0,0,3,1,0,0,2,1,1,4]'),
	('[4,0,3,1,0,5,1,1,0,0,2,2,1,0,4,4]');
-- scans whose answer differs from a sequential scan's, over every operator and query
CREATE FUNCTION wrong(k int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, qs
	WHERE knn(op, qv, k, true) IS DISTINCT FROM knn(op, qv, k, false) $$;
SQL
# every scan in these sessions may go to a device (the owner's)
export PGOPTIONS="-c relvec.device=vulkan:0"

pid=$(owner pid)
check "relvec_device_owner: enabled, relvec-deviced running with lavapipe" \
	eq "$(owner "enabled || ':' || (pid > 0) || ':' || (device LIKE '%llvmpipe%')")" "true:true:true"
check "... a process that is not a server process (no shared memory of the server)" \
	eq "$(ps -o comm= -p "$pid" 2>/dev/null):$(grep -c "SYSV\|PostgreSQL" "/proc/$pid/maps" 2>/dev/null)" "relvec-deviced:0"
check "every opclass, three queries, k = 50: index (through the owner) = sequential scan" eq "$(q -c "SELECT wrong(50)")" 0
check "... and k past every row (NULLs last): index = sequential scan" eq "$(q -c "SELECT wrong(31000)")" 0
check "the owner answered them: 4 indexes uploaded once each, resident" \
	eq "$(owner "uploads || ':' || resident || ':' || (requests >= 24) || ':' || (resident_bytes >= 4 * 64 * (SELECT count(e) FROM t))")" "4:4:true:true"
bpid=$(q -c "SELECT pg_backend_pid()")
vk_maps() { grep -c "libvulkan_lvp\|libvulkan.so" "/proc/$1/maps" 2>/dev/null; }
check "the device is open in relvec-deviced and not in a backend that scanned through it" \
	eq "$(vk_maps "$pid" | sed 's/^[1-9][0-9]*$/open/'):$(q -c "SET enable_seqscan = off" \
		-c "SELECT count(*) FROM (SELECT id FROM t ORDER BY e <-> (SELECT qv FROM qs LIMIT 1) LIMIT 3) s" \
		-c "SELECT count(*) FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\\n') l WHERE l LIKE '%libvulkan%'" | tail -n 1)" "open:0"
q -c "SET relvec.device = cpu" -c "SELECT wrong(10)" >/dev/null
before=$(owner requests)
check "relvec.device = cpu: the scans do not ask the owner, and are right" \
	eq "$(q -c "SET relvec.device = cpu" -c "SELECT wrong(10)"):$(owner requests)" "0:$before"

# a write is seen by the next scan of every backend: the new state is uploaded, the old dropped
q -c "INSERT INTO t (e) VALUES ('[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]'), (NULL)" -c "DELETE FROM t WHERE id % 7 = 0" >/dev/null
check "an insert and a delete in another backend: index = sequential scan" eq "$(q -c "SELECT wrong(60)")" 0
check "... from new uploads that replaced the old (still 4 resident)" \
	eq "$(owner "uploads || ':' || resident")" "8:4"
q -c "VACUUM t" >/dev/null
check "after VACUUM: index = sequential scan" eq "$(q -c "SELECT wrong(60)")" 0

# concurrent writers and readers through the owner: each reader compares the index scan
# with a sequential scan in one snapshot; every write makes a new state, uploaded anew
writer() {
	for i in $(seq 1 12); do
		q -c "INSERT INTO t (e) SELECT (SELECT array_agg(random()::real * 4 - 2) FROM generate_series(1, 16) j WHERE g > 0)::embedding FROM generate_series(1, 20) g" \
		  -c "UPDATE t SET e = (SELECT array_agg(random()::real * 4 - 2) FROM generate_series(1, 16) j WHERE id > 0)::embedding WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 5)" \
		  -c "DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 10)" >/dev/null
		[ $((i % 4)) -eq 0 ] && q -c "VACUUM t" >/dev/null
	done
}
reader() {
	local bad=0 i r
	for i in $(seq 1 12); do
		r=$(psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
			-c "SELECT (knn('<->', qv, 40, true) = knn('<->', qv, 40, false))::int + (knn('<=>', qv, 40, true) = knn('<=>', qv, 40, false))::int FROM qs LIMIT 1" \
			-c "COMMIT" 2>&1 | grep -E '^[0-9]+$|ERROR' | head -n 3)
		[ "$r" = 2 ] || bad=$((bad + 1))
	done
	echo "$bad" >"$1"
}
uploads_before=$(owner uploads)
T=$(mktemp -d /tmp/relvec-owner-rw.XXXXXX)
writer & w=$!
reader "$T/r1" & r1=$!
reader "$T/r2" & r2=$!
wait $w $r1 $r2
check "concurrent INSERT/UPDATE/DELETE/VACUUM and two readers through the owner: every index scan equals the seq scan of its snapshot" \
	eq "$(cat "$T/r1"):$(cat "$T/r2")" "0:0"
check "... through new uploads of each state (uploads $uploads_before -> $(owner uploads))" test "$(owner uploads)" -gt "$uploads_before"
rm -rf "$T"

# concurrent scans: batched by the owner, every answer right
B=$(mktemp -d /tmp/relvec-owner.XXXXXX)
chmod 777 "$B"
q -At -c "SELECT knn('<=>', qv, 10, false) FROM qs" >"$B/expected"
looper() {   # looper NAME ROUNDS [SETTING...]: ROUNDS scans of the three queries, answers kept
	local name=$1 rounds=$2 opts=""
	shift 2
	for s in "$@"; do opts+=" -c $s"; done
	PGOPTIONS="$PGOPTIONS$opts" PGAPPNAME=looper psql -X -q -At -d "$DB" \
		-c "SELECT knn('<=>', qv, 10, true) FROM qs, generate_series(1, $rounds)" >"$B/$name.out" 2>"$B/$name.err"
}
wrong_answers() { cat "$B"/$1*.out | grep -cvxFf "$B/expected"; }
batches_before=$(owner batches)
for l in 1 2 3 4 5 6 7 8; do looper "a$l" 5 & done
wait
check "8 backends scanning at once: every answer right, no error" \
	eq "$(wrong_answers a):$(cat "$B"/a*.err | grep -c .):$(cat "$B"/a*.out | wc -l)" "0:0:120"
check "... some answered together in one device pass (batches $batches_before -> $(owner batches))" \
	test "$(owner "(batches > $batches_before) || ':' || (largest_batch >= 2)")" = "true:true"

# statement_timeout while backends wait for the owner
timeouts=0
for round in 1 2 3 4 5; do
	for l in 1 2 3 4; do looper "c$round-$l" 3 "statement_timeout=15ms" & done
	wait
	timeouts=$(cat "$B"/c*.err | grep -c "canceling statement due to statement timeout")
	[ "$timeouts" -gt 0 ] && break
done
others=$(cat "$B"/c*.err | grep -E "^(ERROR|FATAL|PANIC|WARNING|psql)" | grep -v "canceling statement due to statement timeout" | sort | uniq -c | head -5)
check "statement_timeout while scans wait for the owner: some canceled ($timeouts), no other error" \
	eq "$((timeouts > 0)):$others" "1:"
check "... every answer given is right" eq "$(wrong_answers c)" 0
check "... and a session canceled mid-wait scans right through the owner afterwards" \
	eq "$(psql -X -q -At -d "$DB" -c "SET statement_timeout = '1ms'" -c "SELECT knn('<->', qv, 10, true) FROM qs" \
		-c "RESET statement_timeout" -c "SELECT wrong(10)" 2>/dev/null | tail -n 1)" 0

# relvec-deviced killed with SIGKILL: a server process is not killed, the server goes on
starts=$(owner starts)
for l in 1 2 3 4; do looper "k$l" 15 & done
sleep 0.5
kill -9 "$pid"
wait
check "relvec-deviced killed (SIGKILL) during scans: every answer right, no error" \
	eq "$(wrong_answers k):$(cat "$B"/k*.err | grep -cE "^(ERROR|FATAL|PANIC|WARNING|psql)"):$(cat "$B"/k*.out | wc -l)" "0:0:180"
check "... the scans it cut short ran on the CPU with a NOTICE" \
	test "$(cat "$B"/k*.err | grep -c "NOTICE:  the relvec device owner did not answer, running the rvflat scan on the CPU instead")" -gt 0
newpid=""
for _ in $(seq 1 100); do
	newpid=$(owner pid)
	[ -n "$newpid" ] && [ "$newpid" != "$pid" ] && break
	sleep 0.2
done
check "... the worker started it again (a new PID, starts $starts -> $(owner starts))" \
	test -n "$newpid" -a "$newpid" != "$pid" -a "$(owner starts)" -gt "$starts"
check "... no server process was restarted (the postmaster saw no crash)" \
	eq "$(grep -c "terminating any other active server processes\|terminated by signal" "$RV_CLUSTER_DIR/server.log")" 0
check "... and scans go to the new owner again, right (uploads $(owner uploads) after a fresh start)" \
	eq "$(q -c "SELECT wrong(20)"):$(owner "(uploads >= 4 AND requests >= 24)::text")" "0:true"
rm -rf "$B"

# server stop stops relvec-deviced; an index larger than relvec.device_owner_mb is scanned on
# the CPU without being sent; relvec.device_owner = 'off' starts none
stop() { rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$RV_CLUSTER_DIR/data" -m fast -w stop >/dev/null; }
start() {   # start SETTING...: the server again, preloaded, with these settings
	local opts="" s
	for s in "$@"; do opts+=" -c $s"; done
	rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$RV_CLUSTER_DIR/data" -l "$RV_CLUSTER_DIR/server.log" -w \
		-o "-p $PGPORT -k $RV_CLUSTER_DIR -c listen_addresses=127.0.0.1 -c shared_preload_libraries=relvec$opts" \
		start >/dev/null
}
pid=$(owner pid)
stop
sleep 0.5
check "a server stop stops relvec-deviced" test ! -e "/proc/$pid"
start relvec.device_owner=vulkan:0 relvec.device_owner_mb=1
for _ in $(seq 1 50); do [ -n "$(owner pid)" ] && break; sleep 0.2; done
check "relvec.device_owner_mb = 1, indexes of about 2 MB: scans right on the CPU, nothing uploaded, no NOTICE" \
	eq "$(q -c "SELECT wrong(10)" 2>&1):$(owner "uploads || ':' || (requests > 0) || ':' || resident")" "0:0:true:0"
stop
start relvec.device_owner=off
check "relvec.device_owner = off: no owner, and scans are right on the CPU" \
	eq "$(owner "enabled || ':' || coalesce(pid::text, 'none')"):$(q -c "SELECT wrong(10)")" "false:none:0"
check "relvec.device_owner rejects a bad value" \
	eq "$(psql -X -q -d postgres -c "ALTER SYSTEM SET relvec.device_owner = 'vulkan:x'" 2>&1 | head -n 1)" \
	'ERROR:  invalid value for parameter "relvec.device_owner": "vulkan:x"'
crash=$(grep -E "terminated by signal|terminating any other active server processes" "$RV_CLUSTER_DIR/server.log")
check "no server process died during these tests" test -z "$crash" || echo "$crash" | sed 's/^/# /'
tap_done
