-- 030_project: spaces, anchor sets, parallel anchors and relative projection in the SQLite
-- catalog, on the real Fashion-MNIST fixtures (two encoders, 300 parallel anchors): the
-- cases of tests/pgtap/030_project.sql, with JSON arrays where PostgreSQL has text[].

-- catalog ------------------------------------------------------------------------------------
SELECT lives_ok('SELECT relvec_catalog_init()', 'relvec_catalog_init() creates the catalog');
SELECT lives_ok('SELECT relvec_catalog_init()', 'and is idempotent');
SELECT is_eq((SELECT group_concat(name || ' ' || type, ', ') FROM pragma_table_info('relvec_spaces')),
	'space_id INTEGER, name TEXT, dims INTEGER, description TEXT, mean BLOB, mean_version INTEGER', 'relvec_spaces columns');
SELECT is_eq((SELECT group_concat(name || ' ' || type, ', ') FROM pragma_table_info('relvec_anchor_sets')),
	'set_id INTEGER, name TEXT, keys TEXT, frozen INTEGER', 'relvec_anchor_sets columns');
SELECT is_eq((SELECT group_concat(name || ' ' || type, ', ') FROM pragma_table_info('relvec_anchors')),
	'set_id INTEGER, space_id INTEGER, ord INTEGER, key TEXT, e BLOB', 'relvec_anchors columns');
SELECT is_eq((SELECT group_concat(name, ', ') FROM pragma_table_info('relvec_translations')),
	'set_id, from_space_id, to_space_id, method, from_mean, from_std, to_mean, to_std, matrix, bias, fitted_at', 'relvec_translations columns');
SELECT is_eq((SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'relvec_%frozen%'), 4, 'four frozen-set triggers');

