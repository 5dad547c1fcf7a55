#!/usr/bin/env bash
# run.sh — ORDER BY e <op> q LIMIT k on a sharded table: one coordinator and two shard
# clusters on loopback (tests/shard/lib.sh), a table hash-partitioned by id into postgres_fdw
# foreign tables on the shards, each shard with rvflat indexes, and the same rows in one
# local table with the same indexes on the coordinator. For every operator the pushed-down
# plan (RelvecShardScan) must return the rows, order and distances of the one-server table;
# the shards must send k rows each, without the vector unless the statement selects it; a
# stopped shard, a shard's error, statement_timeout and a transaction's own writes behave as
# on one server or fail naming the shard. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/cluster.sh
. scripts/lib/tap.sh
. tests/shard/lib.sh

echo "1..44"
shard_clusters_start 2 || exit 1
for i in 1 2; do
	sq "$i" <<'SQL' || exit 1
CREATE TABLE items_s (id int PRIMARY KEY, label text, e embedding(16));
CREATE INDEX ON items_s USING rvflat (e embedding_l2_ops);
CREATE INDEX ON items_s USING rvflat (e embedding_ip_ops);
CREATE INDEX ON items_s USING rvflat (e embedding_cosine_ops);
CREATE INDEX ON items_s USING rvflat (e embedding_l1_ops);
SQL
done
sq 0 <<'SQL' || exit 1
CREATE TABLE items (id int, label text, e embedding(16)) PARTITION BY HASH (id);
CREATE FOREIGN TABLE items_p0 PARTITION OF items FOR VALUES WITH (modulus 2, remainder 0)
	SERVER shard1 OPTIONS (table_name 'items_s');
CREATE FOREIGN TABLE items_p1 PARTITION OF items FOR VALUES WITH (modulus 2, remainder 1)
	SERVER shard2 OPTIONS (table_name 'items_s');
CREATE TABLE one (id int PRIMARY KEY, label text, e embedding(16));
SELECT setseed(0.25);
INSERT INTO one SELECT g, 'item ' || g,
	(SELECT array_agg((random() * 2 - 1 + (g % 7) * 0.1 + d * 0)::real) FROM generate_series(1, 16) d)::embedding
	FROM generate_series(1, 3000) g;
INSERT INTO one VALUES (3001, 'no vector', NULL);
INSERT INTO items SELECT * FROM one;
CREATE INDEX ON one USING rvflat (e embedding_l2_ops);
CREATE INDEX ON one USING rvflat (e embedding_ip_ops);
CREATE INDEX ON one USING rvflat (e embedding_cosine_ops);
CREATE INDEX ON one USING rvflat (e embedding_l1_ops);
CREATE TABLE qv (k int, e embedding(16));
INSERT INTO qv SELECT 1, e FROM one WHERE id = 17;
ANALYZE one;
SQL
Q="'[0.3,-0.1,0.5,0.2,0.9,-0.4,0.1,0.0,0.7,-0.2,0.3,0.6,-0.5,0.2,0.1,0.4]'"

# the answer of a statement as one line: "id:distance,..."
ans() { sq 0 -c "SELECT string_agg(id || ':' || coalesce(d::text, 'null'), ',' ORDER BY n) FROM ($1) s"; }
# the same statement on the sharded table and on the one-server table must answer alike
same() {   # same SELECT-with-TABLE-placeholder
	local a b
	a=$(ans "$(sed 's/TABLE/items/g' <<<"$1")") || return 1
	b=$(ans "$(sed 's/TABLE/one/g' <<<"$1")") || return 1
	[ -n "$b" ] && [ "$a" = "$b" ] || { echo "# sharded: ${a:0:300}"; echo "# one:     ${b:0:300}"; return 1; }
}
plan() { sq 0 -c "EXPLAIN (VERBOSE, COSTS OFF) $1"; }
pushed() { plan "$1" | grep -q "Custom Scan (RelvecShardScan)"; }

