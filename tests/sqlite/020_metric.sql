-- 020_metric: distances, vector functions, arithmetic, ordering and hashing, against
-- hand-computed values (the cases of tests/pgtap/020_metric.sql that SQLite has: no
-- operators, no type-level btree/hash machinery).

-- distances: a = [1,2,3], b = [4,6,8], b - a = [3,4,5]
SELECT is_eq(l2_distance('[1,2,3]', '[4,6,8]'), sqrt(50), 'l2_distance = sqrt(9+16+25)');
SELECT is_eq(embedding_l2_squared_distance('[1,2,3]', '[4,6,8]'), 50.0, 'squared L2 = 50');
SELECT is_eq(inner_product('[1,2,3]', '[4,6,8]'), 40.0, 'inner_product = 4+12+24');
SELECT is_eq(embedding_negative_inner_product('[1,2,3]', '[4,6,8]'), -40.0, 'negative inner product');
SELECT is_eq(l1_distance('[1,2,3]', '[4,6,8]'), 12.0, 'l1_distance = 3+4+5');
SELECT ok(abs(cosine_distance('[1,2,3]', '[4,6,8]') - 0.007416666029069763) < 1e-12, 'cosine_distance = 1 - 40/sqrt(14*116)');
SELECT is_eq(cosine_distance('[1,0]', '[0,1]'), 1.0, 'cosine distance of orthogonal vectors is 1');
SELECT is_eq(cosine_distance('[1,2]', '[2,4]'), 0.0, 'of parallel vectors 0');
SELECT is_eq(cosine_distance('[1,2]', '[-1,-2]'), 2.0, 'of opposite vectors 2');
SELECT is_eq(cosine_distance('[0,0]', '[1,2]'), 1.0, 'cosine distance with a zero vector is defined as 1');
SELECT is_eq(cosine_distance('[0,0]', '[0,0]'), 1.0, 'between zero vectors 1');
SELECT is_eq(l2_distance('[1,1]', '[1,1]'), 0.0, 'distance to itself is 0');
SELECT ok(abs(cosine_distance('[1e-30,1e-30]', '[1e-30,-1e-30]') - 1) < 1e-12, 'tiny vectors: cosine still exact');
SELECT is_eq(l2_distance(embedding('[1,2,3]'), '[4,6,8]'), sqrt(50), 'a BLOB and a text mix');

-- every distance rejects different dimensions
SELECT throws_ok('SELECT l2_distance(''[1,2]'', ''[1,2,3]'')', 'different embedding dimensions 2 and 3', 'l2 mismatch');
SELECT throws_ok('SELECT embedding_negative_inner_product(''[1,2]'', ''[1,2,3]'')', 'different embedding dimensions 2 and 3', 'negative ip mismatch');
SELECT throws_ok('SELECT cosine_distance(''[1,2]'', ''[1,2,3]'')', 'different embedding dimensions 2 and 3', 'cosine mismatch');
SELECT throws_ok('SELECT l1_distance(''[1,2]'', ''[1,2,3]'')', 'different embedding dimensions 2 and 3', 'l1 mismatch');
SELECT throws_ok('SELECT inner_product(''[1,2,3]'', ''[1,2]'')', 'different embedding dimensions 3 and 2', 'inner_product mismatch');
SELECT throws_ok('SELECT embedding_l2_squared_distance(''[1]'', ''[1,2]'')', 'different embedding dimensions 1 and 2', 'squared L2 mismatch');
SELECT ok(l2_distance(NULL, '[1]') IS NULL AND cosine_distance('[1]', NULL) IS NULL, 'NULL gives NULL');

