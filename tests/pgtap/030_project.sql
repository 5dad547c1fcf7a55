-- 030_project: spaces, anchor sets, parallel anchors and relative projection, on the real
-- Fashion-MNIST fixtures (two independently trained encoders, 300 parallel anchors).
BEGIN;
SELECT plan(79);

-- spaces ---------------------------------------------------------------------------------
SELECT lives_ok($$SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A')$$, 'create space mlp_a');
SELECT lives_ok($$SELECT relvec_create_space('mlp_b', 64)$$, 'create space mlp_b (no description)');
SELECT is((SELECT dims FROM relvec_spaces WHERE name = 'mlp_a'), 64, 'dims stored');
SELECT throws_ok($$SELECT relvec_create_space('mlp_a', 64)$$, '42710', 'space "mlp_a" already exists', 'duplicate space');
SELECT throws_ok($$SELECT relvec_create_space('z', 0)$$, '22023', 'dimensions of space "z" must be at least 1', 'zero dims');
SELECT throws_ok($$SELECT relvec_create_space('z', 16001)$$, '54000', 'dimensions of space "z" cannot exceed 16000', 'too many dims');
SELECT throws_ok($$SELECT relvec_create_space(NULL, 3)$$, '22004', 'space name must not be null', 'null name');
SELECT throws_ok($$SELECT relvec_create_space('', 3)$$, '22023', 'space name must not be empty', 'empty name');

-- anchor sets -------------------------------------------------------------------------------
SELECT lives_ok($$SELECT relvec_create_anchor_set('fm300',
	(SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor))$$, 'create a 300-anchor set');
SELECT is((SELECT cardinality(keys) FROM relvec_anchor_sets WHERE name = 'fm300'), 300, 'keys stored in order');
SELECT throws_ok($$SELECT relvec_create_anchor_set('fm300', ARRAY['1'])$$, '42710', 'anchor set "fm300" already exists', 'duplicate set');
SELECT throws_ok($$SELECT relvec_create_anchor_set('d', ARRAY['1','2','1'])$$, '23505', 'anchor key "1" appears more than once', 'duplicate key');
SELECT throws_ok($$SELECT relvec_create_anchor_set('d', ARRAY[]::text[])$$, '22023', 'anchor set "d" needs at least one key', 'no keys');
SELECT throws_ok($$SELECT relvec_create_anchor_set('d', ARRAY['1', NULL])$$, '22004', 'anchor keys must not contain nulls', 'null key');

-- parallel anchors: errors leave nothing behind ------------------------------------------------
SELECT throws_ok($$SELECT relvec_set_anchors('nope', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist')$$, '42704',
	'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'nope', 'SELECT idx, a FROM fixtures.fmnist')$$, '42704',
	'space "nope" does not exist', 'unknown space');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT a FROM fixtures.fmnist')$$, '42804',
	'query must return two columns, (key, embedding)', 'one column');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, label FROM fixtures.fmnist')$$, '42804',
	'query must return two columns, (key, embedding)', 'second column not an embedding');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor AND anchor_no > 1')$$,
	'22000', NULL, 'a missing anchor key');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist')$$, '22000', NULL,
	'a key that is not an anchor');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor UNION ALL SELECT idx, a FROM fixtures.fmnist WHERE anchor_no = 7')$$,
	'23505', NULL, 'an anchor key twice');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist WHERE is_anchor')$$,
	'22000', NULL, 'anchors of the wrong dimensions');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, CASE WHEN anchor_no = 3 THEN NULL ELSE a END FROM fixtures.fmnist WHERE is_anchor')$$,
	'22004', 'query returns a row with a null key or embedding', 'a null embedding');
