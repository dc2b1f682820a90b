/*
 * features.c
 *	  The point-in-time join behind build_training_set (engine 'merge'), and
 *	  the signal that feature definitions changed.
 *
 * point_in_time_join(entity_sql, event_timestamp_column, views) returns
 * every row of entity_sql followed by each feature view's features as they
 * were at the row's event time T (the older form takes one view's arguments
 * one by one): from the view's row with equal keys and the latest
 * event timestamp in [T - ttl, T], ties going to the latest created
 * timestamp and then to the greatest feature values (the ORDER BY of the
 * 'lateral' engine in features.sql, which must stay the same).
 *
 * Why not a LATERAL probe per entity row: on a feature view larger than
 * memory each probe is a random index and heap access (about 12 us per row
 * measured on 10M rows).  Instead the entity rows are read once, grouped by
 * key in a hash table and sorted by time within a key; the view is then read
 * in one sequential pass, and each of its rows can only be the answer for
 * the entity rows of its key at or after its timestamp.  Each feature row is
 * kept in the "slot" of the first such entity row (a binary search) if it
 * beats what the slot holds; afterwards a running best over a key's slots
 * gives each entity row the best row at or before its time, and the ttl
 * check on that row is exact because it is the latest.  Memory is the
 * slots, one per entity row and view: when a view's slots pass the hash memory
 * limit (work_mem times hash_mem_multiplier) the entity rows are taken in
 * batches, each with its own pass over every view.  All the views of a
 * training set share one reading of the entity rows and one output.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "nodes/params.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/plancache.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "compat.h"
#include "mlops.h"

/*
 * One entity key: its hash, its values and where its rows are in the
 * grouped order.  A single integer key (the common case) is kept inline and
 * compared as a number: the view's pass looks up every one of its rows, and
 * a pointer to chase or a function call per lookup is most of its cost.
 */
typedef struct KeyEntry
{
	uint32		hash;
	char		status;			/* simplehash's */
	int32		group;
	int32		start;
	int32		count;
	Datum	   *values;			/* generic keys */
	int64		ikey;			/* a single integer key */
} KeyEntry;

/* a hint to the CPU to start loading a cache line we will need soon */
#if defined(__GNUC__) || defined(__clang__)
#define pit_prefetch(a) __builtin_prefetch(a)
#else
#define pit_prefetch(a) ((void) (a))
#endif

/*
 * Is a view row at ts older than the ttl for an entity row at t (ts <= t)?
 * The arithmetic of timestamps: at an infinite t, t - ttl is t itself, so
 * only a row at the same infinity is within it; and t - ts overflows only
 * when ts is -infinity, which is older than any finite t - ttl.
 */
static inline bool
older_than_ttl(int64 t, int64 ts, int64 ttl)
{
	int64		age;

	if (TIMESTAMP_NOT_FINITE(t))
		return ts != t;
	if (pg_sub_s64_overflow(t, ts, &age))
		return true;
	return age > ttl;
}