for op in '<->' '<#>' '<=>' '<+>'; do
	check "$op: top 10 of the sharded table = one server (rows, order, distances)" \
		same "SELECT id, e $op $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e $op $Q LIMIT 10) x"
	check "$op: the plan is pushed down" pushed "SELECT id, e $op $Q AS d FROM items ORDER BY e $op $Q LIMIT 10"
done
# the pushed-down statement itself (not under a window function) with its own distance column
direct() { sq 0 -c "SELECT string_agg(id || ':' || d, ',') FROM (SELECT id, e <-> $Q AS d FROM $1 ORDER BY e <-> $Q LIMIT 25) s"; }
check "the distance column comes from the shards and equals one server's" eq "$(direct items)" "$(direct one)"
check "OFFSET: rows 6..13 equal one server's" \
	same "SELECT id, e <+> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e <+> $Q LIMIT 8 OFFSET 5) x"
check "the query operand on the left (q <=> e) is pushed down and equal" \
	same "SELECT id, $Q <=> e AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY $Q <=> e LIMIT 10) x"
check "a query vector from a subquery (an initplan)" \
	same "SELECT id, e <-> (SELECT e FROM qv) AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e <-> (SELECT e FROM qv) LIMIT 10) x"
check "LIMIT larger than the table: every row, NULL vector last, as on one server" \
	same "SELECT id, e <-> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e <-> $Q LIMIT 5000) x"
vector_only_when_selected() {
	plan "SELECT id, e <=> $Q FROM items ORDER BY e <=> $Q LIMIT 3" | grep -q 'Remote SQL on shard1: (SELECT id, (e OPERATOR' &&
	plan "SELECT id, e FROM items ORDER BY e <=> $Q LIMIT 3" | grep -q 'Remote SQL on shard1: (SELECT id, e, (e OPERATOR'
}
check "the pushed-down plan reads the vector only when the statement selects it" vector_only_when_selected
rows_from() { sq 0 -c "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) $1" | sed -n 's/.*Rows From Shards: //p'; }
check "each shard sends k rows, not its partition (10 + 10 for LIMIT 10)" \
	eq "$(rows_from "SELECT id FROM items ORDER BY e <-> $Q LIMIT 10")" 20
shard_index_scan() {
	sq 1 -c "EXPLAIN SELECT id, (e OPERATOR(public.<->) $Q::public.embedding) FROM public.items_s ORDER BY (e OPERATOR(public.<->) $Q::public.embedding) LIMIT 10" | grep -q 'Index Scan using'
}
check "each shard runs its own rvflat index scan" shard_index_scan
prep=$(sq 0 -c "PREPARE p(embedding, int) AS SELECT id FROM items ORDER BY e <=> \$1 LIMIT \$2" \
	-c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY e <=> $Q LIMIT 4) s" \
	-c "EXECUTE p($Q, 4)" -c "EXECUTE p($Q, 4)" -c "EXECUTE p($Q, 4)" -c "EXECUTE p($Q, 4)" -c "EXECUTE p($Q, 4)" -c "EXECUTE p($Q, 4)" \
	-c "EXPLAIN (COSTS OFF) EXECUTE p($Q, 4)")
prepared_ok() {
	grep -q RelvecShardScan <<<"$prep" &&
		eq "$(sed -n '2,25p' <<<"$prep" | paste -sd,)" "$(for _ in 1 2 3 4 5 6; do sed -n 1p <<<"$prep"; done | paste -sd,)"
}
check "a prepared statement with the query and k as parameters (generic plan too)" prepared_ok
check "LIMIT ALL and LIMIT NULL: every row, as on one server" \
	same "SELECT id, e <=> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e <=> $Q LIMIT NULL) x"

