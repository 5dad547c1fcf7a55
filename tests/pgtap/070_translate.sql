-- 070_translate: translations between spaces fitted on parallel anchors, on the real
-- Fashion-MNIST fixtures (two independently trained 64-d encoders, 300 anchors) and on a
-- second words space made from fastText by a known signed permutation, rescaling and shift.
BEGIN;
SELECT plan(43);

SELECT relvec_create_space('mlp_a', 64);
SELECT relvec_create_space('mlp_b', 64);
SELECT relvec_create_space('lone', 64);
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_create_anchor_set('fm30', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE anchor_no <= 30));
SELECT relvec_set_anchors('fm30', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_set_anchors('fm30', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_freeze_anchor_set('fm30');
SELECT relvec_create_anchor_set('open', ARRAY['1']);

-- errors ---------------------------------------------------------------------------------
SELECT throws_ok($$SELECT relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') FROM fixtures.fmnist LIMIT 1$$, '55000',
	'no translation fitted from space "mlp_a" to space "mlp_b" in anchor set "fm300"', 'translate before any fit');
SELECT throws_ok($$SELECT relvec_fit_translation('nope', 'mlp_a', 'mlp_b')$$, '42704', 'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok($$SELECT relvec_fit_translation('fm300', 'nope', 'mlp_b')$$, '42704', 'space "nope" does not exist', 'unknown space');
SELECT throws_ok($$SELECT relvec_fit_translation('open', 'mlp_a', 'mlp_b')$$, '55000', 'anchor set "open" is not frozen', 'unfrozen set');
SELECT throws_ok($$SELECT relvec_fit_translation('fm300', 'mlp_a', 'mlp_a')$$, '22023',
	'cannot fit a translation from space "mlp_a" to itself', 'the same space twice');
SELECT throws_ok($$SELECT relvec_translate(a, 'fm300', 'mlp_a', 'mlp_a') FROM fixtures.fmnist LIMIT 1$$, '22023',
	'cannot translate from space "mlp_a" to itself', 'translate a space to itself');
SELECT throws_ok($$SELECT relvec_fit_translation('fm300', 'mlp_a', 'mlp_b', 'rigid')$$, '22023',
	'unknown translation method "rigid": expected orthogonal, linear or affine', 'unknown method');
SELECT throws_ok($$SELECT relvec_fit_translation('fm300', 'mlp_a', 'lone')$$, '55000',
	'anchor set "fm300" has no embeddings in space "lone"', 'a space missing from the set');
SELECT throws_ok($$SELECT relvec_fit_translation('fm30', 'mlp_a', 'mlp_b', 'linear')$$, '22000',
	'anchor set has 30 anchors for 64 unknowns: too few for a linear translation', 'rank deficient: linear');
SELECT throws_ok($$SELECT relvec_fit_translation('fm30', 'mlp_a', 'mlp_b', 'affine')$$, '22000',
	'anchor set has 30 anchors for 65 unknowns: too few for an affine translation', 'rank deficient: affine');
SELECT is((SELECT count(*) FROM relvec_translations), 0::bigint, 'failed fits stored nothing');
SELECT ok(relvec_fit_translation('fm30', 'mlp_a', 'mlp_b') > 0.5, 'orthogonal needs no rank: 30 anchors fit');

-- orthogonal ---------------------------------------------------------------------------------
SELECT ok(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b') > 0.9, 'fit orthogonal on 300 anchors');
SELECT is((SELECT method || ' ' || embedding_dims(from_mean) || ' ' || embedding_dims(to_std) || ' ' || cardinality(matrix)
	|| ' ' || (bias IS NULL) FROM relvec_translations t JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'fm300'),
	'orthogonal 64 64 4096 true', 'stored row: method, statistics, 64 x 64 matrix, no bias');
SELECT ok((SELECT count(*) = 4 FROM pg_extension, unnest(extconfig) c WHERE extname = 'relvec'
	AND c::regclass::text IN ('relvec_spaces', 'relvec_anchor_sets', 'relvec_anchors', 'relvec_translations')),
	'relvec_translations is dumped by pg_dump');
-- the matrix is orthogonal: R Rᵀ = I
SELECT ok((WITH t AS (SELECT matrix m FROM relvec_translations t JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'fm300')
	SELECT max(abs(s - CASE WHEN i = j THEN 1 ELSE 0 END)) FROM (
		SELECT i, j, sum(m[(i - 1) * 64 + l] * m[(j - 1) * 64 + l]) s
		FROM t, generate_series(1, 64) i, generate_series(1, 64) j, generate_series(1, 64) l GROUP BY i, j) x) < 1e-4,
	'the orthogonal matrix is orthogonal');
-- the returned quality is the mean cosine of the translated anchors
SELECT ok(abs(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b') - (SELECT avg(1 - (relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') <=> b))
	FROM fixtures.fmnist WHERE is_anchor)) < 1e-6, 'fit quality = mean cosine of the translated anchors to theirs');
