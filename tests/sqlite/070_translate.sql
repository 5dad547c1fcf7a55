-- 070_translate: translations between spaces fitted on parallel anchors, as
-- tests/pgtap/070_translate.sql: the Fashion-MNIST fixtures (two independently trained 64-d
-- encoders, 300 anchors) and a words space made from fastText by a known signed
-- permutation, rescaling and shift. The stored row is decoded in SQL (the matrix is raw
-- float32: prefixed with an embedding header it reads as one embedding) and
-- relvec_translate is checked against the formula computed in SQL.

SELECT relvec_create_space('mlp_a', 64);
SELECT relvec_create_space('mlp_b', 64);
SELECT relvec_create_space('lone', 64);
SELECT relvec_create_anchor_set('fm300', (SELECT json_group_array(CAST(idx AS TEXT)) FROM (SELECT idx FROM fixtures.fmnist WHERE is_anchor ORDER BY anchor_no)));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
SELECT relvec_create_anchor_set('fm30', (SELECT json_group_array(CAST(idx AS TEXT)) FROM (SELECT idx FROM fixtures.fmnist WHERE anchor_no <= 30 ORDER BY anchor_no)));
SELECT relvec_set_anchors('fm30', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_set_anchors('fm30', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE anchor_no <= 30');
SELECT relvec_freeze_anchor_set('fm30');
SELECT relvec_create_anchor_set('open', '["1"]');

-- errors (PostgreSQL's texts) ----------------------------------------------------------------
SELECT throws_ok('SELECT relvec_translate(a, ''fm300'', ''mlp_a'', ''mlp_b'') FROM fixtures.fmnist LIMIT 1',
	'no translation fitted from space "mlp_a" to space "mlp_b" in anchor set "fm300"', 'translate before any fit');
SELECT throws_ok('SELECT relvec_fit_translation(''nope'', ''mlp_a'', ''mlp_b'')', 'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok('SELECT relvec_fit_translation(''fm300'', ''nope'', ''mlp_b'')', 'space "nope" does not exist', 'unknown space');
SELECT throws_ok('SELECT relvec_fit_translation(''open'', ''mlp_a'', ''mlp_b'')', 'anchor set "open" is not frozen', 'unfrozen set');
SELECT throws_ok('SELECT relvec_fit_translation(''fm300'', ''mlp_a'', ''mlp_a'')',
	'cannot fit a translation from space "mlp_a" to itself', 'the same space twice');
SELECT throws_ok('SELECT relvec_translate(a, ''fm300'', ''mlp_a'', ''mlp_a'') FROM fixtures.fmnist LIMIT 1',
	'cannot translate from space "mlp_a" to itself', 'translate a space to itself');
SELECT throws_ok('SELECT relvec_fit_translation(''fm300'', ''mlp_a'', ''mlp_b'', ''rigid'')',
	'unknown translation method "rigid": expected orthogonal, linear or affine', 'unknown method');
SELECT throws_ok('SELECT relvec_fit_translation(''fm300'', ''mlp_a'', ''lone'')',
	'anchor set "fm300" has no embeddings in space "lone"', 'a space missing from the set');
SELECT throws_ok('SELECT relvec_fit_translation(''fm30'', ''mlp_a'', ''mlp_b'', ''linear'')',
	'anchor set has 30 anchors for 64 unknowns: too few for a linear translation', 'rank deficient: linear');
SELECT throws_ok('SELECT relvec_fit_translation(''fm30'', ''mlp_a'', ''mlp_b'', ''affine'')',
	'anchor set has 30 anchors for 65 unknowns: too few for an affine translation', 'rank deficient: affine');
SELECT is_eq((SELECT count(*) FROM relvec_translations), 0, 'failed fits stored nothing');
SELECT is_eq(relvec_fit_translation(NULL, 'mlp_a', 'mlp_b'), NULL, 'a NULL argument gives NULL (STRICT)');
SELECT ok(relvec_fit_translation('fm30', 'mlp_a', 'mlp_b') > 0.5, 'orthogonal needs no rank: 30 anchors fit');

-- orthogonal ---------------------------------------------------------------------------------
SELECT ok(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b') > 0.9, 'fit orthogonal on 300 anchors');
CREATE TEMP VIEW fm AS SELECT t.* FROM relvec_translations t JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'fm300';
SELECT is_eq((SELECT method || ' ' || embedding_dims(from_mean) || ' ' || embedding_dims(to_std) || ' ' || length(matrix)
	|| ' ' || typeof(matrix) || ' ' || (bias IS NULL) || ' ' || typeof(fitted_at) FROM fm),
	'orthogonal 64 64 16384 blob 1 text', 'stored row: method, statistics, 64 x 64 float32 matrix without header, no bias');
-- the matrix is orthogonal: R Rᵀ = I
CREATE TEMP TABLE m AS SELECT CAST(j.key AS INTEGER) / 64 AS i, CAST(j.key AS INTEGER) % 64 AS j, j.value AS v
	FROM fm, json_each(embedding_text(CAST(X'00100000' || fm.matrix AS BLOB))) j;
CREATE INDEX m_j ON m (j);
SELECT ok((SELECT max(abs(s - (CASE WHEN i1 = i2 THEN 1 ELSE 0 END))) FROM
	(SELECT x.i AS i1, y.i AS i2, sum(x.v * y.v) AS s FROM m x JOIN m y ON x.j = y.j GROUP BY x.i, y.i)) < 1e-4,
	'the orthogonal matrix is orthogonal');
-- the returned quality is the mean cosine of the translated anchors
SELECT near(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b'), (SELECT avg(1 - cosine_distance(relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b'), b))
	FROM fixtures.fmnist WHERE is_anchor), 1e-6, 'fit quality = mean cosine of the translated anchors to theirs');
SELECT is_eq((SELECT count(*) FROM relvec_translations), 2, 're-fitting replaces the row');

-- translated test items land near their counterparts
CREATE TEMP TABLE tr AS SELECT idx, a, b, relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') AS t FROM fixtures.fmnist WHERE NOT is_anchor;
SELECT ok((SELECT avg(1 - cosine_distance(t, b)) FROM tr) > 0.95, 'translated items: mean cosine to their counterparts above 0.95');
SELECT ok((SELECT avg(1 - cosine_distance(a, b)) FROM tr) < 0.2, 'untranslated (absolute): below 0.2');
SELECT is_eq((SELECT min(embedding_dims(t)) FROM tr), 64, 'translated into 64 dimensions');
SELECT is_eq(relvec_translate(NULL, 'fm300', 'mlp_a', 'mlp_b'), NULL, 'a NULL embedding gives NULL');
SELECT is_eq((SELECT embedding_dims(relvec_translate(embedding_text(a), 'fm300', 'mlp_a', 'mlp_b')) FROM tr LIMIT 1), 64,
	'the text form is accepted');

-- relvec_translate against the formula computed in SQL, independently of the C code:
-- y = ((x - from_mean) / from_std) · matrix + bias, then y * to_std + to_mean
CREATE TEMP VIEW formula AS
	WITH t AS (SELECT * FROM fm), x AS (SELECT a FROM fixtures.fmnist WHERE idx = 60007),
	z AS (SELECT CAST(xv.key AS INTEGER) AS i, (xv.value - fmv.value) / fsv.value AS z
	      FROM x, t, json_each(embedding_text(x.a)) xv, json_each(embedding_text(t.from_mean)) fmv, json_each(embedding_text(t.from_std)) fsv
	      WHERE fmv.key = xv.key AND fsv.key = xv.key),
	y AS (SELECT m.j AS j, sum(z.z * m.v) AS y FROM z JOIN fmat m ON m.i = z.i GROUP BY m.j)
	SELECT y.j AS j, (y.y + coalesce((SELECT value FROM t, json_each(embedding_text(t.bias)) b WHERE b.key = y.j), 0))
	                 * tsv.value + tmv.value AS want
	FROM y, t, json_each(embedding_text(t.to_std)) tsv, json_each(embedding_text(t.to_mean)) tmv
	WHERE tsv.key = y.j AND tmv.key = y.j;
CREATE TEMP VIEW fmat AS SELECT CAST(j.key AS INTEGER) / 64 AS i, CAST(j.key AS INTEGER) % 64 AS j, j.value AS v
	FROM fm, json_each(embedding_text(CAST(X'00100000' || fm.matrix AS BLOB))) j;
CREATE TEMP VIEW got AS SELECT CAST(g.key AS INTEGER) AS j, g.value AS v
	FROM fixtures.fmnist f, json_each(embedding_text(relvec_untag(relvec_translate(f.a, 'fm300', 'mlp_a', 'mlp_b')))) g WHERE f.idx = 60007;
SELECT ok((SELECT count(*) = 64 AND max(abs(f.want - g.v)) < 1e-4 FROM formula f JOIN got g USING (j)), 'orthogonal: translate = the formula in SQL');

-- a translated query searches the target space with the ordinary distance functions
CREATE TEMP TABLE tq AS SELECT idx, a, relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') AS t FROM tr ORDER BY idx LIMIT 50;
CREATE TEMP TABLE ranks AS SELECT q.idx AS q, c.idx AS c,
	row_number() OVER (PARTITION BY q.idx ORDER BY cosine_distance(c.b, q.t), c.idx) AS r_translated,
	row_number() OVER (PARTITION BY q.idx ORDER BY cosine_distance(c.b, q.a), c.idx) AS r_absolute FROM tq q, tr c;
SELECT ok((SELECT count(*) FROM ranks WHERE q = c AND r_translated <= 10) >= 30,
	'ORDER BY cosine_distance(b, relvec_translate(q)) LIMIT 10 finds the item itself for most queries');
SELECT ok((SELECT count(*) FROM ranks WHERE q = c AND r_absolute <= 10) <= 5, 'the untranslated query rarely does');

-- linear and affine; a re-fit is seen at once through the connection's cache
SELECT ok(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b', 'linear') > 0.95, 'fit linear');
SELECT ok((SELECT avg(1 - cosine_distance(relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b'), b)) FROM tr) > 0.95, 'linear: items land near');
SELECT is_eq((SELECT count(*) FROM tr WHERE relvec_translate(a, 'fm300', 'mlp_a', 'mlp_b') = t), 0,
	'the re-fitted (linear) translation is used at once');
SELECT ok((SELECT count(*) = 64 AND max(abs(f.want - g.v)) < 1e-4 FROM formula f JOIN got g USING (j)), 'linear: translate = the formula in SQL');
SELECT ok(relvec_fit_translation('fm300', 'mlp_a', 'mlp_b', 'affine') > 0.95, 'fit affine');
SELECT is_eq((SELECT method || ' ' || embedding_dims(bias) FROM fm), 'affine 64', 'affine stores a bias');
SELECT ok((SELECT count(*) = 64 AND max(abs(f.want - g.v)) < 1e-4 FROM formula f JOIN got g USING (j)), 'affine: translate = the formula in SQL (with bias)');

-- errors of relvec_translate
SELECT throws_ok('SELECT relvec_translate(''[1,2,3]'', ''fm300'', ''mlp_a'', ''mlp_b'')',
	'embedding has 3 dimensions, space "mlp_a" has 64', 'wrong dimensions');
SELECT throws_ok('SELECT relvec_translate(b, ''fm300'', ''mlp_b'', ''mlp_a'') FROM fixtures.fmnist LIMIT 1',
	'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'the reverse is not fitted');
SELECT throws_ok('SELECT relvec_translate(a, ''fm300'', ''mlp_a'', ''nope'') FROM fixtures.fmnist LIMIT 1',
	'space "nope" does not exist', 'unknown target space');
UPDATE relvec_translations SET matrix = substr(matrix, 1, 40) WHERE method = 'affine';
SELECT throws_ok('SELECT relvec_translate(a, ''fm300'', ''mlp_a'', ''mlp_b'') FROM fixtures.fmnist LIMIT 1',
	'stored translation from space "mlp_a" to space "mlp_b" in anchor set "fm300" is damaged', 'a damaged row is an error, not a crash (the cache sees the change)');
UPDATE relvec_translations SET matrix = zeroblob(16384), bias = NULL WHERE method = 'affine';
SELECT throws_ok('SELECT relvec_translate(a, ''fm300'', ''mlp_a'', ''mlp_b'') FROM fixtures.fmnist LIMIT 1',
	'stored translation from space "mlp_a" to space "mlp_b" in anchor set "fm300" is damaged', 'affine without its bias is damaged');

-- words: a known orthogonal map (signed permutation, rescaling, shift) is recovered exactly;
-- zero-padding 100 <-> 40
CREATE TEMP TABLE w AS SELECT idx, word, ft, (SELECT embedding('[' || group_concat(v, ',') || ']') FROM
	(SELECT (CASE WHEN j.key % 2 = 0 THEN -2.5 ELSE 2.5 END) * json_extract(embedding_text(ft), '$[' || ((j.key * 37) % 100) || ']')
	        + 0.25 * j.key AS v FROM json_each(embedding_text(ft)) j ORDER BY j.key)) AS perm
	FROM fixtures.words WHERE idx < 600;
ALTER TABLE w ADD COLUMN p40 BLOB;
UPDATE w SET p40 = subvector(perm, 1, 40);
SELECT relvec_create_space('ft', 100);
SELECT relvec_create_space('ft_perm', 100);
SELECT relvec_create_space('ft_40', 40);
CREATE TEMP TABLE wa AS SELECT * FROM w WHERE idx % 3 = 0 ORDER BY idx;
SELECT relvec_create_anchor_set('w200', (SELECT json_group_array(word) FROM (SELECT word FROM wa ORDER BY idx)));
SELECT relvec_set_anchors('w200', 'ft', 'SELECT word, ft FROM wa');
SELECT relvec_set_anchors('w200', 'ft_perm', 'SELECT word, perm FROM wa');
SELECT relvec_set_anchors('w200', 'ft_40', 'SELECT word, p40 FROM wa');
SELECT relvec_freeze_anchor_set('w200');
SELECT ok(relvec_fit_translation('w200', 'ft', 'ft_perm') > 0.9999, 'a signed permutation: fit quality 1');
SELECT ok((SELECT max(abs(x.value - y.value)) FROM w, json_each(embedding_text(relvec_untag(relvec_translate(w.ft, 'w200', 'ft', 'ft_perm')))) x,
	json_each(embedding_text(w.perm)) y WHERE x.key = y.key) < 1e-3, 'every word (anchor or not) translates onto its permuted vector');
SELECT ok(relvec_fit_translation('w200', 'ft', 'ft_40') > 0.5, 'fit 100 -> 40 (target padded)');
SELECT ok(relvec_fit_translation('w200', 'ft_40', 'ft') > 0.3, 'fit 40 -> 100 (source padded)');
SELECT is_eq((SELECT embedding_dims(relvec_translate(ft, 'w200', 'ft', 'ft_40')) || ' ' || embedding_dims(relvec_translate(p40, 'w200', 'ft_40', 'ft'))
	FROM w LIMIT 1), '40 100', 'padded translations have the target''s dimensions');
SELECT is_eq((SELECT length(matrix) FROM relvec_translations t JOIN relvec_spaces s ON s.space_id = t.from_space_id WHERE s.name = 'ft_40'),
	40000, 'a padded translation stores dim x dim with dim = max of the two');
