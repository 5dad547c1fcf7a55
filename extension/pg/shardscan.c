/*
 * shardscan.c — `ORDER BY e <op> q LIMIT k` on a sharded table, pushed down whole.
 *
 * On a partitioned table whose leaf partitions are postgres_fdw foreign tables on shard
 * servers with relvec (shard.h), PostgreSQL plans the query as a Merge Append over one
 * foreign scan per partition: the LIMIT stays on the coordinator, every shard streams rows
 * in distance order with their whole vectors (the coordinator recomputes each distance for
 * the merge), and the shards are read one after the other. This file adds a path to the
 * statement's final relation (create_upper_paths_hook, UPPERREL_FINAL) that does the
 * whole ORDER BY ... LIMIT [OFFSET] itself: each shard server gets one statement that runs
 * its own index scan with the ORDER BY and a LIMIT of offset + count and returns the
 * columns the statement needs plus the distance (the vector only when the statement
 * selects it); all shards are sent their statement before any result is awaited, so they
 * work at once; the coordinator sorts the at most (offset + count) x partitions rows by the
 * returned distance and returns offset..offset + count. The distances are the shards' own,
 * computed by the same function on the same values as on one server (postgres_fdw sets
 * extra_float_digits = 3, so they arrive bit-exact).
 *
 * The path is offered only for the exact shape (one partitioned table, every leaf a
 * postgres_fdw foreign table on a server whose `extensions` option names relvec, WHERE
 * clauses the shards evaluate as the coordinator would (shippable(): they are added to
 * every shard's statement, so a filtered LIMIT stays full), no row security, no grouping,
 * aggregates, window functions, DISTINCT, locking or set operations, ORDER BY one relvec distance between a column and an expression without
 * columns, ascending, and a LIMIT); anything else keeps PostgreSQL's own plan, which is
 * correct, only slower. `relvec.shard_pushdown = off` turns it off. The hook exists once
 * relvec's library is loaded in the backend (any relvec function or a literal of the type
 * loads it; `session_preload_libraries` guarantees it).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planner.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "shard.h"

void		rvshard_init(void);

/* postgres_fdw's default costs of a round trip and of a row (its fdw_startup_cost, fdw_tuple_cost) */
#define SHARD_STARTUP_COST	100.0
#define SHARD_TUPLE_COST	0.01

static bool shard_pushdown = true;
static create_upper_paths_hook_type prev_upper_hook = NULL;

/*
 * custom_private of the path and the plan: a list of
 *   0  Integer: the partitioned table's range table index (planning only: setrefs does not
 *      renumber custom_private)
 *   1  Integer: the vector column's attribute number in the partitioned table
 *   2  String:  the operator's name ("<=>")
 *   3  Integer: 1 when the column is the operator's left argument
 *   4  list of Integer: the attribute numbers the statement reads (the scan tuple's columns,
 *      then the distance)
 *   5  list of one Oid: the partitioned table
 *   6  list of Expr: the WHERE clauses, shipped to every shard (Vars of the table, Consts,
 *      PARAM_EXTERN Params; see shippable())
 *   7  list of Integer: the paramids of those Params, in the order of custom_exprs 3..
 *   8  list of one Oid: the role whose user mappings reach the shards (the table's RTE
 *      checkAsUser, a view's owner; InvalidOid: the current user), as postgres_fdw does
 *   9  list of Oid: the leaf partitions the planner kept (partition pruning by the WHERE
 *      clauses); the others are not asked
 * custom_exprs of the plan: the query expression, the LIMIT count, the OFFSET (or NULL),
 * then the Params of the WHERE clauses (sent as $3, $4, ...).
 */
#define PRIV_RTI	0
#define PRIV_VATT	1
#define PRIV_OP		2
#define PRIV_LEFT	3
#define PRIV_ATTS	4
#define PRIV_REL	5
#define PRIV_QUALS	6
#define PRIV_PARAMS	7
#define PRIV_USER	8
#define PRIV_LIVE	9

static CustomPathMethods path_methods;
static CustomScanMethods scan_methods;
static CustomExecMethods exec_methods;

/* One row returned by a shard: its distance, then the columns of the scan tuple. */
typedef struct ShardRow
{
	double		dist;
	bool		dist_null;
	int			seq;			/* order of arrival: server, then the server's order */
	Datum	   *values;
	bool	   *nulls;
} ShardRow;

/* One shard server and the statement it gets. */
typedef struct ShardServer
{
	Oid			serverid;
	char	   *name;
	char	   *sql;
	PGconn	   *conn;
} ShardServer;

typedef struct ShardScanState
{
	CustomScanState css;
	ExprState  *query;
	ExprState  *count;
	ExprState  *offset;
	int			nparams;		/* Params of the WHERE clauses: $3 .. */
	ExprState **params;
	Oid		   *paramtypes;
	int			nservers;
	ShardServer *servers;
	int			natts;			/* columns of the scan tuple before the distance */
	Oid		   *typinput;
	Oid		   *typioparam;
	int32	   *typmod;
	char	   *relname;
	Oid			userid;			/* whose user mappings (PRIV_USER) */
	MemoryContext cxt;			/* the answer's memory, reset by a rescan */
	/* the answer */
	bool		done;
	ShardRow   *rows;
	int64		nrows;
	int64		cap;			/* room in rows */
	int64		next;
	int64		end;
	int64		received;		/* rows the shards sent, for EXPLAIN ANALYZE */
} ShardScanState;

