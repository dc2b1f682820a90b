/*
 * training.c
 *	  Training in the database: the training set (read once through a
 *	  cursor into temporary files, split, preprocessing learned on the
 *	  training rows), the linear models (ordinary least squares and ridge by
 *	  Cholesky of the normal equations with a QR fallback, L2-regularised
 *	  logistic regression, binary and multinomial, by Newton's method), the
 *	  model document they produce, and its evaluation on the held-out rows
 *	  through the registered model's own scoring path.
 *
 *	  mlops._train_fit() is the entry point; train() in training.sql calls
 *	  it once per group (or per candidate of a search) and does the logging
 *	  and registration.  Boosted trees are in training_xgboost.c.
 *
 *	  Why the rows are kept: every algorithm here needs several passes over
 *	  them (preprocessing is learned before the fit, Newton makes one pass
 *	  per iteration, XGBoost its own), and the source may be a query that is
 *	  expensive or not repeatable.  They are kept as fixed-width rows in
 *	  memory up to mlops.train_memory, the rest in a temporary file (a
 *	  BufFile, removed with the transaction's resources), so that memory
 *	  does not grow with the row count.
 */
#include "postgres.h"

#include <math.h>
#include <float.h>

#include <cblas.h>
#include <jansson.h>

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/buffile.h"
#include "storage/dsm.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "compat.h"
#include "metrics.h"
#include "mlops.h"
#include "model.h"
#include "scoring.h"
#include "training.h"

/*
 * utils/builtins.h declares SQL functions named json_object and json_typeof,
 * which jansson's names clash with: the two we need, declared here.
 */
extern char *text_to_cstring(const text *t);
extern text *cstring_to_text(const char *s);
extern const char *quote_identifier(const char *ident);
extern char *format_type_be(Oid type_oid);
extern Datum jsonb_in(PG_FUNCTION_ARGS);
#define TextDatumGetCString(d) text_to_cstring((text *) DatumGetPointer(d))

/* LAPACK, as OpenBLAS ships it (Fortran calling convention) */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
					double *b, const int *ldb, int *info);
extern void dpocon_(const char *uplo, const int *n, const double *a, const int *lda, const double *anorm,
					double *rcond, double *work, int *iwork, int *info);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
					const int *lwork, int *info);

/* the widest encoding training takes, and the largest Hessian (entries) Newton solves */
#define TRAIN_MAX_ENCODED_COLUMNS 1024
#define TRAIN_MAX_HESSIAN (2048 * 2048)

int			mlops_train_nthread = 1;
int			mlops_train_memory_kb = 256 * 1024;

PG_FUNCTION_INFO_V1(mlops_train_fit);
PG_FUNCTION_INFO_V1(mlops_train_record_failure);
PGDLLEXPORT void mlops_train_failure_worker(Datum arg);

/* ------------------------------------------------------------------------
 * The training set
 * ------------------------------------------------------------------------
 */
typedef struct ReadSpec ReadSpec;

/*
 * One part's rows.  They are kept in memory, in chunks of TRAIN_CHUNK_ROWS,
 * while the training set's rows fit in mlops.train_memory, and the rest go
 * to a temporary file: memory is bounded by the setting whatever the row
 * count, and a set that fits (a million rows of 20 features is 168 MB) is
 * read back at memory speed by every pass.
 */
typedef struct RowStore
{
	double	  **chunks;
	int			nchunks;
	int			chunk_cap;
	int			last_rows;		/* rows in the last chunk */
	BufFile    *file;			/* the rows past the budget, or NULL */
	int			rchunk;			/* a pass: the next chunk to read (then the file) */
} RowStore;

struct TrainSet
{
	MemoryContext cxt;

	/* the signature */
	int			nfeat;
	char	  **feat_name;
	bool	   *feat_cat;
	StrIndex   *cats;			/* per categorical feature: categories in first-seen order */
	int64	  **cat_train;		/* ... and how often each was seen in training rows */
	int		   *cat_cap;

	/* the target */
	bool		classify;
	bool		numeric_labels; /* classes sorted as numbers (an integer or boolean target) */
	StrIndex	classes;		/* first-seen order */
	int64	   *class_train;
	int			class_cap;
	const char *task;

	/* the rows, per part: (y, x_1 .. x_nfeat) each, in memory up to the budget, then in a file */
	RowStore	store[2];
	int64		nrows[2];

	/*
	 * training-row statistics: the target's range (regression), each
	 * feature's count of values (not missing), numeric features' moments
	 */
	double		ymin;
	double		ymax;
	int64	   *nobs;
	double	   *mean;
	double	   *m2;

	/* learned from them */
	int			nclasses;
	int		   *class_of;		/* first-seen code -> sorted class index */
	char	  **class_name;		/* sorted */
	int		   *ncat;			/* per feature: training categories (0 for numeric) */
	int		  **cat_of;			/* per feature: first-seen code -> sorted index, -1 test only */
	char	 ***cat_name;		/* per feature: sorted training categories */
	int		   *col_first;		/* per feature: its first encoded column */
	int			ncols;
	double	   *impute;			/* per feature: the training mean or most frequent category */
	bool		standardize;
	double	   *center;			/* per encoded column */
	double	   *scale;

	/* reading */
	ReadSpec   *spec;
	double	   *row;			/* the row being added */
	char	   *group;			/* the group's value (NULL: the NULL group, or no groups) */
	int			group_len;
	bool		group_null;

	/* a pass */
	TrainEncoding enc;
	TrainPart	cur;			/* the part being read */
	double	   *raw;			/* TRAIN_CHUNK_ROWS rows as stored */
	double	   *x;				/* TRAIN_CHUNK_ROWS x ncols */
	double	   *y;
};

#define ROW_DOUBLES(ts) (1 + (ts)->nfeat)

int
train_ncols(const TrainSet *ts)
{
	return ts->ncols;
}

int
train_nclasses(const TrainSet *ts)
{
	return ts->classify ? ts->nclasses : 0;
}

int64
train_nrows(const TrainSet *ts, TrainPart part)
{
	return ts->nrows[part];
}

const char *
train_task(const TrainSet *ts)
{
	return ts->task;
}

/* numbers as sorted by value, else text by its bytes (numpy's order for str) */
static bool sort_numeric;

static int
cmp_label(const void *a, const void *b)
{
	const char *x = *(char *const *) a;
	const char *y = *(char *const *) b;

	if (sort_numeric)
	{
		double		dx = strcmp(x, "true") == 0 ? 1 : strcmp(x, "false") == 0 ? 0 : strtod(x, NULL);
		double		dy = strcmp(y, "true") == 0 ? 1 : strcmp(y, "false") == 0 ? 0 : strtod(y, NULL);

		if (dx != dy)
			return dx < dy ? -1 : 1;
	}
	return strcmp(x, y);
}

/* The sorted order of an index's strings that pass keep[] (NULL: all). */
static char **
sorted_names(StrIndex *si, const int64 *keep, int *n_out, int **order_of, bool numeric)
{
	char	  **names = palloc(sizeof(char *) * Max(si->n, 1));
	int		   *of = palloc(sizeof(int) * Max(si->n, 1));
	int			n = 0;

	for (int k = 0; k < si->n; k++)
		if (keep == NULL || keep[k] > 0)
			names[n++] = si->names[k];
	sort_numeric = numeric;
	qsort(names, n, sizeof(char *), cmp_label);
	for (int k = 0; k < si->n; k++)
	{
		char	  **hit = NULL;

		of[k] = -1;
		if (keep != NULL && keep[k] == 0)
			continue;
		/* names are distinct pointers: find this one by a binary search on the order */
		{
			int			lo = 0,
						hi = n - 1;

			while (lo <= hi)
			{
				int			mid = (lo + hi) / 2;
				int			c = cmp_label(&si->names[k], &names[mid]);

				if (c == 0)
				{
					hit = &names[mid];
					break;
				}
				if (c < 0)
					hi = mid - 1;
				else
					lo = mid + 1;
			}
		}
		Assert(hit != NULL);
		of[k] = (int) (hit - names);
	}
	*n_out = n;
	*order_of = of;
	return names;
}

/* room for counts[0 .. n-1], the new ones 0 */
static void
counts_reserve(int64 **counts, int *cap, int n)
{
	if (n > *cap)
	{
		int			newcap = Max(n, *cap * 2);

		*counts = repalloc(*counts, sizeof(int64) * newcap);
		memset(*counts + *cap, 0, sizeof(int64) * (newcap - *cap));
		*cap = newcap;
	}
}

static void
count_code(int64 **counts, int *cap, int code)
{
	counts_reserve(counts, cap, code + 1);
	(*counts)[code]++;
}

/* ------------------------------------------------------------------------
 * Reading the source
 * ------------------------------------------------------------------------
 */

/*
 * The deterministic split: a row is held out when the hash of the seed and
 * its values (target and features, as read) falls below test_size.  It
 * depends on the row's content only, not on the order rows arrive in, so the
 * same data gives the same split whatever plan reads it; equal rows go to
 * the same side.
 */
