-- 050_rvflat: the exact kNN index access method. Index scans return the same rows, in the
-- same order, with the same distances as a sequential scan sorted by (distance, ctid), for
-- every opclass, on random data with ties and NULLs and on real clustered data
-- (fixtures.fmnist, fixtures.words), before and after INSERT, UPDATE, DELETE and VACUUM.
-- VACUUM and CREATE INDEX CONCURRENTLY cannot run inside a transaction block, so this file
-- works in its own schema, dropped at the end, instead of rolling back.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS rvflat_test CASCADE;
CREATE SCHEMA rvflat_test;
SET search_path = rvflat_test, public;
RESET client_min_messages;
SELECT plan(44);
SELECT setseed(0.5);

-- A random embedding of d dimensions in [-1, 1).
CREATE FUNCTION rnd(d int) RETURNS embedding LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg((random() * 2 - 1)::real)::embedding FROM generate_series(1, d) $$;

-- Whether the plan of sql (with $1 = q) names an Index Scan.
CREATE FUNCTION uses_index(sql text, q embedding DEFAULT NULL) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN ' || sql USING q LOOP
		IF line ~ 'Index Scan using' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END $$;

-- "id:distance,..." of ORDER BY e <op> q LIMIT k (NULL k: no limit) over rows passing filter,
-- through an rvflat index (an error if the plan does not use one) or through a sorted
-- sequential scan with ctid as the tie-breaker.
CREATE FUNCTION knn(tbl text, op text, q embedding, k int, filter text, via_index bool)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	inner_sql text;
	result text;
BEGIN
	PERFORM set_config('enable_seqscan', (NOT via_index)::text, true);
	PERFORM set_config('enable_indexscan', via_index::text, true);
	PERFORM set_config('enable_bitmapscan', 'false', true);
	PERFORM set_config('enable_sort', 'true', true);
	inner_sql := format('SELECT id, e %s $1 AS d FROM %I WHERE %s ORDER BY e %s $1 %s LIMIT %s',
		op, tbl, filter, op, CASE WHEN via_index THEN '' ELSE ', ctid' END,
		coalesce(k::text, 'ALL'));
	IF via_index AND NOT uses_index(inner_sql, q) THEN
		RAISE EXCEPTION 'no index scan for %', inner_sql;
	END IF;
	EXECUTE format('SELECT string_agg(id || '':'' || coalesce(d::text, ''null''), '','') FROM (%s) s',
		inner_sql) INTO result USING q;
	PERFORM set_config('enable_seqscan', 'true', true);
	PERFORM set_config('enable_indexscan', 'true', true);
	PERFORM set_config('enable_bitmapscan', 'true', true);
	RETURN coalesce(result, '');
END $$;

-- How many (query, operator) pairs differ between the index and the sequential scan; the
-- queries are the embeddings returned by qsql, the operators those in ops.
CREATE FUNCTION mismatches(tbl text, ops text[], qsql text, k int, filter text DEFAULT 'true')
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	q embedding;
	op text;
	n int := 0;
	a text;
	b text;
BEGIN
	FOR q IN EXECUTE qsql LOOP
		FOREACH op IN ARRAY ops LOOP
			a := knn(tbl, op, q, k, filter, true);
			b := knn(tbl, op, q, k, filter, false);
			IF a IS DISTINCT FROM b OR a = '' THEN
				RAISE NOTICE '% % differs: index % / seq %', tbl, op, left(a, 200), left(b, 200);
				n := n + 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN n;
END $$;

-- random data with exact duplicates (ties), a zero vector (cosine ties at 1) and NULLs
CREATE TABLE r (id serial, e embedding(16));
INSERT INTO r (e) SELECT rnd(16) FROM generate_series(1, 600);
INSERT INTO r (e) SELECT e FROM r WHERE id <= 40;
INSERT INTO r (e) VALUES ('[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]');
INSERT INTO r (e) SELECT NULL FROM generate_series(1, 10);
-- real, clustered data: Fashion-MNIST image embeddings and fastText word vectors
CREATE TABLE fm (id int, e embedding(64));
INSERT INTO fm SELECT idx, a FROM fixtures.fmnist;
CREATE TABLE w (id int, e embedding(100));
INSERT INTO w SELECT idx, ft FROM fixtures.words;

CREATE INDEX r_l2 ON r USING rvflat (e embedding_l2_ops);
CREATE INDEX r_ip ON r USING rvflat (e embedding_ip_ops);
CREATE INDEX r_cos ON r USING rvflat (e embedding_cosine_ops);
CREATE INDEX r_l1 ON r USING rvflat (e embedding_l1_ops);
CREATE INDEX fm_l2 ON fm USING rvflat (e embedding_l2_ops);
CREATE INDEX fm_ip ON fm USING rvflat (e embedding_ip_ops);
CREATE INDEX fm_cos ON fm USING rvflat (e embedding_cosine_ops);
CREATE INDEX fm_l1 ON fm USING rvflat (e embedding_l1_ops);
CREATE INDEX w_l2 ON w USING rvflat (e embedding_l2_ops);
CREATE INDEX w_ip ON w USING rvflat (e embedding_ip_ops);
CREATE INDEX w_cos ON w USING rvflat (e embedding_cosine_ops);
CREATE INDEX w_l1 ON w USING rvflat (e embedding_l1_ops);
ANALYZE r, fm, w;

