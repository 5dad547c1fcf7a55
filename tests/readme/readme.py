#!/usr/bin/env python3
"""readme.py — the README doc test: runs every fenced code block of README.md, in order, as
written, and prints TAP (one test per block). tests/readme/run.sh starts the throwaway cluster,
creates the database and calls it; run that, not this file.

Which tool runs a block is said by its info string (GitHub renders only the first word, so the
markers after it are invisible to readers):

  ```sql              psql, ON_ERROR_STOP, database "shop" of the test cluster; all such blocks
                      share that database, in order, so later blocks build on earlier ones. The
                      fixtures (tests/load-fixtures.sh: schema "fixtures") are loaded as soon as
                      a block has created the extension (the Quick tour's first line).
  ```sql pgvector     the same, when pgvector can be installed; otherwise a TAP
                      "# SKIP pgvector is not installed". Later blocks must not need it.
  ```sql sqlite [F]   the sqlite3 shell on file F (default offline.db), -bail; each block is a
                      new shell session, so it starts with its own .load.
  ```sh               bash -e -o pipefail, with build/ on PATH (`relvec` is build/relvec) and
                      PGHOST/PGPORT/PGUSER of the test cluster.
  ```python           Debian's /usr/bin/python3 (its sqlite3 module can load extensions).
  ```text             not run: output samples, layouts. A text block directly after a block
                      that runs (nothing but blank lines between) is that block's output
                      sample: its lines must appear, in order and contiguous, in the block's
                      standard output (trailing blanks ignored).
  anything else       fails: a block without an info string, or with another, is not
                      silently skipped.

Every block that runs does so in one scratch directory where build/ and tests/ are links to the
checkout's, so the paths the README writes (build/sqlite/relvec, tests/fixtures/...) resolve
and the files the examples write (offline.db, shop.db) land in the scratch directory. The
blocks above the first "##" section (the top commands) run in the checkout itself; of those
commands, `bash scripts/test.sh` is never run (it is the suite this test belongs to) and
`bash scripts/demo.sh` is, and the figures of the README's table of routes are compared with
the demo's output.

Figures are checked. A comment containing "→" states the result of the statement (SQL: that
ends on the comment's line, or on the line just above a comment-only line; sh: the command
on that line or just above it; Python: the next line the block prints). The text after the
arrow is the expectation: every number in it must equal the numbers of the result's rows, in
order and as many, rounded to the precision the README prints (0.974 matches 0.97395; a row
count such as "(3 rows)" is not a result); every word in it must occur in the result (its
column names included). An expectation without numbers checks words only. "→ ERROR 22023
message" expects that error (psql blocks only). The statement's
result goes to a file for the check (psql: \\g in unaligned format with its header; sqlite3:
.once with headers; sh: its standard output), so it does not appear in the block's output.

Usage: readme.py README.md SCRATCH_DIR (run by tests/readme/run.sh).
"""

import decimal
import os
import re
import sqlite3
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DB = os.environ.get("PGDATABASE", "shop")
ARROW = "\u2192"
NUM = re.compile(r"(?<![\w.$@])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)")
WORD = re.compile(r"[A-Za-z_]\w*")


class Block:
    def __init__(self, heading, info, lines, line, after_blank):
        self.heading = heading
        self.info = info
        self.lines = lines          # the block's lines, without the fences
        self.line = line            # README line of the first of them (1-based)
        self.after_blank = after_blank  # only blank lines between the previous block and this one
        self.top = heading is None or not heading.startswith("##")
        words = info.split()
        self.lang = words[0] if words else ""
        self.attrs = words[1:]

    def name(self):
        first = next((l.strip() for l in self.lines if l.strip()), "(empty)")
        if len(first) > 70:
            first = first[:67] + "..."
        title = (self.heading or "").lstrip("#").strip() or "(top)"
        return ("%s: %s" % (title, first)).replace("#", "\\#")


