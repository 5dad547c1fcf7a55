-- 020_metric: distances, operators, vector functions, arithmetic, ordering, hashing and
-- aggregates of the embedding type, against hand-computed values.
BEGIN;
SELECT plan(75);

-- distances: a = [1,2,3], b = [4,6,8], b - a = [3,4,5] --------------------------------------
SELECT is(l2_distance('[1,2,3]', '[4,6,8]'), sqrt(50::float8), 'l2_distance = sqrt(9+16+25)');
SELECT is('[1,2,3]'::embedding <-> '[4,6,8]', sqrt(50::float8), '<-> is l2_distance');
SELECT is(embedding_l2_squared_distance('[1,2,3]', '[4,6,8]'), 50::float8, 'squared L2 = 50');
SELECT is(inner_product('[1,2,3]', '[4,6,8]'), 40::float8, 'inner_product = 4+12+24');
SELECT is('[1,2,3]'::embedding <#> '[4,6,8]', -40::float8, '<#> is the negative inner product');
SELECT is(l1_distance('[1,2,3]', '[4,6,8]'), 12::float8, 'l1_distance = 3+4+5');
SELECT is('[1,2,3]'::embedding <+> '[4,6,8]', 12::float8, '<+> is l1_distance');
SELECT ok(abs(cosine_distance('[1,2,3]', '[4,6,8]') - 0.007416666029069763) < 1e-12,
	'cosine_distance = 1 - 40/sqrt(14*116)');
SELECT is('[1,0]'::embedding <=> '[0,1]', 1::float8, '<=> of orthogonal vectors is 1');
SELECT is('[1,2]'::embedding <=> '[2,4]', 0::float8, '<=> of parallel vectors is 0');
SELECT is('[1,2]'::embedding <=> '[-1,-2]', 2::float8, '<=> of opposite vectors is 2');
SELECT is('[0,0]'::embedding <=> '[1,2]', 1::float8, 'cosine distance with a zero vector is defined as 1');
SELECT is('[0,0]'::embedding <=> '[0,0]', 1::float8, 'cosine distance between zero vectors is 1');
SELECT is('[1,1]'::embedding <-> '[1,1]', 0::float8, 'distance to itself is 0');
SELECT ok(abs(('[1e-30,1e-30]'::embedding <=> '[1e-30,-1e-30]') - 1) < 1e-12, 'tiny vectors: cosine still exact');
SELECT ok(abs(l2_distance(array_fill(1e19::real, ARRAY[16000])::embedding, array_fill(-1e19::real, ARRAY[16000])::embedding)
	- 2e19 * sqrt(16000::float8)) / (2e19 * sqrt(16000::float8)) < 1e-6, 'large values do not overflow L2');

-- every distance rejects different dimensions with 22000 ---------------------------------
SELECT throws_ok($$SELECT '[1,2]'::embedding <-> '[1,2,3]'$$, '22000', 'different embedding dimensions 2 and 3', '<-> mismatch');
SELECT throws_ok($$SELECT '[1,2]'::embedding <#> '[1,2,3]'$$, '22000', 'different embedding dimensions 2 and 3', '<#> mismatch');
SELECT throws_ok($$SELECT '[1,2]'::embedding <=> '[1,2,3]'$$, '22000', 'different embedding dimensions 2 and 3', '<=> mismatch');
SELECT throws_ok($$SELECT '[1,2]'::embedding <+> '[1,2,3]'$$, '22000', 'different embedding dimensions 2 and 3', '<+> mismatch');
SELECT throws_ok($$SELECT inner_product('[1,2,3]', '[1,2]')$$, '22000', 'different embedding dimensions 3 and 2', 'inner_product mismatch');
SELECT throws_ok($$SELECT embedding_l2_squared_distance('[1]', '[1,2]')$$, '22000', 'different embedding dimensions 1 and 2', 'squared L2 mismatch');

-- vector functions -----------------------------------------------------------------------
SELECT is(embedding_dims('[1,2,3]'), 3, 'embedding_dims');
SELECT is(embedding_norm('[3,4]'), 5::float8, 'embedding_norm of [3,4] is 5');
SELECT is(embedding_norm('[0,0]'), 0::float8, 'norm of a zero vector is 0');
SELECT is(l2_normalize('[3,4]')::text, '[0.6,0.8]', 'l2_normalize');
SELECT is(l2_normalize('[0,0]')::text, '[0,0]', 'l2_normalize leaves a zero vector zero');
SELECT ok(abs(embedding_norm(l2_normalize('[1,2,3,4,5,6,7]')) - 1) < 1e-6, 'normalized norm is 1');
SELECT is(subvector('[1,2,3,4,5]', 2, 3)::text, '[2,3,4]', 'subvector(e, 2, 3)');
SELECT is(subvector('[1,2,3,4,5]', 1, 5)::text, '[1,2,3,4,5]', 'subvector of everything');
SELECT is(subvector('[1,2,3,4,5]', 4, 10)::text, '[4,5]', 'subvector clipped at the end');
SELECT is(subvector('[1,2,3,4,5]', 0, 2)::text, '[1]', 'subvector clipped at the start, as pgvector');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 4, 1)$$, '22000', 'embedding must have at least 1 dimension', 'subvector past the end');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 1, 0)$$, '22000', 'embedding must have at least 1 dimension', 'subvector count 0');
SELECT throws_ok($$SELECT subvector('[1,2,3]', -5, 3)$$, '22000', 'embedding must have at least 1 dimension', 'subvector before the start');
SELECT is(subvector('[1,2,3]', 2, 2147483647)::text, '[2,3]', 'subvector with a huge count does not overflow');