/* ---------------------------------------------------------------------------------------
 * Planning
 * --------------------------------------------------------------------------------------- */

/* Whether an expression can be evaluated once, before the scan: no columns, not volatile. */
static bool
is_scan_constant(Node *n)
{
	return n != NULL && !contain_vars_of_level(n, 0) && !contain_volatile_functions(n);
}

/*
 * Whether a type is relvec's embedding (a member of the relvec extension): an operator of
 * the same name on another extension's type is not ours to ship. Its schema in *nsp.
 */
static bool
is_relvec_type(Oid type, Oid *nsp)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	bool		ok;

	if (!HeapTupleIsValid(tup))
		return false;
	*nsp = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	ok = strcmp(NameStr(((Form_pg_type) GETSTRUCT(tup))->typname), "embedding") == 0;
	ReleaseSysCache(tup);
	return ok && OidIsValid(type) &&
		getExtensionOfObject(TypeRelationId, type) == get_extension_oid("relvec", true);
}

/*
 * The relvec distance operator of an ORDER BY expression, and which argument is the
 * column: returns the operator's name, or NULL when the expression is not a relvec
 * distance between a column of rti and a column-free expression.
 */
static const char *
distance_operator(Node *expr, Index rti, Var **column, Node **query, bool *left)
{
	OpExpr	   *op;
	HeapTuple	tup;
	Form_pg_operator form;
	const char *name = NULL;
	Node	   *a;
	Node	   *b;
	Oid			nsp;

	if (!IsA(expr, OpExpr) || list_length(((OpExpr *) expr)->args) != 2)
		return NULL;
	op = (OpExpr *) expr;
	a = linitial(op->args);
	b = lsecond(op->args);
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(op->opno));
	if (!HeapTupleIsValid(tup))
		return NULL;
	form = (Form_pg_operator) GETSTRUCT(tup);
	if (form->oprleft == form->oprright && is_relvec_type(form->oprleft, &nsp) &&
		form->oprnamespace == nsp &&
		(strcmp(NameStr(form->oprname), "<->") == 0 || strcmp(NameStr(form->oprname), "<#>") == 0 ||
		 strcmp(NameStr(form->oprname), "<=>") == 0 || strcmp(NameStr(form->oprname), "<+>") == 0))
		name = pstrdup(NameStr(form->oprname));
	ReleaseSysCache(tup);
	if (name == NULL)
		return NULL;
	if (IsA(a, Var) && ((Var *) a)->varno == (int) rti && ((Var *) a)->varlevelsup == 0 &&
		((Var *) a)->varattno > 0 && is_scan_constant(b))
	{
		*column = (Var *) a;
		*query = b;
		*left = true;
		return name;
	}
	if (IsA(b, Var) && ((Var *) b)->varno == (int) rti && ((Var *) b)->varlevelsup == 0 &&
		((Var *) b)->varattno > 0 && is_scan_constant(a))
	{
		*column = (Var *) b;
		*query = a;
		*left = false;
		return name;
	}
	return NULL;
}

/* What the statement reads of the table (collect_columns). */
typedef struct ColumnWalk
{
	Index		rti;
	Node	   *distance;		/* the ORDER BY distance: the shards return its value */
	List	   *atts;			/* attribute numbers, in order of first use */
	bool		ok;				/* false: a column this path cannot ship (system, whole row, outer) */
} ColumnWalk;

static bool
collect_columns(Node *node, ColumnWalk *w)
{
	if (node == NULL)
		return false;
	if (equal(node, w->distance))
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno != (int) w->rti || v->varlevelsup != 0 || v->varattno <= 0)
			w->ok = false;
		else if (!list_member_int(w->atts, v->varattno))
			w->atts = lappend_int(w->atts, v->varattno);
		return false;
	}
	if (IsA(node, PlaceHolderVar) || IsA(node, Aggref) || IsA(node, WindowFunc))
	{
		w->ok = false;
		return false;
	}
	return expression_tree_walker(node, collect_columns, (void *) w);
}

/* ---------------------------------------------------------------------------------------
 * WHERE clauses: which ones every shard can evaluate as the coordinator would, and their SQL
 * --------------------------------------------------------------------------------------- */

/*
 * An object the shards have as the coordinator has it: built into PostgreSQL, or a member
 * of relvec (the servers declare relvec; a function of the coordinator's own in the same
 * schema is not shipped).
 */
static bool
is_shared_object(Oid classid, Oid oid)
{
	return oid < FirstNormalObjectId ||
		getExtensionOfObject(classid, oid) == get_extension_oid("relvec", true);
}

static bool
shippable_type(Oid type)
{
	return is_shared_object(TypeRelationId, type);
}

/* Only the default collation (or none): the shards' columns and defaults are the coordinator's. */
static bool
shippable_collation(Oid coll)
{
	return coll == InvalidOid || coll == DEFAULT_COLLATION_OID;
}

typedef struct ShipWalk
{
	Index		rti;
	List	   *paramids;		/* PARAM_EXTERN ids met, in order */
	List	   *params;			/* and their Param nodes */
} ShipWalk;

