#!/usr/bin/env bash
# demo.sh — end to end on a fresh Debian 12 machine: install what is missing, build, install
# the extension, start a throwaway PostgreSQL cluster and tell relvec's story on real data.
#
# A shop keeps 10,000 Fashion-MNIST items embedded by its old model (encoder A). A new model
# (encoder B, trained independently) arrives: new queries are embedded by B, and the corpus
# cannot be re-embedded today. 300 anchor items embedded by both models let B's queries search
# A's corpus: through relative representations, or through a translation fitted on the
# anchors and an ordinary rvflat index. With each column bound to its model's space, the
# absolute mistake (B's vectors thrown at A's corpus as they are) is an error with a hint;
# the demo then prints 10-NN label accuracy of each route against that absolute baseline.
# Data: tests/fixtures (cut from ../shared/data by scripts/make-fixtures.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cluster.sh

bash scripts/setup-debian.sh
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
make -s -j2
$SUDO make -s install >/dev/null
rv_cluster_start
psql -q -X -d postgres -c "CREATE DATABASE relvec_demo"

run() { echo; echo "relvec_demo=# $1"; psql -X -v ON_ERROR_STOP=1 -d relvec_demo -c "$1"; }
quiet() { psql -q -X -v ON_ERROR_STOP=1 -d relvec_demo -o /dev/null "$@"; }

echo
echo "== 1. The old model's corpus: 10,000 items embedded by encoder A, with their labels"
quiet -c "CREATE EXTENSION relvec" \
	-c "CREATE TABLE corpus (id int PRIMARY KEY, label int NOT NULL, e embedding(64) NOT NULL)"
python3 tests/reference/fvecs_copy.py --csv tests/fixtures/fmnist_train10k.csv --int index --int label \
	tests/fixtures/fmnist_a_train10k.fvecs | quiet -c "\copy corpus FROM STDIN (FORMAT binary)"
# fixtures.fmnist: 300 anchor items and 1,000 test items, each embedded by A (column a) and B (b).
bash tests/load-fixtures.sh relvec_demo
quiet <<'SQL'
CREATE TABLE new_queries AS
	SELECT idx AS id, label, b AS e FROM fixtures.fmnist WHERE split = 'test';
CREATE INDEX ON corpus USING rvflat (e embedding_cosine_ops);
ANALYZE corpus; ANALYZE new_queries;
SQL
run "SELECT (SELECT count(*) FROM corpus) AS corpus_items_by_old_model,
       (SELECT count(*) FROM new_queries) AS queries_by_new_model,
       (SELECT count(*) FROM fixtures.fmnist WHERE is_anchor) AS anchors_embedded_by_both"

