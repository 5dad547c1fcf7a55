-- 095_spaces: space tags (issue 14, "Spaces in the type"). An embedding may carry the id
-- of its space in this file's catalog in the second uint16 of its BLOB; its text form is
-- then name#id:[...]. Tags travel through the functions, two spaces never meet (PostgreSQL's
-- 42804 texts), relvec_tag / relvec_untag / relvec_space_of, functions that infer the space
-- from the tag, the catalog's rules, and an untagged value exactly as before.

-- before any catalog: a tag names no space -------------------------------------------------
SELECT is_eq(hex(embedding('#7:[1,2]')), '020007000000803F00000040', 'text #7: is tag 7 in the header (no catalog yet)');
SELECT is_eq(embedding_text(embedding('#7:[1,2]')), '#7:[1,2]', '... and prints as #7: without a name');
SELECT is_eq(relvec_space_of('#7:[1,2]'), '#7', 'relvec_space_of a tag without a space: #7');
SELECT is_eq(embedding_text('nope#9:[1]'), '#9:[1]', 'a name the file does not know keeps its id (data before its catalog)');
SELECT is_eq((SELECT count(*) FROM sqlite_master WHERE name = 'relvec_spaces'), 0, 'reading tags did not create the catalog');
SELECT throws_ok('SELECT l2_distance(''#7:[1,2]'', ''#8:[1,2]'')', 'embeddings of different spaces #7 and #8',
	'two unknown tags: written #7 and #8 without quotes');

-- spaces ------------------------------------------------------------------------------------
SELECT lives_ok('SELECT relvec_create_space(''sa'', 3)', 'space sa (id 1)');
SELECT lives_ok('SELECT relvec_create_space(''sb'', 3)', 'space sb (id 2)');
SELECT lives_ok('SELECT relvec_create_space(''Big "M"'', 3)', 'space Big "M" (id 3), a name that needs quotes');
SELECT is_eq((SELECT group_concat(space_id || name, ',') FROM (SELECT * FROM relvec_spaces ORDER BY space_id)),
	'1sa,2sb,3Big "M"', 'the ids');

-- text form: input resolved in this file's catalog, output with the name ------------------
SELECT is_eq(hex(embedding('sa#1:[1,2,3]')), '030001000000803F0000004000004040', 'sa#1: is tag 1');
SELECT is_eq(hex(embedding('[1,2,3]')), '030000000000803F0000004000004040', 'an untagged text is the 0.1.0 layout, tag 0');
SELECT is_eq(embedding_text(embedding('sa#1:[1,2,3]')), 'sa#1:[1,2,3]', 'a tagged value prints as name#id:[...]');
SELECT is_eq(embedding_text('[1,2,3]'), '[1,2,3]', 'an untagged one as before');
SELECT is_eq(embedding_text('sb#41:[1,2,3]'), 'sb#2:[1,2,3]', 'the name wins over the id (text from another database)');
SELECT is_eq(embedding_text('#2:[1,2,3]'), 'sb#2:[1,2,3]', '#2: alone is tag 2, named on output');
SELECT is_eq(embedding_text('ghost#40:[1,2,3]'), '#40:[1,2,3]', 'an unknown name whose id is free keeps the id');
SELECT throws_ok('SELECT embedding_text(''ghost#1:[1,2,3]'')', 'space "ghost" does not exist',
	'an unknown name whose id is another space''s: an error, never a wrong tag');
SELECT is_eq(embedding_text(relvec_tag('[1,2,3]', 'Big "M"')), '"Big ""M"""#3:[1,2,3]', 'a name that needs quotes is quoted');
SELECT is_eq(hex(embedding('"Big ""M"""#3:[1,2,3]')), '030003000000803F0000004000004040', '... and reads back');
SELECT is_eq(embedding_text(' sa#1: [ 1 , 2 ] '), 'sa#1:[1,2]', 'whitespace before the tag and inside the array');
SELECT is_eq(embedding_text(CAST(x'03002800' || x'0000803F0000004000004040' AS BLOB)), '#40:[1,2,3]', 'a BLOB tagged with a free id');
SELECT throws_ok('SELECT embedding(''sa:[1]'')', 'invalid input syntax for type embedding: "sa:[1]"', 'a name without its id');
SELECT throws_ok('SELECT embedding(''sa#0:[1]'')', 'invalid input syntax for type embedding: "sa#0:[1]"', 'id 0');
SELECT throws_ok('SELECT embedding(''sa#65536:[1]'')', 'invalid input syntax for type embedding: "sa#65536:[1]"', 'id 65536');
SELECT throws_ok('SELECT embedding(''Sa#1:[1]'')', 'invalid input syntax for type embedding: "Sa#1:[1]"',
	'a name with capitals must be quoted');