static inline uint64
mix64(uint64 h, uint64 v)
{
	h ^= v + UINT64CONST(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return h;
}

static inline uint64
mix_double(uint64 h, double d)
{
	uint64		bits;

	if (d == 0)
		d = 0;					/* -0 is 0 */
	if (isnan(d))
		d = NAN;
	memcpy(&bits, &d, sizeof(bits));
	return mix64(h, bits);
}

/*
 * What the rows are read as (the same for every group), and what is
 * accumulated over all of them.
 */
struct ReadSpec
{
	int			nfeat;
	char	  **names;
	bool	   *is_cat;
	bool		classify;
	bool		numeric_labels;
	uint64		seed_hash;
	uint64		threshold;		/* a row is held out when its seeded hash is below */
	bool		split_by_column;
	bool		has_group;
	Size		mem_used;		/* rows kept in memory, over every group's set */

	/*
	 * The digest of every row read (train() records it as the run's
	 * dataset input): the row count and a 128-bit multiset hash, two sums
	 * over the rows of a hash of each row's values as read, so that it does
	 * not depend on the order rows come in.
	 */
	int64		nread;
	uint64		digest_sum[2];
};

/* columns of the query train() builds */
#define COL_TARGET 1
#define COL_SPLIT 2
#define COL_GROUP 3
#define COL_FIRST_FEATURE 4

static void
train_write(TrainSet *ts, int part, double *row)
{
	RowStore   *s = &ts->store[part];
	Size		rec = sizeof(double) * ROW_DOUBLES(ts);

	ts->nrows[part]++;
	if (s->file == NULL && (s->nchunks == 0 || s->last_rows == TRAIN_CHUNK_ROWS))
	{
		Size		bytes = rec * TRAIN_CHUNK_ROWS;

		if (ts->spec->mem_used + bytes > (Size) mlops_train_memory_kb * 1024)
			s->file = BufFileCreateTemp(false); /* from here on, this part's rows go to disk */
		else
		{
			if (s->nchunks == s->chunk_cap)
			{
				s->chunk_cap = Max(16, s->chunk_cap * 2);
				s->chunks = s->chunks ? repalloc(s->chunks, sizeof(double *) * s->chunk_cap)
					: palloc(sizeof(double *) * s->chunk_cap);
			}
			s->chunks[s->nchunks++] = MemoryContextAllocHuge(ts->cxt, bytes);
			s->last_rows = 0;
			ts->spec->mem_used += bytes;
		}
	}
	if (s->file != NULL)
		BufFileWrite(s->file, row, rec);
	else
		memcpy(s->chunks[s->nchunks - 1] + (Size) s->last_rows++ * ROW_DOUBLES(ts), row, rec);
}

/* The next rows of a pass over a part (memory first, then its file): how many, and where. */
static int
store_read(TrainSet *ts, RowStore *s, const double **rows)
{
	size_t		rec = sizeof(double) * ROW_DOUBLES(ts);
	size_t		got;

	if (s->rchunk < s->nchunks)
	{
		*rows = s->chunks[s->rchunk];
		return s->rchunk++ == s->nchunks - 1 ? s->last_rows : TRAIN_CHUNK_ROWS;
	}
	if (s->file == NULL)
		return 0;
	got = BufFileRead(s->file, ts->raw, rec * TRAIN_CHUNK_ROWS);
	if (got % rec != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("a training file ends inside a row")));
	*rows = ts->raw;
	return got / rec;
}

/* A new, empty training set, in the current memory context. */
static TrainSet *
trainset_new(ReadSpec *spec)
{
	TrainSet   *ts = palloc0(sizeof(TrainSet));
	int			nfeat = spec->nfeat;

	ts->cxt = CurrentMemoryContext;
	ts->spec = spec;
	ts->nfeat = nfeat;
	ts->feat_name = spec->names;
	ts->feat_cat = spec->is_cat;
	ts->classify = spec->classify;
	ts->numeric_labels = spec->numeric_labels;
	ts->cats = palloc0(sizeof(StrIndex) * nfeat);
	ts->cat_train = palloc0(sizeof(int64 *) * nfeat);
	ts->cat_cap = palloc0(sizeof(int) * nfeat);
	for (int j = 0; j < nfeat; j++)
		if (spec->is_cat[j])
		{
			strindex_init(&ts->cats[j], CurrentMemoryContext, 16);
			ts->cat_cap[j] = 16;
			ts->cat_train[j] = palloc0(sizeof(int64) * 16);
		}
	if (spec->classify)
	{
		strindex_init(&ts->classes, CurrentMemoryContext, 8);
		ts->class_cap = 8;
		ts->class_train = palloc0(sizeof(int64) * 8);
	}
	ts->nobs = palloc0(sizeof(int64) * nfeat);
	ts->mean = palloc0(sizeof(double) * nfeat);
	ts->m2 = palloc0(sizeof(double) * nfeat);
	ts->row = palloc(sizeof(double) * ROW_DOUBLES(ts));
	return ts;
}

/* One row of the query (values and nulls by column) into the set. */
static void
trainset_add_row(TrainSet *ts, Datum *values, bool *nulls)
{
	ReadSpec   *spec = ts->spec;
	double	   *row = ts->row;
	uint64		h = UINT64CONST(0x747261696e726f77);	/* the row's content; the split mixes in the seed */
	Datum		d;
	bool		isnull;
	int			part;

	/* the target */
	d = values[COL_TARGET - 1];
	if (nulls[COL_TARGET - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the target has NULL values"),
				 errdetail("Row %lld of the source has a NULL target.", (long long) (spec->nread + 1)),
				 errhint("Filter those rows out of the source (WHERE target IS NOT NULL): a model "
						 "is not fitted on rows without an answer.")));
	if (spec->classify)
	{
		text	   *t = DatumGetTextPP(d);
		bool		added;

		row[0] = strindex_add(&ts->classes, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &added);
		h = mix64(h, hash_bytes_extended((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 0));
	}
	else
	{
		row[0] = DatumGetFloat8(d);
		if (!isfinite(row[0]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the target has a value that is not a finite number: %g", row[0]),
					 errhint("Filter NaN and infinite targets out of the source.")));
		h = mix_double(h, row[0]);
	}

	/* the features: NULL and NaN are missing */
	for (int j = 0; j < ts->nfeat; j++)
	{
		d = values[COL_FIRST_FEATURE - 1 + j];
		if (nulls[COL_FIRST_FEATURE - 1 + j])
		{
			row[1 + j] = NAN;
			h = mix64(h, UINT64CONST(0x4e554c4c));
		}
		else if (ts->feat_cat[j])
		{
			text	   *t = DatumGetTextPP(d);
			bool		added;

			row[1 + j] = strindex_add(&ts->cats[j], VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &added);
			h = mix64(h, hash_bytes_extended((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 0));
		}
		else
		{
			double		v = DatumGetFloat8(d);

			if (isinf(v))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" has an infinite value", ts->feat_name[j]),
						 errhint("NULL and NaN are missing values (imputed); infinite values are refused, "
								 "as scoring refuses them.")));
			row[1 + j] = v;
			h = mix_double(h, v);
		}
	}

	/* which part */
	d = values[COL_SPLIT - 1];
	isnull = nulls[COL_SPLIT - 1];
	if (spec->split_by_column)
	{
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the split column has NULL values"),
					 errhint("The split column says, for every row, whether it is held out (true) or "
							 "trained on (false).")));
		part = DatumGetBool(d) ? 1 : 0;
	}
	else
		part = (mix64(h, spec->seed_hash) < spec->threshold) ? 1 : 0;
	spec->nread++;
	spec->digest_sum[0] += h;
	spec->digest_sum[1] += mix64(h, UINT64CONST(0x64696765737432));

	/* training statistics */
	if (part == 0)
	{
		if (ts->classify)
			count_code(&ts->class_train, &ts->class_cap, (int) row[0]);
		else if (ts->nrows[0] == 0)
			ts->ymin = ts->ymax = row[0];
		else
		{
			ts->ymin = Min(ts->ymin, row[0]);
			ts->ymax = Max(ts->ymax, row[0]);
		}
		for (int j = 0; j < ts->nfeat; j++)
		{
			double		v = row[1 + j];

			if (isnan(v))
				continue;
			ts->nobs[j]++;
			if (ts->feat_cat[j])
				count_code(&ts->cat_train[j], &ts->cat_cap[j], (int) v);
			else
			{
				/* Welford: the variance of millions of rows without cancellation */
				double		delta = v - ts->mean[j];

				ts->mean[j] += delta / ts->nobs[j];
				ts->m2[j] += delta * (v - ts->mean[j]);
			}
		}
	}
	train_write(ts, part, row);
}

/*
 * The rows arrive from the executor, one slot at a time, through this
 * receiver: no copy of each row into an SPI tuple table (which cost as much
 * as the fit of a least-squares model).  Rows come ordered by group; each
 * group's rows go into a training set of their own, fitted once the query
 * has finished (so that nothing but reading runs inside the executor).
 */
typedef struct TrainReceiver
{
	DestReceiver pub;
	ReadSpec   *spec;
	MemoryContext sets_cxt;		/* where each group's set gets a context of its own */
	List	   *sets;			/* finished and current, in order */
	TrainSet   *cur;
} TrainReceiver;

