-- relvec 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION relvec UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------
-- Owners and privileges of the catalog (see relvec.sql). Rows stored under 0.1.0 belong to
-- the role running the update; relvec_reassign_owned() gives them to their real owners.
-- ---------------------------------------------------------------------------------------
ALTER TABLE relvec_spaces
	ADD COLUMN owner regrole NOT NULL DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole;
ALTER TABLE relvec_anchor_sets
	ADD COLUMN owner regrole NOT NULL DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole;
ALTER TABLE relvec_translations
	ADD COLUMN owner regrole NOT NULL DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole;

CREATE OR REPLACE FUNCTION relvec_guard_frozen() RETURNS trigger LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_TABLE_NAME = 'relvec_anchor_sets' THEN
		IF OLD.frozen AND (NEW.frozen IS DISTINCT FROM OLD.frozen OR NEW.keys IS DISTINCT FROM OLD.keys
				OR NEW.name IS DISTINCT FROM OLD.name) THEN
			RAISE EXCEPTION 'anchor set "%" is frozen', OLD.name USING ERRCODE = '55000';
		END IF;
		RETURN NEW;
	END IF;
	-- Inserts into a frozen set are refused once that space is complete: pg_restore loads the
	-- frozen set row first and its anchors after it, into an empty space.
	IF TG_OP = 'INSERT' THEN
		IF EXISTS (SELECT 1 FROM @extschema@.relvec_anchor_sets s WHERE s.set_id = NEW.set_id AND s.frozen
		           AND (SELECT count(*) FROM @extschema@.relvec_anchors a WHERE a.set_id = NEW.set_id
		                AND a.space_id = NEW.space_id) >= cardinality(s.keys)) THEN
			RAISE EXCEPTION 'anchor set "%" is frozen',
				(SELECT name FROM @extschema@.relvec_anchor_sets WHERE set_id = NEW.set_id)
				USING ERRCODE = '55000';
		END IF;
		RETURN NEW;
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.relvec_anchor_sets s WHERE s.frozen AND s.set_id = OLD.set_id) THEN
		RAISE EXCEPTION 'anchor set "%" is frozen',
			(SELECT name FROM @extschema@.relvec_anchor_sets WHERE set_id = OLD.set_id)
			USING ERRCODE = '55000';
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- Writes come from relvec's functions, which run them as the tables' owner: any other
-- writer is refused, whatever was granted to it (0.1.0 needed such grants).
CREATE FUNCTION relvec_guard_catalog() RETURNS trigger LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'USAGE') THEN
		RAISE EXCEPTION 'permission denied for table %', TG_TABLE_NAME USING ERRCODE = '42501',
			DETAIL = 'relvec''s catalog is changed only through relvec''s functions, which check who owns what.',
			HINT = 'Use relvec_create_space(), relvec_set_anchors(), relvec_drop_anchor_set() and the like.';
	END IF;
	RETURN NULL;
END $$;
COMMENT ON FUNCTION relvec_guard_catalog() IS
	'relvec: trigger refusing direct writes to the catalog tables by roles other than their owner';
CREATE TRIGGER relvec_spaces_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON relvec_spaces
	FOR EACH STATEMENT EXECUTE FUNCTION relvec_guard_catalog();
CREATE TRIGGER relvec_anchor_sets_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON relvec_anchor_sets
	FOR EACH STATEMENT EXECUTE FUNCTION relvec_guard_catalog();
CREATE TRIGGER relvec_anchors_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON relvec_anchors
	FOR EACH STATEMENT EXECUTE FUNCTION relvec_guard_catalog();

CREATE TRIGGER relvec_translations_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON relvec_translations
	FOR EACH STATEMENT EXECUTE FUNCTION relvec_guard_catalog();

