-- 090_privileges: catalog objects have owners; only a role with the owner's privileges may
-- change, freeze, re-fit or drop one; everyone may use them; the tables are readable by all
-- and written only through the functions; no function of relvec can be hijacked through a
-- schema on the caller's search_path. Roles are created in the test's transaction.
BEGIN;
SELECT plan(60);

CREATE ROLE rv_alice;
CREATE ROLE rv_bob;
CREATE ROLE rv_carol IN ROLE rv_alice;		-- a member of alice's role
CREATE ROLE "Rv_Dave";						-- a name that needs quoting
CREATE ROLE rv_mallory;
-- pgTAP keeps its state in this session's temporary tables: let the test roles write it
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;

CREATE TEMP VIEW anchors3 (k, e) AS
	VALUES ('1', '[1,0,0]'::embedding), ('2', '[0,1,0]'), ('3', '[0,0,1]'), ('4', '[1,1,1]');
CREATE TEMP VIEW anchors3b (k, e) AS
	VALUES ('1', '[0,1,0]'::embedding), ('2', '[-1,0,0]'), ('3', '[0,0,2]'), ('4', '[-1,1,2]');
GRANT SELECT ON anchors3, anchors3b TO PUBLIC;

-- alice builds; nobody granted her anything on the catalog tables ------------------------------
SET ROLE rv_alice;
SELECT lives_ok($$
	SELECT relvec_create_space('pa', 3, 'alice''s model A');
	SELECT relvec_create_space('pb', 3);
	SELECT relvec_create_anchor_set('p4', ARRAY['1', '2', '3', '4']);
	SELECT relvec_set_anchors('p4', 'pa', 'SELECT k, e FROM anchors3');
	SELECT relvec_set_anchors('p4', 'pb', 'SELECT k, e FROM anchors3b');
	SELECT relvec_freeze_anchor_set('p4');
	SELECT relvec_fit_translation('p4', 'pa', 'pb');
	SELECT relvec_create_anchor_set('draft', ARRAY['1', '2']);
	SELECT relvec_set_space_mean('pa', 'SELECT e FROM anchors3');
$$, 'a role with no grants on the catalog tables creates, fills, freezes and fits through the API');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT owner::text, ',') FROM relvec_spaces WHERE name IN ('pa', 'pb')), 'rv_alice',
	'the spaces are owned by the role that created them');
SELECT is((SELECT owner::text FROM relvec_anchor_sets WHERE name = 'p4'), 'rv_alice', 'the anchor set too');
SELECT is((SELECT t.owner::text FROM relvec_translations t JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'p4'),
	'rv_alice', 'and the fitted translation');

CREATE TEMP TABLE before AS
	SELECT (SELECT string_agg(name || dims || coalesce(mean::text, ''), ';' ORDER BY name) FROM relvec_spaces) AS spaces,
	       (SELECT string_agg(name || keys::text || frozen, ';' ORDER BY name) FROM relvec_anchor_sets) AS sets,
	       (SELECT string_agg(key || e::text, ';' ORDER BY set_id, space_id, ord) FROM relvec_anchors) AS anchors,
	       (SELECT string_agg(matrix::text || fitted_at, ';') FROM relvec_translations) AS translations;

-- bob may use what alice made, and read the catalog --------------------------------------------
SET ROLE rv_bob;
SELECT is(relvec_project('[1,2,3]', 'p4', 'pa')::text, relvec_project('[1,2,3]', 'p4', 'pa')::text,
	'another role projects onto a frozen set it does not own');
SELECT isnt(relvec_translate('[1,2,3]', 'p4', 'pa', 'pb'), NULL, 'and translates with a translation it does not own');
SELECT is((SELECT count(*) FROM relvec_spaces WHERE name = 'pa'), 1::bigint, 'the catalog tables are readable by every role');
SELECT is((SELECT count(*) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'p4'), 8::bigint,
	'anchors too (anyone who may project onto a set can recover its anchors'' directions anyway)');

