#!/usr/bin/env bash
# run.sh DB — reproduce the reference numbers of ../shared/data/README.md through relvec's SQL
# functions, on the full data (Fashion-MNIST: 60,000 train + 10,000 test rows by two encoders;
# words: 20,000 words by fastText and word2vec), and print one TAP line per number.
#
# Each number is computed the way the data README defines it, with nothing but SQL calls:
#   knn10_acc  relvec_stitch_knn (corpus = the corpus space's train rows, queries = the query
#              space's test rows, k = 10) and a majority vote in SQL, ties to the smallest label;
#   jaccard10, mrr, cosine, cka   relvec_compare_spaces over the evaluation items.
# Tolerances are the issue's: 0.005 for accuracy, 0.002 for the others.
#
# Needs ../shared/data (RELVEC_SHARED points at ../shared); skips when it is absent.
set -uo pipefail
cd "$(dirname "$0")/../.."
db=$1
DATA=${RELVEC_SHARED:-../shared}/data
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$db")

if [ ! -f "$DATA/fmnist/fmnist_mlp_a.fvecs" ] || [ ! -f "$DATA/words/ft_sg100.fvecs" ]; then
	echo "1..0 # SKIP $DATA not found"
	exit 0
fi

n=0
failed=0
check() {	# check NAME GOT WANT TOLERANCE
	n=$((n + 1))
	if [ -n "$2" ] && awk -v g="$2" -v w="$3" -v t="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= t) }'; then
		echo "ok $n - $1: $2 (reference $3, tolerance $4)"
	else
		echo "not ok $n - $1: got '${2}' (reference $3, tolerance $4)"
		failed=$((failed + 1))
	fi
}

# --- load: binary COPY straight from the fvecs files --------------------------------------
start=$(date +%s)
"${PSQL[@]}" -o /dev/null <<'SQL' || exit 1
DROP SCHEMA IF EXISTS ref CASCADE;
CREATE SCHEMA ref;
CREATE TABLE ref.fmnist (idx int PRIMARY KEY, split text NOT NULL, label int NOT NULL,
	a embedding(64) NOT NULL, b embedding(64) NOT NULL);
CREATE TABLE ref.words (idx int PRIMARY KEY, word text NOT NULL, ft embedding(100) NOT NULL,
	w2v embedding(300) NOT NULL);
CREATE TABLE ref.anchors (corpus text, anchor_no int, idx int);
SQL
python3 tests/reference/fvecs_copy.py --csv "$DATA/fmnist/fmnist_labels.csv" --int index --text split \
	--int label "$DATA/fmnist/fmnist_mlp_a.fvecs" "$DATA/fmnist/fmnist_mlp_b.fvecs" \
	| "${PSQL[@]}" -c "\copy ref.fmnist FROM STDIN (FORMAT binary)" || exit 1
python3 tests/reference/fvecs_copy.py --csv "$DATA/words/words.csv" --int index --text word \
	"$DATA/words/ft_sg100.fvecs" "$DATA/words/w2v_cbow300.fvecs" \
	| "${PSQL[@]}" -c "\copy ref.words FROM STDIN (FORMAT binary)" || exit 1
for c in fmnist words; do
	tail -n +2 "$DATA/$c/anchors_seed0.csv" | cut -d, -f1,2 | sed "s/^/$c,/" \
		| "${PSQL[@]}" -c "\copy ref.anchors FROM STDIN (FORMAT csv)" || exit 1
done

# Spaces, the two seed-0 anchor sets (in the CSV's order), space means, translations.
"${PSQL[@]}" -o /dev/null <<'SQL' || exit 1
ANALYZE ref.fmnist; ANALYZE ref.words;
SELECT relvec_create_space('ref_mlp_a', 64), relvec_create_space('ref_mlp_b', 64),
	relvec_create_space('ref_ft', 100), relvec_create_space('ref_w2v', 300);