# WHERE clauses the shards can evaluate go with the top-k; others keep PostgreSQL's plan
cmp_where() {   # cmp_where WHERE-CLAUSE: pushed down and the answer of one server
	pushed "SELECT id FROM items WHERE $1 ORDER BY e <-> $Q LIMIT 10" &&
		same "SELECT id, e <-> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE WHERE $1 ORDER BY e <-> $Q LIMIT 10) x"
}
check "WHERE label <> 'item 9' AND id % 3 = 1: pushed down, equal" cmp_where "label <> 'item 9' AND id % 3 = 1"
check "WHERE id = ANY (array) OR label IS NULL (fewer rows than k): pushed down, equal" \
	cmp_where "(id = ANY ('{5,17,99,1234,2999}'::int[]) OR label IS NULL)"
check "WHERE with relvec's own operator (e <-> q < 3.2): pushed down, equal" cmp_where "e <-> $Q < 3.2 AND NOT (id BETWEEN 100 AND 200)"
where_sql() { plan "SELECT id FROM items WHERE label <> 'item 9' AND id % 3 = 1 ORDER BY e <-> $Q LIMIT 10" | grep -cF "WHERE (label OPERATOR(pg_catalog.<>) 'item 9'::pg_catalog.text) AND ((id OPERATOR(pg_catalog.%) '3'::integer) OPERATOR(pg_catalog.=) '1'::integer) ORDER BY"; }
check "the remote SQL carries the WHERE clause, operators qualified" eq "$(where_sql)" 2
wprep=$(sq 0 -c "SET plan_cache_mode = force_generic_plan" -c "PREPARE w(embedding, int, text) AS SELECT id FROM items WHERE id > \$2 AND label <> \$3 ORDER BY e <-> \$1 LIMIT 5" \
	-c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM one WHERE id > 1500 AND label <> 'item 1710' ORDER BY e <-> $Q LIMIT 5) s" \
	-c "EXECUTE w($Q, 1500, 'item 1710')" -c "EXPLAIN (VERBOSE, COSTS OFF) EXECUTE w($Q, 1500, 'item 1710')")
wprep_ok() {
	grep -qF 'WHERE (id OPERATOR(pg_catalog.>) $3::integer) AND (label OPERATOR(pg_catalog.<>) $4::pg_catalog.text) ORDER BY' <<<"$wprep" &&
		eq "$(sed -n '2,6p' <<<"$wprep" | paste -sd,)" "$(sed -n 1p <<<"$wprep")"
}
check "a prepared WHERE with parameters (generic plan): sent as \$3, \$4, equal" wprep_ok
pruned() {
	local p
	p=$(plan "SELECT id FROM items WHERE id = 17 ORDER BY e <-> $Q LIMIT 10")
	grep -q RelvecShardScan <<<"$p" && [ "$(grep -c 'Remote SQL on' <<<"$p")" = 1 ] &&
		same "SELECT id, e <-> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE WHERE id = 17 ORDER BY e <-> $Q LIMIT 10) x"
}
check "WHERE id = 17: partition pruning leaves one shard to ask, equal" pruned
not_pushed() { ! plan "$1" | grep -q RelvecShardScan; }
check "a volatile WHERE (random()) keeps PostgreSQL's plan" not_pushed "SELECT id FROM items WHERE random() < 2 ORDER BY e <-> $Q LIMIT 3"
check "a WHERE under another collation keeps PostgreSQL's plan" not_pushed "SELECT id FROM items WHERE label COLLATE \"C\" > 'item 5' ORDER BY e <-> $Q LIMIT 3"
sq 0 -c "CREATE FUNCTION mine(i int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN i > 10; END'" >/dev/null
check "a WHERE with a function of the coordinator's own keeps PostgreSQL's plan" not_pushed "SELECT id FROM items WHERE mine(id) ORDER BY e <-> $Q LIMIT 3"
check "... and answers as one server" \
	same "SELECT id, e <-> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE WHERE mine(id) ORDER BY e <-> $Q LIMIT 10) x"
