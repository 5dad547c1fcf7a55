-- 075_stitch: relvec_stitch_knn, queries embedded by Fashion-MNIST encoder B answered from a
-- corpus embedded by encoder A (two independently trained 64-d spaces, 300 parallel anchors).
BEGIN;
SELECT plan(38);

SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A');
SELECT relvec_create_space('mlp_b', 64, 'Fashion-MNIST encoder B');
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SET LOCAL relvec.device = 'cpu';

-- relative route = relvec_knn over relvec_project'ed rows ---------------------------------------
CREATE FUNCTION pg_temp.same_as_projected(sim text, center text, qchunk integer DEFAULT 0, cchunk integer DEFAULT 0)
	RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
	what text := format('similarity %s, center %s%s', sim, center,
		CASE WHEN qchunk > 0 THEN format(', chunks of %s queries and %s rows', qchunk, cchunk) ELSE '' END);
BEGIN
	IF qchunk > 0 THEN
		CREATE TEMP TABLE st ON COMMIT DROP AS SELECT * FROM relvec_stitch_knn_chunked('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
			'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10, 'relative', sim, center, qchunk, cchunk);
	ELSE
		CREATE TEMP TABLE st ON COMMIT DROP AS SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
			'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10, 'relative', sim, center);
	END IF;
	CREATE TEMP TABLE kn ON COMMIT DROP AS SELECT * FROM relvec_knn(
		format('SELECT idx, relvec_project(b, %L, %L, %L, %L) FROM fixtures.fmnist WHERE idx %% 7 = 0', 'fm300', 'mlp_b', sim, center),
		format('SELECT idx, relvec_project(a, %L, %L, %L, %L) FROM fixtures.fmnist ORDER BY idx', 'fm300', 'mlp_a', sim, center), 10, 'cosine');
	RETURN NEXT results_eq('SELECT query_key, rank, corpus_key FROM st ORDER BY 1, 2', 'SELECT query_key, rank, corpus_key FROM kn ORDER BY 1, 2',
		'relative = relvec_knn over projected rows, same neighbours in the same order: ' || what);
	RETURN NEXT cmp_ok((SELECT max(abs(s.distance - k.distance)) FROM st s JOIN kn k USING (query_key, rank)), '<', 1e-6::float8,
		'and the same distances within 1e-6: ' || what);
	DROP TABLE st;
	DROP TABLE kn;
END $f$;
SELECT * FROM pg_temp.same_as_projected('cosine', 'none');
SELECT * FROM pg_temp.same_as_projected('cosine', 'anchors');
SELECT * FROM pg_temp.same_as_projected('cosine+euclidean', 'none');
SELECT * FROM pg_temp.same_as_projected('cosine', 'none', 4, 37);
SELECT is((SELECT count(*) FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist', 'mlp_a', 'fm300', 10)), 1840::bigint, 'defaults: relative, cosine, 184 queries x 10');
SELECT ok((SELECT bool_and(CASE via WHEN 'relative' THEN hit > 0.3 ELSE hit < 0.05 END) FROM (
	SELECT via, avg((query_key = corpus_key)::int) * 10 AS hit
	FROM (VALUES ('relative'), ('absolute')) v(via), relvec_stitch_knn($q$SELECT idx, b FROM fixtures.fmnist WHERE split = 'test'$q$, 'mlp_b',
		$q$SELECT idx, a FROM fixtures.fmnist WHERE split = 'test'$q$, 'mlp_a', 'fm300', 10, via) GROUP BY via) h),
	'the same item embedded by A is among the 10 nearest of its B embedding for over 30% of 1,000 items relative, at chance (1%) absolute');

-- stitched classification: 10-NN majority vote, B test items against A's labelled train items --
CREATE FUNCTION pg_temp.stitched_accuracy(via text, center text DEFAULT 'none') RETURNS numeric LANGUAGE sql AS $f$
	WITH nn AS (SELECT * FROM relvec_stitch_knn($q$SELECT idx, b FROM fixtures.fmnist WHERE split = 'test'$q$, 'mlp_b',
			$q$SELECT idx, a FROM fixtures.fmnist WHERE split = 'train' ORDER BY idx$q$, 'mlp_a', 'fm300', 10, via, 'cosine', center)),
	votes AS (SELECT n.query_key, c.label, count(*) AS votes, min(n.rank) AS best
		FROM nn n JOIN fixtures.fmnist c ON c.idx = n.corpus_key::int GROUP BY 1, 2),
	pred AS (SELECT DISTINCT ON (query_key) query_key, label FROM votes ORDER BY query_key, votes DESC, best)
	SELECT avg((p.label = q.label)::int) FROM pred p JOIN fixtures.fmnist q ON q.idx = p.query_key::int
$f$;
CREATE TEMP TABLE acc AS SELECT pg_temp.stitched_accuracy('relative') AS rel, pg_temp.stitched_accuracy('absolute') AS abs,
	pg_temp.stitched_accuracy('relative', 'anchors') AS rel_centered;
SELECT cmp_ok((SELECT abs FROM acc), '<', 0.2, 'absolute route: the two spaces are unrelated, about chance (0.1)');
SELECT cmp_ok((SELECT rel FROM acc), '>', 0.7, 'relative route: stitched 10-NN accuracy far above chance');
SELECT cmp_ok((SELECT rel - abs FROM acc), '>', 0.5, 'relative beats absolute by more than 0.5');
SELECT cmp_ok((SELECT rel_centered FROM acc), '>', 0.7, 'anchor-centred relative route too');

-- a Vulkan device gives the CPU's neighbours ------------------------------------------------
CREATE TEMP TABLE on_cpu AS SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 5 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10);
CREATE FUNCTION pg_temp.device_checks() RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE dev integer;
BEGIN
	SELECT index INTO dev FROM relvec_devices() ORDER BY (type = 'cpu') DESC, index LIMIT 1;
	IF dev IS NULL THEN
		RETURN QUERY SELECT skip('no Vulkan device', 2);
		RETURN;
	END IF;
	EXECUTE format('SET LOCAL relvec.device = %L', 'vulkan:' || dev);
	CREATE TEMP TABLE on_gpu ON COMMIT DROP AS SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 5 = 0', 'mlp_b',
		'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10);
	SET LOCAL relvec.device = 'cpu';
	RETURN NEXT results_eq('SELECT query_key, rank, corpus_key FROM on_gpu ORDER BY 1, 2', 'SELECT query_key, rank, corpus_key FROM on_cpu ORDER BY 1, 2',
		'relative route on the device: the same neighbours as on the CPU');
	RETURN NEXT cmp_ok((SELECT max(abs(g.distance - c.distance)) FROM on_gpu g JOIN on_cpu c USING (query_key, rank)), '<', 1e-5::float8,
		'and distances within 1e-5 (projections on the device differ in rounding)');
	DROP TABLE on_gpu;
END $f$;
SELECT * FROM pg_temp.device_checks();

-- spaces of other dimensions: relative works, absolute cannot compare ----------------------------
SELECT relvec_create_space('mlp_a10', 10);
SELECT relvec_create_anchor_set('fm30', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE anchor_no <= 30));
SELECT relvec_set_anchors('fm30', 'mlp_a10', 'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_set_anchors('fm30', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_freeze_anchor_set('fm30');
SELECT is((SELECT count(*) FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 50 = 0', 'mlp_b',
	'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist', 'mlp_a10', 'fm30', 3)), 75::bigint, 'relative route between 64-d and 10-d spaces');
SELECT throws_ok($$SELECT * FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist', 'mlp_b',
	'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist', 'mlp_a10', 'fm30', 3, 'absolute')$$,
	'22000', 'spaces "mlp_b" and "mlp_a10" have different dimensions 64 and 10', 'absolute route needs equal dimensions');

