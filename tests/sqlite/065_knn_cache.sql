-- 065_knn_cache: relvec_knn_index's per-connection copy of the column. A cached answer
-- equals an uncached one (relvec_knn_cache_mb(0), and relvec_knn, which never caches);
-- a write by another connection (rollback journal and WAL) or by this one (insert,
-- update, delete, in and out of a transaction, ROLLBACK TO, drop and re-create, a temp
-- table of the same name) is seen by the next query; the memory limit; keys of their own
-- type; errors as an uncached query words them. relvec_knn_cache_stats() tells a copy
-- used (hits) from one read again (builds) and from a read of the table (bypasses).

-- a file of our own, so that a second connection can write to it
ATTACH DATABASE scratch_path('cache.db') AS f;
CREATE TABLE f.items (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO f.items SELECT idx, a FROM fixtures.fmnist WHERE split = 'train' ORDER BY idx;
CREATE TEMP TABLE q AS SELECT idx, a FROM fixtures.fmnist WHERE split = 'test' ORDER BY idx LIMIT 5;
CREATE VIRTUAL TABLE items_knn USING relvec_knn_index(items, e, metric=cosine, key=id);
CREATE VIRTUAL TABLE items_l2 USING relvec_knn_index(items, e, metric=l2, key=id);
CREATE VIRTUAL TABLE items_l1 USING relvec_knn_index(items, e, metric=l1, key=id);
CREATE VIRTUAL TABLE items_ip USING relvec_knn_index(items, e, metric=ip, key=id);

SELECT is_eq(relvec_knn_cache_mb(), 1024, 'the limit is 1024 MB by default');
SELECT is_eq(relvec_knn_cache_stats(),
	'{"limit_mb":1024,"used_bytes":0,"copies":0,"hits":0,"builds":0,"evictions":0,"too_large":0,"bypasses":0}',
	'nothing cached before the first query');

-- the first query reads the column into a copy; the next ones use it
CREATE TEMP TABLE a1 AS SELECT q.idx AS qk, k.key, k.rank, k.distance FROM q, items_knn k WHERE k.query = q.a AND k.k = 10;
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.builds') || '/' || json_extract(relvec_knn_cache_stats(), '$.hits')
	|| '/' || json_extract(relvec_knn_cache_stats(), '$.copies'), '1/4/1', 'five queries: one copy read, four answered from it');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.used_bytes'), 300 * (64 * 4 + 24), 'a copy of 300 x 64 holds 300 x (256 + 24) bytes');
CREATE TEMP TABLE a2 AS
	SELECT 'cosine' AS m, q.idx AS qk, k.key, k.rank, k.distance FROM q, items_knn k WHERE k.query = q.a AND k.k = 20
	UNION ALL SELECT 'l2', q.idx, k.key, k.rank, k.distance FROM q, items_l2 k WHERE k.query = q.a AND k.k = 20
	UNION ALL SELECT 'l1', q.idx, k.key, k.rank, k.distance FROM q, items_l1 k WHERE k.query = q.a AND k.k = 20
	UNION ALL SELECT 'ip', q.idx, k.key, k.rank, k.distance FROM q, items_ip k WHERE k.query = q.a AND k.k = 20;
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.builds') || '/' || json_extract(relvec_knn_cache_stats(), '$.hits'),
	'1/24', 'one copy for every metric: twenty more queries, all from the copy');
CREATE TEMP TABLE ref AS
	SELECT 'cosine' AS m, * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT id, e FROM items', 20, 'cosine')
	UNION ALL SELECT 'l2', * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT id, e FROM items', 20, 'l2')
	UNION ALL SELECT 'l1', * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT id, e FROM items', 20, 'l1')
	UNION ALL SELECT 'ip', * FROM relvec_knn('SELECT idx, a FROM q ORDER BY idx', 'SELECT id, e FROM items', 20, 'ip');
