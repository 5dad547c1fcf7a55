-- 080_compare: relvec_compare_spaces on the Fashion-MNIST fixtures. On 50 test items every
-- metric is recomputed in plain SQL (ORDER BY ... LIMIT neighbourhoods, ranks by counting,
-- CKA from the n x n Gram matrices of centered vectors) and must agree; on all 1,000 test
-- items the routes rank as on the full data (translation > relative > absolute).
BEGIN;
SELECT plan(33);

SELECT relvec_create_space('mlp_a', 64);
SELECT relvec_create_space('mlp_b', 64);
SELECT relvec_create_space('s3', 3);
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_fit_translation('fm300', 'mlp_a', 'mlp_b');

CREATE TEMP TABLE it AS
	SELECT idx, a, b, relvec_project(a, 'fm300', 'mlp_a') q, relvec_project(b, 'fm300', 'mlp_b') c,
	       relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') t
	FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY idx LIMIT 50;
CREATE TEMP TABLE r AS SELECT 'relative'::text via, * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
	'SELECT idx, a, b FROM it ORDER BY idx', 5);
INSERT INTO r SELECT 'translation', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
	'SELECT idx, a, b FROM it ORDER BY idx', 5, 'translation');
INSERT INTO r SELECT 'absolute', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
	'SELECT idx, a, b FROM it ORDER BY idx', 5, 'absolute');

-- the metrics in SQL, over (query side x, corpus side y): cosine, mrr, jaccard@5
CREATE FUNCTION pg_temp.sql_metrics(side text) RETURNS TABLE (jaccard float8, mrr float8, cosine float8) LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE format('CREATE TEMP TABLE xy ON COMMIT DROP AS SELECT idx, %s x, %s y FROM it',
		CASE side WHEN 'relative' THEN 'q' WHEN 'translation' THEN 't' ELSE 'a' END,
		CASE side WHEN 'relative' THEN 'c' ELSE 'b' END);
	RETURN QUERY
	SELECT avg(s.inter / (10.0 - s.inter))::float8, avg(1.0 / s.rank)::float8, avg(s.cos)
	FROM (SELECT i.idx, 1 - (i.x <=> i.y) cos,
	             1 + (SELECT count(*) FROM xy j WHERE 1 - (i.x <=> j.y) > 1 - (i.x <=> i.y)) rank,
	             (SELECT count(*) FROM (SELECT j.idx FROM xy j ORDER BY i.x <=> j.y, j.idx LIMIT 5) n1
	                JOIN (SELECT j.idx FROM xy j ORDER BY i.y <=> j.y, j.idx LIMIT 5) n2 USING (idx)) inter
	      FROM xy i) s;
	DROP TABLE xy;
END $f$;
CREATE TEMP TABLE s AS SELECT 'relative'::text via, * FROM pg_temp.sql_metrics('relative');
INSERT INTO s SELECT 'translation', * FROM pg_temp.sql_metrics('translation');
INSERT INTO s SELECT 'absolute', * FROM pg_temp.sql_metrics('absolute');

SELECT ok(abs(r.cosine - s.cosine) < 1e-6, via || ': cosine as in SQL') FROM r JOIN s USING (via) ORDER BY via;
SELECT ok(abs(r.mrr - s.mrr) < 1e-9, via || ': mrr as in SQL') FROM r JOIN s USING (via) ORDER BY via;
SELECT ok(abs(r.jaccard - s.jaccard) < 1e-9, via || ': jaccard@5 as in SQL (ORDER BY ... LIMIT 5)') FROM r JOIN s USING (via) ORDER BY via;
-- linear CKA from the Gram matrices of centered vectors: sum(Ka Kb) / sqrt(sum(Ka^2) sum(Kb^2))
SELECT ok((WITH m AS (SELECT avg(a) ma, avg(b) mb FROM it),
	c AS (SELECT idx, a - m.ma ca, b - m.mb cb FROM it, m),
	k AS (SELECT -(x.ca <#> y.ca) ka, -(x.cb <#> y.cb) kb FROM c x, c y)
	SELECT abs(sum(ka * kb) / sqrt(sum(ka * ka) * sum(kb * kb)) - (SELECT cka FROM r WHERE via = 'relative')) FROM k) < 1e-6,
	'cka as computed in SQL');
SELECT is((SELECT count(DISTINCT cka) FROM r), 1::bigint, 'cka is of the absolute spaces, whatever the route');

-- identical spaces; a bigger k; centering
SELECT is((SELECT row(jaccard, mrr, round(cosine::numeric, 6), round(cka::numeric, 6))::text
	FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_a', 'SELECT idx, a, a FROM it', 5, 'absolute')), '(1,1,1.000000,1.000000)',
	'a space against itself: all 1');
SELECT is((SELECT jaccard FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 50)), 1::float8,
	'k = n: jaccard 1');
SELECT embedding_dims(relvec_set_space_mean('mlp_a', 'SELECT a FROM fixtures.fmnist'));
SELECT embedding_dims(relvec_set_space_mean('mlp_b', 'SELECT b FROM fixtures.fmnist'));
SELECT ok(abs((SELECT cosine FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 5, 'relative', 'anchors'))
	- (SELECT avg(1 - (relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'anchors') <=> relvec_project(b, 'fm300', 'mlp_b', 'cosine', 'anchors'))) FROM it)) < 1e-6,
	'center anchors: cosine of the centred relative vectors');