static bool
train_receive(TupleTableSlot *slot, DestReceiver *self)
{
	TrainReceiver *rcv = (TrainReceiver *) self;
	ReadSpec   *spec = rcv->spec;
	TrainSet   *ts = rcv->cur;
	MemoryContext old;

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	if (spec->has_group && ts != NULL)
	{
		bool		isnull = slot->tts_isnull[COL_GROUP - 1];
		text	   *g = isnull ? NULL : DatumGetTextPP(slot->tts_values[COL_GROUP - 1]);

		if (isnull != ts->group_null ||
			(!isnull && ((int) VARSIZE_ANY_EXHDR(g) != ts->group_len ||
						 memcmp(VARDATA_ANY(g), ts->group, ts->group_len) != 0)))
			ts = NULL;			/* the next group starts here */
	}
	if (ts == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(rcv->sets_cxt, "mlops training set", ALLOCSET_DEFAULT_SIZES);

		old = MemoryContextSwitchTo(cxt);
		ts = trainset_new(spec);
		if (spec->has_group)
		{
			ts->group_null = slot->tts_isnull[COL_GROUP - 1];
			ts->group = ts->group_null ? NULL : TextDatumGetCString(slot->tts_values[COL_GROUP - 1]);
			ts->group_len = ts->group_null ? 0 : strlen(ts->group);
		}
		MemoryContextSwitchTo(rcv->sets_cxt);
		rcv->sets = lappend(rcv->sets, ts);
		MemoryContextSwitchTo(old);
		rcv->cur = ts;
	}
	old = MemoryContextSwitchTo(ts->cxt);
	trainset_add_row(ts, slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	return true;
}

static void
train_receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
train_receiver_shutdown(DestReceiver *self)
{
}

static void
train_receiver_destroy(DestReceiver *self)
{
}

/* ------------------------------------------------------------------------
 * Preprocessing, learned on the training rows
 * ------------------------------------------------------------------------
 */
static void
train_prepare(TrainSet *ts, bool standardize, const char *group_label)
{
	int64		n = ts->nrows[0];
	int			col = 0;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no training rows%s", group_label),
				 errdetail("The source gave %lld rows, all of them held out.", (long long) ts->nrows[1]),
				 errhint("Use a smaller test_size, or more rows.")));

	if (ts->classify)
	{
		/* classes and categories first seen in held-out rows have no training count yet */
		counts_reserve(&ts->class_train, &ts->class_cap, ts->classes.n);
		ts->class_name = sorted_names(&ts->classes, ts->class_train, &ts->nclasses, &ts->class_of,
									  ts->numeric_labels);
		if (ts->nclasses < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the target has one class only in the training rows%s: \"%s\"", group_label,
							ts->class_name[0]),
					 errhint("A classifier needs at least two classes; check the target column and the "
							 "source's filter.")));
		for (int k = 0; k < ts->classes.n; k++)
			if (ts->class_of[k] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class \"%s\" appears only in the held-out rows%s", ts->classes.names[k],
								group_label),
						 errhint("A model cannot predict a class it was not trained on: use another seed "
								 "or test_size, or filter that class out.")));
		ts->task = ts->nclasses == 2 ? "binary" : "multiclass";
	}
	else
	{
		if (ts->ymin == ts->ymax)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the target is constant in the training rows%s: every value is %g", group_label,
							ts->ymin),
					 errhint("There is nothing to learn: check the target column and the source's filter.")));
		ts->task = "regression";
	}

	ts->ncat = palloc0(sizeof(int) * ts->nfeat);
	ts->cat_of = palloc0(sizeof(int *) * ts->nfeat);
	ts->cat_name = palloc0(sizeof(char **) * ts->nfeat);
	ts->col_first = palloc(sizeof(int) * ts->nfeat);
	ts->impute = palloc(sizeof(double) * ts->nfeat);
	for (int j = 0; j < ts->nfeat; j++)
	{
		if (ts->nobs[j] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature \"%s\" has no values in the training rows%s", ts->feat_name[j],
							group_label),
					 errhint("Leave it out of the features.")));
		ts->col_first[j] = col;
		if (ts->feat_cat[j])
		{
			int64		best = 0;

			counts_reserve(&ts->cat_train[j], &ts->cat_cap[j], ts->cats[j].n);
			ts->cat_name[j] = sorted_names(&ts->cats[j], ts->cat_train[j], &ts->ncat[j], &ts->cat_of[j],
										   false);
			/* the most frequent category, the first (smallest) of equals, as SimpleImputer */
			ts->impute[j] = 0;
			for (int k = 0; k < ts->cats[j].n; k++)
			{
				int			s = ts->cat_of[j][k];
				int64		c = ts->cat_train[j][k];

				if (s < 0)
					continue;
				if (c > best || (c == best && s < ts->impute[j]))
				{
					best = c;
					ts->impute[j] = s;
				}
			}
			col += ts->ncat[j];
		}
		else
		{
			ts->impute[j] = ts->mean[j];
			col++;
		}
	}
	ts->ncols = col;

	/*
	 * Each pass encodes TRAIN_CHUNK_ROWS rows at a time, and the linear
	 * models' normal equations are ncols x ncols: a text column of ids would
	 * make that gigabytes.  Refuse it, naming the widest feature.
	 */
	if (ts->ncols > TRAIN_MAX_ENCODED_COLUMNS)
	{
		int			widest = 0;

		for (int j = 1; j < ts->nfeat; j++)
			if (ts->ncat[j] > ts->ncat[widest])
				widest = j;
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the model would have %d encoded columns%s, more than the %d training takes",
						ts->ncols, group_label, TRAIN_MAX_ENCODED_COLUMNS),
				 errdetail("Categorical feature \"%s\" has %d categories in the training rows, each a column.",
						   ts->feat_name[widest], ts->ncat[widest]),
				 errhint("Leave identifier-like text columns out of the features, or group rare categories "
						 "in a query source.")));
	}

	/*
	 * The standard scaler, fitted after imputation as a pipeline fits it:
	 * imputed rows sit at the mean, so they add nothing to the sum of
	 * squares but count in n.  A column without spread keeps scale 1, as
	 * StandardScaler does.  One-hot columns are not scaled.
	 */
	ts->standardize = standardize;
	ts->center = palloc0(sizeof(double) * Max(col, 1));
	ts->scale = palloc(sizeof(double) * Max(col, 1));
	for (int c = 0; c < col; c++)
		ts->scale[c] = 1;
	if (standardize)
		for (int j = 0; j < ts->nfeat; j++)
			if (!ts->feat_cat[j])
			{
				double		sd = sqrt(ts->m2[j] / (double) n);

				ts->center[ts->col_first[j]] = ts->mean[j];
				ts->scale[ts->col_first[j]] = (sd < 10 * DBL_EPSILON * Max(1.0, fabs(ts->mean[j]))) ? 1 : sd;
			}

	ts->raw = MemoryContextAllocHuge(ts->cxt, sizeof(double) * ROW_DOUBLES(ts) * TRAIN_CHUNK_ROWS);
	ts->x = MemoryContextAllocHuge(ts->cxt, sizeof(double) * Max(ts->ncols, 1) * TRAIN_CHUNK_ROWS);
	ts->y = palloc(sizeof(double) * TRAIN_CHUNK_ROWS);
}

