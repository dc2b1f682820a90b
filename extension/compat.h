/*
 * compat.h
 *	  The one place where differences between PostgreSQL major versions are
 *	  papered over, so that the rest of mlops compiles unchanged on 14-17.
 */
#ifndef MLOPS_COMPAT_H
#define MLOPS_COMPAT_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
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

/* object_aclcheck() replaced the per-catalog pg_*_aclcheck() functions in 16. */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_namespace.h"
#define compat_namespace_aclcheck(nsp, role, mode) object_aclcheck(NamespaceRelationId, (nsp), (role), (mode))
#else
#define compat_namespace_aclcheck(nsp, role, mode) pg_namespace_aclcheck((nsp), (role), (mode))
#endif

#endif							/* MLOPS_COMPAT_H */