-- spaces
SELECT lives_ok('SELECT relvec_create_space(''mlp_a'', 64, ''Fashion-MNIST encoder A'')', 'create space mlp_a');
SELECT lives_ok('SELECT relvec_create_space(''mlp_b'', 64)', 'create space mlp_b (no description)');
SELECT is_eq((SELECT dims FROM relvec_spaces WHERE name = 'mlp_a'), 64, 'dims stored');
SELECT is_eq((SELECT description FROM relvec_spaces WHERE name = 'mlp_a'), 'Fashion-MNIST encoder A', 'description stored');
SELECT throws_ok('SELECT relvec_create_space(''mlp_a'', 64)', 'space "mlp_a" already exists', 'duplicate space');
SELECT throws_ok('SELECT relvec_create_space(''z'', 0)', 'dimensions of space "z" must be at least 1', 'zero dims');
SELECT throws_ok('SELECT relvec_create_space(''z'', 16001)', 'dimensions of space "z" cannot exceed 16000', 'too many dims');
SELECT throws_ok('SELECT relvec_create_space(NULL, 3)', 'space name must not be null', 'null name');
SELECT throws_ok('SELECT relvec_create_space(''z'', NULL)', 'dims must not be null', 'null dims');
SELECT throws_ok('SELECT relvec_create_space('''', 3)', 'space name must not be empty', 'empty name');

-- anchor sets
SELECT lives_ok('SELECT relvec_create_anchor_set(''fm300'',
	(SELECT json_group_array(CAST(idx AS TEXT)) FROM (SELECT idx FROM fixtures.fmnist WHERE is_anchor ORDER BY anchor_no)))',
	'create a 300-anchor set');
SELECT is_eq((SELECT json_array_length(keys) FROM relvec_anchor_sets WHERE name = 'fm300'), 300, 'keys stored');
SELECT is_eq((SELECT json_extract(keys, '$[0]') FROM relvec_anchor_sets WHERE name = 'fm300'),
	(SELECT CAST(idx AS TEXT) FROM fixtures.fmnist WHERE anchor_no = 1), 'keys stored in order');
SELECT throws_ok('SELECT relvec_create_anchor_set(''fm300'', ''["1"]'')', 'anchor set "fm300" already exists', 'duplicate set');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', ''["1","2","1"]'')', 'anchor key "1" appears more than once', 'duplicate key');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', ''[]'')', 'anchor set "d" needs at least one key', 'no keys');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', ''["1", null]'')', 'anchor keys must not contain nulls', 'null key');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', ''[["1"],["2"]]'')', 'anchor keys must be a one-dimensional array', 'nested array');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', ''not json'')', 'anchor keys must be a JSON array of strings', 'not JSON');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', ''{"a":1}'')', 'anchor keys must be a JSON array of strings', 'a JSON object');
SELECT throws_ok('SELECT relvec_create_anchor_set(NULL, ''["1"]'')', 'anchor set name must not be null', 'null set name');
SELECT throws_ok('SELECT relvec_create_anchor_set(''d'', NULL)', 'keys must not be null', 'null keys');
SELECT lives_ok('SELECT relvec_create_anchor_set(''nums'', ''[3, 1, 2]'')', 'numbers are taken as text keys');
SELECT is_eq((SELECT keys FROM relvec_anchor_sets WHERE name = 'nums'), '["3","1","2"]', 'stored as a JSON array of strings, in order');
DELETE FROM relvec_anchor_sets WHERE name = 'nums';

-- parallel anchors: errors leave nothing behind
SELECT throws_ok('SELECT relvec_set_anchors(''nope'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist'')',
	'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''nope'', ''SELECT idx, a FROM fixtures.fmnist'')',
	'space "nope" does not exist', 'unknown space');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT a FROM fixtures.fmnist'')',
	'query must return two columns, (key, embedding)', 'one column');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, label FROM fixtures.fmnist'')',
	'query must return two columns, (key, embedding)', 'second column not an embedding');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist WHERE is_anchor AND anchor_no > 1'')',
	'query does not return anchor "' || (SELECT idx FROM fixtures.fmnist WHERE anchor_no = 1) || '" of set "fm300"', 'a missing anchor key');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist WHERE 0'')',
	'query does not return anchor "' || (SELECT idx FROM fixtures.fmnist WHERE anchor_no = 1) || '" of set "fm300"',
	'a query without rows (found by fuzz_catalog: memcpy from a NULL key array)');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist'')',
	'key "' || (SELECT min(CAST(idx AS TEXT)) FROM fixtures.fmnist WHERE NOT is_anchor) || '" is not an anchor of set "fm300"', 'a key that is not an anchor');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist WHERE is_anchor UNION ALL SELECT idx, a FROM fixtures.fmnist WHERE anchor_no = 7'')',
	'query returns anchor key "' || (SELECT idx FROM fixtures.fmnist WHERE anchor_no = 7) || '" more than once', 'an anchor key twice');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist WHERE is_anchor'')',
	'anchor "' || (SELECT min(CAST(idx AS TEXT)) FROM fixtures.fmnist WHERE is_anchor) || '" has 10 dimensions, space "mlp_a" has 64', 'anchors of the wrong dimensions');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, CASE WHEN anchor_no = 3 THEN NULL ELSE a END FROM fixtures.fmnist WHERE is_anchor'')',
	'query returns a row with a null key or embedding', 'a null embedding');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, x''''0200'''' FROM fixtures.fmnist WHERE is_anchor'')',
	'embedding blob of 2 bytes is shorter than its header', 'a corrupt BLOB in the query');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT 1, 2; SELECT 3'')',
	'query must be a single statement that returns rows', 'two statements');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELEC idx'')', 'near "SELEC": syntax error', 'a query that does not parse');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', NULL)', 'query must not be null', 'null query');
SELECT is_eq((SELECT count(*) FROM relvec_anchors), 0, 'failed calls stored nothing');
SELECT is_eq(relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor'), 300, '300 anchors in mlp_a');
SELECT is_eq(relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, embedding_text(b) FROM fixtures.fmnist WHERE is_anchor'), 300,
	'300 anchors in mlp_b, from the text form');
SELECT is_eq((SELECT key FROM relvec_anchors WHERE ord = 1 LIMIT 1), (SELECT CAST(idx AS TEXT) FROM fixtures.fmnist WHERE anchor_no = 1),
	'anchors stored in set order');
SELECT throws_ok('SELECT relvec_project(a, ''fm300'', ''mlp_a'') FROM fixtures.fmnist LIMIT 1', 'anchor set "fm300" is not frozen',
	'projection needs a frozen set');

-- freezing
SELECT relvec_create_anchor_set('empty', '["60000"]');
SELECT throws_ok('SELECT relvec_freeze_anchor_set(''empty'')', 'anchor set "empty" has no embeddings in any space', 'nothing to freeze');
SELECT relvec_create_anchor_set('zero', '["60000", "60001"]');
SELECT relvec_set_anchors('zero', 'mlp_a', 'SELECT idx, CASE WHEN idx = 60001 THEN embedding(''['' || substr(replace(hex(zeroblob(64)), ''00'', ''0,''), 1, 127) || '']'') ELSE a END
	FROM fixtures.fmnist WHERE idx IN (60000, 60001)');
SELECT throws_ok('SELECT relvec_freeze_anchor_set(''zero'')', 'anchor "60001" of set "zero" is a zero vector in space "mlp_a"', 'zero-norm anchor');
SELECT lives_ok('SELECT relvec_freeze_anchor_set(''fm300'')', 'freeze a complete set');
SELECT ok((SELECT frozen FROM relvec_anchor_sets WHERE name = 'fm300'), 'it is frozen');
SELECT lives_ok('SELECT relvec_freeze_anchor_set(''fm300'')', 'freezing again is a no-op');
SELECT throws_ok('SELECT relvec_set_anchors(''fm300'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist WHERE is_anchor'')',
	'anchor set "fm300" is frozen', 'a frozen set cannot take new anchors');
SELECT throws_ok('UPDATE relvec_anchors SET e = embedding_add(e, e) WHERE key = (SELECT json_extract(keys, ''$[0]'') FROM relvec_anchor_sets WHERE name = ''fm300'')',
	'anchor set is frozen', 'nor be edited directly');
SELECT throws_ok('UPDATE relvec_anchor_sets SET frozen = 0 WHERE name = ''fm300''', 'anchor set is frozen', 'nor be unfrozen');
SELECT throws_ok('INSERT INTO relvec_anchors SELECT set_id, space_id, ord + 1000, key || ''x'', e FROM relvec_anchors
	WHERE set_id = (SELECT set_id FROM relvec_anchor_sets WHERE name = ''fm300'') LIMIT 1', 'anchor set is frozen',
	'nor take extra anchor rows in a complete space');