SELECT ok(abs((SELECT cosine FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 5, 'relative', 'space'))
	- (SELECT avg(1 - (relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'space') <=> relvec_project(b, 'fm300', 'mlp_b', 'cosine', 'space'))) FROM it)) < 1e-6,
	'center space: cosine of the relative vectors centred on the space means');

-- all 1,000 test items, k = 10: the routes rank as on the full data
CREATE TEMP TABLE full_r AS
	SELECT 'absolute'::text via, * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
		'SELECT idx, a, b FROM fixtures.fmnist WHERE NOT is_anchor', via => 'absolute')
	UNION ALL SELECT 'relative', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
		'SELECT idx, a, b FROM fixtures.fmnist WHERE NOT is_anchor')
	UNION ALL SELECT 'translation', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b',
		'SELECT idx, a, b FROM fixtures.fmnist WHERE NOT is_anchor', via => 'translation');
SELECT ok((SELECT cosine FROM full_r WHERE via = 'relative') > 0.95 AND (SELECT cosine FROM full_r WHERE via = 'absolute') < 0.2,
	'relative cosine far above absolute');
SELECT ok((SELECT jaccard FROM full_r WHERE via = 'translation') > (SELECT jaccard FROM full_r WHERE via = 'relative')
	AND (SELECT jaccard FROM full_r WHERE via = 'relative') > (SELECT jaccard FROM full_r WHERE via = 'absolute'),
	'jaccard: translation > relative > absolute');
SELECT ok((SELECT mrr FROM full_r WHERE via = 'translation') > (SELECT mrr FROM full_r WHERE via = 'relative')
	AND (SELECT mrr FROM full_r WHERE via = 'relative') > (SELECT mrr FROM full_r WHERE via = 'absolute'),
	'mrr: translation > relative > absolute');
SELECT ok((SELECT cka FROM full_r WHERE via = 'absolute') BETWEEN 0.9 AND 1, 'cka of the two encoders is high (0.948 on the full data)');

-- errors
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_a', 'SELECT idx, a, a FROM it', 5, 'translation')$$, '22023',
	'cannot translate from space "mlp_a" to itself', 'translation route from a space to itself');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a FROM it')$$, '42804',
	'items must return three columns, (key, embedding_a, embedding_b)', 'two columns');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, idx FROM it')$$, '42804',
	'items must return three columns, (key, embedding_a, embedding_b)', 'a column that is not an embedding');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, subvector(a, 1, 3), b FROM it ORDER BY idx')$$, '22000',
	'embedding_a of key "60000" has 3 dimensions, space "mlp_a" has 64', 'wrong dimensions');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, NULL::embedding FROM it')$$, '22004',
	'items returns a row with a null key or embedding', 'a null embedding');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 5, 'magic')$$, '22023',
	'unknown route "magic": expected relative, translation or absolute', 'unknown via');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 5, 'translation', 'anchors')$$, '22023',
	'center "anchors" applies only to via => ''relative''', 'center with another route');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 0)$$, '22023',
	'k must be at least 1', 'k = 0');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 51)$$, '22023',
	'k 51 exceeds the 50 items', 'k > items');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it LIMIT 1', 1)$$, '22023',
	'comparing spaces needs at least 2 items, not 1', 'one item');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 's3', 'SELECT 1, a, ''[1,2,3]''::embedding FROM it', 5, 'absolute')$$, '22000',
	'spaces "mlp_a" and "s3" have different dimensions 64 and 3', 'absolute needs equal dimensions');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_b', 'mlp_a', 'SELECT idx, b, a FROM it', 5, 'translation')$$, '55000',
	'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'translation not fitted');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('nope', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it')$$, '42704',
	'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('fm300', 'mlp_a', 's3', 'SELECT idx, a, b FROM it')$$, '55000',
	'anchor set "fm300" has no embeddings in space "s3"', 'a space missing from the set');

SELECT * FROM finish();
ROLLBACK;
