-- 057_rvivf: the approximate kNN index access method. Recall floors on real data (Fashion-
-- MNIST 9,000 x 64 with 100 held-out queries, fastText words 2,000 x 100), with a margin
-- below what the defaults reach; returned rows in the exact order of their exact distances;
-- every list probed and every candidate reranked = a sequential scan, row for row; filtered
-- LIMITs full; INSERT, UPDATE, DELETE, VACUUM, REINDEX, CREATE INDEX CONCURRENTLY, unlogged
-- tables, expression indexes; empty and tiny tables; 1 and 16,000 dimensions; an index
-- trained on lavapipe answers as one trained on the CPU; and every error a user can cause.
-- VACUUM and CREATE INDEX CONCURRENTLY cannot run in a transaction block: this file works
-- in its own schema, dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS rvivf_test CASCADE;
CREATE SCHEMA rvivf_test;
SET search_path = rvivf_test, public;
RESET client_min_messages;
SELECT plan(45);
SELECT setseed(0.25);

CREATE FUNCTION rnd(d int) RETURNS embedding LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg((random() * 2 - 1)::real)::embedding FROM generate_series(1, d) $$;

-- Whether the plan of sql (with $1 = q) scans an rvivf index.
CREATE FUNCTION uses_index(sql text, q embedding) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN ' || sql USING q LOOP
		IF line ~ 'Index Scan using' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END $$;

-- "id:distance,..." of ORDER BY expr <op> q LIMIT k over rows passing filter, through the
-- index (an error if the plan does not use it) or a sorted sequential scan (ties by ctid).
CREATE FUNCTION knn(tbl text, op text, q embedding, k int, via_index bool,
	filter text DEFAULT 'true', expr text DEFAULT 'e') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	sql text;
	result text;
BEGIN
	PERFORM set_config('enable_seqscan', (NOT via_index)::text, true);
	PERFORM set_config('enable_indexscan', via_index::text, true);
	PERFORM set_config('enable_bitmapscan', 'false', true);
	sql := format('SELECT id, %s %s $1 AS d FROM %I WHERE %s ORDER BY %s %s $1 %s LIMIT %s',
		expr, op, tbl, filter, expr, op, CASE WHEN via_index THEN '' ELSE ', ctid' END, k);
	IF via_index AND NOT uses_index(sql, q) THEN
		RAISE EXCEPTION 'no index scan for %', sql;
	END IF;
	EXECUTE format('SELECT string_agg(id || '':'' || d, '','') FROM (%s) s', sql) INTO result USING q;
	PERFORM set_config('enable_seqscan', 'true', true);
	PERFORM set_config('enable_indexscan', 'true', true);
	PERFORM set_config('enable_bitmapscan', 'true', true);
	RETURN coalesce(result, '');
END $$;

-- The ids of a knn() result, and whether its distances never decrease.
CREATE FUNCTION ids(r text) RETURNS int[] LANGUAGE sql IMMUTABLE AS
	$$ SELECT coalesce(array_agg(split_part(x, ':', 1)::int ORDER BY n), '{}')
	   FROM regexp_split_to_table(nullif(r, ''), ',') WITH ORDINALITY t(x, n) $$;
CREATE FUNCTION ascending(r text) RETURNS bool LANGUAGE sql IMMUTABLE AS
	$$ SELECT coalesce(bool_and(d >= prev), true) FROM (
	     SELECT split_part(x, ':', 2)::float8 AS d,
	            lag(split_part(x, ':', 2)::float8) OVER (ORDER BY n) AS prev
	     FROM regexp_split_to_table(nullif(r, ''), ',') WITH ORDINALITY t(x, n)) s $$;

-- Mean recall@k of the index against the sequential scan over the queries of qsql; also
-- counts the index's results whose distances are not ascending (into bad_order).
CREATE TABLE bad_order (n int);
CREATE FUNCTION recall(tbl text, op text, qsql text, k int, filter text DEFAULT 'true')
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	q embedding;
	a text;
	hit int := 0;
	total int := 0;
BEGIN
	FOR q IN EXECUTE qsql LOOP
		a := knn(tbl, op, q, k, true, filter);
		IF NOT ascending(a) THEN
			INSERT INTO bad_order VALUES (1);
		END IF;
		hit := hit + (SELECT count(*) FROM unnest(ids(a)) x
			WHERE x = ANY (ids(knn(tbl, op, q, k, false, filter))));
		total := total + k;
	END LOOP;
	RETURN hit::float8 / total;