SELECT throws_ok('SELECT embedding(''sa#1[1]'')', 'invalid input syntax for type embedding: "sa#1[1]"', 'no colon');
SELECT throws_ok('SELECT embedding(''sa#1:[1,,2]'')', 'invalid input syntax for type embedding: "[1,,2]"',
	'a bad array after a good tag (the array quoted, as rv_parse_text sees it)');
SELECT is_eq(embedding_text(embedding('sa#1:[1,2,3]', 3)), 'sa#1:[1,2,3]', 'embedding(x, n) keeps the tag');
SELECT throws_ok('SELECT embedding(''sa#1:[1,2]'', 3)', 'expected 3 dimensions, not 2', '... and checks the dimensions');

-- relvec_tag, relvec_untag, relvec_space_of --------------------------------------------------
SELECT is_eq(hex(relvec_tag('[1,2,3]', 'sa')), '030001000000803F0000004000004040', 'relvec_tag writes the space''s id');
SELECT is_eq(relvec_space_of(relvec_tag('[1,2,3]', 'sb')), 'sb', 'relvec_space_of names it');
SELECT is_eq(relvec_space_of('[1,2,3]'), NULL, 'an untagged value has no space');
SELECT is_eq(relvec_space_of(CAST(x'03002800' || x'0000803F0000004000004040' AS BLOB)), '#40', 'a tag without a space: #40');
SELECT is_eq(relvec_tag('sa#1:[1,2,3]', 'sa'), embedding('sa#1:[1,2,3]'), 'tagging with its own space changes nothing');
SELECT throws_ok('SELECT relvec_tag(''[1,2,3]'', ''nope'')', 'space "nope" does not exist', 'relvec_tag: unknown space');
SELECT throws_ok('SELECT relvec_tag(''[1,2]'', ''sa'')', 'embedding has 2 dimensions, space "sa" has 3',
	'relvec_tag: other dimensions');
SELECT throws_ok('SELECT relvec_tag(''sb#2:[1,2,3]'', ''sa'')', 'embedding already belongs to space "sb", not "sa"',
	'relvec_tag: already of another space');
SELECT throws_ok('SELECT relvec_tag(''#40:[1,2,3]'', ''sa'')', 'embedding already belongs to space #40, not "sa"',
	'relvec_tag: already tagged with an unknown space');
SELECT is_eq(hex(relvec_untag('sa#1:[1,2,3]')), '030000000000803F0000004000004040', 'relvec_untag clears the tag');
SELECT is_eq(relvec_untag(embedding('[1,2,3]')), embedding('[1,2,3]'), 'relvec_untag of an untagged value');
SELECT is_eq(relvec_tag(NULL, 'sa') IS NULL AND relvec_tag('[1]', NULL) IS NULL AND relvec_untag(NULL) IS NULL
	AND relvec_space_of(NULL) IS NULL, 1, 'NULL gives NULL');

