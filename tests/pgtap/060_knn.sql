-- 060_knn: relvec_knn, batched exact kNN, against per-query ORDER BY e <op> q, key LIMIT k on
-- real fixtures (Fashion-MNIST encoder A, 64-d; fastText words, 100-d) and on data full of
-- ties, for every metric, across chunk boundaries, on a Vulkan device, and every error.
BEGIN;
SELECT plan(52);

-- The reference: one ORDER BY ... LIMIT per query, ties by corpus key (the corpus queries
-- below return rows in key order, and relvec_knn breaks ties by corpus row order).
CREATE FUNCTION pg_temp.knn_ref(queries text, corpus text, k integer, op text)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	LANGUAGE plpgsql AS $f$
BEGIN
	RETURN QUERY EXECUTE format($q$
		SELECT q.k::text, r.rank::integer, r.ck::text, r.d
		FROM (%1$s) q(k, e)
		CROSS JOIN LATERAL (
			SELECT c.k AS ck, c.e %3$s q.e AS d, row_number() OVER (ORDER BY c.e %3$s q.e, c.k) AS rank
			FROM (%2$s) c(k, e) ORDER BY c.e %3$s q.e, c.k LIMIT %4$s) r$q$, queries, corpus, op, k);
END $f$;

-- the same comparison for relvec_knn (chunk sizes 0 = the defaults)
CREATE FUNCTION pg_temp.knn_same(queries text, corpus text, k integer, metric text, op text,
		qchunk integer DEFAULT 0, cchunk integer DEFAULT 0) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	got text := format('SELECT * FROM relvec_knn(%L, %L, %s, %L)', queries, corpus, k, metric);
BEGIN
	IF qchunk > 0 THEN
		got := format('SELECT * FROM relvec_knn_chunked(%L, %L, %s, %L, %s, %s)', queries, corpus, k, metric, qchunk, cchunk);
	END IF;
	RETURN results_eq(got || ' ORDER BY query_key, rank',
		format('SELECT * FROM pg_temp.knn_ref(%L, %L, %s, %L) ORDER BY query_key, rank', queries, corpus, k, op),
		format('%s, k = %s%s equals per-query ORDER BY %s LIMIT', metric, k,
			CASE WHEN qchunk > 0 THEN format(', chunks of %s queries and %s rows', qchunk, cchunk) ELSE '' END, op));
END $f$;

SET LOCAL relvec.device = 'cpu';

-- real data, every metric ------------------------------------------------------------------
\set fq '''SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0'''
\set fc '''SELECT idx, a FROM fixtures.fmnist ORDER BY idx'''
SELECT pg_temp.knn_same(:fq, :fc, 10, 'l2', '<->');
SELECT pg_temp.knn_same(:fq, :fc, 10, 'ip', '<#>');
SELECT pg_temp.knn_same(:fq, :fc, 10, 'cosine', '<=>');
SELECT pg_temp.knn_same(:fq, :fc, 10, 'l1', '<+>');
\set wq '''SELECT word, ft FROM fixtures.words WHERE idx % 151 = 0'''
\set wc '''SELECT word, ft FROM fixtures.words ORDER BY word'''
SELECT pg_temp.knn_same(:wq, :wc, 25, 'cosine', '<=>');
SELECT pg_temp.knn_same(:wq, :wc, 7, 'l2', '<->');
SELECT is((SELECT count(*) FROM relvec_knn(:fq, :fc, 10)), 130::bigint, 'metric defaults to cosine: 13 queries x 10 rows');
SELECT results_eq($$SELECT corpus_key, rank FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx = 60001', 'SELECT idx, a FROM fixtures.fmnist', 1, 'l2')$$,
	$$VALUES ('60001', 1)$$, 'an item is its own nearest neighbour, rank 1');

-- chunks: few queries per corpus pass, few rows per bridge call ---------------------------------
SELECT pg_temp.knn_same(:fq, :fc, 5, 'l2', '<->', 3, 7);
SELECT pg_temp.knn_same(:fq, :fc, 5, 'ip', '<#>', 4, 100);
SELECT pg_temp.knn_same(:fq, :fc, 5, 'cosine', '<=>', 1, 1);
SELECT pg_temp.knn_same(:fq, :fc, 5, 'l1', '<+>', 5, 333);
SELECT pg_temp.knn_same(:wq, :wc, 12, 'cosine', '<=>', 2, 64);

-- ties: 15 distinct vectors, each repeated about 13 times -------------------------------------
CREATE TEMP TABLE tie AS
	SELECT i AS id, ARRAY[(i % 5)::real, ((i / 5) % 3)::real, 1]::embedding AS e FROM generate_series(1, 200) i;