END $$;

-- How many queries of qsql give a different "id:distance" list through the index than
-- through the sequential scan.
CREATE FUNCTION mismatches(tbl text, op text, qsql text, k int, filter text DEFAULT 'true',
	expr text DEFAULT 'e') RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	q embedding;
	n int := 0;
BEGIN
	FOR q IN EXECUTE qsql LOOP
		IF knn(tbl, op, q, k, true, filter, expr) IS DISTINCT FROM knn(tbl, op, q, k, false, filter, expr) THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END $$;

-- Fashion-MNIST: 9,000 rows indexed, 100 held-out queries
CREATE TABLE fm (id int, e embedding(64));
INSERT INTO fm SELECT idx, a FROM fixtures.fm10k WHERE idx % 10 <> 0;
CREATE TABLE fmq AS SELECT idx AS id, a AS e FROM fixtures.fm10k WHERE idx % 10 = 0 ORDER BY idx LIMIT 100;
CREATE TABLE w (id int, e embedding(100));
INSERT INTO w SELECT idx, ft FROM fixtures.words WHERE idx % 20 <> 0;
CREATE TABLE wq AS SELECT idx AS id, ft AS e FROM fixtures.words WHERE idx % 20 = 0;

SELECT is((SELECT array_agg(opcname::text ORDER BY opcname) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
	WHERE amname = 'rvivf'), ARRAY['embedding_cosine_ops', 'embedding_ip_ops', 'embedding_l1_ops', 'embedding_l2_ops'],
	'rvivf has the four opclasses');
SELECT ok(bool_and(amvalidate(c.oid)), 'its opclasses validate')
	FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE amname = 'rvivf';
SELECT throws_ok($$CREATE INDEX ON fm USING rvivf (e embedding_l1_ops)$$, '0A000',
	'rvivf does not support the L1 distance <+>', 'an L1 index is refused');
SELECT throws_ok($$CREATE INDEX ON fm USING rvivf (e embedding_l2_ops) WITH (lists = -1)$$, '22023', NULL,
	'a negative lists is refused');
SELECT throws_ok($$CREATE INDEX ON fm USING rvivf (e embedding_l2_ops) WITH (lists = 16385)$$, '22023', NULL,
	'lists above 16384 is refused');
SELECT throws_ok($$CREATE INDEX ON fm USING rvivf (e embedding_l2_ops) WITH (probes = 3)$$, '22023', NULL,
	'an unknown storage parameter is refused');

CREATE INDEX fm_l2 ON fm USING rvivf (e embedding_l2_ops);
CREATE INDEX fm_ip ON fm USING rvivf (e embedding_ip_ops);
CREATE INDEX fm_cos ON fm USING rvivf (e embedding_cosine_ops);
CREATE INDEX w_cos ON w USING rvivf (e embedding_cosine_ops);
CREATE INDEX w_l2 ON w USING rvivf (e embedding_l2_ops) WITH (lists = 20);
ANALYZE fm, w;

SELECT cmp_ok(pg_relation_size('fm_l2'), '<', pg_relation_size('fm') / 2,
	'the index is smaller than half the table (codes, not vectors)');

-- recall with the defaults, and the order of what comes back
SELECT cmp_ok(recall('fm', op, 'SELECT e FROM fmq', 10), '>=', 0.9::float8,
		'fmnist, ' || op || ': recall@10 >= 0.9 with the defaults')
	FROM unnest(ARRAY['<->', '<#>', '<=>']) op;
SELECT cmp_ok(recall('w', op, 'SELECT e FROM wq', 10), '>=', 0.9::float8,
		'words, ' || op || ': recall@10 >= 0.9 with the defaults')
	FROM unnest(ARRAY['<->', '<=>']) op;
SELECT is((SELECT count(*)::int FROM bad_order), 0, 'every result came in ascending exact distance');

-- probing every list and reranking every candidate is exact: index = sequential scan
SET relvec.ivf_probes = 16384;
SET relvec.ivf_rerank = 100000;
SELECT is(mismatches('fm', op, 'SELECT e FROM fmq LIMIT 20', 10), 0,
		'fmnist, ' || op || ', every list probed: rows, order and distances = seq scan')
	FROM unnest(ARRAY['<->', '<#>', '<=>']) op;
