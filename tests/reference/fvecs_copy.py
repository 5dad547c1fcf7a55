#!/usr/bin/env python3
"""Write rows of parallel .fvecs files as a PostgreSQL binary COPY stream on stdout, for a
table (idx int, <csv columns...>, e1 embedding, e2 embedding, ...).

    fvecs_copy.py --csv LABELS.csv --int index --text split --int label A.fvecs B.fvecs

Row i of every fvecs file and of the CSV is the same item. Binary COPY sends each
embedding in its binary form (int16 dims, int16 zero, float4 values, all big-endian), so
70,000 x 2 vectors load in seconds, without a text round trip. Columns come out in the
order the options are given, then one embedding per fvecs file.
"""
import argparse
import array
import csv
import struct
import sys


def read_fvecs(path):
    """(d, n, array of n*(d+1) int32/float32 words) of an fvecs file, checked."""
    data = open(path, "rb").read()
    if len(data) < 4:
        sys.exit("%s: not an fvecs file" % path)
    (d,) = struct.unpack_from("<i", data, 0)
    rb = 4 * (d + 1)
    if d <= 0 or len(data) % rb:
        sys.exit("%s: size %d is not a multiple of rows of %d values" % (path, len(data), d))
    return d, len(data) // rb, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--int", action="append", default=[], dest="cols", type=lambda c: ("int", c))
    ap.add_argument("--text", action="append", default=[], dest="cols", type=lambda c: ("text", c))
    ap.add_argument("fvecs", nargs="+")
    a = ap.parse_args()

    meta = list(csv.DictReader(open(a.csv)))
    vecs = [read_fvecs(p) for p in a.fvecs]
    for (d, n, _), p in zip(vecs, a.fvecs):
        if n != len(meta):
            sys.exit("%s has %d rows but %s has %d" % (p, n, a.csv, len(meta)))

    out = sys.stdout.buffer
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    nfields = len(a.cols) + len(vecs)
    # Each embedding: big-endian payload of the row's floats behind its header.
    swapped = []
    for d, n, data in vecs:
        words = array.array("f")
        words.frombytes(data)
        if sys.byteorder == "little":
            words.byteswap()
        swapped.append((d, words.tobytes()))
    buf = []
    for i, row in enumerate(meta):
        parts = [struct.pack(">h", nfields)]
        for kind, col in a.cols:
            if kind == "int":
                parts.append(struct.pack(">ii", 4, int(row[col])))
            else:
                b = row[col].encode()
                parts.append(struct.pack(">i", len(b)) + b)
        for d, data in swapped:
            rb = 4 * (d + 1)
            parts.append(struct.pack(">ihh", 4 + 4 * d, d, 0) + data[i * rb + 4:(i + 1) * rb])
        buf.append(b"".join(parts))
        if len(buf) >= 4096:
            out.write(b"".join(buf))
            buf = []
    out.write(b"".join(buf) + struct.pack(">h", -1))


if __name__ == "__main__":
    main()