-- ... but not change it -------------------------------------------------------------------------
SELECT throws_ok($$SELECT relvec_set_anchors('draft', 'pa', 'SELECT k, e FROM anchors3 WHERE k IN (''1'', ''2'')')$$,
	'42501', 'must be owner of anchor set "draft"', 'another role cannot replace the anchors of an unfrozen set');
SELECT throws_ok($$SELECT relvec_freeze_anchor_set('draft')$$, '42501', 'must be owner of anchor set "draft"',
	'nor freeze it');
SELECT throws_ok($$SELECT relvec_freeze_anchor_set('p4')$$, '42501', 'must be owner of anchor set "p4"',
	'nor freeze a frozen set (the rights come first)');
SELECT throws_ok($$SELECT relvec_set_space_mean('pa', 'SELECT e FROM anchors3')$$, '42501', 'must be owner of space "pa"',
	'nor set the mean of a space');
SELECT throws_ok($$SELECT relvec_fit_translation('p4', 'pa', 'pb', 'linear')$$, '42501',
	'must be owner of the translation from space "pa" to space "pb" in anchor set "p4"',
	'nor overwrite a fitted translation');
SELECT throws_ok($$SELECT relvec_drop_anchor_set('p4', true)$$, '42501', 'must be owner of anchor set "p4"',
	'nor drop a frozen set');
SELECT throws_ok($$SELECT relvec_drop_anchor_set('draft')$$, '42501', 'must be owner of anchor set "draft"',
	'nor an unfrozen one');
SELECT throws_ok($$SELECT relvec_drop_space('pa', true)$$, '42501', 'must be owner of space "pa"', 'nor drop a space');
SELECT throws_ok($$SELECT relvec_drop_translation('p4', 'pa', 'pb')$$, '42501',
	'must be owner of the translation from space "pa" to space "pb" in anchor set "p4"', 'nor drop a translation');
SELECT throws_ok($$UPDATE relvec_spaces SET dims = 4 WHERE name = 'pa'$$, '42501',
	'permission denied for table relvec_spaces', 'direct UPDATE of a space: refused');
SELECT throws_ok($$DELETE FROM relvec_anchor_sets WHERE name = 'p4'$$, '42501',
	'permission denied for table relvec_anchor_sets', 'direct DELETE of a set: refused');
SELECT throws_ok($$INSERT INTO relvec_anchors SELECT set_id, space_id, 99, 'x', '[1,1,1]' FROM relvec_anchors LIMIT 1$$,
	'42501', 'permission denied for table relvec_anchors', 'direct INSERT of an anchor: refused');
SELECT throws_ok($$UPDATE relvec_translations SET matrix = matrix$$, '42501',
	'permission denied for table relvec_translations', 'direct UPDATE of a translation: refused');
SELECT throws_ok($$TRUNCATE relvec_anchors CASCADE$$, '42501', 'permission denied for table relvec_anchors',
	'TRUNCATE: refused');
SELECT throws_ok($$SELECT relvec_reassign_owned('rv_alice', 'rv_bob')$$, '42501', 'permission denied to reassign objects',
	'nor take another role''s objects');
RESET ROLE;
SELECT is((SELECT spaces || sets || anchors || translations FROM before),
	(SELECT string_agg(name || dims || coalesce(mean::text, ''), ';' ORDER BY name) FROM relvec_spaces) ||
	(SELECT string_agg(name || keys::text || frozen, ';' ORDER BY name) FROM relvec_anchor_sets) ||
	(SELECT string_agg(key || e::text, ';' ORDER BY set_id, space_id, ord) FROM relvec_anchors) ||
	(SELECT string_agg(matrix::text || fitted_at, ';') FROM relvec_translations),
	'after all that, alice''s catalog is unchanged');

