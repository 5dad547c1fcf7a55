#!/usr/bin/env bash
# run.sh — what needs more than one session or a client of its own: a database owner who is
# not a superuser can pg_dump a database where a superuser installed relvec, and a restore
# keeps every catalog object's owner; a client in LATIN1 gets relvec's own error (22P02),
# not an encoding error, for input quoted in the message. Needs PGHOST/PGPORT/PGUSER of a
# running cluster with relvec installed. TAP output.
set -uo pipefail
cd "$(dirname "$0")/../.."
src=relvec_sec_src
dst=relvec_sec_dst
. scripts/lib/tap.sh
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
T=$(mktemp -d /tmp/relvec-sec.XXXXXX)
chmod 777 "$T"
trap 'rm -rf "$T"' EXIT

echo "1..9"
psql -q -X -d postgres -o /dev/null <<SQL
DROP DATABASE IF EXISTS $src;
DROP DATABASE IF EXISTS $dst;
DROP ROLE IF EXISTS rv_dbowner;
DROP ROLE IF EXISTS rv_writer;
CREATE ROLE rv_dbowner LOGIN;
CREATE ROLE rv_writer LOGIN;
CREATE DATABASE $src OWNER rv_dbowner;
SQL
# a superuser installs relvec; the database owner and another role build on it
psql -q -X -v ON_ERROR_STOP=1 -d $src -o /dev/null <<'SQL' || { echo "Bail out! setup failed"; exit 1; }
CREATE EXTENSION relvec;
SQL
psql -q -X -v ON_ERROR_STOP=1 -U rv_dbowner -d $src -o /dev/null <<'SQL' || { echo "Bail out! setup as the owner failed"; exit 1; }
CREATE TABLE items (id int PRIMARY KEY, a embedding(3), b embedding(3));
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), i * 1e-3]::real[], ARRAY[cos(i), -sin(i), 1 + i * 1e-3]::real[]
	FROM generate_series(1, 50) i;
CREATE INDEX ON items USING rvflat (a embedding_cosine_ops);
GRANT SELECT ON items TO rv_writer;
SELECT relvec_create_space('oa', 3);
SELECT relvec_create_anchor_set('o4', ARRAY['1', '2', '3', '4']);
SELECT relvec_set_anchors('o4', 'oa', 'SELECT id, a FROM items WHERE id <= 4');
SQL
psql -q -X -v ON_ERROR_STOP=1 -U rv_writer -d $src -o /dev/null <<'SQL' || { echo "Bail out! setup as the writer failed"; exit 1; }
SELECT relvec_create_space('wb', 3);
SQL
psql -q -X -v ON_ERROR_STOP=1 -U rv_dbowner -d $src -o /dev/null <<'SQL' || { echo "Bail out! freezing failed"; exit 1; }
SELECT relvec_set_anchors('o4', 'wb', 'SELECT id, b FROM items WHERE id <= 4');
SELECT relvec_freeze_anchor_set('o4');
SQL
psql -q -X -v ON_ERROR_STOP=1 -U rv_writer -d $src -o /dev/null -c "SELECT relvec_fit_translation('o4', 'wb', 'oa')" ||
	{ echo "Bail out! fitting failed"; exit 1; }

OWN="SELECT string_agg(x, ';' ORDER BY x) FROM (SELECT 'space ' || name || ' ' || owner::text AS x FROM relvec_spaces
	UNION ALL SELECT 'set ' || name || ' ' || owner::text FROM relvec_anchor_sets
	UNION ALL SELECT 'translation ' || set_id || '/' || from_space_id || '/' || to_space_id || ' ' || owner::text FROM relvec_translations) o"
check "objects are owned by the roles that created them" eq "$(q $src "$OWN")" \
	"set o4 rv_dbowner;space oa rv_dbowner;space wb rv_writer;translation 1/2/1 rv_writer"
check "the writer cannot drop the owner's set (42501)" bash -c \
	"psql -X -U rv_writer -d $src -c \"SELECT relvec_drop_anchor_set('o4', true)\" 2>&1 | grep -q 'must be owner of anchor set \"o4\"'"

out=$(pg_dump -U rv_dbowner -Fc -d $src -f "$T/owner.dump" 2>&1)
check "pg_dump by the database owner, not a superuser, succeeds" test $? -eq 0 || echo "$out" | sed 's/^/# /'
out=$(pg_dump -U rv_dbowner -Fp -d $src 2>&1)
check "the owner's dump holds the catalog rows of every role" bash -c \
	"echo \"\$1\" | grep -q 'COPY public.relvec_translations' && echo \"\$1\" | grep -qE '^1	2	1	orthogonal'" _ "$out"

psql -q -X -d postgres -c "CREATE DATABASE $dst OWNER rv_dbowner"
out=$(pg_restore --exit-on-error -d $dst "$T/owner.dump" 2>&1)
check "a superuser restores it without errors" test $? -eq 0 || echo "$out" | sed 's/^/# /'
check "the restore keeps every object's owner" eq "$(q $dst "$OWN")" "$(q $src "$OWN")"
check "after the restore, ownership still decides (the writer cannot drop the owner's set)" bash -c \
	"psql -X -U rv_writer -d $dst -c \"SELECT relvec_drop_anchor_set('o4', true)\" 2>&1 | grep -q 'must be owner of anchor set \"o4\"'"

# a client in LATIN1: the message quotes 40 bytes of UTF-8 input and must convert cleanly
bad="SELECT ('[' || repeat(U&'\\00e9', 30) || ']')::embedding"
out=$(PGCLIENTENCODING=LATIN1 psql -X -d $src -v VERBOSITY=verbose -c "\\set VERBOSITY verbose" -c "$bad" 2>&1)
check "LATIN1 client: the syntax error itself (22P02), not an encoding error" bash -c \
	"echo \"\$1\" | grep -q '22P02' && ! echo \"\$1\" | grep -qi 'invalid byte sequence\|has no equivalent'" _ "$out" ||
	echo "$out" | head -3 | sed 's/^/# /'
bad="SELECT ('[x' || repeat(U&'\\00e9', 30) || ']')::embedding"
out=$(PGCLIENTENCODING=LATIN1 psql -X -d $src -c "\\set VERBOSITY verbose" -c "$bad" 2>&1)
check "LATIN1 client, cut at the other parity: 22P02" bash -c \
	"echo \"\$1\" | grep -q '22P02' && ! echo \"\$1\" | grep -qi 'invalid byte sequence\|has no equivalent'" _ "$out" ||
	echo "$out" | head -3 | sed 's/^/# /'

psql -q -X -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst" -c "DROP ROLE rv_dbowner" -c "DROP ROLE rv_writer"
[ "$failed" -eq 0 ]