SELECT is((SELECT array_agg(opcname::text ORDER BY opcname) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
	WHERE amname = 'rvflat'), ARRAY['embedding_cosine_ops', 'embedding_ip_ops', 'embedding_l1_ops', 'embedding_l2_ops'],
	'rvflat has the four opclasses');
SELECT ok(amvalidate(c.oid), 'opclass ' || opcname || ' validates')
	FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE amname = 'rvflat' ORDER BY opcname;

-- queries: rows of the table (distance 0 and the row's duplicates), random vectors, a zero vector
CREATE TABLE queries AS
	SELECT 'r' AS tbl, e FROM r WHERE id IN (3, 17, 600)
	UNION ALL SELECT 'r', rnd(16) FROM generate_series(1, 2)
	UNION ALL SELECT 'r', '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'
	UNION ALL SELECT 'fm', e FROM fm WHERE id IN (SELECT min(idx) FROM fixtures.fmnist GROUP BY label ORDER BY 1 LIMIT 3)
	UNION ALL SELECT 'fm', rnd(64)
	UNION ALL SELECT 'w', e FROM w WHERE id IN (5, 500, 1500)
	UNION ALL SELECT 'w', rnd(100);

SELECT is(mismatches('r', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'r'$$, 30), 0,
		'random data, ' || op || ': index = seq scan (rows, order, distances)')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT is(mismatches('fm', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 30), 0,
		'fmnist (clustered), ' || op || ': index = seq scan')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT is(mismatches('w', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'w'$$, 30), 0,
		'words (clustered), ' || op || ': index = seq scan')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;

SELECT is(mismatches('r', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'r' LIMIT 2$$, NULL), 0,
	'no LIMIT: every row, the NULL values last by ctid, as the seq scan');
SELECT is((SELECT count(*) FROM (SELECT knn('r', '<->', (SELECT e FROM r WHERE id = 1), NULL, 'true', true)) s(t),
	regexp_split_to_table(t, ',') x), (SELECT count(*) FROM r), 'the index returns the NULL rows too');

-- filtered queries: the scan goes on until the LIMIT is full
SELECT is(mismatches('fm', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 40, 'id % 7 = 3'),
	0, 'filtered (1 in 7 rows pass): index = seq scan for all opclasses');
SELECT is((SELECT count(*)::int FROM regexp_split_to_table(knn('fm', '<=>', (SELECT e FROM fm WHERE id = (SELECT min(idx) FROM fixtures.fmnist WHERE split = 'test')),
	100, 'id % 97 = 0', true), ',')), (SELECT count(*)::int FROM (SELECT 1 FROM fm WHERE id % 97 = 0 LIMIT 100) s),
	'a filter that keeps few rows: the full LIMIT (or every matching row)');

-- the planner: the index for ORDER BY <op> LIMIT, not elsewhere
SELECT ok(bool_and(uses_index(format($$SELECT id FROM fm ORDER BY e %s '%s' LIMIT 10$$, op,
	(SELECT e FROM fm WHERE id = (SELECT max(idx) FROM fixtures.fmnist))))), 'the planner picks rvflat for ORDER BY e <op> const LIMIT k (4 ops)')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT ok(NOT uses_index($$SELECT id FROM fm WHERE e <-> (SELECT e FROM fm WHERE id = (SELECT max(idx) FROM fixtures.fmnist)) < 5$$),
	'not for a distance in WHERE');
SELECT ok(NOT uses_index($$SELECT id FROM fm WHERE id = (SELECT max(idx) FROM fixtures.fmnist)$$), 'not for a plain WHERE');
SELECT ok(NOT uses_index($$SELECT id FROM fm ORDER BY id LIMIT 3$$), 'not for another ORDER BY');

-- changes: INSERT, UPDATE (a new row version), DELETE, NULLs both ways, then VACUUM
INSERT INTO r (e) SELECT rnd(16) FROM generate_series(1, 200);
INSERT INTO r (e) SELECT e FROM r WHERE id BETWEEN 100 AND 120;
UPDATE r SET e = e + e WHERE id % 10 = 1;
UPDATE r SET e = NULL WHERE id % 50 = 7;
UPDATE r SET e = rnd(16) WHERE e IS NULL AND id % 2 = 0;
DELETE FROM r WHERE id % 4 = 0;
INSERT INTO fm SELECT idx + 100000, b FROM fixtures.fmnist WHERE idx % 3 = 0;
UPDATE fm SET e = e * e WHERE id % 11 = 0;
DELETE FROM fm WHERE id % 5 = 2;
INSERT INTO w SELECT id + 10000, e FROM w WHERE id % 4 = 1;
DELETE FROM w WHERE id % 3 = 0;
UPDATE w SET e = NULL WHERE id % 17 = 0;
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 30), 0,
	'random data after INSERT, UPDATE, DELETE: index = seq scan');