-- a grant someone made by mistake still does not open the tables to direct writes -------------
GRANT INSERT, UPDATE, DELETE ON relvec_spaces, relvec_anchor_sets TO rv_bob;
GRANT USAGE ON SEQUENCE relvec_spaces_space_id_seq TO rv_bob;
SET ROLE rv_bob;
SELECT throws_ok($$UPDATE relvec_spaces SET dims = 4 WHERE name = 'pa'$$, '42501',
	'permission denied for table relvec_spaces', 'with UPDATE granted, a direct UPDATE is still refused (guard trigger)');
SELECT throws_ok($$INSERT INTO relvec_spaces (name, dims) VALUES ('sneaky', 3)$$, '42501',
	'permission denied for table relvec_spaces', 'and a direct INSERT');
SELECT throws_ok($$DELETE FROM relvec_anchor_sets WHERE false$$, '42501',
	'permission denied for table relvec_anchor_sets', 'even a DELETE of no rows');
RESET ROLE;
REVOKE INSERT, UPDATE, DELETE ON relvec_spaces, relvec_anchor_sets FROM rv_bob;
REVOKE USAGE ON SEQUENCE relvec_spaces_space_id_seq FROM rv_bob;

-- bob's own objects ----------------------------------------------------------------------------
SET ROLE rv_bob;
SELECT lives_ok($$SELECT relvec_fit_translation('p4', 'pb', 'pa', 'affine')$$,
	'another role fits its own translation on a frozen set it does not own');
SELECT lives_ok($$
	SELECT relvec_create_anchor_set('bobs', ARRAY['1', '3']);
	SELECT relvec_set_anchors('bobs', 'pa', 'SELECT k, e FROM anchors3 WHERE k IN (''1'', ''3'')');
	SELECT relvec_freeze_anchor_set('bobs');
$$, 'and builds its own set with anchors in a space it does not own (using a space is allowed)');
RESET ROLE;
SELECT is((SELECT t.owner::text FROM relvec_translations t JOIN relvec_spaces f ON f.space_id = t.from_space_id
	WHERE f.name = 'pb'), 'rv_bob', 'that translation is bob''s');
SET ROLE rv_alice;
SELECT throws_ok($$SELECT relvec_fit_translation('p4', 'pb', 'pa')$$, '42501',
	'must be owner of the translation from space "pb" to space "pa" in anchor set "p4"',
	'the owner of the set cannot overwrite a translation another role fitted on it');
SELECT throws_ok($$SELECT relvec_drop_space('pa', true)$$, '2BP01',
	'cannot drop space "pa" because frozen anchor set "bobs" has anchors in it',
	'a space that a frozen set (even another role''s) uses cannot be dropped, cascade or not');
SELECT throws_ok($$SELECT relvec_drop_anchor_set('p4')$$, '2BP01',
	'cannot drop anchor set "p4" because other objects depend on it', 'a set with translations: 2BP01 without cascade');
RESET ROLE;

-- members of the owning role, superusers ---------------------------------------------------------
SET ROLE rv_carol;
SELECT lives_ok($$
	SELECT relvec_set_anchors('draft', 'pa', 'SELECT k, e FROM anchors3 WHERE k IN (''1'', ''2'')');
	SELECT relvec_freeze_anchor_set('draft');
$$, 'a member of the owning role may change and freeze the owner''s set');
SELECT lives_ok($$SELECT relvec_fit_translation('p4', 'pa', 'pb', 'linear')$$, 'and re-fit the owner''s translation');
RESET ROLE;
SELECT is((SELECT t.owner::text || t.method FROM relvec_translations t JOIN relvec_spaces f ON f.space_id = t.from_space_id
	WHERE f.name = 'pa'), 'rv_alicelinear', 're-fitting keeps the translation''s owner');
SELECT lives_ok($$SELECT relvec_set_space_mean('pa', 'SELECT e FROM anchors3 WHERE k <> ''4''')$$,
	'a superuser may change any role''s objects');