SELECT is_eq((SELECT count(*) FROM a2 JOIN ref r ON r.m = a2.m AND r.query_key = CAST(a2.qk AS TEXT) AND r.rank = a2.rank
	AND r.corpus_key = CAST(a2.key AS TEXT) AND r.distance = a2.distance), 400,
	'cached answers of four metrics equal relvec_knn''s (which reads the rows): keys, ranks, distances bit for bit');
SELECT relvec_knn_cache_mb(0);
CREATE TEMP TABLE a3 AS
	SELECT 'cosine' AS m, q.idx AS qk, k.key, k.rank, k.distance FROM q, items_knn k WHERE k.query = q.a AND k.k = 20
	UNION ALL SELECT 'l2', q.idx, k.key, k.rank, k.distance FROM q, items_l2 k WHERE k.query = q.a AND k.k = 20
	UNION ALL SELECT 'l1', q.idx, k.key, k.rank, k.distance FROM q, items_l1 k WHERE k.query = q.a AND k.k = 20
	UNION ALL SELECT 'ip', q.idx, k.key, k.rank, k.distance FROM q, items_ip k WHERE k.query = q.a AND k.k = 20;
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.bypasses') || '/' || json_extract(relvec_knn_cache_stats(), '$.copies')
	|| '/' || json_extract(relvec_knn_cache_stats(), '$.used_bytes'), '20/0/0', 'relvec_knn_cache_mb(0): no copies, every query reads the table');
SELECT is_eq((SELECT count(*) FROM (SELECT * FROM a2 INTERSECT SELECT * FROM a3)), 400, 'a cached answer equals an uncached one');
SELECT is_eq((SELECT group_concat(typeof(key) || typeof(distance) || typeof(rank), ',') FROM (SELECT DISTINCT key, distance, rank FROM a3 WHERE rank = 1 LIMIT 1)),
	'integerrealinteger', 'uncached too, an INTEGER key comes back an integer');
SELECT is_eq(relvec_knn_cache_mb(1024), 1024, 'relvec_knn_cache_mb(1024) turns the copies on again');

-- ties: equal distances rank in table order from the copy as from a read
CREATE TABLE f.ties (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO f.ties VALUES (3, '[1,0]'), (1, '[0,1]'), (2, '[-1,0]'), (4, '[0,-1]'), (5, '[2,0]');
UPDATE f.ties SET e = embedding(e);
CREATE VIRTUAL TABLE ties_knn USING relvec_knn_index(ties, e, metric=l2, key=id);
SELECT is_eq((SELECT group_concat(key) FROM ties_knn WHERE query = '[0,0]' AND k = 5), '1,2,3,4,5', 'ties by row order (rowid here), first query');
SELECT is_eq((SELECT group_concat(key) FROM ties_knn WHERE query = '[0,0]' AND k = 5), '1,2,3,4,5', 'ties by row order, from the copy');
SELECT is_eq((SELECT group_concat(corpus_key) FROM relvec_knn('SELECT 0, ''[0,0]''', 'SELECT id, e FROM ties', 5, 'l2')), '1,2,3,4,5',
	'the same order as relvec_knn');

-- another connection's writes: insert, update, delete (rollback journal)
SELECT is_eq((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), (SELECT key FROM a1 WHERE rank = 1 ORDER BY qk LIMIT 1),
	'before: the nearest of the first query');
SELECT other_exec(scratch_path('cache.db'), 'INSERT INTO items VALUES (?1, ?2)', 7, (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT key || ':' || distance FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), '7:0.0',
	'a row inserted by another connection is found by the next query');
SELECT other_exec(scratch_path('cache.db'), 'UPDATE items SET e = ?2 WHERE id = ?1', 7, (SELECT a FROM q WHERE idx = (SELECT max(idx) FROM q)));
SELECT isnt((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), 7, 'a row updated by another connection moves');
SELECT is_eq((SELECT key || ':' || distance FROM items_knn WHERE query = (SELECT a FROM q WHERE idx = (SELECT max(idx) FROM q)) AND k = 1), '7:0.0',
	'to where the update put it');
SELECT other_exec(scratch_path('cache.db'), 'DELETE FROM items WHERE id = ?1', 7);
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 300, 'a row deleted by another connection is gone');
SELECT ok(json_extract(relvec_knn_cache_stats(), '$.builds') >= 4, 'each write by the other connection made the next query read the column again');