echo
echo "== 2. Register both models as spaces, the 300 parallel anchors as a frozen set,"
echo "==    and fit a translation from the new space to the old one on the anchors"
quiet <<'SQL'
SELECT relvec_create_space('old_model', 64, 'Fashion-MNIST encoder A: the corpus');
SELECT relvec_create_space('new_model', 64, 'Fashion-MNIST encoder B: the queries');
SELECT relvec_create_anchor_set('shop300',
	(SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('shop300', 'old_model', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('shop300', 'new_model', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('shop300');
SQL
run "SELECT round(relvec_fit_translation('shop300', 'new_model', 'old_model')::numeric, 4)
       AS fit_quality_mean_cosine_on_anchors"

echo
echo "== 3. Bind each column to its model: a value now knows its space, and the mistake"
echo "==    every same-dimension model change invites (new vectors thrown at the old corpus,"
echo "==    a silently wrong ranking elsewhere) is an error with a hint"
quiet <<'SQL'
ALTER TABLE corpus ALTER COLUMN e TYPE embedding(old_model);
ALTER TABLE new_queries ALTER COLUMN e TYPE embedding(new_model);
SQL
run "SELECT table_name, column_name, space, dims FROM relvec_bound_columns ORDER BY 1"
echo
echo "relvec_demo=# SELECT id FROM corpus ORDER BY e <=> (SELECT e FROM new_queries WHERE id = 60000) LIMIT 5"
if psql -X -v ON_ERROR_STOP=1 -d relvec_demo \
		-c "SELECT id FROM corpus ORDER BY e <=> (SELECT e FROM new_queries WHERE id = 60000) LIMIT 5" 2>&1; then
	echo "demo: the absolute route across two spaces should have been refused"; exit 1
fi

echo
echo "== 4. The fix: the new-model query translated into the old space (the source space comes"
echo "==    from the query's tag), answered by the rvflat index"
run "EXPLAIN (COSTS OFF) SELECT id FROM corpus
ORDER BY e <=> relvec_translate((SELECT e FROM new_queries WHERE id = 60000), 'shop300', 'old_model')
LIMIT 5"
run "SELECT (SELECT label FROM new_queries WHERE id = 60000) AS query_label, c.id, c.label,
       round((c.e <=> t.q)::numeric, 4) AS cosine_distance
FROM corpus c,
     (SELECT relvec_translate(e, 'shop300', 'old_model') AS q FROM new_queries WHERE id = 60000) t
ORDER BY c.e <=> t.q LIMIT 5"

echo
echo "== 5. All 1,000 new-model queries against the old corpus: 10-NN majority-vote accuracy"
echo "==    (stitched classification), each route one batched SQL call"
quiet <<'SQL'
CREATE FUNCTION vote(nn regclass) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE acc numeric;
BEGIN
	EXECUTE format($q$
		WITH votes AS (SELECT n.query_key, c.label, count(*) AS n
		               FROM %s n JOIN corpus c ON c.id = n.corpus_key::int GROUP BY 1, 2),
		     pred AS (SELECT DISTINCT ON (query_key) query_key, label FROM votes
		              ORDER BY query_key, n DESC, label)
		SELECT round(avg((p.label = q.label)::int), 3)
		FROM pred p JOIN new_queries q ON q.id = p.query_key::int $q$, nn) INTO acc;
	RETURN acc;
END $$;
-- the absolute baseline is the mistake made on purpose: the queries untagged
CREATE TABLE nn_absolute AS SELECT * FROM relvec_knn(
	'SELECT id, relvec_untag(e) FROM new_queries', 'SELECT id, e FROM corpus', 10, 'cosine');
CREATE TABLE nn_relative AS SELECT * FROM relvec_stitch_knn(
	'SELECT id, e FROM new_queries', 'new_model', 'SELECT id, e FROM corpus', 'old_model', 'shop300', 10, 'relative');
CREATE TABLE nn_relative_centred AS SELECT * FROM relvec_stitch_knn(
	'SELECT id, e FROM new_queries', 'new_model', 'SELECT id, e FROM corpus', 'old_model', 'shop300', 10,
	'relative', 'cosine', 'anchors');
CREATE TABLE nn_translation AS SELECT * FROM relvec_stitch_knn(
	'SELECT id, e FROM new_queries', 'new_model', 'SELECT id, e FROM corpus', 'old_model', 'shop300', 10, 'translation');
CREATE TABLE nn_reembedded AS SELECT * FROM relvec_knn(
	'SELECT idx, a FROM fixtures.fmnist WHERE split = ''test''', 'SELECT id, e FROM corpus', 10, 'cosine');
SQL
run "SELECT 'absolute: new vectors against the old corpus as they are' AS route, vote('nn_absolute') AS knn10_accuracy
UNION ALL SELECT 'relative: both sides over the 300 parallel anchors', vote('nn_relative')
UNION ALL SELECT 'relative, anchor-centred', vote('nn_relative_centred')
UNION ALL SELECT 'translation: new queries mapped into the old space', vote('nn_translation')
UNION ALL SELECT 'for reference: the queries re-embedded by the old model', vote('nn_reembedded')"

echo
echo "== 6. How alike are the two spaces? (Moschella et al. 2023, Table 1 measures)"
run "SELECT 'absolute' AS route, round(jaccard::numeric, 4) AS jaccard10, round(mrr::numeric, 4) AS mrr,
       round(cosine::numeric, 4) AS cosine, round(cka::numeric, 4) AS linear_cka
FROM relvec_compare_spaces('shop300', 'new_model', 'old_model',
	'SELECT idx, b, a FROM fixtures.fmnist WHERE split = ''test''', 10, 'absolute')
UNION ALL
SELECT 'relative', round(jaccard::numeric, 4), round(mrr::numeric, 4), round(cosine::numeric, 4), round(cka::numeric, 4)
FROM relvec_compare_spaces('shop300', 'new_model', 'old_model',
	'SELECT idx, b, a FROM fixtures.fmnist WHERE split = ''test''')
UNION ALL
SELECT 'translation', round(jaccard::numeric, 4), round(mrr::numeric, 4), round(cosine::numeric, 4), round(cka::numeric, 4)
FROM relvec_compare_spaces('shop300', 'new_model', 'old_model',
	'SELECT idx, b, a FROM fixtures.fmnist WHERE split = ''test''', 10, 'translation')"
echo
echo "demo: done (cluster stopped on exit)"
