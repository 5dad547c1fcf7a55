-- 075_stitch: relvec_stitch_knn, as tests/pgtap/075_stitch.sql: queries embedded by
-- Fashion-MNIST encoder B answered from a corpus embedded by encoder A (two independently
-- trained 64-d spaces, 300 parallel anchors). Each route must equal relvec_knn over rows
-- mapped by hand (relvec_project, relvec_translate): same neighbours, same order.

SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A');
SELECT relvec_create_space('mlp_b', 64, 'Fashion-MNIST encoder B');
SELECT relvec_create_anchor_set('fm300', (SELECT json_group_array(CAST(idx AS TEXT)) FROM (SELECT idx FROM fixtures.fmnist WHERE is_anchor ORDER BY anchor_no)));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');

-- relative route = relvec_knn over relvec_project'ed rows, for several options ----------------
CREATE TEMP TABLE opts (sim TEXT, center TEXT);
INSERT INTO opts VALUES ('cosine', 'none'), ('cosine', 'anchors'), ('cosine+euclidean', 'none');
CREATE TEMP TABLE st AS SELECT o.sim, o.center, s.* FROM opts o, relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10, 'relative', o.sim, o.center) s;
CREATE TEMP TABLE kn AS SELECT o.sim, o.center, k.* FROM opts o, relvec_knn(
	printf('SELECT idx, relvec_project(b, %Q, %Q, %Q, %Q) FROM fixtures.fmnist WHERE idx %% 7 = 0', 'fm300', 'mlp_b', o.sim, o.center),
	printf('SELECT idx, relvec_project(a, %Q, %Q, %Q, %Q) FROM fixtures.fmnist ORDER BY idx', 'fm300', 'mlp_a', o.sim, o.center), 10, 'cosine') k;
SELECT is_eq((SELECT count(*) FROM st WHERE sim = o.sim AND center = o.center), 1840, 'relative, ' || o.sim || ', ' || o.center || ': 184 queries x 10')
	FROM opts o;
SELECT is_eq((SELECT count(*) FROM st s JOIN kn k USING (sim, center, query_key, rank, corpus_key) WHERE s.sim = o.sim AND s.center = o.center), 1840,
	'relative = relvec_knn over projected rows, same neighbours in the same order: ' || o.sim || ', ' || o.center) FROM opts o;
SELECT ok((SELECT max(abs(s.distance - k.distance)) FROM st s JOIN kn k USING (sim, center, query_key, rank) WHERE s.sim = o.sim AND s.center = o.center) < 1e-6,
	'and the same distances within 1e-6: ' || o.sim || ', ' || o.center) FROM opts o;
