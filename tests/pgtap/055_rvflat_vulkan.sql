-- 055_rvflat_vulkan: rvflat index scans with the index resident on a Vulkan device
-- (relvec.device = 'vulkan:0'; Mesa lavapipe here). Rows, order and distances must equal
-- both a sequential scan sorted by (distance, ctid) and the CPU index scan, for every
-- opclass, on random data with ties, a zero vector and NULLs and on the clustered
-- fixtures; the resident copy must follow INSERT, DELETE and VACUUM in the same session
-- (a new nearest row is found by the very next query). Like 050, this file needs VACUUM,
-- so it works in its own schema, dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS rvflat_vk CASCADE;
CREATE SCHEMA rvflat_vk;
SET search_path = rvflat_vk, public;
RESET client_min_messages;
SELECT plan(28);
SELECT setseed(0.25);

\ir include/rvflat_compare.psql
SET relvec.device = 'vulkan:0';

SELECT is(mismatches('r', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25, 'true', ARRAY['vulkan', 'pages']), 0,
		'vulkan:0, random data, ' || op || ': index = CPU index = seq scan (rows, order, distances)')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT is(mismatches('fm', ARRAY[op], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 25, 'true', ARRAY['vulkan', 'pages']), 0,
		'vulkan:0, fmnist, ' || op || ': index = CPU index = seq scan')
	FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op;
SELECT is(mismatches('w', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'w'$$, 25, 'true', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0, words, <-> and <=>: index = CPU index = seq scan');
SELECT is(mismatches('r', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'r' LIMIT 1$$, NULL, 'true', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0, no LIMIT: every row, the NULL values last by ctid');

-- the device's candidate list (64 rows) and beyond it: a LIMIT above the list, and a table
-- of one vector 150 times (a tie no list can settle: every device distance is fetched)
CREATE TABLE dup (id serial, e embedding(16));
INSERT INTO dup (e) SELECT (SELECT e FROM r WHERE id = 7) FROM generate_series(1, 150);
INSERT INTO dup (e) SELECT rnd(16) FROM generate_series(1, 100);
CREATE INDEX dup_l2 ON dup USING rvflat (e embedding_l2_ops);
CREATE INDEX dup_cos ON dup USING rvflat (e embedding_cosine_ops);
ANALYZE dup;
SELECT is(mismatches('r', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 100, 'true', ARRAY['vulkan']), 0,
	'vulkan:0, LIMIT 100 (beyond the candidate list): index = seq scan');
SELECT is(mismatches('dup', ARRAY['<->', '<=>'], $$SELECT e FROM r WHERE id IN (7, 8)$$, 10, 'true', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0, one vector 150 times, LIMIT 10: index = CPU index = seq scan (ties by ctid)');
SELECT is(mismatches('dup', ARRAY['<->', '<=>'], $$SELECT e FROM r WHERE id IN (7, 8)$$, 200, 'id % 2 = 0', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0, one vector 150 times, filtered, LIMIT 200: index = CPU index = seq scan');

-- the scan ran on the device
SET enable_seqscan = off;
DO $$ BEGIN PERFORM id FROM r ORDER BY e <-> (SELECT e FROM r WHERE id = 5) LIMIT 1; END $$;
SELECT matches(relvec_backend(), '^vulkan:0 ', 'relvec_backend() names the Vulkan device after an index scan');
RESET enable_seqscan;

-- filtered queries: the scan goes on until the LIMIT is full
SELECT is(mismatches('fm', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 30, 'id % 7 = 3', ARRAY['vulkan', 'pages']),
	0, 'vulkan:0, filtered (1 in 7 rows pass): index = CPU index = seq scan for all opclasses');
SELECT is((SELECT count(*)::int FROM regexp_split_to_table(knn('fm', '<=>', (SELECT e FROM fm WHERE id = (SELECT min(id) FROM fm)),
	10, 'id % 24 = 0', 'vulkan'), ',')), (SELECT count(*)::int FROM (SELECT 1 FROM fm WHERE id % 24 = 0 LIMIT 10) s),
	'vulkan:0, a filter that keeps few rows: the full LIMIT');

-- invalidation: the next query after an INSERT sees the new nearest row
CREATE TABLE probe AS SELECT rnd(16) AS q;
SELECT is(split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'vulkan'), ':', 1), split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'seq'), ':', 1),
		'before the insert, ' || op || ': the same nearest row as the seq scan')
	FROM unnest(ARRAY['<->', '<=>']) op;
INSERT INTO r (id, e) SELECT 100000, q FROM probe;
SELECT is(split_part(knn('r', op, (SELECT q FROM probe), 3, 'true', 'vulkan'), ',', 1), '100000:0',
		'right after INSERT of the query itself, ' || op || ': the new row comes first at distance 0')
	FROM unnest(ARRAY['<->', '<=>']) op;
DELETE FROM r WHERE id = 100000;
SELECT is(split_part(knn('r', '<->', (SELECT q FROM probe), 1, 'true', 'vulkan'), ':', 1), split_part(knn('r', '<->', (SELECT q FROM probe), 1, 'true', 'seq'), ':', 1),
	'after DELETE: the deleted row is gone (heap visibility)');

-- changes, then VACUUM: still identical everywhere
INSERT INTO r (e) SELECT rnd(16) FROM generate_series(1, 100);
UPDATE r SET e = e + e WHERE id % 10 = 1;
DELETE FROM r WHERE id % 4 = 0;
DELETE FROM fm WHERE id % 5 = 2;
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25, 'true', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0 after INSERT, UPDATE, DELETE: index = CPU index = seq scan');
VACUUM r, fm;
SELECT is(mismatches('r', ARRAY['<->', '<#>', '<=>', '<+>'], $$SELECT e FROM queries WHERE tbl = 'r'$$, 25, 'true', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0 after VACUUM: index = CPU index = seq scan');
SELECT is(mismatches('fm', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'fm'$$, 25, 'id % 3 = 0', ARRAY['vulkan', 'pages']), 0,
	'vulkan:0 after VACUUM, fmnist filtered: index = CPU index = seq scan');

-- relvec.resident_mb: 0 turns residency off (the CPU scan), a small budget evicts
SET relvec.resident_mb = 0;
SELECT is(mismatches('r', ARRAY['<=>'], $$SELECT e FROM queries WHERE tbl = 'r' LIMIT 2$$, 10, 'true', ARRAY['vulkan', 'pages']), 0,
	'relvec.resident_mb = 0: the CPU scan, same results');
SET relvec.resident_mb = 1;
SELECT is(mismatches('w', ARRAY['<->', '<=>'], $$SELECT e FROM queries WHERE tbl = 'w' LIMIT 2$$, 10, 'true', ARRAY['vulkan', 'pages']), 0,
	'relvec.resident_mb = 1 (the two 800 kB words indexes evict each other in turn): same results');
RESET relvec.resident_mb;
SELECT throws_ok($$SET relvec.resident_mb = -1$$, '22023', NULL, 'a negative relvec.resident_mb is rejected');

-- bad input on the device path
SET enable_seqscan = off;
SELECT throws_ok($$SELECT id FROM r ORDER BY e <-> '[1,2,3]' LIMIT 1$$, '22000', 'different embedding dimensions 16 and 3',
	'vulkan:0: a query of another dimension count is an error');
RESET enable_seqscan;

SELECT * FROM finish();
RESET relvec.device;
SET client_min_messages = warning;
DROP SCHEMA rvflat_vk CASCADE;
