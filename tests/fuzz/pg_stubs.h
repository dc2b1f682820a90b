/* pg_stubs.h: the fuzzing harness's view of pg_stubs.c */
#ifndef PG_STUBS_H
#define PG_STUBS_H

#include <setjmp.h>
#include <stddef.h>

extern sigjmp_buf *stub_error_jump;
extern int	stub_errors;
extern void stub_reset(void);
extern void *stub_json_malloc(size_t size);
extern void stub_json_free(void *p);

#endif