SELECT is_eq((SELECT count(*) FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist', 'mlp_a', 'fm300', 10)), 1840, 'defaults: relative, cosine, 184 queries x 10');
SELECT is_eq((SELECT group_concat(typeof(query_key) || typeof(rank) || typeof(corpus_key) || typeof(distance)) FROM
	(SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist LIMIT 1', 'mlp_b', 'SELECT idx, a FROM fixtures.fmnist', 'mlp_a', 'fm300', 1))),
	'textintegertextreal', 'columns query_key text, rank integer, corpus_key text, distance real');
CREATE TEMP TABLE hits AS SELECT v.via, avg(query_key = corpus_key) * 10 AS hit
	FROM (SELECT 'relative' AS via UNION ALL SELECT 'absolute') v, relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE split = ''test''', 'mlp_b',
		'SELECT idx, a FROM fixtures.fmnist WHERE split = ''test''', 'mlp_a', 'fm300', 10, v.via) GROUP BY v.via;
SELECT ok((SELECT hit FROM hits WHERE via = 'relative') > 0.3 AND (SELECT hit FROM hits WHERE via = 'absolute') < 0.05,
	'the same item embedded by A is among the 10 nearest of its B embedding for over 30% of 1,000 items relative, at chance (1%) absolute');
SELECT is_eq((SELECT count(*) FROM relvec_stitch_knn('SELECT 1, b FROM fixtures.fmnist WHERE 0', 'mlp_b', 'SELECT idx, a FROM fixtures.fmnist', 'mlp_a', 'fm300', 3)),
	0, 'no queries, no rows');

-- stitched classification: 10-NN majority vote, B test items against A's labelled train items
CREATE TEMP TABLE nn AS SELECT v.via, n.* FROM (SELECT 'relative' AS via UNION ALL SELECT 'absolute') v,
	relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE split = ''test''', 'mlp_b',
		'SELECT idx, a FROM fixtures.fmnist WHERE split = ''train'' ORDER BY idx', 'mlp_a', 'fm300', 10, v.via) n;
CREATE TEMP VIEW acc AS
	WITH votes AS (SELECT n.via, n.query_key, c.label, count(*) AS votes, min(n.rank) AS best
		FROM nn n JOIN fixtures.fmnist c ON c.idx = CAST(n.corpus_key AS INTEGER) GROUP BY 1, 2, 3),
	pred AS (SELECT via, query_key, label FROM (SELECT *, row_number() OVER (PARTITION BY via, query_key ORDER BY votes DESC, best) AS r FROM votes) WHERE r = 1)
	SELECT p.via, avg(p.label = q.label) AS acc FROM pred p JOIN fixtures.fmnist q ON q.idx = CAST(p.query_key AS INTEGER) GROUP BY p.via;
SELECT ok((SELECT acc FROM acc WHERE via = 'absolute') < 0.2, 'absolute route: the two spaces are unrelated, about chance (0.1)');
SELECT ok((SELECT acc FROM acc WHERE via = 'relative') > 0.7, 'relative route: stitched 10-NN accuracy far above chance');

-- spaces of other dimensions: relative works, absolute cannot compare --------------------------
SELECT relvec_create_space('mlp_a10', 10);
SELECT relvec_create_anchor_set('fm30', (SELECT json_group_array(CAST(idx AS TEXT)) FROM (SELECT idx FROM fixtures.fmnist WHERE anchor_no <= 30 ORDER BY anchor_no)));
SELECT relvec_set_anchors('fm30', 'mlp_a10', 'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_set_anchors('fm30', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_freeze_anchor_set('fm30');
SELECT is_eq((SELECT count(*) FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 50 = 0', 'mlp_b',
	'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist', 'mlp_a10', 'fm30', 3)), 75, 'relative route between 64-d and 10-d spaces');
SELECT throws_ok('SELECT * FROM relvec_stitch_knn(''SELECT idx, b FROM fixtures.fmnist'', ''mlp_b'',
	''SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist'', ''mlp_a10'', ''fm30'', 3, ''absolute'')',
	'spaces "mlp_b" and "mlp_a10" have different dimensions 64 and 10', 'absolute route needs equal dimensions');

-- errors (PostgreSQL's texts) ------------------------------------------------------------------
CREATE TEMP TABLE qc (q TEXT, c TEXT);
INSERT INTO qc VALUES ('SELECT idx, b FROM fixtures.fmnist WHERE idx % 50 = 0', 'SELECT idx, a FROM fixtures.fmnist');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'nope'),
	'anchor set "nope" does not exist', 'unknown anchor set');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', (SELECT q FROM qc), 'nope', (SELECT c FROM qc), 'mlp_a', 'fm300'),
	'space "nope" does not exist', 'unknown space');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a10', 'fm300'),
	'anchor set "fm300" has no embeddings in space "mlp_a10"', 'a space missing from the set');
SELECT relvec_create_anchor_set('open', '["60000"]');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'open'),
	'anchor set "open" is not frozen', 'an unfrozen set');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3, %Q)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'fm300', 'sideways'),
	'unknown route "sideways": expected relative, translation or absolute', 'unknown route');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3, %Q, %Q)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'fm300', 'relative', 'cos'),
	'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'unknown similarity');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 0)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'fm300'),
	'k must be at least 1', 'k = 0');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', 'SELECT 7, ''[1,2,3]''', 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'fm300'),
	'embedding of query key "7" has 3 dimensions, space "mlp_b" has 64', 'queries of the wrong dimensions');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', (SELECT q FROM qc), 'mlp_b', 'SELECT idx, embedding_concat(b, b) FROM fixtures.fmnist WHERE idx = 60001', 'mlp_a', 'fm300'),
	'embedding of corpus key "60001" has 128 dimensions, space "mlp_a" has 64', 'corpus of the wrong dimensions');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3)', (SELECT q FROM qc), 'mlp_b', 'SELECT a FROM fixtures.fmnist', 'mlp_a', 'fm300'),
	'the corpus must return two columns, (key, embedding)', 'corpus with the wrong columns');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, NULL, 3)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a'),
	'anchor_set must not be null', 'null anchor set');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3, %Q)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'fm300', 'translation'),
	'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'translation not fitted');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3, %Q)', (SELECT q FROM qc), 'mlp_a', (SELECT c FROM qc), 'mlp_a', 'fm300', 'translation'),
	'cannot translate from space "mlp_a" to itself', 'translation from a space to itself');
