-- 058_rvivf_knn: relvec_knn_ivf and relvec_stitch_knn_ivf, batched approximate kNN through an
-- rvivf index. With every list probed and every candidate reranked they equal relvec_knn and
-- relvec_stitch_knn (translation route) row for row, distances to the last bit; with the
-- defaults their recall@10 against those stays above a floor (with a margin below what they
-- reach); they agree with the single-query index scan on most queries; rows the snapshot
-- cannot see are never returned and more lists are probed when too few rows are visible;
-- and every error a user can cause. Fashion-MNIST 9,000 x 64 (fixtures.fm10k, the rows with
-- idx % 10 = 0 held out as the 1,000 queries) and fixtures.fmnist (the same items embedded
-- by two encoders). Everything happens in one transaction, rolled back.
BEGIN;
SELECT plan(45);
SELECT setseed(0.5);
SET LOCAL relvec.device = 'cpu';

CREATE TABLE fm (id int, e embedding(64));
INSERT INTO fm SELECT idx, a FROM fixtures.fm10k WHERE idx % 10 <> 0 ORDER BY idx;
CREATE TABLE fmq AS SELECT idx AS id, a AS e FROM fixtures.fm10k WHERE idx % 10 = 0 ORDER BY idx;
CREATE INDEX fm_l2 ON fm USING rvivf (e embedding_l2_ops);
CREATE INDEX fm_ip ON fm USING rvivf (e embedding_ip_ops);
CREATE INDEX fm_cos ON fm USING rvivf (e embedding_cosine_ops);
ANALYZE fm;

-- The exact answer, ties by ctid as relvec_knn_ivf breaks them (relvec_knn: corpus row order).
CREATE FUNCTION exact(q text, metric text, k int DEFAULT 10) RETURNS TABLE (query_key text, rank int, corpus_key text, distance float8)
	LANGUAGE sql AS $$ SELECT * FROM relvec_knn(q, 'SELECT id, e FROM fm ORDER BY ctid', k, metric) $$;
-- Mean recall@10 of a result table against another (both (query_key, rank, corpus_key, distance)).
CREATE FUNCTION recall(got text, want text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r float8;
BEGIN
	EXECUTE format('SELECT avg(h) FROM (SELECT count(g.corpus_key)::float8 / count(*) AS h
		FROM %s w LEFT JOIN %s g ON g.query_key = w.query_key AND g.corpus_key = w.corpus_key
		GROUP BY w.query_key) s', want, got) INTO r;
	RETURN r;
END $$;

-- every list probed, every candidate reranked: exact --------------------------------------------
SET LOCAL relvec.ivf_rerank = 100000;
-- all 1,000 queries for l2: about 600 fit a batch with every list probed, so this crosses batches
CREATE TEMP TABLE ex_l2 AS SELECT * FROM exact('SELECT id, e FROM fmq', 'l2');
SELECT results_eq(
	$$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'id', 16384) ORDER BY 1, 2$$,
	$$SELECT * FROM ex_l2 ORDER BY 1, 2$$,
	'l2, every list probed: = relvec_knn row for row (keys, ranks, distances), 1,000 queries in two batches');
SELECT results_eq(
	$$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 3000', 'fm_ip', 10, 'id', 16384) ORDER BY 1, 2$$,
	$$SELECT * FROM exact('SELECT id, e FROM fmq WHERE id < 3000', 'ip') ORDER BY 1, 2$$,
	'ip, every list probed: = relvec_knn row for row');
SELECT results_eq(
	$$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 3000', 'fm_cos', 10, 'id', 16384) ORDER BY 1, 2$$,
	$$SELECT * FROM exact('SELECT id, e FROM fmq WHERE id < 3000', 'cosine') ORDER BY 1, 2$$,
	'cosine, every list probed: = relvec_knn row for row');
SET LOCAL relvec.ivf_probes = 16384;
SELECT results_eq(
	$$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 1000', 'fm_l2', 25, 'id') ORDER BY 1, 2$$,
	$$SELECT * FROM exact('SELECT id, e FROM fmq WHERE id < 1000', 'l2', 25) ORDER BY 1, 2$$,
	'probes 0 takes relvec.ivf_probes (16384 here): exact, k = 25');
RESET relvec.ivf_probes;
RESET relvec.ivf_rerank;