RESET relvec.ivf_probes;
RESET relvec.ivf_rerank;
SET relvec.ivf_probes = 1;
SELECT cmp_ok(recall('fm', '<->', 'SELECT e FROM fmq LIMIT 30', 10), '<', 1::float8,
	'relvec.ivf_probes = 1 probes fewer lists: recall below 1');
SELECT cmp_ok(recall('fm', '<->', 'SELECT e FROM fmq LIMIT 30', 10), '>=', 0.3::float8,
	'... and still finds most neighbours (recall@10 >= 0.3)');
RESET relvec.ivf_probes;

-- a filtered LIMIT stays full: the scan probes more lists until enough rows pass
SELECT is((SELECT count(*)::int FROM (SELECT unnest(ids(knn('fm', '<->', (SELECT e FROM fmq LIMIT 1), 10, true, 'id % 97 = 0')))) s),
	10, 'WHERE id % 97 = 0 LIMIT 10: ten rows');
SELECT ok(ascending(knn('fm', '<->', (SELECT e FROM fmq LIMIT 1), 10, true, 'id % 97 = 0')),
	'... in ascending distance');
SELECT cmp_ok(recall('fm', '<=>', 'SELECT e FROM fmq LIMIT 20', 10, 'id % 3 = 0'), '>=', 0.85::float8,
	'WHERE id % 3 = 0: recall@10 >= 0.85');

-- changes: INSERT and UPDATE are found, DELETE and VACUUM take rows out
INSERT INTO fm SELECT 100000 + id, e + '[0.001,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'
	FROM fmq WHERE id IN (0, 10, 20);
SELECT is(ids(knn('fm', '<->', (SELECT e FROM fmq WHERE id = 10), 1, true)), ARRAY[100010],
	'an inserted row is found first');
UPDATE fm SET e = (SELECT e FROM fmq WHERE id = 30) WHERE id = 1;
SELECT is(ids(knn('fm', '<->', (SELECT e FROM fmq WHERE id = 30), 1, true)), ARRAY[1],
	'an updated row is found at its new place');
DELETE FROM fm WHERE id >= 100000 OR id % 7 = 0;
VACUUM fm;
SELECT is((SELECT count(*)::int FROM unnest(ids(knn('fm', '<->', (SELECT e FROM fmq WHERE id = 10), 50, true))) x
	WHERE x >= 100000 OR x % 7 = 0), 0, 'deleted rows are gone after VACUUM');
SELECT is((SELECT reltuples::bigint FROM pg_class WHERE relname = 'fm_l2'), (SELECT count(*) FROM fm),
	'VACUUM counts the live items');
SELECT cmp_ok(recall('fm', '<->', 'SELECT e FROM fmq LIMIT 30', 10), '>=', 0.9::float8,
	'recall@10 >= 0.9 after the changes');
REINDEX INDEX fm_l2;
SELECT cmp_ok(recall('fm', '<->', 'SELECT e FROM fmq LIMIT 30', 10), '>=', 0.9::float8,
	'recall@10 >= 0.9 after REINDEX');
DROP INDEX fm_l2;
CREATE INDEX CONCURRENTLY fm_l2 ON fm USING rvivf (e embedding_l2_ops) WITH (lists = 50);
SELECT cmp_ok(recall('fm', '<->', 'SELECT e FROM fmq LIMIT 30', 10), '>=', 0.9::float8,
	'CREATE INDEX CONCURRENTLY: recall@10 >= 0.9');

-- an expression index
CREATE TABLE ex AS SELECT id, e FROM fm WHERE id < 3000;
CREATE INDEX ON ex USING rvivf ((e + e) embedding_l2_ops);
SET relvec.ivf_probes = 16384;
SET relvec.ivf_rerank = 100000;
SELECT is(mismatches('ex', '<->', 'SELECT e FROM fmq LIMIT 5', 10, 'true', '(e + e)'), 0,
	'an index on (e + e): rows and distances = seq scan');
RESET relvec.ivf_probes;
RESET relvec.ivf_rerank;