-- 0.1.0 needed direct grants on the catalog tables; the functions no longer do, and the
-- guard triggers refuse writes by anyone but the tables' owner whatever was granted.
-- Those grants are revoked: SELECT is PUBLIC's now, and no role writes the tables directly.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT DISTINCT c.oid::pg_catalog.regclass AS rel, c.relkind, a.grantee::pg_catalog.regrole AS grantee
			FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
			WHERE c.oid IN ('@extschema@.relvec_spaces'::pg_catalog.regclass,
			                '@extschema@.relvec_anchor_sets'::pg_catalog.regclass,
			                '@extschema@.relvec_anchors'::pg_catalog.regclass,
			                '@extschema@.relvec_translations'::pg_catalog.regclass,
			                '@extschema@.relvec_spaces_space_id_seq'::pg_catalog.regclass,
			                '@extschema@.relvec_anchor_sets_set_id_seq'::pg_catalog.regclass)
			  AND a.grantee <> 0 AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s',
			CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.rel, r.grantee);
	END LOOP;
END $$;
REVOKE ALL ON relvec_spaces, relvec_anchor_sets, relvec_anchors, relvec_translations FROM PUBLIC;
GRANT SELECT ON relvec_spaces, relvec_anchor_sets, relvec_anchors, relvec_translations TO PUBLIC;
GRANT SELECT ON SEQUENCE relvec_spaces_space_id_seq, relvec_anchor_sets_set_id_seq TO PUBLIC;

-- ---------------------------------------------------------------------------------------
-- The catalog functions are C now (a role able to create functions in the extension's
-- schema could hijack the plpgsql ones and their unqualified helpers).
-- ---------------------------------------------------------------------------------------
-- Spaces ------------------------------------------------------------------------------------
-- The catalog functions are not STRICT: a null argument is the error 22004 naming it.
CREATE OR REPLACE FUNCTION relvec_create_space(name text, dims integer, description text DEFAULT NULL)
	RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_create_space(text, integer, text) IS
	'register a latent space (one embedding model) with its dimensions, owned by the caller';

CREATE OR REPLACE FUNCTION relvec_set_space_mean(space text, query text) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_set_space_mean(text, text) IS
	'store the mean of the embeddings a query returns as the space''s mean (for center => ''space''); owner only';