SELECT is(mismatches('fm', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 30), 0,
	'fmnist after INSERT, UPDATE, DELETE: index = seq scan');
SELECT is(mismatches('w', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'w'$$, 30), 0,
	'words after INSERT, UPDATE, DELETE: index = seq scan');
VACUUM r, fm, w;
SELECT is((SELECT reltuples::bigint FROM pg_class WHERE relname = 'r_cos'), (SELECT count(*) FROM r),
	'VACUUM removed the dead entries: the index counts the live rows (NULLs included)');
SELECT ok((SELECT pg_relation_size('r_l2') = pg_relation_size('r_l1')), 'all opclasses store the same pages');
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 30), 0,
	'random data after VACUUM: index = seq scan');
SELECT is(mismatches('fm', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 30, 'id % 3 = 0'), 0,
	'fmnist after VACUUM, filtered: index = seq scan');
SELECT is(mismatches('w', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'w'$$, 30), 0,
	'words after VACUUM: index = seq scan');
INSERT INTO r (e) SELECT rnd(16) FROM generate_series(1, 100);
SELECT is(mismatches('r', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 30), 0,
	'inserts after VACUUM: index = seq scan');

-- CREATE INDEX CONCURRENTLY
DROP INDEX r_l1;
CREATE INDEX CONCURRENTLY r_l1 ON r USING rvflat (e embedding_l1_ops);
SELECT ok((SELECT indisvalid FROM pg_index WHERE indexrelid = 'r_l1'::regclass), 'CREATE INDEX CONCURRENTLY gives a valid index');
SELECT is(mismatches('r', ARRAY['<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 50), 0,
	'the concurrently built index = seq scan');

-- an untyped column takes its dimensions from the first vector; an unlogged table works
CREATE TABLE u (id int, e embedding);
CREATE INDEX u_l2 ON u USING rvflat (e embedding_l2_ops);
INSERT INTO u VALUES (1, NULL), (2, '[1,2,3]'), (3, '[3,2,1]');
SELECT throws_ok($$INSERT INTO u VALUES (4, '[1,2]')$$, '22000', 'different embedding dimensions 3 and 2',
	'inserting another dimension count into an index is an error');
CREATE UNLOGGED TABLE ul (id int, e embedding(3));
CREATE INDEX ul_cos ON ul USING rvflat (e embedding_cosine_ops);
INSERT INTO ul SELECT id, e FROM u;
SELECT is(knn('ul', '<=>', '[1,2,3.5]', 5, 'true', true), knn('ul', '<=>', '[1,2,3.5]', 5, 'true', false),
	'an unlogged table''s index = seq scan');

-- bad input
SET enable_seqscan = off;
SELECT throws_ok($$SELECT id FROM r ORDER BY e <-> '[1,2,3]' LIMIT 1$$, '22000', 'different embedding dimensions 16 and 3',
	'a query of another dimension count is an error');
RESET enable_seqscan;
PREPARE nullq(embedding) AS SELECT id FROM r ORDER BY e <-> $1 LIMIT 5;
SET plan_cache_mode = force_generic_plan;
CREATE TABLE nullq_rows AS EXECUTE nullq(NULL);
SELECT is((SELECT count(*) FROM nullq_rows), 5::bigint,
	'a NULL query: every distance is NULL, rows come back (by ctid) as from a seq scan');
RESET plan_cache_mode;
CREATE TABLE big (e embedding(2001));
CREATE TABLE big2 (e embedding);
INSERT INTO big2 SELECT rnd(2001);
SELECT throws_ok($$CREATE INDEX ON big USING rvflat (e embedding_l2_ops)$$,
	'54000', 'rvflat indexes embeddings of at most 2000 dimensions, not 2001', 'more than 2000 dimensions (typmod)');
SELECT throws_ok($$CREATE INDEX ON big2 USING rvflat (e embedding_l2_ops)$$,
	'54000', 'rvflat indexes embeddings of at most 2000 dimensions, not 2001', 'more than 2000 dimensions (data)');
SELECT throws_ok($$CREATE INDEX ON r USING rvflat (e embedding_l2_ops) WITH (lists = 10)$$,
	'22023', 'access method "rvflat" has no storage parameters', 'storage parameters are rejected');
SELECT throws_ok($$CREATE INDEX ON r USING rvflat (e embedding_ops)$$,
	'42704', 'operator class "embedding_ops" does not exist for access method "rvflat"', 'a btree opclass is rejected');

SELECT * FROM finish();
SET client_min_messages = warning;
DROP SCHEMA rvflat_test CASCADE;