-- errors -------------------------------------------------------------------------------------
\set q '''SELECT idx, b FROM fixtures.fmnist WHERE idx % 50 = 0'''
\set c '''SELECT idx, a FROM fixtures.fmnist'''
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', :q, 'mlp_b', :c, 'mlp_a', 'nope'),
	'42704', 'anchor set "nope" does not exist', 'unknown anchor set');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', :q, 'nope', :c, 'mlp_a', 'fm300'),
	'42704', 'space "nope" does not exist', 'unknown space');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', :q, 'mlp_b', :c, 'mlp_a10', 'fm300'),
	'55000', 'anchor set "fm300" has no embeddings in space "mlp_a10"', 'a space missing from the set');
SELECT relvec_create_anchor_set('open', ARRAY['60000']);
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', :q, 'mlp_b', :c, 'mlp_a', 'open'),
	'55000', 'anchor set "open" is not frozen', 'an unfrozen set');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3, %L)', :q, 'mlp_b', :c, 'mlp_a', 'fm300', 'sideways'),
	'22023', 'unknown route "sideways": expected relative, translation or absolute', 'unknown route');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3, %L, %L)', :q, 'mlp_b', :c, 'mlp_a', 'fm300', 'relative', 'cos'),
	'22023', 'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'unknown similarity');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 0)', :q, 'mlp_b', :c, 'mlp_a', 'fm300'),
	'22023', 'k must be at least 1', 'k = 0');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', 'SELECT 7, ''[1,2,3]''::embedding', 'mlp_b', :c, 'mlp_a', 'fm300'),
	'22000', 'embedding of query key "7" has 3 dimensions, space "mlp_b" has 64', 'queries of the wrong dimensions');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', :q, 'mlp_b', 'SELECT idx, b || b FROM fixtures.fmnist WHERE idx = 60001', 'mlp_a', 'fm300'),
	'22000', 'embedding of corpus key "60001" has 128 dimensions, space "mlp_a" has 64', 'corpus of the wrong dimensions');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3)', :q, 'mlp_b', 'SELECT a FROM fixtures.fmnist', 'mlp_a', 'fm300'),
	'42804', 'the corpus must return two columns, (key, embedding)', 'corpus with the wrong columns');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, NULL, 3)', :q, 'mlp_b', :c, 'mlp_a'),
	'22004', 'anchor_set must not be null', 'null anchor set');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3, %L)', :q, 'mlp_b', :c, 'mlp_a', 'fm300', 'translation'),
	'55000', 'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'translation not fitted');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3, %L)', :q, 'mlp_a', :c, 'mlp_a', 'fm300', 'translation'),
	'22023', 'cannot translate from space "mlp_a" to itself', 'translation from a space to itself');

