-- relvec: the install script (installed as relvec--0.2.0.sql; relvec--0.1.0--0.2.0.sql upgrades 0.1.0).
-- Every function carries its volatility, strictness, parallel safety and a comment.

\echo Use "CREATE EXTENSION relvec" to load this file. \quit

-- ---------------------------------------------------------------------------------------
-- The embedding type
-- ---------------------------------------------------------------------------------------
CREATE TYPE embedding;

CREATE FUNCTION embedding_in(cstring, oid, integer) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_out(embedding) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_recv(internal, oid, integer) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_send(embedding) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- STORAGE = main: values stay inline in the heap tuple (compression is tried first, and
-- fails fast on float data), and move out of line only when a row would not fit a page.
-- A 768-d embedding (3,076 bytes) is over the 2 kB TOAST threshold, so with "extended" or
-- "external" every such row would be read through the TOAST table during a scan.
CREATE TYPE embedding (
	INPUT = embedding_in,
	OUTPUT = embedding_out,
	TYPMOD_IN = embedding_typmod_in,
	TYPMOD_OUT = embedding_typmod_out,
	RECEIVE = embedding_recv,
	SEND = embedding_send,
	STORAGE = main,
	ALIGNMENT = int4
);
COMMENT ON TYPE embedding IS
	'an embedding: up to 16000 float4 values, text form [1,2,3] as pgvector''s vector';