-- two spaces never meet ----------------------------------------------------------------------
SELECT throws_ok('SELECT l2_distance(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'l2_distance: sa with sb is an error');
SELECT throws_ok('SELECT inner_product(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'inner_product: sa with sb is an error');
SELECT throws_ok('SELECT cosine_distance(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'cosine_distance: sa with sb is an error');
SELECT throws_ok('SELECT l1_distance(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'l1_distance: sa with sb is an error');
SELECT throws_ok('SELECT embedding_l2_squared_distance(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'embedding_l2_squared_distance: sa with sb is an error');
SELECT throws_ok('SELECT embedding_negative_inner_product(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'embedding_negative_inner_product: sa with sb is an error');
SELECT throws_ok('SELECT embedding_add(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'embedding_add: sa with sb is an error');
SELECT throws_ok('SELECT embedding_sub(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'embedding_sub: sa with sb is an error');
SELECT throws_ok('SELECT embedding_mul(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'embedding_mul: sa with sb is an error');
SELECT throws_ok('SELECT embedding_concat(''sa#1:[1,2,3]'', ''sb#2:[1,2,3]'')', 'embeddings of different spaces "sa" and "sb"',
	'embedding_concat: sa with sb is an error');
SELECT throws_ok('SELECT l2_distance(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'l2_distance: a tag without a space is written #40');
SELECT throws_ok('SELECT inner_product(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'inner_product: a tag without a space is written #40');
SELECT throws_ok('SELECT cosine_distance(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'cosine_distance: a tag without a space is written #40');
SELECT throws_ok('SELECT l1_distance(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'l1_distance: a tag without a space is written #40');
SELECT throws_ok('SELECT embedding_l2_squared_distance(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'embedding_l2_squared_distance: a tag without a space is written #40');
SELECT throws_ok('SELECT embedding_negative_inner_product(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'embedding_negative_inner_product: a tag without a space is written #40');
SELECT throws_ok('SELECT embedding_add(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'embedding_add: a tag without a space is written #40');
SELECT throws_ok('SELECT embedding_sub(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'embedding_sub: a tag without a space is written #40');
SELECT throws_ok('SELECT embedding_mul(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'embedding_mul: a tag without a space is written #40');
SELECT throws_ok('SELECT embedding_concat(''sb#2:[1,2,3]'', ''#40:[1,2,3]'')', 'embeddings of different spaces "sb" and #40',
	'embedding_concat: a tag without a space is written #40');
SELECT lives_ok('SELECT l2_distance(''sa#1:[1,2,3]'', ''[4,5,6]''), l2_distance(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'l2_distance: tagged with untagged is fine');
SELECT lives_ok('SELECT inner_product(''sa#1:[1,2,3]'', ''[4,5,6]''), inner_product(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'inner_product: tagged with untagged is fine');
SELECT lives_ok('SELECT cosine_distance(''sa#1:[1,2,3]'', ''[4,5,6]''), cosine_distance(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'cosine_distance: tagged with untagged is fine');
SELECT lives_ok('SELECT l1_distance(''sa#1:[1,2,3]'', ''[4,5,6]''), l1_distance(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'l1_distance: tagged with untagged is fine');
SELECT lives_ok('SELECT embedding_l2_squared_distance(''sa#1:[1,2,3]'', ''[4,5,6]''), embedding_l2_squared_distance(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'embedding_l2_squared_distance: tagged with untagged is fine');
SELECT lives_ok('SELECT embedding_negative_inner_product(''sa#1:[1,2,3]'', ''[4,5,6]''), embedding_negative_inner_product(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'embedding_negative_inner_product: tagged with untagged is fine');
SELECT lives_ok('SELECT embedding_add(''sa#1:[1,2,3]'', ''[4,5,6]''), embedding_add(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'embedding_add: tagged with untagged is fine');
SELECT lives_ok('SELECT embedding_sub(''sa#1:[1,2,3]'', ''[4,5,6]''), embedding_sub(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'embedding_sub: tagged with untagged is fine');
SELECT lives_ok('SELECT embedding_mul(''sa#1:[1,2,3]'', ''[4,5,6]''), embedding_mul(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'embedding_mul: tagged with untagged is fine');
SELECT lives_ok('SELECT embedding_concat(''sa#1:[1,2,3]'', ''[4,5,6]''), embedding_concat(''[4,5,6]'', ''sa#1:[1,2,3]'')',
	'embedding_concat: tagged with untagged is fine');
SELECT throws_ok('SELECT l2_distance(''sa#1:[1,2,3]'', ''sb#2:[1,2]'')', 'embeddings of different spaces "sa" and "sb"',
	'the spaces are checked before the dimensions');
SELECT is_eq(l2_distance('sa#1:[1,2,3]', '[4,6,3]'), 5.0, 'a distance of tagged values is the untagged one');
SELECT is_eq(embedding_text(embedding_add('sa#1:[1,2,3]', '[1,1,1]')), 'sa#1:[2,3,4]', 'embedding_add keeps the tag');
SELECT is_eq(embedding_text(embedding_sub('[1,1,1]', 'sb#2:[1,2,3]')), 'sb#2:[0,-1,-2]', 'embedding_sub keeps the nonzero tag');
SELECT is_eq(embedding_text(embedding_mul('sa#1:[1,2,3]', 'sa#1:[2,2,2]')), 'sa#1:[2,4,6]', 'embedding_mul in one space');
SELECT is_eq(embedding_text(embedding_concat('sa#1:[1,2,3]', 'sa#1:[4]')), '[1,2,3,4]',
	'embedding_concat is untagged: it is no longer in the space');
SELECT is_eq(embedding_text(subvector('sa#1:[1,2,3]', 2, 2)), '[2,3]', 'subvector is untagged');
SELECT is_eq(embedding_text(l2_normalize('sa#1:[3,0,4]')), 'sa#1:[0.6,0,0.8]', 'l2_normalize keeps the tag');
SELECT is_eq(embedding_dims('sb#2:[1,2,3]') || ',' || embedding_norm('sb#2:[3,4,0]'), '3,5.0', 'dims and norm of a tagged value');

-- ordering and hashing: never an error ------------------------------------------------------
SELECT is_eq(embedding_cmp('sa#1:[1,2,3]', 'sb#2:[1,2,3]'), -1, 'embedding_cmp: equal values order by tag (1 < 2)');
SELECT is_eq(embedding_cmp('sb#2:[1,2,3]', '[1,2,3]'), 1, '... an untagged value first');
SELECT is_eq(embedding_cmp('sb#2:[1,2,3]', 'sb#2:[1,2,3]'), 0, '... the same tag and values: equal');
SELECT is_eq(embedding_cmp('sb#2:[1,2,3]', 'sa#1:[1,2,4]'), -1, 'the values come first');
SELECT is_eq(embedding_cmp('sb#2:[1,2]', 'sa#1:[1,2,3]'), -1, 'then the dimensions');
SELECT is_eq(embedding_hash('[1,2,3]'), embedding_hash(relvec_untag('sa#1:[1,2,3]')), 'embedding_hash of an untagged value as before');
SELECT is_eq(embedding_hash('[1,2,3]'), -328031909, '... the hash relvec 0.1.0 gives');
SELECT isnt(embedding_hash('sa#1:[1,2,3]'), embedding_hash('[1,2,3]'), 'a nonzero tag is mixed in');
SELECT isnt(embedding_hash('sa#1:[1,2,3]'), embedding_hash('sb#2:[1,2,3]'), '... so two spaces hash apart');
SELECT is_eq(embedding_hash('sa#1:[0,-0,1]'), embedding_hash('sa#1:[-0,0,1]'), '-0 and +0 still hash equally');

-- aggregates -----------------------------------------------------------------------------
CREATE TABLE ag (g INTEGER, e BLOB);
INSERT INTO ag VALUES (1, embedding('sa#1:[1,2,3]')), (1, embedding('[3,2,1]')), (1, NULL), (2, embedding('[1,1,1]')),
	(2, embedding('[3,3,3]')), (3, embedding('sa#1:[1,2,3]')), (3, embedding('sb#2:[1,2,3]'));
SELECT is_eq((SELECT embedding_text(embedding_avg(e)) FROM ag WHERE g = 1), 'sa#1:[2,2,2]', 'avg keeps the common tag');
SELECT is_eq((SELECT embedding_text(embedding_sum(e)) FROM ag WHERE g = 1), 'sa#1:[4,4,4]', 'sum too');
SELECT is_eq((SELECT embedding_text(embedding_avg(e)) FROM ag WHERE g = 2), '[2,2,2]', 'untagged rows: untagged avg');
SELECT throws_ok('SELECT embedding_avg(e) FROM ag WHERE g = 3', 'embeddings of different spaces "sa" and "sb"',
	'avg over two spaces');
SELECT throws_ok('SELECT embedding_sum(e) FROM ag', 'embeddings of different spaces "sa" and "sb"', 'sum over two spaces');

-- kNN: queries and corpus rows must go together -----------------------------------------------
CREATE TEMP TABLE kq (k TEXT, e BLOB);
CREATE TEMP TABLE kc (k TEXT, e BLOB);
INSERT INTO kq VALUES ('q1', embedding('sa#1:[1,0,0]')), ('q2', embedding('[0,1,0]'));
INSERT INTO kc VALUES ('c1', embedding('sa#1:[1,0.1,0]')), ('c2', embedding('[0,1,0.1]')), ('c3', embedding('sa#1:[0,0,1]'));
SELECT is_eq((SELECT group_concat(query_key || corpus_key, ',') FROM relvec_knn('SELECT k, e FROM kq ORDER BY k',
	'SELECT k, e FROM kc ORDER BY k', 1)), 'q1c1,q2c2', 'relvec_knn: sa queries and untagged rows with an sa corpus');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT k, e FROM kq'', ''SELECT k, relvec_untag(e) FROM kc UNION ALL SELECT ''''x'''', ''''sb#2:[1,1,1]'''''', 1)',
	'embeddings of different spaces "sa" and "sb"', 'relvec_knn: an sb row in an sa search');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT k, e FROM kq UNION ALL SELECT ''''q3'''', ''''sb#2:[0,0,1]'''''', ''SELECT k, e FROM kc'', 1)',
	'embeddings of different spaces "sa" and "sb"', 'relvec_knn: queries of two spaces');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT ''''q'''', ''''sb#2:[0,0,1]'''''', ''SELECT k, e FROM kc ORDER BY k'', 1)',
	'embeddings of different spaces "sb" and "sa"', 'relvec_knn: sb queries, an sa corpus');
SELECT is_eq((SELECT count(*) FROM relvec_knn('SELECT ''q'', ''sb#2:[0,0,1]''', 'SELECT k, relvec_untag(e) FROM kc', 2)), 2,
	'relvec_knn: a tagged query searches an untagged corpus');
CREATE VIRTUAL TABLE kc_knn USING relvec_knn_index(kc, e, key=k);
SELECT is_eq((SELECT group_concat(key, ',') FROM kc_knn WHERE query = 'sa#1:[0,0,1]' AND k = 2), 'c3,c2',
	'relvec_knn_index: an sa query over sa and untagged rows');
SELECT throws_ok('SELECT key FROM kc_knn WHERE query = ''sb#2:[0,0,1]'' AND k = 2', 'embeddings of different spaces "sb" and "sa"',
	'relvec_knn_index: an sb query over sa rows');

-- the catalog: anchors and means are stored untagged; values must be of the space named ----
SELECT lives_ok('SELECT relvec_create_space(''a'', 2)', 'space a (id 4)');
SELECT lives_ok('SELECT relvec_create_space(''b'', 2)', 'space b (id 5)');
CREATE TABLE t (k TEXT, a BLOB, b BLOB);
INSERT INTO t VALUES
	('w', embedding('a#4:[1,0]'), embedding('b#5:[0,1]')),
	('x', embedding('[0,1]'), embedding('b#5:[-1,0.2]')),
	('y', embedding('a#4:[1,1]'), embedding('[-1,1.1]')),
	('z', embedding('a#4:[2,-1]'), embedding('b#5:[1,2]')),
	('q1', embedding('a#4:[0.5,0.2]'), embedding('b#5:[-0.2,0.5]')),
	('q2', embedding('a#4:[-1,0.3]'), embedding('b#5:[-0.3,-1]'));
SELECT lives_ok('SELECT relvec_create_anchor_set(''s'', ''["w","x","y","z"]'')', 'anchor set s');
SELECT throws_ok('SELECT relvec_set_anchors(''s'', ''a'', ''SELECT k, b FROM t WHERE length(k) = 1'')',
	'embedding belongs to space "b", not "a"', 'relvec_set_anchors: anchors of another space');
SELECT lives_ok('SELECT relvec_set_anchors(''s'', ''a'', ''SELECT k, a FROM t WHERE length(k) = 1'')', 'anchors in a (tagged a and untagged)');
SELECT lives_ok('SELECT relvec_set_anchors(''s'', ''b'', ''SELECT k, b FROM t WHERE length(k) = 1'')', 'anchors in b');
SELECT is_eq((SELECT count(*) FROM relvec_anchors WHERE substr(e, 3, 2) <> x'0000'), 0, 'anchors are stored untagged');
SELECT lives_ok('SELECT relvec_freeze_anchor_set(''s'')', 'freeze s');
SELECT throws_ok('SELECT relvec_set_space_mean(''a'', ''SELECT b FROM t'')', 'embedding belongs to space "b", not "a"',
	'relvec_set_space_mean: values of another space');
SELECT is_eq(hex(relvec_set_space_mean('a', 'SELECT a FROM t')), hex(relvec_untag(embedding_avg(a))), 'relvec_set_space_mean of a')
	FROM t;
SELECT is_eq((SELECT substr(mean, 3, 2) FROM relvec_spaces WHERE name = 'a'), x'0000', 'the mean is stored untagged');
SELECT throws_ok('SELECT relvec_set_space_mean(''a'', ''SELECT a FROM t UNION ALL SELECT b FROM t'')',
	'embeddings of different spaces "a" and "b"', 'relvec_set_space_mean: rows of two spaces, as avg() says it');
SELECT lives_ok('SELECT relvec_create_anchor_set(''s2'', ''["w","x"]'')', 'anchor set s2');
SELECT throws_ok('SELECT relvec_set_anchors(''s2'', ''a'', ''SELECT k, e FROM (SELECT 1 o, ''''w'''' k, NULL e UNION ALL SELECT 2, ''''x'''', b FROM t WHERE k = ''''w'''') ORDER BY o'')',
	'query returns a row with a null key or embedding', 'relvec_set_anchors: a null row before one of another space, in row order');
SELECT throws_ok('SELECT relvec_set_anchors(''s2'', ''a'', ''SELECT k, e FROM (SELECT 2 o, ''''w'''' k, NULL e UNION ALL SELECT 1, ''''x'''', b FROM t WHERE k = ''''w'''') ORDER BY o'')',
	'embedding belongs to space "b", not "a"', '... and a row of another space before a null one');
SELECT lives_ok('SELECT relvec_drop_anchor_set(''s2'')', 'drop s2');
SELECT throws_ok('SELECT relvec_choose_anchors(''c'', ''a'', ''SELECT k, b FROM t'', 2)', 'embedding belongs to space "b", not "a"',
	'relvec_choose_anchors: items of another space');

-- projection: the space from the tag, untagged relative vectors ----------------------------
SELECT is_eq((SELECT embedding_text(relvec_project(a, 's')) FROM t WHERE k = 'q1'),
	(SELECT embedding_text(relvec_project(relvec_untag(a), 's', 'a')) FROM t WHERE k = 'q1'),
	'relvec_project(x, anchor_set) projects in the space of x''s tag');
SELECT is_eq((SELECT substr(relvec_project(a, 's'), 3, 2) FROM t WHERE k = 'q1'), x'0000', 'the relative vector is untagged');
SELECT is_eq((SELECT count(*) FROM t WHERE k <> 'y' AND relvec_project(b, 's') = relvec_project(b, 's', 'b')), 5,
	'the same as naming the space, for every tagged row');
SELECT is_eq((SELECT count(DISTINCT hex(relvec_project(e, 's'))) FROM (SELECT a AS e FROM t WHERE k = 'q1' UNION ALL
	SELECT b FROM t WHERE k = 'q1')), 2, 'rows of two spaces in one statement, each projected in its own');
SELECT throws_ok('SELECT relvec_project(''[1,0]'', ''s'')', 'relvec_project(x, anchor_set) needs x tagged with its space',
	'relvec_project(x, anchor_set) of an untagged x');
SELECT throws_ok('SELECT relvec_project(''#40:[1,0]'', ''s'')', 'space #40 does not exist', '... of a tag without a space');
SELECT throws_ok('SELECT relvec_project(b, ''s'', ''a'') FROM t', 'embedding belongs to space "b", not "a"',
	'relvec_project: a named space that contradicts the tag');
SELECT throws_ok('SELECT * FROM relvec_project_query(''SELECT k, b FROM t'', ''s'', ''a'')', 'embedding belongs to space "b", not "a"',
	'relvec_project_query: rows of another space');
SELECT is_eq((SELECT count(*) FROM relvec_project_query('SELECT k, a FROM t', 's', 'a') WHERE substr(relative, 3, 2) = x'0000'), 6,
	'relvec_project_query: tagged and untagged rows of the space, untagged results');

-- translation: from the tag, into a tagged result ----------------------------------------------
SELECT lives_ok('SELECT relvec_fit_translation(''s'', ''a'', ''b'')', 'fit a -> b');
SELECT is_eq((SELECT relvec_space_of(relvec_translate(a, 's', 'b')) FROM t WHERE k = 'q1'), 'b',
	'relvec_translate(x, anchor_set, to_space): the result is tagged with to_space');
SELECT is_eq((SELECT relvec_translate(a, 's', 'b') = relvec_translate(relvec_untag(a), 's', 'a', 'b') FROM t WHERE k = 'q1'), 1,
	'... from the space of x''s tag, as naming it does');
SELECT is_eq((SELECT relvec_space_of(relvec_translate(relvec_untag(a), 's', 'a', 'b')) FROM t WHERE k = 'q1'), 'b',
	'the four-argument form tags its result too');
SELECT throws_ok('SELECT relvec_translate(''[1,0]'', ''s'', ''b'')',
	'relvec_translate(x, anchor_set, to_space) needs x tagged with its space', 'three arguments, untagged x');
SELECT throws_ok('SELECT relvec_translate(b, ''s'', ''a'', ''b'') FROM t WHERE k = ''q1''', 'embedding belongs to space "b", not "a"',
	'from_space contradicts the tag');
SELECT throws_ok('SELECT relvec_translate(b, ''s'', ''a'') FROM t WHERE k = ''q1''',
	'no translation fitted from space "b" to space "a" in anchor set "s"', 'three arguments: the tag''s translation must be fitted');
SELECT lives_ok('SELECT l2_distance(relvec_translate(a, ''s'', ''b''), b) FROM t WHERE k <> ''x''',
	'a translated query meets the target space');
SELECT throws_ok('SELECT l2_distance(relvec_translate(a, ''s'', ''b''), a) FROM t WHERE k = ''q1''',
	'embeddings of different spaces "b" and "a"', '... and not its own any more');

-- stitching and comparing: each side in its space ------------------------------------------
SELECT is_eq((SELECT count(*) FROM relvec_stitch_knn('SELECT k, a FROM t', 'a', 'SELECT k, b FROM t', 'b', 's', 2)), 12,
	'relvec_stitch_knn: tagged and untagged rows of the right spaces');
SELECT throws_ok('SELECT * FROM relvec_stitch_knn(''SELECT k, b FROM t'', ''a'', ''SELECT k, b FROM t'', ''b'', ''s'', 2)',
	'embedding belongs to space "b", not "a"', 'relvec_stitch_knn: a query of another space');
SELECT throws_ok('SELECT * FROM relvec_stitch_knn(''SELECT k, a FROM t'', ''a'', ''SELECT k, a FROM t'', ''b'', ''s'', 2, ''translation'')',
	'embedding belongs to space "a", not "b"', 'relvec_stitch_knn: a corpus row of another space');
SELECT is_eq((SELECT count(*) FROM relvec_compare_spaces('s', 'a', 'b', 'SELECT k, a, b FROM t', 2)), 1,
	'relvec_compare_spaces: items of the right spaces');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''s'', ''a'', ''b'', ''SELECT k, b, a FROM t'', 2)',
	'embedding belongs to space "b", not "a"', 'relvec_compare_spaces: embedding_a of another space');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''s'', ''a'', ''b'', ''SELECT k, relvec_untag(a), a FROM t'', 2, ''absolute'')',
	'embedding belongs to space "a", not "b"', 'relvec_compare_spaces: embedding_b of another space');

-- dropping a space that stored values are tagged with ------------------------------------------
SELECT throws_ok('SELECT relvec_drop_space(''sb'')', 'cannot drop space "sb" because column "ag.e" holds values tagged with it',
	'relvec_drop_space: refused while a column holds its values');
SELECT throws_ok('SELECT relvec_drop_space(''sb'', true)', 'cannot drop space "sb" because column "ag.e" holds values tagged with it',
	'... cascade does not change that');
UPDATE ag SET e = relvec_untag(e);
SELECT lives_ok('SELECT relvec_drop_space(''sb'')', 'once untagged, the space drops');
CREATE TABLE odd ("we""ird" TEXT, x);
INSERT INTO odd VALUES ('text', 'sa#1:[1,2,3]'), ('not a blob in the layout', x'0100010000'), ('real', 1.5);
SELECT lives_ok('SELECT relvec_drop_space(''Big "M"'')', 'text forms and other BLOBs do not hold a space');
INSERT INTO odd VALUES ('blob', embedding('sa#1:[1,2,3]'));
SELECT throws_ok('SELECT relvec_drop_space(''sa'')', 'cannot drop space "sa" because column "odd.x" holds values tagged with it',
	'a column without a declared type is scanned too');
SELECT is_eq((SELECT count(*) FROM relvec_spaces WHERE name = 'sa'), 1, 'the refused drop left the space');
DELETE FROM odd;
CREATE TABLE "Odd ""T""" (k, "E e");
INSERT INTO "Odd ""T""" VALUES (1, relvec_tag('[1,2,3]', 'sa'));
SELECT throws_ok('SELECT relvec_drop_space(''sa'')', 'cannot drop space "sa" because column "Odd "T".E e" holds values tagged with it',
	'names that need quotes are written as they are, inside the message''s quotes');

-- ids: a value carries 16 bits --------------------------------------------------------------
INSERT INTO relvec_spaces (space_id, name, dims) VALUES (65535, 'last', 2);
SELECT is_eq(embedding_text(relvec_tag('[1,2]', 'last')), 'last#65535:[1,2]', 'the largest id a tag holds');
SELECT throws_ok('SELECT relvec_create_space(''one_more'', 2)', 'space "one_more" would have id 65536, beyond the 65535 ids a value can carry',
	'relvec_create_space refuses an id no value can carry (PostgreSQL''s text)');
SELECT is_eq((SELECT count(*) FROM relvec_spaces WHERE name = 'one_more'), 0, '... and leaves nothing behind');
INSERT INTO relvec_spaces (space_id, name, dims) VALUES (70000, 'too_far', 2);
SELECT throws_ok('SELECT relvec_tag(''[1,2]'', ''too_far'')', 'space "too_far" has id 70000, beyond the 65535 a value can carry',
	'a file from elsewhere with such an id: relvec_tag says so');
SELECT throws_ok('SELECT embedding(''too_far#7:[1,2]'')', 'space "too_far" has id 70000, beyond the 65535 a value can carry',
	'... and so does its text form');

-- renaming: values keep their tags (the id), under the new name ------------------------------
SELECT lives_ok('SELECT relvec_rename_space(''a'', ''a2'')', 'relvec_rename_space(a, a2)');
SELECT is_eq((SELECT group_concat(DISTINCT relvec_space_of(a)) FROM t), 'a2', 'its values keep their tag, under the new name');
SELECT is_eq((SELECT embedding_text(a) FROM t WHERE k = 'w'), 'a2#4:[1,0]', '... and print with it');
SELECT throws_ok('SELECT embedding_text(''a#4:[1,0]'')', 'space "a" does not exist',
	'text written before the rename: its name is gone and its id is a2''s, so it is refused (the rule, as in PostgreSQL)');
SELECT throws_ok('SELECT relvec_rename_space(''a2'', ''b'')', 'space "b" already exists', 'not onto another space''s name');
SELECT throws_ok('SELECT relvec_rename_space(''a2'', '''')', 'space name must not be empty', 'not to an empty name');
SELECT throws_ok('SELECT relvec_rename_space(''nope'', ''x'')', 'space "nope" does not exist', 'an unknown space');
SELECT throws_ok('SELECT relvec_rename_space(NULL, ''x'')', 'space must not be null', 'a null space');
SELECT throws_ok('SELECT relvec_rename_space(''a2'', NULL)', 'new name must not be null', 'a null new name');
SELECT lives_ok('SELECT relvec_rename_space(''a2'', ''a2'')', 'renaming to its own name changes nothing');
SELECT lives_ok('SELECT relvec_rename_space(''a2'', ''a'')', 'and back');
SELECT is_eq((SELECT relvec_space_of(relvec_project(a, 's')) IS NULL AND relvec_space_of(a) = 'a' FROM t WHERE k = 'q1'), 1,
	'projection still finds its space by the tag');