-- arithmetic -----------------------------------------------------------------------------
SELECT is(('[1,2,3]'::embedding + '[4,6,8]')::text, '[5,8,11]', '+');
SELECT is(('[1,2,3]'::embedding - '[4,6,8]')::text, '[-3,-4,-5]', '-');
SELECT is(('[1,2,3]'::embedding * '[4,6,8]')::text, '[4,12,24]', '* is element-wise');
SELECT is(('[1,2]'::embedding || '[3]')::text, '[1,2,3]', '|| concatenates');
SELECT throws_ok($$SELECT '[3e38]'::embedding + '[3e38]'$$, '22003', 'value out of range: overflow', '+ overflow');
SELECT throws_ok($$SELECT '[-3e38]'::embedding - '[3e38]'$$, '22003', 'value out of range: overflow', '- overflow');
SELECT throws_ok($$SELECT '[1e30]'::embedding * '[1e30]'$$, '22003', 'value out of range: overflow', '* overflow');
SELECT throws_ok($$SELECT '[1,2]'::embedding + '[1]'$$, '22000', 'different embedding dimensions 2 and 1', '+ mismatch');
SELECT throws_ok($$SELECT array_fill(1::real, ARRAY[16000])::embedding || '[1]'$$, '54000',
	'embedding cannot have more than 16000 dimensions', '|| beyond 16000 dimensions');

-- ordering and equality ------------------------------------------------------------------
SELECT ok('[1,2]'::embedding < '[1,3]', '< element-wise');
SELECT ok('[1,2]'::embedding < '[1,2,0]', 'a prefix sorts first');
SELECT ok('[2]'::embedding > '[1,9]', 'first element decides');
SELECT ok('[1,2]'::embedding <= '[1,2]' AND '[1,2]'::embedding >= '[1,2]', '<= and >= on equal values');
SELECT ok('[1,2]'::embedding = '[1,2]' AND NOT ('[1,2]'::embedding <> '[1,2]'), '= and <>');
SELECT ok('[0]'::embedding = '[-0]', '-0 equals 0');
SELECT is(embedding_hash('[0]'), embedding_hash('[-0]'), 'and hashes the same');
SELECT isnt(embedding_hash('[1,2]'), embedding_hash('[2,1]'), 'different values hash differently');
SELECT is(embedding_cmp('[1,2]', '[1,3]'), -1, 'embedding_cmp');