/* MurmurHash3's 64-bit finaliser: every input bit moves every output bit. */
static inline uint32
hash_int64_key(int64 key)
{
	uint64		h = (uint64) key;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

struct PitState;
static uint32 key_hash_generic(struct PitState *st, Datum *values);
static bool key_equal_generic(struct PitState *st, Datum *a, Datum *b);

#define SH_PREFIX keytab
#define SH_ELEMENT_TYPE KeyEntry
#define SH_KEY_TYPE Datum *
#define SH_KEY values
#define SH_HASH_KEY(tb, key) key_hash_generic((struct PitState *) (tb)->private_data, key)
#define SH_EQUAL(tb, a, b) key_equal_generic((struct PitState *) (tb)->private_data, a, b)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

#define SH_PREFIX intkeytab
#define SH_ELEMENT_TYPE KeyEntry
#define SH_KEY_TYPE int64
#define SH_KEY ikey
#define SH_HASH_KEY(tb, key) hash_int64_key(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

/* An entity row of the current batch. */
typedef struct EntityRow
{
	int64		t;				/* event time, as the view's timestamp type */
	int32		group;			/* its key's group, or -1: never matches */
	int32		pos;			/* its place in the grouped order */
} EntityRow;

typedef struct KeyGroup
{
	int32		count;
	int32		start;
} KeyGroup;

/*
 * A position in the grouped order: an entity row's time, and the best view
 * row seen for it so far (its "slot"), together so that the binary search
 * and the comparison touch one cache line.
 */
typedef struct Slot
{
	int64		t;
	int64		w_ts;
	int64		w_created;
	bool		has;
	bool		w_created_null;
} Slot;

/*
 * A view row waits in a group of PIT_PENDING: each lookup is a chain of
 * cache misses in tables of a million entries (the hash entry, the key's
 * entity times, the slot and its values), and a miss per row, one after the
 * other, was most of the pass's time.  So the misses overlap, in a pipeline
 * of PIT_GROUPS groups: a row's hash entry is prefetched when it arrives;
 * when its group is full, its entries are looked up and their times
 * prefetched; one group later, the times are searched and the slots
 * prefetched; one group later again, the slots are compared and updated.
 */
#define PIT_PENDING 16
#define PIT_GROUPS 3

typedef struct PitState
{
	/* the view's keys and features */
	int			nkeys;
	int			nfeat;			/* all of the view's features (the tie order) */
	int			nreq;			/* those returned */
	int		   *req_index;		/* returned feature -> index among nfeat */
	bool		int_key;		/* keys packed into one int64: see int_key_value */
	Oid			int_key_type[2];
	FmgrInfo   *key_hash;
	FmgrInfo   *key_eq;
	Oid		   *key_coll;
	bool	   *key_byval;
	int16	   *key_len;
	FmgrInfo   *feat_cmp;		/* NULL fn_oid: no ordering, not a tie breaker */
	Oid		   *feat_coll;
	bool	   *feat_byval;
	int16	   *feat_len;
	bool		has_ttl;
	int64		ttl;
	Oid			ts_oid;			/* the view's timestamp type */
	int			key_col;		/* its keys' first column in the entity query */
	int			out_col;		/* its features' first column in the result */
	SPIPlanPtr	view_plan;

	/* the batch */
	MemoryContext batch_cxt;
	keytab_hash *keys;
	intkeytab_hash *intkeys;
	EntityRow  *rows;
	int32		nrows;
	int32		rows_alloc;
	KeyGroup   *groups;
	int32		ngroups;
	int32		groups_alloc;
	int32	   *pos_rid;		/* position -> row */
	int32		npos;
	int64		min_t;
	int64		max_t;
	KeyGroup   *dense;			/* or NULL; see batch_arrange */
	int64		dense_min;
	uint64		dense_n;
	Slot	   *slots;			/* npos */
	Datum	   *w_values;		/* npos x nfeat */
	bool	   *w_nulls;

	/* the view's rows waiting for their lookups (see view_receive) */
	int			cur;			/* the group being filled */
	int			pend_n[PIT_GROUPS]; /* rows in each group */
	int			pend_stage[PIT_GROUPS]; /* 0 filling, 1 looked up, 2 placed */
	struct PendingRow *pend;	/* PIT_GROUPS x PIT_PENDING */
	Datum	   *pend_keys;		/* PIT_GROUPS x PIT_PENDING x nkeys */
	Datum	   *pend_values;	/* PIT_GROUPS x PIT_PENDING x nfeat */
	bool	   *pend_nulls;
	MemoryContext pend_cxt[PIT_GROUPS];
	int64	   *times;			/* per position: its entity row's time, for the search */

	int64		view_rows;
} PitState;


typedef struct PendingRow
{
	uint32		hash;
	int64		ikey;
	int64		ts;
	int64		created;
	bool		created_null;
	int32		start;			/* its key's entity rows (count 0: none) */
	int32		count;
	int32		pos;			/* its slot, or -1: no entity row can take it */
} PendingRow;

static uint32
key_hash_generic(PitState *st, Datum *values)
{
	uint32		h = 0;

	for (int i = 0; i < st->nkeys; i++)
	{
		uint32		k = DatumGetUInt32(FunctionCall1Coll(&st->key_hash[i], st->key_coll[i], values[i]));

		h = (h << 1) | (h >> 31);
		h ^= k;
	}
	return h;
}

static bool
key_equal_generic(PitState *st, Datum *a, Datum *b)
{
	for (int i = 0; i < st->nkeys; i++)
		if (!DatumGetBool(FunctionCall2Coll(&st->key_eq[i], st->key_coll[i], a[i], b[i])))
			return false;
	return true;
}

static inline int64
int_key_datum(Oid type, Datum d)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

/*
 * Integer keys as one int64, hashed and compared as a number without a
 * function call: one key of any integer type, or two of at most 32 bits
 * each (a composite key such as (customer_id, region)), side by side.
 */
static inline int64
int_key_value(PitState *st, Datum *values)
{
	if (st->nkeys == 1)
		return int_key_datum(st->int_key_type[0], values[0]);
	return (int64) (((uint64) (uint32) int_key_datum(st->int_key_type[0], values[0]) << 32) |
					(uint64) (uint32) int_key_datum(st->int_key_type[1], values[1]));
}

/* A name list's names, checked to be a one-dimensional array without NULLs. */
static char **
text_array_strings(ArrayType *arr, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **names;

	if (ARR_NDIM(arr) > 1 || array_contains_nulls(arr))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s must be a one-dimensional array without NULLs", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	names = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		names[i] = TextDatumGetCString(elems[i]);
	return names;
}

/*
 * Is the candidate (ts, created, values) better than what position p holds?
 * Later event first, then later created (a NULL loses), then greater values
 * feature by feature (a NULL loses): ORDER BY ... DESC NULLS LAST.
 */
static bool
candidate_beats(PitState *st, int32 p, int64 ts, int64 created, bool created_null, Datum *values, bool *nulls)
{
	Slot	   *s = &st->slots[p];
	Datum	   *wv;
	bool	   *wn;

	if (!s->has)
		return true;
	if (ts != s->w_ts)
		return ts > s->w_ts;
	if (created_null != s->w_created_null)
		return !created_null;
	if (!created_null && created != s->w_created)
		return created > s->w_created;
	wv = st->w_values + (Size) p * st->nfeat;
	wn = st->w_nulls + (Size) p * st->nfeat;
	for (int i = 0; i < st->nfeat; i++)
	{
		int32		c;

		if (nulls[i] != wn[i])
			return !nulls[i];
		if (nulls[i] || st->feat_cmp[i].fn_oid == InvalidOid)
			continue;
		c = DatumGetInt32(FunctionCall2Coll(&st->feat_cmp[i], st->feat_coll[i], values[i], wv[i]));
		if (c != 0)
			return c > 0;
	}
	return false;
}

static void
keep_candidate(PitState *st, int32 p, int64 ts, int64 created, bool created_null, Datum *values, bool *nulls)
{
	Slot	   *s = &st->slots[p];
	Datum	   *wv = st->w_values + (Size) p * st->nfeat;
	bool	   *wn = st->w_nulls + (Size) p * st->nfeat;

	for (int i = 0; i < st->nfeat; i++)
	{
		if (!st->feat_byval[i])
		{
			if (s->has && !wn[i])
				pfree(DatumGetPointer(wv[i]));
			wv[i] = nulls[i] ? (Datum) 0
				: datumCopy(values[i], false, st->feat_len[i]); /* in batch_cxt, see view_receive */
		}
		else
			wv[i] = values[i];
		wn[i] = nulls[i];
	}
	s->has = true;
	s->w_ts = ts;
	s->w_created = created;
	s->w_created_null = created_null;
}

/*
 * The view's rows arrive here, one slot at a time, straight from the
 * executor (no copy): columns are the keys, the event timestamp, the created
 * timestamp (or NULL) and every feature of the view.
 */
typedef struct ViewReceiver
{
	DestReceiver pub;
	PitState   *st;
} ViewReceiver;

/* A group's first stage: its keys' entries, and their times prefetched. */
static void
pending_lookup(PitState *st, int g)
{
	for (int i = g * PIT_PENDING; i < g * PIT_PENDING + st->pend_n[g]; i++)
	{
		PendingRow *p = &st->pend[i];

		if (st->dense)
		{
			/* view_receive kept only keys in the range, and their index */
			p->start = st->dense[p->hash].start;
			p->count = st->dense[p->hash].count;
		}
		else
		{
			KeyEntry   *e;

			if (st->int_key)
				e = intkeytab_lookup_hash(st->intkeys, p->ikey, p->hash);
			else
				e = keytab_lookup_hash(st->keys, st->pend_keys + (Size) i * st->nkeys, p->hash);
			p->start = e ? e->start : 0;
			p->count = e ? e->count : 0;
		}
		if (p->count > 0)
		{
			int64	   *t = st->times + p->start;
			int			n = Min(p->count, 64);

			for (int j = 0; j < n; j += 8)
				pit_prefetch(t + j);
			pit_prefetch(t + n - 1);
		}
	}
	st->pend_stage[g] = 1;
}

/* Its second: the slot each row competes for, and that slot prefetched. */
static void
pending_place(PitState *st, int g)
{
	for (int i = g * PIT_PENDING; i < g * PIT_PENDING + st->pend_n[g]; i++)
	{
		PendingRow *p = &st->pend[i];
		int32		lo,
					hi,
					end;

		p->pos = -1;
		if (p->count == 0)
			continue;
		/* the first entity row of the key at or after ts: that row's slot */
		lo = p->start;
		end = hi = p->start + p->count;
		while (lo < hi)
		{
			int32		mid = lo + (hi - lo) / 2;

			if (st->times[mid] < p->ts)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == end)
			continue;			/* later than every entity row of the key */
		if (st->has_ttl && older_than_ttl(st->times[lo], p->ts, st->ttl))
			continue;			/* too old for every entity row it could serve */
		p->pos = lo;
		pit_prefetch(&st->slots[lo]);
		pit_prefetch(st->w_values + (Size) lo * st->nfeat);
		pit_prefetch(st->w_nulls + (Size) lo * st->nfeat);
	}
	st->pend_stage[g] = 2;
}

/* Its last: each row against its slot, keeping the winners. */
static void
pending_compare(PitState *st, int g)
{
	for (int i = g * PIT_PENDING; i < g * PIT_PENDING + st->pend_n[g]; i++)
	{
		PendingRow *p = &st->pend[i];
		int32		lo = p->pos;
		Datum	   *values = st->pend_values + (Size) i * st->nfeat;
		bool	   *nulls = st->pend_nulls + (Size) i * st->nfeat;

		if (lo < 0)
			continue;
		if (st->slots[lo].has && p->ts < st->slots[lo].w_ts)
			continue;			/* the slot has a later row already */
		if (candidate_beats(st, lo, p->ts, p->created, p->created_null, values, nulls))
		{
			MemoryContext old = MemoryContextSwitchTo(st->batch_cxt);

			keep_candidate(st, lo, p->ts, p->created, p->created_null, values, nulls);
			MemoryContextSwitchTo(old);
		}
	}
	st->pend_n[g] = 0;
	st->pend_stage[g] = 0;
	MemoryContextReset(st->pend_cxt[g]);
}

/*
 * The group being filled is full: it starts the pipeline, and the two
 * before it move on one stage each; then the oldest, now empty, fills.
 */
static void
pending_advance(PitState *st)
{
	int			g = st->cur;
	int			prev = (g + PIT_GROUPS - 1) % PIT_GROUPS;
	int			oldest = (g + 1) % PIT_GROUPS;

	pending_lookup(st, g);
	if (st->pend_stage[prev] == 1)
		pending_place(st, prev);
	if (st->pend_stage[oldest] == 2)
		pending_compare(st, oldest);
	st->cur = oldest;
}

/* Every stage of whatever still waits, oldest first (the view's rows have all come). */
static void
flush_pending(PitState *st)
{
	for (int k = 1; k <= PIT_GROUPS; k++)
	{
		int			g = (st->cur + k) % PIT_GROUPS;

		if (st->pend_n[g] == 0)
			continue;
		if (st->pend_stage[g] == 0)
			pending_lookup(st, g);
		if (st->pend_stage[g] == 1)
			pending_place(st, g);
		pending_compare(st, g);
	}
	st->cur = 0;
}

static bool
view_receive(TupleTableSlot *slot, DestReceiver *self)
{
	PitState   *st = ((ViewReceiver *) self)->st;
	int			k = st->nkeys;
	int			i = st->cur * PIT_PENDING + st->pend_n[st->cur];
	PendingRow *p = &st->pend[i];
	MemoryContext old;

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	st->view_rows++;
	for (int j = 0; j <= k; j++)
		if (slot->tts_isnull[j])
			return true;		/* a NULL key never matches; no time, no row */

	/* the slot is reused for the next row: what waits is copied */
	old = MemoryContextSwitchTo(st->pend_cxt[st->cur]);
	if (st->dense)
	{
		/* unsigned: a key below the range wraps around past its end */
		uint64		idx = (uint64) int_key_value(st, slot->tts_values) - (uint64) st->dense_min;

		if (idx >= st->dense_n)
		{
			MemoryContextSwitchTo(old);
			return true;		/* no entity row has this key */
		}
		p->hash = (uint32) idx;
		pit_prefetch(&st->dense[idx]);
	}
	else if (st->int_key)
	{
		p->ikey = int_key_value(st, slot->tts_values);
		p->hash = hash_int64_key(p->ikey);
		pit_prefetch(&st->intkeys->data[p->hash & st->intkeys->sizemask]);
	}
	else
	{
		Datum	   *keys = st->pend_keys + (Size) i * k;

		for (int j = 0; j < k; j++)
			keys[j] = datumCopy(slot->tts_values[j], st->key_byval[j], st->key_len[j]);
		p->hash = key_hash_generic(st, keys);
		pit_prefetch(&st->keys->data[p->hash & st->keys->sizemask]);
	}
	p->ts = DatumGetInt64(slot->tts_values[k]);
	p->created_null = slot->tts_isnull[k + 1];
	p->created = p->created_null ? 0 : DatumGetInt64(slot->tts_values[k + 1]);
	for (int j = 0; j < st->nfeat; j++)
	{
		bool		isnull = slot->tts_isnull[k + 2 + j];

		st->pend_nulls[(Size) i * st->nfeat + j] = isnull;
		st->pend_values[(Size) i * st->nfeat + j] =
			isnull ? (Datum) 0 : datumCopy(slot->tts_values[k + 2 + j], st->feat_byval[j], st->feat_len[j]);
	}
	MemoryContextSwitchTo(old);
	if (++st->pend_n[st->cur] == PIT_PENDING)
		pending_advance(st);
	return true;
}

static void
view_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
view_shutdown(DestReceiver *self)
{
	PitState   *st = ((ViewReceiver *) self)->st;

	flush_pending(st);
}

static void
view_destroy(DestReceiver *self)
{
}

static int
compare_positions(const void *a, const void *b, void *arg)
{
	const EntityRow *rows = (const EntityRow *) arg;
	int32		ra = *(const int32 *) a;
	int32		rb = *(const int32 *) b;

	if (rows[ra].t != rows[rb].t)
		return rows[ra].t < rows[rb].t ? -1 : 1;
	return ra < rb ? -1 : (ra > rb);
}

/* A new batch: empty hash table and row arrays in a fresh context. */
static void
batch_begin(PitState *st, MemoryContext parent)
{
	MemoryContext old;

	st->batch_cxt = AllocSetContextCreate(parent, "point_in_time_join batch", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(st->batch_cxt);
	if (st->int_key)
		st->intkeys = intkeytab_create(st->batch_cxt, 1024, st);
	else
		st->keys = keytab_create(st->batch_cxt, 1024, st);
	st->rows_alloc = 4096;
	st->rows = palloc(sizeof(EntityRow) * st->rows_alloc);
	st->nrows = 0;
	st->groups_alloc = 1024;
	st->groups = palloc(sizeof(KeyGroup) * st->groups_alloc);
	st->ngroups = 0;
	st->min_t = PG_INT64_MAX;
	st->max_t = PG_INT64_MIN;
	MemoryContextSwitchTo(old);
}

static Size
batch_memory(PitState *st)
{
	return MemoryContextMemAllocated(st->batch_cxt, true);
}

/* Add one entity row (its keys and time, as the view's types). */
static void
batch_add(PitState *st, Datum *keyvals, bool *keynulls, Datum t, bool t_null)
{
	EntityRow  *r;
	MemoryContext old = MemoryContextSwitchTo(st->batch_cxt);
	bool		any_null = t_null;

	if (st->nrows == st->rows_alloc)
	{
		st->rows_alloc *= 2;
		st->rows = repalloc_huge(st->rows, sizeof(EntityRow) * st->rows_alloc);
	}
	r = &st->rows[st->nrows++];
	r->group = -1;
	r->pos = -1;
	for (int i = 0; i < st->nkeys; i++)
		any_null |= keynulls[i];
	if (!any_null)
	{
		KeyEntry   *e;
		bool		found;

		if (st->int_key)
			e = intkeytab_insert(st->intkeys, int_key_value(st, keyvals), &found);
		else
			e = keytab_insert(st->keys, keyvals, &found);
		if (!found)
		{
			if (!st->int_key)
			{
				Datum	   *copy = palloc(sizeof(Datum) * st->nkeys);

				for (int i = 0; i < st->nkeys; i++)
					copy[i] = datumCopy(keyvals[i], st->key_byval[i], st->key_len[i]);
				e->values = copy;
			}
			if (st->ngroups == st->groups_alloc)
			{
				st->groups_alloc *= 2;
				st->groups = repalloc_huge(st->groups, sizeof(KeyGroup) * st->groups_alloc);
			}
			e->group = st->ngroups;
			st->groups[st->ngroups].count = 0;
			st->ngroups++;
		}
		r->group = e->group;
		r->t = DatumGetInt64(t);
		st->groups[e->group].count++;
		st->min_t = Min(st->min_t, r->t);
		st->max_t = Max(st->max_t, r->t);
	}
	MemoryContextSwitchTo(old);
}

/* Lay the batch's rows out grouped by key and sorted by time; empty slots. */
static void
batch_arrange(PitState *st)
{
	MemoryContext old = MemoryContextSwitchTo(st->batch_cxt);
	int32		pos = 0;
	int32	   *fill;

	for (int32 g = 0; g < st->ngroups; g++)
	{
		st->groups[g].start = pos;
		pos += st->groups[g].count;
	}
	st->npos = pos;
	st->pos_rid = palloc_extended(sizeof(int32) * Max(pos, 1), MCXT_ALLOC_HUGE);
	fill = palloc_extended(sizeof(int32) * Max(st->ngroups, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int32 r = 0; r < st->nrows; r++)
	{
		int32		g = st->rows[r].group;

		if (g >= 0)
			st->pos_rid[st->groups[g].start + fill[g]++] = r;
	}
	pfree(fill);
	for (int32 g = 0; g < st->ngroups; g++)
		if (st->groups[g].count > 1)
			qsort_arg(st->pos_rid + st->groups[g].start, st->groups[g].count, sizeof(int32),
					  compare_positions, st->rows);
	st->slots = palloc_extended(sizeof(Slot) * Max(pos, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	st->times = palloc_extended(sizeof(int64) * Max(pos, 1), MCXT_ALLOC_HUGE);
	for (int32 p = 0; p < pos; p++)
	{
		st->slots[p].t = st->times[p] = st->rows[st->pos_rid[p]].t;
		st->rows[st->pos_rid[p]].pos = p;
	}
	st->w_values = palloc_extended(sizeof(Datum) * Max(pos, 1) * st->nfeat, MCXT_ALLOC_HUGE);
	st->w_nulls = palloc_extended(sizeof(bool) * Max(pos, 1) * st->nfeat, MCXT_ALLOC_HUGE);

	/*
	 * The view's pass finds a key's rows from its hash entry; or, for integer
	 * keys that are dense enough (surrogate ids), from an array indexed by
	 * the key less the smallest: 8 bytes a key, with no hashing nor probing,
	 * and small enough to stay in the CPU's cache where the hash table does
	 * not.
	 */
	st->dense = NULL;
	if (st->int_key)
	{
		intkeytab_iterator it;
		KeyEntry   *e;
		int64		kmin = PG_INT64_MAX;
		int64		kmax = PG_INT64_MIN;

		intkeytab_start_iterate(st->intkeys, &it);
		while ((e = intkeytab_iterate(st->intkeys, &it)) != NULL)
		{
			e->start = st->groups[e->group].start;
			e->count = st->groups[e->group].count;
			kmin = Min(kmin, e->ikey);
			kmax = Max(kmax, e->ikey);
		}
		if (st->ngroups > 0 && (uint64) kmax - (uint64) kmin < Min((uint64) 4 * st->ngroups + 1024, PG_UINT32_MAX))
		{
			st->dense_min = kmin;
			st->dense_n = (uint64) kmax - (uint64) kmin + 1;
			st->dense = palloc_extended(sizeof(KeyGroup) * st->dense_n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
			intkeytab_start_iterate(st->intkeys, &it);
			while ((e = intkeytab_iterate(st->intkeys, &it)) != NULL)
				st->dense[(uint64) e->ikey - (uint64) kmin] = st->groups[e->group];
		}
	}
	else
	{
		keytab_iterator it;
		KeyEntry   *e;

		keytab_start_iterate(st->keys, &it);
		while ((e = keytab_iterate(st->keys, &it)) != NULL)
		{
			e->start = st->groups[e->group].start;
			e->count = st->groups[e->group].count;
		}
	}
	MemoryContextSwitchTo(old);
}

/*
 * After the view's pass: each position's answer is the best slot at or
 * before it within its key (a running best), if it is within the ttl.
 * answer[r] is the slot whose row entity row r (in the order read) takes,
 * or -1: indexed by row, so that the rows come out reading it in order.
 */
static int32 *
batch_resolve(PitState *st)
{
	int32	   *answer = MemoryContextAllocHuge(st->batch_cxt, sizeof(int32) * Max(st->nrows, 1));

	memset(answer, -1, sizeof(int32) * st->nrows);

	for (int32 g = 0; g < st->ngroups; g++)
	{
		int32		best = -1;

		for (int32 p = st->groups[g].start; p < st->groups[g].start + st->groups[g].count; p++)
		{
			Slot	   *s = &st->slots[p];

			if (s->has &&
				(best < 0 || candidate_beats(st, best, s->w_ts, s->w_created, s->w_created_null,
											 st->w_values + (Size) p * st->nfeat,
											 st->w_nulls + (Size) p * st->nfeat)))
				best = p;
			if (best >= 0 && !(st->has_ttl && older_than_ttl(s->t, st->slots[best].w_ts, st->ttl)))
				answer[st->pos_rid[p]] = best;
		}
	}
	return answer;
}

/* The view's features for the batch: one pass over its rows. */
static void
batch_scan_view(PitState *st, SPIPlanPtr view_plan)
{
	ViewReceiver recv;
	SPIExecuteOptions options;
	ParamListInfo params;
	int			rc;

	if (st->npos == 0)
		return;
	memset(&recv, 0, sizeof(recv));
	recv.pub.receiveSlot = view_receive;
	recv.pub.rStartup = view_startup;
	recv.pub.rShutdown = view_shutdown;
	recv.pub.rDestroy = view_destroy;
	recv.pub.mydest = DestNone;
	recv.st = st;

	/*
	 * Only rows that can be an answer: not after the batch's last time, nor
	 * (with a ttl) before its first time less the ttl.
	 */
	params = makeParamList(2);
	params->numParams = st->has_ttl ? 2 : 1;
	params->params[0].value = Int64GetDatum(st->max_t);
	params->params[0].isnull = false;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].ptype = SPI_getargtypeid(view_plan, 0);
	if (st->has_ttl)
	{
		int64		lower;

		/* as older_than_ttl: -infinity less the ttl is -infinity */
		if (TIMESTAMP_IS_NOBEGIN(st->min_t))
			lower = st->min_t;
		else if (pg_sub_s64_overflow(st->min_t, st->ttl, &lower) || lower < MIN_TIMESTAMP)
			lower = MIN_TIMESTAMP;
		params->params[1].value = Int64GetDatum(lower);
		params->params[1].isnull = false;
		params->params[1].pflags = PARAM_FLAG_CONST;
		params->params[1].ptype = SPI_getargtypeid(view_plan, 1);
	}
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) &recv;
	rc = SPI_execute_plan_extended(view_plan, &options);
	/* with a receiver of its own, SPI reports a SELECT as a utility */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "point_in_time_join: unexpected result %d from the view's query", rc);
}

/* The columns a prepared SELECT returns. */
static TupleDesc
view_plan_desc(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *ps;

	if (list_length(sources) != 1)
		elog(ERROR, "point_in_time_join: the view's query must be one SELECT");
	ps = (CachedPlanSource *) linitial(sources);
	if (ps->resultDesc == NULL)
		elog(ERROR, "point_in_time_join: the view's query returns no rows");
	return ps->resultDesc;
}

static void
check_column_types(TupleDesc expected, int from, int count, TupleDesc actual, int actual_from, const char *what)
{
	for (int i = 0; i < count; i++)
	{
		Oid			e = TupleDescAttr(expected, from + i)->atttypid;
		Oid			a = TupleDescAttr(actual, actual_from + i)->atttypid;

		if (e != a)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("point_in_time_join: column %d of the result is %s, but the %s gives %s",
							from + i + 1, format_type_be(e), what, format_type_be(a)),
					 errhint("Take the query from mlops.training_set_query().")));
	}
}

/*
 * One view of a call: what the caller asked, as text, before anything is
 * prepared.
 */
typedef struct PitSpec
{
	char	  **key_names;
	char	  **key_type_names;
	int			nkeys;
	int			n_key_types;
	char	   *view_sql;
	char	   *ts_col;
	char	   *ts_type;
	char	   *created_col;	/* or NULL */
	char	  **feat_names;
	int			nfeat;
	char	  **req_names;
	int			nreq;
	bool		has_ttl;
	int64		ttl;
} PitSpec;

/* Checks what every spec needs, whichever way it came. */
static void
check_spec(PitSpec *spec)
{
	if (spec->nkeys < 1 || spec->nkeys > INDEX_MAX_KEYS || spec->n_key_types != spec->nkeys)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: between 1 and %d join keys, each with its type", INDEX_MAX_KEYS)));
	if (spec->nfeat < 1 || spec->nreq < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: the view has features and at least one is asked for")));
	if (spec->has_ttl && spec->ttl <= 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("point_in_time_join: ttl must be positive")));
	if (strcmp(spec->ts_type, "timestamp with time zone") != 0 &&
		strcmp(spec->ts_type, "timestamp without time zone") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: timestamp_type is \"timestamp with time zone\" or \"timestamp without time zone\"")));
}

