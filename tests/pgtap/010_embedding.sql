-- 010_embedding: the embedding type's text form, type modifier, casts and binary form.
BEGIN;
SELECT plan(65);

-- text form -------------------------------------------------------------------------------
SELECT is('[1,2.5,-3e-2]'::embedding::text, '[1,2.5,-0.03]', 'text form reads and prints');
SELECT is('  [ 1 ,  2.5,-3e-2 ]  '::embedding::text, '[1,2.5,-0.03]', 'whitespace tolerated');
SELECT is(E'[\t1,\n2]'::embedding::text, '[1,2]', 'tabs and newlines tolerated');
SELECT is('[0.1]'::embedding::text, '[0.1]', '0.1 prints as its shortest form');
SELECT is('[-0]'::embedding::text, '[-0]', 'negative zero kept');
SELECT is('[100000,1000000,123456,1234567]'::embedding::text, '[100000,1e+06,123456,1.234567e+06]',
	'exponent notation exactly where float4 uses it');
SELECT is('[0.0001,0.00001]'::embedding::text, '[0.0001,1e-05]', 'small values as float4 prints them');
SELECT is('[3.4028235e38,-3.4028235e38,1e-45]'::embedding::text,
	'[3.4028235e+38,-3.4028235e+38,1e-45]', 'extremes of float4, denormal');
SELECT is(('[' || 16777217 || ']')::embedding::text, '[1.6777216e+07]', 'rounded to float4 on input');

-- every float4 of a sample round-trips through text exactly
CREATE TEMP TABLE rt AS
	SELECT ((random() * 10 ^ (random() * 60 - 30)) * (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END))::real AS f
	FROM generate_series(1, 20000);
SELECT is((SELECT count(*) FROM rt WHERE ((ARRAY[f]::embedding)::text::embedding::real[])[1] <> f), 0::bigint,
	'20000 random float4 values round-trip exactly through text');
SELECT is((SELECT count(*) FROM rt WHERE ('[' || f::text || ']') <> (ARRAY[f]::embedding)::text), 0::bigint,
	'each value prints exactly as float4 prints it');

-- text errors: SQLSTATE and message
SELECT throws_ok($$SELECT '1,2'::embedding$$, '22P02',
	'invalid input syntax for type embedding: "1,2"', 'missing bracket');
SELECT throws_ok($$SELECT '[1,2'::embedding$$, '22P02', NULL, 'missing closing bracket');
SELECT throws_ok($$SELECT '[1,,2]'::embedding$$, '22P02', NULL, 'empty element');
SELECT throws_ok($$SELECT '[1 2]'::embedding$$, '22P02', NULL, 'missing comma');
SELECT throws_ok($$SELECT '[1,2]x'::embedding$$, '22P02', NULL, 'junk after bracket');
SELECT throws_ok($$SELECT '[a]'::embedding$$, '22P02', NULL, 'not a number');
SELECT throws_ok($$SELECT ''::embedding$$, '22P02', NULL, 'empty string');
SELECT throws_ok($$SELECT '[1,]'::embedding$$, '22P02', NULL, 'trailing comma');
SELECT throws_ok($$SELECT '[]'::embedding$$, '22000', 'embedding must have at least 1 dimension', 'empty []');
SELECT throws_ok($$SELECT '[NaN]'::embedding$$, '22000', 'NaN not allowed in embedding', 'NaN');
SELECT throws_ok($$SELECT '[1,Infinity]'::embedding$$, '22000', 'infinite value not allowed in embedding', 'Infinity');
SELECT throws_ok($$SELECT '[-inf]'::embedding$$, '22000', 'infinite value not allowed in embedding', '-inf');
SELECT throws_ok($$SELECT '[1e39]'::embedding$$, '22003', '"1e39" is out of range for type embedding', 'float4 overflow');
SELECT throws_ok($$SELECT ('[' || repeat('1,', 16000) || '1]')::embedding$$, '54000',
	'embedding cannot have more than 16000 dimensions', '16001 dimensions');
SELECT is(embedding_dims(('[' || repeat('1,', 15999) || '1]')::embedding), 16000, '16000 dimensions accepted');