/*
 * Whether a WHERE clause can run on the shards: columns of the table, constants and
 * statement parameters, combined by operators and functions built into PostgreSQL or
 * relvec's own, immutable, under the default collation; AND, OR, NOT, IS [NOT] NULL,
 * op ANY/ALL (array), binary-compatible relabels. Anything else keeps PostgreSQL's plan.
 */
static bool shippable_walker(Node *node, void *w);

static bool
shippable(Node *node, ShipWalk *w)
{
	if (node == NULL)
		return true;
	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *v = (Var *) node;

				return v->varno == (int) w->rti && v->varlevelsup == 0 && v->varattno > 0 &&
					shippable_type(v->vartype) && shippable_collation(v->varcollid);
			}
		case T_Const:
			return shippable_type(((Const *) node)->consttype);
		case T_Param:
			{
				Param	   *p = (Param *) node;

				if (p->paramkind != PARAM_EXTERN || !shippable_type(p->paramtype))
					return false;
				if (!list_member_int(w->paramids, p->paramid))
				{
					w->paramids = lappend_int(w->paramids, p->paramid);
					w->params = lappend(w->params, p);
				}
				return true;
			}
		case T_OpExpr:
		case T_ScalarArrayOpExpr:
			{
				Oid			opno = IsA(node, OpExpr) ? ((OpExpr *) node)->opno : ((ScalarArrayOpExpr *) node)->opno;
				Oid			coll = IsA(node, OpExpr) ? ((OpExpr *) node)->inputcollid : ((ScalarArrayOpExpr *) node)->inputcollid;
				HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
				bool		ok;

				if (!HeapTupleIsValid(tup))
					return false;
				ok = is_shared_object(OperatorRelationId, opno) &&
					func_volatile(((Form_pg_operator) GETSTRUCT(tup))->oprcode) == PROVOLATILE_IMMUTABLE;
				ReleaseSysCache(tup);
				return ok && shippable_collation(coll) &&
					(!IsA(node, OpExpr) || list_length(((OpExpr *) node)->args) == 2) &&
					expression_tree_walker(node, shippable_walker, w) == false;
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				return is_shared_object(ProcedureRelationId, f->funcid) &&
					func_volatile(f->funcid) == PROVOLATILE_IMMUTABLE && !f->funcvariadic &&
					shippable_collation(f->inputcollid) && shippable_type(f->funcresulttype) &&
					expression_tree_walker(node, shippable_walker, w) == false;
			}
		case T_BoolExpr:
		case T_NullTest:
		case T_List:
			if (IsA(node, NullTest) && ((NullTest *) node)->argisrow)
				return false;
			return expression_tree_walker(node, shippable_walker, w) == false;
		case T_RelabelType:
			return shippable_type(((RelabelType *) node)->resulttype) &&
				shippable_collation(((RelabelType *) node)->resultcollid) &&
				shippable((Node *) ((RelabelType *) node)->arg, w);
		default:
			return false;
	}
}

/* expression_tree_walker's form: true stops the walk (here: not shippable). */
static bool
shippable_walker(Node *node, void *w)
{
	return !shippable(node, (ShipWalk *) w);
}

/* The SQL of a shippable clause on one partition (columns by their remote names). */
typedef struct Deparse
{
	StringInfo	buf;
	Oid			parent;
	Oid			part;
	List	   *paramids;		/* paramid of $3, $4, ... */
} Deparse;

static void deparse(Node *node, Deparse *d);

/* A type's name as the shards resolve it whatever their search_path. */
static char *
qualified_type(Oid type, int32 typmod)
{
	return format_type_extended(type, typmod,
								FORMAT_TYPE_FORCE_QUALIFY | (typmod >= 0 ? FORMAT_TYPE_TYPEMOD_GIVEN : 0));
}

/* The position of a paramid in the list (it is there: shippable() put it). */
static int
param_index(List *ids, int paramid)
{
	ListCell   *lc;

	foreach(lc, ids)
		if (lfirst_int(lc) == paramid)
			return foreach_current_index(lc);
	elog(ERROR, "relvec shard scan: parameter $%d was not collected", paramid);
}

static void
deparse_operator(Oid opno, StringInfo buf)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator form;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	form = (Form_pg_operator) GETSTRUCT(tup);
	appendStringInfo(buf, "OPERATOR(%s.%s)", quote_identifier(get_namespace_name(form->oprnamespace)),
					 NameStr(form->oprname));
	ReleaseSysCache(tup);
}

static void
deparse_args(List *args, const char *sep, Deparse *d)
{
	ListCell   *lc;

	foreach(lc, args)
	{
		if (lc != list_head(args))
			appendStringInfoString(d->buf, sep);
		deparse(lfirst(lc), d);
	}
}

/* "(left OPERATOR(schema.op) right)", or with quantifier "(left OPERATOR(...) ANY (right))". */
static void
deparse_binary(Node *left, Oid opno, const char *quantifier, Node *right, Deparse *d)
{
	appendStringInfoChar(d->buf, '(');
	deparse(left, d);
	appendStringInfoChar(d->buf, ' ');
	deparse_operator(opno, d->buf);
	appendStringInfo(d->buf, quantifier ? " %s (" : " ", quantifier ? quantifier : "");
	deparse(right, d);
	appendStringInfoString(d->buf, quantifier ? "))" : ")");
}