-- the defaults: recall, shape, order ------------------------------------------------------------
CREATE TEMP TABLE ap_l2 AS SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'id');
CREATE TEMP TABLE ap_ip AS SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_ip', 10, 'id');
CREATE TEMP TABLE ap_cos AS SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_cos', 10, 'id');
CREATE TEMP TABLE ex_ip AS SELECT * FROM exact('SELECT id, e FROM fmq', 'ip');
CREATE TEMP TABLE ex_cos AS SELECT * FROM exact('SELECT id, e FROM fmq', 'cosine');
SELECT cmp_ok(recall('ap_l2', 'ex_l2'), '>=', 0.9::float8, 'l2, defaults: mean recall@10 >= 0.9');
SELECT cmp_ok(recall('ap_ip', 'ex_ip'), '>=', 0.9::float8, 'ip, defaults: mean recall@10 >= 0.9');
SELECT cmp_ok(recall('ap_cos', 'ex_cos'), '>=', 0.9::float8, 'cosine, defaults: mean recall@10 >= 0.9');
SELECT is((SELECT count(*) FROM ap_l2), 10000::bigint, '1,000 queries x 10 rows');
SELECT is((SELECT count(*) FROM ap_l2 a JOIN fm ON fm.id = a.corpus_key::int JOIN fmq q ON q.id = a.query_key::int
	WHERE a.distance IS DISTINCT FROM (fm.e <-> q.e)), 0::bigint, 'every distance is the operator''s, to the last bit');
SELECT is((SELECT count(*) FROM (SELECT distance < lag(distance) OVER w AS down, rank - lag(rank) OVER w AS step
	FROM ap_cos WINDOW w AS (PARTITION BY query_key ORDER BY rank)) s WHERE down OR step <> 1), 0::bigint,
	'ranks 1..10 in ascending distance');
SELECT cmp_ok(recall($$(SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'id', 1))$$, 'ex_l2'),
	'<', recall('ap_l2', 'ex_l2'), 'probes = 1 probes fewer lists: recall below the defaults''');

