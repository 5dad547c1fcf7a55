-- 012_hardening: no statement crashes the server or yields an invalid embedding. Hand-made
-- aggregate states of every shape, values that break the type's invariants as an older
-- version could have stored them (made here by a binary-coercible cast from bytea, so no
-- relvec function checks them on the way in), and the errors every such case raises.
-- scripts/test.sh also checks that no backend died during the whole suite.
BEGIN;
SELECT plan(97);

CREATE TEMP TABLE backend AS SELECT pg_backend_pid() AS pid;

-- aggregate support functions called directly with hand-made states ------------------------
SELECT throws_ok($$SELECT embedding_avg('{0,1,NaN}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'avg of a NaN sum (the SIGSEGV)');
SELECT throws_ok($$SELECT embedding_sum('{0,1,Infinity}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'sum of an infinite sum');
SELECT throws_ok($$SELECT embedding_avg('{0,1}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state without sums (0 dimensions)');
SELECT throws_ok($$SELECT embedding_avg(ARRAY[0::float8] || array_agg(n::float8)) FROM generate_series(1, 16002) n$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state of 16001 sums');
SELECT lives_ok($$SELECT embedding_avg(ARRAY[0::float8] || array_agg(n::float8)) FROM generate_series(1, 16001) n$$, 'a state of 16000 sums');
SELECT throws_ok($$SELECT embedding_avg('{0,-1,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a negative count (sign-flipped mean)');
SELECT throws_ok($$SELECT embedding_avg('{0,0,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a count of zero rows');
SELECT throws_ok($$SELECT embedding_avg('{0,0.5,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a fractional count');
SELECT throws_ok($$SELECT embedding_sum('{0,NaN,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a NaN count');
SELECT throws_ok($$SELECT embedding_avg('{{1,2},{3,4}}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a two-dimensional state');
SELECT throws_ok($$SELECT embedding_avg('{0,1,NULL}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state with a NULL');
SELECT throws_ok($$SELECT embedding_sum('{}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'an empty state');
SELECT is(embedding_avg('{0,2,4,-6}')::text, '[2,-3]', 'a well-formed state gives its mean');
SELECT is(embedding_sum('{0,2,4,-6}')::text, '[4,-6]', 'and its sum');
SELECT throws_ok($$SELECT embedding_avg('{0,1,1e300}')$$, '22003', 'value out of range: overflow',
	'a finite sum beyond float4');

SELECT is(embedding_accum(NULL, '[1,2]'), '{0,1,1,2}'::float8[], 'accum called directly starts a state');
SELECT is(embedding_accum('{0,1,1,2}', '[3,4]'), '{0,2,4,6}'::float8[], 'accum called directly adds a row');
SELECT is(embedding_accum('{0,1,1,2}', NULL), '{0,1,1,2}'::float8[], 'accum skips a NULL row');
SELECT is(embedding_accum(NULL, NULL), NULL, 'accum of nothing is NULL');
SELECT is((SELECT array_agg(embedding_accum(s, '[1,1]')) FROM (VALUES ('{0,1,1,1}'::float8[])) v(s), generate_series(1, 3)),
	'{{0,2,2,2},{0,2,2,2},{0,2,2,2}}'::float8[], 'a direct call never changes its argument in place');
SELECT throws_ok($$SELECT embedding_accum('{0,-1,1,2}', '[1,2]')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'accum checks the state');
SELECT throws_ok($$SELECT embedding_accum('{0,1,1}', '[1,2]')$$, '22000',
	'different embedding dimensions 1 and 2', 'accum: a state of other dimensions');
SELECT is(embedding_combine('{0,1,1,2}', '{0,2,3,4}'), '{0,3,4,6}'::float8[], 'combine called directly');
SELECT is(embedding_combine(NULL, '{0,2,3,4}'), '{0,2,3,4}'::float8[], 'combine with a NULL first state');
SELECT is(embedding_combine('{0,2,3,4}', NULL), '{0,2,3,4}'::float8[], 'combine with a NULL second state');
SELECT is(embedding_combine(NULL, NULL), NULL, 'combine of two NULL states is NULL');
SELECT throws_ok($$SELECT embedding_combine('{0,2,3,4}', '{0,1,NaN,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'combine checks the second state');
SELECT throws_ok($$SELECT embedding_combine('{0,-2,3,4}', '{0,1,1,1}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'combine checks the first state');
SELECT throws_ok($$SELECT embedding_combine('{0,2,3,4}', '{0,2,3}')$$, '22000',
	'different embedding dimensions 2 and 1', 'combine: states of other dimensions');

-- the state's first value is the space of the values summed
SELECT throws_ok($$SELECT embedding_avg('{0.5,1,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a fractional space in a state');
SELECT throws_ok($$SELECT embedding_avg('{70000,1,4}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a space beyond 65535');
SELECT throws_ok($$SELECT embedding_avg('{1}')$$, '22023',
	'invalid aggregate state for avg(embedding) or sum(embedding)', 'a state without a row count');
SELECT throws_ok($$SELECT embedding_combine('{3,1,1}', '{5,1,1}')$$, '42804', NULL,
	'combine: states of two spaces');
SELECT is(embedding_combine('{0,1,1}', '{5,1,1}'), '{5,2,2}'::float8[], 'combine: an untagged state takes the other''s space');

-- a user-made aggregate over the same support functions cannot smuggle a state in
CREATE AGGREGATE pg_temp.bad_avg(embedding) (SFUNC = embedding_accum, STYPE = float8[],
	FINALFUNC = embedding_avg, INITCOND = '{0,-3,0}');
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
CREATE FUNCTION pg_temp.explain_analyze(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text := ''; l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
	RETURN r;
END $f$;
SET LOCAL ROLE relvec_hardening_plain;
-- (pgTAP's functions are parallel unsafe: a query under is() never runs in parallel)
CREATE TEMP TABLE hard_par_res AS SELECT avg(e)::text AS a, sum(e)::text AS s FROM hard_par;
SELECT is((SELECT a || s FROM hard_par_res), (SELECT a || s FROM hard_serial), 'avg and sum in parallel as a plain role');
SELECT matches(pg_temp.explain_analyze('SELECT avg(e), sum(e) FROM hard_par'), 'Workers Launched: [1-9]',
	'in parallel workers indeed (combine function included)');
RESET ROLE;
RESET max_parallel_workers_per_gather;

-- an interrupt that is served and forgotten is not a cancel: parallel workers' last messages
-- (after a parallel query, at any time), a barrier or, here deterministically, a request to
-- log memory contexts set InterruptPending; a bridge call that polled it stopped and raised
-- 57014 "top-k search interrupted". The signal comes while the corpus chunk's last row is
-- made, so no CHECK_FOR_INTERRUPTS serves it before the bridge polls.
SELECT is((SELECT count(*) FROM relvec_knn_chunked('SELECT 0, ''[1,1]''::embedding',
		$q$SELECT i, CASE WHEN i = 5 AND pg_log_backend_memory_contexts(pg_backend_pid()) THEN ARRAY[i, 1]::embedding
			ELSE ARRAY[i, 2]::embedding END FROM generate_series(1, 5) i$q$, 2, 'l2', 1, 5)), 2::bigint,
	'a bridge call polled while an interrupt other than a cancel is pending goes on');

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

-- query text arguments: DML, several statements, empty, syntax errors ------------------------
CREATE TABLE hq (k text, e embedding);
INSERT INTO hq SELECT 'k' || i, ARRAY[i, i * i % 7, 1 + i % 3]::embedding FROM generate_series(1, 20) i;
CREATE TABLE hq2 (k text, e embedding);
INSERT INTO hq2 SELECT 'k' || i, ARRAY[i % 5, 1 + i * i % 3]::embedding FROM generate_series(1, 20) i;
SELECT throws_ok($$SELECT * FROM relvec_knn('INSERT INTO hq VALUES (''x'', ''[1,2,3]'') RETURNING k, e', 'SELECT k, e FROM hq', 1)$$,
	'22023', 'the queries must be a read-only query', 'relvec_knn: DML with RETURNING as the queries');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT k, e FROM hq', 'WITH d AS (DELETE FROM hq RETURNING *) SELECT k, e FROM d', 1)$$,
	'22023', 'the corpus must be a read-only query', 'relvec_knn: a WITH clause that deletes');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT k, e FROM hq FOR UPDATE', 'SELECT k, e FROM hq', 1)$$,
	'22023', 'the queries must be a read-only query', 'relvec_knn: SELECT FOR UPDATE');
SELECT is((SELECT count(*) FROM hq), 20::bigint, 'and none of them ran');
SELECT throws_ok($$SELECT * FROM relvec_knn('', 'SELECT k, e FROM hq', 1)$$,
	'42804', 'the queries must be a single statement that returns rows', 'relvec_knn: an empty query');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT k, e FROM hq; SELECT k, e FROM hq', 'SELECT k, e FROM hq', 1)$$,
	'42804', 'the queries must be a single statement that returns rows', 'relvec_knn: two statements');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT k, e FROM hq', 'SELEC k', 1)$$, '42601', NULL, 'relvec_knn: a syntax error');
SELECT is((SELECT count(*) FROM relvec_knn_chunked('SELECT k, e FROM hq', 'SELECT k, e FROM hq', 3, 'l2', 2147483647, 2147483647)),
	60::bigint, 'chunk sizes of INT_MAX only cap the chunks (no huge allocation)');
SELECT throws_ok($$SELECT relvec_check_query('DELETE FROM hq RETURNING k, e', 'key_embedding')$$,
	'22023', 'query must be a read-only query', 'relvec_check_query (behind the catalog functions): DML');
SELECT throws_ok($$SELECT relvec_check_query('SELECT k, e FROM hq', 'keys')$$,
	'22023', 'unknown query shape "keys": expected embedding or key_embedding', 'relvec_check_query: an unknown shape (was XX000)');
SELECT throws_ok($$SELECT relvec_check_query('SELECT k, e FROM hq', NULL)$$,
	'22004', 'shape must not be null', 'relvec_check_query: a null shape');
SELECT throws_ok($$SELECT * FROM relvec_pick_anchors('SELECT k, e FROM hq', 2147483647, 'random', 0)$$,
	'22023', 'cannot choose 2147483647 anchors from 20 items', 'relvec_pick_anchors: k = INT_MAX (was XX000, an alloc of 16 GB)');
SELECT is((SELECT count(*) FROM relvec_pick_anchors('SELECT k, e FROM hq -- the anchors', 3, 'kmeans', 7)), 3::bigint,
	'relvec_pick_anchors: a query ending in a comment');

-- a frozen set whose space changed under it, a NaN anchor -----------------------------------
SELECT relvec_create_space('h3', 3);
SELECT relvec_create_space('h2', 2);
SELECT throws_ok($$SELECT relvec_choose_anchors('hs', 'h3', 'SELECT k, e FROM hq', 2147483647)$$,
	'22023', 'cannot choose 2147483647 anchors from 20 items', 'relvec_choose_anchors: k = INT_MAX');
SELECT relvec_create_anchor_set('hs', ARRAY['k1', 'k2', 'k3', 'k4', 'k5']);
SELECT relvec_set_anchors('hs', 'h3', 'SELECT k, e FROM hq WHERE k IN (''k1'', ''k2'', ''k3'', ''k4'', ''k5'')');
SELECT relvec_set_anchors('hs', 'h2', 'SELECT k, e FROM hq2 WHERE k IN (''k1'', ''k2'', ''k3'', ''k4'', ''k5'')');
SELECT relvec_freeze_anchor_set('hs');
SELECT lives_ok($$SELECT relvec_project('[1,2,3]', 'hs', 'h3')$$, 'the set projects');
SELECT throws_ok($$SELECT count(*) FROM relvec_project_query('DELETE FROM hq RETURNING k, e', 'hs', 'h3')$$,
	'22023', 'query must be a read-only query', 'relvec_project_query: DML');
SELECT throws_ok($$SELECT count(*) FROM relvec_project_query('', 'hs', 'h3')$$,
	'42804', 'query must be a single statement that returns rows', 'relvec_project_query: an empty query');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('hs', 'h3', 'h2', 'UPDATE hq SET k = k RETURNING k, e, e', 2)$$,
	'22023', 'items must be a read-only query', 'relvec_compare_spaces: DML');
UPDATE relvec_spaces SET dims = 4 WHERE name = 'h3';
SELECT throws_ok($$SELECT relvec_project('[1,2,3,4]', 'hs', 'h3', 'cosine', 'anchors')$$,
	'22000', 'anchor "k1" of set "hs" has 3 dimensions, space "h3" has 4', 'anchors of other dimensions than their space (was XX000)');
SELECT throws_ok($$SELECT relvec_fit_translation('hs', 'h3', 'h2')$$,
	'22000', 'anchor "k1" of set "hs" has 3 dimensions, space "h3" has 4', 'and when fitting a translation');
UPDATE relvec_spaces SET dims = 3 WHERE name = 'h3';
SELECT relvec_create_anchor_set('hn', ARRAY['k1', 'k2']);
SELECT relvec_set_anchors('hn', 'h2', $q$SELECT 'k1', '\x020000000000c07f0000803f'::bytea::embedding UNION ALL SELECT 'k2', '[1,2]'$q$);
SELECT relvec_freeze_anchor_set('hn');
SELECT throws_ok($$SELECT relvec_project('[1,2]', 'hn', 'h2')$$, '22000', 'NaN not allowed in embedding',
	'a NaN anchor an older version stored');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('hs', 'h3', 'h2',
		$q$SELECT k, hq.e, CASE WHEN k = 'k7' THEN '\x020000000000c07f0000803f'::bytea::embedding ELSE b.e END FROM hq JOIN hq2 b USING (k)$q$, 2)$$,
	'22000', 'NaN not allowed in embedding', 'relvec_compare_spaces over a stored NaN');

SELECT is((SELECT pid FROM backend), pg_backend_pid(), 'the backend that ran all of the above is still the same');

SELECT * FROM finish();
ROLLBACK;