static void
deparse(Node *node, Deparse *d)
{
	StringInfo	buf = d->buf;

	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *v = (Var *) node;
				AttrNumber	pa = get_attnum(d->part, get_attname(d->parent, v->varattno, false));

				appendStringInfoString(buf, rvshard_remote_column(d->part, pa));
				break;
			}
		case T_Const:
			{
				Const	   *c = (Const *) node;
				char	   *type = qualified_type(c->consttype, c->consttypmod);

				if (c->constisnull)
					appendStringInfo(buf, "NULL::%s", type);
				else
				{
					Oid			out;
					bool		varlena;

					getTypeOutputInfo(c->consttype, &out, &varlena);
					appendStringInfo(buf, "%s::%s",
									 quote_literal_cstr(OidOutputFunctionCall(out, c->constvalue)), type);
				}
				break;
			}
		case T_Param:
			{
				Param	   *p = (Param *) node;

				appendStringInfo(buf, "$%d::%s", 3 + param_index(d->paramids, p->paramid),
								 qualified_type(p->paramtype, p->paramtypmod));
				break;
			}
		case T_OpExpr:
			deparse_binary(linitial(((OpExpr *) node)->args), ((OpExpr *) node)->opno, NULL,
						   lsecond(((OpExpr *) node)->args), d);
			break;
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;

				deparse_binary(linitial(op->args), op->opno, op->useOr ? "ANY" : "ALL", lsecond(op->args), d);
				break;
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				appendStringInfo(buf, "(%s.%s(", quote_identifier(get_namespace_name(get_func_namespace(f->funcid))),
								 quote_identifier(get_func_name(f->funcid)));
				deparse_args(f->args, ", ", d);
				appendStringInfo(buf, ")::%s)", qualified_type(f->funcresulttype, -1));
				break;
			}
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;

				appendStringInfoChar(buf, '(');
				if (b->boolop == NOT_EXPR)
				{
					appendStringInfoString(buf, "NOT ");
					deparse(linitial(b->args), d);
				}
				else
					deparse_args(b->args, b->boolop == AND_EXPR ? " AND " : " OR ", d);
				appendStringInfoChar(buf, ')');
				break;
			}
		case T_NullTest:
			{
				NullTest   *n = (NullTest *) node;

				appendStringInfoChar(buf, '(');
				deparse((Node *) n->arg, d);
				appendStringInfoString(buf, n->nulltesttype == IS_NULL ? " IS NULL)" : " IS NOT NULL)");
				break;
			}
		case T_RelabelType:
			{
				RelabelType *r = (RelabelType *) node;

				appendStringInfoChar(buf, '(');
				deparse((Node *) r->arg, d);
				appendStringInfo(buf, ")::%s", qualified_type(r->resulttype, r->resulttypmod));
				break;
			}
		default:
			elog(ERROR, "relvec shard scan: unexpected node %d in a shipped clause", (int) nodeTag(node));
	}
}