def read_blocks(path):
    """Every fenced block of the file, in order, with the heading it sits under."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    heading = None
    i = 0
    blank_since_block = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j == len(lines):
                sys.exit("Bail out! %s:%d: unterminated code block" % (path, i + 1))
            out.append(Block(heading, line[3:].strip(), lines[i + 1:j], i + 2, blank_since_block))
            blank_since_block = True
            i = j + 1
            continue
        if re.match(r"#+ ", line):
            heading = line
        if line.strip():
            blank_since_block = False
        i += 1
    return out


# --- checks ---------------------------------------------------------------------------------

def matches(expected, actual, header=0):
    """None when the result text `actual` shows what `expected` states, else the reason.
    Numbers are taken from the result's rows (after `header` lines of column names, whose
    expressions may hold numbers); words from all of it."""
    # a table's row count, "(3 rows)", is decoration, not a result
    actual = re.sub(r"(?m)^\(\d+ rows?\)$", "", actual)
    exp_nums = NUM.findall(expected)
    act_nums = NUM.findall("\n".join(actual.split("\n")[header:]))
    if exp_nums:
        if len(exp_nums) != len(act_nums):
            return "%d numbers stated, %d in the result" % (len(exp_nums), len(act_nums))
        for e, a in zip(exp_nums, act_nums):
            want = decimal.Decimal(e)
            places = len(e.split(".")[1]) if "." in e and "e" not in e.lower() else 0
            if "e" in e.lower():
                if abs(float(a) - float(e)) > abs(float(e)) * 1e-6:
                    return "stated %s, got %s" % (e, a)
                continue
            got = decimal.Decimal(a).quantize(decimal.Decimal(1).scaleb(-places),
                                              rounding=decimal.ROUND_HALF_UP)
            if got != want:
                return "stated %s, got %s" % (e, a)
    have = set(WORD.findall(actual))
    for w in WORD.findall(expected):
        if w not in have:
            return "%r is not in the result" % w
    return None


def comment_start(line, marker):
    """Index where a trailing comment starts (marker outside single and double quotes), or -1."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif line.startswith(marker, i) and (marker != "#" or i == 0 or line[i - 1].isspace()):
            return i
        i += 1
    return -1


def split_check(line, marker):
    """(code, expectation or None): a trailing comment holding the arrow is a check."""
    at = comment_start(line, marker)
    if at < 0 or ARROW not in line[at:]:
        return line, None
    return line[:at].rstrip(), line[at:].split(ARROW, 1)[1].strip()


def code_of(line, marker):
    at = comment_start(line, marker)
    return (line if at < 0 else line[:at]).rstrip()


def attach_checks(lines, marker):
    """[(line index, expectation)]: each check moved to the line its statement ends on."""
    checks = []
    for i, line in enumerate(lines):
        code, exp = split_check(line, marker)
        if exp is None:
            continue
        if code.strip():
            checks.append((i, exp))
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        checks.append((j, exp))
    return checks


# --- runners: each returns (ok, stdout, diagnostics, script as run) --------------------------