-- this connection's writes, autocommit
INSERT INTO f.items VALUES (8, (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT key || ':' || distance FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), '8:0.0', 'this connection''s insert is seen');
UPDATE f.items SET id = 9 WHERE id = 8;
SELECT is_eq((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), 9, 'this connection''s update (of the key) is seen');
UPDATE f.items SET e = '[1,2]' WHERE id = 9;
UPDATE f.items SET e = (SELECT a FROM q WHERE idx = (SELECT max(idx) FROM q)) WHERE id = 9;
SELECT is_eq((SELECT key FROM items_knn WHERE query = (SELECT a FROM q WHERE idx = (SELECT max(idx) FROM q)) AND k = 1), 9, 'this connection''s update of the embedding is seen');
DELETE FROM f.items WHERE id = 9;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 300, 'this connection''s delete is seen');

-- inside a transaction: its own uncommitted rows, a rollback, ROLLBACK TO
BEGIN;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 300, 'in a read transaction');
INSERT INTO f.items VALUES (10, (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), 10, 'an uncommitted insert of this transaction is seen');
SAVEPOINT s;
DELETE FROM f.items WHERE id = 10;
SELECT isnt((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), 10, 'a delete after the savepoint is seen');
ROLLBACK TO s;
SELECT is_eq((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), 10, 'ROLLBACK TO brings the row back');
ROLLBACK;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 300, 'ROLLBACK: the row is gone');
BEGIN;
INSERT INTO f.items VALUES (11, (SELECT a FROM q LIMIT 1));
COMMIT;
SELECT is_eq((SELECT key FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1), 11, 'a committed transaction is seen');
DELETE FROM f.items WHERE id = 11;

-- drop and re-create the table, with and without a transaction
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 300, 'a copy of 300 rows');
DROP TABLE f.items;
SELECT throws_ok('SELECT * FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1)', 'no such table: items', 'a dropped table: the error of a read');
CREATE TABLE f.items (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO f.items SELECT idx, a FROM fixtures.fmnist WHERE split = 'train' ORDER BY idx LIMIT 3;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 3, 'the re-created table''s 3 rows');
BEGIN;
DROP TABLE f.items;
CREATE TABLE f.items (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO f.items SELECT idx, a FROM fixtures.fmnist WHERE split = 'train' ORDER BY idx LIMIT 2;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 2, 'dropped and re-created in a transaction: its 2 rows');
COMMIT;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 2, 'and after the commit');
SELECT other_exec(scratch_path('cache.db'), 'DROP TABLE items');
SELECT other_exec(scratch_path('cache.db'), 'CREATE TABLE items (id INTEGER PRIMARY KEY, e BLOB)');
SELECT other_exec(scratch_path('cache.db'), 'INSERT INTO items VALUES (1, ?1), (2, ?1), (3, ?1), (4, ?1)', (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '1,2,3,4',
	'dropped and re-created by another connection: its 4 rows');

-- a temp table of the same name hides the attached one, as it does for every query
CREATE TEMP TABLE items (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO temp.items VALUES (42, (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '42', 'a temp table named items is read instead');
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '42', 'and its copy is used');
INSERT INTO temp.items VALUES (43, (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '42,43', 'a write to the temp table is seen');
DROP TABLE temp.items;
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '1,2,3,4', 'dropped: the attached table again');

-- WAL: another connection's commits
PRAGMA f.journal_mode = wal;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 4, 'WAL: a copy of 4 rows');
SELECT other_exec(scratch_path('cache.db'), 'INSERT INTO items VALUES (5, ?1)', (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 5, 'WAL: another connection''s insert is seen');
SELECT other_exec(scratch_path('cache.db'), 'DELETE FROM items WHERE id < 3');
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '3,4,5', 'WAL: and its delete');
BEGIN;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 3, 'WAL: a read transaction sees 3 rows');
SELECT other_exec(scratch_path('cache.db'), 'INSERT INTO items VALUES (6, ?1)', (SELECT a FROM q LIMIT 1));
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 3, 'WAL: and keeps its snapshot while another connection commits');
COMMIT;
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), 4, 'WAL: the next transaction sees the commit');
UPDATE f.items SET id = 60 WHERE id = 6;
SELECT is_eq((SELECT group_concat(key) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 1000), '3,4,5,60', 'WAL: this connection''s update is seen');