-- vector functions
SELECT is_eq(embedding_dims('[1,2,3]'), 3, 'embedding_dims');
SELECT is_eq(embedding_norm('[3,4]'), 5.0, 'embedding_norm of [3,4] is 5');
SELECT is_eq(embedding_norm('[0,0]'), 0.0, 'norm of a zero vector is 0');
SELECT is_eq(embedding_text(l2_normalize('[3,4]')), '[0.6,0.8]', 'l2_normalize');
SELECT is_eq(embedding_text(l2_normalize('[0,0]')), '[0,0]', 'l2_normalize leaves a zero vector zero');
SELECT ok(abs(embedding_norm(l2_normalize('[1,2,3,4,5,6,7]')) - 1) < 1e-6, 'normalized norm is 1');
SELECT is_eq(embedding_text(subvector('[1,2,3,4,5]', 2, 3)), '[2,3,4]', 'subvector(e, 2, 3)');
SELECT is_eq(embedding_text(subvector('[1,2,3,4,5]', 1, 5)), '[1,2,3,4,5]', 'subvector of everything');
SELECT is_eq(embedding_text(subvector('[1,2,3,4,5]', 4, 10)), '[4,5]', 'subvector clipped at the end');
SELECT is_eq(embedding_text(subvector('[1,2,3,4,5]', 0, 2)), '[1]', 'subvector clipped at the start, as pgvector');
SELECT throws_ok('SELECT subvector(''[1,2,3]'', 4, 1)', 'embedding must have at least 1 dimension', 'subvector past the end');
SELECT throws_ok('SELECT subvector(''[1,2,3]'', 1, 0)', 'embedding must have at least 1 dimension', 'subvector count 0');
SELECT throws_ok('SELECT subvector(''[1,2,3]'', -5, 3)', 'embedding must have at least 1 dimension', 'subvector before the start');
SELECT is_eq(embedding_text(subvector('[1,2,3]', 2, 2147483647)), '[2,3]', 'subvector with a huge count does not overflow');
SELECT throws_ok('SELECT subvector(''[1,2,3]'', 1, 2147483648)', 'integer out of range', 'count beyond PostgreSQL''s integer');

-- arithmetic
SELECT is_eq(embedding_text(embedding_add('[1,2,3]', '[4,6,8]')), '[5,8,11]', 'embedding_add');
SELECT is_eq(embedding_text(embedding_sub('[1,2,3]', '[4,6,8]')), '[-3,-4,-5]', 'embedding_sub');
SELECT is_eq(embedding_text(embedding_mul('[1,2,3]', '[4,6,8]')), '[4,12,24]', 'embedding_mul is element-wise');
SELECT is_eq(embedding_text(embedding_concat('[1,2]', '[3]')), '[1,2,3]', 'embedding_concat');
SELECT throws_ok('SELECT embedding_add(''[3e38]'', ''[3e38]'')', 'value out of range: overflow', 'add overflow');
SELECT throws_ok('SELECT embedding_sub(''[-3e38]'', ''[3e38]'')', 'value out of range: overflow', 'sub overflow');
SELECT throws_ok('SELECT embedding_mul(''[1e30]'', ''[1e30]'')', 'value out of range: overflow', 'mul overflow');
SELECT throws_ok('SELECT embedding_add(''[1,2]'', ''[1]'')', 'different embedding dimensions 2 and 1', 'add mismatch');
SELECT throws_ok('SELECT embedding_concat(embedding(''['' || substr(replace(hex(zeroblob(16000)), ''00'', ''1,''), 1, 31999) || '']''), ''[1]'')',
	'embedding cannot have more than 16000 dimensions', 'concat beyond 16000 dimensions');

-- ordering and hashing (PostgreSQL's btree and hash support functions)
SELECT is_eq(embedding_cmp('[1,2]', '[1,3]'), -1, 'embedding_cmp element-wise');
SELECT is_eq(embedding_cmp('[1,2]', '[1,2,0]'), -1, 'a prefix sorts first');
SELECT is_eq(embedding_cmp('[2]', '[1,9]'), 1, 'first element decides');
SELECT is_eq(embedding_cmp('[0]', '[-0]'), 0, '-0 equals 0');
SELECT is_eq(embedding_hash('[0]'), embedding_hash('[-0]'), 'and hashes the same');
SELECT isnt(embedding_hash('[1,2]'), embedding_hash('[2,1]'), 'different values hash differently');

-- on real data: the functions agree with each other
SELECT ok((SELECT max(abs(l2_distance(a, b) * l2_distance(a, b) - embedding_l2_squared_distance(a, b)) / (1 + embedding_l2_squared_distance(a, b)))
	FROM fixtures.fmnist) < 1e-9, 'l2_distance squared equals the squared distance on 1300 fixture rows (1e-6)');
SELECT ok((SELECT max(abs(cosine_distance(a, b) - (1 - inner_product(a, b) / (embedding_norm(a) * embedding_norm(b)))))
	FROM fixtures.fmnist) < 1e-6, 'cosine_distance equals 1 - ip/(|a||b|) on 1300 fixture rows (1e-6)');
