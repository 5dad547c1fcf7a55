-- 011_messages: error messages that quote user input cut it at a character boundary, so a
-- client in another encoding gets the real error, not an encoding error (the LATIN1 client
-- itself is tested in tests/security/run.sh: within one backend no conversion happens).
BEGIN;
SELECT plan(3);

SELECT throws_like($$SELECT ('[' || repeat('é', 30) || ']')::embedding$$,
	'invalid input syntax for type embedding: "[ééééééééééééééééééé..."',
	'40 bytes of two-byte characters after "[": 19 whole characters, never half of one');
SELECT throws_like($$SELECT ('[x' || repeat('é', 30) || ']')::embedding$$,
	'invalid input syntax for type embedding: "[xééééééééééééééééééé..."',
	'at the other parity the cut falls on a boundary too');
SELECT throws_like($$SELECT ('[' || repeat('€', 30) || ']')::embedding$$,
	'invalid input syntax for type embedding: "[€€€€€€€€€€€€€..."',
	'three-byte characters: 13 whole characters');

SELECT * FROM finish();
ROLLBACK;