-- keys of their own type, from a copy and from a read
CREATE TABLE kt (ik INTEGER, tk TEXT, rk REAL, bk BLOB, mk, e BLOB);
INSERT INTO kt VALUES (1, 'one', 1.5, x'01ff', 7, embedding('[1,0]')), (2, 'two', -2.25, x'', 'seven', embedding('[0,1]')),
	(3, '3', 1e300, x'00', 7.5, embedding('[1,1]')), (NULL, NULL, NULL, NULL, NULL, embedding('[2,2]'));
CREATE VIRTUAL TABLE kt_i USING relvec_knn_index(kt, e, key=ik);
CREATE VIRTUAL TABLE kt_t USING relvec_knn_index(kt, e, key=tk);
CREATE VIRTUAL TABLE kt_r USING relvec_knn_index(kt, e, key=rk);
CREATE VIRTUAL TABLE kt_b USING relvec_knn_index(kt, e, key=bk);
CREATE VIRTUAL TABLE kt_m USING relvec_knn_index(kt, e, key=mk);
CREATE VIRTUAL TABLE kt_rowid USING relvec_knn_index(kt, e);
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_i WHERE query = '[1,0.1]' AND k = 5),
	'integer:1 integer:3 integer:2', 'INTEGER keys come back as integers (a NULL key is skipped)');
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_t WHERE query = '[1,0.1]' AND k = 5),
	'text:''one'' text:''3'' text:''two''', 'TEXT keys as text');
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_r WHERE query = '[1,0.1]' AND k = 5),
	'real:1.5 real:1.0e+300 real:-2.25', 'REAL keys as reals');
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_b WHERE query = '[1,0.1]' AND k = 5),
	'blob:X''01FF'' blob:X''00'' blob:X''''', 'BLOB keys as blobs, an empty one included');
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_m WHERE query = '[1,0.1]' AND k = 5),
	'integer:7 real:7.5 text:''seven''', 'a column of mixed types: each key of its own');
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_rowid WHERE query = '[1,0.1]' AND k = 5),
	'integer:1 integer:3 integer:4 integer:2', 'the default key, rowid, is an integer');
SELECT is_eq((SELECT key FROM kt_b WHERE query = '[1,0.1]' AND k = 1), x'01ff', 'a BLOB key equals the stored BLOB');
SELECT relvec_knn_cache_mb(0);
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_m WHERE query = '[1,0.1]' AND k = 5),
	'integer:7 real:7.5 text:''seven''', 'uncached: each key of its own type too');
