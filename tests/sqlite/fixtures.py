#!/usr/bin/env python3
"""Build the SQLite twin of tests/load-fixtures.sh: a database file with tables fmnist
(idx, split, label, is_anchor, anchor_no, a, b) and words (idx, word, ft) holding the same
float32 values as PostgreSQL's schema "fixtures", embeddings as BLOBs in the bridge layout.
The test runner attaches it as schema "fixtures", so fixtures.fmnist reads the same in
both hosts.

    fixtures.py OUT.db
"""
import csv
import os
import sqlite3
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def vecs(path):
    data = open(path, "rb").read()
    (d,) = struct.unpack_from("<i", data, 0)
    rb = 4 * (d + 1)
    return [data[i * rb + 4:(i + 1) * rb] for i in range(len(data) // rb)], d


def blob(raw, d):
    """The bridge layout: uint16 dims LE, uint16 zero, then the float32 LE payload."""
    return struct.pack("<HH", d, 0) + raw


def main():
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out)
    fx = os.path.join(ROOT, "tests", "fixtures")
    a, da = vecs(os.path.join(fx, "fmnist_a_subset.fvecs"))
    b, db_ = vecs(os.path.join(fx, "fmnist_b_subset.fvecs"))
    db.execute("CREATE TABLE fmnist (idx INTEGER PRIMARY KEY, split TEXT, label INTEGER, "
               "is_anchor INTEGER, anchor_no INTEGER, a BLOB, b BLOB)")
    rows = []
    with open(os.path.join(fx, "fmnist_subset.csv")) as f:
        for i, r in enumerate(csv.DictReader(f)):
            rows.append((int(r["index"]), r["split"], int(r["label"]), int(r["is_anchor"] == "1"),
                         int(r["anchor_no"]) if r["anchor_no"] else None, blob(a[i], da), blob(b[i], db_)))
    db.executemany("INSERT INTO fmnist VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    w, dw = vecs(os.path.join(fx, "words_ft100_2k.fvecs"))
    db.execute("CREATE TABLE words (idx INTEGER PRIMARY KEY, word TEXT UNIQUE, ft BLOB)")
    with open(os.path.join(fx, "words_2k.csv")) as f:
        words = [r[1] for r in list(csv.reader(f))[1:]]
    db.executemany("INSERT INTO words VALUES (?, ?, ?)",
                   [(i, words[i], blob(w[i], dw)) for i in range(len(w))])
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
