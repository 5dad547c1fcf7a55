-- 010_embedding: embeddings as SQLite values: the BLOB layout shared with PostgreSQL, the
-- text form accepted wherever an embedding is, embedding()/embedding_text(), and every
-- way a BLOB or a text can be wrong (same messages as PostgreSQL where it has them).

-- text form (the cases of tests/pgtap/010_embedding.sql) ------------------------------------
SELECT is_eq(embedding_text('[1,2.5,-3e-2]'), '[1,2.5,-0.03]', 'text form reads and prints');
SELECT is_eq(embedding_text('  [ 1 ,  2.5,-3e-2 ]  '), '[1,2.5,-0.03]', 'whitespace tolerated');
SELECT is_eq(embedding_text('[' || char(9) || '1,' || char(10) || '2]'), '[1,2]', 'tabs and newlines tolerated');
SELECT is_eq(embedding_text('[0.1]'), '[0.1]', '0.1 prints as its shortest form');
SELECT is_eq(embedding_text('[-0]'), '[-0]', 'negative zero kept');
SELECT is_eq(embedding_text('[100000,1000000,123456,1234567]'), '[100000,1e+06,123456,1.234567e+06]',
	'exponent notation exactly where float4 uses it');
SELECT is_eq(embedding_text('[0.0001,0.00001]'), '[0.0001,1e-05]', 'small values as float4 prints them');
SELECT is_eq(embedding_text('[3.4028235e38,-3.4028235e38,1e-45]'), '[3.4028235e+38,-3.4028235e+38,1e-45]',
	'extremes of float4, denormal');
SELECT is_eq(embedding_text('[16777217]'), '[1.6777216e+07]', 'rounded to float4 on input');

-- random float4 values round-trip exactly through text
CREATE TEMP TABLE rt AS
	WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000)
	SELECT embedding('[' || printf('%.9g', (random() / 9.2233720368547758e18) * pow(10, abs(random()) % 60 - 30)) || ']') AS e
	FROM g;
SELECT is_eq((SELECT count(*) FROM rt WHERE embedding(embedding_text(e)) <> e), 0,
	'3000 random float4 values round-trip exactly through text');

-- text errors
SELECT throws_ok('SELECT embedding(''1,2'')', 'invalid input syntax for type embedding: "1,2"', 'missing bracket');
SELECT throws_ok('SELECT embedding(''[1,2'')', 'invalid input syntax for type embedding: "[1,2"', 'missing closing bracket');
SELECT throws_ok('SELECT embedding(''[1,,2]'')', 'invalid input syntax for type embedding: "[1,,2]"', 'empty element');
SELECT throws_ok('SELECT embedding(''[1 2]'')', 'invalid input syntax for type embedding: "[1 2]"', 'missing comma');
SELECT throws_ok('SELECT embedding(''[1,2]x'')', 'invalid input syntax for type embedding: "[1,2]x"', 'junk after bracket');
SELECT throws_ok('SELECT embedding(''[a]'')', 'invalid input syntax for type embedding: "[a]"', 'not a number');
SELECT throws_ok('SELECT embedding('''')', 'invalid input syntax for type embedding: ""', 'empty string');
SELECT throws_ok('SELECT embedding(''[1,]'')', 'invalid input syntax for type embedding: "[1,]"', 'trailing comma');
SELECT throws_ok('SELECT embedding(''[]'')', 'embedding must have at least 1 dimension', 'empty []');
SELECT throws_ok('SELECT embedding(''[NaN]'')', 'NaN not allowed in embedding', 'NaN');
SELECT throws_ok('SELECT embedding(''[1,Infinity]'')', 'infinite value not allowed in embedding', 'Infinity');
SELECT throws_ok('SELECT embedding(''[-inf]'')', 'infinite value not allowed in embedding', '-inf');
SELECT throws_ok('SELECT embedding(''[1e39]'')', '"1e39" is out of range for type embedding', 'float4 overflow');
SELECT throws_ok('SELECT embedding(''['' || substr(replace(hex(zeroblob(16001)), ''00'', ''1,''), 1, 32001) || '']'')',
	'embedding cannot have more than 16000 dimensions', '16001 dimensions');
SELECT is_eq(embedding_dims('[' || substr(replace(hex(zeroblob(16000)), '00', '1,'), 1, 31999) || ']'), 16000,
	'16000 dimensions accepted');
SELECT throws_ok('SELECT embedding_dims(''hello'')', 'invalid input syntax for type embedding: "hello"',
	'text that is not an embedding, in any function');

-- dimension check (PostgreSQL's embedding(n) type modifier) ----------------------------------
SELECT is_eq(embedding_text(embedding('[1,2,3]', 3)), '[1,2,3]', 'embedding(x, 3) accepts 3 dimensions');
SELECT throws_ok('SELECT embedding(''[1,2]'', 3)', 'expected 3 dimensions, not 2', 'embedding(x, 3) rejects 2 dimensions');

-- the BLOB layout: uint16 dims LE, uint16 zero, float32 LE -------------------------------------
SELECT is_eq(hex(embedding('[1,-2]')), '020000000000803F000000C0', 'embedding() writes the shared layout');
SELECT is_eq(embedding_text(x'020000000000803F000000C0'), '[1,-2]', 'a BLOB in the layout reads back');
SELECT is_eq(typeof(l2_normalize('[3,4]')), 'blob', 'functions returning an embedding return a BLOB');
SELECT is_eq(embedding(x'020000000000803F000000C0'), x'020000000000803F000000C0', 'embedding() of a BLOB is the BLOB');
CREATE TEMP TABLE odd (pad TEXT, e BLOB);
INSERT INTO odd VALUES ('x', embedding('[1,2,3]')), ('xyz', embedding('[4,5,6]')), ('xy', x'03000000000080400000a0400000c040');
SELECT is_eq((SELECT group_concat(embedding_text(e), ';') FROM odd), '[1,2,3];[4,5,6];[4,5,6]',
	'BLOBs read from rows at any alignment');
SELECT is_eq(embedding_text(embedding(CAST(x'01000000' || x'0000803f' AS BLOB))), '[1]', 'a BLOB built by concatenation');

-- BLOB errors
SELECT throws_ok('SELECT embedding_dims(x''0200'')', 'embedding blob of 2 bytes is shorter than its header', 'truncated header');
SELECT throws_ok('SELECT embedding_dims(x'''')', 'embedding blob of 0 bytes is shorter than its header', 'empty BLOB');
SELECT throws_ok('SELECT embedding_dims(x''020000000000803f'')', 'embedding blob of 8 bytes does not match its 2 dimensions',
	'truncated payload');