-- empty, tiny, NULLs, unlogged, 1 and 16,000 dimensions
CREATE TABLE em (id int, e embedding);
CREATE INDEX em_i ON em USING rvivf (e embedding_cosine_ops);
SELECT is(knn('em', '<=>', '[1,2,3]', 5, true), '', 'an empty index returns nothing');
INSERT INTO em SELECT i, rnd(3) FROM generate_series(1, 300) i;
INSERT INTO em VALUES (0, NULL);
SET relvec.ivf_rerank = 100000;
SELECT is(mismatches('em', '<=>', 'SELECT rnd(3) FROM generate_series(1, 5)', 20), 0,
	'built empty, then 300 inserts: one list, every row reranked = seq scan');
SELECT is((SELECT count(*)::int FROM (SELECT unnest(ids(knn('em', '<=>', '[1,2,3]', 1000, true)))) s), 300,
	'NULL values are not indexed: 300 of 301 rows');
RESET relvec.ivf_rerank;
SELECT throws_ok($$INSERT INTO em VALUES (1, '[1,2]')$$, '22000', 'different embedding dimensions 3 and 2',
	'an insert of other dimensions is refused');
SELECT throws_ok($$SELECT knn('em', '<=>', '[1,2]', 5, true)$$, '22000', 'different embedding dimensions 3 and 2',
	'a query of other dimensions is refused');
-- a NULL parameter (a constant NULL folds the ORDER BY away before any index is chosen)
CREATE FUNCTION null_query_rows() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	q embedding := NULL;
	n int;
BEGIN
	SELECT count(*) INTO n FROM (SELECT id FROM em ORDER BY e <=> q LIMIT 500) s;
	RETURN n;
END $$;
SET plan_cache_mode = force_generic_plan;
SET enable_seqscan = off;
SELECT is(null_query_rows(), 300, 'ORDER BY e <=> NULL parameter: every indexed row, with a NULL distance');
RESET enable_seqscan;
RESET plan_cache_mode;

CREATE TABLE tiny (id int, e embedding(2));
INSERT INTO tiny VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]');
CREATE INDEX ON tiny USING rvivf (e embedding_l2_ops) WITH (lists = 100);
SELECT is(ids(knn('tiny', '<->', '[0.9,0.1]', 10, true)), ARRAY[1, 3, 2], 'three rows, 100 lists asked: all three rows in order');

CREATE UNLOGGED TABLE ul (id int, e embedding(8));
CREATE INDEX ON ul USING rvivf (e embedding_ip_ops);
INSERT INTO ul SELECT i, rnd(8) FROM generate_series(1, 200) i;
SET relvec.ivf_rerank = 100000;
SELECT is(mismatches('ul', '<#>', 'SELECT rnd(8) FROM generate_series(1, 3)', 10), 0,
	'an unlogged table: index = seq scan');

CREATE TABLE d1 (id int, e embedding(1));
INSERT INTO d1 SELECT i, ARRAY[(random() * 100)::real]::embedding FROM generate_series(1, 500) i;
CREATE INDEX ON d1 USING rvivf (e embedding_l2_ops);
SELECT is(mismatches('d1', '<->', 'SELECT rnd(1) FROM generate_series(1, 5)', 10), 0,
	'1 dimension: index = seq scan');

CREATE TABLE big (id int, e embedding(16000));
INSERT INTO big SELECT i, rnd(16000) FROM generate_series(1, 60) i;
CREATE INDEX ON big USING rvivf (e embedding_cosine_ops);
SELECT is(mismatches('big', '<=>', 'SELECT e FROM big WHERE id IN (5, 50)', 5), 0,
	'16,000 dimensions: index = seq scan');
RESET relvec.ivf_rerank;

-- trained on lavapipe (k-means through the Vulkan top-k): the same answers as on the CPU
CREATE TABLE vk AS SELECT id, e FROM fm WHERE id < 4000;
CREATE INDEX vk_cpu ON vk USING rvivf (e embedding_l2_ops) WITH (lists = 16);
CREATE TABLE vk_ans AS SELECT q.id, knn('vk', '<->', q.e, 10, true) AS a FROM fmq q WHERE q.id < 300;
DROP INDEX vk_cpu;
SET relvec.device = 'vulkan:0';
CREATE INDEX vk_gpu ON vk USING rvivf (e embedding_l2_ops) WITH (lists = 16);
RESET relvec.device;
SELECT is((SELECT count(*)::int FROM vk_ans a JOIN fmq q USING (id) WHERE knn('vk', '<->', q.e, 10, true) IS DISTINCT FROM a.a), 0,
	'an index trained on lavapipe answers as one trained on the CPU');

