-- 090_damaged: a database file is input. Its catalog rows (spaces, anchor sets, anchors,
-- translations) may have been written by hand, by another program or by a damaged disk,
-- without the constraints and triggers relvec_catalog_init() creates. Every reader checks
-- what it reads: counts, numbering and keys of anchors, dimensions, BLOB lengths and
-- headers, key types, so that a damaged file is an error with a clear message, never a
-- buffer overflow or a wrong answer. Also: user queries that would write are refused, and
-- functions that only read never write (no triggers re-created behind the reader's back).
-- Each damage is made inside a transaction and rolled back after its test.

-- a catalog created by hand, as a file from elsewhere might have it: no CHECK, NOT NULL,
-- UNIQUE or foreign keys (relvec_catalog_init keeps existing tables)
CREATE TABLE relvec_spaces (space_id INTEGER PRIMARY KEY, name TEXT, dims, description TEXT, mean BLOB,
	mean_version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE relvec_anchor_sets (set_id INTEGER PRIMARY KEY, name TEXT, keys, frozen INTEGER NOT NULL DEFAULT 0);
CREATE TABLE relvec_anchors (set_id INTEGER, space_id INTEGER, ord, key, e);
CREATE TABLE relvec_translations (set_id INTEGER, from_space_id INTEGER, to_space_id INTEGER, method TEXT,
	from_mean BLOB, from_std BLOB, to_mean BLOB, to_std BLOB, matrix BLOB, bias BLOB,
	fitted_at TEXT NOT NULL DEFAULT (datetime('now')), PRIMARY KEY (set_id, from_space_id, to_space_id));

CREATE TABLE t (k TEXT, a BLOB, b BLOB);
INSERT INTO t VALUES
	('w', embedding('[1,0]'), embedding('[0,1]')),
	('x', embedding('[0,1]'), embedding('[-1,0.2]')),
	('y', embedding('[1,1]'), embedding('[-1,1.1]')),
	('z', embedding('[2,-1]'), embedding('[1,2]')),
	('q1', embedding('[0.5,0.2]'), embedding('[-0.2,0.5]')),
	('q2', embedding('[-1,0.3]'), embedding('[-0.3,-1]'));

SELECT lives_ok('SELECT relvec_create_space(''a'', 2)', 'space a');
SELECT lives_ok('SELECT relvec_create_space(''b'', 2)', 'space b');
SELECT lives_ok('SELECT relvec_create_anchor_set(''s'', ''["w","x","y","z"]'')', 'anchor set s');
SELECT lives_ok('SELECT relvec_set_anchors(''s'', ''a'', ''SELECT k, a FROM t WHERE k IN (''''w'''',''''x'''',''''y'''',''''z'''')'')', 'anchors in a');
SELECT lives_ok('SELECT relvec_set_anchors(''s'', ''b'', ''SELECT k, b FROM t WHERE k IN (''''w'''',''''x'''',''''y'''',''''z'''')'')', 'anchors in b');
SELECT lives_ok('SELECT relvec_freeze_anchor_set(''s'')', 'freeze s');
SELECT lives_ok('SELECT relvec_set_space_mean(''a'', ''SELECT a FROM t'')', 'mean of a');
SELECT lives_ok('SELECT relvec_fit_translation(''s'', ''a'', ''b'')', 'a translation a -> b');
SELECT is_eq((SELECT count(*) FROM sqlite_master WHERE type = 'trigger'), 4, 'the writers created the four guard triggers');

-- the answers of the intact catalog, to compare with after each rolled-back damage
CREATE TABLE good AS SELECT
	(SELECT embedding_text(relvec_project(a, 's', 'a')) FROM t WHERE k = 'q1') AS proj,
	(SELECT group_concat(corpus_key, ',') FROM relvec_stitch_knn('SELECT k, a FROM t', 'a',
		'SELECT k, b FROM t', 'b', 's', 2)) AS stitch;
SELECT ok((SELECT proj IS NOT NULL AND stitch IS NOT NULL FROM good), 'intact catalog: projection and stitch answer');

-- without its guard triggers the catalog still reads, and reading does not write them back
DROP TRIGGER relvec_anchor_sets_frozen;
DROP TRIGGER relvec_anchors_frozen_insert;
DROP TRIGGER relvec_anchors_frozen_update;
DROP TRIGGER relvec_anchors_frozen_delete;
SELECT is_eq((SELECT embedding_text(relvec_project(a, 's', 'a')) FROM t WHERE k = 'q1'), (SELECT proj FROM good),
	'missing triggers: relvec_project reads the catalog as before');
SELECT is_eq((SELECT group_concat(corpus_key, ',') FROM relvec_stitch_knn('SELECT k, a FROM t', 'a',
		'SELECT k, b FROM t', 'b', 's', 2, 'translation')) IS NOT NULL, 1, 'missing triggers: the translation route reads too');
SELECT is_eq((SELECT count(*) FROM sqlite_master WHERE type = 'trigger'), 0,
	'functions that only read do not re-create the triggers (a read-only file is never written)');

-- anchor sets: keys ------------------------------------------------------------------------
BEGIN;
UPDATE relvec_anchor_sets SET keys = '["w"]';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'anchor set "s" has 4 of 1 anchors in space "a"',
	'keys shorter than the anchor rows: PostgreSQL''s count error, no write past the buffer');
SELECT throws_ok('SELECT * FROM relvec_stitch_knn(''SELECT k, a FROM t'', ''a'', ''SELECT k, b FROM t'', ''b'', ''s'', 2)',
	'anchor set "s" has 4 of 1 anchors in space "a"', 'the same through relvec_stitch_knn');
SELECT throws_ok('SELECT relvec_fit_translation(''s'', ''a'', ''b'')', 'anchor set "s" has 4 of 1 anchors in space "a"',
	'the same through relvec_fit_translation');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = '["w","x","y","z","v"]';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'anchor set "s" has 4 of 5 anchors in space "a"',
	'keys longer than the anchor rows');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = '{"w":1,"x":2,"y":3,"z":4}';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'keys of anchor set "s" are not a JSON array of strings',
	'keys a JSON object');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''s'', ''a'', ''b'', ''SELECT k, a, b FROM t'', 2)',
	'keys of anchor set "s" are not a JSON array of strings', 'the same through relvec_compare_spaces');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = 'not json';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'keys of anchor set "s" are not a JSON array of strings',
	'keys not JSON');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = '["w","x",3,"z"]';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'keys of anchor set "s" are not a JSON array of strings',
	'a key that is a number');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = '["w","x",null,"z"]';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'keys of anchor set "s" are not a JSON array of strings',
	'a key that is null');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = NULL;
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'keys of anchor set "s" are not a JSON array of strings',
	'keys NULL');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = x'00ff5b';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'keys of anchor set "s" are not a JSON array of strings',
	'keys a BLOB that is not JSON text');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = '[]';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'anchor set "s" needs at least one key',
	'keys an empty array');
