-- 095_spaces: spaces in the type. A value may carry the space (model) it belongs to; a
-- column embedding(space) tags what it stores and refuses another space's; two spaces
-- never meet in a distance, an operator, an aggregate, a kNN or an index scan; the
-- functions infer what tags say; untagged values behave exactly as before.
BEGIN;
SELECT plan(102);

SELECT relvec_create_space('sp_a', 3, 'model A');
SELECT relvec_create_space('sp_b', 3, 'model B, the same dimensions');
SELECT relvec_create_space('Sp C', 2, 'a name that needs quotes');
CREATE TEMP TABLE ids AS SELECT name, space_id FROM relvec_spaces WHERE name IN ('sp_a', 'sp_b', 'Sp C');
CREATE FUNCTION pg_temp.id(n text) RETURNS int LANGUAGE sql AS $$ SELECT space_id FROM ids WHERE name = n $$;
-- the output function's text (the cast to text is the plain array)
CREATE FUNCTION pg_temp.out(e embedding) RETURNS text LANGUAGE sql AS $$ SELECT format('%s', e) $$;

-- tags, text form, untagged values unchanged ---------------------------------------------------
SELECT is(relvec_space_of('[1,2,3]'), NULL, 'an untagged value has no space');
SELECT is(relvec_space_of(relvec_tag('[1,2,3]', 'sp_a')), 'sp_a', 'relvec_tag gives it one');
SELECT is(pg_temp.out(relvec_tag('[1,2,3]', 'sp_a')),
	'sp_a#' || pg_temp.id('sp_a') || ':[1,2,3]', 'the output of a tagged value names its space and id');
SELECT is(pg_temp.out(relvec_tag('[1,2]', 'Sp C')),
	'"Sp C"#' || pg_temp.id('Sp C') || ':[1,2]', 'a name that needs quotes is quoted');
SELECT is(relvec_tag('[1,2,3]', 'sp_a')::text, '[1,2,3]', 'the cast to text is the plain array');
SELECT is(format('%s', '[1,2,3]'::embedding), '[1,2,3]', 'an untagged value prints as before');
SELECT is(embedding_send(relvec_tag('[1,0,0]', 'sp_b')), '\x0003'::bytea || int2send(pg_temp.id('sp_b')::int2) || '\x3f8000000000000000000000'::bytea,
	'binary send: the tag in pgvector''s reserved field');
SELECT is(embedding_send('[1]'), '\x000100003f800000'::bytea, 'untagged: pgvector''s wire form exactly');
SELECT is(relvec_space_of(('sp_a#' || pg_temp.id('sp_a') || ':[1,2,3]')::embedding), 'sp_a', 'the text form reads back');
SELECT is(relvec_space_of('sp_b#65000:[1,2,3]'::embedding), 'sp_b',
	'a tagged text from another database resolves by name (its id there was 65000)');
SELECT is(relvec_space_of('#4321:[1]'::embedding), '#4321', 'an id with no name stays (a restore before the catalog)');
SELECT is(relvec_space_of('nosuch#4322:[1]'::embedding), '#4322', 'so does an unknown name with an unknown id');
SELECT throws_ok(format($$SELECT 'nosuch#%s:[1,2,3]'::embedding$$, pg_temp.id('sp_a')), '42704',
	'space "nosuch" does not exist', 'an unknown name whose id is another space here: an error, not a wrong tag');
SELECT throws_ok($$SELECT 'sp_a:[1,2,3]'::embedding$$, '22P02', NULL, 'a name without its id');
SELECT throws_ok($$SELECT 'sp_a#0:[1]'::embedding$$, '22P02', NULL, 'id 0 is no space');
SELECT is(pg_temp.out(relvec_untag(relvec_tag('[1,2,3]', 'sp_a'))), '[1,2,3]', 'relvec_untag removes it');
SELECT is(relvec_tag(relvec_tag('[1,2,3]', 'sp_a'), 'sp_a')::text, '[1,2,3]', 'tagging again with the same space is harmless');
SELECT throws_ok($$SELECT relvec_tag(relvec_tag('[1,2,3]', 'sp_a'), 'sp_b')$$, '42804',
	'embedding already belongs to space "sp_a", not "sp_b"', 'a value of another space is not retagged');
