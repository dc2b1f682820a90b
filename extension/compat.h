/*
 * compat.h
 *	  The one place where differences between PostgreSQL major versions are
 *	  papered over, so that the rest of mlops compiles unchanged on 14-17.
 */
#ifndef MLOPS_COMPAT_H
#define MLOPS_COMPAT_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* initReadOnlyStringInfo() appeared in 17. */
#if PG_VERSION_NUM < 170000
static inline void
initReadOnlyStringInfo(StringInfo str, char *data, int len)
{
	str->data = data;
	str->len = len;
	str->maxlen = 0;
	str->cursor = 0;
}
#endif

#endif							/* MLOPS_COMPAT_H */
