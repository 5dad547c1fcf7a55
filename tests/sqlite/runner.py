#!/usr/bin/env python3
"""Run tests/sqlite/NNN_topic.sql files against the SQLite extension and print TAP.

Each file is plain SQL run statement by statement on a fresh in-memory database with the
extension loaded and the fixtures attached as schema "fixtures". Assertions are SQL
functions registered here, in pgTAP's style:

    SELECT ok(cond, 'description');
    SELECT is_eq(got, want, 'description');       -- pgTAP's is()
    SELECT isnt(got, unwanted, 'description');
    SELECT near(got, want, tolerance, 'description');
    SELECT throws_ok('sql', 'exact error message' or NULL, 'description');
    SELECT lives_ok('sql', 'description');

Two helpers let a file test what another connection does to a database file:

    scratch_path('name.db')                        -- a path in a directory of this file's own
    other_exec(path, 'sql' [, parameter...])       -- run one statement on a second connection
                                                   -- (autocommit, no extension), return 1

throws_ok and lives_ok are run by the runner itself (their arguments are evaluated by
SQLite first), because the statement under test must run at the top level. Any other
statement that fails is reported as a failed test.

Each file ends with one more test: once its connection is closed, SQLite's allocator
holds no more bytes than before it opened. The extension and the bridge allocate only
through sqlite3_malloc, so this finds their leaks in any build (LeakSanitizer cannot
here: Python itself does not free everything at exit, and every stack runs through it).

    runner.py EXTENSION FIXTURES.db FILE.sql...
"""
import ctypes
import ctypes.util
import math
import os
import shutil
import sqlite3
import sys
import tempfile


class File:
    def __init__(self, name):
        self.name = name
        self.n = 0
        self.failed = 0

    def result(self, passed, desc, diag=None):
        self.n += 1
        if not passed:
            self.failed += 1
        print("%s %d - %s" % ("ok" if passed else "not ok", self.n, desc.replace("\n", " ")))
        if not passed and diag:
            for line in diag.splitlines():
                print("#   " + line)
        sys.stdout.flush()
        return 1 if passed else 0


def memory_used_fn():
    """sqlite3_memory_used() of the SQLite library Python's sqlite3 module runs on."""
    for lib in (ctypes.CDLL(None), ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")):
        fn = getattr(lib, "sqlite3_memory_used", None)
        if fn is not None:
            fn.restype = ctypes.c_int64
            return fn
    return None


memory_used = memory_used_fn()


def connect(ext, fixtures):
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.enable_load_extension(False)
    db.execute("ATTACH DATABASE ? AS fixtures", (fixtures,))
    return db


def statements(text):
    buf = ""
    for line in text.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            stmt = buf.strip()
            buf = ""
            # drop leading comment lines
            body = "\n".join(l for l in stmt.splitlines() if not l.strip().startswith("--")).strip()
            if body:
                yield body
    if buf.strip() and any(not l.strip().startswith("--") for l in buf.splitlines() if l.strip()):
        yield buf.strip()


def run_file(ext, fixtures, path):
    f = File(path)
    before = memory_used() if memory_used else 0
    db = connect(ext, fixtures)

    def ok(cond, desc):
        return f.result(bool(cond), desc, "got: %r" % (cond,))

    def is_eq(got, want, desc):
        return f.result(got == want and (got is None) == (want is None), desc,
                        "     got: %r\nexpected: %r" % (got, want))

    def isnt(got, want, desc):
        return f.result(got != want, desc, "got: %r\nexpected anything else" % (got,))

    def near(got, want, tol, desc):
        passed = got is not None and want is not None and abs(got - want) <= tol and not math.isnan(got)
        return f.result(passed, desc, "     got: %r\nexpected: %r within %r" % (got, want, tol))

    scratch = []

    def scratch_path(name):
        if not scratch:
            scratch.append(tempfile.mkdtemp(prefix="relvec-sqlite-scratch."))
        return os.path.join(scratch[0], name)

    def other_exec(path, sql, *params):
        other = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            other.execute(sql, params).fetchall()
        finally:
            other.close()
        return 1

    db.create_function("scratch_path", 1, scratch_path)
    db.create_function("other_exec", -1, other_exec)
    db.create_function("ok", 2, ok)
    db.create_function("is_eq", 3, is_eq)
    db.create_function("isnt", 3, isnt)
    db.create_function("near", 4, near)
    print("# %s" % path)
    for stmt in statements(open(path).read()):
        low = stmt.lower()
        try:
            if low.startswith("select throws_ok(") or low.startswith("select lives_ok("):
                inner = stmt[stmt.index("(") + 1:stmt.rstrip().rstrip(";").rstrip().rindex(")")]
                args = db.execute("SELECT " + inner).fetchone()
                if low.startswith("select throws_ok("):
                    sql, want, desc = args
                    try:
                        db.execute(sql).fetchall()
                        f.result(False, desc, "no error raised; expected: %r" % (want,))
                    except sqlite3.Error as e:
                        got = str(e)
                        f.result(want is None or got == want, desc,
                                 "     got: %r\nexpected: %r" % (got, want))
                else:
                    sql, desc = args
                    try:
                        db.execute(sql).fetchall()
                        f.result(True, desc)
                    except sqlite3.Error as e:
                        f.result(False, desc, "error: %s" % e)
            else:
                db.execute(stmt).fetchall()
        except sqlite3.Error as e:
            f.result(False, "statement runs: %s" % stmt[:60], "error: %s\nstatement: %s" % (e, stmt))
    db.close()
    for d in scratch:
        shutil.rmtree(d, ignore_errors=True)
    if memory_used:
        after = memory_used()
        f.result(after == before, "no SQLite memory left allocated once the connection is closed",
                 "%d bytes before the connection, %d after" % (before, after))
    print("1..%d" % f.n)
    return f.failed


def main():
    ext, fixtures = sys.argv[1], sys.argv[2]
    failed = 0
    for path in sys.argv[3:]:
        failed += run_file(ext, fixtures, path)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
