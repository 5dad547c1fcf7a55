/*
 * compat.h — the one place for PostgreSQL version differences. Algorithms never test
 * PG_VERSION_NUM themselves; they use the names defined here.
 */
#ifndef RELVEC_PG_COMPAT_H
#define RELVEC_PG_COMPAT_H

#include "postgres.h"

#include "utils/guc.h"

#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

#endif							/* RELVEC_PG_COMPAT_H */