-- type modifier --------------------------------------------------------------------------
CREATE TEMP TABLE tm (e embedding(3));
INSERT INTO tm VALUES ('[1,2,3]');
SELECT is((SELECT e::text FROM tm), '[1,2,3]', 'embedding(3) accepts 3 dimensions');
SELECT throws_ok($$INSERT INTO tm VALUES ('[1,2]')$$, '22000', 'expected 3 dimensions, not 2',
	'embedding(3) rejects 2 dimensions on insert');
SELECT throws_ok($$UPDATE tm SET e = '[1,2,3,4]'$$, '22000', 'expected 3 dimensions, not 4',
	'embedding(3) rejects 4 dimensions on update');
SELECT throws_ok($$SELECT '[1,2]'::embedding(3)$$, '22000', 'expected 3 dimensions, not 2', 'typmod cast of a literal');
SELECT throws_ok($$SELECT '[1,2]'::embedding::embedding(3)$$, '22000', 'expected 3 dimensions, not 2',
	'typmod coercion of a value');
SELECT is(format_type(atttypid, atttypmod), 'embedding(3)', 'typmod shows in the catalog')
	FROM pg_attribute WHERE attrelid = 'tm'::regclass AND attname = 'e';
SELECT throws_ok($$CREATE TEMP TABLE bad (e embedding(0))$$, '22023',
	'dimensions for type embedding must be at least 1', 'embedding(0)');
SELECT throws_ok($$CREATE TEMP TABLE bad (e embedding(16001))$$, '54000',
	'dimensions for type embedding cannot exceed 16000', 'embedding(16001)');
SELECT throws_ok($$CREATE TEMP TABLE bad (e embedding(2,3))$$, '22023', 'invalid type modifier', 'two modifiers');

-- casts ----------------------------------------------------------------------------------
SELECT is(ARRAY[1,2.5,-3]::real[]::embedding::text, '[1,2.5,-3]', 'real[] to embedding');
SELECT is(ARRAY[1,2.5,-3]::float8[]::embedding::text, '[1,2.5,-3]', 'double precision[] to embedding');
SELECT is(ARRAY[1,2,-3]::int[]::embedding::text, '[1,2,-3]', 'integer[] to embedding');
SELECT is(ARRAY[1,2.5,-3]::numeric[]::embedding::text, '[1,2.5,-3]', 'numeric[] to embedding');
SELECT is('[1,2.5,-3]'::embedding::real[], ARRAY[1,2.5,-3]::real[], 'embedding to real[]');
SELECT is(ARRAY[1,2]::real[]::embedding(2)::text, '[1,2]', 'array cast with typmod');
SELECT throws_ok($$SELECT ARRAY[1,2]::real[]::embedding(3)$$, '22000', 'expected 3 dimensions, not 2', 'array cast typmod mismatch');
SELECT throws_ok($$SELECT ARRAY[1,NULL]::real[]::embedding$$, '22004', 'array must not contain nulls', 'NULL element');
SELECT throws_ok($$SELECT '{}'::real[]::embedding$$, '22000', 'embedding must have at least 1 dimension', 'empty array');
SELECT throws_ok($$SELECT ARRAY[[1,2],[3,4]]::real[]::embedding$$, '22000', 'array must be one-dimensional', '2-D array');
SELECT throws_ok($$SELECT ARRAY['NaN']::real[]::embedding$$, '22000', 'NaN not allowed in embedding', 'NaN in real[]');
SELECT throws_ok($$SELECT ARRAY['Infinity']::float8[]::embedding$$, '22000', 'infinite value not allowed in embedding', 'Infinity in float8[]');
SELECT throws_ok($$SELECT ARRAY[1e300]::float8[]::embedding$$, '22003', '"1e+300" is out of range for type embedding', 'float8 overflow');
SELECT throws_ok($$SELECT ARRAY[1e300]::numeric[]::embedding$$, '22003', '"1e+300" is out of range for type embedding', 'numeric overflow');
SELECT throws_ok($$SELECT array_fill(1::real, ARRAY[16001])::embedding$$, '54000',
	'embedding cannot have more than 16000 dimensions', 'array too long');