# a partitioned table with one local partition: PostgreSQL's plan, the same answer
sq 0 <<'SQL' >/dev/null
CREATE TABLE mixed (id int, label text, e embedding(16)) PARTITION BY RANGE (id);
CREATE TABLE mixed_local PARTITION OF mixed FOR VALUES FROM (MINVALUE) TO (1000);
CREATE FOREIGN TABLE mixed_remote PARTITION OF mixed FOR VALUES FROM (1000) TO (MAXVALUE)
	SERVER shard1 OPTIONS (table_name 'items_s');
INSERT INTO mixed_local SELECT * FROM one WHERE id < 1000;
SQL
mixed_same() {
	local a b
	a=$(sq 0 -c "SELECT string_agg(id || ':' || d, ',') FROM (SELECT id, e <-> $Q AS d FROM mixed ORDER BY e <-> $Q LIMIT 10) s")
	b=$(sq 0 -c "SELECT string_agg(id || ':' || d, ',') FROM (SELECT id, e <-> $Q AS d FROM (SELECT * FROM one WHERE id < 1000 UNION ALL SELECT * FROM items_p0) u ORDER BY e <-> $Q LIMIT 10) s")
	not_pushed "SELECT id FROM mixed ORDER BY e <-> $Q LIMIT 3" && eq "$a" "$b"
}
check "a local partition among foreign ones: PostgreSQL's plan, the same answer" mixed_same
off_plan() { sq 0 -c "SET relvec.shard_pushdown = off" -c "EXPLAIN SELECT id FROM items ORDER BY e <-> $Q LIMIT 3"; }
check "relvec.shard_pushdown = off keeps PostgreSQL's plan (Merge Append)" bash -c '! grep -q RelvecShardScan <<<"$1" && grep -q "Merge Append" <<<"$1"' _ "$(off_plan)"
check "ORDER BY ... DESC is not pushed down" not_pushed "SELECT id FROM items ORDER BY e <-> $Q DESC LIMIT 3"

# a transaction sees its own writes through the shards, as postgres_fdw's scans do
tx=$(sq 0 -c "BEGIN" -c "INSERT INTO items VALUES (5000, 'new', $Q)" \
	-c "SELECT id || ':' || (e <-> $Q) FROM items ORDER BY e <-> $Q LIMIT 1" -c "ROLLBACK")
check "an uncommitted insert of the same transaction is seen (distance 0)" eq "$tx" "5000:0"
check "... and is gone after ROLLBACK" test "$(sq 0 -c "SELECT id FROM items ORDER BY e <-> $Q LIMIT 1")" != 5000

# a query tagged with a space (relvec_tag, or what relvec_translate returns) travels as
# name#id: text, resolved by name on a shard whose ids differ (shard 1 made another space first)
sq 1 -c "SELECT relvec_create_space('elsewhere', 3)" -c "SELECT relvec_create_space('sp16', 16)" >/dev/null
sq 2 -c "SELECT relvec_create_space('sp16', 16)" >/dev/null
sq 0 -c "SELECT relvec_create_space('sp16', 16)" >/dev/null
tagged() {
	plan "SELECT id FROM items ORDER BY e <-> relvec_tag($Q, 'sp16') LIMIT 10" | grep -q RelvecShardScan &&
		same "SELECT id, e <-> relvec_tag($Q, 'sp16') AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e <-> relvec_tag($Q, 'sp16') LIMIT 10) x"
}
check "a query tagged with a space: pushed down, resolved by name on the shards, equal" tagged

# values cross as text in one fixed form, whatever the session prints (postgres_fdw's modes)
modes() { sq 0 -c "SET extra_float_digits = -14" -c "SET datestyle = 'SQL, DMY'" -c "SET intervalstyle = 'sql_standard'" \
	-c "SELECT string_agg(id || ':' || d, ',') FROM (SELECT id, e <-> $Q AS d FROM $1 WHERE e <-> $Q < 1.75 ORDER BY e <-> $Q LIMIT 40) s"; }