SELECT throws_ok('SELECT embedding_dims(x''010000000000803f000000c0'')', 'embedding blob of 12 bytes does not match its 1 dimensions',
	'payload longer than the header says');
SELECT is_eq(embedding_dims(x'010001000000803f'), 1, 'the second uint16 is a space tag, any value (095_spaces)');
SELECT throws_ok('SELECT embedding_dims(x''00000000'')', 'embedding must have at least 1 dimension', 'zero dimensions');
SELECT throws_ok('SELECT embedding_dims(x''813e0000'')', 'embedding cannot have more than 16000 dimensions', '16001 dimensions in a BLOB');
SELECT throws_ok('SELECT embedding_dims(x''010000000000c07f'')', 'NaN not allowed in embedding', 'NaN in a BLOB');
SELECT throws_ok('SELECT embedding_dims(x''010000000000807f'')', 'infinite value not allowed in embedding', 'Infinity in a BLOB');
SELECT throws_ok('SELECT embedding_dims(randomblob(64))', NULL, 'random bytes are rejected');
SELECT throws_ok('SELECT l2_distance(''[1,2]'', x''0200'')', 'embedding blob of 2 bytes is shorter than its header',
	'a corrupt BLOB as a second argument');
SELECT throws_ok('SELECT embedding_dims(3)', 'embedding must be a BLOB or text such as ''[1,2,3]'', not an integer',
	'an integer is not an embedding');
SELECT throws_ok('SELECT embedding_dims(3.5)', 'embedding must be a BLOB or text such as ''[1,2,3]'', not a real number',
	'a real number is not an embedding');

-- NULL in, NULL out (PostgreSQL's functions are STRICT)
SELECT ok(embedding(NULL) IS NULL AND embedding_text(NULL) IS NULL AND embedding_dims(NULL) IS NULL, 'NULL gives NULL');

-- embedding_avg / embedding_sum (PostgreSQL's avg/sum(embedding)) ------------------------------
SELECT is_eq((SELECT embedding_text(embedding_avg(e)) FROM (SELECT '[1,2]' AS e UNION ALL SELECT '[3,4]' UNION ALL SELECT '[5,9]')), '[3,5]', 'avg');
SELECT is_eq((SELECT embedding_text(embedding_sum(e)) FROM (SELECT '[1,2]' AS e UNION ALL SELECT '[3,4]' UNION ALL SELECT '[5,9]')), '[9,15]', 'sum');
SELECT is_eq((SELECT embedding_text(embedding_avg(e)) FROM (SELECT '[1,2]' AS e UNION ALL SELECT NULL UNION ALL SELECT '[3,4]')), '[2,3]', 'avg skips NULL');
SELECT ok((SELECT embedding_avg(e) FROM (SELECT '[1]' AS e WHERE 0)) IS NULL, 'avg of no rows is NULL');
SELECT is_eq((SELECT embedding_text(embedding_avg(e)) FROM (SELECT '[0.1]' AS e UNION ALL SELECT '[0.2]' UNION ALL SELECT '[0.3]')), '[0.2]',
	'avg sums in double precision');
SELECT throws_ok('SELECT embedding_avg(e) FROM (SELECT ''[1,2]'' AS e UNION ALL SELECT ''[1]'')', 'different embedding dimensions 2 and 1',
	'avg over mixed dimensions');
SELECT throws_ok('SELECT embedding_sum(e) FROM (SELECT ''[3e38]'' AS e UNION ALL SELECT ''[3e38]'')', 'value out of range: overflow',
	'sum overflow');

-- flags: pure functions may be used in indexes and generated columns
CREATE TEMP TABLE gen (t TEXT, e BLOB GENERATED ALWAYS AS (embedding(t)) STORED);
INSERT INTO gen (t) VALUES ('[1,2]');
SELECT is_eq((SELECT embedding_text(e) FROM gen), '[1,2]', 'embedding() is deterministic: usable in a generated column');
SELECT ok((SELECT count(*) FROM pragma_function_list WHERE name = 'l2_distance' AND flags & 0x800 AND flags & 0x200000) = 1,
	'l2_distance is registered DETERMINISTIC and INNOCUOUS');
SELECT ok((SELECT count(*) FROM pragma_function_list WHERE name = 'relvec_set_anchors' AND flags & 0x80000 AND NOT flags & 0x200000) = 1,
	'catalog functions are DIRECTONLY, not INNOCUOUS');