void
train_rewind(TrainSet *ts, TrainPart part, TrainEncoding enc)
{
	RowStore   *s = &ts->store[part];

	ts->enc = enc;
	ts->cur = part;
	s->rchunk = 0;
	if (s->file != NULL && BufFileSeek(s->file, 0, 0, SEEK_SET) != 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not rewind a training file: %m")));
}

/* the category index (sorted, training) of a stored first-seen code, -1 unknown */
static inline int
category_of(const TrainSet *ts, int j, double code)
{
	return ts->cat_of[j][(int) code];
}

/* One stored row into the encoded columns. */
static void
encode_row(const TrainSet *ts, const double *in, double *out, TrainEncoding enc)
{
	for (int j = 0; j < ts->nfeat; j++)
	{
		double		v = in[j];
		int			c = ts->col_first[j];

		if (ts->feat_cat[j])
		{
			int			k;

			memset(out + c, 0, sizeof(double) * ts->ncat[j]);
			if (isnan(v))
			{
				if (enc == TRAIN_ENCODE_RAW)
				{
					for (int i = 0; i < ts->ncat[j]; i++)
						out[c + i] = NAN;
					continue;
				}
				k = (int) ts->impute[j];
			}
			else
				k = category_of(ts, j, v);
			if (k >= 0)
				out[c + k] = 1;
		}
		else
		{
			if (isnan(v))
			{
				if (enc == TRAIN_ENCODE_RAW)
				{
					out[c] = NAN;
					continue;
				}
				v = ts->impute[j];
			}
			out[c] = (enc == TRAIN_ENCODE_PREPROCESSED && ts->standardize)
				? (v - ts->center[c]) / ts->scale[c] : v;
		}
	}
}

bool
train_next_chunk(TrainSet *ts, TrainChunk *chunk)
{
	const double *rows = NULL;
	int			n;

	CHECK_FOR_INTERRUPTS();
	n = store_read(ts, &ts->store[ts->cur], &rows);
	if (n == 0)
		return false;
	for (int i = 0; i < n; i++)
	{
		const double *r = rows + (size_t) i * ROW_DOUBLES(ts);

		ts->y[i] = ts->classify ? ts->class_of[(int) r[0]] : r[0];
		encode_row(ts, r + 1, ts->x + (size_t) i * ts->ncols, ts->enc);
	}
	chunk->nrows = n;
	chunk->ncols = ts->ncols;
	chunk->x = ts->x;
	chunk->y = ts->y;
	return true;
}

/* The raw (signature-form) rows of a pass, for scoring through the model. */
static int
next_raw_rows(TrainSet *ts, const double **rows, const double **y)
{
	const double *src = NULL;
	int			n = store_read(ts, &ts->store[ts->cur], &src);

	CHECK_FOR_INTERRUPTS();
	/* a copy: the category codes are translated in place, and the stored rows serve other passes */
	if (n > 0 && src != ts->raw)
		memcpy(ts->raw, src, sizeof(double) * ROW_DOUBLES(ts) * n);
	for (int i = 0; i < n; i++)
	{
		double	   *r = ts->raw + (size_t) i * ROW_DOUBLES(ts);

		ts->y[i] = ts->classify ? ts->class_of[(int) r[0]] : r[0];
		/* the category index the model's signature knows, NaN stays missing */
		for (int j = 0; j < ts->nfeat; j++)
			if (ts->feat_cat[j] && !isnan(r[1 + j]))
				r[1 + j] = category_of(ts, j, r[1 + j]);
	}
	*rows = ts->raw;
	*y = ts->y;
	return n;
}

json_t *
train_signature_features(const TrainSet *ts, bool with_impute)
{
	json_t	   *arr = json_array();

	for (int j = 0; j < ts->nfeat; j++)
	{
		json_t	   *f = train_json_object();

		json_object_set_new(f, "name", json_string(ts->feat_name[j]));
		json_object_set_new(f, "type", json_string(ts->feat_cat[j] ? "categorical" : "numeric"));
		if (ts->feat_cat[j])
		{
			json_t	   *cats = json_array();

			for (int k = 0; k < ts->ncat[j]; k++)
				json_array_append_new(cats, json_string(ts->cat_name[j][k]));
			json_object_set_new(f, "categories", cats);
			json_object_set_new(f, "unknown", json_string("ignore"));
			if (with_impute)
				json_object_set_new(f, "impute", json_string(ts->cat_name[j][(int) ts->impute[j]]));
		}
		else if (with_impute)
			json_object_set_new(f, "impute", json_real(ts->impute[j]));
		json_array_append_new(arr, f);
	}
	return arr;
}

json_t *
train_signature_classes(const TrainSet *ts)
{
	json_t	   *arr;

	if (!ts->classify)
		return NULL;
	arr = json_array();
	for (int k = 0; k < ts->nclasses; k++)
		json_array_append_new(arr, json_string(ts->class_name[k]));
	return arr;
}

/* the name of an encoded column, for errors: feature or feature=category */
static char *
column_label(const TrainSet *ts, int col)
{
	for (int j = ts->nfeat - 1; j >= 0; j--)
		if (ts->col_first[j] <= col)
			return ts->feat_cat[j]
				? psprintf("%s=%s", ts->feat_name[j], ts->cat_name[j][col - ts->col_first[j]])
				: pstrdup(ts->feat_name[j]);
	return pstrdup("?");
}

/* ------------------------------------------------------------------------
 * Hyperparameters
 * ------------------------------------------------------------------------
 */
static void
check_params(json_t *hp, const char *algorithm, const char *const *allowed)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(hp, key, v)
	{
		bool		ok = false;

		for (int i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = true;
		if (!ok)
		{
			StringInfoData names;

			initStringInfo(&names);
			for (int i = 0; allowed[i] != NULL; i++)
				appendStringInfo(&names, "%s%s", i ? ", " : "", allowed[i]);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown hyperparameter \"%s\" for %s", key, algorithm),
					 errdetail("%s takes: %s.", algorithm, names.data)));
		}
	}
}

static double
param_number(json_t *hp, const char *key, double dflt, double min, double max, bool min_open)
{
	json_t	   *v = json_object_get(hp, key);
	double		d;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_number(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be a number", key)));
	d = json_number_value(v);
	if (!(min_open ? d > min : d >= min) || d > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be %s %g and at most %g, not %g", key,
						min_open ? "greater than" : "at least", min, max, d)));
	return d;
}

static bool
param_bool(json_t *hp, const char *key, bool dflt)
{
	json_t	   *v = json_object_get(hp, key);

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_boolean(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be true or false", key)));
	return json_is_true(v);
}

/* ------------------------------------------------------------------------
 * The linear models
 * ------------------------------------------------------------------------
 */
typedef struct LinearFit
{
	int			nout;			/* coefficient rows: 1, or one per class */
	double	   *coef;			/* nout x ncols */
	double	   *intercept;		/* nout */
	int			n_iter;
	bool		converged;
	const char *solver;
	double		objective;
} LinearFit;

/*
 * The design: the encoded columns the fit uses (all but the reference
 * category of each categorical feature when drop_first), then a column of
 * ones for the intercept.
 */
typedef struct Design
{
	int			q;				/* design columns */
	int			nw;				/* of which coefficients (not the intercept) */
	int		   *col;			/* per design column < nw: its encoded column */
	bool		intercept;
	double	   *z;				/* TRAIN_CHUNK_ROWS x q */
} Design;

static Design *
design_make(const TrainSet *ts, bool drop_first, bool intercept)
{
	Design	   *d = palloc0(sizeof(Design));

	d->col = palloc(sizeof(int) * Max(ts->ncols, 1));
	for (int j = 0; j < ts->nfeat; j++)
	{
		int			c0 = ts->col_first[j];
		int			n = ts->feat_cat[j] ? ts->ncat[j] : 1;

		for (int c = (ts->feat_cat[j] && drop_first) ? 1 : 0; c < n; c++)
			d->col[d->nw++] = c0 + c;
	}
	d->intercept = intercept;
	d->q = d->nw + (intercept ? 1 : 0);
	if (d->q == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model has nothing to fit"),
				 errhint("Give at least one feature, or fit an intercept.")));
	d->z = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * d->q * TRAIN_CHUNK_ROWS);
	return d;
}

static void
design_fill(Design *d, const TrainChunk *ch)
{
	for (int i = 0; i < ch->nrows; i++)
	{
		const double *x = ch->x + (size_t) i * ch->ncols;
		double	   *z = d->z + (size_t) i * d->q;

		for (int c = 0; c < d->nw; c++)
			z[c] = x[d->col[c]];
		if (d->intercept)
			z[d->nw] = 1;
	}
}

static void
singular_design(const TrainSet *ts, const Design *d, int bad, const char *group_label)
{
	char	   *what = bad < d->nw ? column_label(ts, d->col[bad]) : pstrdup("the intercept");

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("singular design%s: %s is a linear combination of the columns before it", group_label,
					what),
			 errdetail("The training rows do not determine the least-squares coefficients: a column is "
					   "constant, duplicated, or the sum of others."),
			 errhint("Leave that feature out, or use ridge (hyperparams {\"alpha\": 1.0}) to regularise.")));
}

/*
 * Least squares by QR, for designs too ill-conditioned for the normal
 * equations: the rows are folded into R chunk by chunk (R of [R; Z] is R of
 * all rows so far), with y as an extra column so that Q'y comes along, and
 * sqrt(alpha) rows for ridge's penalty.
 */
static void
least_squares_qr(TrainSet *ts, Design *d, double alpha, double *w, const char *group_label)
{
	int			q = d->q;
	int			m1 = q + 1;		/* columns: design and y */
	int			cap = TRAIN_CHUNK_ROWS + m1 + q;
	double	   *a = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (size_t) cap * m1);
	double	   *r = palloc0(sizeof(double) * m1 * m1); /* column-major, upper */
	double	   *tau = palloc(sizeof(double) * m1);
	double		wq;
	int			lwork = -1,
				info,
				rows;
	double	   *work;
	TrainChunk	ch;
	bool		first = true;

	/* workspace query for the largest stack */
	dgeqrf_(&cap, &m1, a, &cap, tau, &wq, &lwork, &info);
	lwork = (int) wq;
	work = palloc(sizeof(double) * Max(lwork, 1));

	train_rewind(ts, TRAIN_PART_TRAIN, TRAIN_ENCODE_PREPROCESSED);
	for (;;)
	{
		bool		more = train_next_chunk(ts, &ch);

		rows = 0;
		/* the stack, column-major: R so far, then (first time) the penalty rows, then the chunk */
		if (!first)
			for (int i = 0; i < m1; i++, rows++)
				for (int c = 0; c < m1; c++)
					a[(size_t) c * cap + rows] = c >= i ? r[c * m1 + i] : 0;
		else if (alpha > 0)
			for (int i = 0; i < d->nw; i++, rows++)
				for (int c = 0; c < m1; c++)
					a[(size_t) c * cap + rows] = c == i ? sqrt(alpha) : 0;
		if (more)
		{
			design_fill(d, &ch);
			for (int i = 0; i < ch.nrows; i++, rows++)
			{
				for (int c = 0; c < q; c++)
					a[(size_t) c * cap + rows] = d->z[(size_t) i * q + c];
				a[(size_t) q * cap + rows] = ch.y[i];
			}
		}
		if (!more && !first)
			break;
		if (rows < m1)
		{
			/* fewer rows than columns so far: pad with zero rows (R stays the same) */
			for (; rows < m1; rows++)
				for (int c = 0; c < m1; c++)
					a[(size_t) c * cap + rows] = 0;
		}
		dgeqrf_(&rows, &m1, a, &cap, tau, work, &lwork, &info);
		if (info != 0)
			elog(ERROR, "dgeqrf failed: %d", info);
		for (int c = 0; c < m1; c++)
			for (int i = 0; i < m1; i++)
				r[c * m1 + i] = i <= c ? a[(size_t) c * cap + i] : 0;
		first = false;
		if (!more)
			break;
	}

	/* a column whose diagonal vanished next to the largest is a combination of those before it */
	{
		double		dmax = 0;

		for (int i = 0; i < q; i++)
			dmax = Max(dmax, fabs(r[i * m1 + i]));
		for (int i = 0; i < q; i++)
			if (fabs(r[i * m1 + i]) <= 1e-9 * dmax || dmax == 0)
				singular_design(ts, d, i, group_label);
	}
	/* R w = Q'y */
	for (int i = q - 1; i >= 0; i--)
	{
		double		s = r[q * m1 + i];

		for (int c = i + 1; c < q; c++)
			s -= r[c * m1 + i] * w[c];
		w[i] = s / r[i * m1 + i];
	}
}

