/*
 * spaces.c — spaces in the type: the space tag a value carries, what a column bound to a
 * space does with it, and the names behind the tags.
 *
 * A tag is the space's id in relvec_spaces (the uint16 after the dimension count; 0 is
 * untagged). Names are what users see, ids what values hold: renaming a space keeps its
 * values' tags valid. The text form of a tagged value is "name#id:[...]" (bridge); read
 * back, a tag resolves by the name when this catalog has a space of that name (the value
 * came from another database, whose ids differ), else keeps the id when this catalog has
 * no such id either (a restore that loads the data before the catalog), and is an error
 * when the id is another space's here. A column declared embedding(space) has a type
 * modifier holding the space's dimensions and tag: an untagged value stored into it is
 * tagged, a value of another space is an error naming both.
 *
 * Names and ids are looked up in relvec_spaces through SPI and remembered until the end of
 * the transaction, so COPY of a million tagged rows looks each space up once. Outside a
 * transaction (an error report), a tag is shown as "#id".
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "relvec_pg.h"
#include "relvec_catalog.h"

/* One remembered space. */
typedef struct space_memo
{
	int			tag;
	int			dims;
	char	   *name;
} space_memo;

#define SPACE_MEMO_MAX 64

static space_memo memo[SPACE_MEMO_MAX];
static int	nmemo = 0;
static MemoryContext memo_cxt = NULL;
static bool xact_hook = false;

/* Forget every remembered space at the end of a transaction. */
static void
forget(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		rvpg_spaces_forget();
}

/* Remember a space (the oldest entry goes when full). */
static space_memo *
remember(int tag, int dims, const char *name)
{
	space_memo *m;

	if (memo_cxt == NULL)
		memo_cxt = AllocSetContextCreate(TopMemoryContext, "relvec space names",
										 ALLOCSET_SMALL_SIZES);
	if (!xact_hook)
	{
		RegisterXactCallback(forget, NULL);
		xact_hook = true;
	}
	if (nmemo == SPACE_MEMO_MAX)
	{
		memmove(memo, memo + 1, sizeof(space_memo) * (SPACE_MEMO_MAX - 1));
		nmemo--;
	}
	m = &memo[nmemo++];
	m->tag = tag;
	m->dims = dims;
	m->name = name != NULL ? MemoryContextStrdup(memo_cxt, name) : NULL;
	return m;
}

/*
 * Look a space up by tag (name NULL) or by name, through SPI; NULL when there is none.
 * A missing space is remembered too (name NULL for a tag).
 */
static space_memo *
lookup(int tag, const char *name)
{
	int			i;
	bool		pushed = false;
	space_memo *found = NULL;
	char	   *schema;
	Oid			types[1];
	Datum		values[1];

	for (i = nmemo - 1; i >= 0; i--)
		if (name == NULL ? memo[i].tag == tag :
			(memo[i].name != NULL && strcmp(memo[i].name, name) == 0))
			return memo[i].tag == 0 ? NULL : &memo[i];
	if (!IsTransactionState())
		return NULL;
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	SPI_connect();
	schema = rvpg_catalog_schema();
	if (name == NULL)
	{
		types[0] = INT4OID;
		values[0] = Int32GetDatum(tag);
	}
	else
	{
		types[0] = TEXTOID;
		values[0] = CStringGetTextDatum(name);
	}
	if (SPI_execute_with_args(psprintf("SELECT space_id, dims, name FROM %s.relvec_spaces WHERE %s "
									   "OPERATOR(pg_catalog.=) $1", schema,
									   name == NULL ? "space_id" : "name"),
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "relvec: space lookup failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		int			id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		int			dims = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

		found = remember(id, dims, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
	}
	else if (name == NULL)
		(void) remember(tag, 0, NULL);
	else
		(void) remember(0, 0, name);
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	return found;
}

void
rvpg_spaces_forget(void)
{
	nmemo = 0;
	if (memo_cxt != NULL)
		MemoryContextReset(memo_cxt);
}

const char *
rvpg_space_name(int tag)
{
	space_memo *m;

	if (tag == 0)
		return NULL;
	m = lookup(tag, NULL);
	return m != NULL ? m->name : NULL;
}

char *
rvpg_space_label(int tag)
{
	const char *name = rvpg_space_name(tag);

	return name != NULL ? psprintf("\"%s\"", name) : psprintf("#%d", tag);
}

int
rvpg_space_by_name(const char *name, bool missing_ok, int *dims)
{
	space_memo *m = lookup(0, name);

	if (m == NULL)
	{
		if (missing_ok)
			return 0;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", name)));
	}
	if (dims != NULL)
		*dims = m->dims;
	return m->tag;
}

int
rvpg_resolve_tag(const char *name, unsigned id)
{
	int			by_name;
	const char *at_id;

	if (name[0] == '\0')
		return (int) id;
	by_name = rvpg_space_by_name(name, true, NULL);
	if (by_name != 0)
		return by_name;
	at_id = rvpg_space_name((int) id);
	if (at_id != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", name),
				 errdetail("Space #%u is \"%s\" in this database.", id, at_id)));
	return (int) id;
}

void
rvpg_raise_mixed(int a, int b)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("embeddings of different spaces %s and %s", rvpg_space_label(a), rvpg_space_label(b)),
			 errhint("Translate one into the other's space with relvec_translate(), or compare their "
					 "relative vectors over parallel anchors with relvec_project().")));
}

