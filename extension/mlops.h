/*
 * mlops.h
 *	  Declarations shared between the C files of the mlops extension.
 */
#ifndef MLOPS_H
#define MLOPS_H

#include "postgres.h"

#define MLOPS_VERSION "0.6.0"

/* GUCs, defined in mlops.c, model_cache.c and batch.c */
extern int	mlops_max_artifact_kb;
extern int	mlops_model_cache_kb;
extern int	mlops_batch_chunk_rows;
extern int	mlops_train_nthread;	/* training.c */
extern int	mlops_train_memory_kb;

/* model_cache.c */
struct Model;
extern uint64 model_cache_epoch;
extern const struct Model *model_cache_find_version(int64 version_id, const uint8 *checksum);
extern const struct Model *model_cache_add_version(const bytea *compiled, int64 version_id,
												   const uint8 *checksum);
extern const struct Model *model_cache_get_compiled(const bytea *compiled);
extern bool model_same_bytes(const struct Model *m, const char *data, Size len);
extern void model_cache_stats(int64 *entries, int64 *bytes, int64 *hits, int64 *misses,
							  int64 *evictions);
extern void model_cache_reset(void);
extern void model_cache_size_changed(int newval, void *extra);

/* drift.c: its settings, defined by drift_init() from _PG_init() */
extern int	mlops_drift_baseline_values;
extern int	mlops_drift_max_categories;
extern void drift_init(void);

/* drift.c: a small index of strings (category -> position), open addressing */
typedef struct StrIndex
{
	int			n;				/* strings held */
	int			cap;			/* slots in names/lens */
	char	  **names;
	int		   *lens;
	int			nslots;			/* power of 2, > 2 * n */
	int		   *slots;			/* -1 empty, else index into names */
	MemoryContext cxt;
} StrIndex;
extern void strindex_init(StrIndex *si, MemoryContext cxt, int expected);
extern int	strindex_add(StrIndex *si, const char *s, int len, bool *added);
extern int	strindex_lookup(const StrIndex *si, const char *s, int len);

/* drift.c: sort doubles ascending (a radix sort answering a cancel; see drift.c) */
extern void sort_float8s(double *x, int64 n);

/* mlops.c: the owner of mlops' tables, which records the roles cannot write are written as */
extern Oid	mlops_tables_owner(void);

/* tracking.c: the gate of every public function (_require_role's body) */
extern void require_mlops_role(const char *role_name, const char *function_name);

/* ab.c: the executor hooks that write A/B exposures when a statement finishes */
extern void ab_init(void);

/* tracking.c: queries run with the invoking role's privileges */
struct SPITupleTable;
typedef void (*InvokerResultFn) (struct SPITupleTable *tuptable, uint64 processed, void *arg);
extern void spi_as_invoker(const char *sql, int nargs, Oid *argtypes, Datum *args, bool read_only, long tcount,
						   const char *search_path, InvokerResultFn consume, void *arg);
extern void query_row_as_invoker(const char *sql, int nargs, Oid *argtypes, Datum *args, bool read_only,
								 int ncols, const Oid *types, Datum *values, bool *nulls);

/* mlops.c: jansson allocates through these, so that errors free its memory */
extern void *mlops_json_malloc(size_t size);
extern void mlops_json_free(void *ptr);

#endif							/* MLOPS_H */