/* views jsonb: a member of one view's object, or NULL when absent or null */
static JsonbValue *
spec_member(JsonbContainer *obj, const char *key, bool required)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
	if (v != NULL && v->type == jbvNull)
		v = NULL;
	if (v == NULL && required)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: each view needs \"%s\"", key),
						errhint("Take the query from mlops.training_set_query().")));
	return v;
}

static char *
spec_string(JsonbContainer *obj, const char *key, bool required)
{
	JsonbValue *v = spec_member(obj, key, required);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: \"%s\" of a view must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static char **
spec_strings(JsonbContainer *obj, const char *key, int *n)
{
	JsonbValue *v = spec_member(obj, key, true);
	char	  **out;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: \"%s\" of a view must be an array of strings", key)));
	*n = JsonContainerSize(v->val.binary.data);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

		if (e == NULL || e->type != jbvString)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("point_in_time_join: \"%s\" of a view must be an array of strings", key)));
		out[i] = pnstrdup(e->val.string.val, e->val.string.len);
	}
	return out;
}

/* The jsonb form's views, in order. */
static PitSpec *
specs_from_jsonb(Jsonb *views, int *nviews)
{
	PitSpec    *specs;

	if (!JB_ROOT_IS_ARRAY(views) || JB_ROOT_IS_SCALAR(views) || JB_ROOT_COUNT(views) < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("point_in_time_join: views must be a non-empty JSON array of objects"),
						errhint("Take the query from mlops.training_set_query().")));
	*nviews = JB_ROOT_COUNT(views);
	specs = palloc0(sizeof(PitSpec) * *nviews);
	for (int i = 0; i < *nviews; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&views->root, i);
		JsonbContainer *obj;
		PitSpec    *spec = &specs[i];
		JsonbValue *ttl;

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("point_in_time_join: views must be a non-empty JSON array of objects")));
		obj = v->val.binary.data;
		spec->key_names = spec_strings(obj, "join_keys", &spec->nkeys);
		spec->key_type_names = spec_strings(obj, "key_types", &spec->n_key_types);
		spec->view_sql = spec_string(obj, "view_sql", true);
		spec->ts_col = spec_string(obj, "timestamp_column", true);
		spec->ts_type = spec_string(obj, "timestamp_type", true);
		spec->created_col = spec_string(obj, "created_timestamp_column", false);
		spec->feat_names = spec_strings(obj, "view_features", &spec->nfeat);
		spec->req_names = spec_strings(obj, "features", &spec->nreq);
		ttl = spec_member(obj, "ttl_microseconds", false);
		spec->has_ttl = ttl != NULL;
		if (ttl != NULL)
		{
			if (ttl->type != jbvNumeric)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("point_in_time_join: \"ttl_microseconds\" of a view must be a number")));
			spec->ttl = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(ttl->val.numeric)));
		}
		check_spec(spec);
	}
	return specs;
}

