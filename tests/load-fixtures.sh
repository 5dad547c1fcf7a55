#!/usr/bin/env bash
# load-fixtures.sh DB — load tests/fixtures into schema "fixtures" of DB (the pgTAP suite
# reads them; every test file rolls its own changes back).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1
psql -q -X -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
CREATE SCHEMA fixtures;
CREATE TABLE fixtures.fmnist (idx int PRIMARY KEY, split text, label int, is_anchor bool, anchor_no int,
	a embedding(64), b embedding(64));
CREATE TABLE fixtures.words (idx int PRIMARY KEY, word text UNIQUE, ft embedding(100));
CREATE TABLE fixtures.fm10k (idx int PRIMARY KEY, a embedding(64));
SQL
python3 - <<'PY' | psql -q -X -v ON_ERROR_STOP=1 -d "$db" -c "\copy fixtures.fmnist FROM STDIN (FORMAT csv)"
import csv, struct, sys
def vecs(path):
    data = open(path, "rb").read()
    (d,) = struct.unpack_from("<i", data, 0)
    rb = 4 * (d + 1)
    return [struct.unpack_from("<%df" % d, data, i * rb + 4) for i in range(len(data) // rb)]
def text(v):
    out = []
    for x in v:
        packed = struct.pack("<f", x)
        for p in range(6, 10):
            t = "%.*g" % (p, x)
            if struct.pack("<f", float(t)) == packed:
                break
        out.append(t)
    return "[" + ",".join(out) + "]"
a = vecs("tests/fixtures/fmnist_a_subset.fvecs")
b = vecs("tests/fixtures/fmnist_b_subset.fvecs")
w = csv.writer(sys.stdout, lineterminator="\n")
for i, r in enumerate(csv.DictReader(open("tests/fixtures/fmnist_subset.csv"))):
    w.writerow([r["index"], r["split"], r["label"], r["is_anchor"] == "1", r["anchor_no"], text(a[i]), text(b[i])])
PY
python3 scripts/fvecs2csv.py tests/fixtures/words_ft100_2k.fvecs --keys tests/fixtures/words_2k.csv \
	| awk -F, 'BEGIN{OFS=","} {print NR-1, $0}' \
	| psql -q -X -v ON_ERROR_STOP=1 -d "$db" -c "\copy fixtures.words FROM STDIN (FORMAT csv)"
python3 scripts/fvecs2csv.py tests/fixtures/fmnist_a_train10k.fvecs \
	| psql -q -X -v ON_ERROR_STOP=1 -d "$db" -c "\copy fixtures.fm10k FROM STDIN (FORMAT csv)"
psql -q -X -v ON_ERROR_STOP=1 -d "$db" -c "ANALYZE fixtures.fmnist; ANALYZE fixtures.words; ANALYZE fixtures.fm10k;"