SELECT throws_ok($$SELECT relvec_tag('[1,2]', 'sp_a')$$, '22000', 'embedding has 2 dimensions, space "sp_a" has 3',
	'tagging needs the space''s dimensions');
SELECT throws_ok($$SELECT relvec_tag('[1,2]', 'nope')$$, '42704', 'space "nope" does not exist', 'an unknown space');

-- mixing spaces is an error; tagged with untagged is fine --------------------------------------
CREATE TEMP TABLE v AS SELECT relvec_tag('[1,0,0]', 'sp_a') AS a, relvec_tag('[0,1,0]', 'sp_b') AS b,
	'[1,1,0]'::embedding AS u;
SELECT throws_ok($$SELECT a <-> b FROM v$$, '42804', 'embeddings of different spaces "sp_a" and "sp_b"', '<-> across spaces');
SELECT throws_ok($$SELECT a <=> b FROM v$$, '42804', NULL, '<=> across spaces');
SELECT throws_ok($$SELECT a <#> b FROM v$$, '42804', NULL, '<#> across spaces');
SELECT throws_ok($$SELECT a <+> b FROM v$$, '42804', NULL, '<+> across spaces');
SELECT throws_ok($$SELECT l2_distance(a, b), inner_product(a, b) FROM v$$, '42804', NULL, 'the distance functions too');
SELECT throws_ok($$SELECT embedding_l2_squared_distance(a, b) FROM v$$, '42804', NULL, 'squared distance too');
SELECT throws_ok($$SELECT a + b FROM v$$, '42804', NULL, '+ across spaces');
SELECT throws_ok($$SELECT a - b FROM v$$, '42804', NULL, '- across spaces');
SELECT throws_ok($$SELECT a * b FROM v$$, '42804', NULL, '* across spaces');
SELECT throws_ok($$SELECT a || b FROM v$$, '42804', NULL, '|| across spaces');
SELECT throws_ok($$SELECT avg(e) FROM (SELECT a FROM v UNION ALL SELECT b FROM v) s(e)$$, '42804', NULL,
	'avg over two spaces');
SELECT throws_ok($$SELECT sum(e) FROM (SELECT a FROM v UNION ALL SELECT b FROM v) s(e)$$, '42804', NULL,
	'sum over two spaces');
CREATE FUNCTION pg_temp.err_hint(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE h text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END $f$;
SELECT alike(pg_temp.err_hint('SELECT a <=> b FROM v'), '%relvec_translate()%relvec_project()%',
	'the HINT points at relvec_translate and the relative route');
SELECT is((SELECT round((a <-> u)::numeric, 6) FROM v), 1::numeric, 'tagged with untagged: a distance');
SELECT is((SELECT relvec_space_of(a + u) FROM v), 'sp_a', '... and arithmetic keeps the tag');
SELECT is((SELECT relvec_space_of(u - a) FROM v), 'sp_a', 'on either side');
SELECT is((SELECT relvec_space_of(l2_normalize(a)) FROM v), 'sp_a', 'l2_normalize keeps the space');
SELECT is((SELECT relvec_space_of(subvector(a, 1, 2)) FROM v), NULL, 'a part of a vector is untagged');
SELECT is((SELECT relvec_space_of(a || u) FROM v), NULL, 'so is a concatenation');
SELECT is((SELECT relvec_space_of(avg(e)) FROM (SELECT a FROM v UNION ALL SELECT u FROM v) s(e)), 'sp_a',
	'avg keeps the space of its tagged rows');
SELECT is((SELECT avg(e)::text FROM (SELECT a FROM v UNION ALL SELECT u FROM v) s(e)), '[1,0.5,0]', '... and averages');
SELECT is((SELECT relvec_space_of(sum(e)) FROM (VALUES ('[1]'::embedding), ('[2]')) s(e)), NULL, 'untagged sums stay untagged');
SELECT is((SELECT count(DISTINCT e) FROM (SELECT relvec_tag('[1,0,0]', 'sp_a') UNION ALL SELECT relvec_tag('[1,0,0]', 'sp_b')
	UNION ALL SELECT '[1,0,0]') s(e)), 3::bigint, 'the same numbers in three spaces are three values');
SELECT ok(relvec_tag('[1,0,0]', 'sp_a') <> relvec_tag('[1,0,0]', 'sp_b') AND '[1,0,0]'::embedding < relvec_tag('[1,0,0]', 'sp_a'),
	'comparisons order by values, then the space (untagged first), never an error');
SELECT is(embedding_hash('[1,2]'), embedding_hash(relvec_untag(relvec_tag('[1,2]', 'Sp C'))), 'an untagged hash is unchanged');

-- columns bound to a space ---------------------------------------------------------------------
CREATE TEMP TABLE docs (id int PRIMARY KEY, e embedding(sp_a), f embedding(3, sp_b));
SELECT lives_ok($$INSERT INTO docs VALUES (1, '[1,2,3]', '[3,2,1]')$$, 'untagged values go into bound columns');
SELECT is((SELECT relvec_space_of(e) || ',' || relvec_space_of(f) FROM docs), 'sp_a,sp_b', 'and are tagged on the way in');
SELECT throws_ok($$INSERT INTO docs VALUES (2, relvec_tag('[1,2,3]', 'sp_b'), NULL)$$, '42804',
	'embedding of space "sp_b" cannot be stored as an embedding of space "sp_a"', 'another space''s value is refused');
SELECT throws_ok($$UPDATE docs SET e = relvec_tag('[1,2,3]', 'sp_b')$$, '42804', NULL, 'by UPDATE too');
SELECT throws_ok($$INSERT INTO docs VALUES (3, '[1,2]', NULL)$$, '22000', 'expected 3 dimensions of space "sp_a", not 2',
	'a value of the wrong dimensions, naming the space');
SELECT throws_ok(format($$INSERT INTO docs VALUES (4, 'sp_b#%s:[1,2,3]', NULL)$$, pg_temp.id('sp_b')), '42804', NULL,
	'the text form of another space''s value');
SELECT throws_ok($$INSERT INTO docs VALUES (5, ARRAY[1,2,3]::real[], ARRAY[1,2,3]::real[]::embedding(sp_a))$$, '42804', NULL,
	'a cast to one space stored in a column of another');
SELECT lives_ok($$INSERT INTO docs VALUES (6, ARRAY[4,5,6]::real[], NULL)$$, 'an array goes in and is tagged');
SELECT is((SELECT relvec_space_of(e) FROM docs WHERE id = 6), 'sp_a', '... as sp_a');
SELECT is(format_type((SELECT atttypid FROM pg_attribute WHERE attrelid = 'docs'::regclass AND attname = 'e'),
	(SELECT atttypmod FROM pg_attribute WHERE attrelid = 'docs'::regclass AND attname = 'e')),
	'embedding(3,''sp_a#' || pg_temp.id('sp_a') || ''')', 'the column''s type: dimensions and space (the form pg_dump replays)');
SELECT is((SELECT count(*) FROM relvec_bound_columns WHERE table_name = 'docs'::regclass), 2::bigint,
	'relvec_bound_columns lists both columns');
SELECT is((SELECT space || ':' || column_name || ':' || dims FROM relvec_bound_columns WHERE table_name = 'docs'::regclass
	AND column_name = 'f'), 'sp_b:f:3', '... with their space and dimensions');
SELECT throws_ok($$CREATE TEMP TABLE bad1 (e embedding(nope))$$, '42704', 'space "nope" does not exist', 'an unknown space as a modifier');
SELECT throws_ok($$CREATE TEMP TABLE bad2 (e embedding(2, sp_a))$$, '22000', 'space "sp_a" has 3 dimensions, not 2',
	'dimensions that contradict the space');
SELECT lives_ok($$CREATE TEMP TABLE ok3 (e embedding(768))$$, 'embedding(768) still works');
SELECT lives_ok(format($$CREATE TEMP TABLE ok4 (e embedding(3, 'sp_a#%s'))$$, pg_temp.id('sp_a')), 'the dumped form reads back');
SELECT is((SELECT space FROM relvec_bound_columns WHERE table_name = 'ok4'::regclass), 'sp_a', '... bound to sp_a');
SELECT lives_ok($$CREATE TEMP TABLE ok5 (e embedding(3, 'sp_a#60001'))$$,
	'a dumped form from another database resolves by name');
SELECT is((SELECT space FROM relvec_bound_columns WHERE table_name = 'ok5'::regclass), 'sp_a', '... to this database''s sp_a');

-- functions infer what tags say ------------------------------------------------------------------
CREATE TEMP TABLE anc (k text, a embedding, b embedding);
INSERT INTO anc VALUES ('1', '[1,0,0]', '[0,1,0]'), ('2', '[0,1,0]', '[-1,0,0]'), ('3', '[0,0,1]', '[0,0,2]'),
	('4', '[1,1,1]', '[-1,1,2]');
SELECT relvec_create_anchor_set('sa4', ARRAY['1', '2', '3', '4']);
SELECT throws_ok($$SELECT relvec_set_anchors('sa4', 'sp_a', 'SELECT k, relvec_tag(b, ''sp_b'') FROM anc')$$, '42804',
	'embedding belongs to space "sp_b", not "sp_a"', 'anchors tagged with another space are refused');
SELECT lives_ok($$SELECT relvec_set_anchors('sa4', 'sp_a', 'SELECT k, relvec_tag(a, ''sp_a'') FROM anc');
	SELECT relvec_set_anchors('sa4', 'sp_b', 'SELECT k, b FROM anc');
	SELECT relvec_freeze_anchor_set('sa4');
	SELECT relvec_fit_translation('sa4', 'sp_a', 'sp_b')$$, 'anchors of that space, or untagged, are stored');
SELECT is((SELECT count(*) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id)
	WHERE s.name = 'sa4' AND relvec_space_of(a.e) IS NOT NULL), 0::bigint, 'catalog vectors are stored untagged');
SELECT is(relvec_translate(relvec_tag('[1,2,3]', 'sp_a'), 'sa4', 'sp_b')::text,
	relvec_translate('[1,2,3]', 'sa4', 'sp_a', 'sp_b')::text, 'relvec_translate(x, set, to) takes the source from the tag');
SELECT is(relvec_space_of(relvec_translate(relvec_tag('[1,2,3]', 'sp_a'), 'sa4', 'sp_b')), 'sp_b',
	'the translation is tagged with the target space');
SELECT is(relvec_space_of(relvec_translate('[1,2,3]', 'sa4', 'sp_a', 'sp_b')), 'sp_b', 'with the four arguments too');
SELECT throws_ok($$SELECT relvec_translate('[1,2,3]', 'sa4', 'sp_b')$$, '22023',
	'relvec_translate(x, anchor_set, to_space) needs x tagged with its space', 'an untagged x needs its space named');
SELECT throws_ok($$SELECT relvec_translate(relvec_tag('[1,2,3]', 'sp_b'), 'sa4', 'sp_a', 'sp_b')$$, '42804',
	'embedding belongs to space "sp_b", not "sp_a"', 'a named space that contradicts the tag');
SELECT is(relvec_project(relvec_tag('[1,2,3]', 'sp_a'), 'sa4')::text, relvec_project('[1,2,3]', 'sa4', 'sp_a')::text,
	'relvec_project(x, set) takes the space from the tag');
SELECT is(relvec_space_of(relvec_project(relvec_tag('[1,2,3]', 'sp_a'), 'sa4')), NULL,
	'relative vectors are untagged (comparable across models)');
SELECT throws_ok($$SELECT relvec_project('[1,2,3]', 'sa4')$$, '22023',
	'relvec_project(x, anchor_set) needs x tagged with its space', 'an untagged x needs its space named');
SELECT throws_ok($$SELECT relvec_project(relvec_tag('[1,2,3]', 'sp_b'), 'sa4', 'sp_a')$$, '42804',
	'embedding belongs to space "sp_b", not "sp_a"', 'project: a named space that contradicts the tag');
SELECT throws_ok($$SELECT * FROM relvec_project_query('SELECT k, relvec_tag(b, ''sp_b'') FROM anc', 'sa4', 'sp_a')$$, '42804',
	'embedding belongs to space "sp_b", not "sp_a"', 'project_query: rows of another space');
SELECT is((SELECT count(*) FROM relvec_project_query('SELECT k, relvec_tag(a, ''sp_a'') FROM anc', 'sa4', 'sp_a')), 4::bigint,
	'project_query: rows of that space');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT k, relvec_tag(a, ''sp_a'') FROM anc', 'SELECT k, relvec_tag(b, ''sp_b'') FROM anc', 2)$$,
	'42804', 'embeddings of different spaces "sp_a" and "sp_b"', 'relvec_knn: queries and corpus of two spaces');
SELECT is((SELECT count(*) FROM relvec_knn('SELECT k, relvec_tag(a, ''sp_a'') FROM anc', 'SELECT k, a FROM anc', 2)), 8::bigint,
	'relvec_knn: tagged queries over an untagged corpus');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT k, a FROM anc', 'SELECT k, CASE WHEN k = ''1'' THEN relvec_tag(a, ''sp_a'') ELSE relvec_tag(a, ''sp_b'') END FROM anc', 2)$$,
	'42804', NULL, 'relvec_knn: a corpus of two spaces');
SELECT throws_ok($$SELECT * FROM relvec_stitch_knn('SELECT k, relvec_tag(b, ''sp_a'') FROM anc', 'sp_b', 'SELECT k, a FROM anc', 'sp_a', 'sa4', 2)$$,
	'42804', 'embedding belongs to space "sp_a", not "sp_b"', 'stitch: queries tagged with another space than query_space');
SELECT throws_ok($$SELECT * FROM relvec_stitch_knn('SELECT k, b FROM anc', 'sp_b', 'SELECT k, relvec_tag(a, ''sp_b'') FROM anc', 'sp_a', 'sa4', 2)$$,
	'42804', 'embedding belongs to space "sp_b", not "sp_a"', 'stitch: corpus tagged with another space than corpus_space');
SELECT is((SELECT count(*) FROM relvec_stitch_knn('SELECT k, relvec_tag(b, ''sp_b'') FROM anc', 'sp_b',
	'SELECT k, relvec_tag(a, ''sp_a'') FROM anc', 'sp_a', 'sa4', 2)), 8::bigint, 'stitch: rows tagged as told');
SELECT throws_ok($$SELECT * FROM relvec_compare_spaces('sa4', 'sp_a', 'sp_b', 'SELECT k, a, relvec_tag(b, ''sp_a'') FROM anc', 2)$$,
	'42804', 'embedding belongs to space "sp_a", not "sp_b"', 'compare: embedding_b of another space');
SELECT is((SELECT count(*) FROM relvec_compare_spaces('sa4', 'sp_a', 'sp_b', 'SELECT k, relvec_tag(a, ''sp_a''), b FROM anc', 2)),
	1::bigint, 'compare: rows tagged as told');

-- an index refuses a query of another space before it reads a page ------------------------------
CREATE TABLE pg_temp.idx_docs (id int, e embedding(sp_a));
INSERT INTO pg_temp.idx_docs SELECT i, ARRAY[sin(i), cos(i), i * 0.001]::real[] FROM generate_series(1, 300) i;
CREATE INDEX ON pg_temp.idx_docs USING rvflat (e embedding_l2_ops);
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM (SELECT id FROM pg_temp.idx_docs ORDER BY e <-> relvec_tag('[1,0,0]', 'sp_a') LIMIT 5) s), 5::bigint,
	'a query of the column''s space through the index');
SELECT is((SELECT count(*) FROM (SELECT id FROM pg_temp.idx_docs ORDER BY e <-> '[1,0,0]' LIMIT 5) s), 5::bigint,
	'an untagged query through the index');
SELECT throws_ok($$SELECT id FROM pg_temp.idx_docs ORDER BY e <-> relvec_tag('[1,0,0]', 'sp_b') LIMIT 5$$, '42804',
	'embeddings of different spaces "sp_a" and "sp_b"', 'a query of another space: refused by the index scan');
SELECT throws_ok($$SELECT id FROM pg_temp.idx_docs WHERE id < 0 ORDER BY e <-> relvec_tag('[1,0,0]', 'sp_b') LIMIT 5$$, '42804',
	NULL, 'refused even when no row would reach the ORDER BY (the index checks the query, not each row)');
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text := ''; l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
	RETURN r;
END $f$;
SELECT alike(pg_temp.plan_of($$SELECT id FROM pg_temp.idx_docs ORDER BY e <-> relvec_tag('[1,0,0]', 'sp_b') LIMIT 5$$),
	'%Index Scan using%', '(that refusal is the index scan''s: the plan is one, which computes no SQL distance)');
RESET enable_seqscan;

-- renaming keeps tags; the value keeps its size ----------------------------------------------------
SELECT lives_ok($$SELECT relvec_rename_space('sp_b', 'sp_b2')$$, 'a space is renamed');
SELECT is((SELECT relvec_space_of(f) FROM docs WHERE id = 1), 'sp_b2', 'its values keep their tag, under the new name');
SELECT is((SELECT space FROM relvec_bound_columns WHERE table_name = 'docs'::regclass AND column_name = 'f'), 'sp_b2',
	'its bound column stays bound');
SELECT throws_ok($$SELECT relvec_rename_space('sp_b2', 'sp_a')$$, '42710', 'space "sp_a" already exists', 'not onto another''s name');
SELECT lives_ok($$SELECT relvec_rename_space('sp_b2', 'sp_b')$$, 'and back');
SELECT is(pg_column_size(relvec_tag('[1,2,3]', 'sp_a')), pg_column_size('[1,2,3]'::embedding),
	'a tagged value is as large as an untagged one');
SELECT is(pg_column_size('[1,2,3]'::embedding), 20, 'and an untagged one as in 0.1.0: a 4-byte header, 2 + 2 for dims and tag, 4 x 3 values');

-- dropping a space that values still use -----------------------------------------------------------
SELECT relvec_create_space('sp_d', 2);
CREATE TABLE pg_temp.bound_d (e embedding(sp_d));
SELECT throws_ok($$SELECT relvec_drop_space('sp_d', true)$$, '2BP01',
	'cannot drop space "sp_d" because ' || 'pg_temp.bound_d'::regclass || '.e is bound to it', 'a bound column keeps its space');
CREATE TABLE pg_temp.tagged_only (e embedding);
INSERT INTO pg_temp.tagged_only VALUES (relvec_tag('[1,2]', 'Sp C'));
SELECT throws_ok($$SELECT relvec_drop_space('Sp C')$$, '2BP01', NULL, 'a stored value tagged with it keeps it too');
UPDATE pg_temp.tagged_only SET e = relvec_untag(e);
SELECT lives_ok($$SELECT relvec_drop_space('Sp C')$$, 'untagged, it drops');
SELECT is(relvec_space_of(relvec_untag('[1]')), NULL, 'untag of untagged is untagged');

SELECT * FROM finish();
ROLLBACK;