-- translation route -----------------------------------------------------------------------------
SELECT ok(relvec_fit_translation('fm300', 'mlp_b', 'mlp_a') > 0.5, 'fit B -> A on the anchors');
CREATE TEMP TABLE st AS SELECT * FROM relvec_stitch_knn_chunked('SELECT idx, b FROM fixtures.fmnist WHERE idx % 7 = 0', 'mlp_b',
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 'mlp_a', 'fm300', 10, 'translation', 'cosine', 'none', 5, 111);
CREATE TEMP TABLE kn AS SELECT * FROM relvec_knn($q$SELECT idx, relvec_translate(b, 'fm300', 'mlp_b', 'mlp_a') FROM fixtures.fmnist WHERE idx % 7 = 0$q$,
	'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'cosine');
SELECT results_eq('SELECT query_key, rank, corpus_key FROM st ORDER BY 1, 2', 'SELECT query_key, rank, corpus_key FROM kn ORDER BY 1, 2',
	'translation = relvec_knn of relvec_translate''d queries against the raw corpus, same neighbours in the same order');
SELECT cmp_ok((SELECT max(abs(s.distance - k.distance)) FROM st s JOIN kn k USING (query_key, rank)), '<', 1e-6::float8,
	'and the same distances within 1e-6');
SELECT cmp_ok(pg_temp.stitched_accuracy('translation'), '>', 0.7, 'translation route: stitched 10-NN accuracy far above chance');
SELECT relvec_fit_translation('fm30', 'mlp_b', 'mlp_a10');
SELECT is((SELECT count(*) FROM relvec_stitch_knn('SELECT idx, b FROM fixtures.fmnist WHERE idx % 50 = 0', 'mlp_b',
	'SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist', 'mlp_a10', 'fm30', 3, 'translation')), 75::bigint, 'translation from 64-d into 10-d');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3, %L)', :q, 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE idx = 60001', 'mlp_a10', 'fm30', 'translation'),
	'22000', 'embedding of corpus key "60001" has 64 dimensions, space "mlp_a10" has 10', 'translation: corpus of other dimensions than its space');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn(%L, %L, %L, %L, %L, 3, %L, %L)', :q, 'mlp_b', :c, 'mlp_a', 'fm300', 'translation', 'cos'),
	'22023', 'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'options are checked on every route');

SELECT * FROM finish();
ROLLBACK;