/*
 * A view's state from its spec, before the entity query runs: the
 * requested features among the view's, and the query that reads the view.
 */
static void
view_begin(PitState *st, PitSpec *spec)
{
	st->nkeys = spec->nkeys;
	st->nfeat = spec->nfeat;
	st->nreq = spec->nreq;
	st->has_ttl = spec->has_ttl;
	st->ttl = spec->ttl;
	st->ts_oid = strcmp(spec->ts_type, "timestamp with time zone") == 0 ? TIMESTAMPTZOID : TIMESTAMPOID;
	st->req_index = palloc(sizeof(int) * st->nreq);
	for (int j = 0; j < st->nreq; j++)
	{
		st->req_index[j] = -1;
		for (int i = 0; i < st->nfeat; i++)
			if (strcmp(spec->req_names[j], spec->feat_names[i]) == 0)
				st->req_index[j] = i;
		if (st->req_index[j] < 0)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
							errmsg("point_in_time_join: \"%s\" is not one of the view's features", spec->req_names[j])));
	}
}

/* the view's rows that can match: keys, times and every feature */
static char *
view_query(PitState *st, PitSpec *spec)
{
	StringInfoData v;

	initStringInfo(&v);
	appendStringInfoString(&v, "SELECT ");
	for (int i = 0; i < st->nkeys; i++)
		appendStringInfo(&v, "v.%s, ", quote_identifier(spec->key_names[i]));
	appendStringInfo(&v, "v.%s, ", quote_identifier(spec->ts_col));
	if (spec->created_col)
		appendStringInfo(&v, "v.%s, ", quote_identifier(spec->created_col));
	else
		appendStringInfoString(&v, "NULL::timestamp, ");
	for (int i = 0; i < st->nfeat; i++)
		appendStringInfo(&v, "%sv.%s", i ? ", " : "", quote_identifier(spec->feat_names[i]));
	appendStringInfo(&v, " FROM %s v WHERE v.%s <= $1", spec->view_sql, quote_identifier(spec->ts_col));
	if (st->has_ttl)
		appendStringInfo(&v, " AND v.%s >= $2", quote_identifier(spec->ts_col));
	return v.data;
}