class Runner:
    def __init__(self, scratch):
        self.scratch = scratch
        self.n = 0
        self.env = dict(os.environ)
        self.env["PATH"] = os.path.join(ROOT, "build") + os.pathsep + self.env.get("PATH", "")
        self.fixtures = False
        self.checked = 0            # stated results checked

    def path(self, suffix):
        return os.path.join(self.scratch, "block%02d%s" % (self.n, suffix))

    def check_files(self, checks):
        diags = []
        ok = True
        self.checked += len(checks)
        for k, (_, exp, out, header) in enumerate(checks):
            if not os.path.exists(out):
                diags.append("check %d (%s): no result (the statement did not run)" % (k + 1, exp))
                ok = False
                continue
            actual = open(out, encoding="utf-8", errors="replace").read()
            why = matches(exp, actual, header)
            if why:
                ok = False
                diags.append("check %d: README says %s" % (k + 1, exp))
                diags.append("  but: %s; the result was:" % why)
                diags.extend("    " + l for l in actual.rstrip("\n").split("\n"))
        return ok, diags

    def run(self, argv, cwd=None, env=None, stdin=None):
        return subprocess.run(argv, cwd=cwd or self.scratch, env=env or self.env, input=stdin,
                              capture_output=True, text=True, errors="replace")

    def pg(self, block):
        lines = list(block.lines)
        checks = []
        for k, (i, exp) in enumerate(attach_checks(lines, "--")):
            out = self.path("_check%d.txt" % (k + 1))
            code = code_of(lines[i], "--")
            if not code.endswith(";"):
                return False, "", ["line %d: a → check must follow a statement's ';'" % (block.line + i)], \
                    "\n".join(block.lines)
            body = code[:-1]
            if exp.startswith("ERROR"):
                lines[i] = ("\\set ON_ERROR_STOP 0\n%s;\n\\o %s\n\\if :ERROR\n\\qecho ERROR :SQLSTATE "
                            ":LAST_ERROR_MESSAGE\n\\else\n\\qecho succeeded\n\\endif\n\\o\n"
                            "\\set ON_ERROR_STOP 1" % (body, out))
                checks.append((i, exp, out, 0))
            else:
                lines[i] = "%s \\g (format=unaligned footer=off) %s" % (body, out)
                checks.append((i, exp, out, 1))
        # a comment-only check line stays (psql ignores comments)
        script = "\n".join(lines) + "\n"
        f = self.path(".sql")
        open(f, "w", encoding="utf-8").write(script)
        r = self.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", DB, "-f", f])
        diags = []
        ok = r.returncode == 0
        if not ok:
            diags.append("psql exited with %d:" % r.returncode)
            diags.extend(r.stderr.rstrip("\n").split("\n"))
        else:
            cok, cd = self.check_files(checks)
            ok, diags = cok, cd
        if ok and not self.fixtures:
            self.load_fixtures_if_ready(diags)
        return ok, r.stdout, diags, script

    def load_fixtures_if_ready(self, diags):
        r = subprocess.run(["psql", "-X", "-At", "-d", DB, "-c",
                            "SELECT count(*) FROM pg_extension WHERE extname = 'relvec'"],
                           capture_output=True, text=True)
        if r.stdout.strip() == "1":
            r = subprocess.run(["bash", "tests/load-fixtures.sh", DB], cwd=ROOT, capture_output=True,
                               text=True)
            if r.returncode != 0:
                sys.exit("Bail out! tests/load-fixtures.sh failed: " + r.stderr)
            self.fixtures = True
            diags.append("note: the fixtures are loaded now (schema fixtures)")

    def sqlite(self, block):
        dbfile = block.attrs[1] if len(block.attrs) > 1 else "offline.db"
        checks = {i: exp for i, exp in attach_checks(block.lines, "--")}
        out_lines = []
        files = []
        buf = []
        for i, line in enumerate(block.lines):
            if not buf and (line.startswith(".") or not line.strip() or line.lstrip().startswith("--")):
                out_lines.append(line)
                continue
            buf.append((i, line))
            if sqlite3.complete_statement("\n".join(l for _, l in buf) + "\n"):
                last = buf[-1][0]
                if last in checks:
                    out = self.path("_check%d.txt" % (len(files) + 1))
                    files.append((last, checks[last], out, 1))
                    out_lines += [".headers on", ".once " + out]
                    out_lines += [l for _, l in buf[:-1]] + [code_of(buf[-1][1], "--")]
                    out_lines.append(".headers off")
                else:
                    out_lines += [l for _, l in buf]
                buf = []
        if buf:
            return False, "", ["an unterminated statement at the end of the block"], "\n".join(block.lines)
        if len(files) != len(checks):
            return False, "", ["a → check that does not follow a statement"], "\n".join(block.lines)
        script = "\n".join(out_lines) + "\n"
        r = self.run(["sqlite3", "-bail", "-batch", dbfile], stdin=script)
        diags = []
        ok = r.returncode == 0 and "Error" not in r.stderr
        if not ok:
            diags.append("sqlite3 %s exited with %d:" % (dbfile, r.returncode))
            diags.extend(r.stderr.rstrip("\n").split("\n"))
        else:
            ok, diags = self.check_files(files)
        return ok, r.stdout, diags, script

    def sh(self, block, top=False):
        lines = list(block.lines)
        checks = []
        notes = []
        for k, (i, exp) in enumerate(attach_checks(lines, "#")):
            out = self.path("_check%d.txt" % (k + 1))
            code = code_of(lines[i], "#")
            if code.endswith("\\"):
                return False, "", ["line %d: a → check must be on a command's last line" % (block.line + i)], \
                    "\n".join(block.lines)
            lines[i] = "%s > %s" % (code, out)
            checks.append((i, exp, out, 0))
        env = self.env
        cwd = self.scratch
        if top:
            # the checkout's own commands, run where the README says (the checkout's root), with
            # the user's environment, not the test cluster's
            cwd = ROOT
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            for i, line in enumerate(lines):
                if re.match(r"\s*bash scripts/test\.sh\b", line):
                    lines[i] = "# not run: %s (the suite this test belongs to)" % line.split("#")[0].strip()
                    notes.append("note: not run: bash scripts/test.sh (this test is one of its suites)")
        script = "\n".join(lines) + "\n"
        f = self.path(".sh")
        open(f, "w", encoding="utf-8").write(script)
        r = self.run(["bash", "-e", "-o", "pipefail", f], cwd=cwd, env=env)
        diags = list(notes)
        ok = r.returncode == 0
        if not ok:
            diags.append("bash exited with %d:" % r.returncode)
            diags.extend(r.stderr.rstrip("\n").split("\n")[-40:])
        else:
            ok, cd = self.check_files(checks)
            diags += cd
        return ok, r.stdout, diags, script

    def python(self, block):
        expected = [exp for _, exp in attach_checks(block.lines, "#")]
        script = "\n".join(block.lines) + "\n"
        f = self.path(".py")
        open(f, "w", encoding="utf-8").write(script)
        r = self.run(["/usr/bin/python3", f])
        diags = []
        ok = r.returncode == 0
        if not ok:
            diags.append("python3 exited with %d:" % r.returncode)
            diags.extend(r.stderr.rstrip("\n").split("\n"))
        elif expected:
            self.checked += len(expected)
            got = r.stdout.rstrip("\n").split("\n")
            if len(got) != len(expected):
                ok = False
                diags.append("%d → checks, %d lines printed" % (len(expected), len(got)))
            for k, (e, a) in enumerate(zip(expected, got)):
                why = matches(e, a)
                if why:
                    ok = False
                    diags.append("check %d: README says %s, printed %s (%s)" % (k + 1, e, a, why))
        return ok, r.stdout, diags, script


