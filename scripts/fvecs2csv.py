#!/usr/bin/env python3
"""Convert rows of an .fvecs file (FAISS format: int32 d, then d float32, little-endian)
into CSV lines `key,[v1,...,vd]` ready for COPY into a (key text, e embedding) table.

    fvecs2csv.py FILE.fvecs [--keys KEYS.csv --key-column N] [--rows A:B] [--index-keys]

Keys default to the row number; with --keys they are taken from column N (0-based) of a
CSV file with a header line whose row i describes fvecs row i.
"""
import argparse
import csv
import struct
import sys


def shortest(v):
    """The shortest decimal that reads back as the same float32."""
    packed = struct.pack("<f", v)
    for p in range(6, 10):
        t = "%.*g" % (p, v)
        if struct.pack("<f", float(t)) == packed:
            return t
    return repr(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fvecs")
    ap.add_argument("--keys")
    ap.add_argument("--key-column", type=int, default=1)
    ap.add_argument("--rows", default=":", help="A:B, Python slice of row numbers")
    a = ap.parse_args()

    data = open(a.fvecs, "rb").read()
    if len(data) < 4:
        sys.exit("%s: not an fvecs file" % a.fvecs)
    (d,) = struct.unpack_from("<i", data, 0)
    rowbytes = 4 * (d + 1)
    if d <= 0 or len(data) % rowbytes:
        sys.exit("%s: size %d is not a multiple of rows of %d values" % (a.fvecs, len(data), d))
    n = len(data) // rowbytes
    keys = None
    if a.keys:
        with open(a.keys, newline="") as f:
            r = csv.reader(f)
            next(r)
            keys = [row[a.key_column] for row in r]
    lo, hi = (a.rows.split(":") + [""])[:2]
    rows = range(n)[slice(int(lo) if lo else None, int(hi) if hi else None)]
    w = csv.writer(sys.stdout, lineterminator="\n")
    for i in rows:
        (di,) = struct.unpack_from("<i", data, i * rowbytes)
        if di != d:
            sys.exit("%s: row %d has %d values, expected %d" % (a.fvecs, i, di, d))
        vals = struct.unpack_from("<%df" % d, data, i * rowbytes + 4)
        w.writerow([keys[i] if keys else i, "[" + ",".join(shortest(v) for v in vals) + "]"])


if __name__ == "__main__":
    main()