-- binary form (pgvector's wire layout: int16 dims, int16 0, float4 big-endian) -------------
SELECT is(embedding_send('[1,-2]'), '\x000200003f800000c0000000'::bytea, 'send writes the pgvector wire layout');

CREATE TEMP TABLE bin_src (id int, e embedding);
INSERT INTO bin_src SELECT i, ARRAY[i, i * 0.1, -i * 1e-7]::real[]::embedding FROM generate_series(1, 50) i;
CREATE TEMP TABLE bin_dst (id int, e embedding);
CREATE FUNCTION pg_temp.copy_roundtrip() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE path text := current_setting('data_directory') || '/relvec_bin_test.copy';
BEGIN
	EXECUTE format('COPY bin_src TO %L (FORMAT binary)', path);
	EXECUTE format('COPY bin_dst FROM %L (FORMAT binary)', path);
	RETURN (SELECT count(*) FROM bin_src s JOIN bin_dst d USING (id) WHERE s.e = d.e AND s.e::text = d.e::text);
END $f$;
SELECT is(pg_temp.copy_roundtrip(), 50::bigint, 'COPY (FORMAT binary) round-trips 50 rows exactly');

-- a binary COPY file with one embedding column, the field bytes given in hex
CREATE TEMP TABLE one (e embedding);
CREATE FUNCTION pg_temp.copy_field(hex text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	path text := current_setting('data_directory') || '/relvec_bin_field.copy';
	field bytea := decode(hex, 'hex');
	r text;
	lo oid;
BEGIN
	-- signature, flags, header extension length; one tuple of one field; trailer
	lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
		|| '\x0001'::bytea || int4send(length(field)) || field || '\xffff'::bytea);
	PERFORM lo_export(lo, path);
	PERFORM lo_unlink(lo);
	TRUNCATE one;
	EXECUTE format('COPY one FROM %L (FORMAT binary)', path);
	SELECT e::text INTO r FROM one;
	RETURN r;
END $f$;
SELECT is(pg_temp.copy_field('000200003f800000c0000000'), '[1,-2]', 'binary input reads a well-formed value');
SELECT throws_ok($$SELECT pg_temp.copy_field('000200003f800000')$$, '22P03',
	'embedding binary message has 4 bytes of values for 2 dimensions', 'truncated binary value');
SELECT throws_ok($$SELECT pg_temp.copy_field('000100003f800000c0000000')$$, '22P03',
	'embedding binary message has 8 bytes of values for 1 dimensions', 'oversized binary value');
SELECT throws_ok($$SELECT pg_temp.copy_field('0002')$$, '22P03',
	'embedding binary message of 2 bytes is shorter than its 4-byte header', 'header cut short');
SELECT throws_ok($$SELECT pg_temp.copy_field('000000000000')$$, '22000',
	'embedding must have at least 1 dimension', 'zero dimensions');
SELECT throws_ok($$SELECT pg_temp.copy_field('3e810000')$$, '54000',
	'embedding cannot have more than 16000 dimensions', '16001 dimensions in binary');
SELECT is(pg_temp.copy_field('000100073f800000'), '[1]', 'a binary value with a nonzero reserved field reads');
SELECT is((SELECT relvec_space_of(e) FROM one), '#7',
	'pgvector''s reserved field is the space tag: id 7 is kept (no such space here)');
SELECT throws_ok($$SELECT pg_temp.copy_field('000100007fc00000')$$, '22000',
	'NaN not allowed in embedding', 'NaN in binary');
SELECT throws_ok($$SELECT pg_temp.copy_field('000100007f800000')$$, '22000',
	'infinite value not allowed in embedding', 'Infinity in binary');

-- storage: main keeps a 768-d value inline (no TOAST pointer) -----------------------------
SELECT is((SELECT typstorage FROM pg_type WHERE typname = 'embedding'), 'm'::"char", 'storage is main');
CREATE TEMP TABLE st (e embedding);
INSERT INTO st SELECT (SELECT array_agg(random()::real) FROM generate_series(1, 768) WHERE g > 0)::embedding
	FROM generate_series(1, 50) g;
CREATE FUNCTION pg_temp.toast_rows(rel regclass) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s', (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = rel)) INTO n;
	RETURN n;
END $f$;
SELECT is(pg_temp.toast_rows('st'), 0::bigint, '768-d values stay in the heap: the TOAST table is empty');
SELECT is((SELECT count(*) FROM st WHERE pg_column_size(e) = 3080), 50::bigint,
	'768-d random values are stored uncompressed (4 + 4 + 768 * 4 bytes)');

SELECT * FROM finish();
ROLLBACK;