-- the single-query index scan (same probes) gives the same rows on most queries
CREATE FUNCTION scan_agrees(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	q record;
	same int := 0;
	a text;
	b text;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR q IN SELECT id, e FROM fmq ORDER BY id LIMIT n LOOP
		SELECT string_agg(id || ':' || d, ',') INTO a FROM (SELECT id, e <-> q.e AS d FROM fm ORDER BY e <-> q.e LIMIT 10) s;
		SELECT string_agg(corpus_key || ':' || distance, ',' ORDER BY rank) INTO b FROM ap_l2 WHERE query_key = q.id::text;
		IF a = b THEN
			same := same + 1;
		END IF;
	END LOOP;
	PERFORM set_config('enable_seqscan', 'on', true);
	RETURN same;
END $$;
SELECT cmp_ok(scan_agrees(200), '>=', 180, 'the index scan ORDER BY e <-> q LIMIT 10 gives the same rows and distances on >= 90% of 200 queries');

-- keys: a NULL key_column gives the ctid, any key type comes back as text -------------------------
CREATE TEMP TABLE by_ctid AS SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 500', 'fm_l2', 10);
SELECT is((SELECT count(*) FROM by_ctid b JOIN fm ON fm.ctid = b.corpus_key::tid
	JOIN ap_l2 a ON a.query_key = b.query_key AND a.rank = b.rank AND a.corpus_key = fm.id::text), 500::bigint,
	'key_column NULL: corpus_key is the row''s ctid');
CREATE TABLE named (name text, e embedding(64), n int);
INSERT INTO named SELECT 'item ' || id, e, NULL FROM fm WHERE id < 2000;
CREATE INDEX named_i ON named USING rvivf (e embedding_l2_ops) WITH (lists = 10);
SELECT is((SELECT array_agg(corpus_key ORDER BY rank) FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id = 10', 'named_i', 3, 'name', 100)),
	(SELECT array_agg('item ' || corpus_key ORDER BY rank) FROM relvec_knn('SELECT id, e FROM fmq WHERE id = 10', 'SELECT id, e FROM fm WHERE id < 2000', 3, 'l2')),
	'a text key column');
SELECT is((SELECT count(*) FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id = 10', 'named_i', 3, 'n') WHERE corpus_key IS NULL), 3::bigint,
	'a NULL key comes back as NULL');

-- visibility, too few rows, empty ----------------------------------------------------------------
DELETE FROM fm WHERE id % 47 <> 0;	-- 191 rows left; the deleted are invisible to the next statements
CREATE TEMP TABLE sparse AS SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 2000', 'fm_l2', 10, 'id');
SELECT is((SELECT count(*) FROM sparse WHERE corpus_key::int % 47 <> 0), 0::bigint, 'deleted rows are never returned');
SELECT is((SELECT count(*) FROM sparse), 2000::bigint, 'queries whose first lists hold too few visible rows probe on: 10 rows each');
SET LOCAL relvec.ivf_max_probes = 1;
SELECT cmp_ok((SELECT count(*) FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 2000', 'fm_l2', 10, 'id', 1)), '<', 2000::bigint,
	'relvec.ivf_max_probes = 1 and probes = 1: fewer rows');
RESET relvec.ivf_max_probes;
SELECT results_eq($$SELECT query_key, rank, corpus_key FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 200', 'fm_l2', 500, 'id') ORDER BY 1, 2$$,
	$$SELECT query_key, rank, corpus_key FROM exact('SELECT id, e FROM fmq WHERE id < 200', 'l2', 500) ORDER BY 1, 2$$,
	'k = 500 over 191 visible rows: all 191, in the exact order');
CREATE TABLE em (id int, e embedding);
CREATE INDEX em_i ON em USING rvivf (e embedding_cosine_ops);
SELECT is((SELECT count(*) FROM relvec_knn_ivf('SELECT 1, ''[1,2,3]''::embedding', 'em_i', 5)), 0::bigint, 'an empty index: no rows');
INSERT INTO em VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, NULL);
SELECT is((SELECT array_agg(corpus_key ORDER BY rank) FROM relvec_knn_ivf('SELECT 1, ''[1,0.1,0]''::embedding', 'em_i', 5, 'id')),
	ARRAY['1', '2'], 'built empty, two rows inserted (and a NULL, not indexed): both');

-- errors -----------------------------------------------------------------------------------------
CREATE INDEX fm_btree ON fm (id);
CREATE INDEX fm_flat ON fm USING rvflat (e embedding_l2_ops);
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_btree', 10)$$, '42809',
	'"fm_btree" is not an rvivf index', 'a btree index is refused');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_flat', 10)$$, '42809',
	'"fm_flat" is not an rvivf index', 'an rvflat index is refused');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm', 10)$$, '42809',
	'"fm" is not an rvivf index', 'a table is refused');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'nope')$$, '42703',
	'column "nope" of relation "fm" does not exist', 'an unknown key column');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'xmin')$$, '42703',
	'column "xmin" of relation "fm" does not exist', 'a system column is no key column');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 0)$$, '22023',
	'k must be at least 1', 'k = 0');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 16385)$$, '54000',
	'k 16385 exceeds the maximum of 16384', 'k above 16,384');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'id', -1)$$, '22023',
	'probes must be at least 0', 'negative probes');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', NULL)$$, '22004',
	'k must not be null', 'a null argument');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT 1, ''[1,2,3]''::embedding', 'fm_l2', 10)$$, '22000',
	'different embedding dimensions 64 and 3', 'queries of other dimensions than the index');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, CASE WHEN id = 20 THEN NULL ELSE e END FROM fmq', 'fm_l2', 10)$$, '22004',
	'a row of the queries has a null key or embedding', 'a null query embedding, as relvec_knn');
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('DELETE FROM fmq RETURNING id, e', 'fm_l2', 10)$$, '22023',
	'the queries must be a read-only query', 'queries that change data');

SELECT relvec_create_space('ivfk_a', 2);
SELECT relvec_create_space('ivfk_b', 2);
CREATE TABLE sp (id int, e embedding(ivfk_a));
INSERT INTO sp SELECT i, ARRAY[random(), random()]::real[]::embedding FROM generate_series(1, 50) i;
CREATE INDEX sp_i ON sp USING rvivf (e embedding_l2_ops);
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT 1, relvec_tag(''[0.5,0.5]'', ''ivfk_b'')', 'sp_i', 3)$$, '42804',
	'embeddings of different spaces "ivfk_a" and "ivfk_b"', 'a query of another space than the rows');
SELECT is((SELECT count(*) FROM relvec_knn_ivf('SELECT 1, relvec_tag(''[0.5,0.5]'', ''ivfk_a'')', 'sp_i', 3)), 3::bigint,
	'a query of the rows'' space is answered');

-- privileges: SELECT on the table (or the columns read), and no row-level security
CREATE ROLE rv_ivfk_reader;
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;
GRANT SELECT ON fmq TO rv_ivfk_reader;
GRANT SELECT (id) ON fm TO rv_ivfk_reader;
SET LOCAL ROLE rv_ivfk_reader;
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'id')$$, '42501',
	'permission denied for table fm', 'a caller who may not read the indexed column is refused');
