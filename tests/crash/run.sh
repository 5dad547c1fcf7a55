#!/usr/bin/env bash
# run.sh — rvflat and rvivf survive crash recovery and work on a streaming replica. Starts
# its own throwaway primary (scripts/lib/cluster.sh), builds the indexes, checkpoints,
# inserts, updates, deletes and vacuums (so those changes exist only in WAL; for rvivf also
# inserts that put new pages in front of its lists, a REINDEX and a new index whose pages
# exist only as log_newpage_range records), stops the server with `pg_ctl stop -m
# immediate`, restarts it (WAL replay) and checks index scans still equal a sequential
# scan; an unlogged table's rvivf index comes back empty (its init fork) and takes inserts
# (a TAP TODO for one made after the checkpoint: its init fork is not WAL-logged yet).
# Then it makes a replica with pg_basebackup -R on another port, changes the primary again
# (and REINDEXes) and checks the replica answers through its indexes exactly as the
# primary. Last, another session watches both access methods' builds in
# pg_stat_progress_create_index. rvivf is approximate: with relvec.ivf_probes = 16384 and
# relvec.ivf_rerank = 100000 (IVF_EXACT) it probes every list and reranks every candidate,
# so its answers must then equal the sorted sequential scan row for row; with the default
# knobs only the plan and the order of what comes back are checked. The throwaway clusters
# run with fsync=off: there is no OS crash here, only a server that stops without a
# checkpoint, so the replay of the WAL is what is tested. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh

. scripts/lib/tap.sh
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d relvec_crash "$@"; }

