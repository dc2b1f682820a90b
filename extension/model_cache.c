/*
 * cache.c
 *	  The per-backend cache of loaded models.
 *
 *	  A registered model version never changes, so a loaded copy never goes
 *	  stale: entries are keyed by (version id, artifact checksum) and only
 *	  leave when the cache is over mlops.model_cache_size, least recently used
 *	  first.  Scoring functions remember the entry they used in fn_extra
 *	  together with model_cache_epoch, which moves whenever anything is
 *	  evicted, so a remembered pointer is re-checked after an eviction and is
 *	  never used once freed.
 *
 *	  Each entry owns a memory context, so eviction frees exactly what loading
 *	  allocated.
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "mlops.h"
#include "model.h"

typedef struct CacheKey
{
	int64		version_id;
	uint8		checksum[32];
} CacheKey;

typedef struct CacheEntry
{
	CacheKey	key;			/* hash key: must be first */
	Model	   *model;
	MemoryContext cxt;
	Size		bytes;
	dlist_node	lru;			/* head = most recently used */
} CacheEntry;

int			mlops_model_cache_kb = 256 * 1024;
uint64		model_cache_epoch = 0;

static HTAB *cache = NULL;
static MemoryContext cache_cxt = NULL;
static dlist_head lru = DLIST_STATIC_INIT(lru);
static Size cache_bytes = 0;
static int64 cache_hits = 0;
static int64 cache_misses = 0;
static int64 cache_evictions = 0;

static void
cache_init(void)
{
	HASHCTL		ctl;

	cache_cxt = AllocSetContextCreate(TopMemoryContext, "mlops model cache",
									  ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CacheKey);
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hcxt = cache_cxt;
	cache = hash_create("mlops model cache", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
evict(CacheEntry *e)
{
	dlist_delete(&e->lru);
	cache_bytes -= e->bytes;
	MemoryContextDelete(e->cxt);
	hash_search(cache, &e->key, HASH_REMOVE, NULL);
	cache_evictions++;
	model_cache_epoch++;
}

/* Evict least recently used entries until the cache fits, sparing "keep". */
static void
shrink(Size limit, CacheEntry *keep)
{
	while (cache_bytes > limit && !dlist_is_empty(&lru))
	{
		CacheEntry *victim = dlist_tail_element(CacheEntry, lru, &lru);

		if (victim == keep)
			break;
		evict(victim);
	}
}

/*
 * The loaded model for (version_id, checksum), or NULL if it is not cached.
 */
const Model *
model_cache_find(int64 version_id, const uint8 *checksum)
{
	CacheKey	key;
	CacheEntry *e;

	if (cache == NULL)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.version_id = version_id;
	memcpy(key.checksum, checksum, 32);
	e = hash_search(cache, &key, HASH_FIND, NULL);
	if (e == NULL)
		return NULL;
	dlist_move_head(&lru, &e->lru);
	cache_hits++;
	return e->model;
}

/*
 * Load a compiled model and cache it under the key in its header.  The
 * caller has already missed in model_cache_find().  A model that cannot be
 * cached is allocated under owner_cxt, which must outlive the caller's use.
 */
const Model *
model_cache_add(const bytea *compiled, MemoryContext owner_cxt)
{
	MemoryContext cxt;
	Model	   *model;
	CacheKey	key;
	CacheEntry *e;
	bool		found;

	if (cache == NULL)
		cache_init();
	cache_misses++;

	cxt = AllocSetContextCreate(cache_cxt, "mlops model", ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		model = model_load(compiled, cxt);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	memset(&key, 0, sizeof(key));
	key.version_id = model->hdr->version_id;
	memcpy(key.checksum, model->hdr->checksum, 32);
	e = hash_search(cache, &key, HASH_ENTER, &found);
	if (found)
	{
		/*
		 * Another compiled form under a cached key: valid (it loaded), but
		 * not what the key stands for.  It serves this caller only, and is
		 * freed with the caller's memory.
		 */
		if (e->model->hdr->total_size != model->hdr->total_size ||
			memcmp(e->model->hdr, model->hdr, model->hdr->total_size) != 0)
		{
			MemoryContextSetParent(cxt, owner_cxt);
			return model;
		}
		MemoryContextDelete(cxt);
		dlist_move_head(&lru, &e->lru);
		return e->model;
	}
	e->model = model;
	e->cxt = cxt;
	e->bytes = MemoryContextMemAllocated(cxt, true);
	dlist_push_head(&lru, &e->lru);
	cache_bytes += e->bytes;
	shrink((Size) mlops_model_cache_kb * 1024, e);
	return model;
}

/* Statistics for mlops.model_cache_stats(). */
void
model_cache_stats(int64 *entries, int64 *bytes, int64 *hits, int64 *misses, int64 *evictions)
{
	*entries = cache ? hash_get_num_entries(cache) : 0;
	*bytes = cache_bytes;
	*hits = cache_hits;
	*misses = cache_misses;
	*evictions = cache_evictions;
}

void
model_cache_reset(void)
{
	while (!dlist_is_empty(&lru))
		evict(dlist_head_element(CacheEntry, lru, &lru));
}

/*
 * Assign hook of mlops.model_cache_size: the new value is not in the
 * variable yet, so it is passed on.
 */
void
model_cache_size_changed(int newval, void *extra)
{
	if (cache != NULL)
		shrink((Size) newval * 1024, NULL);
}
