#!/usr/bin/env bash
# run-sqlite-bench.sh — relvec's offline kNN (relvec_knn_index in the SQLite extension)
# against sqlite-vec's vec0 exact scan, in one run on the same data; prints figures and
# ratios, asserts nothing (the top-10 rows of both are compared and the agreement printed).
#
# Data: N x D random float32 in [-1, 1) (Python's random, seed 42; default 100,000 x 768) and
# one real set, encoder A's 70,000 Fashion-MNIST vectors (64-d, ../shared/data/fmnist); the
# queries are other rows of the same kind (random ones; the 10,000 test rows of the real set,
# each query a row of the table). Metrics cosine and L2, top-10. Each figure is the median of
# 5 queries after one warm-up query:
#   relvec cold   the first query of a new connection: reads the column into the copy
#   relvec warm   later queries, answered from the copy (the figure that compares with vec0)
#   relvec read   relvec_knn_cache_mb(0): every query reads the table (the path before the copy)
#   vec0          sqlite-vec: CREATE VIRTUAL TABLE ... USING vec0(embedding float[D]
#                 distance_metric=...) loaded with the same vectors, WHERE embedding MATCH ? AND k = 10
# vec0 is not a Debian package: install sqlite-vec yourself and point SQLITE_VEC_PATH at its
# loadable extension (vec0.so; default /usr/local/lib/vec0.so). Without it the vec0 columns
# say so and the relvec figures are still printed.
#
# RELVEC_BENCH_N (100000), RELVEC_BENCH_D (768), RELVEC_SHARED (default ../shared),
# SQLITE_VEC_PATH. The databases live in a temporary directory (about 1.2 GB at the default
# size with vec0), removed at the end. On a shared, noisy machine the figures are indicative.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${RELVEC_BENCH_N:-100000}
D=${RELVEC_BENCH_D:-768}
SHARED=${RELVEC_SHARED:-$(pwd)/../shared}
VEC=${SQLITE_VEC_PATH:-/usr/local/lib/vec0.so}
PY=/usr/bin/python3      # Debian's python3: its sqlite3 module can load extensions
make -s build/sqlite/relvec.so >/dev/null
tmp=$(mktemp -d /tmp/relvec-sqlite-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if [ -f "$VEC" ]; then vec="$VEC"
else
	echo "vec0: skipped (no sqlite-vec loadable extension at ${VEC}; install sqlite-vec and set SQLITE_VEC_PATH)"
	vec=""
fi

$PY - "$PWD/build/sqlite/relvec" "$vec" "$tmp" "$N" "$D" "$SHARED/data/fmnist/fmnist_mlp_a.fvecs" <<'PY'
import array, os, random, sqlite3, statistics, struct, sys, time

ext, vec, tmp, N, D, fvecs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
REPS = 5

def connect(path, load):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(load)
    return db

def blob(vals, d):
    # relvec's BLOB: uint16 dims, uint16 space tag (0), float32 values, little-endian
    return struct.pack("<HH", d, 0) + vals.tobytes()

def ms(db, sql, args):
    t0 = time.perf_counter()
    rows = db.execute(sql, args).fetchall()
    return (time.perf_counter() - t0) * 1000, rows

def make_db(path, d, rows):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = off")
    db.execute("PRAGMA synchronous = off")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, e BLOB)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO t VALUES (?, ?)", ((i, blob(v, d)) for i, v in rows))
    db.execute("COMMIT")
    db.close()