/*
 * The rest of a view's state, once the entity query's columns are known:
 * how its keys hash and compare, its prepared query, and the types checked
 * against the entity source's and the result's.
 */
static void
view_prepare(PitState *st, PitSpec *spec, TupleDesc entity_desc, TupleDesc result_desc, MemoryContext fn_cxt)
{
	Oid			view_argtypes[2];
	TupleDesc	view_desc;

	st->key_hash = palloc0(sizeof(FmgrInfo) * st->nkeys);
	st->key_eq = palloc0(sizeof(FmgrInfo) * st->nkeys);
	st->key_coll = palloc0(sizeof(Oid) * st->nkeys);
	st->key_byval = palloc0(sizeof(bool) * st->nkeys);
	st->key_len = palloc0(sizeof(int16) * st->nkeys);
	for (int i = 0; i < st->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(entity_desc, st->key_col + i);
		TypeCacheEntry *tc = lookup_type_cache(att->atttypid, TYPECACHE_HASH_PROC_FINFO | TYPECACHE_EQ_OPR_FINFO);

		if (!OidIsValid(tc->hash_proc) || !OidIsValid(tc->eq_opr))
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
							errmsg("point_in_time_join: join keys of type %s cannot be hashed",
								   format_type_be(att->atttypid))));
		fmgr_info_cxt(tc->hash_proc_finfo.fn_oid, &st->key_hash[i], fn_cxt);
		fmgr_info_cxt(tc->eq_opr_finfo.fn_oid, &st->key_eq[i], fn_cxt);
		st->key_coll[i] = att->attcollation;
		st->key_byval[i] = att->attbyval;
		st->key_len[i] = att->attlen;
	}
	if (st->nkeys == 1)
	{
		Oid			kt = TupleDescAttr(entity_desc, st->key_col)->atttypid;

		st->int_key = (kt == INT2OID || kt == INT4OID || kt == INT8OID);
		st->int_key_type[0] = kt;
	}
	else if (st->nkeys == 2)
	{
		Oid			k0 = TupleDescAttr(entity_desc, st->key_col)->atttypid;
		Oid			k1 = TupleDescAttr(entity_desc, st->key_col + 1)->atttypid;

		st->int_key = (k0 == INT2OID || k0 == INT4OID) && (k1 == INT2OID || k1 == INT4OID);
		st->int_key_type[0] = k0;
		st->int_key_type[1] = k1;
	}
	if (TupleDescAttr(entity_desc, st->key_col + st->nkeys)->atttypid != st->ts_oid)
		elog(ERROR, "point_in_time_join: the entity time is not of the view's timestamp type");

	view_argtypes[0] = st->ts_oid;
	view_argtypes[1] = st->ts_oid;
	st->view_plan = SPI_prepare_cursor(view_query(st, spec), st->has_ttl ? 2 : 1, view_argtypes, CURSOR_OPT_PARALLEL_OK);
	if (st->view_plan == NULL)
		elog(ERROR, "point_in_time_join: cannot prepare the view's query: %s", SPI_result_code_string(SPI_result));
	view_desc = view_plan_desc(st->view_plan);
	if (view_desc->natts != st->nkeys + 2 + st->nfeat)
		elog(ERROR, "point_in_time_join: the view's query returns %d columns", view_desc->natts);
	for (int i = 0; i < st->nkeys; i++)
		if (TupleDescAttr(view_desc, i)->atttypid != TupleDescAttr(entity_desc, st->key_col + i)->atttypid)
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
							errmsg("point_in_time_join: join key \"%s\" of the view is %s, not %s",
								   spec->key_names[i],
								   format_type_be(TupleDescAttr(view_desc, i)->atttypid),
								   format_type_be(TupleDescAttr(entity_desc, st->key_col + i)->atttypid))));
	if (TupleDescAttr(view_desc, st->nkeys)->atttypid != st->ts_oid)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("point_in_time_join: the view's timestamp column is %s, not %s",
							   format_type_be(TupleDescAttr(view_desc, st->nkeys)->atttypid), spec->ts_type)));
	{
		Oid			ct = TupleDescAttr(view_desc, st->nkeys + 1)->atttypid;

		if (ct != TIMESTAMPOID && ct != TIMESTAMPTZOID)
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
							errmsg("point_in_time_join: the created timestamp column is %s", format_type_be(ct))));
	}
	for (int j = 0; j < st->nreq; j++)
		check_column_types(result_desc, st->out_col + j, 1, view_desc, st->nkeys + 2 + st->req_index[j],
						   "feature view");

	/* how features order, for ties */
	st->feat_cmp = palloc0(sizeof(FmgrInfo) * st->nfeat);
	st->feat_coll = palloc0(sizeof(Oid) * st->nfeat);
	st->feat_byval = palloc0(sizeof(bool) * st->nfeat);
	st->feat_len = palloc0(sizeof(int16) * st->nfeat);
	for (int i = 0; i < st->nfeat; i++)
	{
		Form_pg_attribute att = TupleDescAttr(view_desc, st->nkeys + 2 + i);
		TypeCacheEntry *tc = lookup_type_cache(att->atttypid, TYPECACHE_CMP_PROC_FINFO);

		if (OidIsValid(tc->cmp_proc))
			fmgr_info_cxt(tc->cmp_proc_finfo.fn_oid, &st->feat_cmp[i], fn_cxt);
		st->feat_coll[i] = att->attcollation;
		st->feat_byval[i] = att->attbyval;
		st->feat_len[i] = att->attlen;
	}

	st->pend = palloc0(sizeof(PendingRow) * PIT_GROUPS * PIT_PENDING);
	st->pend_keys = palloc0(sizeof(Datum) * PIT_GROUPS * PIT_PENDING * st->nkeys);
	st->pend_values = palloc0(sizeof(Datum) * PIT_GROUPS * PIT_PENDING * st->nfeat);
	st->pend_nulls = palloc0(sizeof(bool) * PIT_GROUPS * PIT_PENDING * st->nfeat);
}