ROLLBACK;
BEGIN;
UPDATE relvec_anchor_sets SET keys = '["z","y","x","w"]';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor 1 in space "a" is "w", not key "z"',
	'anchors in another order than the keys: an error, not relative vectors in the wrong order');
ROLLBACK;

-- anchor rows --------------------------------------------------------------------------------
BEGIN;
INSERT INTO relvec_anchors SELECT set_id, space_id, ord + 4, key || '2', e FROM relvec_anchors;
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'anchor set "s" has 8 of 4 anchors in space "a"',
	'surplus anchor rows');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET ord = ord * 2;
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: its anchors in space "a" are not numbered 1 to 4', 'a gap in the numbering');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET ord = 'one' WHERE ord = 1;
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: its anchors in space "a" are not numbered 1 to 4', 'a number that is text');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = substr(e, 1, 8) WHERE key = 'x' AND space_id = (SELECT space_id FROM relvec_spaces WHERE name = 'a');
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor "x" in space "a": embedding blob of 8 bytes does not match its 2 dimensions',
	'a truncated anchor BLOB');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = x'0200' WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor "x" in space "a": embedding blob of 2 bytes is shorter than its header',
	'an anchor BLOB shorter than the header');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = x'02000700000000000000803f' WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor "x" in space "a": embedding belongs to space #7, not "a"',
	'an anchor tagged with a space that is not its own');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = x'02000100000000000000803f' WHERE key = 'x' AND space_id = (SELECT space_id FROM relvec_spaces WHERE name = 'a');