SELECT relvec_create_anchor_set('ref_fmnist', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM ref.anchors WHERE corpus = 'fmnist'));
SELECT relvec_create_anchor_set('ref_words', (SELECT array_agg(idx::text ORDER BY anchor_no) FROM ref.anchors WHERE corpus = 'words'));
SELECT relvec_set_anchors('ref_fmnist', 'ref_mlp_a', 'SELECT f.idx, f.a FROM ref.fmnist f JOIN ref.anchors r USING (idx) WHERE r.corpus = ''fmnist''');
SELECT relvec_set_anchors('ref_fmnist', 'ref_mlp_b', 'SELECT f.idx, f.b FROM ref.fmnist f JOIN ref.anchors r USING (idx) WHERE r.corpus = ''fmnist''');
SELECT relvec_set_anchors('ref_words', 'ref_ft', 'SELECT w.idx, w.ft FROM ref.words w JOIN ref.anchors r USING (idx) WHERE r.corpus = ''words''');
SELECT relvec_set_anchors('ref_words', 'ref_w2v', 'SELECT w.idx, w.w2v FROM ref.words w JOIN ref.anchors r USING (idx) WHERE r.corpus = ''words''');
SELECT relvec_freeze_anchor_set('ref_fmnist'), relvec_freeze_anchor_set('ref_words');
SELECT relvec_set_space_mean('ref_mlp_a', 'SELECT a FROM ref.fmnist WHERE split = ''train''') IS NOT NULL,
	relvec_set_space_mean('ref_mlp_b', 'SELECT b FROM ref.fmnist WHERE split = ''train''') IS NOT NULL,
	relvec_set_space_mean('ref_ft', 'SELECT ft FROM ref.words') IS NOT NULL,
	relvec_set_space_mean('ref_w2v', 'SELECT w2v FROM ref.words') IS NOT NULL;
SELECT relvec_fit_translation('ref_fmnist', 'ref_mlp_a', 'ref_mlp_b'), relvec_fit_translation('ref_fmnist', 'ref_mlp_b', 'ref_mlp_a'),
	relvec_fit_translation('ref_words', 'ref_ft', 'ref_w2v'), relvec_fit_translation('ref_words', 'ref_w2v', 'ref_ft');
SQL
echo "# loaded 70,000 + 20,000 items, spaces, anchors, means and translations in $(( $(date +%s) - start )) s"

q() { "${PSQL[@]}" -At -c "$1"; }

# 10-NN accuracy of one route: query column qc (space qs) over the test rows against corpus
# column cc (space cs) over the train rows, majority vote with ties to the smallest label.
knn_acc() {	# knn_acc QCOL QSPACE CCOL CSPACE VIA CENTER
	q "WITH nn AS (
		SELECT * FROM relvec_stitch_knn(
			'SELECT idx, $1 FROM ref.fmnist WHERE split = ''test''', '$2',
			'SELECT idx, $3 FROM ref.fmnist WHERE split = ''train''', '$4',
			'ref_fmnist', 10, '$5', 'cosine', '$6')),
	votes AS (SELECT nn.query_key, c.label, count(*) AS n
		FROM nn JOIN ref.fmnist c ON c.idx = nn.corpus_key::int GROUP BY 1, 2),
	pred AS (SELECT DISTINCT ON (query_key) query_key, label FROM votes ORDER BY query_key, n DESC, label)
	SELECT round(avg((p.label = t.label)::int), 4) FROM pred p JOIN ref.fmnist t ON t.idx = p.query_key::int"
}

# jaccard|mrr|cosine|cka of one route over the evaluation items.
compare() {	# compare SET QSPACE CSPACE ITEMS VIA CENTER
	q "SELECT round(jaccard::numeric, 4) || '|' || round(mrr::numeric, 4) || '|' || round(cosine::numeric, 4)
		|| '|' || round(cka::numeric, 4)
	   FROM relvec_compare_spaces('$1', '$2', '$3', '$4', 10, '$5', '$6')"
}

# route name, via, center
ROUTES=("absolute|absolute|none" "relative/none|relative|none" "relative/anchors|relative|anchors"
	"relative/space|relative|space" "translation|translation|none")