static void
shard_upper_paths(PlannerInfo *root, UpperRelationKind stage, RelOptInfo *input_rel,
				  RelOptInfo *output_rel, void *extra)
{
	Query	   *parse = root->parse;
	FinalPathExtraData *fextra = (FinalPathExtraData *) extra;
	RangeTblRef *ref;
	RangeTblEntry *rte;
	RelOptInfo *baserel;
	SortGroupClause *sgc;
	TargetEntry *tle;
	Var		   *column;
	Node	   *query;
	bool		left;
	const char *opname;
	ColumnWalk	ctx;
	ShipWalk	ship;
	List	   *live = NIL;
	List	   *quals = NIL;
	ListCell   *lc;
	List	   *atts;
	List	   *parts;
	CustomPath *path;
	double		rows;

	if (prev_upper_hook)
		prev_upper_hook(root, stage, input_rel, output_rel, extra);
	if (stage != UPPERREL_FINAL || !shard_pushdown)
		return;
	/* the statement's shape */
	if (parse->commandType != CMD_SELECT || parse->setOperations != NULL ||
		parse->hasAggs || parse->hasWindowFuncs || parse->hasTargetSRFs ||
		parse->groupClause != NIL || parse->groupingSets != NIL || parse->havingQual != NULL ||
		parse->distinctClause != NIL || parse->rowMarks != NIL || parse->hasForUpdate ||
		parse->limitCount == NULL || parse->limitOption != LIMIT_OPTION_COUNT ||
		list_length(parse->sortClause) != 1 || fextra == NULL || !fextra->limit_needed ||
		root->hasRecursion || parse->cteList != NIL)
		return;
	if (list_length(parse->jointree->fromlist) != 1 ||
		!IsA(linitial(parse->jointree->fromlist), RangeTblRef))
		return;
	ref = linitial_node(RangeTblRef, parse->jointree->fromlist);
	rte = planner_rt_fetch(ref->rtindex, root);
	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_PARTITIONED_TABLE || !rte->inh ||
		rte->securityQuals != NIL || rte->tablesample != NULL)
		return;
	baserel = root->simple_rel_array[ref->rtindex];
	if (baserel == NULL)
		return;
	/* the WHERE clauses: every one must be one the shards can evaluate */
	ship.rti = ref->rtindex;
	ship.paramids = NIL;
	ship.params = NIL;
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (ri->pseudoconstant || !shippable((Node *) ri->clause, &ship))
			return;
		quals = lappend(quals, ri->clause);
	}
	/* ORDER BY one relvec distance, ascending, nulls last */
	sgc = linitial_node(SortGroupClause, parse->sortClause);
	tle = get_sortgroupclause_tle(sgc, root->processed_tlist);
	if (sgc->sortop != Float8LessOperator || sgc->nulls_first)
		return;
	opname = distance_operator((Node *) tle->expr, ref->rtindex, &column, &query, &left);
	if (opname == NULL ||
		!is_scan_constant(parse->limitCount) ||
		(parse->limitOffset != NULL && !is_scan_constant(parse->limitOffset)))
		return;
	/*
	 * The columns the statement reads, plain user columns of the table only; the vector
	 * only where it is read outside the distance, which the shards return themselves.
	 */
	ctx.rti = ref->rtindex;
	ctx.distance = (Node *) tle->expr;
	ctx.atts = NIL;
	ctx.ok = true;
	collect_columns((Node *) root->upper_targets[UPPERREL_FINAL]->exprs, &ctx);
	if (!ctx.ok)
		return;
	atts = ctx.atts;
	parts = rvshard_parts(rte->relid, true);
	if (parts == NIL)
		return;
	/* the leaves that partition pruning kept: the others are not asked */
	foreach(lc, root->append_rel_list)
	{
		AppendRelInfo *ai = lfirst_node(AppendRelInfo, lc);
		RelOptInfo *child = (int) ai->child_relid < root->simple_rel_array_size ?
			root->simple_rel_array[ai->child_relid] : NULL;
		RangeTblEntry *crte = planner_rt_fetch(ai->child_relid, root);

		if (crte->rtekind == RTE_RELATION && crte->relkind == RELKIND_FOREIGN_TABLE &&
			child != NULL && !IS_DUMMY_REL(child))
			live = lappend_oid(live, crte->relid);
	}

	rows = fextra->count_est > 0 ? (double) fextra->count_est : 10.0;
	path = makeNode(CustomPath);
	path->path.pathtype = T_CustomScan;
	path->path.parent = output_rel;
	path->path.pathtarget = root->upper_targets[UPPERREL_FINAL];
	path->path.param_info = NULL;
	path->path.parallel_aware = false;
	path->path.parallel_safe = false;
	path->path.parallel_workers = 0;
	path->path.rows = rows;
	/* one round trip to every shard at once, then a sort of k rows per partition */
	path->path.startup_cost = SHARD_STARTUP_COST;
	path->path.total_cost = SHARD_STARTUP_COST +
		(cpu_tuple_cost + SHARD_TUPLE_COST) * rows * list_length(parts);
	path->path.pathkeys = root->sort_pathkeys;
	path->flags = 0;
	path->custom_paths = NIL;
	path->custom_private = list_make5(makeInteger(ref->rtindex), makeInteger(column->varattno),
									  makeString(pstrdup(opname)), makeInteger(left ? 1 : 0),
									  atts);
	path->custom_private = lappend(path->custom_private, list_make1_oid(rte->relid));
	path->custom_private = lappend(path->custom_private, quals);
	path->custom_private = lappend(path->custom_private, ship.paramids);
	path->custom_private = lappend(path->custom_private, list_make1_oid(rte->checkAsUser));
	path->custom_private = lappend(path->custom_private, live);
	/* the Params of the WHERE clauses go to custom_exprs at plan time (shard_plan) */
	path->custom_private = lappend(path->custom_private, ship.params);
	path->methods = &path_methods;
	add_path(output_rel, (Path *) path);
}

static Plan *
shard_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist,
		   List *clauses, List *custom_plans)
{
	Query	   *parse = root->parse;
	CustomScan *cscan = makeNode(CustomScan);
	Index		rti = intVal(list_nth(best_path->custom_private, PRIV_RTI));
	List	   *atts = list_nth(best_path->custom_private, PRIV_ATTS);
	SortGroupClause *sgc = linitial_node(SortGroupClause, parse->sortClause);
	TargetEntry *order = get_sortgroupclause_tle(sgc, root->processed_tlist);
	Var		   *column;
	Node	   *query;
	bool		left;
	List	   *scan_tlist = NIL;
	ListCell   *lc;
	AttrNumber	resno = 1;

	Assert(clauses == NIL);
	(void) clauses;
	(void) rel;
	(void) custom_plans;
	distance_operator((Node *) order->expr, rti, &column, &query, &left);
	foreach(lc, atts)
	{
		AttrNumber	att = (AttrNumber) lfirst_int(lc);
		Oid			type;
		int32		typmod;
		Oid			collation;

		get_atttypetypmodcoll(planner_rt_fetch(rti, root)->relid, att, &type, &typmod, &collation);
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) makeVar(rti, att, type, typmod, collation, 0),
											 resno++, NULL, false));
	}
	scan_tlist = lappend(scan_tlist, makeTargetEntry((Expr *) copyObject(order->expr), resno, NULL, false));

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = NIL;
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_plans = NIL;
	cscan->custom_exprs = list_make3(copyObject(query), copyObject(parse->limitCount),
									 parse->limitOffset ? copyObject(parse->limitOffset) : NULL);
	cscan->custom_exprs = list_concat(cscan->custom_exprs, copyObject(llast(best_path->custom_private)));
	cscan->custom_private = list_truncate(list_copy(best_path->custom_private), PRIV_LIVE + 1);
	cscan->custom_scan_tlist = scan_tlist;
	cscan->methods = &scan_methods;
	return &cscan->scan.plan;
}

