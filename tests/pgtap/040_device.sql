-- 040_device: device selection from SQL, and the same answers on the CPU and on every
-- Vulkan device present (Mesa lavapipe on a machine without a GPU).
BEGIN;
SELECT plan(17);
LOAD 'relvec';  -- registers the relvec.* settings in this session

SELECT is(current_setting('relvec.device'), 'auto', 'relvec.device defaults to auto');
SELECT throws_ok($$SET relvec.device = 'tpu'$$, '22023', 'invalid relvec.device "tpu"', 'a bad device spec');
SELECT throws_ok($$SET relvec.device = 'vulkan:x'$$, '22023', 'invalid relvec.device "vulkan:x"', 'a bad device index');
SELECT lives_ok($$SET LOCAL relvec.device = 'cpu'$$, 'cpu accepted');
SELECT ok((SELECT count(*) = count(*) FILTER (WHERE NOT auto_pick OR type IN ('discrete', 'integrated', 'virtual'))
	FROM relvec_devices()), 'auto never picks a CPU-type Vulkan device');
SELECT is(current_setting('relvec.pipeline_cache_dir'), 'relvec_pipeline_cache',
	'relvec.pipeline_cache_dir defaults to relvec_pipeline_cache (in the data directory)');
CREATE ROLE relvec_pcache_probe;
SET LOCAL ROLE relvec_pcache_probe;
SELECT throws_ok($$SET relvec.pipeline_cache_dir = '/tmp'$$, '42501', NULL,
	'only a superuser may move the pipeline cache (the server writes files there)');
RESET ROLE;

SELECT relvec_create_space('a', 64), relvec_create_space('b', 64);
SELECT relvec_create_anchor_set('fm', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm', 'a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm');

SET LOCAL relvec.device = 'cpu';
CREATE TEMP TABLE on_cpu AS SELECT key, relative FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm', 'a', 'cosine+linf', 'anchors', true);
SELECT matches(relvec_backend(), '^cpu', 'relvec.device = cpu runs on the CPU');

-- lavapipe (or any Vulkan device) through vulkan:N; skipped when there is none
CREATE FUNCTION pg_temp.device_checks() RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE dev integer;
BEGIN
	SELECT index INTO dev FROM relvec_devices() ORDER BY (type = 'cpu') DESC, index LIMIT 1;
	IF dev IS NULL THEN
		RETURN QUERY SELECT skip('no Vulkan device', 7);
		RETURN;
	END IF;
	EXECUTE format('SET LOCAL relvec.device = %L', 'vulkan:' || dev);
	CREATE TEMP TABLE on_gpu AS SELECT key, relative FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist', 'fm', 'a', 'cosine+linf', 'anchors', true);
	RETURN NEXT matches(relvec_backend(), '^vulkan:' || dev, 'vulkan:N runs the projection on that device');
	RETURN NEXT is((SELECT count(*) FROM on_gpu g JOIN on_cpu c USING (key)), 1300::bigint, 'the same rows on both');
	RETURN NEXT cmp_ok((SELECT max(abs(x - y)) FROM on_gpu g JOIN on_cpu c USING (key),
		unnest(g.relative::real[], c.relative::real[]) u(x, y))::float8, '<', 1e-4::float8,
		'batched projection on the device equals the CPU within 1e-4 per component');
	RETURN NEXT ok((SELECT bool_and(relvec_project(a, 'fm', 'a') = relvec_project(a, 'fm', 'a')) FROM fixtures.fmnist WHERE idx < 60010 AND NOT is_anchor),
		'the device gives the same bits on a second run');
	CREATE TEMP TABLE single_gpu AS SELECT idx, relvec_project(a, 'fm', 'a', 'l1', 'none') AS r FROM fixtures.fmnist WHERE NOT is_anchor AND idx < 60050;
	SET LOCAL relvec.device = 'cpu';
	RETURN NEXT cmp_ok((SELECT max(abs(x - y) / greatest(1, abs(y))) FROM single_gpu s JOIN fixtures.fmnist f USING (idx),
		unnest(s.r::real[], relvec_project(f.a, 'fm', 'a', 'l1', 'none')::real[]) u(x, y))::float8, '<', 1e-4::float8,
		'single-row projection (l1) on the device equals the CPU');
	RETURN NEXT matches(relvec_backend(), '^cpu', 'and back on the CPU');
	RETURN NEXT ok((SELECT count(*) > 0 FROM pg_ls_dir('relvec_pipeline_cache') f WHERE f ~ '^relvec-pcache-[0-9a-f-]+\.bin$'),
		'the device left its compiled pipelines in the data directory''s relvec_pipeline_cache');
END $f$;
SELECT * FROM pg_temp.device_checks();
SELECT lives_ok($$SET LOCAL relvec.pipeline_cache_dir = ''$$, 'an empty relvec.pipeline_cache_dir keeps no cache');

-- long batched work stops at statement_timeout (the chunk loop and the bridge poll for it);
-- WHEN OTHERS never catches query_canceled, so catch it by name
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE q;
	RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
	RETURN SQLSTATE;
END $f$;
SET LOCAL relvec.device = 'cpu';
SET LOCAL statement_timeout = '200ms';
SELECT is(pg_temp.sqlstate_of($$SELECT count(*) FROM relvec_project_query(
	'SELECT i, a FROM fixtures.fmnist, generate_series(1, 5000000) i WHERE idx = 60000', 'fm', 'a')$$),
	'57014', 'statement_timeout stops relvec_project_query');
RESET statement_timeout;

SELECT * FROM finish();
ROLLBACK;
