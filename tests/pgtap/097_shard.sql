-- 097_shard: what of sharding one server can check alone (tests/shard/knn.sh runs shards):
-- the catalog fingerprint (stable, and moved by every value a search uses), the imports
-- relvec_publish runs on a shard (identical is a no-op, different needs replace and the
-- owner, the values stored exactly), relvec_publish's own errors, and the errors of the
-- sharded kNN functions that come before any shard is asked.
BEGIN;
SELECT plan(45);

DO $setup$ BEGIN
	PERFORM relvec_create_space('sh_a', 3);
	PERFORM relvec_create_space('sh_b', 2);
	PERFORM relvec_create_anchor_set('sh_set', ARRAY['k1', 'k2', 'k3']);
	PERFORM relvec_set_anchors('sh_set', 'sh_a', $$SELECT * FROM (VALUES ('k1', '[1,0,0]'::embedding), ('k2', '[0,1,0]'), ('k3', '[0.1,0.2,0.3]')) v$$);
	PERFORM relvec_set_anchors('sh_set', 'sh_b', $$SELECT * FROM (VALUES ('k1', '[1,0]'::embedding), ('k2', '[0,1]'), ('k3', '[1,1]')) v$$);
	PERFORM relvec_freeze_anchor_set('sh_set');
	PERFORM relvec_fit_translation('sh_set', 'sh_b', 'sh_a');
END $setup$;
CREATE TEMP TABLE fp AS SELECT relvec_catalog_fingerprint('sh_set') AS s,
	relvec_catalog_fingerprint('sh_set', 'sh_b', 'sh_a') AS t;

-- the fingerprint ------------------------------------------------------------------------
SELECT matches((SELECT s FROM fp), '^[0-9a-f]{64}$', 'a SHA-256 in hex');
SELECT is(relvec_catalog_fingerprint('sh_set'), (SELECT s FROM fp), 'the same catalog, the same fingerprint');
SELECT isnt((SELECT t FROM fp), (SELECT s FROM fp), 'the translation is part of the fingerprint that names it');
SELECT lives_ok($$SELECT relvec_set_space_mean('sh_b', $q$SELECT '[1,2]'::embedding$q$)$$, 'a mean for sh_b');
SELECT isnt(relvec_catalog_fingerprint('sh_set'), (SELECT s FROM fp), 'a space''s mean moves it');
SELECT throws_ok($$SELECT relvec_catalog_fingerprint('nope')$$, '42704', 'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok($$SELECT relvec_catalog_fingerprint('sh_set', 'sh_a', 'sh_b')$$, '55000',
	'no translation fitted from space "sh_a" to space "sh_b" in anchor set "sh_set"', 'no such translation');
SELECT throws_ok($$SELECT relvec_catalog_fingerprint('sh_set', 'sh_a')$$, '22023',
	'from_space and to_space must both be given or both be null', 'one space only');
SELECT throws_ok($$SELECT relvec_catalog_fingerprint(NULL)$$, '22004', 'anchor set must not be null', 'a null set');

-- imports: identical is a no-op, different needs replace ---------------------------------
SELECT is(relvec_import_space('sh_a', 3, NULL, NULL, false), 'unchanged', 'an identical space is unchanged');
SELECT throws_ok($$SELECT relvec_import_space('sh_b', 2, NULL, NULL, false)$$, '42710',
	'space "sh_b" already exists with other contents', 'another mean needs replace');
SELECT is(relvec_import_space('sh_b', 2, NULL, NULL, true), 'replaced', 'replace => true replaces the mean');
SELECT is(relvec_catalog_fingerprint('sh_set'), (SELECT s FROM fp), '... and the fingerprint is the original again');
SELECT throws_ok($$SELECT relvec_import_space('sh_b', 3, NULL, NULL, true)$$, '42710',
	'space "sh_b" already exists with 2 dimensions, not 3', 'dimensions are never replaced');
SELECT is(relvec_import_space('sh_new', 2, 'copied', '[0.5,-0]', false), 'created', 'a missing space is created');
SELECT is((SELECT mean::text || description FROM relvec_spaces WHERE name = 'sh_new'), '[0.5,-0]copied',
	'with its mean exactly (-0 included) and its description');
SELECT is(relvec_import_anchor_set('sh_set', ARRAY['k1', 'k2', 'k3'], ARRAY['sh_a', 'sh_b'],
	ARRAY['[1,0,0]', '[0,1,0]', '[0.1,0.2,0.3]', '[1,0]', '[0,1]', '[1,1]']::embedding[], false),
	'unchanged', 'an identical anchor set is unchanged');