def bench(name, path, d, queries):
    """queries: list of float32 arrays; the first is the warm-up."""
    print("%s" % name)
    print("  %-7s %12s %12s %12s %12s   %s" % ("metric", "relvec cold", "relvec warm", "relvec read", "vec0", "relvec/vec0 cold, warm; top-10 agreement"))
    qb = [blob(q, d) for q in queries]
    for metric, vmetric in (("cosine", "cosine"), ("l2", "l2")):
        sql = "SELECT key, distance FROM temp.knn WHERE query = ? AND k = 10"
        cold = []
        for r in range(REPS + 1):
            db = connect(path, ext)
            db.execute("CREATE VIRTUAL TABLE temp.knn USING relvec_knn_index(t, e, metric=%s, key=id)" % metric)
            t, _ = ms(db, sql, (qb[1 + r % (len(qb) - 1)],))
            if r > 0:
                cold.append(t)
            db.close()
        db = connect(path, ext)
        db.execute("CREATE VIRTUAL TABLE temp.knn USING relvec_knn_index(t, e, metric=%s, key=id)" % metric)
        ms(db, sql, (qb[0],))
        warm, got = [], []
        for q in qb[1:REPS + 1]:
            t, rows = ms(db, sql, (q,))
            warm.append(t)
            got.append([k for k, _ in rows])
        db.execute("SELECT relvec_knn_cache_mb(0)")
        ms(db, sql, (qb[0],))
        read = [ms(db, sql, (q,))[0] for q in qb[1:REPS + 1]]
        db.close()
        vline, ratio, agree = "skipped", "", ""
        if vec:
            vpath = path + "." + vmetric + ".vec0"
            v = connect(vpath, vec)
            if not v.execute("SELECT 1 FROM sqlite_master WHERE name = 'v'").fetchone():
                v.execute("ATTACH ? AS src", (path,))
                v.execute("CREATE VIRTUAL TABLE v USING vec0(embedding float[%d] distance_metric=%s)" % (d, vmetric))
                v.execute("BEGIN")
                v.execute("INSERT INTO v(rowid, embedding) SELECT id, substr(e, 5) FROM src.t")
                v.execute("COMMIT")
                v.execute("DETACH src")
            vsql = "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 10"
            ms(v, vsql, (queries[0].tobytes(),))
            vt, same = [], 0
            for i, q in enumerate(queries[1:REPS + 1]):
                t, rows = ms(v, vsql, (q.tobytes(),))
                vt.append(t)
                same += len(set(k for k, _ in rows) & set(got[i]))
            v.close()
            vm = statistics.median(vt)
            vline = "%9.1f ms" % vm
            ratio = "%.2f, %.2f" % (statistics.median(cold) / vm, statistics.median(warm) / vm)
            agree = "; %d of %d rows agree" % (same, 10 * REPS)
        print("  %-7s %9.1f ms %9.1f ms %9.1f ms %12s   %s%s" % (metric, statistics.median(cold), statistics.median(warm),
                                                           statistics.median(read), vline, ratio, agree))
        sys.stdout.flush()

# random data, seeded
rng = random.Random(42)
def rnd(d):
    return array.array("f", [rng.random() * 2 - 1 for _ in range(d)])
path = os.path.join(tmp, "random.db")
make_db(path, D, ((i + 1, rnd(D)) for i in range(N)))
queries = [rnd(D) for _ in range(REPS + 1)]
bench("random %d x %d (seed 42), top-10, medians of %d after a warm-up" % (N, D, REPS), path, D, queries)

# the real set: Fashion-MNIST encoder A, rows 0..69,999; queries from its test rows
if os.path.exists(fvecs):
    with open(fvecs, "rb") as f:
        raw = f.read()
    d = struct.unpack_from("<i", raw, 0)[0]
    n = len(raw) // (4 * (d + 1))
    def row(i):
        a = array.array("f")
        a.frombytes(raw[i * 4 * (d + 1) + 4:(i + 1) * 4 * (d + 1)])
        return a
    path = os.path.join(tmp, "fmnist.db")
    make_db(path, d, ((i, row(i)) for i in range(n)))
    queries = [row(60000 + 997 * i) for i in range(REPS + 1)]
    bench("Fashion-MNIST encoder A, %d x %d (../shared/data), queries from its test rows" % (n, d), path, d, queries)
else:
    print("real set: skipped (no %s; set RELVEC_SHARED)" % fvecs)
PY