# Reference table: direction|route|knn10_acc|jaccard10|mrr|cosine
REF_FMNIST="
a>b|absolute|0.1953|0.0008|0.0020|0.1008
a>b|relative/none|0.8433|0.0519|0.0787|0.9737
a>b|relative/anchors|0.8502|0.0838|0.1336|0.9599
a>b|relative/space|0.8531|0.0866|0.1406|0.9579
a>b|translation|0.8743|0.2012|0.3837|0.9643
b>a|absolute|0.1013|0.0003|0.0010|0.1008
b>a|relative/none|0.8627|0.0478|0.0653|0.9737
b>a|relative/anchors|0.8572|0.0802|0.1104|0.9599
b>a|relative/space|0.8554|0.0830|0.1147|0.9579
b>a|translation|0.8745|0.1869|0.2991|0.9688"
REF_WORDS="
ft>w2v|relative/none||0.0081|0.0169|0.7246
ft>w2v|relative/anchors||0.0981|0.3472|0.5759
ft>w2v|relative/space||0.1076|0.3754|0.5910
ft>w2v|translation||0.1458|0.5029|0.5698
w2v>ft|relative/none||0.0320|0.0788|0.7246
w2v>ft|relative/anchors||0.0827|0.1738|0.5759
w2v>ft|relative/space||0.0848|0.1766|0.5910
w2v>ft|translation||0.1235|0.3749|0.6259"

route_args() {	# route_args ROUTE -> "via center"
	local r
	for r in "${ROUTES[@]}"; do
		IFS='|' read -r name via center <<<"$r"
		[ "$name" = "$1" ] && { echo "$via $center"; return; }
	done
}

cka_seen=""
while IFS='|' read -r dir route acc jac mrr cos; do
	[ -z "$dir" ] && continue
	read -r via center <<<"$(route_args "$route")"
	if [ "$dir" = "a>b" ]; then qc=a; qs=ref_mlp_a; cc=b; cs=ref_mlp_b; else qc=b; qs=ref_mlp_b; cc=a; cs=ref_mlp_a; fi
	t0=$(date +%s)
	check "fmnist $qs -> $cs $route knn10_acc" "$(knn_acc $qc $qs $cc $cs "$via" "$center")" "$acc" 0.005
	IFS='|' read -r gj gm gc gk <<<"$(compare ref_fmnist $qs $cs \
		"SELECT idx, $qc, $cc FROM ref.fmnist WHERE split = ''test''" "$via" "$center")"
	check "fmnist $qs -> $cs $route jaccard10" "$gj" "$jac" 0.002
	check "fmnist $qs -> $cs $route mrr" "$gm" "$mrr" 0.002
	check "fmnist $qs -> $cs $route cosine" "$gc" "$cos" 0.002
	if [ -z "$cka_seen" ]; then check "fmnist cka(mlp_a, mlp_b)" "$gk" 0.9481 0.002; cka_seen=1; fi
	echo "# fmnist $dir $route: $(( $(date +%s) - t0 )) s"
done <<<"$REF_FMNIST"

cka_seen=""
while IFS='|' read -r dir route acc jac mrr cos; do
	[ -z "$dir" ] && continue
	read -r via center <<<"$(route_args "$route")"
	if [ "$dir" = "ft>w2v" ]; then qc=ft; qs=ref_ft; cc=w2v; cs=ref_w2v; else qc=w2v; qs=ref_w2v; cc=ft; cs=ref_ft; fi
	t0=$(date +%s)
	IFS='|' read -r gj gm gc gk <<<"$(compare ref_words $qs $cs "SELECT idx, $qc, $cc FROM ref.words" "$via" "$center")"
	check "words $qs -> $cs $route jaccard10" "$gj" "$jac" 0.002
	check "words $qs -> $cs $route mrr" "$gm" "$mrr" 0.002
	check "words $qs -> $cs $route cosine" "$gc" "$cos" 0.002
	if [ -z "$cka_seen" ]; then check "words cka(ft_sg100, w2v_cbow300)" "$gk" 0.4228 0.002; cka_seen=1; fi
	echo "# words $dir $route: $(( $(date +%s) - t0 )) s"
done <<<"$REF_WORDS"

"${PSQL[@]}" -c "DROP SCHEMA ref CASCADE" >/dev/null 2>&1
echo "1..$n"
[ "$failed" -eq 0 ]
