/*
 * pg_stubs.c
 *	  Just enough of the PostgreSQL backend for the model compiler and
 *	  loader (extension/model_json.c, extension/model.c) to run outside a
 *	  server, under libFuzzer: memory comes from an arena that is emptied
 *	  after every input, and ereport(ERROR) jumps back to the harness.
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "pg_stubs.h"

/* port.h routes these to PostgreSQL's own implementation, which we replace */
#undef vsnprintf
#undef snprintf
#undef qsort

MemoryContext CurrentMemoryContext = NULL;
sigjmp_buf *stub_error_jump = NULL;
int			stub_errors = 0;

/* every allocation carries a header linking it into the arena */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	size_t		size;
	double		align[];		/* keeps the payload 8-byte aligned */
} Chunk;

static Chunk arena = {&arena, &arena, 0};

static void *
arena_alloc(size_t size, bool zero)
{
	Chunk	   *c = zero ? calloc(1, sizeof(Chunk) + size + 1) : malloc(sizeof(Chunk) + size + 1);

	if (c == NULL)
		abort();
	c->size = size;
	c->next = arena.next;
	c->prev = &arena;
	arena.next->prev = c;
	arena.next = c;
	return c->align;
}

static void
arena_free(void *p)
{
	Chunk	   *c = (Chunk *) ((char *) p - offsetof(Chunk, align));

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

void
stub_reset(void)
{
	while (arena.next != &arena)
		arena_free(arena.next->align);
}

void *
palloc(Size size)
{
	return arena_alloc(size, false);
}

void *
palloc0(Size size)
{
	return arena_alloc(size, true);
}

void
pfree(void *pointer)
{
	arena_free(pointer);
}

void *
stub_json_malloc(size_t size)
{
	return arena_alloc(size, false);
}

void
stub_json_free(void *p)
{
	if (p)
		arena_free(p);
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char		buf[1];
	int			n;
	char	   *out;

	va_start(args, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	out = palloc(n + 1);
	va_start(args, fmt);
	vsnprintf(out, n + 1, fmt, args);
	va_end(args);
	return out;
}

int
pg_vsnprintf(char *str, size_t count, const char *fmt, va_list args)
{
	return vsnprintf(str, count, fmt, args);
}

void
pg_qsort(void *base, size_t nel, size_t elsize, int (*cmp) (const void *, const void *))
{
	qsort(base, nel, elsize, cmp);
}

static void
enlarge(StringInfo str, int needed)
{
	if (str->len + needed + 1 <= str->maxlen)
		return;
	{
		int			newlen = Max(str->maxlen * 2, str->len + needed + 1);
		char	   *data = palloc(newlen);

		memcpy(data, str->data, str->len + 1);
		pfree(str->data);
		str->data = data;
		str->maxlen = newlen;
	}
}

void
initStringInfo(StringInfo str)
{
	str->data = palloc(1024);
	str->maxlen = 1024;
	str->len = 0;
	str->data[0] = '\0';
	str->cursor = 0;
}

#if PG_VERSION_NUM >= 160000
void
appendBinaryStringInfo(StringInfo str, const void *data, int datalen)
#else
void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
#endif
{
	enlarge(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	enlarge(str, count);
	memset(str->data + str->len, ' ', count);
	str->len += count;
	str->data[str->len] = '\0';
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		args;
	char	   *s;
	int			n;
	char		buf[1];

	va_start(args, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	s = palloc(n + 1);
	va_start(args, fmt);
	vsnprintf(s, n + 1, fmt, args);
	va_end(args);
	appendBinaryStringInfo(str, s, n);
	pfree(s);
}

/* memory contexts: one arena for all, emptied by stub_reset() */
MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name,
							  Size minContextSize, Size initBlockSize, Size maxBlockSize)
{
	static char dummy;

	return (MemoryContext) &dummy;
}

void
MemoryContextDelete(MemoryContext context)
{
}

/* ereport(): remember nothing, jump back to the harness at errfinish */
bool
errstart(int elevel, const char *domain)
{
	return elevel >= ERROR;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	return 0;
}

int
errmsg(const char *fmt,...)
{
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	return 0;
}

int
errdetail(const char *fmt,...)
{
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	stub_errors++;
	if (stub_error_jump == NULL)
		abort();
	siglongjmp(*stub_error_jump, 1);
}