/*
 * Ordinary least squares and ridge: minimise ||y - Zw||^2 + alpha ||w||^2
 * (the intercept not penalised), as scikit-learn's LinearRegression and
 * Ridge do.  One pass accumulates Z'Z and Z'y; Cholesky solves them unless
 * they are too ill-conditioned to trust (reciprocal condition below 1e-12),
 * when a second pass solves by QR instead.
 */
static void
fit_least_squares(TrainSet *ts, Design *d, double alpha, LinearFit *fit, const char *group_label)
{
	int			q = d->q;
	double	   *g = palloc0(sizeof(double) * q * q);
	double	   *gc;
	double	   *b = palloc0(sizeof(double) * q);
	double	   *w = palloc0(sizeof(double) * q);
	double		anorm = 0,
				rcond = 0;
	int			info = 0,
				one = 1;
	TrainChunk	ch;

	train_rewind(ts, TRAIN_PART_TRAIN, TRAIN_ENCODE_PREPROCESSED);
	while (train_next_chunk(ts, &ch))
	{
		design_fill(d, &ch);
		/* column-major lower triangle of Z'Z: Z is row-major nrows x q, i.e. Z' column-major */
		cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, ch.nrows, 1.0, d->z, q, 1.0, g, q);
		cblas_dgemv(CblasColMajor, CblasNoTrans, q, ch.nrows, 1.0, d->z, q, ch.y, 1, 1.0, b, 1);
	}
	for (int i = 0; i < d->nw; i++)
		g[i * q + i] += alpha;

	/* the 1-norm of the symmetric matrix, for the condition estimate */
	for (int c = 0; c < q; c++)
	{
		double		s = 0;

		for (int i = 0; i < q; i++)
			s += fabs(i >= c ? g[c * q + i] : g[i * q + c]);
		anorm = Max(anorm, s);
	}
	gc = palloc(sizeof(double) * q * q);
	memcpy(gc, g, sizeof(double) * q * q);
	dpotrf_("L", &q, gc, &q, &info);
	if (info == 0)
	{
		double	   *work = palloc(sizeof(double) * 3 * q);
		int		   *iwork = palloc(sizeof(int) * q);

		dpocon_("L", &q, gc, &q, &anorm, &rcond, work, iwork, &info);
	}
	if (info == 0 && rcond > 1e-12)
	{
		memcpy(w, b, sizeof(double) * q);
		dpotrs_("L", &q, &one, gc, &q, w, &q, &info);
		fit->solver = "cholesky";
	}
	else
	{
		least_squares_qr(ts, d, alpha, w, group_label);
		fit->solver = "qr";
	}
	fit->nout = 1;
	fit->coef = palloc0(sizeof(double) * Max(ts->ncols, 1));
	fit->intercept = palloc0(sizeof(double));
	for (int c = 0; c < d->nw; c++)
		fit->coef[d->col[c]] = w[c];
	fit->intercept[0] = d->intercept ? w[d->nw] : 0;
	fit->n_iter = 1;
	fit->converged = true;
}

/* log(1 + exp(x)) without overflow */
static inline double
softplus(double x)
{
	return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/*
 * One pass of logistic regression at theta: the objective
 * C * sum(loss) + 1/2 ||W||^2, its gradient and Hessian.  theta is K blocks
 * of q (one block for a binary model: the positive class's margin).
 */
static double
logistic_pass(TrainSet *ts, Design *d, int K, bool multinomial, const double *theta, double C,
			  bool penalised, double *grad, double *hess, double *work)
{
	int			q = d->q;
	int			P = K * q;
	double		f = 0;
	TrainChunk	ch;
	double	   *eta = work;		/* TRAIN_CHUNK_ROWS x K */
	double	   *zs = work + (size_t) TRAIN_CHUNK_ROWS * K;	/* TRAIN_CHUNK_ROWS x q */

	memset(grad, 0, sizeof(double) * P);
	memset(hess, 0, sizeof(double) * P * P);
	train_rewind(ts, TRAIN_PART_TRAIN, TRAIN_ENCODE_PREPROCESSED);
	while (train_next_chunk(ts, &ch))
	{
		int			n = ch.nrows;

		design_fill(d, &ch);
		/* margins: eta = Z Theta' (n x K) */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, K, q, 1.0, d->z, q, theta, q, 0.0, eta, K);
		if (!multinomial)
		{
			for (int i = 0; i < n; i++)
			{
				double		e = eta[i];
				double		yi = ch.y[i];
				double		p = 1 / (1 + exp(-e));
				double		wgt = p * (1 - p);

				f += softplus(e) - yi * e;
				eta[i] = C * (p - yi);	/* the residual, for the gradient */
				for (int c = 0; c < q; c++)
					zs[(size_t) i * q + c] = d->z[(size_t) i * q + c] * sqrt(C * wgt);
			}
			cblas_dgemv(CblasRowMajor, CblasTrans, n, q, 1.0, d->z, q, eta, 1, 1.0, grad, 1);
			cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, n, 1.0, zs, q, 1.0, hess, q);
		}
		else
		{
			double	   *p = eta;	/* softmax in place */

			for (int i = 0; i < n; i++)
			{
				double	   *e = eta + (size_t) i * K;
				double		mx = e[0],
							s = 0;
				int			yi = (int) ch.y[i];

				for (int k = 1; k < K; k++)
					mx = Max(mx, e[k]);
				for (int k = 0; k < K; k++)
					s += exp(e[k] - mx);
				f += mx + log(s) - e[yi];
				for (int k = 0; k < K; k++)
					p[(size_t) i * K + k] = exp(e[k] - mx) / s;
			}
			/* gradient block k: C * Z'(p_k - 1[y = k]) */
			for (int k = 0; k < K; k++)
				for (int i = 0; i < n; i++)
				{
					double		r = C * (p[(size_t) i * K + k] - ((int) ch.y[i] == k ? 1 : 0));

					cblas_daxpy(q, r, d->z + (size_t) i * q, 1, grad + k * q, 1);
				}
			/* Hessian block (k, l): C * Z' diag(p_k (1[k = l] - p_l)) Z, lower blocks only */
			for (int k = 0; k < K; k++)
				for (int l = 0; l <= k; l++)
				{
					for (int i = 0; i < n; i++)
					{
						double		a = C * p[(size_t) i * K + k] * ((k == l ? 1 : 0) - p[(size_t) i * K + l]);

						for (int c = 0; c < q; c++)
							zs[(size_t) i * q + c] = d->z[(size_t) i * q + c] * a;
					}
					/* column-major P x P: block (k, l) starts at row k*q, column l*q */
					cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, q, q, n, 1.0, zs, q, d->z, q,
								1.0, hess + (size_t) (l * q) * P + k * q, P);
				}
		}
	}
	f *= C;
	/* binary: the Hessian so far is the q x q lower triangle at the top left, laid out with stride q */
	if (!multinomial)
	{
		double	   *h2 = palloc(sizeof(double) * q * q);

		memcpy(h2, hess, sizeof(double) * q * q);
		memset(hess, 0, sizeof(double) * P * P);
		for (int c = 0; c < q; c++)
			for (int i = c; i < q; i++)
				hess[c * P + i] = h2[c * q + i];
		pfree(h2);
	}
	/* the penalty: 1/2 ||w||^2 of every block, intercepts not penalised */
	if (penalised)
		for (int k = 0; k < K; k++)
			for (int c = 0; c < d->nw; c++)
			{
				double		t = theta[k * q + c];

				f += 0.5 * t * t;
				grad[k * q + c] += t;
				hess[(k * q + c) * P + k * q + c] += 1;
			}
	return f;
}

/*
 * Logistic regression as scikit-learn's LogisticRegression defines it with
 * an L2 penalty: minimise C * sum(log loss) + 1/2 sum ||w_k||^2, the
 * intercepts not penalised; binary as one margin (the second class's),
 * multiclass multinomial with one coefficient row per class.  Newton's
 * method with a backtracking line search (Armijo), one pass over the rows
 * per step; converged when a step moves no parameter by more than
 * tol * (1 + the largest parameter).  The multinomial intercepts are only
 * determined up to a common shift (softmax ignores it, and the penalty
 * does not see them): the solution with the intercepts summing to zero is
 * returned, the one L-BFGS started from zero keeps, as scikit-learn's.
 */
