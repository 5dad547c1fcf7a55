-- 056_rvflat_cache: rvflat index scans on the CPU from the backend's host copy of the index
-- (relvec.rvflat_cache_mb > 0) instead of the index pages. Rows, order and distances must
-- equal both a sequential scan sorted by (distance, ctid) and the page-reading index scan,
-- for every opclass, on random data with ties, a zero vector and NULLs and on the clustered
-- fixtures; the copy must follow INSERT, DELETE and VACUUM in the same session, and a
-- cached scan must read no index page but the metapage. Like 050, this file needs VACUUM,
-- so it works in its own schema, dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS rvflat_cache CASCADE;
CREATE SCHEMA rvflat_cache;
SET search_path = rvflat_cache, public;
RESET client_min_messages;
SELECT plan(20);
SELECT setseed(0.25);

-- A random embedding of d dimensions in [-1, 1).
CREATE FUNCTION rnd(d int) RETURNS embedding LANGUAGE sql VOLATILE AS
	$$ SELECT array_agg((random() * 2 - 1)::real)::embedding FROM generate_series(1, d) $$;

-- "id:distance,..." of ORDER BY e <op> q LIMIT k over rows passing filter: through the rvflat
-- index from the host copy (dev 'cache') or from its pages (dev 'pages'); an error if the plan
-- has no index scan; or (dev NULL) a sorted seq scan.
CREATE FUNCTION knn(tbl text, op text, q embedding, k int, filter text, dev text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	sql text;
	line text;
	found bool := false;
	result text;
BEGIN
	PERFORM set_config('enable_seqscan', (dev IS NULL)::text, true);
	PERFORM set_config('enable_indexscan', (dev IS NOT NULL)::text, true);
	PERFORM set_config('enable_bitmapscan', 'false', true);
	PERFORM set_config('relvec.rvflat_cache_mb', CASE WHEN dev = 'cache' THEN '64' ELSE '0' END, true);
	sql := format('SELECT id, e %s $1 AS d FROM %I WHERE %s ORDER BY e %s $1 %s LIMIT %s',
		op, tbl, filter, op, CASE WHEN dev IS NOT NULL THEN '' ELSE ', ctid' END, coalesce(k::text, 'ALL'));
	IF dev IS NOT NULL THEN
		FOR line IN EXECUTE 'EXPLAIN ' || sql USING q LOOP
			found := found OR line ~ 'Index Scan using';
		END LOOP;
		IF NOT found THEN
			RAISE EXCEPTION 'no index scan for %', sql;
		END IF;
	END IF;
	EXECUTE format('SELECT string_agg(id || '':'' || coalesce(d::text, ''null''), '','') FROM (%s) s', sql)
		INTO result USING q;
	PERFORM set_config('enable_seqscan', 'true', true);
	PERFORM set_config('enable_indexscan', 'true', true);
	PERFORM set_config('enable_bitmapscan', 'true', true);
	PERFORM set_config('relvec.rvflat_cache_mb', '64', true);
	RETURN coalesce(result, '');
END $$;

-- How many (query, operator) pairs differ between the cached index scan, the page-reading
-- index scan and the seq scan.
CREATE FUNCTION mismatches(tbl text, ops text[], qsql text, k int, filter text DEFAULT 'true')
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	q embedding;
	op text;
	n int := 0;
	g text;
	c text;
	s text;
BEGIN
	FOR q IN EXECUTE qsql LOOP
		FOREACH op IN ARRAY ops LOOP
			g := knn(tbl, op, q, k, filter, 'cache');
			c := knn(tbl, op, q, k, filter, 'pages');
			s := knn(tbl, op, q, k, filter, NULL);
			IF g IS DISTINCT FROM s OR c IS DISTINCT FROM s OR s = '' THEN
				RAISE NOTICE '% % differs: cache % / pages % / seq %', tbl, op, left(g, 150), left(c, 150), left(s, 150);
				n := n + 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN n;
END $$;

SET relvec.device = 'cpu';
SET relvec.rvflat_cache_mb = 64;

-- random data with exact duplicates (ties), a zero vector (cosine ties at 1) and NULLs
CREATE TABLE r (id serial, e embedding(16));
INSERT INTO r (e) SELECT rnd(16) FROM generate_series(1, 400);
INSERT INTO r (e) SELECT e FROM r WHERE id <= 30;
INSERT INTO r (e) VALUES ('[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]');
INSERT INTO r (e) SELECT NULL FROM generate_series(1, 5);
CREATE TABLE fm (id int, e embedding(64));
INSERT INTO fm SELECT idx, a FROM fixtures.fmnist WHERE idx % 4 = 0;
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
CREATE INDEX w_cos ON w USING rvflat (e embedding_cosine_ops);
ANALYZE r, fm, w;

CREATE TABLE queries AS
	SELECT 'r' AS tbl, e FROM r WHERE id IN (3, 17)
	UNION ALL SELECT 'r', rnd(16)
	UNION ALL SELECT 'r', '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'
	UNION ALL SELECT 'fm', e FROM fm WHERE id IN (SELECT min(id) FROM fm)
	UNION ALL SELECT 'fm', rnd(64)
	UNION ALL SELECT 'w', e FROM w WHERE id IN (5, 1500)
	UNION ALL SELECT 'w', rnd(100);

-- Index blocks a second identical scan reads, within one transaction (the first builds the copy).
CREATE FUNCTION second_scan_blocks(cache_mb int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	q embedding := (SELECT e FROM r WHERE id = 5);
	b0 bigint;
BEGIN
	PERFORM set_config('relvec.rvflat_cache_mb', cache_mb::text, true);
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM id FROM r ORDER BY e <-> q LIMIT 1;
	b0 := pg_stat_get_xact_blocks_fetched('r_l2'::regclass);
	PERFORM id FROM r ORDER BY e <-> q LIMIT 1;
	RETURN pg_stat_get_xact_blocks_fetched('r_l2'::regclass) - b0;
END $$;

SELECT is(second_scan_blocks(64), 2::bigint, 'a cached scan reads no data page, only the metapage (for the dimensions, then the change count)');
SELECT cmp_ok(second_scan_blocks(0), '>', 2::bigint, 'with relvec.rvflat_cache_mb = 0 the scan reads the pages');

SELECT is(mismatches('r', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25), 0,
		'cache, random data, ' || op || ': cached index = page index = seq scan (rows, order, distances)')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT is(mismatches('fm', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 25), 0,
	'cache, fmnist, every opclass: cached index = page index = seq scan');
SELECT is(mismatches('w', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'w'$$, 25), 0,
	'cache, words, <-> and <=>: cached index = page index = seq scan');
SELECT is(mismatches('r', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'r' LIMIT 1$$, NULL), 0,
	'cache, no LIMIT: every row, the NULL values last by ctid');
SELECT is(mismatches('fm', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 30, 'id % 7 = 3'),
	0, 'cache, filtered (1 in 7 rows pass): the full LIMIT, as the seq scan');

-- invalidation: the next query after an INSERT sees the new nearest row
CREATE TABLE probe AS SELECT rnd(16) AS q;
SELECT is(split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'cache'), ':', 1), split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', NULL), ':', 1),
		'before the insert, ' || op || ': the same nearest row as the seq scan')
	FROM unnest(ARRAY['<->', '<=>']) op;