/*
 * The join itself, for every view at once: the entity rows are read (and
 * kept) once, each view is read once per batch, and each entity row comes
 * out once with every view's features.  (One call per view, nested, read
 * and stored the entity rows again for every view.)
 */
static void
point_in_time_join(FunctionCallInfo fcinfo, const char *entity_sql, const char *event_col, PitSpec *specs, int nviews)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PitState   *views;
	StringInfoData q;
	TupleDesc	result_desc;
	int			n_entity_out;
	int			n_entity_in;
	int			n_out_features = 0;
	int			n_in_extra = 0;
	SPIPlanPtr	plan;
	TupleDesc	entity_desc;
	Portal		portal;
	Tuplestorestate *batch_rows;
	TupleTableSlot *row_slot;
	MemoryContext fn_cxt = CurrentMemoryContext;
	MemoryContext state_cxt;
	Size		limit = get_hash_memory_limit();
	Datum	   *out_values;
	bool	   *out_nulls;
	Datum	   *in_values;
	bool	   *in_nulls;
	int32	  **answers;
	int64		nrows;

	views = palloc0(sizeof(PitState) * nviews);
	for (int v = 0; v < nviews; v++)
	{
		view_begin(&views[v], &specs[v]);
		n_out_features += views[v].nreq;
		n_in_extra += views[v].nkeys + 1;
	}

	/*
	 * The result's columns are the caller's column definition list.  Its
	 * descriptor is copied (without the flag, 15's InitMaterializedSRF
	 * hands back the executor's own, which the executor frees after the
	 * call: a second call in one query, as a LATERAL one makes, crashed).
	 */
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	result_desc = rsinfo->setDesc;
	n_entity_out = result_desc->natts - n_out_features;
	if (n_entity_out < 1)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("point_in_time_join: the result has fewer columns than features")));

	state_cxt = AllocSetContextCreate(fn_cxt, "point_in_time_join", ALLOCSET_DEFAULT_SIZES);

	/* the entity rows, followed by each view's keys and time in its types */
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT e.*");
	{
		int			in_col = n_entity_out;
		int			out_col = n_entity_out;

		for (int v = 0; v < nviews; v++)
		{
			PitSpec    *spec = &specs[v];

			views[v].key_col = in_col;
			views[v].out_col = out_col;
			for (int i = 0; i < spec->nkeys; i++)
				appendStringInfo(&q, ", (e.%s)::%s", quote_identifier(spec->key_names[i]), spec->key_type_names[i]);
			appendStringInfo(&q, ", (e.%s)::%s", quote_identifier(event_col), spec->ts_type);
			in_col += spec->nkeys + 1;
			out_col += spec->nreq;
		}
	}
	appendStringInfo(&q, " FROM (%s) e", entity_sql);

	batch_rows = tuplestore_begin_heap(false, false, work_mem);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	plan = SPI_prepare_cursor(q.data, 0, NULL, 0);
	if (plan == NULL)
		elog(ERROR, "point_in_time_join: cannot prepare the entity query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	n_entity_in = portal->tupDesc->natts;
	if (n_entity_in != n_entity_out + n_in_extra)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("point_in_time_join: the result has %d columns, but the entity source has %d and %d features were asked for",
						result_desc->natts, n_entity_in - n_in_extra, n_out_features),
				 errhint("Take the query from mlops.training_set_query().")));
	check_column_types(result_desc, 0, n_entity_out, portal->tupDesc, 0, "entity source");
	entity_desc = CreateTupleDescCopy(portal->tupDesc);

	for (int v = 0; v < nviews; v++)
	{
		view_prepare(&views[v], &specs[v], entity_desc, result_desc, fn_cxt);
		for (int g = 0; g < PIT_GROUPS; g++)
			views[v].pend_cxt[g] = AllocSetContextCreate(state_cxt, "point_in_time_join rows", ALLOCSET_SMALL_SIZES);
	}

	out_values = palloc(sizeof(Datum) * result_desc->natts);
	out_nulls = palloc(sizeof(bool) * result_desc->natts);
	in_values = palloc(sizeof(Datum) * n_entity_in);
	in_nulls = palloc(sizeof(bool) * n_entity_in);
	answers = palloc(sizeof(int32 *) * nviews);
	row_slot = MakeSingleTupleTableSlot(entity_desc, &TTSOpsMinimalTuple);

	for (int v = 0; v < nviews; v++)
		batch_begin(&views[v], state_cxt);
	nrows = 0;
	for (;;)
	{
		bool		eof;
		Size		used = 0;

		/* a batch ends on a fetch's last row: no fetched row is left over */
		SPI_cursor_fetch(portal, true, Min(10000, PG_INT32_MAX / 2 - nrows));
		eof = (SPI_processed == 0);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];

			heap_deform_tuple(tup, SPI_tuptable->tupdesc, in_values, in_nulls);
			tuplestore_puttuple(batch_rows, tup);
			for (int v = 0; v < nviews; v++)
			{
				PitState   *st = &views[v];

				batch_add(st, in_values + st->key_col, in_nulls + st->key_col,
						  in_values[st->key_col + st->nkeys], in_nulls[st->key_col + st->nkeys]);
			}
			nrows++;
		}
		SPI_freetuptable(SPI_tuptable);
		/*
		 * Each view's slots are bounded by the hash memory limit, as each
		 * hash node of a plan is: summing them would take the big views in
		 * more batches, so more passes, for the sake of the small ones.
		 */
		for (int v = 0; v < nviews; v++)
			used = Max(used, batch_memory(&views[v]));
		if (nrows > 0 && (eof || used > limit || nrows >= PG_INT32_MAX / 2))
		{
			int32		rid = 0;

			for (int v = 0; v < nviews; v++)
			{
				PitState   *st = &views[v];

				batch_arrange(st);
				batch_scan_view(st, st->view_plan);
				elog(DEBUG1, "point_in_time_join: a batch of %d entity rows (%d keys) in %zu kB, against " INT64_FORMAT " view rows",
					 st->nrows, st->ngroups, batch_memory(st) / 1024, st->view_rows);
				st->view_rows = 0;
				answers[v] = batch_resolve(st);
			}
			tuplestore_rescan(batch_rows);
			while (tuplestore_gettupleslot(batch_rows, true, false, row_slot))
			{
				CHECK_FOR_INTERRUPTS();
				slot_getallattrs(row_slot);
				memcpy(out_values, row_slot->tts_values, sizeof(Datum) * n_entity_out);
				memcpy(out_nulls, row_slot->tts_isnull, sizeof(bool) * n_entity_out);
				for (int v = 0; v < nviews; v++)
				{
					PitState   *st = &views[v];
					int32		a = answers[v][rid];

					/* the answers are in random places: ask for one a few rows ahead */
					if (rid + 16 < st->nrows && answers[v][rid + 16] >= 0)
					{
						pit_prefetch(st->w_values + (Size) answers[v][rid + 16] * st->nfeat);
						pit_prefetch(st->w_nulls + (Size) answers[v][rid + 16] * st->nfeat);
					}

					for (int j = 0; j < st->nreq; j++)
					{
						Size		w = (Size) a * st->nfeat + st->req_index[j];

						out_nulls[st->out_col + j] = a < 0 || st->w_nulls[w];
						out_values[st->out_col + j] = a < 0 ? (Datum) 0 : st->w_values[w];
					}
				}
				tuplestore_putvalues(rsinfo->setResult, result_desc, out_values, out_nulls);
				rid++;
			}
			tuplestore_clear(batch_rows);
			nrows = 0;
			for (int v = 0; v < nviews; v++)
			{
				MemoryContextDelete(views[v].batch_cxt);
				batch_begin(&views[v], state_cxt);
			}
		}
		if (eof)
			break;
	}
	SPI_cursor_close(portal);
	ExecDropSingleTupleTableSlot(row_slot);
	tuplestore_end(batch_rows);
	SPI_finish();
	MemoryContextDelete(state_cxt);
}