static Node *
shard_create_state(CustomScan *cscan)
{
	ShardScanState *s = (ShardScanState *) newNode(sizeof(ShardScanState), T_CustomScanState);

	(void) cscan;
	s->css.methods = &exec_methods;
	return (Node *) s;
}

/* ---------------------------------------------------------------------------------------
 * Execution
 * --------------------------------------------------------------------------------------- */

static void
shard_begin(CustomScanState *node, EState *estate, int eflags)
{
	ShardScanState *s = (ShardScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *priv = cscan->custom_private;
	AttrNumber	vatt = intVal(list_nth(priv, PRIV_VATT));
	const char *op = strVal(list_nth(priv, PRIV_OP));
	bool		left = intVal(list_nth(priv, PRIV_LEFT)) != 0;
	List	   *atts = list_nth(priv, PRIV_ATTS);
	Oid			parent = linitial_oid((List *) list_nth(priv, PRIV_REL));
	List	   *quals = list_nth(priv, PRIV_QUALS);
	List	   *paramids = list_nth(priv, PRIV_PARAMS);
	int			nest;
	const char *schema = rvshard_relvec_schema();
	List	   *all = rvshard_parts(parent, false);
	List	   *live = list_nth(priv, PRIV_LIVE);
	List	   *parts = NIL;
	ListCell   *lc;
	int			i;

	(void) eflags;
	s->query = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	s->count = ExecInitExpr(lsecond(cscan->custom_exprs), &node->ss.ps);
	s->offset = lthird(cscan->custom_exprs) ? ExecInitExpr(lthird(cscan->custom_exprs), &node->ss.ps) : NULL;
	s->relname = get_rel_name(parent);
	s->userid = linitial_oid((List *) list_nth(priv, PRIV_USER));
	s->cxt = AllocSetContextCreate(estate->es_query_cxt, "relvec shard scan", ALLOCSET_DEFAULT_SIZES);
	s->nparams = list_length(cscan->custom_exprs) - 3;
	s->params = palloc(sizeof(ExprState *) * Max(s->nparams, 1));
	s->paramtypes = palloc(sizeof(Oid) * Max(s->nparams, 1));
	for (i = 0; i < s->nparams; i++)
	{
		Expr	   *e = list_nth(cscan->custom_exprs, 3 + i);

		s->params[i] = ExecInitExpr(e, &node->ss.ps);
		s->paramtypes[i] = exprType((Node *) e);
	}

	/* the scan tuple's columns: their input functions */
	s->natts = list_length(atts);
	s->typinput = palloc(sizeof(Oid) * (s->natts + 1));
	s->typioparam = palloc(sizeof(Oid) * (s->natts + 1));
	s->typmod = palloc(sizeof(int32) * (s->natts + 1));
	i = 0;
	foreach(lc, atts)
	{
		Form_pg_attribute a = TupleDescAttr(node->ss.ss_ScanTupleSlot->tts_tupleDescriptor, i);

		getTypeInputInfo(a->atttypid, &s->typinput[i], &s->typioparam[i]);
		s->typmod[i] = a->atttypmod;
		i++;
	}

	foreach(lc, all)
		if (list_member_oid(live, ((RvShardPart *) lfirst(lc))->relid))
			parts = lappend(parts, lfirst(lc));
	/* one statement per shard server: a UNION ALL of one top-k per partition on it */
	s->servers = palloc0(sizeof(ShardServer) * list_length(parts));
	s->nservers = 0;
	nest = rvshard_transmission_modes();	/* constants of the WHERE clauses as text */
	foreach(lc, parts)
	{
		RvShardPart *p = lfirst(lc);
		ShardServer *srv = NULL;
		StringInfoData sel;
		char	   *vcol;
		char	   *dist;
		ListCell   *ac;

		for (i = 0; i < s->nservers; i++)
			if (s->servers[i].serverid == p->serverid)
				srv = &s->servers[i];
		if (srv == NULL)
		{
			srv = &s->servers[s->nservers++];
			srv->serverid = p->serverid;
			srv->name = p->server;
			srv->sql = NULL;
		}
		/* the parent's columns by name: a partition may order or number them otherwise */
		vcol = rvshard_remote_column(p->relid, get_attnum(p->relid, get_attname(parent, vatt, false)));
		if (left)
			dist = psprintf("(%s OPERATOR(%s.%s) $1::%s.embedding)", vcol, schema, op, schema);
		else
			dist = psprintf("($1::%s.embedding OPERATOR(%s.%s) %s)", schema, schema, op, vcol);
		initStringInfo(&sel);
		appendStringInfoString(&sel, "(SELECT ");
		foreach(ac, atts)
		{
			AttrNumber	pa = get_attnum(p->relid, get_attname(parent, (AttrNumber) lfirst_int(ac), false));

			appendStringInfo(&sel, "%s, ", rvshard_remote_column(p->relid, pa));
		}
		appendStringInfo(&sel, "%s FROM %s", dist, p->remote);
		foreach(ac, quals)
		{
			Deparse		d = {&sel, parent, p->relid, paramids};

			appendStringInfoString(&sel, ac == list_head(quals) ? " WHERE " : " AND ");
			deparse(lfirst(ac), &d);
		}
		appendStringInfo(&sel, " ORDER BY %s LIMIT $2::pg_catalog.int8)", dist);
		srv->sql = srv->sql ? psprintf("%s UNION ALL %s", srv->sql, sel.data) : sel.data;
	}
	rvshard_reset_modes(nest);
}

/* PostgreSQL's float8 order (NaN after every number), NULL distances last, then arrival. */
static int
row_cmp(const void *pa, const void *pb)
{
	const ShardRow *a = pa;
	const ShardRow *b = pb;

	if (a->dist_null != b->dist_null)
		return a->dist_null ? 1 : -1;
	if (!a->dist_null)
	{
		bool		an = isnan(a->dist);
		bool		bn = isnan(b->dist);

		if (an != bn)
			return an ? 1 : -1;
		if (!an && a->dist != b->dist)
			return a->dist < b->dist ? -1 : 1;
	}
	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

/* Evaluate a LIMIT or OFFSET: NULL (no limit / no offset) as -1, a negative one refused. */
static int64
eval_bound(ExprState *state, ExprContext *econtext, bool is_offset)
{
	bool		isnull;
	Datum		d;
	int64		v;

	if (state == NULL)
		return -1;
	d = ExecEvalExprSwitchContext(state, econtext, &isnull);
	if (isnull)
		return -1;
	v = DatumGetInt64(d);
	if (v < 0)
		ereport(ERROR,
				(errcode(is_offset ? ERRCODE_INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE
						 : ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE),
				 errmsg(is_offset ? "OFFSET must not be negative" : "LIMIT must not be negative")));
	return v;
}

/* Convert a shard's rows (text) into s->rows (room for them is there). */
static void
read_rows(ShardScanState *s, PGresult *res)
{
	int			n = PQntuples(res);
	int			r;

	for (r = 0; r < n; r++)
	{
		ShardRow   *row = &s->rows[s->nrows];
		int			c;

		row->values = palloc(sizeof(Datum) * (s->natts + 1));
		row->nulls = palloc(sizeof(bool) * (s->natts + 1));
		for (c = 0; c < s->natts; c++)
		{
			row->nulls[c] = PQgetisnull(res, r, c);
			row->values[c] = row->nulls[c] ? (Datum) 0 :
				OidInputFunctionCall(s->typinput[c], PQgetvalue(res, r, c),
									 s->typioparam[c], s->typmod[c]);
		}
		row->dist_null = PQgetisnull(res, r, s->natts);
		row->dist = row->dist_null ? 0 :
			DatumGetFloat8(DirectFunctionCall1(float8in,
											   CStringGetDatum(PQgetvalue(res, r, s->natts))));
		row->values[s->natts] = Float8GetDatum(row->dist);
		row->nulls[s->natts] = row->dist_null;
		row->seq = (int) s->nrows;
		s->nrows++;
	}
}

/* Wait for one shard server's rows and add them to s->rows. */
static void
gather(ShardScanState *s, ShardServer *srv)
{
	PGresult   *res = rvshard_wait(srv->conn, srv->name, srv->sql);
	int			n = PQntuples(res);
	int			nf = PQnfields(res);

	if (nf != s->natts + 1)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("shard \"%s\" returned %d columns where %d were expected",
						srv->name, nf, s->natts + 1)));
	}
	if (s->nrows + n > s->cap)
	{
		s->cap = Max(s->cap * 2, s->nrows + n);
		s->rows = s->rows ? repalloc_huge(s->rows, sizeof(ShardRow) * s->cap)
			: MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ShardRow) * s->cap);
	}
	PG_TRY();
	{
		read_rows(s, res);
	}
	PG_FINALLY();
	{
		PQclear(res);
	}
	PG_END_TRY();
	s->received += n;
}