SELECT throws_ok($$SELECT relvec_import_anchor_set('sh_set', ARRAY['k1', 'k2', 'k3'], ARRAY['sh_a', 'sh_b'],
	ARRAY['[1,0,0]', '[0,1,0]', '[0.1,0.2,0.30000004]', '[1,0]', '[0,1]', '[1,1]']::embedding[], false)$$, '42710',
	'anchor set "sh_set" already exists with other contents', 'one anchor a float32 step away needs replace');
SELECT is(relvec_import_anchor_set('sh_copy', ARRAY['k1', 'k2'], ARRAY['sh_b'],
	ARRAY['[1,0]', '[0,1]']::embedding[], false), 'created', 'a missing set is created');
SELECT is((SELECT frozen FROM relvec_anchor_sets WHERE name = 'sh_copy'), true, 'frozen');
SELECT is((SELECT string_agg(key || e::text, ' ' ORDER BY ord) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id)
	WHERE s.name = 'sh_copy'), 'k1[1,0] k2[0,1]', 'with its anchors in order');
SELECT throws_ok($$SELECT relvec_import_anchor_set('sh_x', ARRAY['k1', 'k2'], ARRAY['sh_b'],
	ARRAY['[1,0]']::embedding[], false)$$, '22023',
	'anchors must hold one embedding per key and space: 1 for 2 keys in 1 spaces', 'too few anchors');
SELECT throws_ok($$SELECT relvec_import_anchor_set('sh_x', ARRAY['k1', 'k2'], ARRAY['sh_b'],
	ARRAY['[1,0]', '[0,0]']::embedding[], false)$$, '22000',
	'anchor "k2" of set "sh_x" is a zero vector in space "sh_b"', 'a zero anchor');
DO $c$ BEGIN PERFORM relvec_create_space('sh_c', 2); END $c$;
SELECT throws_ok($$SELECT relvec_import_anchor_set('sh_y', ARRAY['k1', 'k2'], ARRAY['sh_b'],
	ARRAY[relvec_tag('[1,0]', 'sh_c'), relvec_tag('[0,1]', 'sh_c')], false)$$, '42804',
	'embedding belongs to space "sh_c", not "sh_b"', 'anchors tagged with another space are refused, not untagged');
SELECT throws_ok($$SELECT relvec_import_anchor_set('sh_x', ARRAY['k1', 'k2'], ARRAY['nope'],
	ARRAY['[1,0]', '[0,1]']::embedding[], false)$$, '42704', 'space "nope" does not exist', 'an unknown space');
SELECT is(relvec_import_translation('sh_set', 'sh_b', 'sh_a', t.method, t.from_mean, t.from_std, t.to_mean, t.to_std,
	t.matrix, t.bias, false), 'unchanged', 'an identical translation is unchanged')
	FROM relvec_translations t JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'sh_set';
SELECT throws_ok($$SELECT relvec_import_translation('sh_set', 'sh_b', 'sh_a', 'orthogonal', from_mean, from_std, to_mean,
	to_std, '{1,0,0,0,1,0,0,0,1}', NULL, false) FROM relvec_translations$$, '42710',
	'translation from space "sh_b" to space "sh_a" in anchor set "sh_set" already exists with other contents',
	'another matrix needs replace');
SELECT throws_ok($$SELECT relvec_import_translation('sh_set', 'sh_b', 'sh_a', 'orthogonal', from_mean, from_std, to_mean,
	to_std, '{1,0,0,1}', NULL, true) FROM relvec_translations$$, '22000',
	'matrix must be a one-dimensional real[] of 3 x 3 values without nulls', 'a matrix of the wrong size');
SELECT throws_ok($$SELECT relvec_import_translation('sh_set', 'sh_b', 'sh_a', 'affine', from_mean, from_std, to_mean,
	to_std, matrix, NULL, true) FROM relvec_translations$$, '22000', NULL, 'affine without a bias');

-- replacing needs the owner --------------------------------------------------------------
CREATE ROLE rv_sh_other;
SET LOCAL ROLE rv_sh_other;
SELECT throws_ok($$SELECT relvec_import_space('sh_b', 2, NULL, '[9,9]', true)$$, '42501',
	'must be owner of space "sh_b"', 'another role cannot replace a space');