-- quoted role names, reassigning ------------------------------------------------------------------
SET ROLE "Rv_Dave";
SELECT lives_ok($$SELECT relvec_create_space('dave''s', 2)$$, 'a role whose name needs quoting creates a space');
RESET ROLE;
SELECT is((SELECT owner::text FROM relvec_spaces WHERE name = 'dave''s'), '"Rv_Dave"', 'and owns it');
SELECT is(relvec_reassign_owned('rv_alice', 'rv_bob'), 5::bigint,
	'a superuser reassigns alice''s two spaces, two anchor sets and translation');
SELECT is((SELECT count(*) FROM relvec_spaces WHERE owner = 'rv_alice'::regrole), 0::bigint, 'alice owns nothing now');
SET ROLE rv_bob;
SELECT lives_ok($$SELECT relvec_drop_translation('p4', 'pa', 'pb')$$, 'the new owner may drop what it was given');
RESET ROLE;

-- drop semantics ---------------------------------------------------------------------------------
SELECT lives_ok($$SELECT relvec_create_space('tmp', 3); SELECT relvec_drop_space('tmp')$$, 'an unused space drops');
SELECT throws_ok($$SELECT relvec_drop_space('nope')$$, '42704', 'space "nope" does not exist', 'dropping an unknown space');
SELECT throws_ok($$SELECT relvec_drop_anchor_set(NULL)$$, '22004', 'anchor set must not be null', 'a null set name');
SELECT throws_ok($$SELECT relvec_drop_translation('p4', 'pa', 'pb')$$, '42704',
	'translation from space "pa" to space "pb" in anchor set "p4" does not exist', 'dropping a translation twice');
SELECT lives_ok($$SELECT relvec_create_space('tmp2', 3);
	SELECT relvec_create_anchor_set('t2', ARRAY['1']);
	SELECT relvec_set_anchors('t2', 'tmp2', 'SELECT k, e FROM anchors3 WHERE k = ''1''')$$, 'an unfrozen set uses tmp2');
SELECT throws_ok($$SELECT relvec_drop_space('tmp2')$$, '2BP01', 'cannot drop space "tmp2" because other objects depend on it',
	'a space with anchors: 2BP01 without cascade');
SELECT lives_ok($$SELECT relvec_drop_space('tmp2', true)$$, 'with cascade it goes, with the unfrozen set''s anchors in it');
SELECT is((SELECT count(*) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 't2'), 0::bigint,
	'those anchors are gone, the set stays');
SELECT lives_ok($$SELECT relvec_drop_anchor_set('p4', cascade => true)$$, 'a frozen set with translations drops with cascade');
SELECT is((SELECT count(*) FROM relvec_translations t JOIN relvec_spaces f ON f.space_id = t.from_space_id
	WHERE f.name IN ('pa', 'pb')), 0::bigint, 'and its translations with it');