SELECT is_eq((SELECT embedding_text(relvec_project(a, 's', 'a')) FROM t WHERE k = 'q1'), (SELECT proj FROM good),
	'an anchor tagged with its own space reads as the untagged one');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = x'020000000000c07f0000803f' WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor "x" in space "a": NaN not allowed in embedding', 'a NaN in an anchor');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = 7 WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor "x" in space "a": anchor must be a BLOB or text such as ''[1,2,3]'', not an integer',
	'an anchor that is an integer');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = NULL WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor "x" in space "a": anchor must not be null', 'an anchor that is NULL');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET e = embedding('[1,2,3]') WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'relvec: anchor of the wrong dimensions in a frozen set',
	'an anchor of other dimensions: PostgreSQL''s text');
ROLLBACK;
BEGIN;
UPDATE relvec_anchors SET key = NULL WHERE key = 'x';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t',
	'anchor set "s" is damaged: anchor 2 in space "a" is "", not key "x"', 'an anchor without its key');
ROLLBACK;

-- spaces -------------------------------------------------------------------------------------
BEGIN;
UPDATE relvec_spaces SET dims = 0 WHERE name = 'a';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'dimensions of space "a" must be at least 1',
	'dims 0: the message of relvec_create_space');
ROLLBACK;
BEGIN;
UPDATE relvec_spaces SET dims = 16001 WHERE name = 'a';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'dimensions of space "a" cannot exceed 16000',
	'dims over the limit');
ROLLBACK;
BEGIN;
UPDATE relvec_spaces SET dims = 4294967298 WHERE name = 'a';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'dimensions of space "a" cannot exceed 16000',
	'dims 2^32 + 2 is not read as 2');
SELECT throws_ok('SELECT relvec_translate(a, ''s'', ''a'', ''b'') FROM t', 'dimensions of space "a" cannot exceed 16000',
	'... nor by relvec_translate');
ROLLBACK;
BEGIN;
UPDATE relvec_spaces SET dims = 'two' WHERE name = 'a';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'') FROM t', 'dimensions of space "a" are not an integer',
	'dims that are text');
ROLLBACK;
BEGIN;
UPDATE relvec_spaces SET dims = 3 WHERE name = 'b';
SELECT throws_ok('SELECT relvec_project(b, ''s'', ''b'') FROM t', 'relvec: anchor of the wrong dimensions in a frozen set',
	'dims that differ from the anchors''');
ROLLBACK;
BEGIN;
UPDATE relvec_spaces SET mean = x'0100' WHERE name = 'a';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'', ''cosine'', ''space'') FROM t',
	'the stored mean of space "a" is damaged: embedding blob of 2 bytes is shorter than its header', 'a damaged mean');
ROLLBACK;
BEGIN;
UPDATE relvec_spaces SET mean = embedding('[1,2,3]') WHERE name = 'a';
SELECT throws_ok('SELECT relvec_project(a, ''s'', ''a'', ''cosine'', ''space'') FROM t',
	'the stored mean of space "a" has the wrong dimensions', 'a mean of other dimensions');
ROLLBACK;

-- translations -------------------------------------------------------------------------------
BEGIN;
UPDATE relvec_translations SET matrix = substr(matrix, 1, 12);
SELECT throws_ok('SELECT relvec_translate(a, ''s'', ''a'', ''b'') FROM t',
	'stored translation from space "a" to space "b" in anchor set "s" is damaged', 'a truncated matrix');
