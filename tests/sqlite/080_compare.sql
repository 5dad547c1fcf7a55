-- 080_compare: relvec_compare_spaces, as tests/pgtap/080_compare.sql. On 50 test items every
-- metric is recomputed in plain SQL (ORDER BY ... LIMIT neighbourhoods, ranks by counting,
-- CKA from the n x n Gram matrices of centered vectors) and must agree; on all 1,000 test
-- items the routes rank as on the full data (translation > relative > absolute).

SELECT relvec_create_space('mlp_a', 64);
SELECT relvec_create_space('mlp_b', 64);
SELECT relvec_create_space('s3', 3);
SELECT relvec_create_anchor_set('fm300', (SELECT json_group_array(CAST(idx AS TEXT)) FROM (SELECT idx FROM fixtures.fmnist WHERE is_anchor ORDER BY anchor_no)));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_fit_translation('fm300', 'mlp_a', 'mlp_b');

CREATE TEMP TABLE it AS
	SELECT idx, a, b, relvec_project(a, 'fm300', 'mlp_a') AS q, relvec_project(b, 'fm300', 'mlp_b') AS c,
	       relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') AS t
	FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY idx LIMIT 50;
CREATE TEMP TABLE r AS SELECT 'relative' AS via, * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it ORDER BY idx', 5);
INSERT INTO r SELECT 'translation', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it ORDER BY idx', 5, 'translation');
INSERT INTO r SELECT 'absolute', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it ORDER BY idx', 5, 'absolute');
SELECT is_eq((SELECT count(*) FROM r), 3, 'one row per call');

-- the metrics in SQL, over (query side x, corpus side y): cosine, mrr, jaccard@5
CREATE TEMP TABLE xy AS SELECT 'relative' AS via, idx, q AS x, c AS y FROM it
	UNION ALL SELECT 'translation', idx, t, b FROM it UNION ALL SELECT 'absolute', idx, a, b FROM it;
CREATE TEMP TABLE nb AS SELECT i.via, i.idx AS i, j.idx AS j,
	row_number() OVER (PARTITION BY i.via, i.idx ORDER BY cosine_distance(i.x, j.y), j.idx) AS r1,
	row_number() OVER (PARTITION BY i.via, i.idx ORDER BY cosine_distance(i.y, j.y), j.idx) AS r2,
	1 - cosine_distance(i.x, j.y) > 1 - cosine_distance(i.x, i.y) AS closer
	FROM xy i JOIN xy j ON i.via = j.via;
CREATE TEMP TABLE s AS SELECT p.via,
	avg(p.inter / (10.0 - p.inter)) AS jaccard, avg(1.0 / p.rank) AS mrr, avg(1 - cosine_distance(xy.x, xy.y)) AS cosine
	FROM (SELECT via, i, 1 + sum(closer) AS rank,
	             (SELECT count(*) FROM nb n1 JOIN nb n2 ON n1.via = n2.via AND n1.i = n2.i AND n1.j = n2.j
	              WHERE n1.via = g.via AND n1.i = g.i AND n1.r1 <= 5 AND n2.r2 <= 5) AS inter
	      FROM nb g GROUP BY via, i) p JOIN xy ON xy.via = p.via AND xy.idx = p.i GROUP BY p.via;
SELECT near(r.cosine, s.cosine, 1e-6, r.via || ': cosine as in SQL') FROM r JOIN s USING (via) ORDER BY via;
SELECT near(r.mrr, s.mrr, 1e-9, r.via || ': mrr as in SQL') FROM r JOIN s USING (via) ORDER BY via;
SELECT near(r.jaccard, s.jaccard, 1e-9, r.via || ': jaccard@5 as in SQL (ORDER BY ... LIMIT 5)') FROM r JOIN s USING (via) ORDER BY via;
-- linear CKA from the Gram matrices of centered vectors: sum(Ka Kb) / sqrt(sum(Ka^2) sum(Kb^2))
CREATE TEMP TABLE mean AS SELECT embedding_avg(a) AS ma, embedding_avg(b) AS mb FROM it;
CREATE TEMP TABLE cen AS SELECT idx, embedding_sub(a, ma) AS ca, embedding_sub(b, mb) AS cb FROM it, mean;
SELECT near((SELECT sum(ka * kb) / sqrt(sum(ka * ka) * sum(kb * kb)) FROM
	(SELECT inner_product(x.ca, y.ca) AS ka, inner_product(x.cb, y.cb) AS kb FROM cen x, cen y)),
	(SELECT cka FROM r WHERE via = 'relative'), 1e-6, 'cka as computed in SQL');
SELECT is_eq((SELECT count(DISTINCT cka) FROM r), 1, 'cka is of the absolute spaces, whatever the route');