SELECT is((SELECT count(*) FROM relvec_translations), 2::bigint, 're-fitting replaces the row');

-- translated test items land near their counterparts
CREATE TEMP TABLE tr AS
	SELECT idx, a, b, relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') t FROM fixtures.fmnist WHERE NOT is_anchor;
SELECT ok((SELECT avg(1 - (t <=> b)) FROM tr) > 0.95, 'translated items: mean cosine to their counterparts above 0.95');
SELECT ok((SELECT avg(1 - (a <=> b)) FROM tr) < 0.2, 'untranslated (absolute): below 0.2');
SELECT is((SELECT min(embedding_dims(t)) FROM tr), 64, 'translated into 64 dimensions');

-- relvec_translate against the formula computed in SQL, independently of the C code
CREATE FUNCTION pg_temp.formula(x embedding, setname text, from_space text, to_space text) RETURNS real[] LANGUAGE sql AS $$
	WITH t AS (SELECT tr.*, greatest(embedding_dims(from_mean), embedding_dims(to_mean)) dim,
	                  embedding_dims(from_mean) df, embedding_dims(to_mean) dt
	           FROM relvec_translations tr
	           WHERE set_id = (SELECT set_id FROM relvec_anchor_sets WHERE name = setname)
	             AND from_space_id = (SELECT space_id FROM relvec_spaces WHERE name = from_space)
	             AND to_space_id = (SELECT space_id FROM relvec_spaces WHERE name = to_space)),
	z AS (SELECT i, ((x::real[])[i]::float8 - (t.from_mean::real[])[i]) / (t.from_std::real[])[i] z
	      FROM t, generate_series(1, t.df) i),
	y AS (SELECT j, sum(z.z * t.matrix[(z.i - 1) * t.dim + j]) + coalesce((t.bias::real[])[j], 0) y
	      FROM t, z, generate_series(1, t.dt) j GROUP BY j, t.bias)
	SELECT array_agg((y.y * (t.to_std::real[])[j] + (t.to_mean::real[])[j])::real ORDER BY j) FROM y, t
$$;
CREATE FUNCTION pg_temp.maxdiff(a real[], b real[]) RETURNS float8 LANGUAGE sql AS $$
	SELECT max(abs(x - y)) FROM unnest(a, b) u(x, y)