CREATE FUNCTION relvec_rename_space(space text, new_name text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_rename_space(text, text) IS
	'rename a space; its values keep their tags and bound columns stay bound; owner only';

CREATE FUNCTION relvec_drop_space(space text, "cascade" boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_drop_space(text, boolean) IS
	'drop a space; with cascade, also the unfrozen sets'' anchors and the translations using it; owner only';

-- Anchor sets ---------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION relvec_create_anchor_set(name text, keys text[]) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_create_anchor_set(text, text[]) IS
	'create an anchor set: the anchor items'' keys, in order; owned by the caller';

CREATE OR REPLACE FUNCTION relvec_set_anchors(anchor_set text, space text, query text) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_set_anchors(text, text, text) IS
	'store the anchors of a set in a space from a query returning (key, embedding), every key exactly once; owner only';

CREATE OR REPLACE FUNCTION relvec_choose_anchors(anchor_set text, space text, query text, k integer,
		method text DEFAULT 'random', seed integer DEFAULT 0) RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_choose_anchors(text, text, text, integer, text, integer) IS
	'create an anchor set of k items chosen from a query''s (key, embedding) rows: random, fps or kmeans, seeded';

CREATE OR REPLACE FUNCTION relvec_freeze_anchor_set(anchor_set text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_freeze_anchor_set(text) IS
	'check an anchor set is complete in every attached space (no zero vectors) and freeze it; owner only';

CREATE FUNCTION relvec_drop_anchor_set(anchor_set text, "cascade" boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_drop_anchor_set(text, boolean) IS
	'drop an anchor set, frozen or not, with its anchors; with cascade, also the translations fitted on it; owner only';

CREATE FUNCTION relvec_reassign_owned(old_role regrole, new_role regrole) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_reassign_owned(regrole, regrole) IS
	'give every space, anchor set and translation old_role owns to new_role (before DROP ROLE); returns how many';

DROP FUNCTION relvec_require(anyelement, text);
DROP FUNCTION relvec_space_id(text);
DROP FUNCTION relvec_set_id(text);

COMMENT ON FUNCTION relvec_fit_translation(text, text, text, text) IS
	'fit a translation (orthogonal, linear or affine) from one space to another on the anchors of a frozen set, store it (owned by the caller; re-fitting needs its owner''s privileges), return the mean cosine of the translated anchors to their counterparts';

CREATE FUNCTION relvec_drop_translation(anchor_set text, from_space text, to_space text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_drop_translation(text, text, text) IS
	'drop the translation fitted on an anchor set from one space to another; owner only';


-- ---------------------------------------------------------------------------------------
-- Spaces in the type (values of 0.1.0 are untagged: the field was always zero)
-- ---------------------------------------------------------------------------------------
-- =======================================================================================
-- Spaces in the type: a value may carry the space (model) it belongs to
-- =======================================================================================
-- The tag is the uint16 after the dimension count (pgvector's reserved field; 0 untagged).
-- A column embedding(space) is bound to a space: untagged values stored into it are
-- tagged, another space's are an error. Distances and arithmetic between two spaces are
-- errors (42804). The output function writes a tagged value as name#id:[...] so COPY and
-- pg_dump keep its space; the cast to text is always the plain array, for pgvector.
CREATE FUNCTION embedding_to_text(embedding) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_to_text(embedding) IS
	'cast embedding to text: the plain array [1,2,3], without the space (e::text::vector works for any value)';
CREATE CAST (embedding AS text) WITH FUNCTION embedding_to_text(embedding) AS ASSIGNMENT;

CREATE FUNCTION relvec_tag(e embedding, space text) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_tag(embedding, text) IS
	'e tagged with a space (of its dimensions); an error if e already belongs to another';
CREATE FUNCTION relvec_untag(e embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_untag(embedding) IS 'e without its space';
CREATE FUNCTION relvec_space_of(e embedding) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_space_of(embedding) IS
	'the name of the space e belongs to; NULL when untagged, #id for a space that no longer exists';

CREATE VIEW relvec_bound_columns AS
	SELECT s.name AS space, c.oid::regclass AS table_name, a.attname AS column_name, s.dims
	FROM pg_catalog.pg_attribute a
	JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
	JOIN relvec_spaces s ON s.space_id = (a.atttypmod >> 14)
	WHERE a.atttypid = 'embedding'::regtype AND a.attnum > 0 AND NOT a.attisdropped
	  AND a.atttypmod >= 0 AND (a.atttypmod >> 14) > 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f');
COMMENT ON VIEW relvec_bound_columns IS 'relvec: per space, the columns declared embedding(space)';
GRANT SELECT ON relvec_bound_columns TO PUBLIC;

CREATE FUNCTION relvec_project(x embedding, anchor_set text) RETURNS embedding
	AS 'MODULE_PATHNAME', 'relvec_project' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_project(embedding, text) IS
	'relative representation of x over a frozen set''s anchors in the space x is tagged with (cosine, no centering)';
CREATE FUNCTION relvec_translate(x embedding, anchor_set text, to_space text) RETURNS embedding
	AS 'MODULE_PATHNAME', 'relvec_translate' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_translate(embedding, text, text) IS
	'x, tagged with its space, translated into to_space with the translation fitted on an anchor set';

-- =======================================================================================
-- Serving many connections: the shared copies of rvflat indexes (relvec preloaded)
-- =======================================================================================
CREATE FUNCTION relvec_cache() RETURNS TABLE (index regclass, database oid, state text, dims integer,
		rows bigint, bytes bigint, pins integer, hits bigint, batches bigint, batched bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION relvec_cache() IS
	'the shared host copies of rvflat indexes (relvec in shared_preload_libraries), with their hits and batches; no rows otherwise';
CREATE VIEW relvec_cache AS SELECT * FROM relvec_cache();
COMMENT ON VIEW relvec_cache IS 'relvec: the shared host copies of rvflat indexes that every backend''s scans read';
GRANT SELECT ON relvec_cache TO PUBLIC;
CREATE FUNCTION relvec_cache_stats() RETURNS TABLE (enabled boolean, limit_bytes bigint, used_bytes bigint,
		hits bigint, misses bigint, builds bigint, evictions bigint, too_large bigint,
		batches bigint, batched bigint, largest_batch integer, gemm_batches bigint,
		cone_scans bigint, cone_rows bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION relvec_cache_stats() IS
	'the shared cache of rvflat copies: on or off, its limit and use, and its totals since the server started (batches: passes that answered two queries or more; batched: the queries they answered; gemm_batches: those that computed lower bounds of the distances, then exact rechecks; cone_scans: scans of a cosine copy that visited its groups of rows nearest first; cone_rows: the rows they bounded, the others skipped by their group''s bound)';
CREATE VIEW relvec_cache_stats AS SELECT * FROM relvec_cache_stats();
COMMENT ON VIEW relvec_cache_stats IS 'relvec: the shared cache''s limit, use and totals';
GRANT SELECT ON relvec_cache_stats TO PUBLIC;
CREATE FUNCTION relvec_device_owner() RETURNS TABLE (enabled boolean, pid integer, device text,
		budget_bytes bigint, resident bigint, resident_bytes bigint, connections bigint,
		requests bigint, batches bigint, batched bigint, largest_batch bigint, uploads bigint,
		evictions bigint, failures bigint, starts bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION relvec_device_owner() IS
	'the relvec device owner (relvec preloaded, relvec.device_owner not off): enabled, the PID of relvec-deviced and its device (NULL when it runs without one or is not running), its device memory limit, the indexes resident and their bytes, other backends connected, and its totals since it started (requests answered, batches of two queries or more and the queries in them, uploads, evictions, failures); starts: how often it was started since the server started';
CREATE VIEW relvec_device_owner AS SELECT * FROM relvec_device_owner();
COMMENT ON VIEW relvec_device_owner IS 'relvec: the process that owns the Vulkan device for every backend';
GRANT SELECT ON relvec_device_owner TO PUBLIC;

-- =======================================================================================
-- Beyond one machine: batched kNN and stitching over shards, one catalog on every shard
-- =======================================================================================
-- The corpus is a partitioned table whose partitions are postgres_fdw foreign tables on
-- servers that have relvec (the server's extensions option names it). The queries run
-- here; every shard runs relvec_knn or relvec_stitch_knn over its partitions and returns
-- k rows per query, merged here (shardknn.c).
CREATE FUNCTION relvec_shard_knn(queries text, corpus regclass, k integer, metric text DEFAULT 'cosine',
		key_column name DEFAULT NULL, vector_column name DEFAULT NULL)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_shard_knn(text, regclass, integer, text, name, name) IS
	'relvec_knn over a partitioned table whose partitions are postgres_fdw foreign tables on relvec servers: every shard searches its partitions at once, k rows per query and shard are merged';
CREATE FUNCTION relvec_shard_stitch_knn(queries text, query_space text, corpus regclass, corpus_space text,
		anchor_set text, k integer, via text DEFAULT 'relative', similarity text DEFAULT 'cosine',
		center text DEFAULT 'none', key_column name DEFAULT NULL, vector_column name DEFAULT NULL)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_shard_stitch_knn(text, text, regclass, text, text, integer, text, text, text, name, name) IS
	'relvec_stitch_knn over a sharded partitioned table, after checking every shard holds this server''s anchor set (and translation) by fingerprint';

CREATE FUNCTION relvec_catalog_fingerprint(anchor_set text, from_space text DEFAULT NULL,
		to_space text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION relvec_catalog_fingerprint(text, text, text) IS
	'SHA-256 of the canonical form of an anchor set (its keys, frozen state, spaces, means and anchors'' exact values) and, when both spaces are given, of the translation fitted on it';
CREATE FUNCTION relvec_publish(server name, anchor_set text, from_space text DEFAULT NULL,
		to_space text DEFAULT NULL, replace boolean DEFAULT false) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_publish(name, text, text, text, boolean) IS
	'make a shard''s copy of a frozen anchor set (spaces, anchors) and of a translation identical to this server''s, values copied exactly; an existing different copy needs replace => true; returns the fingerprint both now have';

-- The shard's side of relvec_publish (relvec internal): each makes one object identical to
-- its arguments and returns created, unchanged or replaced.
CREATE FUNCTION relvec_import_space(name text, dims integer, description text, mean embedding,
		replace boolean) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_import_space(text, integer, text, embedding, boolean) IS
	'relvec internal: make a space exist with these dimensions and mean (relvec_publish calls it on a shard); replacing needs its owner''s privileges';
CREATE FUNCTION relvec_import_anchor_set(name text, keys text[], spaces text[], anchors embedding[],
		replace boolean) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_import_anchor_set(text, text[], text[], embedding[], boolean) IS
	'relvec internal: make a frozen anchor set exist with these keys and anchors, per space in order (relvec_publish calls it on a shard); replacing drops the old set and its translations and needs its owner''s privileges';
CREATE FUNCTION relvec_import_translation(anchor_set text, from_space text, to_space text, method text,
		from_mean embedding, from_std embedding, to_mean embedding, to_std embedding, matrix real[],
		bias embedding, replace boolean) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_import_translation(text, text, text, text, embedding, embedding, embedding, embedding, real[], embedding, boolean) IS
	'relvec internal: store a translation with exactly these values, never re-fitted (relvec_publish calls it on a shard); replacing needs its owner''s privileges';

-- =======================================================================================
-- Approximate kNN index: rvivf
-- =======================================================================================
CREATE FUNCTION relvec_rvivf_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_rvivf_handler(internal) IS 'the handler of index access method rvivf';
CREATE ACCESS METHOD rvivf TYPE INDEX HANDLER relvec_rvivf_handler;
COMMENT ON ACCESS METHOD rvivf IS
	'approximate kNN index: inverted lists over k-means centroids with RaBitQ codes, candidates reranked on the heap with the exact distance';

-- Ordering operators only; support function 1 is the operator's distance. L1 is refused
-- when an index is built (the codes bound no L1 distance), with a hint naming rvflat.
CREATE OPERATOR CLASS embedding_l2_ops FOR TYPE embedding USING rvivf AS
	OPERATOR 1 <-> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 l2_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_ip_ops FOR TYPE embedding USING rvivf AS
	OPERATOR 1 <#> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 embedding_negative_inner_product(embedding, embedding);
CREATE OPERATOR CLASS embedding_cosine_ops FOR TYPE embedding USING rvivf AS
	OPERATOR 1 <=> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 cosine_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_l1_ops FOR TYPE embedding USING rvivf AS
	OPERATOR 1 <+> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 l1_distance(embedding, embedding);
COMMENT ON OPERATOR CLASS embedding_l2_ops USING rvivf IS 'rvivf: ORDER BY col <-> query (Euclidean), approximate';
COMMENT ON OPERATOR CLASS embedding_ip_ops USING rvivf IS 'rvivf: ORDER BY col <#> query (negative inner product), approximate';
COMMENT ON OPERATOR CLASS embedding_cosine_ops USING rvivf IS 'rvivf: ORDER BY col <=> query (cosine distance), approximate';
COMMENT ON OPERATOR CLASS embedding_l1_ops USING rvivf IS 'rvivf: refused when an index is built (use rvflat for <+>)';

-- Batched approximate kNN through an rvivf index (rvivfknn.c): the queries grouped by the
-- lists they probe, each list walked once per batch, candidates reranked exactly on the heap.
CREATE FUNCTION relvec_knn_ivf(queries text, index regclass, k integer, key_column text DEFAULT NULL,
		probes integer DEFAULT 0)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_knn_ivf(text, regclass, integer, text, integer) IS
	'approximate k nearest rows of an rvivf index''s table for every (key, embedding) row of queries, in one walk of each probed list per batch of queries; exact distances of the index''s operator, rows identified by key_column (NULL: ctid)';
CREATE FUNCTION relvec_stitch_knn_ivf(queries text, query_space text, index regclass, corpus_space text,
		anchor_set text, k integer, key_column text DEFAULT NULL, probes integer DEFAULT 0)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_stitch_knn_ivf(text, text, regclass, text, text, integer, text, integer) IS
	'relvec_knn_ivf of queries of query_space translated into corpus_space by the translation fitted on anchor_set (relvec_stitch_knn''s translation route), through an rvivf index over corpus_space rows';