INSERT INTO r (id, e) SELECT 100000, q FROM probe;
SELECT is(split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'cache'), ',', 1), '100000:0',
		'right after INSERT of the query itself, ' || op || ': the new row comes first at distance 0')
	FROM unnest(ARRAY['<->', '<=>']) op;
DELETE FROM r WHERE id = 100000;

-- changes, then VACUUM: still identical everywhere
INSERT INTO r (e) SELECT rnd(16) FROM generate_series(1, 100);
UPDATE r SET e = e + e WHERE id % 10 = 1;
DELETE FROM r WHERE id % 4 = 0;
DELETE FROM fm WHERE id % 5 = 2;
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25), 0,
	'cache after INSERT, UPDATE, DELETE: cached index = page index = seq scan');
VACUUM r, fm;
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25), 0,
	'cache after VACUUM: cached index = page index = seq scan');
SELECT is(mismatches('fm', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 25, 'id % 3 = 0'), 0,
	'cache after VACUUM, fmnist filtered: cached index = page index = seq scan');

-- a budget smaller than the index: the page scan, same results
SET relvec.rvflat_cache_mb = 1;
SELECT is(mismatches('w', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'w' LIMIT 2$$, 10), 0,
	'relvec.rvflat_cache_mb = 1 (the two 800 kB words indexes evict each other in turn): same results');
SET relvec.rvflat_cache_mb = 64;
SELECT throws_ok($$SET relvec.rvflat_cache_mb = -1$$, '22023', NULL, 'a negative relvec.rvflat_cache_mb is rejected');

-- bad input on the cached path
SET enable_seqscan = off;
SELECT throws_ok($$SELECT id FROM r ORDER BY e <-> '[1,2,3]' LIMIT 1$$, '22000', 'different embedding dimensions 16 and 3',
	'cache: a query of another dimension count is an error');
RESET enable_seqscan;

SELECT * FROM finish();
RESET relvec.device;
RESET relvec.rvflat_cache_mb;
SET client_min_messages = warning;
DROP SCHEMA rvflat_cache CASCADE;