SELECT throws_ok($$SELECT relvec_import_anchor_set('sh_set', ARRAY['k1'], ARRAY['sh_b'], ARRAY['[1,0]']::embedding[], true)$$,
	'42501', 'must be owner of anchor set "sh_set"', 'nor an anchor set');
SELECT throws_ok($$SELECT relvec_import_translation('sh_set', 'sh_a', 'sh_b', 'linear', '[0,0,0]', '[1,1,1]', '[0,0]', '[1,1]',
	'{1,0,0,0,1,0,0,0,1}', NULL, false)$$, '42501', 'must be owner of anchor set "sh_set"',
	'nor create a translation in another role''s set by import (a fit stores only what the anchors give)');
RESET ROLE;
SELECT throws_ok($$SELECT relvec_import_translation('sh_set', 'sh_a', 'sh_b', 'linear', '[0,0,0]', '[1,1,1]', '[0,0]', '[1,1]',
	'{NaN,0,0,0,1,0,0,0,Infinity}', NULL, false)$$, '22000', 'translation matrix has a value that is not finite',
	'an imported matrix with NaN or infinity is refused');
SELECT throws_ok($$SELECT relvec_import_translation('sh_set', 'sh_a', 'sh_b', 'linear', '[0,0,0]', '[1,0,1]', '[0,0]', '[1,1]',
	'{1,0,0,0,1,0,0,0,1}', NULL, false)$$, '22023', NULL, 'and a zero standard deviation');
SELECT is((SELECT count(*) FROM relvec_translations t JOIN relvec_spaces f ON f.space_id = t.from_space_id
	WHERE f.name = 'sh_a'), 0::bigint, 'nothing stored by the refused imports');

-- relvec_publish and the sharded functions: the errors before any shard is asked -----------
SELECT throws_ok($$SELECT relvec_publish('nope', 'sh_set')$$, '42704', 'server "nope" does not exist', 'unknown server');
CREATE EXTENSION IF NOT EXISTS file_fdw;
CREATE SERVER sh_files FOREIGN DATA WRAPPER file_fdw;
SELECT throws_ok($$SELECT relvec_publish('sh_files', 'sh_set')$$, '0A000', 'server "sh_files" is not a postgres_fdw server',
	'a server of another wrapper');
CREATE TABLE sh_local (id int, e embedding(2));
SELECT throws_ok($$SELECT * FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_local', 1)$$, '42809',
	'"sh_local" is not a partitioned table', 'a plain table is not sharded');
CREATE TABLE sh_parted (id int, e embedding(2)) PARTITION BY RANGE (id);
SELECT is((SELECT count(*) FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_parted', 1)), 0::bigint,
	'a partitioned table without partitions: no rows');
CREATE TABLE sh_parted_1 PARTITION OF sh_parted FOR VALUES FROM (0) TO (10);
SELECT throws_ok($$SELECT * FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_parted', 1)$$, '0A000',
	'partition "sh_parted_1" of "sh_parted" is not a foreign table', 'a local partition');
SELECT throws_ok($$SELECT * FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_parted', 1, 'cosine', 'nope')$$,
	'42703', 'column "nope" of relation "sh_parted" does not exist', 'an unknown key column');
SELECT throws_ok($$SELECT * FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_parted', 1, 'cosine', NULL, 'ctid')$$,
	'42703', 'column "ctid" of relation "sh_parted" does not exist', 'a system column is no vector column');
SELECT throws_ok($$SELECT * FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_parted', 1, 'cosine', 'xmin')$$,
	'42703', 'column "xmin" of relation "sh_parted" does not exist', 'nor a key column');
ALTER TABLE sh_parted ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON sh_parted TO rv_sh_other;
SET LOCAL ROLE rv_sh_other;
SELECT throws_ok($$SELECT * FROM relvec_shard_knn('SELECT 1, ''[1,0]''::embedding', 'sh_parted', 1)$$, '42501',
	'row-level security is enabled for "sh_parted": its sharded search would not apply the policies',
	'a table with row-level security is refused, not searched past its policies');
RESET ROLE;
ALTER TABLE sh_parted DISABLE ROW LEVEL SECURITY;
SELECT throws_ok($$SELECT * FROM relvec_shard_stitch_knn('SELECT 1, ''[1,0]''::embedding', 'sh_b', 'sh_parted', 'sh_a',
	'sh_set', 1, 'sideways')$$, '22023', 'unknown route "sideways": expected relative, translation or absolute', 'an unknown route');

SELECT * FROM finish();
ROLLBACK;