SELECT is_eq((SELECT group_concat(typeof(key) || ':' || quote(key), ' ') FROM kt_b WHERE query = '[1,0.1]' AND k = 5),
	'blob:X''01FF'' blob:X''00'' blob:X''''', 'uncached: BLOB keys as blobs');
SELECT relvec_knn_cache_mb(1024);

-- the memory limit: least recently used copies are evicted, a column too large is read
CREATE TABLE big (id INTEGER PRIMARY KEY, e BLOB);
WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < 4)
	INSERT INTO big SELECT g.i * 10000 + idx, a FROM g, fixtures.fmnist WHERE split = 'test';
CREATE TABLE half1 AS SELECT * FROM big ORDER BY id LIMIT 2000;
CREATE TABLE half2 AS SELECT * FROM big ORDER BY id LIMIT 2000 OFFSET 3000;
CREATE VIRTUAL TABLE big_knn USING relvec_knn_index(big, e, key=id);
CREATE VIRTUAL TABLE half1_knn USING relvec_knn_index(half1, e, key=id);
CREATE VIRTUAL TABLE half2_knn USING relvec_knn_index(half2, e, key=id);
SELECT is_eq(relvec_knn_cache_mb(1), 1, 'relvec_knn_cache_mb(1) sets a limit of 1 MB');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.copies'), 0, 'lowering the limit evicts what no longer fits');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.used_bytes'), 0, 'and frees its bytes');
CREATE TEMP TABLE s0 AS SELECT json_extract(relvec_knn_cache_stats(), '$.too_large') AS too_large, json_extract(relvec_knn_cache_stats(), '$.bypasses') AS bypasses;
SELECT is_eq((SELECT group_concat(key) FROM big_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 5),
	(SELECT group_concat(corpus_key) FROM relvec_knn('SELECT idx, a FROM q LIMIT 1', 'SELECT id, e FROM big', 5)),
	'5,000 x 64 (1.4 MB) over a limit of 1 MB: the right answer, read from the table');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.too_large') - (SELECT too_large FROM s0), 1, 'counted as too large');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.copies'), 0, 'and not kept');
SELECT is_eq((SELECT count(*) FROM big_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 3), 3, 'the next query reads the table at once');
SELECT is_eq((json_extract(relvec_knn_cache_stats(), '$.too_large') - (SELECT too_large FROM s0)) || '/'
	|| (json_extract(relvec_knn_cache_stats(), '$.bypasses') - (SELECT bypasses FROM s0)), '1/2', 'without trying the copy again while the data stays');
SELECT is_eq((SELECT count(*) FROM half1_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 3), 3, 'a half of 2,000 rows (0.56 MB) fits');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.copies'), 1, 'one copy');
SELECT is_eq((SELECT count(*) FROM half2_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 3), 3, 'the other half');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.copies') || '/' || json_extract(relvec_knn_cache_stats(), '$.evictions'), '1/1',
	'evicts the first: the two do not fit together');
SELECT ok(json_extract(relvec_knn_cache_stats(), '$.used_bytes') <= 1048576, 'the copies stay within the limit');
SELECT is_eq((SELECT group_concat(key) FROM half1_knn WHERE query = (SELECT a FROM q LIMIT 1) AND k = 5),
	(SELECT group_concat(corpus_key) FROM relvec_knn('SELECT idx, a FROM q LIMIT 1', 'SELECT id, e FROM half1', 5)),
	'the evicted column is read again and answers right');
SELECT relvec_knn_cache_mb(1024);

-- what a copy cannot keep exactly is read from the table
CREATE TABLE mixed (id INTEGER PRIMARY KEY, e);
INSERT INTO mixed VALUES (1, embedding('[1,0]')), (2, '[0,1]'), (3, embedding('[1,1]'));
CREATE VIRTUAL TABLE mixed_knn USING relvec_knn_index(mixed, e, metric=l2, key=id);
CREATE TEMP TABLE s1 AS SELECT json_extract(relvec_knn_cache_stats(), '$.bypasses') AS bypasses;
SELECT is_eq((SELECT group_concat(key) FROM mixed_knn WHERE query = '[0,1]'), '2,3,1', 'an embedding stored as text: the right answer');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.bypasses') - (SELECT bypasses FROM s1), 1, 'read from the table (a text tag is looked up in the catalog)');
CREATE VIEW kt_view AS SELECT * FROM kt;
CREATE VIRTUAL TABLE view_knn USING relvec_knn_index(kt_view, e, key=ik);
SELECT is_eq((SELECT group_concat(key) FROM view_knn WHERE query = '[1,0.1]'), '1,3,2', 'a view is read, never copied');
SELECT is_eq(json_extract(relvec_knn_cache_stats(), '$.bypasses') - (SELECT bypasses FROM s1), 2, 'it has no data version of its own');

-- errors: as an uncached query words them
SELECT throws_ok('SELECT relvec_knn_cache_mb(-1)', '-1 is outside the valid range for relvec_knn_cache_mb (0 .. 1048576)', 'a negative limit');
SELECT throws_ok('SELECT relvec_knn_cache_mb(1048577)', '1048577 is outside the valid range for relvec_knn_cache_mb (0 .. 1048576)', 'a limit too large');
SELECT throws_ok('SELECT relvec_knn_cache_mb(''lots'')',
	'invalid value for relvec_knn_cache_mb: "lots": an integer number of megabytes is expected', 'a limit that is no integer');
SELECT throws_ok('SELECT relvec_knn_cache_mb(1.5)',
	'invalid value for relvec_knn_cache_mb: "1.5": an integer number of megabytes is expected', 'a fraction');
SELECT throws_ok('SELECT relvec_knn_cache_mb(NULL)',
	'invalid value for relvec_knn_cache_mb: "NULL": an integer number of megabytes is expected', 'null');
SELECT is_eq(relvec_knn_cache_mb(), 1024, 'a refused limit leaves the setting as it was');
SELECT is_eq((SELECT count(*) FROM items_knn WHERE query = (SELECT a FROM q LIMIT 1)), 4, 'the items copy');
SELECT throws_ok('SELECT * FROM items_knn WHERE query = ''[1,2]''', 'embedding of corpus key "3" has 64 dimensions, the query has 2',
	'a query of other dimensions than the copy: the error names the first row, as a read does');
