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

/*
 * 17 moved a backend's local transaction id into PGPROC's vxid.  (The user
 * includes storage/proc.h, for MyProc.)
 */
#if PG_VERSION_NUM >= 170000
#define compat_my_lxid() (MyProc->vxid.lxid)
#else
#define compat_my_lxid() (MyProc->lxid)
#endif

/* pg_cryptohash_error() appeared in 15; 14's functions fail only for want of memory. */
#if PG_VERSION_NUM < 150000
#define pg_cryptohash_error(ctx) "out of memory"
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

/*
 * InitMaterializedSRF() is 16's name (and later 15.x's) for 15.0's
 * SetSingleFuncCall(); before 15 a materialising set-returning function set
 * up its tuplestore itself.
 */
#if PG_VERSION_NUM < 150000
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"
static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(desc);
	MemoryContextSwitchTo(old);
}
#elif PG_VERSION_NUM < 160000
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall((fcinfo), (flags))
#endif

/* 15.0's name of the flag; before 15 the function above copies the descriptor anyway */
#ifndef MAT_SRF_USE_EXPECTED_DESC
#ifdef SRF_SINGLE_USE_EXPECTED
#define MAT_SRF_USE_EXPECTED_DESC SRF_SINGLE_USE_EXPECTED
#else
#define MAT_SRF_USE_EXPECTED_DESC 0x01
#endif
#endif

#endif							/* MLOPS_COMPAT_H */