$$;
SELECT ok(pg_temp.maxdiff(pg_temp.formula(a, 'fm300', 'mlp_a', 'mlp_b'),
	relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b')::real[]) < 1e-4, 'orthogonal: translate = the formula in SQL')
	FROM fixtures.fmnist WHERE idx = 60007;

-- a translated query searches the target space with its ordinary operators (and indexes)
SELECT ok((SELECT count(*) FROM (SELECT idx, a FROM tr ORDER BY idx LIMIT 50) q
	WHERE q.idx IN (SELECT c.idx FROM tr c ORDER BY c.b <=> relvec_translate(q.a, 'fm300', 'mlp_a', 'mlp_b') LIMIT 10)) >= 30,
	'ORDER BY b <=> relvec_translate(q) LIMIT 10 finds the item itself for most queries');
SELECT ok((SELECT count(*) FROM (SELECT idx, a FROM tr ORDER BY idx LIMIT 50) q
	WHERE q.idx IN (SELECT c.idx FROM tr c ORDER BY c.b <=> q.a LIMIT 10)) <= 5, 'the untranslated query rarely does');

-- ... and so does an rvflat index of the target space: the plan scans it, rows as a seq scan
CREATE INDEX tr_b_rvflat ON tr USING rvflat (b embedding_cosine_ops);
ANALYZE tr;
CREATE FUNCTION pg_temp.translated_top5(use_index bool) RETURNS int[] LANGUAGE plpgsql AS $f$
DECLARE
	sql text := $q$SELECT idx FROM tr ORDER BY b <=> relvec_translate((SELECT a FROM tr WHERE idx = 60001),
		'fm300', 'mlp_a', 'mlp_b') %s LIMIT 5$q$;
	line text;
	found bool := false;
	ids int[];
BEGIN
	PERFORM set_config('enable_seqscan', (NOT use_index)::text, true);
	PERFORM set_config('enable_indexscan', use_index::text, true);
	sql := format(sql, CASE WHEN use_index THEN '' ELSE ', ctid' END);
	FOR line IN EXECUTE 'EXPLAIN ' || sql LOOP
		found := found OR line ~ 'Index Scan using tr_b_rvflat';
	END LOOP;
	EXECUTE format('SELECT array_agg(idx) FROM (%s) s', sql) INTO ids;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	IF found <> use_index THEN
		RAISE EXCEPTION 'plan does not match use_index = %', use_index;
	END IF;
	RETURN ids;
END $f$;
SELECT is(pg_temp.translated_top5(true), pg_temp.translated_top5(false),
	'ORDER BY b <=> relvec_translate(q) LIMIT 5 through an rvflat index = the seq scan');

-- a pgvector column searched with a translated query, by the text cast (skipped without pgvector)
CREATE FUNCTION pg_temp.pgvector_check() RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
		RETURN QUERY SELECT skip('pgvector is not installed on this server', 1);
		RETURN;
	END IF;
	CREATE EXTENSION IF NOT EXISTS vector;
	EXECUTE 'CREATE TEMP TABLE pv AS SELECT idx, b::text::vector v FROM tr';
	RETURN QUERY EXECUTE $q$
		SELECT ok(count(*) >= 9, 'pgvector: ORDER BY v <=> relvec_translate(q)::text::vector gives the same top 5 as embedding')
		FROM (SELECT idx, a FROM tr ORDER BY idx LIMIT 10) q
		WHERE (SELECT array_agg(idx ORDER BY idx) FROM (SELECT idx FROM pv
		         ORDER BY v <=> relvec_translate(q.a, 'fm300', 'mlp_a', 'mlp_b')::text::vector LIMIT 5) x)
		    = (SELECT array_agg(idx ORDER BY idx) FROM (SELECT idx FROM tr
		         ORDER BY b <=> relvec_translate(q.a, 'fm300', 'mlp_a', 'mlp_b') LIMIT 5) y)$q$;
END $f$;
SELECT * FROM pg_temp.pgvector_check();

-- linear and affine, re-fit seen at once by the cache within the transaction
SELECT ok(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b', 'linear') > 0.95, 'fit linear');
SELECT ok((SELECT avg(1 - (relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') <=> b)) FROM tr) > 0.95, 'linear: items land near');
SELECT ok((SELECT count(*) FROM tr WHERE relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') = t) = 0,
	'the re-fitted (linear) translation is used at once');
SELECT ok(pg_temp.maxdiff(pg_temp.formula(a, 'fm300', 'mlp_a', 'mlp_b'),
	relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b')::real[]) < 1e-4, 'linear: translate = the formula in SQL')
	FROM fixtures.fmnist WHERE idx = 60007;
SELECT ok(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b', 'affine') > 0.95, 'fit affine');
SELECT is((SELECT method || ' ' || embedding_dims(bias) FROM relvec_translations t JOIN relvec_anchor_sets s USING (set_id)
	WHERE s.name = 'fm300'), 'affine 64', 'affine stores a bias');
SELECT ok(pg_temp.maxdiff(pg_temp.formula(a, 'fm300', 'mlp_a', 'mlp_b'),
	relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b')::real[]) < 1e-4, 'affine: translate = the formula in SQL (with bias)')
	FROM fixtures.fmnist WHERE idx = 60007;

-- errors of relvec_translate
SELECT throws_ok($$SELECT relvec_translate('[1,2,3]', 'fm300', 'mlp_a', 'mlp_b')$$, '22000',
	'embedding has 3 dimensions, space "mlp_a" has 64', 'wrong dimensions');
SELECT throws_ok($$SELECT relvec_translate(b, 'fm300', 'mlp_b', 'mlp_a') FROM fixtures.fmnist LIMIT 1$$, '55000',
	'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'the reverse is not fitted');
SELECT throws_ok($$SELECT relvec_translate(a, 'fm300', 'mlp_a', 'nope') FROM fixtures.fmnist LIMIT 1$$, '42704',
	'space "nope" does not exist', 'unknown target space');
UPDATE relvec_translations SET matrix = matrix[1:10] WHERE method = 'affine';
SELECT throws_ok($$SELECT relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') FROM fixtures.fmnist LIMIT 1$$, '22000',
	'stored translation from space "mlp_a" to space "mlp_b" in anchor set "fm300" is damaged', 'a damaged row is an error, not a crash');

-- words: a known orthogonal map (signed permutation) is recovered exactly; zero-padding 100 <-> 40
CREATE TEMP TABLE w AS SELECT idx, word, ft,
	(SELECT array_agg((CASE WHEN j % 2 = 0 THEN -2.5 ELSE 2.5 END * (ft::real[])[(j * 37) % 100 + 1] + 0.25 * j)::real ORDER BY j)
	 FROM generate_series(0, 99) j)::embedding perm FROM fixtures.words;
ALTER TABLE w ADD COLUMN p40 embedding;
UPDATE w SET p40 = subvector(perm, 1, 40);
SELECT relvec_create_space('ft', 100);
SELECT relvec_create_space('ft_perm', 100);
SELECT relvec_create_space('ft_40', 40);
SELECT relvec_create_anchor_set('w200', (SELECT array_agg(word ORDER BY md5(word)) FROM (SELECT word FROM w ORDER BY md5(word) LIMIT 200) s));
CREATE TEMP TABLE wa AS SELECT * FROM w ORDER BY md5(word) LIMIT 200;
SELECT relvec_set_anchors('w200', 'ft', 'SELECT word, ft FROM wa');
SELECT relvec_set_anchors('w200', 'ft_perm', 'SELECT word, perm FROM wa');
SELECT relvec_set_anchors('w200', 'ft_40', 'SELECT word, p40 FROM wa');
SELECT relvec_freeze_anchor_set('w200');
SELECT ok(relvec_fit_translation('w200', 'ft', 'ft_perm') > 0.9999, 'a signed permutation: fit quality 1');
SELECT ok((SELECT max(pg_temp.maxdiff(relvec_translate(ft, 'w200', 'ft', 'ft_perm')::real[], perm::real[])) FROM w) < 1e-3,
	'every word (anchor or not) translates onto its permuted vector');
SELECT ok(relvec_fit_translation('w200', 'ft', 'ft_40') > 0.5, 'fit 100 -> 40 (target padded)');
SELECT ok(relvec_fit_translation('w200', 'ft_40', 'ft') > 0.3, 'fit 40 -> 100 (source padded)');
SELECT is((SELECT embedding_dims(relvec_translate(ft, 'w200', 'ft', 'ft_40')) || ' ' || embedding_dims(relvec_translate(p40, 'w200', 'ft_40', 'ft'))
	FROM w LIMIT 1), '40 100', 'padded translations have the target''s dimensions');
SELECT ok((SELECT pg_temp.maxdiff(pg_temp.formula(ft, 'w200', 'ft', 'ft_40'), relvec_translate(ft, 'w200', 'ft', 'ft_40')::real[])
	+ pg_temp.maxdiff(pg_temp.formula(p40, 'w200', 'ft_40', 'ft'), relvec_translate(p40, 'w200', 'ft_40', 'ft')::real[])
	FROM w WHERE word = (SELECT max(word) FROM w)) < 1e-4, 'padded translations = the formula in SQL');

SELECT * FROM finish();
ROLLBACK;
