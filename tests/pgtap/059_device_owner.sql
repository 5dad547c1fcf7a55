-- 059_device_owner: relvec_device_owner and the device owner's settings on a server without
-- relvec in shared_preload_libraries (the preloaded owner itself, with lavapipe, is
-- tests/owner/run.sh): one row, enabled false and nothing else known; the server-start
-- settings exist (reloadable there, without effect) and no session can set them; every role may
-- read the view; and rvflat scans under every relvec.device answer as a sequential scan.
-- Everything happens in one transaction, rolled back.
BEGIN;
SELECT plan(8);

SELECT is((SELECT count(*) FROM relvec_device_owner), 1::bigint,
	'relvec_device_owner: one row without preload');
SELECT is((SELECT row(enabled, pid, device, resident, requests, starts)::text FROM relvec_device_owner),
	'(f,,,,,)', '... enabled false, no PID, device, counters or starts');
SELECT is((SELECT count(*) FROM relvec_device_owner()), 1::bigint, '... and the function gives the same row');
SELECT ok(has_table_privilege('public', 'relvec_device_owner', 'SELECT'), 'every role may read the view');
SELECT is(current_setting('relvec.device_owner'), 'auto',
	'relvec.device_owner is defined without preload too (so ALTER SYSTEM can check it before the restart)');
SELECT throws_ok($$SET relvec.device_owner = 'gpu'$$, '55P02', NULL,
	'... but a session cannot set it (a server setting)');

CREATE TABLE own_t (id int, e embedding(8));
INSERT INTO own_t SELECT i, ARRAY[i % 5, 1, i % 3, 0, i % 7, 2, 1, i % 2]::real[] FROM generate_series(1, 500) i;
CREATE INDEX ON own_t USING rvflat (e embedding_l2_ops);
CREATE FUNCTION own_knn(idx bool) RETURNS text LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE r text;
BEGIN
	PERFORM set_config('enable_seqscan', (NOT idx)::text, true);
	PERFORM set_config('enable_indexscan', idx::text, true);
	SELECT string_agg(id::text, ',' ORDER BY d, c) INTO r FROM
		(SELECT id, ctid AS c, e <-> '[1,1,1,1,1,1,1,1]' AS d FROM own_t ORDER BY e <-> '[1,1,1,1,1,1,1,1]' LIMIT 70) s;
	RETURN r;
END $$;
SET LOCAL relvec.device = 'auto';
SELECT is(own_knn(true), own_knn(false), 'relvec.device = auto, no owner: index = sequential scan (past 64 rows)');
SET LOCAL relvec.device = 'cpu';
SELECT is(own_knn(true), own_knn(false), 'relvec.device = cpu: index = sequential scan');

SELECT * FROM finish();
ROLLBACK;