-- ---------------------------------------------------------------------------------------
-- Type modifier coercion and casts
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION embedding(embedding, integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding(embedding, integer, boolean) IS
	'coerce an embedding to embedding(n); an error if it does not have n dimensions';

CREATE FUNCTION array_to_embedding(real[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(double precision[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(integer[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(numeric[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_to_float4(embedding, integer, boolean) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_embedding(real[], integer, boolean) IS 'cast real[] to embedding';
COMMENT ON FUNCTION array_to_embedding(double precision[], integer, boolean) IS
	'cast double precision[] to embedding (values must fit float4)';
COMMENT ON FUNCTION array_to_embedding(integer[], integer, boolean) IS 'cast integer[] to embedding';
COMMENT ON FUNCTION array_to_embedding(numeric[], integer, boolean) IS
	'cast numeric[] to embedding (values must fit float4)';
COMMENT ON FUNCTION embedding_to_float4(embedding, integer, boolean) IS 'cast embedding to real[]';

CREATE CAST (embedding AS embedding) WITH FUNCTION embedding(embedding, integer, boolean) AS IMPLICIT;
CREATE CAST (real[] AS embedding) WITH FUNCTION array_to_embedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS embedding)
	WITH FUNCTION array_to_embedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS embedding) WITH FUNCTION array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS embedding) WITH FUNCTION array_to_embedding(numeric[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (embedding AS real[]) WITH FUNCTION embedding_to_float4(embedding, integer, boolean) AS IMPLICIT;

-- ---------------------------------------------------------------------------------------
-- Distances and vector functions
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION l2_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_l2_squared_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_negative_inner_product(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_dims(embedding) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_norm(embedding) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_normalize(embedding) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subvector(embedding, integer, integer) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION l2_distance(embedding, embedding) IS 'Euclidean distance (operator <->)';
COMMENT ON FUNCTION inner_product(embedding, embedding) IS 'inner product (operator <#> is its negative)';
COMMENT ON FUNCTION cosine_distance(embedding, embedding) IS
	'1 - cosine similarity, in [0, 2]; 1 when either embedding is a zero vector (operator <=>)';
COMMENT ON FUNCTION l1_distance(embedding, embedding) IS 'Manhattan distance (operator <+>)';
COMMENT ON FUNCTION embedding_l2_squared_distance(embedding, embedding) IS 'squared Euclidean distance';
COMMENT ON FUNCTION embedding_negative_inner_product(embedding, embedding) IS
	'negative inner product (operator <#>)';
COMMENT ON FUNCTION embedding_dims(embedding) IS 'number of dimensions';
COMMENT ON FUNCTION embedding_norm(embedding) IS 'Euclidean norm';
COMMENT ON FUNCTION l2_normalize(embedding) IS 'the embedding scaled to unit length; a zero vector stays zero';
COMMENT ON FUNCTION subvector(embedding, integer, integer) IS
	'subvector(e, start, count): count elements from 1-based position start, clipped to the embedding';

-- ---------------------------------------------------------------------------------------
-- Element-wise arithmetic and concatenation
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION embedding_add(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_sub(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_mul(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_concat(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_add(embedding, embedding) IS 'element-wise sum (operator +)';
COMMENT ON FUNCTION embedding_sub(embedding, embedding) IS 'element-wise difference (operator -)';
COMMENT ON FUNCTION embedding_mul(embedding, embedding) IS 'element-wise product (operator *)';
COMMENT ON FUNCTION embedding_concat(embedding, embedding) IS 'concatenation (operator ||)';

-- ---------------------------------------------------------------------------------------
-- Comparison and hashing
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION embedding_lt(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_le(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_eq(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_ne(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_ge(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_gt(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_cmp(embedding, embedding) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_hash(embedding) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_cmp(embedding, embedding) IS
	'btree order: element by element, then fewer dimensions first';
COMMENT ON FUNCTION embedding_hash(embedding) IS 'hash consistent with =';
COMMENT ON FUNCTION embedding_lt(embedding, embedding) IS 'operator <';
COMMENT ON FUNCTION embedding_le(embedding, embedding) IS 'operator <=';
COMMENT ON FUNCTION embedding_eq(embedding, embedding) IS 'operator =';
COMMENT ON FUNCTION embedding_ne(embedding, embedding) IS 'operator <>';
COMMENT ON FUNCTION embedding_ge(embedding, embedding) IS 'operator >=';
COMMENT ON FUNCTION embedding_gt(embedding, embedding) IS 'operator >';

-- ---------------------------------------------------------------------------------------
-- Operators
-- ---------------------------------------------------------------------------------------
CREATE OPERATOR <-> (LEFTARG = embedding, RIGHTARG = embedding,
	FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = embedding, RIGHTARG = embedding,
	FUNCTION = embedding_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = embedding, RIGHTARG = embedding,
	FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = embedding, RIGHTARG = embedding,
	FUNCTION = l1_distance, COMMUTATOR = '<+>');

CREATE OPERATOR + (LEFTARG = embedding, RIGHTARG = embedding,
	FUNCTION = embedding_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_sub);
CREATE OPERATOR * (LEFTARG = embedding, RIGHTARG = embedding,
	FUNCTION = embedding_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_concat);

CREATE OPERATOR < (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS embedding_ops
	DEFAULT FOR TYPE embedding USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 embedding_cmp(embedding, embedding);

CREATE OPERATOR CLASS embedding_hash_ops
	DEFAULT FOR TYPE embedding USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 embedding_hash(embedding);

-- ---------------------------------------------------------------------------------------
-- Aggregates: the state is float8[] = [count, sums...], combined by addition
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION embedding_accum(float8[], embedding) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION embedding_combine(float8[], float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION embedding_avg(float8[]) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_sum(float8[]) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_accum(float8[], embedding) IS 'aggregate transition of sum/avg(embedding)';
COMMENT ON FUNCTION embedding_combine(float8[], float8[]) IS 'aggregate combine of sum/avg(embedding)';
COMMENT ON FUNCTION embedding_avg(float8[]) IS 'aggregate final of avg(embedding)';
COMMENT ON FUNCTION embedding_sum(float8[]) IS 'aggregate final of sum(embedding)';

CREATE AGGREGATE avg(embedding) (
	SFUNC = embedding_accum, STYPE = float8[], FINALFUNC = embedding_avg,
	COMBINEFUNC = embedding_combine, PARALLEL = SAFE
);
CREATE AGGREGATE sum(embedding) (
	SFUNC = embedding_accum, STYPE = float8[], FINALFUNC = embedding_sum,
	COMBINEFUNC = embedding_combine, PARALLEL = SAFE
);
COMMENT ON AGGREGATE avg(embedding) IS 'element-wise mean (summed in double precision)';
COMMENT ON AGGREGATE sum(embedding) IS 'element-wise sum (summed in double precision)';

-- =======================================================================================
-- Latent spaces, parallel anchor sets, relative projection
-- =======================================================================================
-- The catalog is four extension-owned tables (relvec_translations is further down), kept by
-- pg_dump (pg_extension_config_dump). Spaces, anchor sets and translations have owners: the
-- role that created them. Only a role with the owner's privileges may change, freeze, re-fit
-- or drop one; every role may use them. The tables are readable by every role (a database
-- owner can pg_dump) and written only by the functions below, which check the caller's rights
-- and then write as the tables' owner (catalogwrite.c). Direct INSERT, UPDATE, DELETE and
-- TRUNCATE are refused, even for a role someone granted them to, unless it has the tables'
-- owner's privileges (a superuser restoring a dump).

CREATE TABLE relvec_spaces (
	space_id serial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name <> ''),
	dims integer NOT NULL CHECK (dims BETWEEN 1 AND 16000),
	description text,
	mean embedding CHECK (mean IS NULL OR embedding_dims(mean) = dims),
	mean_version integer NOT NULL DEFAULT 0,
	-- rows restored from a dump of 0.1.0, which had no owners, belong to the restoring role
	owner regrole NOT NULL DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole
);
COMMENT ON TABLE relvec_spaces IS 'relvec: latent spaces (one per embedding model)';

CREATE TABLE relvec_anchor_sets (
	set_id serial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name <> ''),
	keys text[] NOT NULL CHECK (cardinality(keys) >= 1),
	frozen boolean NOT NULL DEFAULT false,
	owner regrole NOT NULL DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole
);
COMMENT ON TABLE relvec_anchor_sets IS 'relvec: anchor sets (ordered anchor keys)';

CREATE TABLE relvec_anchors (
	set_id integer NOT NULL REFERENCES relvec_anchor_sets ON DELETE CASCADE,
	space_id integer NOT NULL REFERENCES relvec_spaces ON DELETE CASCADE,
	ord integer NOT NULL,
	key text NOT NULL,
	e embedding NOT NULL,
	PRIMARY KEY (set_id, space_id, ord),
	UNIQUE (set_id, space_id, key)
);
COMMENT ON TABLE relvec_anchors IS 'relvec: parallel anchors, the anchor items embedded in each space';

SELECT pg_catalog.pg_extension_config_dump('relvec_spaces', '');
SELECT pg_catalog.pg_extension_config_dump('relvec_spaces_space_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('relvec_anchor_sets', '');
SELECT pg_catalog.pg_extension_config_dump('relvec_anchor_sets_set_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('relvec_anchors', '');

-- A frozen set and its anchors never change (stored relative vectors stay valid).
-- search_path is pinned: pg_restore loads the catalog rows with an empty search_path, and a
-- role that can create objects in a schema on the caller's path must not reach into this.
CREATE FUNCTION relvec_guard_frozen() RETURNS trigger LANGUAGE plpgsql
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
CREATE TRIGGER relvec_anchor_sets_frozen BEFORE UPDATE ON relvec_anchor_sets
	FOR EACH ROW EXECUTE FUNCTION relvec_guard_frozen();
CREATE TRIGGER relvec_anchors_frozen BEFORE INSERT OR UPDATE OR DELETE ON relvec_anchors
	FOR EACH ROW EXECUTE FUNCTION relvec_guard_frozen();
COMMENT ON FUNCTION relvec_guard_frozen() IS 'relvec: trigger keeping frozen anchor sets unchanged';

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

REVOKE ALL ON relvec_spaces, relvec_anchor_sets, relvec_anchors FROM PUBLIC;
GRANT SELECT ON relvec_spaces, relvec_anchor_sets, relvec_anchors TO PUBLIC;
GRANT SELECT ON SEQUENCE relvec_spaces_space_id_seq, relvec_anchor_sets_set_id_seq TO PUBLIC;

-- Internal helpers written in C --------------------------------------------------------------
CREATE FUNCTION relvec_check_query(query text, shape text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_check_query(text, text) IS
	'relvec internal: raise 42804 unless query returns (key, embedding) (shape ''key_embedding'') or one embedding (shape ''embedding'')';
CREATE FUNCTION relvec_pick_anchors(query text, k integer, method text, seed integer)
	RETURNS TABLE (anchor_no integer, key text)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_pick_anchors(text, integer, text, integer) IS
	'relvec internal: choose k anchor keys among the (key, embedding) rows of query';

-- Spaces ------------------------------------------------------------------------------------
-- The catalog functions are not STRICT: a null argument is the error 22004 naming it.
CREATE FUNCTION relvec_create_space(name text, dims integer, description text DEFAULT NULL)
	RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_create_space(text, integer, text) IS
	'register a latent space (one embedding model) with its dimensions, owned by the caller';

CREATE FUNCTION relvec_set_space_mean(space text, query text) RETURNS embedding
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
CREATE FUNCTION relvec_create_anchor_set(name text, keys text[]) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_create_anchor_set(text, text[]) IS
	'create an anchor set: the anchor items'' keys, in order; owned by the caller';

CREATE FUNCTION relvec_set_anchors(anchor_set text, space text, query text) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_set_anchors(text, text, text) IS
	'store the anchors of a set in a space from a query returning (key, embedding), every key exactly once; owner only';

CREATE FUNCTION relvec_choose_anchors(anchor_set text, space text, query text, k integer,
		method text DEFAULT 'random', seed integer DEFAULT 0) RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_choose_anchors(text, text, text, integer, text, integer) IS
	'create an anchor set of k items chosen from a query''s (key, embedding) rows: random, fps or kmeans, seeded';

CREATE FUNCTION relvec_freeze_anchor_set(anchor_set text) RETURNS void
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

-- Projection ------------------------------------------------------------------------------------
CREATE FUNCTION relvec_project(x embedding, anchor_set text, space text, similarity text DEFAULT 'cosine',
		center text DEFAULT 'none', "normalize" boolean DEFAULT false) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_project(embedding, text, text, text, text, boolean) IS
	'relative representation of x: its similarities to the anchors of a frozen set in its space';
CREATE FUNCTION relvec_project(x embedding, anchor_set text) RETURNS embedding
	AS 'MODULE_PATHNAME', 'relvec_project' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_project(embedding, text) IS
	'relative representation of x over a frozen set''s anchors in the space x is tagged with (cosine, no centering)';

CREATE FUNCTION relvec_project_query(query text, anchor_set text, space text, similarity text DEFAULT 'cosine',
		center text DEFAULT 'none', "normalize" boolean DEFAULT false)
	RETURNS TABLE (key text, relative embedding)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_project_query(text, text, text, text, text, boolean) IS
	'project the (key, embedding) rows of a query in batches: one kernel call per chunk';

-- =======================================================================================
-- Devices
-- =======================================================================================
CREATE FUNCTION relvec_devices()
	RETURNS TABLE (index integer, name text, type text, driver text, memory_bytes bigint, auto_pick boolean)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION relvec_devices() IS
	'the Vulkan devices this backend sees; auto_pick marks the one relvec.device = auto would use';
CREATE FUNCTION relvec_backend() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION relvec_backend() IS
	'which backend (cpu or a Vulkan device) ran the last heavy operation in this session, and why';

-- =======================================================================================
-- Translation between spaces, comparing spaces
-- =======================================================================================
-- A translation is fitted on the parallel anchors of a frozen set (Maiorca et al. 2023) and
-- kept here, one per (set, from space, to space); pg_dump keeps it. Write it only through
-- relvec_fit_translation. Columns are copied as they are by the SQLite port and relvec pull.
CREATE TABLE relvec_translations (
	set_id integer REFERENCES relvec_anchor_sets ON DELETE CASCADE,
	from_space_id integer REFERENCES relvec_spaces ON DELETE CASCADE,
	to_space_id integer REFERENCES relvec_spaces ON DELETE CASCADE,
	method text NOT NULL CHECK (method IN ('orthogonal', 'linear', 'affine')),
	from_mean embedding NOT NULL,
	from_std embedding NOT NULL,
	to_mean embedding NOT NULL,
	to_std embedding NOT NULL,
	matrix real[] NOT NULL,			-- dim x dim, row-major, one-dimensional; dim = max of the two dims
	bias embedding,					-- affine only
	fitted_at timestamptz NOT NULL DEFAULT now(),
	owner regrole NOT NULL DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole,
	PRIMARY KEY (set_id, from_space_id, to_space_id)
);
COMMENT ON TABLE relvec_translations IS
	'relvec: translations between two spaces fitted on the parallel anchors of a frozen set';
SELECT pg_catalog.pg_extension_config_dump('relvec_translations', '');
CREATE TRIGGER relvec_translations_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON relvec_translations
	FOR EACH STATEMENT EXECUTE FUNCTION relvec_guard_catalog();
REVOKE ALL ON relvec_translations FROM PUBLIC;
GRANT SELECT ON relvec_translations TO PUBLIC;

CREATE FUNCTION relvec_fit_translation(anchor_set text, from_space text, to_space text,
		method text DEFAULT 'orthogonal') RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_fit_translation(text, text, text, text) IS
	'fit a translation (orthogonal, linear or affine) from one space to another on the anchors of a frozen set, store it (owned by the caller; re-fitting needs its owner''s privileges), return the mean cosine of the translated anchors to their counterparts';

CREATE FUNCTION relvec_drop_translation(anchor_set text, from_space text, to_space text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_drop_translation(text, text, text) IS
	'drop the translation fitted on an anchor set from one space to another; owner only';

CREATE FUNCTION relvec_translate(x embedding, anchor_set text, from_space text, to_space text)
	RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_translate(embedding, text, text, text) IS
	'x translated into another space with the translation fitted on an anchor set';
CREATE FUNCTION relvec_translate(x embedding, anchor_set text, to_space text) RETURNS embedding
	AS 'MODULE_PATHNAME', 'relvec_translate' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_translate(embedding, text, text) IS
	'x, tagged with its space, translated into to_space with the translation fitted on an anchor set';

CREATE FUNCTION relvec_compare_spaces(anchor_set text, space_a text, space_b text, items text,
		k integer DEFAULT 10, via text DEFAULT 'relative', center text DEFAULT 'none')
	RETURNS TABLE (jaccard float8, mrr float8, cosine float8, cka float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION relvec_compare_spaces(text, text, text, text, integer, text, text) IS
	'agreement of two spaces over the (key, embedding_a, embedding_b) rows of items: mean Jaccard of the k-neighbourhoods, MRR of the true item, mean cosine (via relative, translation or absolute) and linear CKA';
-- Exact kNN index: rvflat
-- =======================================================================================
CREATE FUNCTION relvec_rvflat_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION relvec_rvflat_handler(internal) IS 'the handler of index access method rvflat';
CREATE ACCESS METHOD rvflat TYPE INDEX HANDLER relvec_rvflat_handler;
COMMENT ON ACCESS METHOD rvflat IS
	'exact kNN index: vectors packed in index pages, ORDER BY col <op> query LIMIT k answered exactly';

-- Ordering operators only (FOR ORDER BY); support function 1 is the operator's distance.
CREATE OPERATOR CLASS embedding_l2_ops FOR TYPE embedding USING rvflat AS
	OPERATOR 1 <-> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 l2_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_ip_ops FOR TYPE embedding USING rvflat AS
	OPERATOR 1 <#> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 embedding_negative_inner_product(embedding, embedding);
CREATE OPERATOR CLASS embedding_cosine_ops FOR TYPE embedding USING rvflat AS
	OPERATOR 1 <=> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 cosine_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_l1_ops FOR TYPE embedding USING rvflat AS
	OPERATOR 1 <+> (embedding, embedding) FOR ORDER BY float_ops,
	FUNCTION 1 l1_distance(embedding, embedding);
COMMENT ON OPERATOR CLASS embedding_l2_ops USING rvflat IS 'rvflat: ORDER BY col <-> query (Euclidean)';
COMMENT ON OPERATOR CLASS embedding_ip_ops USING rvflat IS 'rvflat: ORDER BY col <#> query (negative inner product)';
COMMENT ON OPERATOR CLASS embedding_cosine_ops USING rvflat IS 'rvflat: ORDER BY col <=> query (cosine distance)';
COMMENT ON OPERATOR CLASS embedding_l1_ops USING rvflat IS 'rvflat: ORDER BY col <+> query (Manhattan)';
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
-- =======================================================================================
-- Batched kNN and cross-space (stitched) kNN
-- =======================================================================================
CREATE FUNCTION relvec_knn(queries text, corpus text, k integer, metric text DEFAULT 'cosine')
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME', 'relvec_knn' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_knn(text, text, integer, text) IS
	'exact k nearest corpus rows of every query, in one pass over the corpus per chunk of queries (metrics l2, ip, cosine, l1)';
CREATE FUNCTION relvec_knn_chunked(queries text, corpus text, k integer, metric text,
		query_chunk integer, corpus_chunk integer)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME', 'relvec_knn' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_knn_chunked(text, text, integer, text, integer, integer) IS
	'relvec internal: relvec_knn with explicit query and corpus chunk sizes (tests cross chunk boundaries with it)';
CREATE FUNCTION relvec_stitch_knn(queries text, query_space text, corpus text, corpus_space text,
		anchor_set text, k integer, via text DEFAULT 'relative', similarity text DEFAULT 'cosine',
		center text DEFAULT 'none')
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME', 'relvec_stitch_knn' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_stitch_knn(text, text, text, text, text, integer, text, text, text) IS
	'k nearest corpus rows (corpus_space) of every query (query_space) across two spaces: via relative vectors over the set''s parallel anchors, a fitted translation, or absolute vectors; cosine distances';
CREATE FUNCTION relvec_stitch_knn_chunked(queries text, query_space text, corpus text, corpus_space text,
		anchor_set text, k integer, via text, similarity text, center text, query_chunk integer, corpus_chunk integer)
	RETURNS TABLE (query_key text, rank integer, corpus_key text, distance float8)
	AS 'MODULE_PATHNAME', 'relvec_stitch_knn' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION relvec_stitch_knn_chunked(text, text, text, text, text, integer, text, text, text, integer, integer) IS
	'relvec internal: relvec_stitch_knn with explicit query and corpus chunk sizes (tests cross chunk boundaries with it)';

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
