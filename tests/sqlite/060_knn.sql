-- 060_knn: exact kNN, the table-valued relvec_knn (PostgreSQL's arguments and columns) and
-- the relvec_knn_index virtual table, against a brute-force ORDER BY over the distance
-- functions, on the fixtures; every error a user can cause.

CREATE TEMP TABLE q AS SELECT idx, a FROM fixtures.fmnist WHERE split = 'test' ORDER BY idx LIMIT 7;
CREATE TEMP TABLE c AS SELECT idx, a FROM fixtures.fmnist WHERE split = 'train' ORDER BY idx;

-- brute force with the scalar distance functions, ties by corpus row order (idx here)
CREATE TEMP TABLE brute AS
	SELECT qkey, ckey, metric, dist, row_number() OVER (PARTITION BY metric, qkey ORDER BY dist, cidx) AS rank
	FROM (SELECT CAST(q.idx AS TEXT) AS qkey, CAST(c.idx AS TEXT) AS ckey, c.idx AS cidx, m.metric,
	             CASE m.metric WHEN 'cosine' THEN cosine_distance(q.a, c.a) WHEN 'l2' THEN l2_distance(q.a, c.a)
	                           WHEN 'ip' THEN embedding_negative_inner_product(q.a, c.a) ELSE l1_distance(q.a, c.a) END AS dist
	      FROM q, c, (SELECT 'cosine' AS metric UNION ALL SELECT 'l2' UNION ALL SELECT 'ip' UNION ALL SELECT 'l1') m);
CREATE TEMP TABLE got AS
	SELECT 'cosine' AS metric, * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT idx, a FROM c ORDER BY idx', 10)
	UNION ALL SELECT 'l2', * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT idx, a FROM c ORDER BY idx', 10, 'l2')
	UNION ALL SELECT 'ip', * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT idx, a FROM c ORDER BY idx', 10, 'ip')
	UNION ALL SELECT 'l1', * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT idx, a FROM c ORDER BY idx', 10, 'l1');
SELECT is_eq((SELECT count(*) FROM got WHERE metric = m), 70, m || ': 7 queries x 10 neighbours')
	FROM (SELECT 'cosine' AS m UNION ALL SELECT 'l2' UNION ALL SELECT 'ip' UNION ALL SELECT 'l1');
SELECT is_eq((SELECT count(*) FROM got g JOIN brute b ON b.metric = g.metric AND b.qkey = g.query_key AND b.rank = g.rank
	AND b.ckey = g.corpus_key AND b.dist = g.distance WHERE g.metric = m), 70,
	m || ': the same neighbours, ranks and distances as the brute-force scan')
	FROM (SELECT 'cosine' AS m UNION ALL SELECT 'l2' UNION ALL SELECT 'ip' UNION ALL SELECT 'l1');
SELECT is_eq((SELECT group_concat(typeof(query_key) || typeof(rank) || typeof(corpus_key) || typeof(distance)) FROM
	(SELECT * FROM relvec_knn('SELECT idx, a FROM q LIMIT 1', 'SELECT idx, a FROM c', 1))), 'textintegertextreal',
	'columns query_key text, rank integer, corpus_key text, distance real');

-- k larger than the corpus, chunks, ties
SELECT is_eq((SELECT count(*) FROM relvec_knn('SELECT 1, ''[1,0]''', 'SELECT 1, ''[0,1]'' UNION ALL SELECT 2, ''[1,1]''', 5)), 2,
	'k beyond the corpus returns every corpus row');
SELECT is_eq((SELECT group_concat(corpus_key) FROM relvec_knn('SELECT ''q'', ''[0,0]''',
	'SELECT k, e FROM (SELECT ''b'' AS k, ''[1,0]'' AS e, 1 AS o UNION ALL SELECT ''a'', ''[0,1]'', 2 UNION ALL SELECT ''c'', ''[-1,0]'', 3) ORDER BY o', 3, 'l2')),
	'b,a,c', 'equal distances rank in corpus row order');
SELECT is_eq((SELECT corpus_key || ':' || distance FROM relvec_knn('SELECT 0, ''[5000.5]''',
	'WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < 9999) SELECT i, ''['' || i || '']'' FROM g', 1, 'l2')),
	'5000:0.5', 'the nearest row is found across three corpus chunks');
SELECT is_eq((SELECT count(*) FROM relvec_knn('SELECT 1, a FROM q WHERE 0', 'SELECT idx, a FROM c', 3)), 0, 'no queries, no rows');
SELECT is_eq((SELECT count(*) FROM relvec_knn('SELECT idx, a FROM q', 'SELECT idx, a FROM c WHERE 0', 3)), 0, 'an empty corpus, no rows');

-- errors (PostgreSQL's texts)
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, a FROM c'', 0)', 'k must be at least 1', 'k = 0');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, a FROM c'', 16385)', 'k 16385 exceeds the maximum of 16384', 'k too large');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, a FROM c'', 3, ''dot'')',
	'unknown metric "dot": expected l2, ip, cosine or l1', 'unknown metric');