CREATE TEMP TABLE o (id int, e embedding);
INSERT INTO o VALUES (1, '[3,1]'), (2, '[1,2]'), (3, '[1,2]'), (4, '[2,0]'), (5, '[1,2,0]');
SELECT is((SELECT array_agg(id ORDER BY e, id) FROM o), ARRAY[2,3,5,4,1], 'ORDER BY embedding');
SELECT is((SELECT count(DISTINCT e) FROM o), 4::bigint, 'DISTINCT');
SELECT is((SELECT count(*) FROM (SELECT e FROM o GROUP BY e) g), 4::bigint, 'GROUP BY');
SET LOCAL enable_sort = off;
SELECT is((SELECT count(*) FROM (SELECT e FROM o GROUP BY e) g), 4::bigint, 'GROUP BY through hashing');
RESET enable_sort;
CREATE INDEX ON o USING btree (e);
CREATE INDEX ON o USING hash (e);
SET LOCAL enable_seqscan = off;
SELECT is((SELECT array_agg(id ORDER BY id) FROM o WHERE e = '[1,2]'), ARRAY[2,3], 'btree/hash index lookup');
RESET enable_seqscan;
CREATE TEMP TABLE u (e embedding UNIQUE);
INSERT INTO u VALUES ('[1,2]');
SELECT throws_ok($$INSERT INTO u VALUES ('[1,2]')$$, '23505', NULL, 'UNIQUE rejects a duplicate');
SELECT lives_ok($$INSERT INTO u VALUES ('[1,2,3]')$$, 'UNIQUE accepts a different value');
SELECT is((SELECT count(*) FROM o a JOIN o b ON a.e = b.e), 7::bigint, 'join on equality');

-- aggregates -----------------------------------------------------------------------------
SELECT is((SELECT avg(e)::text FROM (VALUES ('[1,2]'::embedding), ('[3,4]'), ('[5,9]')) v(e)), '[3,5]', 'avg');
SELECT is((SELECT sum(e)::text FROM (VALUES ('[1,2]'::embedding), ('[3,4]'), ('[5,9]')) v(e)), '[9,15]', 'sum');
SELECT is((SELECT avg(e)::text FROM (VALUES ('[1,2]'::embedding), (NULL), ('[3,4]')) v(e)), '[2,3]', 'avg skips NULL');
SELECT is((SELECT avg(e) FROM (SELECT '[1]'::embedding WHERE false) v(e)), NULL, 'avg of no rows is NULL');
SELECT is((SELECT sum(e) FROM (VALUES (NULL::embedding)) v(e)), NULL, 'sum of only NULL is NULL');
SELECT is((SELECT avg(e)::text FROM (VALUES ('[0.1]'::embedding), ('[0.2]'), ('[0.3]')) v(e)), '[0.2]',
	'avg sums in double precision');
SELECT throws_ok($$SELECT avg(e) FROM (VALUES ('[1,2]'::embedding), ('[1]')) v(e)$$, '22000',
	'different embedding dimensions 2 and 1', 'avg over mixed dimensions');
SELECT throws_ok($$SELECT sum(e) FROM (VALUES ('[3e38]'::embedding), ('[3e38]')) v(e)$$, '22003',
	'value out of range: overflow', 'sum overflow');

-- parallel aggregation gives the same answer as serial
CREATE TABLE par (e embedding);
INSERT INTO par SELECT ARRAY[i % 7, i % 13, 1]::real[]::embedding FROM generate_series(1, 30000) i;
ANALYZE par;
CREATE TEMP TABLE serial_result AS SELECT avg(e)::text AS a, sum(e)::text AS s FROM par;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text; l text;
BEGIN
	r := '';
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
	RETURN r;
END $f$;
SELECT matches(pg_temp.plan_of('SELECT avg(e), sum(e) FROM par'), 'Partial Aggregate', 'the planner runs avg/sum in parallel');
SELECT is((SELECT avg(e)::text FROM par), (SELECT a FROM serial_result), 'parallel avg equals serial avg');
SELECT is((SELECT sum(e)::text FROM par), (SELECT s FROM serial_result), 'parallel sum equals serial sum');

-- catalog: every function is parallel safe and immutable; all but the aggregate support are strict
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
	JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'relvec'
	WHERE p.prokind = 'f' AND p.proname NOT LIKE 'relvec\_%' AND (p.proparallel <> 's' OR p.provolatile <> 'i')), 0::bigint,
	'every type-level function is IMMUTABLE PARALLEL SAFE');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
	AND d.classid = 'pg_proc'::regclass JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'relvec'
	WHERE p.prokind = 'f' AND NOT p.proisstrict AND p.proname NOT LIKE 'relvec\_%'),
	ARRAY['embedding_accum', 'embedding_combine'], 'only the aggregate transition and combine are non-strict');

SELECT * FROM finish();
ROLLBACK;