static void
fit_logistic(TrainSet *ts, Design *d, double C, bool penalised, int max_iter, double tol, LinearFit *fit,
			 const char *group_label)
{
	int			K = ts->nclasses == 2 ? 1 : ts->nclasses;
	bool		multinomial = ts->nclasses > 2;
	int			q = d->q;
	int			P = K * q;
	double	   *theta = palloc0(sizeof(double) * P);
	double	   *trial = palloc(sizeof(double) * P);
	double	   *grad = palloc(sizeof(double) * P);
	double	   *hess = palloc(sizeof(double) * P * P);
	double	   *tgrad = palloc(sizeof(double) * P);
	double	   *thess = palloc(sizeof(double) * P * P);
	double	   *step = palloc(sizeof(double) * P);
	double	   *work = MemoryContextAllocHuge(CurrentMemoryContext,
											  sizeof(double) * (size_t) TRAIN_CHUNK_ROWS * (K + q));
	double		f;
	int			iter;
	int			info,
				one = 1;

	if ((Size) P * P > (Size) TRAIN_MAX_HESSIAN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("multinomial logistic regression of %d classes on %d columns has %d parameters, more "
						"than the %d Newton's method takes%s", K, q, P, (int) sqrt((double) TRAIN_MAX_HESSIAN),
						group_label),
				 errhint("Use algorithm xgboost, or fewer classes or features.")));
	if (multinomial && !penalised)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("multinomial logistic regression needs a penalty"),
				 errdetail("Without one, one coefficient row per class is not determined."),
				 errhint("Give a finite C (hyperparams {\"C\": 1.0}).")));
	f = logistic_pass(ts, d, K, multinomial, theta, C, penalised, grad, hess, work);
	fit->converged = false;
	for (iter = 1; iter <= max_iter; iter++)
	{
		double		t = 1,
					slope = 0,
					big = 0,
					move = 0,
					ft = 0;
		double		diag = 0;
		bool		accepted = false;

		/* Newton direction: H step = grad; the multinomial intercepts' common shift made definite */
		memcpy(thess, hess, sizeof(double) * P * P);
		for (int i = 0; i < P; i++)
			diag = Max(diag, thess[i * P + i]);
		if (multinomial && d->intercept)
			for (int k = 0; k < K; k++)
				for (int l = 0; l <= k; l++)
					thess[(l * q + d->nw) * P + k * q + d->nw] += diag / K;
		memcpy(step, grad, sizeof(double) * P);
		dpotrf_("L", &P, thess, &P, &info);
		if (info != 0)
		{
			/* an unpenalised fit on separable or collinear data: the Hessian degenerates */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("logistic regression did not converge%s: the Hessian is singular at iteration %d",
							group_label, iter),
					 errdetail("Without a penalty the classes are separable, or a column is constant or "
							   "a combination of others."),
					 errhint("Give a finite C to regularise, or leave the offending feature out.")));
		}
		dpotrs_("L", &P, &one, thess, &P, step, &P, &info);
		for (int i = 0; i < P; i++)
			slope -= grad[i] * step[i];
		for (;;)
		{
			for (int i = 0; i < P; i++)
				trial[i] = theta[i] - t * step[i];
			ft = logistic_pass(ts, d, K, multinomial, trial, C, penalised, tgrad, thess, work);
			if (ft <= f + 1e-4 * t * slope || t < 1e-10)
			{
				accepted = ft <= f;
				break;
			}
			t /= 2;
		}
		if (accepted)
		{
			for (int i = 0; i < P; i++)
			{
				big = Max(big, fabs(trial[i]));
				move = Max(move, fabs(trial[i] - theta[i]));
			}
			memcpy(theta, trial, sizeof(double) * P);
			memcpy(grad, tgrad, sizeof(double) * P);
			memcpy(hess, thess, sizeof(double) * P * P);
			f = ft;
		}
		if (!accepted || move <= tol * (1 + big))
		{
			fit->converged = true;
			break;
		}
	}
	if (!fit->converged)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logistic regression did not converge%s in %d iterations", group_label, max_iter),
				 errhint("Raise max_iter, regularise more (a smaller C), or standardize the features.")));

	if (multinomial && d->intercept)
	{
		double		s = 0;

		for (int k = 0; k < K; k++)
			s += theta[k * q + d->nw];
		for (int k = 0; k < K; k++)
			theta[k * q + d->nw] -= s / K;
	}
	fit->nout = K;
	fit->coef = palloc0(sizeof(double) * K * Max(ts->ncols, 1));
	fit->intercept = palloc0(sizeof(double) * K);
	for (int k = 0; k < K; k++)
	{
		for (int c = 0; c < d->nw; c++)
			fit->coef[k * ts->ncols + d->col[c]] = theta[k * q + c];
		fit->intercept[k] = d->intercept ? theta[k * q + d->nw] : 0;
	}
	fit->n_iter = Min(iter, max_iter);
	fit->objective = f;
	fit->solver = "newton";
}

/* The model document of a linear fit (README, "Model format"). */
static json_t *
linear_document(TrainSet *ts, LinearFit *fit)
{
	json_t	   *doc = train_json_object();
	json_t	   *model = train_json_object();
	json_t	   *coef = json_array();
	json_t	   *icpt = json_array();
	json_t	   *classes = train_signature_classes(ts);

	json_object_set_new(doc, "format", json_string("mlops.model/v1"));
	json_object_set_new(doc, "task", json_string(ts->task));
	if (classes)
		json_object_set_new(doc, "classes", classes);
	json_object_set_new(doc, "features", train_signature_features(ts, true));
	if (ts->standardize)
	{
		json_t	   *center = json_array();
		json_t	   *scale = json_array();

		for (int c = 0; c < ts->ncols; c++)
		{
			json_array_append_new(center, json_real(ts->center[c]));
			json_array_append_new(scale, json_real(ts->scale[c]));
		}
		json_object_set_new(doc, "scaler", json_pack("{s:o,s:o}", "center", center, "scale", scale));
	}
	for (int k = 0; k < fit->nout; k++)
	{
		json_t	   *row = json_array();

		for (int c = 0; c < ts->ncols; c++)
			json_array_append_new(row, json_real(fit->coef[k * ts->ncols + c]));
		json_array_append_new(coef, row);
		json_array_append_new(icpt, json_real(fit->intercept[k]));
	}
	json_object_set_new(model, "type", json_string("linear"));
	json_object_set_new(model, "link", json_string(!ts->classify ? "identity"
												   : fit->nout == 1 ? "logistic" : "softmax"));
	json_object_set_new(model, "coef", coef);
	json_object_set_new(model, "intercept", icpt);
	json_object_set_new(doc, "model", model);
	return doc;
}

/* ------------------------------------------------------------------------
 * Evaluation on the held-out rows, through the compiled model
 * ------------------------------------------------------------------------
 */
static json_t *
evaluate(TrainSet *ts, const char *artifact, const char *label)
{
	bytea	   *compiled = model_compile_artifact(artifact, strlen(artifact), 0, NULL);
	Model	   *m = model_load(compiled, CurrentMemoryContext);
	ScoreState *st = score_state_create(CurrentMemoryContext);
	int			K = ts->classify ? ts->nclasses : 0;
	MetricsStream *ms;
	MetricsResult res;
	json_t	   *metrics = train_json_object();
	double		probs[2];
	const double *rows,
			   *y;
	int			got;

	if (ts->nrows[1] == 0)
		return metrics;
	/* the rows stream through: memory does not grow with the held-out rows (metrics.h) */
	ms = metrics_stream_begin(K);
	score_use_model(st, m, label);
	train_rewind(ts, TRAIN_PART_TEST, TRAIN_ENCODE_RAW);
	while ((got = next_raw_rows(ts, &rows, &y)) > 0)
	{
		for (int r = 0; r < got; r++)
		{
			st->x = rows + (size_t) r * ROW_DOUBLES(ts) + 1;
			score_encode(st, false, st->enc);
			model_eval(m, st->enc, st->out, st->scratch);
			model_round_outputs(m, st->out, m->hdr->n_outputs);
			if (K == 2 && m->hdr->n_outputs == 1)
			{
				/* a binary model's one output is P(second class), as predict_proba spreads it */
				probs[1] = st->out[0];
				probs[0] = 1 - st->out[0];
				metrics_stream_add(ms, probs, y[r]);
			}
			else
				metrics_stream_add(ms, st->out, y[r]);
		}
	}
	metrics_stream_finish(ms, &res);

	if (!ts->classify)
	{
		json_object_set_new(metrics, "rmse", json_real(res.rmse));
		json_object_set_new(metrics, "mae", json_real(res.mae));
		json_object_set_new(metrics, "r2", json_real(res.r2));
	}
	else
	{
		json_object_set_new(metrics, "accuracy", json_real(res.accuracy));
		json_object_set_new(metrics, "precision", json_real(res.precision));
		json_object_set_new(metrics, "recall", json_real(res.recall));
		json_object_set_new(metrics, "f1", json_real(res.f1));
		json_object_set_new(metrics, "log_loss", json_real(res.log_loss));
		/* not defined when a class is missing from the held-out rows: not logged */
		if (!isnan(res.roc_auc))
			json_object_set_new(metrics, "roc_auc", json_real(res.roc_auc));
	}
	return metrics;
}

/* ------------------------------------------------------------------------
 * mlops._train_fit
 * ------------------------------------------------------------------------
 */
static const char *const linear_params[] = {"fit_intercept", "standardize", "drop_first", NULL};
static const char *const ridge_params[] = {"alpha", "fit_intercept", "standardize", "drop_first", NULL};
static const char *const logistic_params[] = {"C", "penalty", "fit_intercept", "standardize", "drop_first",
	"max_iter", "tol", NULL};

static json_t *
jsonb_to_json(Jsonb *jb)
{
	char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	json_error_t err;
	json_t	   *j = json_loads(s, JSON_DECODE_ANY, &err);

	if (j == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparams cannot be read: %s", err.text),
				 errhint("Hyperparameters are a flat JSON object of numbers (within the range of a double or "
						 "a 64-bit integer), strings and booleans.")));
	return j;
}

