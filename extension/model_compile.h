/*
 * model_compile.h
 *	  What the model compiler's front ends share (model_compile.c): the
 *	  section builder of the compiled form and the JSON readers that name the
 *	  path of what they refuse; and the front ends themselves, which the
 *	  driver calls: model_json.c for our own format, model_xgboost.c for
 *	  XGBoost's.  Neither front end calls the other.
 *	  Include after jansson.h and postgres.h; never with utils/builtins.h.
 */
#ifndef MLOPS_MODEL_COMPILE_H
#define MLOPS_MODEL_COMPILE_H

#include <jansson.h>

#include "postgres.h"

#include "lib/stringinfo.h"

#include "model.h"

typedef struct Section
{
	StringInfoData data;
	uint32		elem_size;
	uint32		count;
	bool		used;
} Section;

typedef struct Compiler
{
	Section		sec[SEC__COUNT];
	ModelHeader hdr;
} Compiler;

/* an "invalid model artifact: <path>: <what>" error (22023) */
extern void mj_error(const char *path, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

extern void mj_sec_append(Compiler *c, SectionTag tag, uint32 elem_size, const void *data, uint32 count);
extern void mj_sec_int32(Compiler *c, SectionTag tag, int32 v);
extern void mj_sec_double(Compiler *c, SectionTag tag, double v);
extern void mj_sec_name(Compiler *c, SectionTag tag, const char *s);

extern json_t *mj_member(json_t *obj, const char *key, const char *path, bool required);
extern void mj_only_fields(json_t *obj, const char *path, const char *const *allowed);
extern json_t *mj_object(json_t *v, const char *path);
extern json_t *mj_array(json_t *v, const char *path, size_t min_len);
extern const char *mj_string(json_t *v, const char *path);
extern double mj_number(json_t *v, const char *path);
extern int32 mj_int(json_t *v, const char *path, int64 min, int64 max);
extern int32 mj_choice(json_t *v, const char *path, const char *const *names, const int32 *codes);
extern void mj_number_array(Compiler *c, SectionTag tag, json_t *v, const char *path, int len);
extern bytea *mj_serialize(Compiler *c);

/* the signature, which both formats may carry (model_compile.c) */
extern const char *mj_label_text(json_t *v, const char *path);
extern void mj_compile_features(Compiler *c, json_t *features, const char *base);
extern void mj_compile_classes(Compiler *c, json_t *classes, const char *path);

/* names seen so far in one list, to refuse duplicates */
typedef struct NameSet
{
	const char **names;
	int		   *positions;
	uint32		mask;
} NameSet;

extern void nameset_init(NameSet *set, int n);
extern int	nameset_add(NameSet *set, const char *name, int pos);

/* model_json.c */
extern void mj_compile_mlops(Compiler *c, json_t *doc);

/* model_xgboost.c */
extern bool mj_is_xgboost(json_t *doc);
extern bool mj_xgboost_text_has_categorical(const char *json, size_t len);
extern void mj_compile_xgboost(Compiler *c, json_t *doc);

#endif							/* MLOPS_MODEL_COMPILE_H */