check "extra_float_digits = -14, DateStyle SQL, DMY: a shipped 1.75 stays 1.75 (answers as one server)" eq "$(modes items)" "$(modes one)"
# through a view: the view owner's user mapping, as postgres_fdw's own scans use it (the
# PUBLIC mapping has no password, which postgres_fdw refuses to a non-superuser)
sq 0 -c "CREATE ROLE alice" -c "CREATE VIEW v AS SELECT * FROM items" -c "GRANT SELECT ON v TO alice" >/dev/null
viewq() { sq 0 -c "SET ROLE alice" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM $1 ORDER BY e <-> $Q LIMIT 5) s"; }
view_ok() {
	sq 0 -c "SET ROLE alice" -c "EXPLAIN SELECT id FROM v ORDER BY e <-> $Q LIMIT 5" | grep -q RelvecShardScan &&
		eq "$(viewq v)" "$(sq 0 -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM one ORDER BY e <-> $Q LIMIT 5) s")"
}
check "read through a view by another role: pushed down with the view owner's user mapping" view_ok

# errors
err() { sq 0 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null; }
has() { grep -q -- "$2" <<<"$1" || { echo "# no '$2' in: ${1:0:400}"; return 1; }; }
e=$(err "SELECT id FROM items ORDER BY e <-> '[1,2,3]' LIMIT 3")
check "a shard's error keeps its SQLSTATE and names the shard" has "$e" 'ERROR:  22000: shard "shard[12]": different embedding dimensions'
e=$(err "SELECT id FROM items ORDER BY e <-> $Q LIMIT -1")
check "a negative LIMIT is 2201W, as PostgreSQL's" has "$e" 'ERROR:  2201W: LIMIT must not be negative'
# a shard that is busy: statement_timeout ends the coordinator's statement and the shard's.
# A session on shard 1 holds its table locked for 60 s; the 1 s timeout must end the
# coordinator's statement long before that (15 s leaves room for a loaded machine).
psql -X -q -h "${SHARD_DIR[1]}" -p "${SHARD_PORT[1]}" -U postgres -d relvec_shard \
	-c "BEGIN" -c "LOCK items_s IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(60)" -c "COMMIT" >/dev/null 2>&1 &
locker=$!
for _ in $(seq 1 100); do
	[ "$(sq 1 -c "SELECT count(*) FROM pg_locks WHERE relation = 'items_s'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
	sleep 0.1
done
t0=$SECONDS
e=$(sq 0 -v VERBOSITY=verbose -c "SET statement_timeout = '1s'" -c "SELECT id FROM items ORDER BY e <-> $Q LIMIT 3" 2>&1 >/dev/null)
took=$((SECONDS - t0))
check "statement_timeout ends a statement waiting on a shard (57014)" has "$e" 'ERROR:  57014'
check "... in about its time ($took s for 1 s, the shard locked for 60 s)" test "$took" -le 15
waiting=1
for _ in $(seq 1 50); do
	waiting=$(sq 1 -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '(SELECT id%items_s%' AND state = 'active'")
	[ "$waiting" = 0 ] && break
	sleep 0.1
done
check "... and the shard's statement was cancelled too" eq "$waiting" 0
sq 1 -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker"
check "the coordinator answers again after the timeout" \
	same "SELECT id, e <-> $Q AS d, row_number() OVER () AS n FROM (SELECT * FROM TABLE ORDER BY e <-> $Q LIMIT 10) x"
# a stopped shard: an error naming it, never a partial answer
rv_as_owner "$(rv_pgbin)/pg_ctl" -D "${SHARD_DIR[2]}/data" -m fast -w stop >/dev/null
e=$(err "SELECT id FROM items ORDER BY e <-> $Q LIMIT 3")
check "a stopped shard is an error naming its server, not a partial answer (08001)" has "$e" 'ERROR:  08001: could not connect to server "shard2"'
tap_done