SELECT throws_ok('SELECT * FROM relvec_knn(NULL, ''SELECT idx, a FROM c'', 3)', 'queries must not be null', 'null queries');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, a FROM c'', NULL)', 'k must not be null', 'null k');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT a FROM q'', ''SELECT idx, a FROM c'', 3)',
	'the queries must return two columns, (key, embedding)', 'queries with one column');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, 5 FROM c'', 3)',
	'the corpus must return two columns, (key, embedding)', 'a corpus whose second column is no embedding');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, NULL FROM c'', 3)',
	'a row of the corpus has a null key or embedding', 'a null corpus embedding');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, subvector(a, 1, 3) FROM c ORDER BY idx'', 3)',
	'embedding of corpus key "' || (SELECT min(idx) FROM c) || '" has 3 dimensions, the queries have 64', 'corpus of other dimensions');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT 1, ''''[1,2]'''' UNION ALL SELECT 2, ''''[1]'''''', ''SELECT idx, a FROM c'', 3)',
	'embedding of query key "2" has 1 dimensions, the first query has 2', 'queries of mixed dimensions');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, x''''0200'''' FROM q'', ''SELECT idx, a FROM c'', 3)',
	'embedding blob of 2 bytes is shorter than its header', 'a corrupt BLOB among the queries');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'', ''SELECT idx, ''''[1,x]'''' FROM c'', 3)',
	'invalid input syntax for type embedding: "[1,x]"', 'text that is not an embedding in the corpus');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT idx, a FROM q'')', 'relvec_knn needs queries, corpus and k', 'missing arguments');

-- distances beyond float32's range: an error, never a wrong order
CREATE TEMP TABLE big_ip AS WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 40)
	SELECT x AS id, embedding('[' || x || ',1]') AS e FROM g;
CREATE TEMP TABLE big_q AS SELECT 1 AS id, embedding('[3e38,-3e38]') AS e;
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT id, e FROM big_q'', ''SELECT id, e FROM big_ip ORDER BY id'', 5, ''ip'')',
	'distances beyond the float32 range: relvec_knn cannot rank them; search with ORDER BY distance LIMIT k',
	'inner products beyond float32: an error, not the first rows of a tie');
SELECT is_eq((SELECT group_concat(corpus_key) FROM (SELECT corpus_key FROM relvec_knn('SELECT 1, embedding(''[3e38,-3e38]'')',
	'SELECT id, e FROM big_ip WHERE id > 35 ORDER BY id', 3, 'ip') ORDER BY rank)), '40,39,38',
	'a corpus that fits the list whole is ranked by its exact distances');
CREATE TEMP TABLE big_t AS SELECT id, e FROM big_ip;
CREATE VIRTUAL TABLE temp.big_knn USING relvec_knn_index(big_t, e, metric=ip, key=id);
SELECT throws_ok('SELECT * FROM temp.big_knn WHERE query = embedding(''[3e38,-3e38]'') AND k = 5',
	'distances beyond the float32 range: relvec_knn cannot rank them; search with ORDER BY distance LIMIT k',
	'relvec_knn_index: the same error');

-- relvec_knn_index: kNN over one table column --------------------------------------------------
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, e BLOB);
INSERT INTO items SELECT idx, 'item ' || idx, a FROM c;
INSERT INTO items VALUES (1, 'no embedding', NULL);
CREATE VIRTUAL TABLE items_knn USING relvec_knn_index(items, e, metric=cosine);
CREATE VIRTUAL TABLE items_knn_l2 USING relvec_knn_index(items, e, metric=l2, key=name);
SELECT is_eq((SELECT group_concat(key || '/' || rank || '/' || distance) FROM (SELECT key, rank, distance FROM items_knn
		WHERE query = (SELECT a FROM q ORDER BY idx LIMIT 1) AND k = 10)),
	(SELECT group_concat(corpus_key || '/' || rank || '/' || distance) FROM got WHERE metric = 'cosine' AND query_key = (SELECT CAST(min(idx) AS TEXT) FROM q)),
	'WHERE query = ? AND k = 10 equals relvec_knn');
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1)), 10, 'k defaults to 10');
SELECT is_eq((SELECT key FROM items_knn_l2 WHERE query = (SELECT a FROM c WHERE idx = (SELECT min(idx) FROM c)) AND k = 1),
	'item ' || (SELECT min(idx) FROM c), 'key=name returns that column; an item is its own nearest by l2');
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = embedding_text((SELECT a FROM q LIMIT 1)) AND k = 2000), (SELECT count(*) FROM c),
	'the text form as a query; rows with a NULL embedding are skipped');
SELECT is_eq((SELECT group_concat(rank) FROM (SELECT rank FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 3 ORDER BY distance)),
	'1,2,3', 'ORDER BY distance comes out in order');
SELECT throws_ok('SELECT * FROM items_knn', 'relvec_knn_index needs a query: WHERE query = ? [AND k = ?]', 'no query');
CREATE VIEW knn_view AS SELECT * FROM items_knn WHERE query = '[1,0,0]';
SELECT throws_ok('SELECT * FROM knn_view', 'unsafe use of virtual table "items_knn"',
	'not through a view (an untrusted file could hold one): it runs the corpus query stored in the file');
DROP VIEW knn_view;
SELECT throws_ok('SELECT * FROM items_knn WHERE query = ''[1,2]'' AND k = 3', 'embedding of corpus key "' || (SELECT min(idx) FROM c) || '" has 64 dimensions, the query has 2',
	'a query of other dimensions');
SELECT throws_ok('SELECT * FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 0', 'k must be at least 1', 'index: k = 0');
SELECT throws_ok('SELECT * FROM items_knn WHERE query = x''0200''', 'embedding blob of 2 bytes is shorter than its header', 'index: a corrupt query BLOB');
SELECT throws_ok('CREATE VIRTUAL TABLE bad USING relvec_knn_index(items, e, metric=dot)', 'unknown metric "dot": expected l2, ip, cosine or l1',
	'index: unknown metric');