static Jsonb *
json_to_jsonb(json_t *j)
{
	char	   *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
	Datum		d;

	if (s == NULL)
		elog(ERROR, "out of memory writing JSON");
	d = DirectFunctionCall1(jsonb_in, CStringGetDatum(s));
	return DatumGetJsonbP(d);
}

/* Fit one training set; the result object train() logs and registers. */
static json_t *
fit_one(TrainSet *ts, const char *algorithm, json_t *hp, const char *label, const char *group_label)
{
	json_t	   *result = train_json_object();
	json_t	   *doc = NULL;
	char	   *artifact;
	LinearFit	fit = {0};
	json_t	   *info = train_json_object();

	if (strcmp(algorithm, "xgboost") == 0)
	{
		train_prepare(ts, false, group_label);
		artifact = train_xgboost(ts, hp, mlops_train_nthread);
	}
	else
	{
		bool		logistic = strcmp(algorithm, "logistic_regression") == 0;
		bool		ridge = strcmp(algorithm, "ridge") == 0;
		bool		penalised;
		double		alpha = 0,
					C = 1;
		Design	   *d;

		check_params(hp, algorithm, logistic ? logistic_params : ridge ? ridge_params : linear_params);
		if (logistic)
		{
			json_t	   *pen = json_object_get(hp, "penalty");

			if (pen != NULL && !json_is_null(pen) &&
				!(json_is_string(pen) && (strcmp(json_string_value(pen), "l2") == 0 ||
										  strcmp(json_string_value(pen), "none") == 0)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("hyperparameter \"penalty\" must be \"l2\" or \"none\"")));
			penalised = !(pen != NULL && json_is_string(pen) && strcmp(json_string_value(pen), "none") == 0);
			C = param_number(hp, "C", 1.0, 0, 1e12, true);
			if (!penalised)
				C = 1;
		}
		else
		{
			alpha = ridge ? param_number(hp, "alpha", 1.0, 0, 1e12, false) : 0;
			penalised = alpha > 0;
		}
		train_prepare(ts, param_bool(hp, "standardize", true), group_label);
		d = design_make(ts, param_bool(hp, "drop_first", !penalised), param_bool(hp, "fit_intercept", true));
		if (logistic)
			fit_logistic(ts, d, C, penalised, (int) param_number(hp, "max_iter", 100, 1, 10000, false),
						 param_number(hp, "tol", 1e-10, 0, 1, true), &fit, group_label);
		else
		{
			if (ts->classify)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("%s is a regression; the target is a class label", algorithm),
						 errhint("Use algorithm logistic_regression or xgboost for classification.")));
			fit_least_squares(ts, d, alpha, &fit, group_label);
		}
		doc = linear_document(ts, &fit);
		/* jansson allocates with palloc here (mlops.c), so this is ours to keep */
		artifact = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
		json_decref(doc);
		json_object_set_new(info, "solver", json_string(fit.solver));
		json_object_set_new(info, "n_iter", json_integer(fit.n_iter));
		json_object_set_new(info, "standardize", json_boolean(ts->standardize));
	}
	json_object_set_new(result, "artifact", json_string(artifact));
	json_object_set_new(result, "task", json_string(ts->task));
	json_object_set_new(result, "train_rows", json_integer(ts->nrows[0]));
	json_object_set_new(result, "test_rows", json_integer(ts->nrows[1]));
	json_object_set_new(result, "encoded_columns", json_integer(ts->ncols));
	json_object_set_new(result, "info", info);
	json_object_set_new(result, "metrics", evaluate(ts, artifact, label));
	return result;
}

/*
 * The query's columns must be what the reader takes them for: a float8
 * read from a text column would be a pointer taken for a number.
 */
static bool
check_query_columns(SPIPlanPtr plan, int nfeat, const bool *is_cat, bool classify)
{
	List	   *plans = SPI_plan_get_plan_sources(plan);
	TupleDesc	desc;
	int			natts;

	if (list_length(plans) != 1 || ((CachedPlanSource *) linitial(plans))->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training query must be one statement that returns rows")));
	desc = ((CachedPlanSource *) linitial(plans))->resultDesc;
	natts = desc->natts;
	if (natts != COL_FIRST_FEATURE - 1 + nfeat)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the training query returns %d columns, not %d", natts, COL_FIRST_FEATURE - 1 + nfeat)));
	for (int c = 1; c <= natts; c++)
	{
		Oid			t = TupleDescAttr(desc, c - 1)->atttypid;
		Oid			want = c == COL_TARGET ? (classify ? TEXTOID : FLOAT8OID)
			: c == COL_SPLIT ? (t == BOOLOID ? BOOLOID : INT4OID)
			: c == COL_GROUP ? TEXTOID
			: is_cat[c - COL_FIRST_FEATURE] ? TEXTOID : FLOAT8OID;

		if (t != want)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the training query is of type %s, not %s", c,
							format_type_be(t), format_type_be(want))));
	}
	/* a boolean split column says which rows are held out; else the hash does */
	return TupleDescAttr(desc, COL_SPLIT - 1)->atttypid == BOOLOID;
}

/*
 * The training data's lineage: the rows read (every part and group), as a
 * row count and a SHA-256 of the multiset hash of their values and of what
 * the columns were, recorded as the run's dataset input.  It is computed
 * here, in the one pass that reads the rows, not by a second pass over the
 * source as log_input() would (its text-form digest of a million rows
 * costs more than a least-squares fit on them); so it is the digest of the
 * data the model was trained on, by value, not log_input()'s digest of the
 * source's rows.  It is recorded as the owner of mlops' tables (the roles
 * cannot write lineage directly), which is safe because it is computed
 * here from the rows read with the caller's privileges, never taken from
 * the caller.
 */