SELECT throws_ok('DELETE FROM relvec_anchors WHERE set_id = (SELECT set_id FROM relvec_anchor_sets WHERE name = ''fm300'')',
	'anchor set is frozen', 'nor lose anchors');
SELECT is_eq((SELECT count(*) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'fm300'), 600, 'all 600 anchors still there');

-- projection: errors
SELECT throws_ok('SELECT relvec_project(''[1,2]'', ''nope'', ''mlp_a'')', 'anchor set "nope" does not exist', 'unknown set');
SELECT throws_ok('SELECT relvec_project(''[1,2]'', ''fm300'', ''nope'')', 'space "nope" does not exist', 'unknown space');
SELECT throws_ok('SELECT relvec_project(''[1,2]'', ''fm300'', ''mlp_a'')', 'embedding has 2 dimensions, space "mlp_a" has 64', 'dimension mismatch');
SELECT throws_ok('SELECT relvec_project(a, ''fm300'', ''mlp_a'', ''cos'') FROM fixtures.fmnist LIMIT 1',
	'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'unknown similarity');
SELECT throws_ok('SELECT relvec_project(a, ''fm300'', ''mlp_a'', ''cosine+cosine'') FROM fixtures.fmnist LIMIT 1',
	'similarity "cosine+cosine" names "cosine" twice', 'repeated similarity');
SELECT throws_ok('SELECT relvec_project(a, ''fm300'', ''mlp_a'', ''cosine'', ''middle'') FROM fixtures.fmnist LIMIT 1',
	'unknown center "middle": expected none, anchors or space', 'unknown center');
SELECT throws_ok('SELECT relvec_project(a, ''fm300'', ''mlp_a'', ''cosine'', ''space'') FROM fixtures.fmnist LIMIT 1',
	'space "mlp_a" has no stored mean', 'center space needs a stored mean');
SELECT throws_ok('SELECT relvec_project(x''0200'', ''fm300'', ''mlp_a'')', 'embedding blob of 2 bytes is shorter than its header', 'a corrupt BLOB');
SELECT relvec_create_space('mlp_c', 64);
SELECT throws_ok('SELECT relvec_project(a, ''fm300'', ''mlp_c'') FROM fixtures.fmnist LIMIT 1',
	'anchor set "fm300" has no embeddings in space "mlp_c"', 'a space the set has no anchors in');
SELECT throws_ok('SELECT relvec_set_space_mean(''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist'')', 'query must return one embedding column',
	'space mean from the wrong columns');
SELECT throws_ok('SELECT relvec_set_space_mean(''mlp_a'', ''SELECT subvector(a, 1, 3) FROM fixtures.fmnist'')',
	'query returns 1300 embeddings whose dimensions differ from the 64 of space "mlp_a"', 'space mean of the wrong dimensions');
SELECT throws_ok('SELECT relvec_set_space_mean(''mlp_a'', ''SELECT a FROM fixtures.fmnist WHERE 0'')', 'query returns no embeddings to average',
	'space mean of nothing');
SELECT ok(relvec_project(NULL, 'fm300', 'mlp_a') IS NULL AND relvec_project('[1]', 'fm300', 'mlp_a', NULL) IS NULL, 'NULL arguments give NULL');
SELECT lives_ok('SELECT relvec_set_space_mean(''mlp_a'', ''SELECT a FROM fixtures.fmnist'')', 'store the space mean of mlp_a');
SELECT is_eq((SELECT mean_version FROM relvec_spaces WHERE name = 'mlp_a'), 1, 'mean_version counts');
SELECT ok((SELECT l2_distance(mean, (SELECT embedding_avg(a) FROM fixtures.fmnist)) FROM relvec_spaces WHERE name = 'mlp_a') = 0,
	'the stored mean is the average');

-- projection against an independent computation of the formula: sim(x - c, a_j - c) -------------
CREATE TEMP TABLE probe AS SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY idx LIMIT 5;
CREATE TEMP TABLE anc AS SELECT a.ord, a.e FROM relvec_anchors a JOIN relvec_spaces s ON s.space_id = a.space_id
	JOIN relvec_anchor_sets t ON t.set_id = a.set_id WHERE s.name = 'mlp_a' AND t.name = 'fm300';
CREATE TEMP TABLE centers AS SELECT 'none' AS center, NULL AS c UNION ALL SELECT 'anchors', (SELECT embedding_avg(e) FROM anc)
	UNION ALL SELECT 'space', (SELECT mean FROM relvec_spaces WHERE name = 'mlp_a');
CREATE TEMP TABLE sims (sim TEXT);
INSERT INTO sims VALUES ('cosine'), ('euclidean'), ('l1');
CREATE TEMP TABLE ref AS
	SELECT sim, center, idx, ord, relvec_project(a, 'fm300', 'mlp_a', sim, center) AS r,
		CASE sim WHEN 'cosine' THEN 1 - cosine_distance(xx, aa) WHEN 'euclidean' THEN -l2_distance(xx, aa) ELSE -l1_distance(xx, aa) END AS want
	FROM (SELECT s.sim, ct.center, p.idx, p.a, an.ord,
	             CASE WHEN ct.c IS NULL THEN p.a ELSE embedding_sub(p.a, ct.c) END AS xx,
	             CASE WHEN ct.c IS NULL THEN an.e ELSE embedding_sub(an.e, ct.c) END AS aa
	      FROM sims s, centers ct, probe p, anc an);
SELECT ok(max(abs(inner_product(subvector(r, ord, 1), '[1]') - want) / max(1, abs(want))) < 1e-5,
	'similarity ' || sim || ', center ' || center || ': agrees with the formula to 1e-5')
FROM ref GROUP BY sim, center ORDER BY sim, center;

-- several similarities: each sub-vector standardized over its own 300 values, then concatenated
CREATE TEMP TABLE multi AS
	SELECT idx, ord, sim, want, (want - avg(want) OVER w) / sqrt(avg(want * want) OVER w - avg(want) OVER w * avg(want) OVER w) AS std
	FROM ref WHERE center = 'none' AND sim IN ('cosine', 'euclidean') WINDOW w AS (PARTITION BY idx, sim);
SELECT ok(max(abs(inner_product(subvector(relvec_project(p.a, 'fm300', 'mlp_a', 'cosine+euclidean'),
		m.ord + CASE m.sim WHEN 'cosine' THEN 0 ELSE 300 END, 1), '[1]') - m.std) / max(1, abs(m.std))) < 1e-5,
	'cosine+euclidean: standardized sub-vectors, concatenated') FROM multi m JOIN probe p USING (idx);
SELECT is_eq((SELECT embedding_dims(relvec_project(a, 'fm300', 'mlp_a', 'cosine+euclidean+l1')) FROM probe LIMIT 1), 900,
	'three similarities give 900 dimensions');
SELECT ok((SELECT max(abs(embedding_norm(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'none', 1)) - 1)) FROM probe) < 1e-6,
	'normalize gives unit vectors');
