#!/usr/bin/env bash
# demo.sh — end to end on a fresh Debian 12 machine: install what is missing, build,
# install the extension, start a throwaway PostgreSQL cluster, load 2,000 real word
# embeddings (fastText skipgram, 100-d, from tests/fixtures) and search them; then take
# Fashion-MNIST items embedded by two independently trained encoders and search the
# "old model's" corpus with the "new model's" queries through 300 parallel anchors.
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

psql -q -X -d relvec_demo -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION relvec;
CREATE TABLE words (word text PRIMARY KEY, e embedding(100));
SQL
python3 scripts/fvecs2csv.py tests/fixtures/words_ft100_2k.fvecs --keys tests/fixtures/words_2k.csv \
	| psql -q -X -d relvec_demo -c "\copy words FROM STDIN (FORMAT csv)"

run "SELECT count(*) AS words, max(embedding_dims(e)) AS dims FROM words"
run "SELECT b.word, round((a.e <=> b.e)::numeric, 4) AS cosine_distance
FROM words a, words b WHERE a.word = 'king' AND b.word <> a.word ORDER BY a.e <=> b.e LIMIT 8"
run "SELECT b.word, round((a.e <-> b.e)::numeric, 4) AS l2_distance
FROM words a, words b WHERE a.word = 'water' AND b.word <> a.word ORDER BY a.e <-> b.e LIMIT 8"
run "WITH q AS (SELECT (SELECT e FROM words WHERE word = 'king') - (SELECT e FROM words WHERE word = 'man')
                 + (SELECT e FROM words WHERE word = 'woman') AS v)
SELECT word, round((e <=> q.v)::numeric, 4) AS cosine_distance FROM words, q
WHERE word NOT IN ('king', 'man', 'woman') ORDER BY e <=> q.v LIMIT 5"
run "SELECT subvector(avg(e), 1, 4) AS mean_of_first_4_dims, round(embedding_norm(avg(e))::numeric, 4) AS norm_of_mean FROM words"
run "SELECT '[1, 2.5, -3e-2]'::embedding AS text_form, '[1,2]'::embedding <=> '[0,0]' AS cosine_to_zero_vector"

echo
echo "== two models, one corpus: 1,000 Fashion-MNIST test items embedded by encoder A (the corpus)"
echo "== and by encoder B (the queries), 300 parallel anchors; 1-NN label accuracy across models"
bash tests/load-fixtures.sh relvec_demo
psql -q -X -v ON_ERROR_STOP=1 -d relvec_demo -o /dev/null <<'SQL'
SELECT relvec_create_space('mlp_a', 64, 'Fashion-MNIST encoder A (the old model)');
SELECT relvec_create_space('mlp_b', 64, 'Fashion-MNIST encoder B (the new model)');
SELECT relvec_create_anchor_set('fm300', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM fixtures.fmnist WHERE is_anchor));
SELECT relvec_set_anchors('fm300', 'mlp_a', 'SELECT idx, a FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_set_anchors('fm300', 'mlp_b', 'SELECT idx, b FROM fixtures.fmnist WHERE is_anchor');
SELECT relvec_freeze_anchor_set('fm300');
CREATE TABLE corpus AS SELECT f.idx, f.label, f.a, p.relative AS r
	FROM relvec_project_query('SELECT idx, a FROM fixtures.fmnist WHERE NOT is_anchor', 'fm300', 'mlp_a') p
	JOIN fixtures.fmnist f ON f.idx::text = p.key;
SQL
run "WITH q AS (SELECT label, b, relvec_project(b, 'fm300', 'mlp_b') AS r FROM fixtures.fmnist WHERE NOT is_anchor)
SELECT 'absolute: B query vs A corpus' AS route,
       round(avg(((SELECT c.label FROM corpus c ORDER BY c.a <=> q.b LIMIT 1) = q.label)::int), 3) AS one_nn_accuracy FROM q
UNION ALL
SELECT 'relative: over 300 parallel anchors',
       round(avg(((SELECT c.label FROM corpus c ORDER BY c.r <=> q.r LIMIT 1) = q.label)::int), 3) FROM q"
echo
echo "demo: done (cluster stopped on exit)"