/* Ask every shard at once, then gather, sort and keep offset .. offset + count. */
static void
shard_fetch(ShardScanState *s)
{
	ExprContext *econtext = s->css.ss.ps.ps_ExprContext;
	bool		isnull;
	Datum		q;
	int64		count;
	int64		offset;
	int64		want;
	const char **params = palloc(sizeof(char *) * (2 + s->nparams));
	Datum	   *pvalues = palloc(sizeof(Datum) * Max(s->nparams, 1));
	bool	   *pnulls = palloc(sizeof(bool) * Max(s->nparams, 1));
	char		limit[32];
	int			nest;
	int			i;

	q = ExecEvalExprSwitchContext(s->query, econtext, &isnull);
	count = eval_bound(s->count, econtext, false);
	offset = eval_bound(s->offset, econtext, true);
	if (offset < 0)
		offset = 0;
	if (count < 0)
		want = -1;
	else if (count > PG_INT64_MAX - offset)
		want = -1;
	else
		want = count + offset;
	if (want >= 0)
	{
		snprintf(limit, sizeof(limit), INT64_FORMAT, want);
		params[1] = limit;
	}
	else
		params[1] = NULL;
	/* every expression first, under the session's settings ... */
	for (i = 0; i < s->nparams; i++)
		pvalues[i] = ExecEvalExprSwitchContext(s->params[i], econtext, &pnulls[i]);
	/* ... then values to text and back in the fixed form the shards read and print */
	nest = rvshard_transmission_modes();
	if (isnull)
		params[0] = NULL;
	else
	{
		Oid			out;
		bool		varlena;

		getTypeOutputInfo(exprType((Node *) s->query->expr), &out, &varlena);
		params[0] = OidOutputFunctionCall(out, q);
	}
	for (i = 0; i < s->nparams; i++)
	{
		Oid			out;
		bool		varlena;

		getTypeOutputInfo(s->paramtypes[i], &out, &varlena);
		params[2 + i] = pnulls[i] ? NULL : OidOutputFunctionCall(out, pvalues[i]);
	}
	for (i = 0; i < s->nservers; i++)
	{
		s->servers[i].conn = rvshard_connect(s->servers[i].serverid, s->userid);
		rvshard_send(s->servers[i].conn, s->servers[i].name, s->servers[i].sql, 2 + s->nparams, params);
	}
	s->nrows = 0;
	s->cap = 0;
	s->rows = NULL;
	s->received = 0;
	for (i = 0; i < s->nservers; i++)
		gather(s, &s->servers[i]);
	rvshard_reset_modes(nest);
	if (s->nrows > 1)
		qsort(s->rows, s->nrows, sizeof(ShardRow), row_cmp);
	s->next = Min(offset, s->nrows);
	s->end = want < 0 ? s->nrows : Min(want, s->nrows);
	s->done = true;
}