PG_FUNCTION_INFO_V1(mlops_point_in_time_join);

/*
 * point_in_time_join(entity_sql text, event_timestamp_column text,
 *     join_keys text[], key_types text[], view_sql text,
 *     timestamp_column text, timestamp_type text,
 *     created_timestamp_column text, view_features text[], features text[],
 *     ttl_microseconds bigint) RETURNS SETOF record: one view.
 *
 * Runs as its caller: every query reads the caller's data with the caller's
 * privileges.
 */
Datum
mlops_point_in_time_join(PG_FUNCTION_ARGS)
{
	static const char *const argnames[] = {"entity_sql", "event_timestamp_column", "join_keys", "key_types",
		"view_sql", "timestamp_column", "timestamp_type", NULL, "view_features", "features", NULL};
	PitSpec		spec;

	for (int i = 0; i < 11; i++)
		if (argnames[i] != NULL && PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("point_in_time_join: %s must not be NULL", argnames[i])));
	memset(&spec, 0, sizeof(spec));
	spec.key_names = text_array_strings(PG_GETARG_ARRAYTYPE_P(2), "join_keys", &spec.nkeys);
	spec.key_type_names = text_array_strings(PG_GETARG_ARRAYTYPE_P(3), "key_types", &spec.n_key_types);
	spec.view_sql = text_to_cstring(PG_GETARG_TEXT_PP(4));
	spec.ts_col = text_to_cstring(PG_GETARG_TEXT_PP(5));
	spec.ts_type = text_to_cstring(PG_GETARG_TEXT_PP(6));
	spec.created_col = PG_ARGISNULL(7) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(7));
	spec.feat_names = text_array_strings(PG_GETARG_ARRAYTYPE_P(8), "view_features", &spec.nfeat);
	spec.req_names = text_array_strings(PG_GETARG_ARRAYTYPE_P(9), "features", &spec.nreq);
	spec.has_ttl = !PG_ARGISNULL(10);
	spec.ttl = spec.has_ttl ? PG_GETARG_INT64(10) : 0;
	check_spec(&spec);
	point_in_time_join(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
					   &spec, 1);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mlops_point_in_time_join_views);

/*
 * point_in_time_join(entity_sql text, event_timestamp_column text,
 *     views jsonb) RETURNS SETOF record: several views in one pass over the
 * entity rows; views is an array of objects with the one-view form's
 * arguments as members (created_timestamp_column and ttl_microseconds may
 * be absent or null).  The result: the entity columns, then each view's
 * features in the order given.
 */
Datum
mlops_point_in_time_join_views(PG_FUNCTION_ARGS)
{
	PitSpec    *specs;
	int			nviews;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("point_in_time_join: %s must not be NULL",
							   PG_ARGISNULL(0) ? "entity_sql" : PG_ARGISNULL(1) ? "event_timestamp_column" : "views")));
	specs = specs_from_jsonb(PG_GETARG_JSONB_P(2), &nviews);
	point_in_time_join(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
					   specs, nviews);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mlops_features_changed);

/*
 * _features_changed(): a definition changed; every backend's cached
 * definitions (the online readers') are stale at its next command.
 */
Datum
mlops_features_changed(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_namespace_oid("mlops", false);
	Oid			rel = get_relname_relid("feature_views", nsp);

	if (OidIsValid(rel))
		CacheInvalidateRelcacheByRelid(rel);
	PG_RETURN_VOID();
}

/*
 * The online read path: feature_vector(service, keys).
 *
 * A scoring query calls it once per row, so it keeps, per backend, each
 * service's plan: one prepared lookup per view on its online table's
 * primary key, returning the service's features of that view as float8 and
 * whether the row is past its ttl.  A change to any definition (or a view's
 * first materialization) invalidates the relcache entry of
 * mlops.feature_views (_features_changed); the callback only marks the cache
 * stale, since it can run while a cached plan is executing, and the next
 * call rebuilds.
 */
typedef struct OnlineView
{
	SPIPlanPtr	plan;			/* keys from a jsonb object */
	SPIPlanPtr	key_plan;		/* one key from a value of key_plan_type */
	Oid			key_plan_type;
	char	   *select_from;	/* the read up to its WHERE, for key_plan */
	char	   *key_type;		/* the one key's type, for key_plan */
	int			nkeys;
	char	  **key_names;
	int			nout;
	int		   *out_pos;		/* this view's features -> positions in the vector */
} OnlineView;

typedef struct OnlineService
{
	char		name[256];		/* hash key: service names have at most 250 bytes */
	uint64		generation;
	int			nfeatures;
	int			nviews;
	OnlineView *views;
	MemoryContext cxt;
} OnlineService;

static HTAB *online_services = NULL;
static uint64 online_generation = 1;
static Oid	feature_views_relid = InvalidOid;
static bool online_callback_registered = false;

static void
online_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == feature_views_relid)
		online_generation++;
}

static void
online_free(OnlineService *s)
{
	for (int i = 0; i < s->nviews; i++)
	{
		if (s->views[i].plan)
			SPI_freeplan(s->views[i].plan);
		if (s->views[i].key_plan)
			SPI_freeplan(s->views[i].key_plan);
	}
	if (s->cxt)
		MemoryContextDelete(s->cxt);
	s->cxt = NULL;
	s->nviews = 0;
	s->views = NULL;
}

