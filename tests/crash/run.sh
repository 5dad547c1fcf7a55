#!/usr/bin/env bash
# run.sh — rvflat survives crash recovery and works on a streaming replica. Starts its own
# throwaway primary (scripts/lib/cluster.sh), builds an index, checkpoints, inserts,
# updates, deletes and vacuums (so those changes exist only in WAL), stops the server with
# `pg_ctl stop -m immediate`, restarts it (WAL replay) and checks index scans still equal a
# sequential scan; then makes a replica with pg_basebackup -R on another port, changes the
# primary again and checks the replica answers through its index exactly as the primary.
# The throwaway clusters run with fsync=off: there is no OS crash here, only a server
# that stops without a checkpoint, so the replay of the WAL is what is tested. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh

. scripts/lib/tap.sh
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d relvec_crash "$@"; }

# "id:distance,..." of ORDER BY e <op> q LIMIT k through the index (index=1) or a seq scan
knn_sql() {   # knn_sql OP INDEX
	local op=$1 idx=$2 settings order
	if [ "$idx" = 1 ]; then
		settings="SET enable_seqscan = off; SET enable_indexscan = on;"
		order="e $op (SELECT e FROM qv WHERE k = 1)"
	else
		settings="SET enable_seqscan = on; SET enable_indexscan = off;"
		order="e $op (SELECT e FROM qv WHERE k = 1), ctid"
	fi
	echo "$settings SELECT string_agg(id || ':' || coalesce(d::text, 'null'), ',') FROM
		(SELECT id, e $op (SELECT e FROM qv WHERE k = 1) AS d FROM t WHERE id % 3 <> 1 ORDER BY $order LIMIT 40) s"
}
# the index is used, and its answer equals the seq scan's for every operator
same_as_seq() {   # same_as_seq [psql args...]
	local op a b plan
	for op in '<->' '<#>' '<=>' '<+>'; do
		plan=$(q "$@" -c "SET enable_seqscan = off" -c "EXPLAIN SELECT id FROM t ORDER BY e $op '[1,2,3,4,5,6,7,8]' LIMIT 5")
		grep -q "Index Scan using" <<<"$plan" || { echo "# no index scan for $op"; return 1; }
		a=$(q "$@" -c "$(knn_sql "$op" 1)" | tail -n 1)
		b=$(q "$@" -c "$(knn_sql "$op" 0)" | tail -n 1)
		[ -n "$a" ] && [ "$a" = "$b" ] || { echo "# $op differs:"; diff <(tr , '\n' <<<"$a") <(tr , '\n' <<<"$b") | head -n 10 | sed 's/^/# /'; return 1; }
	done
}
answers() {   # the index answers of every operator, for comparing two servers
	local op
	for op in '<->' '<#>' '<=>' '<+>'; do q "$@" -c "$(knn_sql "$op" 1)" | tail -n 1; done
}

echo "1..11"
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
SQL
check "index = seq scan after the build" same_as_seq

# changes after the last checkpoint exist only in WAL when the server stops
q -q -c "CHECKPOINT" || exit 1
q -q <<'SQL' || exit 1
INSERT INTO t (e) SELECT rnd(8, 2) FROM generate_series(1, 2000) g;
INSERT INTO t (e) VALUES (NULL), (NULL);
UPDATE t SET e = e + e WHERE id % 7 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM t;
INSERT INTO t (e) SELECT e FROM t WHERE id BETWEEN 200 AND 260;
SQL
before=$(answers)
rows_before=$(q -c "SELECT count(*) FROM t")
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$PRIMARY_DIR/data" -m immediate -w stop >/dev/null || exit 1
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$PRIMARY_DIR/data" -l "$PRIMARY_DIR/server.log" -w start >/dev/null || exit 1
check "the server replayed WAL after an immediate stop" grep -q "redo done" "$PRIMARY_DIR/server.log"
check "the rows are back" test "$(q -c "SELECT count(*) FROM t")" = "$rows_before"
check "index = seq scan after crash recovery" same_as_seq
check "the index answers as before the crash" test "$(answers)" = "$before"

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
SQL
lsn=$(q -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
	caught=$(psql -X -At -h "$REPLICA_DIR" -p "$rport" -d relvec_crash -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)
	[ "$caught" = t ] && break
	sleep 0.2
done
check "the replica caught up with the primary" test "$caught" = t
check "on the replica: the index is used and equals a seq scan" same_as_seq -h "$REPLICA_DIR" -p "$rport"
check "the replica answers through its index exactly as the primary" \
	test "$(answers -h "$REPLICA_DIR" -p "$rport")" = "$(answers)"
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
[ "$failed" -eq 0 ]