static void
record_training_input(int64 run_id, const char *dataset_name, const char *relation_name, const ReadSpec *r,
					  char **names, const bool *is_cat, int nfeat, bool classify)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		sum[32];
	char		hex[65];
	const char *tag = "mlops.train rows v1";
	Oid			argtypes[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		args[6];
	Oid			save_user;
	int			save_sec;
	Oid			owner = mlops_tables_owner();

	require_mlops_role("mlops_writer", "train");
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) tag, strlen(tag) + 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) &r->nread, sizeof(r->nread)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) r->digest_sum, sizeof(r->digest_sum)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) (classify ? "c" : "r"), 1) < 0)
		elog(ERROR, "could not compute the training data's digest");
	for (int j = 0; j < nfeat; j++)
		if (pg_cryptohash_update(ctx, (const uint8 *) names[j], strlen(names[j]) + 1) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) (is_cat[j] ? "c" : "n"), 1) < 0)
			elog(ERROR, "could not compute the training data's digest");
	if (pg_cryptohash_final(ctx, sum, sizeof(sum)) < 0)
		elog(ERROR, "could not compute the training data's digest");
	pg_cryptohash_free(ctx);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);

	args[0] = Int64GetDatum(run_id);
	args[1] = PointerGetDatum(cstring_to_text(dataset_name));
	args[2] = PointerGetDatum(cstring_to_text(relation_name));
	args[3] = PointerGetDatum(cstring_to_text("training"));
	args[4] = Int64GetDatum(r->nread);
	args[5] = PointerGetDatum(cstring_to_text(hex));
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (SPI_execute_with_args("SELECT mlops._record_input($1, $2, $3, $4, $5, $6)", 6, argtypes, args, NULL,
							  false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not record the training input");
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * mlops._train_fit(query, classify, numeric_labels, feature_names,
 *                  feature_categorical, algorithm, hyperparams, test_size,
 *                  seed, label) -> jsonb
 *
 * The query's columns: the target (float8 for a regression, text labels
 * for a classifier), the split (boolean: held out; or NULL to split by
 * hash), the group (text, NULL without groups; rows ordered by it), then
 * the features (float8 numeric, text categorical).  Returns one result
 * object per group, in an array: artifact, task, row counts, metrics,
 * and the group.
 */
Datum
mlops_train_fit(PG_FUNCTION_ARGS)
{
	char	   *query;
	bool		classify;
	bool		numeric_labels;
	ArrayType  *names_arr;
	ArrayType  *cat_arr;
	char	   *algorithm;
	json_t	   *hp;
	double		test_size;
	int32		seed;
	char	   *label;
	bool		has_group;
	bool		record = !PG_ARGISNULL(11);
	char	   *dataset_name = NULL;
	char	   *relation_name = NULL;
	Datum	   *name_d,
			   *cat_d;
	bool	   *name_null,
			   *cat_null;
	int			nfeat,
				ncat;
	char	  **names;
	bool	   *is_cat;
	ReadSpec	spec = {0};
	TrainReceiver rcv = {0};
	SPIExecuteOptions options = {0};
	int			ret;
	ListCell   *lc;
	SPIPlanPtr	plan;
	json_t	   *results = json_array();
	MemoryContext outer = CurrentMemoryContext;
	Jsonb	   *out;

	/* an install script older than this library declares fewer arguments: never read past them */
	if (PG_NARGS() != 14)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mlops._train_fit is declared with %d arguments, not the 14 this library takes",
						PG_NARGS()),
				 errhint("The extension's SQL objects are older than its library: ALTER EXTENSION mlops UPDATE.")));
	/* callable by every role (it runs as its caller): its arguments are checked as a public function's */
	for (int i = 0; i <= 10; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of _train_fit must not be NULL", i + 1)));
	if (record && (PG_ARGISNULL(12) || PG_ARGISNULL(13)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a training input recorded on a run needs its dataset and relation names")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	classify = PG_GETARG_BOOL(1);
	numeric_labels = PG_GETARG_BOOL(2);
	names_arr = PG_GETARG_ARRAYTYPE_P(3);
	cat_arr = PG_GETARG_ARRAYTYPE_P(4);
	algorithm = text_to_cstring(PG_GETARG_TEXT_PP(5));
	hp = jsonb_to_json(PG_GETARG_JSONB_P(6));
	test_size = PG_GETARG_FLOAT8(7);
	seed = PG_GETARG_INT32(8);
	label = text_to_cstring(PG_GETARG_TEXT_PP(9));
	has_group = PG_GETARG_BOOL(10);
	if (record)
	{
		dataset_name = text_to_cstring(PG_GETARG_TEXT_PP(12));
		relation_name = text_to_cstring(PG_GETARG_TEXT_PP(13));
	}
	if (ARR_NDIM(names_arr) > 1 || ARR_NDIM(cat_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature names and kinds must be one-dimensional arrays")));
	deconstruct_array(names_arr, TEXTOID, -1, false, TYPALIGN_INT, &name_d, &name_null, &nfeat);
	deconstruct_array(cat_arr, BOOLOID, 1, true, TYPALIGN_CHAR, &cat_d, &cat_null, &ncat);
	if (ncat != nfeat || nfeat == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature names and kinds must be as many, and at least one, not %d and %d", nfeat, ncat)));
	names = palloc(sizeof(char *) * nfeat);
	is_cat = palloc(sizeof(bool) * nfeat);
	for (int j = 0; j < nfeat; j++)
	{
		if (name_null[j] || cat_null[j])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature names and kinds must not be NULL")));
		names[j] = TextDatumGetCString(name_d[j]);
		is_cat[j] = DatumGetBool(cat_d[j]);
	}
	if (strcmp(algorithm, "linear_regression") != 0 && strcmp(algorithm, "ridge") != 0 &&
		strcmp(algorithm, "logistic_regression") != 0 && strcmp(algorithm, "xgboost") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown algorithm \"%s\"", algorithm),
				 errhint("Algorithms: linear_regression, ridge, logistic_regression, xgboost.")));
	if (strcmp(algorithm, "logistic_regression") == 0 && !classify)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logistic_regression is a classifier; the task is regression")));
	if (!json_is_object(hp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparams must be a JSON object")));
	if (!(test_size >= 0 && test_size < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be at least 0 and less than 1, not %g", test_size)));

	spec.nfeat = nfeat;
	spec.names = names;
	spec.is_cat = is_cat;
	spec.classify = classify;
	spec.numeric_labels = numeric_labels;
	spec.seed_hash = mix64(UINT64CONST(0x6d6c6f7073747261), (uint64) (uint32) seed);
	/* test_size of 1 would hold out everything: refused above */
	spec.threshold = test_size <= 0 ? 0 : (uint64) ldexp(test_size, 64);
	spec.has_group = has_group;

	SPI_connect();
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the training query: %s", SPI_result_code_string(SPI_result));
	spec.split_by_column = check_query_columns(plan, nfeat, is_cat, classify);

	/* read every row into the sets (one per group), through the receiver */
	rcv.pub.receiveSlot = train_receive;
	rcv.pub.rStartup = train_receiver_startup;
	rcv.pub.rShutdown = train_receiver_shutdown;
	rcv.pub.rDestroy = train_receiver_destroy;
	rcv.pub.mydest = DestNone;
	rcv.spec = &spec;
	rcv.sets_cxt = AllocSetContextCreate(outer, "mlops training sets", ALLOCSET_DEFAULT_SIZES);
	options.read_only = true;
	options.dest = (DestReceiver *) &rcv;
	/* (a SELECT whose rows go to a receiver of its own is SPI_OK_UTILITY to SPI) */
	ret = SPI_execute_plan_extended(plan, &options);
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "the training query failed: %s", SPI_result_code_string(ret));
	if (rcv.sets == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source has no rows"),
				 errhint("Check the source and its filter.")));

	/* then fit them, one at a time, each set's memory and files freed after its fit */
	foreach(lc, rcv.sets)
	{
		TrainSet   *ts = (TrainSet *) lfirst(lc);
		MemoryContext old = MemoryContextSwitchTo(ts->cxt);
		char	   *group_label = has_group ? psprintf(" (group %s)", ts->group ? ts->group : "NULL") : "";
		json_t	   *res = fit_one(ts, algorithm, hp, label, group_label);

		if (has_group)
			json_object_set_new(res, "group", ts->group ? json_string(ts->group) : json_null());
		for (int p = 0; p < 2; p++)
			if (ts->store[p].file != NULL)
				BufFileClose(ts->store[p].file);
		/* jansson allocates in the current context: keep the result, not the set's memory */
		MemoryContextSwitchTo(outer);
		json_array_append_new(results, json_deep_copy(res));
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ts->cxt);
	}
	if (record)
		record_training_input(PG_GETARG_INT64(11), dataset_name, relation_name, &spec, names, is_cat, nfeat,
							  classify);
	SPI_finish();
	MemoryContextDelete(rcv.sets_cxt);

	out = json_to_jsonb(results);
	json_decref(results);
	json_decref(hp);
	PG_RETURN_JSONB_P(out);
}


/* ------------------------------------------------------------------------
 * A failed training is recorded by a transaction of its own
 * ------------------------------------------------------------------------
 *
 * train() raises its error to the caller, so everything it wrote rolls back
 * with the caller's transaction: the run too.  A run that failed should
 * stay in the tracking tables, FAILED, with the error as a tag (MLflow's
 * contract, and what an operator looks for).  So train()'s error handler
 * hands the run's description to a background worker, which connects as
 * the same role, records it through the public tracking functions and
 * commits, while the caller waits; then the caller raises the error.  The
 * worker waits at most a few seconds for locks: the caller, who waits for
 * it, may hold some (an experiment it created earlier in its transaction).
 */
typedef struct FailureSlot
{
	Oid			database;
	Oid			login_role;		/* the role the worker connects as */
	Oid			role;			/* the role it records as (SET ROLE), when not that one */
	int64		run_id;			/* written back by the worker; 0 until then */
	char		message[256];	/* the worker's error, if it failed */
	char		payload[FLEXIBLE_ARRAY_MEMBER];
} FailureSlot;

static bool
role_can_login(Oid role)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	bool		ok = false;

	if (HeapTupleIsValid(tup))
	{
		ok = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
		ReleaseSysCache(tup);
	}
	return ok;
}

/*
 * mlops._train_record_failure(payload jsonb) -> bigint: the FAILED run's id,
 * or NULL (with a warning saying why) when it could not be recorded.
 */
Datum
mlops_train_record_failure(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	char	   *payload = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	Size		len = strlen(payload) + 1;
	dsm_segment *seg = dsm_create(offsetof(FailureSlot, payload) + len, 0);
	FailureSlot *slot = dsm_segment_address(seg);
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	int64		run_id;

	slot->database = MyDatabaseId;
	slot->role = GetUserId();
	/* a role without LOGIN cannot be a worker's user: log in as the session's, then SET ROLE */
	slot->login_role = role_can_login(slot->role) ? slot->role : GetSessionUserId();
	slot->run_id = 0;
	slot->message[0] = '\0';
	memcpy(slot->payload, payload, len);

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "mlops");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mlops_train_failure_worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "mlops failed-run recorder for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "mlops failed-run recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errmsg("the failed training run could not be recorded: no background worker slot is free"),
				 errhint("Raise max_worker_processes.")));
		dsm_detach(seg);
		PG_RETURN_NULL();
	}
	status = WaitForBackgroundWorkerShutdown(handle);
	run_id = slot->run_id;
	if (status != BGWH_STOPPED || run_id == 0)
	{
		ereport(WARNING,
				(errmsg("the failed training run could not be recorded%s%s",
						slot->message[0] ? ": " : "", slot->message)));
		dsm_detach(seg);
		PG_RETURN_NULL();
	}
	dsm_detach(seg);
	PG_RETURN_INT64(run_id);
}

void
mlops_train_failure_worker(Datum arg)
{
	dsm_segment *seg;
	FailureSlot *slot;

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		return;					/* the caller is gone: nobody to record for */
	slot = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(slot->database, slot->login_role, 0);

	StartTransactionCommand();
	PG_TRY();
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];
		bool		isnull;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "recording a failed mlops.train run");
		SPI_execute("SET LOCAL lock_timeout = '5s'", false, 0);
		SPI_execute("SET LOCAL statement_timeout = '30s'", false, 0);
		if (slot->role != slot->login_role)
		{
			char	   *name = GetUserNameFromId(slot->role, false);

			SPI_execute(psprintf("SET LOCAL ROLE %s", quote_identifier(name)), false, 0);
		}
		args[0] = PointerGetDatum(cstring_to_text(slot->payload));
		if (SPI_execute_with_args("SELECT mlops._train_failed_run($1::jsonb)", 1, argtypes, args, NULL,
								  false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "recording the failed run returned nothing");
		slot->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		strlcpy(slot->message, edata->message, sizeof(slot->message));
		slot->run_id = 0;
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(seg);
}