/* Reads a service's definition; called connected to SPI. */
static void
online_build(OnlineService *s, const char *service)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			rc;
	MemoryContext old;

	/* checked when the plan is made; every read is checked by the online table's privileges */
	if (SPI_execute("SELECT mlops._require_role('mlops_reader', 'feature_vector')", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "feature_vector: role check failed");
	s->cxt = AllocSetContextCreate(TopMemoryContext, "mlops feature_vector", ALLOCSET_SMALL_SIZES);
	args[0] = CStringGetTextDatum(service);

	/*
	 * The service's features by view: each view's online table, keys, ttl
	 * and its features with their places in the vector.
	 */
	rc = SPI_execute_with_args(
							   "SELECT v.name, v.online_table, v.join_keys, v.key_types, v.timestamp_column, "
							   "       mlops._ttl_microseconds(v.ttl), array_agg(p.feature ORDER BY p.ord), "
							   "       array_agg(p.ord ORDER BY p.ord), array_agg(p.feature_type ORDER BY p.ord), "
							   "       bool_and(p.feature_type = 'double precision' OR EXISTS ("
							   "           SELECT FROM pg_catalog.pg_cast c WHERE c.castsource = p.feature_type::regtype "
							   "              AND c.casttarget = 'float8'::regtype)) "
							   "  FROM mlops._requested_features(ARRAY[$1], false) p "
							   "  JOIN mlops.feature_views v ON v.name = p.view_name "
							   " GROUP BY v.view_id ORDER BY min(p.ord)",
							   1, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "feature_vector: cannot read feature service \"%s\"", service);

	old = MemoryContextSwitchTo(s->cxt);
	s->nviews = (int) SPI_processed;
	s->views = palloc0(sizeof(OnlineView) * Max(s->nviews, 1));
	s->nfeatures = 0;
	for (int i = 0; i < s->nviews; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *vname = SPI_getvalue(tup, desc, 1);
		Datum		d;
		ArrayType  *keys,
				   *key_types,
				   *feats,
				   *ords;
		int			nkeys,
					nkey_types,
					nfeat;
		char	  **key_list;
		char	  **key_type_list;
		char	  **feat_list;
		StringInfoData q;
		OnlineView *ov = &s->views[i];
		bool		castable;

		(void) SPI_getbinval(tup, desc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("feature view \"%s\" has not been materialized", vname),
					 errhint("CALL mlops.materialize_online(view).")));
		castable = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
		if (!castable)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature service \"%s\" has a feature of view \"%s\" that is not a number", service, vname),
					 errdetail("feature_vector returns float8[]; its features' types: %s.",
							   SPI_getvalue(tup, desc, 9)),
					 errhint("Read it with mlops.online_features(), or store a category as its 0-based index.")));
		keys = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull));
		key_types = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull));
		feats = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 7, &isnull));
		ords = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 8, &isnull));
		key_list = text_array_strings(keys, "join_keys", &nkeys);
		key_type_list = text_array_strings(key_types, "key_types", &nkey_types);
		feat_list = text_array_strings(feats, "features", &nfeat);
		ov->nkeys = nkeys;
		ov->key_names = palloc(sizeof(char *) * nkeys);
		ov->nout = nfeat;
		ov->out_pos = palloc(sizeof(int) * nfeat);
		{
			Datum	   *od;
			bool	   *on;
			int			n;

			deconstruct_array(ords, INT4OID, 4, true, TYPALIGN_INT, &od, &on, &n);
			for (int j = 0; j < nfeat; j++)
				ov->out_pos[j] = DatumGetInt32(od[j]) - 1;
		}
		s->nfeatures += nfeat;

		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT ");
		for (int j = 0; j < nfeat; j++)
			appendStringInfo(&q, "(o.%s)::float8, ", quote_identifier(feat_list[j]));
		d = SPI_getbinval(tup, desc, 6, &isnull);
		if (isnull)
			appendStringInfoString(&q, "false");
		else
			appendStringInfo(&q, "o.%s < pg_catalog.now() - " INT64_FORMAT " * interval '1 microsecond'",
							 quote_identifier(SPI_getvalue(tup, desc, 5)), DatumGetInt64(d));
		appendStringInfo(&q, " FROM %s o WHERE ", SPI_getvalue(tup, desc, 2));
		for (int j = 0; j < nkeys; j++)
		{
			ov->key_names[j] = key_list[j];
			appendStringInfo(&q, "%so.%s = ($1 ->> %s)::%s", j ? " AND " : "", quote_identifier(ov->key_names[j]),
							 quote_literal_cstr(ov->key_names[j]), key_type_list[j]);
		}
		{
			Oid			jt = JSONBOID;

			ov->plan = SPI_prepare_cursor(q.data, 1, &jt, CURSOR_OPT_GENERIC_PLAN);
			if (ov->plan == NULL)
				elog(ERROR, "feature_vector: cannot prepare the online read of view \"%s\": %s", vname,
					 SPI_result_code_string(SPI_result));
			SPI_keepplan(ov->plan);
			/* SPI calls leave the current context at SPI's: what follows is kept */
			MemoryContextSwitchTo(s->cxt);
		}
		/* the one-key form: the same read with the key as a parameter */
		if (nkeys == 1)
		{
			ov->select_from = pnstrdup(q.data, strstr(q.data, " WHERE ") - q.data);
			ov->key_type = key_type_list[0];
		}
	}
	MemoryContextSwitchTo(old);
	if (s->nviews == 0)
		elog(ERROR, "feature_vector: feature service \"%s\" has no features", service);
}

static OnlineService *
online_service(const char *service)
{
	OnlineService *s;
	bool		found;
	char		key[256];

	if (strlen(service) > 250)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("feature service \"%.100s...\" does not exist", service)));
	if (online_services == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(OnlineService);
		online_services = hash_create("mlops feature_vector services", 16, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	if (!online_callback_registered)
	{
		CacheRegisterRelcacheCallback(online_relcache_callback, (Datum) 0);
		online_callback_registered = true;
	}
	if (!OidIsValid(feature_views_relid))
		feature_views_relid = get_relname_relid("feature_views", get_namespace_oid("mlops", false));

	memset(key, 0, sizeof(key));
	strlcpy(key, service, sizeof(key));
	s = hash_search(online_services, key, HASH_ENTER, &found);
	if (!found)
	{
		s->generation = 0;
		s->cxt = NULL;
		s->nviews = 0;
	}
	if (s->generation != online_generation)
	{
		uint64		gen = online_generation;

		online_free(s);
		s->generation = 0;
		PG_TRY();
		{
			online_build(s, service);
		}
		PG_CATCH();
		{
			online_free(s);
			PG_RE_THROW();
		}
		PG_END_TRY();
		s->generation = gen;
	}
	return s;
}

/* Reads one view's row; fills its places in the vector. */
static void
online_read(OnlineView *ov, SPIPlanPtr plan, Datum arg, Datum *out, bool *out_nulls)
{
	bool		isnull;
	bool		expired;
	int			rc = SPI_execute_plan(plan, &arg, NULL, true, 1);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "feature_vector: online read failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return;					/* missing: NULLs */
	expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ov->nout + 1, &isnull));
	if (expired)
		return;
	for (int j = 0; j < ov->nout; j++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, j + 1, &isnull);

		if (!isnull)
		{
			out[ov->out_pos[j]] = d;
			out_nulls[ov->out_pos[j]] = false;
		}
	}
}

/*
 * The service's vector from the online tables: keys by name from a jsonb
 * object (key_type JSONBOID), or one key's value of key_type.
 */
static Datum
online_vector(FunctionCallInfo fcinfo, Oid key_type)
{
	OnlineService *s;
	Datum		key = PG_GETARG_DATUM(1);
	Datum	   *out;
	bool	   *out_nulls;
	int			dims[1];
	int			lbs[1] = {1};
	Datum		result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	s = online_service(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	out = palloc(sizeof(Datum) * s->nfeatures);
	out_nulls = palloc(sizeof(bool) * s->nfeatures);
	for (int i = 0; i < s->nfeatures; i++)
		out_nulls[i] = true;
	for (int v = 0; v < s->nviews; v++)
	{
		OnlineView *ov = &s->views[v];

		if (key_type == JSONBOID)
		{
			for (int k = 0; k < ov->nkeys; k++)
				if (!DatumGetBool(DirectFunctionCall2(jsonb_exists, key, CStringGetTextDatum(ov->key_names[k]))))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("keys has no value for \"%s\", a join key of the service's features",
									ov->key_names[k])));
			online_read(ov, ov->plan, key, out, out_nulls);
			continue;
		}
		if (ov->nkeys != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature service \"%s\" reads a view with %d join keys", s->name, ov->nkeys),
					 errhint("Give the keys as a jsonb object: feature_vector(service, jsonb_build_object(...)).")));
		/* the read for a key of this type, prepared once per type */
		if (ov->key_plan == NULL || ov->key_plan_type != key_type)
		{
			char	   *q = psprintf("%s WHERE o.%s = ($1)::%s", ov->select_from, quote_identifier(ov->key_names[0]),
									 ov->key_type);
			SPIPlanPtr	p = SPI_prepare_cursor(q, 1, &key_type, CURSOR_OPT_GENERIC_PLAN);

			if (p == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(p);
			if (ov->key_plan)
				SPI_freeplan(ov->key_plan);
			ov->key_plan = p;
			ov->key_plan_type = key_type;
		}
		online_read(ov, ov->key_plan, key, out, out_nulls);
	}
	dims[0] = s->nfeatures;
	result = PointerGetDatum(construct_md_array(out, out_nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	return result;
}

PG_FUNCTION_INFO_V1(mlops_feature_vector);

/*
 * feature_vector(service text, keys jsonb) RETURNS float8[]: the service's
 * features in order, from the online tables; missing and expired as NULL.
 */
Datum
mlops_feature_vector(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	return online_vector(fcinfo, JSONBOID);
}

PG_FUNCTION_INFO_V1(mlops_feature_vector_key);

/*
 * feature_vector(service text, key anyelement | text): for services whose
 * views all have one join key, the key's value itself.
 */
Datum
mlops_feature_vector_key(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	return online_vector(fcinfo, get_fn_expr_argtype(fcinfo->flinfo, 1));
}