SELECT ok((SELECT max(l2_distance(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'none', 1), l2_normalize(relvec_project(a, 'fm300', 'mlp_a'))))
	FROM probe) < 1e-6, 'normalize divides by the norm');

-- the batched form gives the same vectors as one-at-a-time
SELECT ok((SELECT max(l2_distance(q.relative, relvec_project(f.a, 'fm300', 'mlp_a', 'euclidean', 'anchors')) /
		max(1, embedding_norm(q.relative)))
	FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm300', 'mlp_a', 'euclidean', 'anchors') q
	JOIN fixtures.fmnist f ON CAST(f.idx AS TEXT) = q.key) < 1e-5, 'relvec_project_query equals relvec_project on all 1300 rows');
SELECT is_eq((SELECT count(*) FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm300', 'mlp_a')), 1300,
	'relvec_project_query returns every row');
SELECT is_eq((SELECT count(*) FROM relvec_project_query('WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 9000)
	SELECT i, (SELECT a FROM fixtures.fmnist WHERE idx = 60000) FROM g', 'fm300', 'mlp_a')), 9000, 'across several chunks of 4096 rows');
SELECT is_eq((SELECT count(*) FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist WHERE 0', 'fm300', 'mlp_a')), 0, 'no rows in, no rows out');
SELECT is_eq((SELECT count(*) FROM relvec_project_query(NULL, 'fm300', 'mlp_a')), 0, 'a NULL argument gives no rows');
SELECT throws_ok('SELECT * FROM relvec_project_query(''SELECT a FROM fixtures.fmnist'', ''fm300'', ''mlp_a'')',
	'query must return two columns, (key, embedding)', 'batched: wrong columns');
SELECT throws_ok('SELECT * FROM relvec_project_query(''SELECT idx, subvector(a, 1, 8) FROM fixtures.fmnist ORDER BY idx'', ''fm300'', ''mlp_a'')',
	'embedding of key "' || (SELECT min(idx) FROM fixtures.fmnist) || '" has 8 dimensions, space "mlp_a" has 64', 'batched: wrong dimensions');
SELECT throws_ok('SELECT * FROM relvec_project_query(''SELECT idx, a FROM fixtures.fmnist'', ''fm300'', ''mlp_a'', ''cos'')',
	'unknown similarity "cos": expected cosine, dot, euclidean, l1 or linf', 'batched: unknown similarity');
SELECT throws_ok('SELECT * FROM relvec_project_query(''SELECT idx, a FROM fixtures.fmnist'')',
	'relvec_project_query needs query, anchor_set and space', 'batched: missing arguments');

-- proof on real data: relative vectors of the same item agree across encoders, absolute ones do not
SELECT ok(abs((SELECT avg(1 - cosine_distance(relvec_project(a, 'fm300', 'mlp_a'), relvec_project(b, 'fm300', 'mlp_b')))
	FROM fixtures.fmnist WHERE NOT is_anchor) - 0.9737) < 0.005, 'relative/none mean cosine near the reference 0.9737');
SELECT ok((SELECT avg(1 - cosine_distance(relvec_project(a, 'fm300', 'mlp_a', 'cosine', 'anchors'), relvec_project(b, 'fm300', 'mlp_b', 'cosine', 'anchors')))
	FROM fixtures.fmnist WHERE NOT is_anchor) > 0.9549, 'relative/anchors mean cosine near the reference 0.9599');
SELECT ok((SELECT avg(1 - cosine_distance(a, b)) FROM fixtures.fmnist WHERE NOT is_anchor) < 0.2,
	'absolute vectors of the same item are unrelated (reference 0.1008)');

-- anchor choice
SELECT is_eq(relvec_choose_anchors('r1', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 5, 'random', 7),
	relvec_choose_anchors('r2', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY random()', 5, 'random', 7),
	'random: the same seed gives the same anchors whatever the row order');
SELECT isnt(relvec_choose_anchors('r3', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 5, 'random', 8),
	(SELECT keys FROM relvec_anchor_sets WHERE name = 'r1'), 'another seed, other anchors');
SELECT is_eq((SELECT keys FROM relvec_anchor_sets WHERE name = 'r1'), relvec_choose_anchors('r4', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 5, 'random', 7),
	'the set stores the returned keys');
SELECT is_eq((SELECT count(*) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'r1'), 5, 'and their anchors');
SELECT is_eq(relvec_choose_anchors('f1', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 20, 'fps', 1),
	relvec_choose_anchors('f2', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor ORDER BY idx DESC', 20, 'fps', 1),
	'fps is deterministic');
SELECT is_eq(relvec_choose_anchors('k1', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 10, 'kmeans', 3),
	relvec_choose_anchors('k2', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 10, 'kmeans', 3),
	'kmeans is deterministic');
SELECT is_eq((SELECT count(DISTINCT value) FROM relvec_anchor_sets, json_each(keys) WHERE name = 'k1'), 10, 'kmeans picks distinct real items');
SELECT throws_ok('SELECT relvec_choose_anchors(''x'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist'', 5, ''median'')',
	'unknown anchor method "median": expected random, fps or kmeans', 'unknown method');
SELECT throws_ok('SELECT relvec_choose_anchors(''x'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist WHERE idx BETWEEN 60000 AND 60002'', 5)',
	'cannot choose 5 anchors from 3 items', 'more anchors than items');
SELECT throws_ok('SELECT relvec_choose_anchors(''x'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist'', 0)',
	'the number of anchors must be at least 1', 'k = 0');
SELECT throws_ok('SELECT relvec_choose_anchors(''r1'', ''mlp_a'', ''SELECT idx, a FROM fixtures.fmnist'', 5)',
	'anchor set "r1" already exists', 'an existing set name');
SELECT throws_ok('SELECT relvec_choose_anchors(''x'', ''mlp_a'', ''SELECT 1, a FROM fixtures.fmnist'', 5)',
	'query returns key "1" more than once', 'duplicate keys');
SELECT is_eq((SELECT count(*) FROM relvec_anchor_sets WHERE name = 'x'), 0, 'failed choices create no set');
