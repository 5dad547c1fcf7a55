-- 012_hardening: no statement crashes the server or yields an invalid embedding. Hand-made
-- aggregate states of every shape, values that break the type's invariants as an older
-- version could have stored them (made here by a binary-coercible cast from bytea, so no
-- relvec function checks them on the way in), and the errors every such case raises.
-- scripts/test.sh also checks that no backend died during the whole suite.
BEGIN;
SELECT plan(68);

CREATE TEMP TABLE backend AS SELECT pg_backend_pid() AS pid;

-- aggregate support functions called directly with hand-made states ------------------------
SELECT throws_ok($$SELECT embedding_avg('{1,NaN}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'avg of a NaN sum (the SIGSEGV)');
SELECT throws_ok($$SELECT embedding_sum('{1,Infinity}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'sum of an infinite sum');
SELECT throws_ok($$SELECT embedding_avg('{1}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state without sums (0 dimensions)');
SELECT throws_ok($$SELECT embedding_avg(array_agg(n)) FROM generate_series(1, 16002) n$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state of 16001 sums');
SELECT lives_ok($$SELECT embedding_avg(array_agg(n)) FROM generate_series(1, 16001) n$$, 'a state of 16000 sums');
SELECT throws_ok($$SELECT embedding_avg('{-1,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a negative count (sign-flipped mean)');
SELECT throws_ok($$SELECT embedding_avg('{0,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a count of zero rows');
SELECT throws_ok($$SELECT embedding_avg('{0.5,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a fractional count');
SELECT throws_ok($$SELECT embedding_sum('{NaN,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a NaN count');
SELECT throws_ok($$SELECT embedding_avg('{{1,2},{3,4}}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a two-dimensional state');
SELECT throws_ok($$SELECT embedding_avg('{1,NULL}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state with a NULL');
SELECT throws_ok($$SELECT embedding_sum('{}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'an empty state');
SELECT is(embedding_avg('{2,4,-6}')::text, '[2,-3]', 'a well-formed state gives its mean');
SELECT is(embedding_sum('{2,4,-6}')::text, '[4,-6]', 'and its sum');
SELECT throws_ok($$SELECT embedding_avg('{1,1e300}')$$, '22003', 'value out of range: overflow',
	'a finite sum beyond float4');

SELECT is(embedding_accum(NULL, '[1,2]'), '{1,1,2}'::float8[], 'accum called directly starts a state');
SELECT is(embedding_accum('{1,1,2}', '[3,4]'), '{2,4,6}'::float8[], 'accum called directly adds a row');
SELECT is(embedding_accum('{1,1,2}', NULL), '{1,1,2}'::float8[], 'accum skips a NULL row');
SELECT is(embedding_accum(NULL, NULL), NULL, 'accum of nothing is NULL');
SELECT is((SELECT array_agg(embedding_accum(s, '[1,1]')) FROM (VALUES ('{1,1,1}'::float8[])) v(s), generate_series(1, 3)),
	'{{2,2,2},{2,2,2},{2,2,2}}'::float8[], 'a direct call never changes its argument in place');
SELECT throws_ok($$SELECT embedding_accum('{-1,1,2}', '[1,2]')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'accum checks the state');
SELECT throws_ok($$SELECT embedding_accum('{1,1}', '[1,2]')$$, '22000',
	'different embedding dimensions 1 and 2', 'accum: a state of other dimensions');
SELECT is(embedding_combine('{1,1,2}', '{2,3,4}'), '{3,4,6}'::float8[], 'combine called directly');
SELECT is(embedding_combine(NULL, '{2,3,4}'), '{2,3,4}'::float8[], 'combine with a NULL first state');
SELECT is(embedding_combine('{2,3,4}', NULL), '{2,3,4}'::float8[], 'combine with a NULL second state');
SELECT is(embedding_combine(NULL, NULL), NULL, 'combine of two NULL states is NULL');
SELECT throws_ok($$SELECT embedding_combine('{2,3,4}', '{1,NaN,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'combine checks the second state');
SELECT throws_ok($$SELECT embedding_combine('{-2,3,4}', '{1,1,1}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'combine checks the first state');
SELECT throws_ok($$SELECT embedding_combine('{2,3,4}', '{2,3}')$$, '22000',
	'different embedding dimensions 2 and 1', 'combine: states of other dimensions');

-- a user-made aggregate over the same support functions cannot smuggle a state in
CREATE AGGREGATE pg_temp.bad_avg(embedding) (SFUNC = embedding_accum, STYPE = float8[],
	FINALFUNC = embedding_avg, INITCOND = '{-3,0}');
SELECT throws_ok($$SELECT pg_temp.bad_avg(e) FROM (VALUES ('[1]'::embedding)) v(e)$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'an INITCOND with a negative count');

-- and the aggregates keep working for a role without privileges, in parallel too
CREATE ROLE relvec_hardening_plain;
CREATE TABLE hard_par (e embedding);
INSERT INTO hard_par SELECT ARRAY[i % 7, i % 13]::real[]::embedding FROM generate_series(1, 30000) i;
ANALYZE hard_par;
GRANT SELECT ON hard_par TO relvec_hardening_plain;
CREATE TABLE hard_serial AS SELECT avg(e)::text AS a, sum(e)::text AS s FROM hard_par;
GRANT SELECT ON hard_serial TO relvec_hardening_plain;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL ROLE relvec_hardening_plain;
SELECT is((SELECT avg(e)::text || sum(e)::text FROM hard_par), (SELECT a || s FROM hard_serial),
	'avg and sum in parallel as a plain role');
RESET ROLE;
RESET max_parallel_workers_per_gather;

-- values that break the invariants, as an older version could have stored them --------------
CREATE CAST (bytea AS embedding) WITHOUT FUNCTION;
CREATE TEMP TABLE bad (id int, e embedding);
INSERT INTO bad VALUES
	(1, '\x00000000'::bytea::embedding),									-- 0 dimensions
	(2, ('\x813e0000'::bytea || decode(repeat('00', 4 * 16001), 'hex'))::embedding),	-- 16001 dimensions
	(3, '\x020000000000c07f0000803f'::bytea::embedding),					-- [NaN,1]
	(4, '\x010000000000'::bytea::embedding),								-- 1 dimension, 2 bytes
	(5, '[1,2]');
SELECT is((SELECT array_agg(embedding_dims(e) ORDER BY id) FROM bad WHERE id <> 4), ARRAY[0, 16001, 2, 2],
	'embedding_dims reads every such value, to find them');
SELECT is((SELECT e::real[] FROM bad WHERE id = 1), '{}'::real[], 'so does the cast to real[]');
SELECT throws_ok($$SELECT e <-> '[1]' FROM bad WHERE id = 1$$, '22000', 'invalid embedding value of 0 dimensions',
	'a distance to a 0-dimension value');
SELECT throws_ok($$SELECT e <=> e FROM bad WHERE id = 2$$, '22000', 'invalid embedding value of 16001 dimensions',
	'a distance to a 16001-dimension value');
SELECT throws_ok($$SELECT embedding_dims(e) FROM bad WHERE id = 4$$, '22000',
	'invalid embedding value of 10 bytes for 1 dimensions', 'a value shorter than its dimensions');
SELECT throws_ok($$SELECT e::text FROM bad WHERE id = 1$$, '22000', 'invalid embedding value of 0 dimensions',
	'its text form (what COPY and pg_dump write)');
SELECT throws_ok($$SELECT e::text FROM bad WHERE id = 3$$, '22000', 'NaN not allowed in embedding',
	'the text form of a stored NaN');
SELECT throws_ok($$SELECT embedding_send(e) FROM bad WHERE id = 3$$, '22000', 'NaN not allowed in embedding',
	'the binary form of a stored NaN');
SELECT ok((SELECT (e <-> '[1,1]') = 'NaN'::float8 FROM bad WHERE id = 3), 'a distance to a stored NaN is NaN, not a crash');
SELECT throws_ok($$SELECT e + e FROM bad WHERE id = 3$$, '22000', 'NaN not allowed in embedding',
	'arithmetic does not pass a stored NaN on');
SELECT throws_ok($$SELECT e::embedding(2) FROM bad WHERE id = 3$$, '22000', 'NaN not allowed in embedding',
	'nor does the typmod coercion');
SELECT throws_ok($$SELECT l2_normalize(e) FROM bad WHERE id = 1$$, '22000', 'invalid embedding value of 0 dimensions',
	'l2_normalize of a 0-dimension value');
SELECT throws_ok($$SELECT avg(e) FROM bad WHERE id IN (3, 5)$$, '22000', 'NaN not allowed in embedding',
	'avg over a stored NaN names it');
SELECT throws_ok($$SELECT avg(e) FROM bad WHERE id = 1$$, '22000', 'invalid embedding value of 0 dimensions',
	'avg over a 0-dimension value');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT id, e FROM bad WHERE id = 5', 'SELECT id, e FROM bad', 1, 'l2')$$,
	'22000', 'invalid embedding value of 0 dimensions', 'relvec_knn over a 0-dimension value (the floating-point exception)');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT id, e FROM bad WHERE id = 5', 'SELECT id, e FROM bad WHERE id IN (3, 5)', 1, 'l2')$$,
	'22000', 'NaN not allowed in embedding', 'relvec_knn over a stored NaN');
CREATE TEMP TABLE bad_idx (id int, e embedding);
CREATE INDEX ON bad_idx USING rvflat (e embedding_l2_ops);
SELECT throws_ok($$INSERT INTO bad_idx SELECT id, e FROM bad WHERE id = 1$$, '22000',
	'invalid embedding value of 0 dimensions', 'rvflat refuses a 0-dimension value');
SELECT throws_ok($$CREATE INDEX ON bad USING rvflat (e embedding_l2_ops)$$, '22000',
	'invalid embedding value of 0 dimensions', 'and an rvflat build over one');
SELECT lives_ok($$DELETE FROM bad WHERE id <> 4 AND embedding_dims(e) NOT BETWEEN 1 AND 16000$$,
	'such rows can be found and removed');

-- numbers: norms of tiny and subnormal values, the underflow rule of * ------------------------
CREATE TEMP TABLE tiny AS SELECT array_fill(1e-40::real, ARRAY[16])::embedding AS e16,
	array_fill(1e-40::real, ARRAY[64])::embedding AS e64;
SELECT ok((SELECT abs(embedding_norm(e16) - 4e-40) < 1e-44 FROM tiny), 'norm of sixteen 1e-40 values is 4e-40 (pgvector''s too)');
SELECT ok((SELECT abs(embedding_norm(e64) - 8e-40) < 1e-44 FROM tiny), 'norm of 64 values of 1e-40 is 8e-40');
SELECT is((SELECT l2_normalize(e16)::text FROM tiny), '[' || array_to_string(array_fill('0.25'::text, ARRAY[16]), ',') || ']',
	'l2_normalize scales subnormal values to unit length');
SELECT ok((SELECT abs(embedding_norm(l2_normalize(e64)) - 1) < 1e-6 FROM tiny), 'and 64 of them to norm 1');
SELECT is((SELECT e64 <=> e64 FROM tiny), 0::float8, 'cosine distance of a subnormal vector to itself is 0');
SELECT ok((SELECT abs((e16 <=> ('[' || array_to_string(array_fill('1'::text, ARRAY[16]), ',') || ']')::embedding)) < 1e-12 FROM tiny),
	'and to a normal vector of the same direction');
SELECT ok(abs((array_fill(1e-20::real, ARRAY[100])::embedding <=> array_fill(-1e-20::real, ARRAY[100])::embedding) - 2) < 1e-12,
	'opposite vectors of 1e-20 values: cosine distance 2');
-- 40 dimensions, so that the float lanes of every loop see them
CREATE TEMP TABLE tiny_corpus AS SELECT i AS id,
	(array_fill(1e-39::real * i, ARRAY[20]) || array_fill(1e-39::real * (50 - i), ARRAY[20]))::embedding AS e
	FROM generate_series(1, 49) i;
CREATE TEMP TABLE tiny_query AS SELECT 0 AS id, array_fill(1e-39::real, ARRAY[40])::embedding AS e;
SELECT is((SELECT array_agg(corpus_key::int ORDER BY rank) FROM relvec_knn('SELECT id, e FROM tiny_query',
		'SELECT id, e FROM tiny_corpus', 5, 'cosine')),
	(SELECT array_agg(id) FROM (SELECT c.id FROM tiny_corpus c, tiny_query q ORDER BY c.e <=> q.e, c.id LIMIT 5) t),
	'relvec_knn by cosine over subnormal vectors equals ORDER BY <=>');
SELECT is((SELECT corpus_key FROM relvec_knn('SELECT id, e FROM tiny_query', 'SELECT id, e FROM tiny_corpus', 1, 'cosine')),
	'25', 'the nearest direction comes first');
SELECT throws_ok($$SELECT '[1e-37]'::embedding * '[1e-37]'$$, '22003', 'value out of range: underflow',
	'a nonzero product that underflows to zero (pgvector raises the same)');
SELECT throws_ok($$SELECT '[1,1e-30]'::embedding * '[1,-1e-30]'$$, '22003', 'value out of range: underflow',
	'in any position, of any sign');
SELECT is(('[0,2]'::embedding * '[1e-37,3]')::text, '[0,6]', 'a zero factor gives a plain zero');
SELECT ok((SELECT x[1] > 0 AND x[1] < 1.2e-38 FROM (SELECT ('[1e-20]'::embedding * '[1e-20]')::real[] AS x) v),
	'a subnormal product is kept');
SELECT throws_ok($$SELECT '[3e38,1]'::embedding + '[3e38,1]'$$, '22003', 'value out of range: overflow', '+ overflow');
SELECT throws_ok($$SELECT '[-3e38]'::embedding - '[3e38]'$$, '22003', 'value out of range: overflow', '- overflow');
SELECT throws_ok($$SELECT '[2e19]'::embedding * '[-2e19]'$$, '22003', 'value out of range: overflow', '* overflow');
SELECT ok((SELECT x[1] = (1e-38::real - 9e-39::real) AND x[1] > 0 FROM (SELECT ('[1e-38]'::embedding - '[9e-39]')::real[] AS x) v),
	'a difference in the subnormal range is exact, no error');

SELECT is((SELECT pid FROM backend), pg_backend_pid(), 'the backend that ran all of the above is still the same');

SELECT * FROM finish();
ROLLBACK;
