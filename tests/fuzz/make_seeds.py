#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses into tests/fuzz/corpus/ (committed; run
again only after a change of a harness's input layout).

    corpus/embedding/  text forms and BLOBs in the shared layout (fuzz_embedding.c)
    corpus/catalog/    whole catalogs in fuzz_catalog.c's layout: a healthy one of each
                       translation method, and a few with the damage the SQLite tests name
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def blob(*v, tag=0):
    """An embedding BLOB: uint16 dims, uint16 space tag (0: untagged), float32 values, little-endian."""
    return struct.pack("<HH%df" % len(v), len(v), tag, *v)


def value(b):
    """fuzz_catalog's value: u16 length (0xffff: NULL), then the bytes."""
    if b is None:
        return struct.pack("<H", 0xFFFF)
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<H", len(b)) + b


def catalog(flags=0, dims=(2, 2), mean_a=blob(0.5, 0.5), keys='["w","x","y"]', anchors=None,
            method=0, translation=None, query=blob(1, 2), dims_kind=(0, 0)):
    if anchors is None:
        pts = {"w": (1, 0), "x": (0, 1), "y": (1, 1)}
        anchors = [[(0, i + 1, k, blob(*pts[k])) for i, k in enumerate("wxy")],
                   [(0, i + 1, k, blob(pts[k][1], -pts[k][0])) for i, k in enumerate("wxy")]]
    if translation is None:
        ident = struct.pack("<4f", 1, 0, 0, 1)
        translation = [blob(0, 0), blob(1, 1), blob(0, 0), blob(1, 1), ident,
                       blob(0, 0) if method == 2 else None]
    out = bytes([flags])
    for s in range(2):
        out += bytes([dims_kind[s]]) + struct.pack("<h", dims[s]) + value(mean_a if s == 0 else None)
    out += value(keys)
    for rows in anchors:
        out += bytes([len(rows)])
        for kind, ord_, key, e in rows:
            out += bytes([kind, ord_]) + value(key) + value(e)
    out += bytes([method])
    for t in translation:
        out += value(t)
    out += value(query)
    return out


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for name, text in [("plain", "[1,2,3]"), ("spaces", " [ -1.5e-3 ,\t2 , 3.25e+2 ]\n"),
                       ("tiny", "[1.17549435e-38,-0,0.1]"), ("huge", "[3.4028235e38,-3.4e38]"),
                       ("overflow", "[1e39]"), ("nan", "[NaN]"), ("inf", "[1,-Infinity]"),
                       ("empty", "[]"), ("junk", "[1,2]x"), ("hex", "[0x1p-3,1e-45]")]:
        write("embedding", "text_" + name, text.encode())
    write("embedding", "blob_3", blob(1, 2.5, -3e-7))
    write("embedding", "blob_1", blob(0.1))
    write("embedding", "blob_bad_header", struct.pack("<HHf", 1, 7, 1.0))
    write("embedding", "blob_short", struct.pack("<HHf", 2, 0, 1.0))
    write("embedding", "blob_nan", struct.pack("<HH", 1, 0) + b"\x00\x00\xc0\x7f")
    # space tags: tagged texts (plain, quoted with doubled quotes, id alone, malformed) and BLOBs
    for name, text in [("tagged", "mlp_a#3:[1,2,3]"), ("tagged_quoted", '"Model ""B"""#65535:[0.5,-1]'),
                       ("tagged_id_only", " #7: [1]"), ("tagged_digit", '"9lives"#1:[2]'),
                       ("tag_id_zero", "mlp_a#0:[1]"), ("tag_id_big", "mlp_a#65536:[1]"),
                       ("tag_no_id", "mlp_a:[1]"), ("tag_no_colon", "mlp_a#3[1]"),
                       ("tag_open_quote", '"open#1:[1]'), ("tag_capitals", "Mlp#1:[1]")]:
        write("embedding", "text_" + name, text.encode())
    write("embedding", "blob_tagged", blob(1, 2.5, -3e-7, tag=3))
    write("embedding", "blob_tag_max", blob(0.25, tag=65535))

    write("catalog", "healthy_orthogonal", catalog())
    write("catalog", "healthy_affine", catalog(method=2))
    write("catalog", "healthy_text_query", catalog(flags=4, query="[0.5, -1]"))
    write("catalog", "open_set", catalog(flags=1))
    write("catalog", "keys_short", catalog(keys='["w"]'))
    write("catalog", "keys_object", catalog(keys='{"w":1}'))
    write("catalog", "keys_numbers", catalog(keys="[1,2,3]"))
    write("catalog", "dims_wrapped", catalog(dims_kind=(1, 0)))
    write("catalog", "dims_zero", catalog(dims=(0, 2)))
    write("catalog", "truncated_anchor", catalog(anchors=[
        [(0, 1, "w", blob(1, 0)), (0, 2, "x", blob(0, 1)[:9]), (0, 3, "y", blob(1, 1))],
        [(0, 1, "w", blob(0, -1)), (0, 2, "x", blob(1, 0)), (0, 3, "y", blob(1, -1))]]))
    write("catalog", "dml_query", catalog(flags=4, query="WITH c(n) AS (SELECT 1) DELETE FROM relvec_anchors "
                                                        "RETURNING key, e"))
    write("catalog", "short_matrix", catalog(translation=[blob(0, 0), blob(1, 1), blob(0, 0), blob(1, 1),
                                                          b"\x00" * 5, None]))
    # space tags (spaces a and b are ids 1 and 2): tagged queries as BLOBs and texts, resolved by
    # name or by id; anchors tagged with their own space and with the other one
    write("catalog", "tagged_query_blob", catalog(query=blob(1, 2, tag=1)))
    write("catalog", "tagged_query_other", catalog(query=blob(1, 2, tag=2)))
    write("catalog", "tagged_query_unknown", catalog(query=blob(1, 2, tag=9)))
    write("catalog", "tagged_query_text", catalog(flags=4, query="a#1:[0.5, -1]"))
    write("catalog", "tagged_query_text_by_name", catalog(flags=4, query="b#77:[0.5, -1]"))
    write("catalog", "tagged_query_text_clash", catalog(flags=4, query="nope#2:[0.5, -1]"))
    pts = {"w": (1, 0), "x": (0, 1), "y": (1, 1)}
    write("catalog", "anchors_tagged_own", catalog(anchors=[
        [(0, i + 1, k, blob(*pts[k], tag=1)) for i, k in enumerate("wxy")],
        [(0, i + 1, k, blob(pts[k][1], -pts[k][0], tag=2)) for i, k in enumerate("wxy")]]))
    write("catalog", "anchors_tagged_other", catalog(anchors=[
        [(0, i + 1, k, blob(*pts[k], tag=2)) for i, k in enumerate("wxy")],
        [(0, i + 1, k, blob(pts[k][1], -pts[k][0])) for i, k in enumerate("wxy")]]))


if __name__ == "__main__":
    main()
