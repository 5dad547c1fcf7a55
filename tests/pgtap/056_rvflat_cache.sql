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
SELECT plan(25);
SELECT setseed(0.25);

\ir include/rvflat_compare.psql
SET relvec.device = 'cpu';
SET relvec.rvflat_cache_mb = 64;

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

SELECT is(mismatches('r', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25, 'true', ARRAY['cache', 'pages']), 0,
		'cache, random data, ' || op || ': cached index = page index = seq scan (rows, order, distances)')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT is(mismatches('fm', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 25, 'true', ARRAY['cache', 'pages']), 0,
	'cache, fmnist, every opclass: cached index = page index = seq scan');
SELECT is(mismatches('w', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'w'$$, 25, 'true', ARRAY['cache', 'pages']), 0,
	'cache, words, <-> and <=>: cached index = page index = seq scan');
SELECT is(mismatches('r', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'r' LIMIT 1$$, NULL, 'true', ARRAY['cache', 'pages']), 0,
	'cache, no LIMIT: every row, the NULL values last by ctid');
SELECT is(mismatches('fm', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 30, 'id % 7 = 3', ARRAY['cache', 'pages']),
	0, 'cache, filtered (1 in 7 rows pass): the full LIMIT, as the seq scan');

-- invalidation: the next query after an INSERT sees the new nearest row
CREATE TABLE probe AS SELECT rnd(16) AS q;
SELECT is(split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'cache'), ':', 1), split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'seq'), ':', 1),
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
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25, 'true', ARRAY['cache', 'pages']), 0,
	'cache after INSERT, UPDATE, DELETE: cached index = page index = seq scan');
VACUUM r, fm;
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25, 'true', ARRAY['cache', 'pages']), 0,
	'cache after VACUUM: cached index = page index = seq scan');
SELECT is(mismatches('fm', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 25, 'id % 3 = 0', ARRAY['cache', 'pages']), 0,
	'cache after VACUUM, fmnist filtered: cached index = page index = seq scan');

-- a budget smaller than the index: the page scan, same results
SELECT is(mismatches('w', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'w' LIMIT 2$$, 10, 'true', ARRAY['cache:1', 'pages']), 0,
	'relvec.rvflat_cache_mb = 1 (the two 800 kB words indexes evict each other in turn): same results');
SELECT throws_ok($$SET relvec.rvflat_cache_mb = -1$$, '22023', NULL, 'a negative relvec.rvflat_cache_mb is rejected');
-- the shared copy's settings (they act with relvec preloaded: tests/serving) exist everywhere
SELECT is(current_setting('relvec.int8_bounds') || ' ' || current_setting('relvec.batch_min_active') || ' ' ||
	current_setting('relvec.cone_scan'), 'auto -1 on',
	'relvec.int8_bounds defaults to auto, relvec.batch_min_active to -1 (the number of CPUs), relvec.cone_scan to on');
SELECT throws_ok($$SET relvec.cone_scan = 'sometimes'$$, '22023', NULL, 'relvec.cone_scan is a boolean');
SELECT throws_ok($$SET relvec.int8_bounds = 'sometimes'$$, '22023', NULL,
	'relvec.int8_bounds accepts only auto, on and off');
SELECT throws_ok($$SET relvec.batch_min_active = -2$$, '22023', NULL,
	'relvec.batch_min_active below -1 is rejected');
SELECT lives_ok($$SET LOCAL relvec.int8_bounds = 'off'; SET LOCAL relvec.batch_min_active = 0$$,
	'a session may set both');

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
