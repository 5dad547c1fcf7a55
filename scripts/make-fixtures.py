#!/usr/bin/env python3
"""Cut the small real-data fixtures in tests/fixtures from ../shared/data (run once; the
outputs are committed so the tests do not need ../shared).

fmnist_{a,b}_subset.fvecs: rows = the 300 anchors of anchors_seed0.csv (in anchor order),
then the first 1,000 test items (dataset rows 60000..60999), embedded by mlp_a and mlp_b.
fmnist_subset.csv: index,split,label,is_anchor,anchor_no for each of those rows.
fmnist_a_train10k.fvecs, fmnist_train10k.csv: train rows 0..9,999 by mlp_a, with labels (the
demo's corpus).
"""
import csv
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data", "fmnist")
OUT = os.path.join(HERE, "..", "tests", "fixtures")


def rows(path, idx):
    data = open(path, "rb").read()
    (d,) = struct.unpack_from("<i", data, 0)
    rb = 4 * (d + 1)
    return b"".join(data[i * rb:(i + 1) * rb] for i in idx)


anchors = [int(r["index"]) for r in csv.DictReader(open(os.path.join(SHARED, "anchors_seed0.csv")))]
tests = list(range(60000, 61000))
labels = {int(r["index"]): r for r in csv.DictReader(open(os.path.join(SHARED, "fmnist_labels.csv")))}
order = anchors + tests
for m in ("a", "b"):
    open(os.path.join(OUT, "fmnist_%s_subset.fvecs" % m), "wb").write(
        rows(os.path.join(SHARED, "fmnist_mlp_%s.fvecs" % m), order))
with open(os.path.join(OUT, "fmnist_subset.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["index", "split", "label", "is_anchor", "anchor_no"])
    for pos, i in enumerate(order):
        w.writerow([i, labels[i]["split"], labels[i]["label"], int(pos < 300), pos + 1 if pos < 300 else ""])

# The demo's corpus: the first 10,000 train items as "the old model" (mlp_a) embeds them.
train = list(range(10000))
open(os.path.join(OUT, "fmnist_a_train10k.fvecs"), "wb").write(
    rows(os.path.join(SHARED, "fmnist_mlp_a.fvecs"), train))
with open(os.path.join(OUT, "fmnist_train10k.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["index", "label"])
    for i in train:
        w.writerow([i, labels[i]["label"]])