-- no hijack through the caller's search_path ------------------------------------------------------
-- mallory may create objects in public (the default before PostgreSQL 15, which upgraded
-- databases keep) and in her own schema. Every trap logs who ran it.
GRANT CREATE ON SCHEMA public TO rv_mallory;
CREATE SCHEMA rb AUTHORIZATION rv_mallory;
SET ROLE rv_mallory;
CREATE TABLE rb.trap_log (who text, what text);
GRANT INSERT ON rb.trap_log TO PUBLIC;
CREATE FUNCTION rb.trap(what text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO rb.trap_log VALUES (current_user, what) $$;
-- the helpers of 0.1.0, which its plpgsql functions called unqualified
CREATE FUNCTION public.relvec_require(val text, what text) RETURNS void LANGUAGE sql AS $$ SELECT rb.trap('relvec_require') $$;
CREATE FUNCTION public.relvec_space_id(space text) RETURNS integer LANGUAGE sql AS $$ SELECT rb.trap('relvec_space_id'); SELECT 1 $$;
CREATE FUNCTION public.relvec_set_id(anchor_set text) RETURNS integer LANGUAGE sql AS $$ SELECT rb.trap('relvec_set_id'); SELECT 1 $$;
-- better matches than pg_catalog's for what catalog code uses
CREATE FUNCTION public.cardinality(text[]) RETURNS integer LANGUAGE sql AS $$ SELECT rb.trap('cardinality'); SELECT 1 $$;
CREATE FUNCTION public.trap_eq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT rb.trap('=(text,text)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trap_eq);
CREATE FUNCTION public.trap_int_eq(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT rb.trap('=(int,int)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.trap_int_eq);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT rb.trap('now'); SELECT pg_catalog.now() $$;
-- and a catalog of her own, for a superuser whose search_path starts with her schema
CREATE TABLE rb.relvec_spaces (LIKE public.relvec_spaces);
GRANT ALL ON rb.relvec_spaces TO PUBLIC;
RESET ROLE;

-- a superuser works with her schemas first on the path, pg_catalog after them
SET search_path = rb, public, pg_catalog;
SELECT relvec_create_space('hj', 3);
SELECT relvec_create_space('hj2', 3);
SELECT relvec_create_anchor_set('hs', ARRAY['1', '2', '3', '4']);
SELECT relvec_set_anchors('hs', 'hj', 'SELECT k, e FROM anchors3');
SELECT relvec_set_anchors('hs', 'hj2', 'SELECT k, e FROM anchors3b');
SELECT relvec_set_space_mean('hj', 'SELECT e FROM anchors3');
SELECT relvec_freeze_anchor_set('hs');
SELECT relvec_fit_translation('hs', 'hj', 'hj2');
SELECT relvec_project('[1,2,3]', 'hs', 'hj');
SELECT relvec_translate('[1,2,3]', 'hs', 'hj', 'hj2');
SELECT relvec_choose_anchors('hc', 'hj', 'SELECT k, e FROM anchors3', 2);
SELECT relvec_drop_translation('hs', 'hj', 'hj2');
SELECT relvec_drop_anchor_set('hc');
SELECT relvec_reassign_owned(current_user::regrole, current_user::regrole);
RESET search_path;

SELECT is((SELECT string_agg(who || ':' || what, ', ') FROM rb.trap_log), NULL,
	'no relvec function ran any of mallory''s functions or operators (the trap log is empty)');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'rv_mallory'), false, 'mallory is not a superuser');
SELECT is((SELECT count(*) FROM rb.relvec_spaces), 0::bigint,
	'spaces created with her schema first on the path went into relvec''s catalog, not hers');
SELECT is((SELECT count(*) FROM public.relvec_spaces WHERE name IN ('hj', 'hj2')), 2::bigint, 'they are in relvec''s catalog');
SELECT is((SELECT count(*) FROM relvec_anchors a JOIN relvec_anchor_sets s USING (set_id) WHERE s.name = 'hs'), 8::bigint,
	'and so are the anchors');

-- the same functions as mallory herself gain her nothing either
SET ROLE rv_mallory;
SET search_path = rb, public, pg_catalog;
SELECT relvec_create_space('mal', 3);
RESET search_path;
RESET ROLE;
SELECT is((SELECT owner::text FROM relvec_spaces WHERE name = 'mal'), 'rv_mallory',
	'a space she creates is hers, stored in relvec''s catalog');
SELECT is((SELECT count(*) FROM rb.trap_log WHERE who <> 'rv_mallory'), 0::bigint, 'no trap ran as another role');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_language l ON l.oid = p.prolang
	WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'relvec') AND l.lanname IN ('sql', 'plpgsql')
	AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog%', false)), 0::bigint,
	'every SQL and plpgsql function of the extension pins search_path, pg_catalog first');

SELECT * FROM finish();
ROLLBACK;