ROLLBACK;
BEGIN;
UPDATE relvec_translations SET from_mean = embedding('[1,2,3]');
SELECT throws_ok('SELECT * FROM relvec_stitch_knn(''SELECT k, a FROM t'', ''a'', ''SELECT k, b FROM t'', ''b'', ''s'', 2, ''translation'')',
	'stored translation from space "a" to space "b" in anchor set "s" is damaged', 'a mean of other dimensions');
ROLLBACK;
BEGIN;
UPDATE relvec_translations SET to_std = x'02000000';
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''s'', ''a'', ''b'', ''SELECT k, a, b FROM t'', 2, ''translation'')',
	'stored translation from space "a" to space "b" in anchor set "s" is damaged', 'a deviation BLOB without values');
ROLLBACK;
BEGIN;
UPDATE relvec_translations SET method = 'rigid';
SELECT throws_ok('SELECT relvec_translate(a, ''s'', ''a'', ''b'') FROM t',
	'stored translation from space "a" to space "b" in anchor set "s" is damaged', 'an unknown method');
ROLLBACK;
SELECT is_eq((SELECT embedding_text(relvec_project(a, 's', 'a')) FROM t WHERE k = 'q1'), (SELECT proj FROM good),
	'after every rollback the catalog answers as before');

-- freezing counts anchors with PostgreSQL's message ------------------------------------------
SELECT lives_ok('SELECT relvec_create_anchor_set(''open'', ''["w","x","y"]'')', 'an open set');
SELECT lives_ok('SELECT relvec_set_anchors(''open'', ''a'', ''SELECT k, a FROM t WHERE k IN (''''w'''',''''x'''',''''y'''')'')', 'its anchors in a');
DELETE FROM relvec_anchors WHERE key = 'y' AND set_id = (SELECT set_id FROM relvec_anchor_sets WHERE name = 'open');
SELECT throws_ok('SELECT relvec_freeze_anchor_set(''open'')', 'anchor set "open" has 2 of 3 anchors in space "a"',
	'an incomplete space: the counts printed as numbers');

-- user queries are read, never run for their effects ----------------------------------------
SELECT throws_ok('SELECT * FROM relvec_knn(''DELETE FROM t RETURNING k, a'', ''SELECT k, a FROM t'', 1)',
	'the queries must be a read-only query', 'a DELETE ... RETURNING as the queries: PostgreSQL''s message');
SELECT is_eq((SELECT count(*) FROM t), 6, '... and no row was deleted');
SELECT throws_ok('SELECT * FROM relvec_knn(''SELECT k, a FROM t'', ''WITH c(n) AS (SELECT 1) UPDATE t SET k = k || ''''!'''' RETURNING k, a'', 1)',
	'the corpus must be a read-only query', 'an UPDATE after a WITH clause as the corpus');
SELECT is_eq((SELECT count(*) FROM t WHERE k LIKE '%!'), 0, '... and no row was changed');
SELECT throws_ok('SELECT * FROM relvec_compare_spaces(''s'', ''a'', ''b'', ''INSERT INTO t SELECT * FROM t RETURNING k, a, b'', 2)',
	'items must be a read-only query', 'an INSERT ... RETURNING as the items');
SELECT throws_ok('SELECT relvec_set_anchors(''open'', ''a'', ''REPLACE INTO t VALUES (''''v'''', x''''00'''', NULL) RETURNING k, a'')',
	'query must be a read-only query', 'a REPLACE ... RETURNING as the anchors');
SELECT throws_ok('SELECT * FROM relvec_project_query(''DELETE FROM t RETURNING k, a'', ''s'', ''a'')',
	'query must be a read-only query', 'a DELETE as the query of relvec_project_query');
SELECT throws_ok('SELECT relvec_set_space_mean(''a'', ''DELETE FROM t RETURNING a'')',
	'query must be a read-only query', 'a DELETE as the query of relvec_set_space_mean');
SELECT is_eq((SELECT count(*) FROM t), 6, 'the table still has its six rows');