void
rvpg_check_space(int tag, int want, const char *what)
{
	if (tag != 0 && want != 0 && tag != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("embedding belongs to space %s, not %s", rvpg_space_label(tag),
						rvpg_space_label(want)),
				 what != NULL ? errdetail("%s", what) : 0,
				 errhint("Translate it with relvec_translate(), or untag it with relvec_untag() "
						 "if it was tagged by mistake.")));
}

Embedding *
rvpg_apply_typmod(Embedding *e, int32 typmod)
{
	int			dims = RVPG_TYPMOD_DIMS(typmod);
	int			tag = RVPG_TYPMOD_SPACE(typmod);

	if (typmod < 0)
		return e;
	if (tag != 0 && e->space != 0 && e->space != tag)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("embedding of space %s cannot be stored as an embedding of space %s",
						rvpg_space_label(e->space), rvpg_space_label(tag)),
				 errhint("Translate it into that space with relvec_translate().")));
	if (tag != 0 && e->dim != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions of space %s, not %d", dims, rvpg_space_label(tag),
						e->dim)));
	RVPG_CHECK(rv_check_typmod(rvpg_ctx(), e->dim, dims));
	if (tag != 0 && e->space == 0)
	{
		Embedding  *t = (Embedding *) palloc(VARSIZE(e));

		memcpy(t, e, VARSIZE(e));
		t->space = (uint16) tag;
		return t;
	}
	return e;
}

PG_FUNCTION_INFO_V1(relvec_tag);
/* relvec_tag(e, space): e tagged with space (unchanged when it is already). */
Datum
relvec_tag(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	char	   *space = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			dims;
	int			tag = rvpg_space_by_name(space, false, &dims);
	Embedding  *r;

	if (e->space != 0 && e->space != tag)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("embedding already belongs to space %s, not \"%s\"", rvpg_space_label(e->space),
						space),
				 errhint("Use relvec_untag() first, or relvec_translate() to move it into that space.")));
	if (e->dim != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding has %d dimensions, space \"%s\" has %d", e->dim, space, dims)));
	r = (Embedding *) palloc(VARSIZE(e));
	memcpy(r, e, VARSIZE(e));
	r->space = (uint16) tag;
	PG_RETURN_EMBEDDING_P(r);
}

PG_FUNCTION_INFO_V1(relvec_untag);
/* relvec_untag(e): e without a space. */
Datum
relvec_untag(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	Embedding  *r = (Embedding *) palloc(VARSIZE(e));

	memcpy(r, e, VARSIZE(e));
	r->space = 0;
	PG_RETURN_EMBEDDING_P(r);
}

PG_FUNCTION_INFO_V1(relvec_space_of);
/* relvec_space_of(e): the name of e's space, NULL when untagged, "#id" for a dropped one. */
Datum
relvec_space_of(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	const char *name;

	if (e->space == 0)
		PG_RETURN_NULL();
	name = rvpg_space_name(e->space);
	PG_RETURN_TEXT_P(cstring_to_text(name != NULL ? name : psprintf("#%d", e->space)));
}
