-- knn.sql — the comparison the serving and device-owner suites (tests/serving, tests/owner)
-- make: knn(op, query, k, idx) gives "id:distance,..." of the k rows of table t nearest to
-- the query under operator op, through an index scan (idx) or a sequential scan, in the
-- order (distance, ctid); two calls that differ only in idx must give the same text.
CREATE FUNCTION knn(op text, qv embedding, k int, idx bool) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text;
BEGIN
	PERFORM set_config('enable_seqscan', (NOT idx)::text, true);
	PERFORM set_config('enable_indexscan', idx::text, true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	-- the index orders ties by heap TID itself; the seq scan is told to
	EXECUTE format('SELECT string_agg(id || '':'' || coalesce(d::text, ''null''), '','' ORDER BY d, ctid) FROM '
		'(SELECT id, ctid, e %s $1 AS d FROM t ORDER BY e %s $1%s LIMIT %s) s', op, op,
		CASE WHEN idx THEN '' ELSE ', ctid' END, k) INTO r USING qv;
	RETURN r;
END $f$;