CREATE TABLE bad (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO bad VALUES (1, embedding('[1,2]')), (2, x'0200'), (3, embedding('[1,2,3]'));
CREATE VIRTUAL TABLE bad_knn USING relvec_knn_index(bad, e);
SELECT throws_ok('SELECT * FROM bad_knn WHERE query = ''[1,2]''', 'embedding blob of 2 bytes is shorter than its header', 'a damaged BLOB');
SELECT throws_ok('SELECT * FROM bad_knn WHERE query = ''[1,2]''', 'embedding blob of 2 bytes is shorter than its header', 'and again (no copy was kept)');
DELETE FROM bad WHERE id = 2;
SELECT throws_ok('SELECT * FROM bad_knn WHERE query = ''[1,2]''', 'embedding of corpus key "3" has 3 dimensions, the query has 2', 'mixed dimensions');
DELETE FROM bad WHERE id = 3;
SELECT is_eq((SELECT key FROM bad_knn WHERE query = '[1,2]'), 1, 'repaired: answered');
SELECT relvec_create_space('sa', 2);
SELECT relvec_create_space('sb', 2);
CREATE TABLE tagged (id INTEGER PRIMARY KEY, e BLOB);
INSERT INTO tagged VALUES (1, embedding('[1,0]')), (2, relvec_tag('[0,1]', 'sa')), (3, relvec_tag('[1,1]', 'sa'));
CREATE VIRTUAL TABLE tagged_knn USING relvec_knn_index(tagged, e, metric=l2);
SELECT is_eq((SELECT group_concat(key) FROM tagged_knn WHERE query = relvec_tag('[0,1]', 'sa')), '2,3,1', 'a copy of rows of space sa, an sa query');
SELECT is_eq((SELECT group_concat(key) FROM tagged_knn WHERE query = '[0,1]'), '2,3,1', 'an untagged query');
SELECT throws_ok('SELECT * FROM tagged_knn WHERE query = relvec_tag(''[0,1]'', ''sb'')', 'embeddings of different spaces "sb" and "sa"',
	'an sb query: the read''s error');
SELECT relvec_knn_cache_mb(0);
SELECT throws_ok('SELECT * FROM tagged_knn WHERE query = relvec_tag(''[0,1]'', ''sb'')', 'embeddings of different spaces "sb" and "sa"',
	'the same error uncached');
SELECT relvec_knn_cache_mb(1024);
INSERT INTO tagged VALUES (4, relvec_tag('[2,2]', 'sb'));
SELECT throws_ok('SELECT * FROM tagged_knn WHERE query = ''[0,1]''', 'embeddings of different spaces "sa" and "sb"', 'rows of two spaces');