SELECT is((SELECT count(*) FROM relvec_anchors), 0::bigint, 'failed calls stored nothing');
SELECT is(relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor'), 300, '300 anchors in mlp_a');
SELECT is(relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor'), 300, '300 anchors in mlp_b');
SELECT throws_ok($$SELECT relvec_project(a, 'fm300', 'mlp_a') FROM fixtures.fmnist LIMIT 1$$, '55000',
	'anchor set "fm300" is not frozen', 'projection needs a frozen set');

-- freezing --------------------------------------------------------------------------------
SELECT relvec_create_anchor_set('empty', ARRAY['60000']);
SELECT throws_ok($$SELECT relvec_freeze_anchor_set('empty')$$, '55000', 'anchor set "empty" has no embeddings in any space', 'nothing to freeze');
SELECT relvec_create_anchor_set('zero', ARRAY['60000', '60001']);
SELECT relvec_set_anchors('zero', 'mlp_a', $$SELECT idx, CASE WHEN idx = 60001 THEN array_fill(0::real, ARRAY[64])::embedding ELSE a END
	FROM fixtures.fmnist WHERE idx IN (60000, 60001)$$);
SELECT throws_ok($$SELECT relvec_freeze_anchor_set('zero')$$, '22000', 'anchor "60001" of set "zero" is a zero vector in space "mlp_a"',
	'zero-norm anchor');
SELECT lives_ok($$SELECT relvec_freeze_anchor_set('fm300')$$, 'freeze a complete set');
SELECT ok((SELECT frozen FROM relvec_anchor_sets WHERE name = 'fm300'), 'it is frozen');
SELECT throws_ok($$SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor')$$, '55000',
	'anchor set "fm300" is frozen', 'a frozen set cannot take new anchors');
SELECT throws_ok($$UPDATE relvec_anchors SET e = e + e WHERE key = (SELECT keys[1] FROM relvec_anchor_sets WHERE name = 'fm300')$$,
	'55000', 'anchor set "fm300" is frozen', 'nor be edited directly');
SELECT throws_ok($$UPDATE relvec_anchor_sets SET frozen = false WHERE name = 'fm300'$$, '55000', 'anchor set "fm300" is frozen',
	'nor be unfrozen');
SELECT throws_ok($$INSERT INTO relvec_anchors SELECT set_id, space_id, ord + 1000, key || 'x', e FROM relvec_anchors
	WHERE set_id = (SELECT set_id FROM relvec_anchor_sets WHERE name = 'fm300') LIMIT 1$$, '55000', 'anchor set "fm300" is frozen',
	'nor take extra anchor rows in a complete space');
SELECT throws_ok($$DELETE FROM relvec_anchors WHERE set_id = (SELECT set_id FROM relvec_anchor_sets WHERE name = 'fm300')$$,
	'55000', 'anchor set "fm300" is frozen', 'nor lose anchors');
SELECT ok((SELECT count(*) = 3 FROM pg_extension, unnest(extconfig) c WHERE extname = 'relvec'
	AND c::regclass::text IN ('relvec_spaces', 'relvec_anchor_sets', 'relvec_anchors')), 'catalog tables are dumped by pg_dump');

-- projection: errors -----------------------------------------------------------------------
SELECT throws_ok($$SELECT relvec_project('[1,2]', 'nope', 'mlp_a')$$, '42704', 'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok($$SELECT relvec_project('[1,2]', 'fm300', 'nope')$$, '42704', 'space "nope" does not exist', 'unknown space');
SELECT throws_ok($$SELECT relvec_project('[1,2]', 'fm300', 'mlp_a')$$, '22000', 'embedding has 2 dimensions, space "mlp_a" has 64',
	'dimension mismatch');
SELECT throws_ok($$SELECT relvec_project(a, 'fm300', 'mlp_a', 'cos') FROM fixtures.fmnist LIMIT 1$$, '22023',
	'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'unknown similarity');
SELECT throws_ok($$SELECT relvec_project(a, 'fm300', 'mlp_a', 'cosine+cosine') FROM fixtures.fmnist LIMIT 1$$, '22023',
	'similarity "cosine+cosine" names "cosine" twice', 'repeated similarity');
SELECT throws_ok($$SELECT relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'middle') FROM fixtures.fmnist LIMIT 1$$, '22023',
	'unknown center "middle": expected none, anchors or space', 'unknown center');
SELECT throws_ok($$SELECT relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'space') FROM fixtures.fmnist LIMIT 1$$, '55000',
	'space "mlp_a" has no stored mean', 'center space needs a stored mean');
SELECT relvec_create_space('mlp_c', 64);
SELECT throws_ok($$SELECT relvec_project(a, 'fm300', 'mlp_c') FROM fixtures.fmnist LIMIT 1$$, '55000',
	'anchor set "fm300" has no embeddings in space "mlp_c"', 'a space the set has no anchors in');
SELECT throws_ok($$SELECT relvec_set_space_mean('mlp_a', 'SELECT idx, a FROM fixtures.fmnist')$$, '42804',
	'query must return one embedding column', 'space mean from the wrong columns');
SELECT throws_ok($$SELECT relvec_set_space_mean('mlp_a', 'SELECT subvector(a, 1, 3) FROM fixtures.fmnist')$$, '22000', NULL,
	'space mean of the wrong dimensions');
SELECT lives_ok($$SELECT relvec_set_space_mean('mlp_a', 'SELECT a FROM fixtures.fmnist')$$, 'store the space mean of mlp_a');

-- projection: against an independent computation of the formula ---------------------------------
-- sim(x - c, a_j - c) in float8 from the arrays; cosine with a zero vector is 0
CREATE FUNCTION pg_temp.ref_sim(x real[], a real[], c float8[], sim text) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE sim
		WHEN 'cosine' THEN CASE WHEN sum(xx * xx) = 0 OR sum(aa * aa) = 0 THEN 0
		                        ELSE sum(xx * aa) / (sqrt(sum(xx * xx)) * sqrt(sum(aa * aa))) END
		WHEN 'euclidean' THEN -sqrt(sum((xx - aa) ^ 2))
		WHEN 'l1' THEN -sum(abs(xx - aa))
		WHEN 'linf' THEN -max(abs(xx - aa)) END
	FROM (SELECT x[i]::float8 - coalesce(c[i], 0) AS xx, a[i]::float8 - coalesce(c[i], 0) AS aa
	      FROM generate_subscripts(x, 1) i) t $$;
CREATE FUNCTION pg_temp.ref_project(x embedding, space text, sim text, center text) RETURNS float8[] LANGUAGE sql STABLE AS $$
	WITH anchors AS (SELECT a.ord, a.e::real[] AS e FROM relvec_anchors a JOIN relvec_spaces s USING (space_id)
	                 JOIN relvec_anchor_sets t USING (set_id) WHERE s.name = space AND t.name = 'fm300'),
	     c AS (SELECT CASE center
	                    WHEN 'anchors' THEN (SELECT array_agg(m ORDER BY i) FROM (SELECT i, avg(e[i]::float8) AS m
	                                          FROM anchors, generate_series(1, 64) i GROUP BY i) q)
	                    WHEN 'space' THEN (SELECT mean::real[]::float8[] FROM relvec_spaces WHERE name = space)
	                  END AS v)
	SELECT array_agg(pg_temp.ref_sim(x::real[], anchors.e, c.v, sim) ORDER BY anchors.ord) FROM anchors, c $$;
CREATE FUNCTION pg_temp.max_rel_err(got embedding, want float8[]) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT max(abs(g::float8 - w) / greatest(1, abs(w))) FROM unnest(got::real[], want) u(g, w) $$;
CREATE TEMP TABLE probe AS SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY idx LIMIT 5;

SELECT cmp_ok((SELECT max(pg_temp.max_rel_err(relvec_project(a, 'fm300', 'mlp_a', s, c), pg_temp.ref_project(a, 'mlp_a', s, c)))
               FROM probe), '<', 1e-5::float8, format('similarity %s, center %s: agrees with the formula to 1e-5', s, c))
FROM unnest(ARRAY['cosine', 'euclidean', 'l1', 'linf']) s, unnest(ARRAY['none', 'anchors', 'space']) c;

-- several similarities: each sub-vector standardized over its own 300 values, then concatenated
CREATE FUNCTION pg_temp.standardized(v float8[]) RETURNS float8[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg((x - m) / sd ORDER BY i) FROM unnest(v) WITH ORDINALITY u(x, i),
		(SELECT avg(x) AS m, stddev_pop(x) AS sd FROM unnest(v) x) s $$;
SELECT cmp_ok((SELECT max(pg_temp.max_rel_err(relvec_project(a, 'fm300', 'mlp_a', 'cosine+euclidean'),
		pg_temp.standardized(pg_temp.ref_project(a, 'mlp_a', 'cosine', 'none'))
		|| pg_temp.standardized(pg_temp.ref_project(a, 'mlp_a', 'euclidean', 'none')))) FROM probe),
	'<', 1e-5::float8, 'cosine+euclidean: standardized sub-vectors, concatenated');
SELECT is((SELECT embedding_dims(relvec_project(a, 'fm300', 'mlp_a', 'cosine+euclidean+l1')) FROM probe LIMIT 1), 900,
	'three similarities give 900 dimensions');
SELECT cmp_ok((SELECT max(abs(embedding_norm(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'none', true)) - 1)) FROM probe),
	'<', 1e-6::float8, 'normalize gives unit vectors');
SELECT cmp_ok((SELECT max(pg_temp.max_rel_err(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'none', true),
		(SELECT array_agg(x / sqrt(s)) FROM unnest(pg_temp.ref_project(a, 'mlp_a', 'cosine', 'none')) x,
		 (SELECT sum(y * y) AS s FROM unnest(pg_temp.ref_project(a, 'mlp_a', 'cosine', 'none')) y) n))) FROM probe),
	'<', 1e-5::float8, 'normalize divides by the norm');

-- the batched form gives the same vectors as one-at-a-time
SELECT cmp_ok((SELECT max(pg_temp.max_rel_err(q.relative, relvec_project(f.a, 'fm300', 'mlp_a', 'euclidean', 'anchors')::real[]::float8[]))
	FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm300', 'mlp_a', 'euclidean', 'anchors') q
	JOIN fixtures.fmnist f ON f.idx::text = q.key), '<', 1e-5::float8, 'relvec_project_query equals relvec_project on all 1300 rows (1e-5: batch and single row round differently)');
SELECT is((SELECT count(*) FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm300', 'mlp_a')), 1300::bigint,
	'relvec_project_query returns every row');
SELECT throws_ok($$SELECT * FROM relvec_project_query('SELECT a FROM fixtures.fmnist', 'fm300', 'mlp_a')$$, '42804',
	'query must return two columns, (key, embedding)', 'batched: wrong columns');
SELECT throws_ok($$SELECT * FROM relvec_project_query('SELECT idx, subvector(a, 1, 8) FROM fixtures.fmnist', 'fm300', 'mlp_a')$$, '22000',
	NULL, 'batched: wrong dimensions');
SELECT throws_ok($$SELECT * FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm300', 'mlp_a', 'cos')$$, '22023',
	NULL, 'batched: unknown similarity');

-- proof on real data: relative vectors of the same item agree across encoders, absolute ones do not
SELECT cmp_ok((SELECT avg(1 - (relvec_project(a, 'fm300', 'mlp_a') <=> relvec_project(b, 'fm300', 'mlp_b')))
	FROM fixtures.fmnist WHERE NOT is_anchor) - 0.9737, '<', 0.005::float8, 'relative/none mean cosine near the reference 0.9737');
SELECT cmp_ok((SELECT avg(1 - (relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'anchors') <=> relvec_project(b, 'fm300', 'mlp_b', 'cosine', 'anchors')))
	FROM fixtures.fmnist WHERE NOT is_anchor), '>', 0.9549::float8, 'relative/anchors mean cosine near the reference 0.9599');
SELECT cmp_ok((SELECT avg(1 - (a <=> b)) FROM fixtures.fmnist WHERE NOT is_anchor), '<', 0.2::float8,
	'absolute vectors of the same item are unrelated (reference 0.1008)');

-- anchor choice -------------------------------------------------------------------------------
SELECT is(relvec_choose_anchors('r1', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 5, 'random', 7),
	relvec_choose_anchors('r2', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY random()', 5, 'random', 7),
	'random: the same seed gives the same anchors whatever the row order');
SELECT isnt(relvec_choose_anchors('r3', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 5, 'random', 8),
	(SELECT keys FROM relvec_anchor_sets WHERE name = 'r1'), 'another seed, other anchors');
SELECT is(relvec_choose_anchors('f1', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 20, 'fps', 1),
	relvec_choose_anchors('f2', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY idx DESC', 20, 'fps', 1),
	'fps is deterministic');
SELECT is(relvec_choose_anchors('k1', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 10, 'kmeans', 3),
	relvec_choose_anchors('k2', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 10, 'kmeans', 3),
	'kmeans is deterministic');
SELECT is((SELECT count(DISTINCT k) FROM relvec_anchor_sets, unnest(keys) k WHERE name = 'k1'), 10::bigint, 'kmeans picks distinct real items');
SELECT throws_ok($$SELECT relvec_choose_anchors('x', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist', 5, 'median')$$, '22023',
	'unknown anchor method "median": expected random, fps or kmeans', 'unknown method');
SELECT throws_ok($$SELECT relvec_choose_anchors('x', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE idx BETWEEN 60000 AND 60002', 5)$$, '22023',
	'cannot choose 5 anchors from 3 items', 'more anchors than items');

SELECT * FROM finish();
ROLLBACK;
