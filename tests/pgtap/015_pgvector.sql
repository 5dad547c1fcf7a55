-- 015_pgvector: values move between pgvector's vector and embedding exactly, and both
-- extensions work side by side in one backend. Runs when pgvector is installed on the
-- server; skipped otherwise.
BEGIN;
SELECT plan(9);

CREATE FUNCTION pg_temp.pgvector_checks() RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
		RETURN QUERY SELECT skip('pgvector is not installed on this server', 9);
		RETURN;
	END IF;
	CREATE EXTENSION IF NOT EXISTS vector;
	CREATE TEMP TABLE pv AS
		SELECT i, (SELECT array_agg(((random() - 0.5) * 10 ^ (random() * 40 - 20))::real)
		           FROM generate_series(1, 1 + i % 50) WHERE i > 0)::vector AS v
		FROM generate_series(1, 3000) i;
	ALTER TABLE pv ADD COLUMN e embedding;
	UPDATE pv SET e = v::text::embedding;

	RETURN NEXT is((SELECT count(*) FROM pv WHERE e::text::vector = v), 3000::bigint,
		'v::text::embedding::text::vector gives back every vector exactly');
	RETURN NEXT is((SELECT count(*) FROM pv WHERE v::text = e::text), 3000::bigint,
		'both types print the same text');
	RETURN NEXT is((SELECT count(*) FROM pv WHERE e::text::vector::text::embedding = e), 3000::bigint,
		'e::text::vector::text::embedding gives back every embedding exactly');
	RETURN NEXT is((SELECT count(*) FROM pv WHERE vector_send(v) = embedding_send(e)), 3000::bigint,
		'binary send writes identical bytes');
	RETURN NEXT is((SELECT count(*) FROM pv a JOIN pv b ON b.i = a.i % 100 + 1 AND embedding_dims(a.e) = embedding_dims(b.e)
		WHERE abs(l2_distance(a.v, b.v) - l2_distance(a.e, b.e)) > 1e-5 * l2_distance(a.e, b.e)
		   OR abs(l1_distance(a.v, b.v) - l1_distance(a.e, b.e)) > 1e-5 * l1_distance(a.e, b.e)), 0::bigint,
		'overloaded l2_distance and l1_distance agree between the types in one query');
	RETURN NEXT is((SELECT count(*) FROM pv a JOIN pv b ON b.i = a.i % 100 + 1 AND embedding_dims(a.e) = embedding_dims(b.e)
		WHERE abs((a.v <=> b.v) - (a.e <=> b.e)) > 1e-6), 0::bigint,
		'cosine distances agree between the types');
	-- pgvector sums short vectors in float, relvec in double: near-ties may swap places, so
	-- compare the distance at each rank (1e-6 relative) rather than the row ids
	RETURN NEXT is((SELECT count(*) FROM
		(SELECT row_number() OVER (ORDER BY v <-> (SELECT v FROM pv WHERE i = 49) , i) AS r, v <-> (SELECT v FROM pv WHERE i = 49) AS d
		 FROM pv WHERE i % 50 = 49 ORDER BY 2, i LIMIT 10) p
		JOIN
		(SELECT row_number() OVER (ORDER BY e <-> (SELECT e FROM pv WHERE i = 49), i) AS r, e <-> (SELECT e FROM pv WHERE i = 49) AS d
		 FROM pv WHERE i % 50 = 49 ORDER BY 2, i LIMIT 10) q USING (r)
		WHERE abs(p.d - q.d) <= 1e-6 * greatest(p.d, 1e-30)), 10::bigint,
		'the 10 nearest neighbours through either type are at the same distances');
	-- a value tagged with a space still moves to pgvector by its text cast (the plain array)
	PERFORM relvec_create_space('pv_space', 3);
	RETURN NEXT is(relvec_tag('[1,2.5,-3]', 'pv_space')::text::vector, '[1,2.5,-3]'::vector,
		'a tagged embedding casts to vector through text');
	RETURN NEXT is(vector_send(relvec_untag(relvec_tag('[1,2,3]', 'pv_space'))::text::vector),
		embedding_send('[1,2,3]'), 'and untagged, its binary form is pgvector''s');
END $f$;
SELECT * FROM pg_temp.pgvector_checks();

SELECT * FROM finish();
ROLLBACK;
