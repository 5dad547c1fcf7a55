#!/usr/bin/env bash
# demo.sh — end to end on a fresh Debian 12 machine: install what is missing, build,
# install the extension, start a throwaway PostgreSQL cluster, load 2,000 real word
# embeddings (fastText skipgram, 100-d, from tests/fixtures) and search them.
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
echo "demo: done (cluster stopped on exit)"