# rvivf probes every list and reranks every candidate (rvflat ignores these)
IVF_EXACT="SET relvec.ivf_probes = 16384; SET relvec.ivf_rerank = 100000;"
# "id:distance,..." of ORDER BY e <op> q LIMIT k through the index (index=1) or a seq scan
knn_sql() {   # knn_sql OP INDEX [TABLE]
	local op=$1 idx=$2 tbl=${3:-t} settings order
	if [ "$idx" = 1 ]; then
		settings="$IVF_EXACT SET enable_seqscan = off; SET enable_indexscan = on;"
		order="e $op (SELECT e FROM qv WHERE k = 1)"
	else
		settings="SET enable_seqscan = on; SET enable_indexscan = off;"
		order="e $op (SELECT e FROM qv WHERE k = 1), ctid"
	fi
	echo "$settings SELECT string_agg(id || ':' || coalesce(d::text, 'null'), ',') FROM
		(SELECT id, e $op (SELECT e FROM qv WHERE k = 1) AS d FROM $tbl WHERE id % 3 <> 1 ORDER BY $order LIMIT 40) s"
}
# the index is used, and its answer equals the seq scan's for every operator
same_as_seq_on() {   # same_as_seq_on TABLE "OPS" [psql args...]
	local tbl=$1 ops=$2 op a b plan
	shift 2
	for op in $ops; do
		plan=$(q "$@" -c "SET enable_seqscan = off" -c "EXPLAIN SELECT id FROM $tbl ORDER BY e $op '[1,2,3,4,5,6,7,8]' LIMIT 5")
		grep -q "Index Scan using" <<<"$plan" || { echo "# no index scan for $tbl $op"; return 1; }
		a=$(q "$@" -c "$(knn_sql "$op" 1 "$tbl")" | tail -n 1)
		b=$(q "$@" -c "$(knn_sql "$op" 0 "$tbl")" | tail -n 1)
		[ -n "$a" ] && [ "$a" = "$b" ] || { echo "# $tbl $op differs:"; diff <(tr , '\n' <<<"$a") <(tr , '\n' <<<"$b") | head -n 10 | sed 's/^/# /'; return 1; }
	done
}
FLAT_OPS='<-> <#> <=> <+>'
IVF_OPS='<-> <#> <=>'
same_as_seq() { same_as_seq_on t "$FLAT_OPS" "$@"; }
ivf_same_as_seq() { same_as_seq_on iv "$IVF_OPS" "$@"; }
answers() {   # the index answers of every operator, for comparing two servers
	local op
	for op in $FLAT_OPS; do q "$@" -c "$(knn_sql "$op" 1)" | tail -n 1; done
}
ivf_answers() {   # answers, of the rvivf indexes (every list probed)
	local op
	for op in $IVF_OPS; do q "$@" -c "$(knn_sql "$op" 1 iv)" | tail -n 1; done
}
# two answers are equal and complete: N lines of rows (so that two failing alike do not pass)
same_lines() {   # same_lines N GOT WANT
	[ "$(grep -c . <<<"$2")" = "$1" ] || { echo "# incomplete answers"; return 1; }
	eq "$2" "$3"
}
# every list probed, the index gives every non-NULL row of iv once, for every operator
ivf_all_rows() {   # ivf_all_rows [psql args...]
	local op got want
	want=$(q "$@" -c "SELECT count(*) || ':' || count(DISTINCT id) FROM iv WHERE e IS NOT NULL")
	for op in $IVF_OPS; do
		got=$(q "$@" -c "$IVF_EXACT SET enable_seqscan = off; SELECT count(*) || ':' || count(DISTINCT id) FROM
			(SELECT id FROM iv ORDER BY e $op (SELECT e FROM qv WHERE k = 1) LIMIT 1000000) s" | tail -n 1)
		eq "$got" "$want" || { echo "# $op: rows:distinct rows through the index"; return 1; }
	done
}
# with the default knobs the index is used and gives k = 10 rows in ascending distance
ivf_defaults() {   # ivf_defaults [psql args...]
	local op plan r
	for op in $IVF_OPS; do
		plan=$(q "$@" -c "SET enable_seqscan = off" -c "EXPLAIN SELECT id FROM iv ORDER BY e $op '[1,2,3,4,5,6,7,8]' LIMIT 10")
		grep -q "Index Scan using iv_" <<<"$plan" || { echo "# no rvivf index scan for $op"; return 1; }
		r=$(q "$@" -c "SET enable_seqscan = off" -c "SELECT cardinality(a) || ':' || (a = (SELECT array_agg(x ORDER BY x) FROM unnest(a) x))
			FROM (SELECT array_agg(d) AS a FROM (SELECT e $op '[1,2,3,4,5,6,7,8]' AS d FROM iv
			ORDER BY e $op '[1,2,3,4,5,6,7,8]' LIMIT 10) s) s2")
		eq "$r" "10:true" || { echo "# $op: k:ascending"; return 1; }
	done
}
# ul2 was made after the checkpoint, so only WAL can bring its index's init fork back: then
# the index is empty (two pages), takes 300 rows and gives them all back, as a seq scan does
ul2_works() {
	local out
	eq "$(q -c "SELECT count(*) || ':' || pg_relation_size('ul2_cos') / 8192 FROM ul2")" "0:2" || return 1
	out=$(q -q -c "INSERT INTO ul2 SELECT g, rnd(8, 1) FROM generate_series(1, 300) g" 2>&1) \
		|| { sed 's/^/# /' <<<"$out"; return 1; }
	same_as_seq_on ul2 '<=>' || return 1
	eq "$(q -c "$IVF_EXACT SET enable_seqscan = off" \
		-c "SELECT count(*) FROM (SELECT id FROM ul2 ORDER BY e <=> '[1,2,3,4,5,6,7,8]' LIMIT 1000) s")" 300
}
# after a VACUUM, each of iv's rvivf indexes counts as many items as iv has non-NULL rows
ivf_vacuumed() {   # ivf_vacuumed [psql args...]
	eq "$(q "$@" -c "SELECT string_agg(reltuples::bigint::text, ',' ORDER BY relname) FROM pg_class
		WHERE relname IN ('iv_l2', 'iv_ip', 'iv_cos')")" "$(q "$@" -c "SELECT repeat(count(e) || ',', 2) || count(e) FROM iv")"
}

echo "1..33"
RV_PG_OPTS="-c wal_level=replica -c max_wal_senders=4 -c checkpoint_timeout=1h" rv_cluster_start >/dev/null || exit 1
PRIMARY_DIR=$RV_CLUSTER_DIR
# a plain restart (and pg_basebackup's copy, which overrides them) keeps these settings
cat >>"$PRIMARY_DIR/data/postgresql.conf" <<CONF
port = $PGPORT
unix_socket_directories = '$PRIMARY_DIR'
listen_addresses = '127.0.0.1'
fsync = off
CONF
psql -q -X -d postgres -c "CREATE DATABASE relvec_crash" || exit 1
q -q <<'SQL' || exit 1
CREATE EXTENSION relvec;
CREATE FUNCTION rnd(d int, s float8) RETURNS embedding LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg(((random() * 2 - 1) * s)::real)::embedding FROM generate_series(1, d) $$;
CREATE TABLE qv (k int, e embedding(8));
INSERT INTO qv VALUES (1, '[0.1,-0.2,0.3,0.4,-0.5,0.6,0.7,-0.8]');
CREATE TABLE t (id serial, e embedding(8));
INSERT INTO t (e) SELECT rnd(8, g % 5 + 1) FROM generate_series(1, 3000) g;
INSERT INTO t (e) SELECT e FROM t WHERE id <= 100;
CREATE INDEX t_l2 ON t USING rvflat (e embedding_l2_ops);
CREATE INDEX t_ip ON t USING rvflat (e embedding_ip_ops);
CREATE INDEX t_cos ON t USING rvflat (e embedding_cosine_ops);
CREATE INDEX t_l1 ON t USING rvflat (e embedding_l1_ops);
-- rvivf: 20 lists of about 150 rows, one page each, so the inserts below add list pages
CREATE TABLE iv (id serial, e embedding(8));
INSERT INTO iv (e) SELECT rnd(8, g % 5 + 1) FROM generate_series(1, 3000) g;
INSERT INTO iv (e) SELECT e FROM iv WHERE id <= 100;
CREATE INDEX iv_l2 ON iv USING rvivf (e embedding_l2_ops) WITH (lists = 20);
CREATE INDEX iv_ip ON iv USING rvivf (e embedding_ip_ops) WITH (lists = 20);
CREATE INDEX iv_cos ON iv USING rvivf (e embedding_cosine_ops) WITH (lists = 20);
-- an unlogged table: its rvivf index has an init fork
CREATE UNLOGGED TABLE ul (id int, e embedding(8));
INSERT INTO ul SELECT g, rnd(8, 1) FROM generate_series(1, 500) g;
CREATE INDEX ul_l2 ON ul USING rvivf (e embedding_l2_ops) WITH (lists = 5);
SQL
check "index = seq scan after the build" same_as_seq
check "rvivf, every list probed: index = seq scan after the build" ivf_same_as_seq
check "rvivf, unlogged table: index = seq scan before the crash" same_as_seq_on ul '<->'

# changes after the last checkpoint exist only in WAL when the server stops
q -q -c "CHECKPOINT" || exit 1
ivf_pages=$(q -c "SELECT pg_relation_size('iv_l2') / 8192")
q -q <<'SQL' || exit 1
INSERT INTO t (e) SELECT rnd(8, 2) FROM generate_series(1, 2000) g;
INSERT INTO t (e) VALUES (NULL), (NULL);
UPDATE t SET e = e + e WHERE id % 7 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM t;
INSERT INTO t (e) SELECT e FROM t WHERE id BETWEEN 200 AND 260;
-- rvivf: the inserts fill the lists' pages and put new ones in front (generic WAL: deltas,
-- and full images of the new pages); VACUUM removes items; the insert after the VACUUM
-- takes TIDs it freed, so an item whose removal were lost would show as a row twice
INSERT INTO iv (e) SELECT rnd(8, 2) FROM generate_series(1, 3000) g;
INSERT INTO iv (e) VALUES (NULL), (NULL);
UPDATE iv SET e = e + e WHERE id % 7 = 0;
DELETE FROM iv WHERE id % 5 = 0;
VACUUM iv;
SQL
check "rvivf: VACUUM took the deleted rows' items out (reltuples = live rows)" ivf_vacuumed
q -q <<'SQL' || exit 1
-- the last changes before the stop: their commits flush the WAL (the cluster commits
-- asynchronously), so none of them can be lost
SET synchronous_commit = on;
-- built after the checkpoint (no checkpoint wrote its pages: the replay has them from
-- log_newpage_range), then changed by generic WAL on top of them
REINDEX INDEX iv_cos;
INSERT INTO iv (e) SELECT e FROM iv WHERE id BETWEEN 200 AND 260;
-- built after the checkpoint and not changed since: only log_newpage_range restores it
CREATE TABLE late AS SELECT id, e FROM iv WHERE id <= 1500;
CREATE INDEX late_ip ON late USING rvivf (e embedding_ip_ops) WITH (lists = 8);
INSERT INTO ul SELECT g, rnd(8, 1) FROM generate_series(501, 700) g;
-- an unlogged table made after the checkpoint: only the WAL has its index's init fork
CREATE UNLOGGED TABLE ul2 (id int, e embedding(8));
CREATE INDEX ul2_cos ON ul2 USING rvivf (e embedding_cosine_ops);
INSERT INTO ul2 SELECT g, rnd(8, 1) FROM generate_series(1, 200) g;
CREATE UNLOGGED TABLE ul3 (id int, e embedding(8));
CREATE INDEX ul3_l2 ON ul3 USING rvflat (e embedding_l2_ops);
INSERT INTO ul3 SELECT g, rnd(8, 1) FROM generate_series(1, 200) g;
SQL
check "rvivf: the inserts after the checkpoint added list pages" \
	test "$(q -c "SELECT pg_relation_size('iv_l2') / 8192")" -gt "$ivf_pages"
before=$(answers)
ivf_before=$(ivf_answers)
late_before=$(q -c "$(knn_sql '<#>' 1 late)" | tail -n 1)
rows_before=$(q -c "SELECT count(*) FROM t")
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$PRIMARY_DIR/data" -m immediate -w stop >/dev/null || exit 1
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$PRIMARY_DIR/data" -l "$PRIMARY_DIR/server.log" -w start >/dev/null || exit 1
check "the server replayed WAL after an immediate stop" grep -q "redo done" "$PRIMARY_DIR/server.log"
check "the rows are back" test "$(q -c "SELECT count(*) FROM t")" = "$rows_before"
check "index = seq scan after crash recovery" same_as_seq
check "the index answers as before the crash" test "$(answers)" = "$before"
check "rvivf, every list probed: index = seq scan after crash recovery" ivf_same_as_seq
check "rvivf: the index answers as before the crash" same_lines 3 "$(ivf_answers)" "$ivf_before"
check "rvivf: every non-NULL row once through each index after crash recovery" ivf_all_rows
check "rvivf, default knobs: the index is used and gives 10 rows in ascending distance" ivf_defaults
check "rvivf: an index built after the checkpoint = seq scan after crash recovery" same_as_seq_on late '<#>'
check "rvivf: ... and answers as before the crash" \
	same_lines 1 "$(q -c "$(knn_sql '<#>' 1 late)" | tail -n 1)" "$late_before"
# an unlogged table comes back empty, its index as its init fork (metapage, directory)
check "rvivf, unlogged table: empty after the crash, its index two pages (the init fork)" \
	eq "$(q -c "SELECT count(*) || ':' || pg_relation_size('ul_l2') / 8192 FROM ul")" "0:2"
q -q -c "INSERT INTO ul SELECT g, rnd(8, 1) FROM generate_series(1, 300) g" || exit 1
check "rvivf, unlogged table: rows inserted after the crash are found (index = seq scan)" same_as_seq_on ul '<->'
check "rvivf, unlogged table: ... all 300 of them (every list probed)" eq "$(q -c "$IVF_EXACT SET enable_seqscan = off" \
	-c "SELECT count(*) FROM (SELECT id FROM ul ORDER BY e <-> '[1,2,3,4,5,6,7,8]' LIMIT 1000) s")" 300
check "rvivf, unlogged table made after the checkpoint: its index's init fork survives and takes inserts" ul2_works
# (before the init forks were WAL-logged, this INSERT waited on its own buffer lock for ever)
ul3_works() {
	local out
	out=$(timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -d relvec_crash \
		-c "INSERT INTO ul3 SELECT g, rnd(8, 1) FROM generate_series(1, 300) g" 2>&1) \
		|| { sed 's/^/# /' <<<"$out"; return 1; }
	eq "$(q -c "SET enable_seqscan = off" \
		-c "SELECT count(*) FROM (SELECT id FROM ul3 ORDER BY e <-> '[1,2,3,4,5,6,7,8]' LIMIT 1000) s")" 300
}
check "rvflat, unlogged table made after the checkpoint: its index takes inserts after the crash" ul3_works

# a streaming replica
REPLICA_DIR=$(mktemp -d /tmp/relvec-replica.XXXXXX)
chmod 755 "$REPLICA_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$REPLICA_DIR"
stop_replica() {
	rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$REPLICA_DIR/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$REPLICA_DIR"
	rv_cluster_stop
}
trap stop_replica EXIT
rport=$(rv_free_port) || exit 1
rv_as_owner "$(rv_pgbin)/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$REPLICA_DIR/data" -R -X stream \
	>"$REPLICA_DIR/basebackup.log" 2>&1 || { cat "$REPLICA_DIR/basebackup.log"; exit 1; }
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$REPLICA_DIR/data" -l "$REPLICA_DIR/server.log" -w \
	-o "-p $rport -k $REPLICA_DIR -c listen_addresses=127.0.0.1 -c hot_standby=on" start >/dev/null \
	|| { cat "$REPLICA_DIR/server.log"; exit 1; }
# changes that reach the replica only by streaming
ivf_pages=$(q -c "SELECT pg_relation_size('iv_l2') / 8192")
q -q <<'SQL' || exit 1
INSERT INTO t (e) SELECT rnd(8, 1) FROM generate_series(1, 1000) g;
DELETE FROM t WHERE id % 11 = 0;
VACUUM t;
-- spaces in the type: a column bound to a space, with its own rvflat index
SELECT relvec_create_space('rep8', 8);
SELECT relvec_create_space('other8', 8);
CREATE TABLE tagged (id serial, e embedding(rep8));
INSERT INTO tagged (e) SELECT rnd(8, 1) FROM generate_series(1, 300) g;
CREATE INDEX ON tagged USING rvflat (e embedding_l2_ops);
-- rvivf: new list pages, VACUUM, a REINDEX (a new relfilenode, log_newpage_range), inserts
INSERT INTO iv (e) SELECT rnd(8, 1) FROM generate_series(1, 3000) g;
DELETE FROM iv WHERE id % 11 = 0;
VACUUM iv;
REINDEX INDEX iv_ip;
INSERT INTO iv (e) SELECT e FROM iv WHERE id BETWEEN 300 AND 340;
SQL
# the insert position: a commit with synchronous_commit = off can be past the write position
lsn=$(q -c "SELECT pg_current_wal_insert_lsn()")
for _ in $(seq 1 100); do
	caught=$(psql -X -At -h "$REPLICA_DIR" -p "$rport" -d relvec_crash -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)
	[ "$caught" = t ] && break
	sleep 0.2
done
check "the replica caught up with the primary" test "$caught" = t
check "on the replica: the index is used and equals a seq scan" same_as_seq -h "$REPLICA_DIR" -p "$rport"
check "the replica answers through its index exactly as the primary" \
	test "$(answers -h "$REPLICA_DIR" -p "$rport")" = "$(answers)"
check "rvivf: the streamed inserts added list pages" \
	test "$(q -c "SELECT pg_relation_size('iv_l2') / 8192")" -gt "$ivf_pages"
check "rvivf, on the replica, every list probed: the index is used and equals a seq scan" \
	ivf_same_as_seq -h "$REPLICA_DIR" -p "$rport"
check "rvivf: the replica answers through its indexes exactly as the primary" \
	same_lines 3 "$(ivf_answers -h "$REPLICA_DIR" -p "$rport")" "$(ivf_answers)"
check "rvivf, on the replica: every non-NULL row once through each index" ivf_all_rows -h "$REPLICA_DIR" -p "$rport"
check "rvivf, on the replica, default knobs: the index is used, 10 rows in ascending distance" \
	ivf_defaults -h "$REPLICA_DIR" -p "$rport"
TAGS="SELECT count(*) || ':' || string_agg(DISTINCT relvec_space_of(e), ',') FROM tagged"
check "on the replica: the values carry their space" test "$(psql -X -At -h "$REPLICA_DIR" -p "$rport" -d relvec_crash -c "$TAGS")" = "300:rep8"
check "on the replica: the index refuses a query of another space" bash -c \
	"psql -X -h '$REPLICA_DIR' -p '$rport' -d relvec_crash -c \"SET enable_seqscan = off; SELECT id FROM tagged ORDER BY e <-> relvec_tag(array_fill(1, ARRAY[8])::real[]::embedding, 'other8') LIMIT 3\" 2>&1 | grep -q 'embeddings of different spaces \"rep8\" and \"other8\"'"

# build progress: an expression index whose expression sleeps 2 ms a row, so that another
# session sees the build in pg_stat_progress_create_index while it loads the tuples
q -c "CREATE FUNCTION slow_id(x embedding) RETURNS embedding LANGUAGE plpgsql IMMUTABLE AS
	\$\$ BEGIN PERFORM pg_sleep(0.002); RETURN x; END \$\$" \
	-c "CREATE TABLE prog AS SELECT g AS id, ('[' || g || ',1,2]')::embedding AS e FROM generate_series(1, 1500) g" \
	-c "ANALYZE prog"
q -c "CREATE INDEX prog_idx ON prog USING rvflat (slow_id(e) embedding_l2_ops)" &
build=$!
seen=""
for _ in $(seq 1 200); do
	s=$(q -c "SELECT phase || '|' || tuples_done || '|' || tuples_total FROM pg_stat_progress_create_index
		WHERE relid = 'prog'::regclass AND tuples_done > 0")
	[ -n "$s" ] && seen=$s
	kill -0 "$build" 2>/dev/null || break
	sleep 0.05
done
wait "$build"
build_rc=$?
echo "# last progress row seen: ${seen:-none}"
check "pg_stat_progress_create_index shows the build loading tuples (tuples_done of tuples_total = 1500)" \
	bash -c "[ $build_rc -eq 0 ] && [[ '$seen' == 'building index: loading tuples|'*'|1500' ]] && [ \$(cut -d'|' -f2 <<<'$seen') -le 1500 ]"

# rvivf's build reads the rows twice (sampling, then loading), so both of those phases last
# about 1500 x 2 ms and another session sees each. Training between them (k-means over a
# 1500-row sample of 3 dimensions) takes milliseconds: not reliably observable, so it is
# only reported here (as a comment line) when seen, not checked. tuples_done moves per
# batch of 1024 rows: 0, then 1024, then 1500 at the end of loading.
q -c "CREATE INDEX prog_ivf ON prog USING rvivf (slow_id(e) embedding_l2_ops) WITH (lists = 10)" &
build=$!
phases=""
for _ in $(seq 1 400); do
	s=$(q -c "SELECT phase || '|' || tuples_done || '|' || tuples_total FROM pg_stat_progress_create_index
		WHERE relid = 'prog'::regclass")
	[ -n "$s" ] && [ "$s" != "${phases##*$'\n'}" ] && phases+=$'\n'$s
	kill -0 "$build" 2>/dev/null || break
	sleep 0.05
done
wait "$build"
build_rc=$?
sed 's/^/# rvivf progress seen: /' <<<"${phases#$'\n'}"
# the distinct phases in the order seen
order=$(sed -n 's/^building index: \([a-z ]*\)|.*/\1/p' <<<"$phases" | uniq | paste -sd, -)
check "rvivf: pg_stat_progress_create_index shows the build sampling rows, then loading tuples" \
	bash -c "[ $build_rc -eq 0 ] && [[ '$order' =~ ^(initializing,)?sampling\ rows,(training\ centroids,)?loading\ tuples$ ]]"
check "rvivf: ... loading with tuples_total = 1500, and tuples_done of it moving (1024 of 1500 seen)" \
	grep -qx 'building index: loading tuples|1024|1500' <<<"$phases"
[ "$failed" -eq 0 ]