static TupleTableSlot *
shard_next(ScanState *ss)
{
	ShardScanState *s = (ShardScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	ShardRow   *row;
	MemoryContext old;

	if (!s->done)
	{
		old = MemoryContextSwitchTo(s->cxt);
		shard_fetch(s);
		MemoryContextSwitchTo(old);
	}
	ExecClearTuple(slot);
	if (s->next >= s->end)
		return slot;
	row = &s->rows[s->next++];
	memcpy(slot->tts_values, row->values, sizeof(Datum) * (s->natts + 1));
	memcpy(slot->tts_isnull, row->nulls, sizeof(bool) * (s->natts + 1));
	return ExecStoreVirtualTuple(slot);
}

static bool
shard_recheck(ScanState *ss, TupleTableSlot *slot)
{
	(void) ss;
	(void) slot;
	return true;
}

static TupleTableSlot *
shard_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, shard_next, shard_recheck);
}

static void
shard_end(CustomScanState *node)
{
	(void) node;
}

static void
shard_rescan(CustomScanState *node)
{
	ShardScanState *s = (ShardScanState *) node;

	s->done = false;
	MemoryContextReset(s->cxt);	/* the previous answer */
	s->rows = NULL;
	s->nrows = s->cap = 0;
	s->next = s->end = 0;
}

static void
shard_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	ShardScanState *s = (ShardScanState *) node;
	StringInfoData names;
	int			i;

	(void) ancestors;
	ExplainPropertyText("Sharded Table", s->relname, es);
	initStringInfo(&names);
	for (i = 0; i < s->nservers; i++)
		appendStringInfo(&names, "%s%s", i ? ", " : "", s->servers[i].name);
	ExplainPropertyText("Shards", names.data, es);
	if (es->verbose)
		for (i = 0; i < s->nservers; i++)
			ExplainPropertyText(psprintf("Remote SQL on %s", s->servers[i].name), s->servers[i].sql, es);
	if (es->analyze && s->done)
		ExplainPropertyInteger("Rows From Shards", NULL, s->received, es);
}

void
rvshard_init(void)
{
	DefineCustomBoolVariable("relvec.shard_pushdown",
							 "Push ORDER BY embedding distance LIMIT k down to the shards of a sharded table.",
							 "A partitioned table whose leaf partitions are postgres_fdw foreign tables on servers that declare relvec: every shard runs its own top-k at once and returns distances, not vectors.",
							 &shard_pushdown, true, PGC_USERSET, 0, NULL, NULL, NULL);

	path_methods.CustomName = "RelvecShardScan";
	path_methods.PlanCustomPath = shard_plan;
	scan_methods.CustomName = "RelvecShardScan";
	scan_methods.CreateCustomScanState = shard_create_state;
	exec_methods.CustomName = "RelvecShardScan";
	exec_methods.BeginCustomScan = shard_begin;
	exec_methods.ExecCustomScan = shard_exec;
	exec_methods.EndCustomScan = shard_end;
	exec_methods.ReScanCustomScan = shard_rescan;
	exec_methods.ExplainCustomScan = shard_explain;
	RegisterCustomScanMethods(&scan_methods);

	prev_upper_hook = create_upper_paths_hook;
	create_upper_paths_hook = shard_upper_paths;
}