-- identical spaces; a bigger k; centering; STRICT
SELECT is_eq((SELECT jaccard || ' ' || mrr || ' ' || round(cosine, 6) || ' ' || round(cka, 6)
	FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_a', 'SELECT idx, a, a FROM it', 5, 'absolute')), '1.0 1.0 1.0 1.0',
	'a space against itself: all 1');
SELECT is_eq((SELECT jaccard FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 50)), 1.0, 'k = n: jaccard 1');
SELECT embedding_dims(relvec_set_space_mean('mlp_a', 'SELECT a FROM fixtures.fmnist'));
SELECT embedding_dims(relvec_set_space_mean('mlp_b', 'SELECT b FROM fixtures.fmnist'));
SELECT near((SELECT cosine FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 5, 'relative', 'anchors')),
	(SELECT avg(1 - cosine_distance(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'anchors'), relvec_project(b, 'fm300', 'mlp_b', 'cosine', 'anchors'))) FROM it),
	1e-6, 'center anchors: cosine of the centred relative vectors');
SELECT near((SELECT cosine FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', 5, 'relative', 'space')),
	(SELECT avg(1 - cosine_distance(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'space'), relvec_project(b, 'fm300', 'mlp_b', 'cosine', 'space'))) FROM it),
	1e-6, 'center space: cosine of the relative vectors centred on the space means');
SELECT is_eq((SELECT count(*) FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM it', NULL)), 0,
	'a NULL argument gives no row (STRICT)');

-- all 1,000 test items, k = 10: the routes rank as on the full data
CREATE TEMP TABLE full_r AS
	SELECT 'absolute' AS via, * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM fixtures.fmnist WHERE NOT is_anchor', 10, 'absolute')
	UNION ALL SELECT 'relative', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM fixtures.fmnist WHERE NOT is_anchor')
	UNION ALL SELECT 'translation', * FROM relvec_compare_spaces('fm300', 'mlp_a', 'mlp_b', 'SELECT idx, a, b FROM fixtures.fmnist WHERE NOT is_anchor', 10, 'translation');
SELECT ok((SELECT cosine FROM full_r WHERE via = 'relative') > 0.95 AND (SELECT cosine FROM full_r WHERE via = 'absolute') < 0.2,
	'relative cosine far above absolute');
SELECT ok((SELECT jaccard FROM full_r WHERE via = 'translation') > (SELECT jaccard FROM full_r WHERE via = 'relative')
	AND (SELECT jaccard FROM full_r WHERE via = 'relative') > (SELECT jaccard FROM full_r WHERE via = 'absolute'),
	'jaccard: translation > relative > absolute');
SELECT ok((SELECT mrr FROM full_r WHERE via = 'translation') > (SELECT mrr FROM full_r WHERE via = 'relative')
	AND (SELECT mrr FROM full_r WHERE via = 'relative') > (SELECT mrr FROM full_r WHERE via = 'absolute'),
	'mrr: translation > relative > absolute');
SELECT ok((SELECT cka FROM full_r WHERE via = 'absolute') BETWEEN 0.9 AND 1, 'cka of the two encoders is high (0.948 on the full data)');

-- errors (PostgreSQL's texts)
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_a'', ''SELECT idx, a, a FROM it'', 5, ''translation'')',
	'cannot translate from space "mlp_a" to itself', 'translation route from a space to itself');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a FROM it'')',
	'items must return three columns, (key, embedding_a, embedding_b)', 'two columns');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, idx FROM it'')',
	'items must return three columns, (key, embedding_a, embedding_b)', 'a column that is not an embedding');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, subvector(a, 1, 3), b FROM it ORDER BY idx'')',
	'embedding_a of key "60000" has 3 dimensions, space "mlp_a" has 64', 'wrong dimensions');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, NULL FROM it'')',
	'items returns a row with a null key or embedding', 'a null embedding');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, b FROM it'', 5, ''magic'')',
	'unknown route "magic": expected relative, translation or absolute', 'unknown via');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, b FROM it'', 5, ''translation'', ''anchors'')',
	'center "anchors" applies only to via => ''relative''', 'center with another route');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, b FROM it'', 0)',
	'k must be at least 1', 'k = 0');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, b FROM it'', 51)',
	'k 51 exceeds the 50 items', 'k > items');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, b FROM it LIMIT 1'', 1)',
	'comparing spaces needs at least 2 items, not 1', 'one item');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''s3'', ''SELECT 1, a, ''''[1,2,3]'''' FROM it'', 5, ''absolute'')',
	'spaces "mlp_a" and "s3" have different dimensions 64 and 3', 'absolute needs equal dimensions');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_b'', ''mlp_a'', ''SELECT idx, b, a FROM it'', 5, ''translation'')',
	'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'translation not fitted');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''nope'', ''mlp_a'', ''mlp_b'', ''SELECT idx, a, b FROM it'')',
	'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'', ''s3'', ''SELECT idx, a, b FROM it'')',
	'anchor set "fm300" has no embeddings in space "s3"', 'a space missing from the set');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''fm300'', ''mlp_a'')',
	'relvec_compare_spaces needs anchor_set, space_a, space_b and items', 'missing arguments');