SELECT throws_ok('CREATE VIRTUAL TABLE bad USING relvec_knn_index(nope, e)', 'relvec_knn_index: no such table: nope', 'index: unknown table');
SELECT throws_ok('CREATE VIRTUAL TABLE bad USING relvec_knn_index(items)',
	'relvec_knn_index takes a table and a column: USING relvec_knn_index(table, column [, metric=cosine] [, key=rowid])', 'index: no column');
SELECT throws_ok('CREATE VIRTUAL TABLE bad USING relvec_knn_index(items, e, size=3)', 'unknown relvec_knn_index option "size": expected metric or key',
	'index: unknown option');

-- devices: the connection's setting, as the relvec.device GUC
SELECT is_eq(relvec_device(), 'auto', 'relvec_device() is auto by default');
SELECT is_eq(relvec_device('cpu'), 'cpu', 'relvec_device(''cpu'') sets it');
SELECT is_eq((SELECT count(*) FROM relvec_knn('SELECT idx, a FROM q', 'SELECT idx, a FROM c', 3)), 21, 'kNN runs on the CPU setting');
SELECT ok(relvec_backend() LIKE 'cpu%', 'relvec_backend() names the CPU');
SELECT throws_ok('SELECT relvec_device(''quantum'')', NULL, 'an unknown device is an error');
SELECT is_eq(relvec_device(), 'cpu', 'and leaves the setting unchanged');