\set tq '''SELECT id, e FROM tie WHERE id IN (1, 15, 77, 143)'''
\set tc '''SELECT id, e FROM tie ORDER BY id'''
SELECT pg_temp.knn_same(:tq, :tc, 30, 'l2', '<->');
SELECT pg_temp.knn_same(:tq, :tc, 30, 'ip', '<#>', 3, 16);
SELECT pg_temp.knn_same(:tq, :tc, 30, 'cosine', '<=>', 1, 9);
SELECT pg_temp.knn_same(:tq, :tc, 30, 'l1', '<+>', 2, 50);
SELECT is((SELECT corpus_key FROM relvec_knn($$SELECT 1, '[0,0,1]'::embedding$$, 'SELECT id, e FROM tie ORDER BY id', 1, 'l2')),
	'15', 'a tie goes to the row the corpus returns first (ascending order)');
SELECT is((SELECT corpus_key FROM relvec_knn($$SELECT 1, '[0,0,1]'::embedding$$, 'SELECT id, e FROM tie ORDER BY id DESC', 1, 'l2')),
	'195', 'a tie goes to the row the corpus returns first (descending order)');

-- edges ------------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx IN (60000, 60001)', 'SELECT idx, a FROM fixtures.fmnist', 1500, 'l2')),
	2600::bigint, 'k beyond the corpus returns every corpus row');
SELECT results_eq($$SELECT rank FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx = 60000', 'SELECT idx, a FROM fixtures.fmnist', 1500, 'l2')$$,
	$$SELECT generate_series(1, 1300)$$, 'ranks are 1..n');
SELECT is((SELECT count(*) FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE false', 'SELECT idx, a FROM fixtures.fmnist', 3)),
	0::bigint, 'no queries, no rows');
SELECT is((SELECT count(*) FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist', 'SELECT idx, a FROM fixtures.fmnist WHERE false', 3)),
	0::bigint, 'an empty corpus, no rows');
SELECT results_eq($$SELECT query_key, corpus_key, distance FROM relvec_knn($q$SELECT 'z', '[0,0]'::embedding$q$, $q$VALUES ('p', '[1,0]'::embedding), ('o', '[0,0]')$q$, 2)$$,
	$$VALUES ('z', 'p', 1::float8), ('z', 'o', 1::float8)$$, 'cosine with a zero vector is distance 1, as <=>; ties in corpus order');

-- a Vulkan device (lavapipe here) gives the CPU's answers -------------------------------------
CREATE FUNCTION pg_temp.device_checks() RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE dev integer;
BEGIN
	SELECT index INTO dev FROM relvec_devices() ORDER BY (type = 'cpu') DESC, index LIMIT 1;
	IF dev IS NULL THEN
		RETURN QUERY SELECT skip('no Vulkan device', 8);
		RETURN;
	END IF;
	EXECUTE format('SET LOCAL relvec.device = %L', 'vulkan:' || dev);
	-- one query and 13 take the few-query kernel, 35 the kernel of larger batches
	RETURN NEXT pg_temp.knn_same('SELECT idx, a FROM fixtures.fmnist WHERE idx = 60097', 'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'l2', '<->');
	RETURN NEXT pg_temp.knn_same('SELECT idx, a FROM fixtures.fmnist WHERE idx % 37 = 0', 'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'cosine', '<=>');
	RETURN NEXT pg_temp.knn_same('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'cosine', '<=>');
	RETURN NEXT matches(relvec_backend(), '^vulkan:' || dev, 'the kNN pass ran on the device');
	RETURN NEXT pg_temp.knn_same('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist ORDER BY idx', 10, 'l2', '<->', 5, 300);
	RETURN NEXT pg_temp.knn_same('SELECT word, ft FROM fixtures.words WHERE idx % 151 = 0', 'SELECT word, ft FROM fixtures.words ORDER BY word', 10, 'ip', '<#>');
	RETURN NEXT pg_temp.knn_same('SELECT id, e FROM tie WHERE id IN (1, 15, 77, 143)', 'SELECT id, e FROM tie ORDER BY id', 30, 'l1', '<+>', 2, 64);
	RETURN NEXT pg_temp.knn_same('SELECT id, e FROM tie WHERE id IN (1, 15, 77, 143)', 'SELECT id, e FROM tie ORDER BY id', 30, 'cosine', '<=>');
	SET LOCAL relvec.device = 'cpu';
END $f$;
SELECT * FROM pg_temp.device_checks();

-- errors -------------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT a FROM fixtures.fmnist', 'SELECT idx, a FROM fixtures.fmnist', 3)$$,
	'42804', 'the queries must return two columns, (key, embedding)', 'queries with one column');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist', 'SELECT idx, label FROM fixtures.fmnist', 3)$$,
	'42804', 'the corpus must return two columns, (key, embedding)', 'corpus whose second column is no embedding');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist', 'SELECT idx, a, b FROM fixtures.fmnist', 3)$$,
	'42804', 'the corpus must return two columns, (key, embedding)', 'corpus with three columns');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist', $q$SELECT 'x', '[1,2,3]'::embedding$q$, 3)$$,
	'22000', 'embedding of corpus key "x" has 3 dimensions, the queries have 64', 'corpus of other dimensions');
SELECT throws_ok($$SELECT * FROM relvec_knn($q$VALUES (1, '[1,2]'::embedding), (2, '[1,2,3]')$q$, 'SELECT idx, a FROM fixtures.fmnist', 3)$$,
	'22000', 'embedding of query key "2" has 3 dimensions, the first query has 2', 'queries of different dimensions');
SELECT throws_ok($$SELECT * FROM relvec_knn($q$VALUES (1, NULL::embedding)$q$, 'SELECT idx, a FROM fixtures.fmnist', 3)$$,
	'22004', 'a row of the queries has a null key or embedding', 'a null query embedding');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist LIMIT 2', $q$SELECT CASE WHEN idx = 60500 THEN NULL ELSE idx END, a FROM fixtures.fmnist$q$, 3)$$,
	'22004', 'a row of the corpus has a null key or embedding', 'a null corpus key');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', 0)$$, '22023', 'k must be at least 1', 'k = 0');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', -5)$$, '22023', 'k must be at least 1', 'negative k');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', 16385)$$, '54000', 'k 16385 exceeds the maximum of 16384', 'k above the limit');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', 3, 'cos')$$, '22023', 'unknown metric "cos": expected l2, ip, cosine or l1', 'unknown metric');