SELECT throws_ok('SELECT * FROM relvec_stitch_knn(''SELECT 1, ''''[1]'''''', ''mlp_b'')',
	'relvec_stitch_knn needs queries, query_space, corpus, corpus_space, anchor_set and k', 'missing arguments');

-- translation route -----------------------------------------------------------------------------
SELECT ok(relvec_fit_translation('fm300', 'mlp_b', 'mlp_a') > 0.5, 'fit B -> A on the anchors');
CREATE TEMP TABLE st_t AS SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10, 'translation');
CREATE TEMP TABLE kn_t AS SELECT * FROM relvec_knn('SELECT idx, relvec_translate(b, ''fm300'', ''mlp_b'', ''mlp_a'') FROM fixtures.fmnist WHERE idx % 7 = 0',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'cosine');
SELECT is_eq((SELECT count(*) FROM st_t s JOIN kn_t k USING (query_key, rank, corpus_key)), 1840,
	'translation = relvec_knn of relvec_translate''d queries against the raw corpus, same neighbours in the same order');
SELECT ok((SELECT max(abs(s.distance - k.distance)) FROM st_t s JOIN kn_t k USING (query_key, rank)) < 1e-6, 'and the same distances within 1e-6');
CREATE TEMP TABLE st_a AS SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10, 'absolute');
CREATE TEMP TABLE kn_a AS SELECT * FROM relvec_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'cosine');
SELECT is_eq((SELECT count(*) FROM st_a s JOIN kn_a k USING (query_key, rank, corpus_key, distance)), 1840,
	'absolute = relvec_knn of the raw rows: same neighbours, order and distances');
SELECT relvec_fit_translation('fm30', 'mlp_b', 'mlp_a10');
SELECT is_eq((SELECT count(*) FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 50 = 0', 'mlp_b',
	'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist', 'mlp_a10', 'fm30', 3, 'translation')), 75, 'translation from 64-d into 10-d');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3, %Q)', (SELECT q FROM qc), 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE idx = 60001', 'mlp_a10', 'fm30', 'translation'),
	'embedding of corpus key "60001" has 64 dimensions, space "mlp_a10" has 10', 'translation: corpus of other dimensions than its space');
SELECT throws_ok(printf('SELECT * FROM relvec_stitch_knn(%Q, %Q, %Q, %Q, %Q, 3, %Q, %Q)', (SELECT q FROM qc), 'mlp_b', (SELECT c FROM qc), 'mlp_a', 'fm300', 'translation', 'cos'),
	'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'options are checked on every route');
