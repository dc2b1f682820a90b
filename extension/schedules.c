/*
 * schedules.c
 *	  The C half of schedules: pg_cron called as the role that owns the
 *	  schedule.
 *
 *	  The schedule functions (schedules.sql) are SECURITY DEFINER, because
 *	  they write mlops.schedules; but a pg_cron job runs as the role that
 *	  created it, so the job must be created by the schedule's owner, not by
 *	  the extension's owner.  These helpers run pg_cron's own functions with
 *	  the invoking role as the current user, which is also what pg_cron's
 *	  checks see (a role may only unschedule its own jobs).  They are
 *	  executable by the extension's owner alone, so they only ever run inside
 *	  the schedule functions.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "compat.h"
#include "mlops.h"

/*
 * pg_cron must be installed in this database, and the role must be allowed
 * into its schema; otherwise say how to get there (SQLSTATE 55000).
 */
static void
require_pg_cron(Oid role)
{
	Oid			cron_schema;
	const char *rolname = GetUserNameFromId(role, false);

	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in database \"%s\"", get_database_name(MyDatabaseId)),
				 errdetail("mlops schedules run on pg_cron; everything else in mlops works without it."),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name = '%s', restart the "
						 "server, then CREATE EXTENSION pg_cron in this database.",
						 get_database_name(MyDatabaseId))));
	cron_schema = get_namespace_oid("cron", true);
	if (!OidIsValid(cron_schema) ||
		compat_namespace_aclcheck(cron_schema, role, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("role \"%s\" may not use pg_cron", rolname),
				 errdetail("A schedule is a pg_cron job owned by the role that schedules it, and pg_cron "
						   "lets only roles with USAGE on its schema \"cron\" create jobs."),
				 errhint("A superuser can allow it for every mlops writer: GRANT USAGE ON SCHEMA cron TO "
						 "mlops_writer; (or only for this role: GRANT USAGE ON SCHEMA cron TO %s;)",
						 quote_identifier(rolname))));
}

/* Run one pg_cron call (a query returning one value) as the invoking role. */
static Datum
cron_call(const char *sql, int nargs, Oid *argtypes, Datum *args, Oid result_type, bool *isnull)
{
	Datum		result;

	require_pg_cron(GetOuterUserId());
	query_row_as_invoker(sql, nargs, argtypes, args, false, 1, &result_type, &result, isnull);
	return result;
}

PG_FUNCTION_INFO_V1(mlops_cron_schedule);

/*
 * _cron_schedule(job_name text, cron text, command text) returns bigint:
 * cron.schedule() as the invoking role; pg_cron replaces that role's job
 * of the same name, if it has one.
 */
Datum
mlops_cron_schedule(PG_FUNCTION_ARGS)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];
	bool		isnull;
	Datum		job_id;

	for (int i = 0; i < 3; i++)
	{
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a pg_cron job needs a name, a schedule and a command")));
		args[i] = PG_GETARG_DATUM(i);
	}
	job_id = cron_call("SELECT cron.schedule($1, $2, $3)", 3, argtypes, args, INT8OID, &isnull);
	if (isnull)
		elog(ERROR, "cron.schedule returned no job id");
	PG_RETURN_DATUM(job_id);
}

PG_FUNCTION_INFO_V1(mlops_cron_unschedule);

/*
 * _cron_unschedule(job_id bigint) returns boolean: removes the invoking
 * role's pg_cron job if it still exists (false if it does not: after a
 * restore into another database, or removed by hand).
 */
Datum
mlops_cron_unschedule(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	bool		isnull;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	args[0] = PG_GETARG_DATUM(0);
	args[1] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	/* only a job that is there and the role's own: pg_cron raises for others */
	PG_RETURN_DATUM(cron_call("SELECT CASE WHEN EXISTS (SELECT FROM cron.job j WHERE j.jobid = $1 "
							  "AND j.username = $2) THEN cron.unschedule($1) ELSE false END",
							  2, argtypes, args, BOOLOID, &isnull));
}