SELECT throws_ok($$SELECT * FROM relvec_knn(NULL, 'SELECT idx, a FROM fixtures.fmnist', 3)$$, '22004', 'queries must not be null', 'null queries');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', NULL)$$, '22004', 'k must not be null', 'null k');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', 3, NULL)$$, '22004', 'metric must not be null', 'null metric');
SELECT throws_ok($$SELECT * FROM relvec_knn_chunked('SELECT idx, a FROM fixtures.fmnist WHERE idx % 97 = 0', 'SELECT idx, a FROM fixtures.fmnist', 3, 'l2', 0, 10)$$, '22023', 'chunk sizes must be at least 1', 'a zero chunk size');
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist', 'INSERT INTO tie VALUES (0, NULL)', 3)$$,
	'42804', 'the corpus must be a single statement that returns rows', 'corpus that returns no rows');

-- statement_timeout stops the pass (WHEN OTHERS never catches query_canceled: catch it by name)
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE q;
	RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
	RETURN SQLSTATE;
END $f$;
SET LOCAL statement_timeout = '200ms';
SELECT is(pg_temp.sqlstate_of($$SELECT count(*) FROM relvec_knn('SELECT idx, a FROM fixtures.fmnist',
	'SELECT i, a FROM fixtures.fmnist, generate_series(1, 5000000) i WHERE idx = 60000', 10, 'l2')$$),
	'57014', 'statement_timeout stops relvec_knn');
RESET statement_timeout;

-- distances beyond float32's range: an error, never a wrong order ------------------------------
CREATE TEMP TABLE big_ip AS SELECT g AS id, ARRAY[g, 1]::real[]::embedding AS e FROM generate_series(1, 40) g;
SELECT throws_ok($$SELECT * FROM relvec_knn('SELECT 1, ''[3e38,-3e38]''::embedding', 'SELECT id, e FROM big_ip ORDER BY id', 5, 'ip')$$,
	'22003', 'distances of query "1" are beyond the float32 range: relvec_knn cannot rank them',
	'inner products beyond float32: 22003, not the first rows of a tie');
SELECT is((SELECT string_agg(corpus_key, ',' ORDER BY rank) FROM relvec_knn('SELECT 1, ''[3e38,-3e38]''::embedding',
	'SELECT id, e FROM big_ip WHERE id > 35 ORDER BY id', 3, 'ip')), '40,39,38',
	'... a corpus that fits the list whole is ranked by its exact distances');
SELECT is((SELECT string_agg(corpus_key, ',' ORDER BY rank) FROM relvec_knn('SELECT 1, ''[1,1]''::embedding',
	'SELECT id, e FROM big_ip ORDER BY id', 3, 'ip')), '40,39,38', '... and finite distances rank as always');

SELECT * FROM finish();
ROLLBACK;