def sample_shown(sample, stdout):
    """None when the sample's lines appear, contiguous, in stdout (trailing blanks ignored)."""
    want = [l.rstrip() for l in sample]
    while want and not want[0]:
        want.pop(0)
    while want and not want[-1]:
        want.pop()
    have = [l.rstrip() for l in stdout.split("\n")]
    for s in range(len(have) - len(want) + 1):
        if have[s:s + len(want)] == want:
            return None
    return "the output sample below the block is not in its output"


def demo_routes(readme_text, stdout):
    """The README's table of routes against the demo's printed accuracies."""
    stated = []
    in_table = False
    for line in readme_text.split("\n"):
        if line.startswith("| route"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            m = re.search(r"\|\s*([0-9.]+)\s*\|\s*$", line)
            if m:
                stated.append(m.group(1))
    printed = []
    in_out = False
    for line in stdout.split("\n"):
        if "knn10_accuracy" in line:
            in_out = True
            continue
        if in_out:
            m = re.search(r"\|\s*([0-9.]+)\s*$", line)
            if m:
                printed.append(m.group(1))
            elif line.startswith("("):
                break
    if not stated:
        return "no table of routes found in the README"
    if stated != printed:
        return "the README's table of routes says %s, the demo printed %s" % (stated, printed)
    return None


def main():
    readme, scratch = sys.argv[1], sys.argv[2]
    blocks = read_blocks(readme)
    text = open(readme, encoding="utf-8").read()
    runner = Runner(scratch)
    for link in ("build", "tests"):
        if not os.path.lexists(os.path.join(scratch, link)):
            os.symlink(os.path.join(ROOT, link), os.path.join(scratch, link))
    have_pgvector = subprocess.run(
        ["psql", "-X", "-At", "-d", DB, "-c",
         "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'vector'"],
        capture_output=True, text=True).stdout.strip() == "t"

    tests = [b for b in blocks if b.lang != "text"]
    print("1..%d" % len(tests))
    counts = {}
    failed = 0
    samples = 0
    demo_checked = False
    for k, b in enumerate(blocks):
        if b.lang == "text":
            continue
        runner.n += 1
        name = b.name()
        kind = b.lang + ("" if not b.attrs else " " + b.attrs[0])
        sample = None
        if k + 1 < len(blocks) and blocks[k + 1].lang == "text" and blocks[k + 1].after_blank:
            sample = blocks[k + 1]
        extra = None
        if b.lang == "sql" and b.attrs[:1] == ["pgvector"]:
            if not have_pgvector:
                print("ok %d - %s # SKIP pgvector is not installed" % (runner.n, name))
                counts["skipped (pgvector)"] = counts.get("skipped (pgvector)", 0) + 1
                continue
            result = runner.pg(b)
        elif b.lang == "sql" and b.attrs[:1] == ["sqlite"]:
            result = runner.sqlite(b)
        elif b.lang == "sql" and not b.attrs:
            result = runner.pg(b)
        elif b.lang == "sh" and not b.attrs:
            result = runner.sh(b, top=b.top)
            if b.top and result[0] and "scripts/demo.sh" in "\n".join(b.lines):
                extra = demo_routes(text, result[1])
                demo_checked = True
        elif b.lang == "python" and not b.attrs:
            result = runner.python(b)
        else:
            result = (False, "", ["no tool runs a block marked ```%s: mark it sql, sql pgvector, sql sqlite, "
                                  "sh, python, or text (not run)" % b.info], "\n".join(b.lines))
            kind = "unknown"
        ok, stdout, diags, script = result
        if ok and sample is not None:
            samples += 1
            why = sample_shown(sample.lines, stdout)
            if why:
                ok = False
                diags.append(why + ":")
                diags.extend("    " + l for l in sample.lines)
                diags.append("the block printed:")
                diags.extend("    " + l for l in stdout.rstrip("\n").split("\n")[-40:])
        if ok and extra:
            ok = False
            diags.append(extra)
        counts[kind] = counts.get(kind, 0) + 1
        print("%s %d - %s" % ("ok" if ok else "not ok", runner.n, name))
        if not ok:
            failed += 1
            print("# %s line %d, ```%s block:" % (os.path.basename(readme), b.line - 1, b.info))
            for d in diags:
                print("#   " + d)
            print("# the block as run:")
            for i, l in enumerate(script.rstrip("\n").split("\n")):
                print("# %4d  %s" % (i + 1, l))
        else:
            for d in diags:
                if d.startswith("note: "):
                    print("# " + d[6:])
    print("# blocks run: " + ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items())))
    print("# text blocks (not run): %d, %d of them output samples checked" %
          (sum(1 for b in blocks if b.lang == "text"), samples))
    print("# stated results checked: %d%s" % (runner.checked, ", and the demo's table of routes" if demo_checked else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