-- built with one thread and with two (max_parallel_maintenance_workers): the same index
CREATE TABLE th AS SELECT * FROM fm;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX th_one ON th USING rvivf (e embedding_cosine_ops) WITH (lists = 60);
CREATE TABLE th_ans AS SELECT q.id, knn('th', '<=>', q.e, 10, true) AS a FROM fmq q;
CREATE TABLE th_size AS SELECT pg_relation_size('th_one') AS s;
DROP INDEX th_one;
SET max_parallel_maintenance_workers = 2;
CREATE INDEX th_two ON th USING rvivf (e embedding_cosine_ops) WITH (lists = 60);
RESET max_parallel_maintenance_workers;
SELECT is((SELECT count(*)::int FROM th_ans a JOIN fmq q USING (id) WHERE knn('th', '<=>', q.e, 10, true) IS DISTINCT FROM a.a)
	+ (SELECT count(*)::int FROM th_size WHERE s <> pg_relation_size('th_two')), 0,
	'an index built on two threads answers as one built on one, and has its size');
DROP TABLE th;

-- spaces: a query tagged with another space than the rows' is refused
SELECT relvec_create_space('ivf_a', 2);
SELECT relvec_create_space('ivf_b', 2);
CREATE TABLE sp (id int, e embedding(ivf_a));
INSERT INTO sp SELECT i, ARRAY[random(), random()]::real[]::embedding FROM generate_series(1, 50) i;
CREATE INDEX ON sp USING rvivf (e embedding_l2_ops);
SET enable_seqscan = off;
SELECT throws_ok($$SELECT id FROM sp ORDER BY e <-> relvec_tag('[0.5,0.5]', 'ivf_b') LIMIT 3$$, '42804', NULL,
	'a query of another space is refused');
SELECT is((SELECT count(*)::int FROM (SELECT id FROM sp ORDER BY e <-> relvec_tag('[0.5,0.5]', 'ivf_a') LIMIT 3) s), 3,
	'a query of the rows'' space is answered');
RESET enable_seqscan;

-- a translated query (relvec_translate into the rows' model) uses the index like any other
SELECT relvec_create_space('ivf_ma', 64);
SELECT relvec_create_space('ivf_mb', 64);
SELECT relvec_create_anchor_set('ivf_fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('ivf_fm300', 'ivf_ma', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('ivf_fm300', 'ivf_mb', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('ivf_fm300');
SELECT relvec_fit_translation('ivf_fm300', 'ivf_mb', 'ivf_ma');
CREATE FUNCTION translated_ids(qb embedding, via_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
	PERFORM set_config('enable_seqscan', (NOT via_index)::text, true);
	PERFORM set_config('enable_indexscan', via_index::text, true);
	SELECT array_agg(id) INTO r FROM (SELECT id FROM fm
		ORDER BY e <-> relvec_translate(qb, 'ivf_fm300', 'ivf_mb', 'ivf_ma') LIMIT 10) s;
	PERFORM set_config('enable_seqscan', 'true', true);
	PERFORM set_config('enable_indexscan', 'true', true);
	RETURN r;
END $$;
CREATE INDEX fm_l2_again ON fm USING rvivf (e embedding_l2_ops);
SELECT ok(uses_index($$SELECT id FROM fm ORDER BY e <-> relvec_translate($1, 'ivf_fm300', 'ivf_mb', 'ivf_ma') LIMIT 10$$,
	(SELECT b FROM fixtures.fmnist LIMIT 1)), 'ORDER BY e <-> relvec_translate(...) is an rvivf index scan');
SET relvec.ivf_probes = 16384;
SET relvec.ivf_rerank = 100000;
SELECT is((SELECT count(*)::int FROM fixtures.fmnist WHERE idx % 97 = 0
	AND translated_ids(b, true) IS DISTINCT FROM translated_ids(b, false)), 0,
	'translated queries, every list probed: index = seq scan');
RESET relvec.ivf_probes;
RESET relvec.ivf_rerank;

SELECT * FROM finish();
SET client_min_messages = warning;
DROP SCHEMA rvivf_test CASCADE;
SELECT relvec_drop_space('ivf_a');
SELECT relvec_drop_space('ivf_b');
SELECT relvec_drop_anchor_set('ivf_fm300', true);
SELECT relvec_drop_space('ivf_ma', true);
SELECT relvec_drop_space('ivf_mb', true);
