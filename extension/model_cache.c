/*
 * model_cache.c
 *	  The per-backend cache of loaded models.
 *
 *	  Two kinds of entry share one hash table, one LRU list and one byte
 *	  limit (mlops.model_cache_size):
 *	  - registry entries, keyed by (version id, artifact checksum).  Only
 *		model_cache_add_version() makes them, from the compiled form it read
 *		out of mlops.model_versions for that version, after checking that the
 *		form says so itself.  predict() finds its models here;
 *	  - content entries, keyed by the SHA-256 of the compiled bytes, for
 *		compiled models that callers pass to score().  Their headers claim a
 *		version id and a checksum, but a caller can write any header: a
 *		header must never decide which model a key stands for, or a forged
 *		model could take a registry version's place in a backend (and, in a
 *		pooled connection, serve other users).  Keyed by their own bytes,
 *		identical forms share an entry and different forms never do.
 *	  A caller's bytes that are exactly a cached registry version's (as
 *	  compiled_model() returns them) use that entry: the bytes are compared,
 *	  not the header trusted.
 *
 *	  A registered version never changes, so nothing goes stale: entries
 *	  leave only when the cache is over its size, least recently used first.
 *	  Scoring functions remember the entries they use in fn_extra together
 *	  with model_cache_epoch, which moves whenever anything is evicted, so a
 *	  remembered pointer is re-checked after an eviction and never used once
 *	  freed.
 *
 *	  Each entry owns a memory context, so eviction frees exactly what loading
 *	  allocated.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "compat.h"
#include "mlops.h"
#include "model.h"

typedef enum CacheKind
{
	CACHE_VERSION = 1,			/* digest: the artifact's checksum */
	CACHE_CONTENT = 2			/* digest: SHA-256 of the compiled bytes */
} CacheKind;

typedef struct CacheKey
{
	int32		kind;			/* CacheKind */
	int32		pad;			/* zeroed: keys are hashed as bytes */
	int64		version_id;		/* CACHE_VERSION: the version; else 0 */
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
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

static void
make_key(CacheKey *key, CacheKind kind, int64 version_id, const uint8 *digest)
{
	memset(key, 0, sizeof(*key));
	key->kind = kind;
	key->version_id = version_id;
	memcpy(key->digest, digest, PG_SHA256_DIGEST_LENGTH);
}

/* The entry for key, made the most recently used, or NULL. */
static CacheEntry *
lookup(const CacheKey *key)
{
	CacheEntry *e;

	if (cache == NULL)
		return NULL;
	e = hash_search(cache, key, HASH_FIND, NULL);
	if (e != NULL)
	{
		dlist_move_head(&lru, &e->lru);
		cache_hits++;
	}
	return e;
}

/*
 * Load a compiled model into a new entry under key (which the caller has
 * missed), then bring the cache back under its limit, sparing the new entry.
 */
static const Model *
load_entry(const CacheKey *key, const bytea *compiled)
{
	MemoryContext cxt;
	Model	   *model;
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

	e = hash_search(cache, key, HASH_ENTER, &found);
	Assert(!found);
	e->model = model;
	e->cxt = cxt;
	e->bytes = MemoryContextMemAllocated(cxt, true);
	dlist_push_head(&lru, &e->lru);
	cache_bytes += e->bytes;
	shrink((Size) mlops_model_cache_kb * 1024, e);
	return model;
}

/* Whether a loaded model is exactly these compiled bytes. */
bool
model_same_bytes(const Model *m, const char *data, Size len)
{
	/* the header first: it differs between most models, and is short */
	return len == m->hdr->total_size && len >= sizeof(ModelHeader) &&
		memcmp(data, m->hdr, sizeof(ModelHeader)) == 0 &&
		memcmp(data + sizeof(ModelHeader), (const char *) m->hdr + sizeof(ModelHeader),
			   len - sizeof(ModelHeader)) == 0;
}

/*
 * The loaded model of a registry version, or NULL if it is not cached.
 */
const Model *
model_cache_find_version(int64 version_id, const uint8 *checksum)
{
	CacheKey	key;
	CacheEntry *e;

	make_key(&key, CACHE_VERSION, version_id, checksum);
	e = lookup(&key);
	return e ? e->model : NULL;
}

/*
 * Load and cache the compiled form of a registry version, as read from
 * mlops.model_versions; the caller has missed in model_cache_find_version().
 * The form must name the version and artifact it is registered under: one
 * that does not (a damaged or tampered row) is refused, never cached as the
 * version.
 */
const Model *
model_cache_add_version(const bytea *compiled, int64 version_id, const uint8 *checksum)
{
	CacheKey	key;
	ModelHeader hdr;

	if (VARSIZE_ANY_EXHDR(compiled) >= sizeof(ModelHeader))
		memcpy(&hdr, VARDATA_ANY(compiled), sizeof(ModelHeader));
	if (VARSIZE_ANY_EXHDR(compiled) < sizeof(ModelHeader) || hdr.version_id != version_id ||
		memcmp(hdr.checksum, checksum, PG_SHA256_DIGEST_LENGTH) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the compiled form of model version " INT64_FORMAT " is not that version's", version_id),
				 errdetail("Its header names another version or artifact than mlops.model_versions does."),
				 errhint("Register the artifact again as a new version.")));
	make_key(&key, CACHE_VERSION, version_id, checksum);
	return load_entry(&key, compiled);
}

/*
 * The loaded model for compiled bytes a caller passed: the registry
 * version whose cached bytes they are, else the entry for these exact bytes
 * (by their SHA-256), loading it on a miss.
 */
const Model *
model_cache_get_compiled(const bytea *compiled)
{
	const char *data = VARDATA_ANY(compiled);
	Size		len = VARSIZE_ANY_EXHDR(compiled);
	CacheKey	key;
	CacheEntry *e;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;

	if (len >= sizeof(ModelHeader) && cache != NULL)
	{
		ModelHeader hdr;

		memcpy(&hdr, data, sizeof(ModelHeader));
		make_key(&key, CACHE_VERSION, hdr.version_id, hdr.checksum);
		e = hash_search(cache, &key, HASH_FIND, NULL);
		if (e != NULL && model_same_bytes(e->model, data, len))
		{
			dlist_move_head(&lru, &e->lru);
			cache_hits++;
			return e->model;
		}
	}

	ctx = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		char	   *why = pstrdup(pg_cryptohash_error(ctx));

		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute a SHA-256 digest: %s", why);
	}
	pg_cryptohash_free(ctx);

	make_key(&key, CACHE_CONTENT, 0, digest);
	e = lookup(&key);
	if (e != NULL)
		return e->model;
	return load_entry(&key, compiled);
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