RESET ROLE;
GRANT SELECT (e) ON fm TO rv_ivfk_reader;
SET LOCAL ROLE rv_ivfk_reader;
SELECT is((SELECT count(*) FROM relvec_knn_ivf('SELECT id, e FROM fmq WHERE id < 100', 'fm_l2', 10, 'id')), 100::bigint,
	'SELECT on the key and indexed columns is enough');
RESET ROLE;
ALTER TABLE fm ENABLE ROW LEVEL SECURITY;
SET LOCAL ROLE rv_ivfk_reader;
SELECT throws_ok($$SELECT * FROM relvec_knn_ivf('SELECT id, e FROM fmq', 'fm_l2', 10, 'id')$$, '42501',
	'row-level security is enabled for "fm": relvec_knn_ivf would not apply the policies',
	'a table with row-level security is refused, not searched past its policies');
RESET ROLE;
ALTER TABLE fm DISABLE ROW LEVEL SECURITY;

-- stitched: queries of encoder B, corpus of encoder A, through the fitted translation ------------
SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A');
SELECT relvec_create_space('mlp_b', 64, 'Fashion-MNIST encoder B');
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
CREATE TABLE fa (idx int, a embedding(mlp_a));
INSERT INTO fa SELECT idx, a FROM fixtures.fmnist ORDER BY idx;
CREATE INDEX fa_cos ON fa USING rvivf (a embedding_cosine_ops);
CREATE TABLE fb (idx int, b embedding(mlp_b));
INSERT INTO fb SELECT idx, b FROM fixtures.fmnist;
CREATE INDEX fb_cos ON fb USING rvivf (b embedding_cosine_ops);
CREATE TABLE f10 (idx int, a embedding(10));
INSERT INTO f10 SELECT idx, subvector(a, 1, 10) FROM fixtures.fmnist;
CREATE INDEX f10_cos ON f10 USING rvivf (a embedding_cosine_ops);
\set sq '$q$SELECT idx, b FROM fixtures.fmnist WHERE split = \'test\'$q$'
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn_ivf(%s, %L, %L, %L, %L, 10)', :'sq', 'mlp_b', 'fa_cos', 'mlp_a', 'fm300'), '55000',
	'no translation fitted from space "mlp_b" to space "mlp_a" in anchor set "fm300"', 'stitched: no translation fitted');
SELECT ok(relvec_fit_translation('fm300', 'mlp_b', 'mlp_a') > 0.5, 'fit B -> A on the anchors');
CREATE TEMP TABLE st_ex AS SELECT * FROM relvec_stitch_knn(:sq, 'mlp_b', 'SELECT idx, a FROM fa ORDER BY ctid', 'mlp_a', 'fm300', 10, 'translation');
SET LOCAL relvec.ivf_rerank = 100000;
SELECT results_eq(format('SELECT * FROM relvec_stitch_knn_ivf(%s, %L, %L, %L, %L, 10, %L, 16384) ORDER BY 1, 2', :'sq', 'mlp_b', 'fa_cos', 'mlp_a', 'fm300', 'idx'),
	'SELECT * FROM st_ex ORDER BY 1, 2',
	'stitched, every list probed: = relvec_stitch_knn via translation, row for row');
RESET relvec.ivf_rerank;
CREATE TEMP TABLE st_ap AS SELECT * FROM relvec_stitch_knn_ivf(:sq, 'mlp_b', 'fa_cos', 'mlp_a', 'fm300', 10, 'idx');
SELECT cmp_ok(recall('st_ap', 'st_ex'), '>=', 0.85::float8, 'stitched, defaults: mean recall@10 >= 0.85');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn_ivf(%s, %L, %L, %L, %L, 10)', :'sq', 'mlp_b', 'fb_cos', 'mlp_a', 'fm300'), '42804',
	'embeddings of different spaces "mlp_b" and "mlp_a"', 'stitched: an index over rows of another space than corpus_space');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn_ivf(%s, %L, %L, %L, %L, 10)', :'sq', 'mlp_b', 'f10_cos', 'mlp_a', 'fm300'), '22000',
	'different embedding dimensions 10 and 64', 'stitched: an index of other dimensions than the translation''s');
SELECT throws_ok(format('SELECT * FROM relvec_stitch_knn_ivf(%L, %L, %L, %L, %L, 10)', 'SELECT idx, a FROM fa', 'mlp_b', 'fa_cos', 'mlp_a', 'fm300'), '42804',
	NULL, 'stitched: queries tagged with another space than query_space');

SELECT * FROM finish();
ROLLBACK;
