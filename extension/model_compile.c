/*
 * model_compile.c
 *	  The model compiler's driver and the tools its two front ends share.
 *
 *	  model_compile_artifact() parses a JSON artifact, hands it to the front
 *	  end for its format (model_json.c: our own; model_xgboost.c: XGBoost's
 *	  JSON), serializes what that front end built and checks the result with
 *	  the loader.  The front ends use the section builder and the JSON readers
 *	  below, which name the JSON path of whatever they refuse, and the
 *	  signature's compiler (features and classes), which both formats may
 *	  carry; neither front end knows the other.
 *
 *	  jansson allocates with palloc (see mlops.c), so an error frees it all.
 */
#include <math.h>
#include <jansson.h>

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "model.h"
#include "model_compile.h"

void
mj_error(const char *path, const char *fmt,...)
{
	char		buf[512];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid model artifact: %s: %s", path, buf),
			 errhint("The model format is described in the README, section \"Model format\".")));
}

void
mj_sec_append(Compiler *c, SectionTag tag, uint32 elem_size, const void *data, uint32 count)
{
	Section    *s = &c->sec[tag];

	if (!s->used)
	{
		initStringInfo(&s->data);
		s->elem_size = elem_size;
		s->used = true;
	}
	Assert(s->elem_size == elem_size);
	appendBinaryStringInfo(&s->data, data, (int) (elem_size * count));
	s->count += count;
}

void
mj_sec_int32(Compiler *c, SectionTag tag, int32 v)
{
	mj_sec_append(c, tag, sizeof(int32), &v, 1);
}

void
mj_sec_double(Compiler *c, SectionTag tag, double v)
{
	mj_sec_append(c, tag, sizeof(double), &v, 1);
}

/* Append a NUL-terminated string to SEC_STRINGS and its offset to "tag". */
void
mj_sec_name(Compiler *c, SectionTag tag, const char *s)
{
	uint32		offset = c->sec[SEC_STRINGS].used ? c->sec[SEC_STRINGS].count : 0;

	mj_sec_append(c, SEC_STRINGS, 1, s, strlen(s) + 1);
	mj_sec_append(c, tag, sizeof(uint32), &offset, 1);
}

/* ---- small readers, each naming the path on error ---- */

json_t *
mj_member(json_t *obj, const char *key, const char *path, bool required)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL && required)
		mj_error(path, "the field \"%s\" is required", key);
	return v;
}

void
mj_only_fields(json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(obj, key, value)
	{
		bool		ok = false;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				ok = true;
		if (!ok)
			mj_error(path, "unknown field \"%s\"", key);
	}
}

json_t *
mj_object(json_t *v, const char *path)
{
	if (!json_is_object(v))
		mj_error(path, "expected an object");
	return v;
}

json_t *
mj_array(json_t *v, const char *path, size_t min_len)
{
	if (!json_is_array(v))
		mj_error(path, "expected an array");
	if (json_array_size(v) < min_len)
		mj_error(path, "expected at least %zu element%s", min_len, min_len == 1 ? "" : "s");
	return v;
}

const char *
mj_string(json_t *v, const char *path)
{
	if (!json_is_string(v))
		mj_error(path, "expected a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		mj_error(path, "strings may not contain NUL characters");
	return json_string_value(v);
}

double
mj_number(json_t *v, const char *path)
{
	double		d;

	if (!json_is_number(v))
		mj_error(path, "expected a number, found %s",
					json_is_string(v) ? "a string" : json_is_null(v) ? "null" :
					json_is_boolean(v) ? "a boolean" : json_is_array(v) ? "an array" : "an object");
	d = json_number_value(v);
	if (isnan(d) || isinf(d))
		mj_error(path, "expected a finite number");
	return d;
}

int32
mj_int(json_t *v, const char *path, int64 min, int64 max)
{
	json_int_t	i;

	if (!json_is_integer(v))
		mj_error(path, "expected an integer");
	i = json_integer_value(v);
	if (i < min || i > max)
		mj_error(path, "%lld is out of range [%lld, %lld]",
					(long long) i, (long long) min, (long long) max);
	return (int32) i;
}

int32
mj_choice(json_t *v, const char *path, const char *const *names, const int32 *codes)
{
	const char *s = mj_string(v, path);
	StringInfoData options;

	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return codes[i];
	initStringInfo(&options);
	for (int i = 0; names[i]; i++)
		appendStringInfo(&options, "%s\"%s\"", i ? ", " : "", names[i]);
	mj_error(path, "\"%s\" is not one of %s", s, options.data);
	return 0;					/* not reached */
}

/* Reads an array of exactly "len" numbers into section "tag". */
void
mj_number_array(Compiler *c, SectionTag tag, json_t *v, const char *path, int len)
{
	mj_array(v, path, 0);
	if ((int) json_array_size(v) != len)
		mj_error(path, "expected %d numbers, found %zu", len, json_array_size(v));
	for (int i = 0; i < len; i++)
		mj_sec_double(c, tag, mj_number(json_array_get(v, i), psprintf("%s[%d]", path, i)));
}

/*
 * The names of one list seen so far (features, a feature's categories,
 * classes), to refuse a duplicate when it comes: a hash set, since a list
 * may hold 100,000 names and comparing each with all before it would be
 * quadratic.
 */
void
nameset_init(NameSet *set, int n)
{
	uint32		size = 16;

	while (size < (uint32) n * 2)
		size *= 2;
	set->names = palloc0(sizeof(const char *) * size);
	set->positions = palloc(sizeof(int) * size);
	set->mask = size - 1;
}

/* add name, at position pos of its list; if it was there already, its first position, else -1 */
int
nameset_add(NameSet *set, const char *name, int pos)
{
	uint32		h = 2166136261u;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
		h = (h ^ *p) * 16777619u;
	for (h &= set->mask; set->names[h] != NULL; h = (h + 1) & set->mask)
		if (strcmp(set->names[h], name) == 0)
			return set->positions[h];
	set->names[h] = name;
	set->positions[h] = pos;
	return -1;
}

/* ---- what both formats share: the signature ---- */

/* A class label or category: strings as they are, numbers as their text. */
const char *
mj_label_text(json_t *v, const char *path)
{
	if (json_is_string(v))
		return mj_string(v, path);
	if (json_is_integer(v))
		return psprintf("%lld", (long long) json_integer_value(v));
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	mj_error(path, "expected a string, an integer or a boolean");
	return NULL;				/* not reached */
}

/*
 * The input signature, an array of feature definitions as our format writes
 * them (README, "Model format": name, type, categories, impute, unknown),
 * into the feature sections, and the header's n_inputs and n_encoded.  Our
 * format's "features" and an XGBoost file's mlops_features attribute both
 * come here, so a signature means the same whichever file carries it; "base"
 * is the JSON path the errors name.
 */
void
mj_compile_features(Compiler *c, json_t *features, const char *base)
{
	static const char *const kinds[] = {"numeric", "categorical", NULL};
	static const int32 kind_codes[] = {FEATURE_NUMERIC, FEATURE_CATEGORICAL};
	static const char *const fields[] = {"name", "type", "categories", "impute", "unknown", NULL};
	static const char *const unknown_names[] = {"error", "ignore", NULL};
	static const int32 unknown_codes[] = {0, 1};
	int			n = (int) json_array_size(mj_array(features, base, 1));
	NameSet		feature_names;
	int			n_encoded = 0;
	int			n_categories = 0;

	if (n > MODEL_MAX_FEATURES)
		mj_error(base, "at most %d features are supported", MODEL_MAX_FEATURES);

	nameset_init(&feature_names, n);
	for (int i = 0; i < n; i++)
	{
		char	   *path = psprintf("%s[%d]", base, i);
		int			first;
		json_t	   *f = mj_object(json_array_get(features, i), path);
		const char *name = mj_string(mj_member(f, "name", path, true), psprintf("%s.name", path));
		int32		kind = mj_choice(mj_member(f, "type", path, true), psprintf("%s.type", path), kinds, kind_codes);
		json_t	   *impute = mj_member(f, "impute", path, false);
		json_t	   *unknown = mj_member(f, "unknown", path, false);
		int			ncat = 0;
		double		impute_value = 0;

		mj_only_fields(f, path, fields);
		if (name[0] == '\0' || strlen(name) > 250)
			mj_error(psprintf("%s.name", path), "feature names have 1 to 250 bytes");
		if ((first = nameset_add(&feature_names, name, i)) >= 0)
			mj_error(psprintf("%s.name", path), "duplicate feature name \"%s\" (also %s[%d])", name, base, first);

		mj_sec_name(c, SEC_FEATURE_NAME, name);
		mj_sec_int32(c, SEC_FEATURE_KIND, kind);
		mj_sec_int32(c, SEC_FEATURE_CAT_FIRST, n_categories);

		if (kind == FEATURE_CATEGORICAL)
		{
			char	   *cpath = psprintf("%s.categories", path);
			json_t	   *cats = mj_array(mj_member(f, "categories", path, true), cpath, 1);

			NameSet		categories;

			ncat = (int) json_array_size(cats);
			if (ncat > MODEL_MAX_CATEGORIES)
				mj_error(cpath, "at most %d categories are supported", MODEL_MAX_CATEGORIES);
			nameset_init(&categories, ncat);
			for (int j = 0; j < ncat; j++)
			{
				const char *label = mj_label_text(json_array_get(cats, j), psprintf("%s[%d]", cpath, j));

				if (nameset_add(&categories, label, j) >= 0)
					mj_error(psprintf("%s[%d]", cpath, j), "duplicate category \"%s\"", label);
				mj_sec_name(c, SEC_CATEGORY_NAME, label);
			}
			if (impute)
			{
				const char *label = mj_label_text(impute, psprintf("%s.impute", path));
				int			found = -1;

				for (int j = 0; j < ncat && found < 0; j++)
					if (strcmp(label, mj_label_text(json_array_get(cats, j), cpath)) == 0)
						found = j;
				if (found < 0)
					mj_error(psprintf("%s.impute", path), "\"%s\" is not one of the categories", label);
				impute_value = found;
			}
			mj_sec_int32(c, SEC_FEATURE_UNKNOWN_IGNORE,
					  unknown ? mj_choice(unknown, psprintf("%s.unknown", path), unknown_names, unknown_codes) : 0);
			n_encoded += ncat;
			n_categories += ncat;
		}
		else
		{
			if (mj_member(f, "categories", path, false))
				mj_error(path, "\"categories\" is only for categorical features");
			if (unknown)
				mj_error(path, "\"unknown\" is only for categorical features");
			if (impute)
				impute_value = mj_number(impute, psprintf("%s.impute", path));
			mj_sec_int32(c, SEC_FEATURE_UNKNOWN_IGNORE, 0);
			n_encoded += 1;
		}
		mj_sec_int32(c, SEC_FEATURE_NCAT, ncat);
		mj_sec_int32(c, SEC_IMPUTE_SET, impute != NULL);
		mj_sec_double(c, SEC_IMPUTE_VALUE, impute_value);
	}
	if (n_encoded > MODEL_MAX_FEATURES)
		mj_error(base, "the one-hot encoded input has %d columns; at most %d are supported",
					n_encoded, MODEL_MAX_FEATURES);
	c->hdr.n_inputs = n;
	c->hdr.n_encoded = n_encoded;
}

/*
 * Class labels (an array, its length already checked by the caller) into
 * SEC_CLASS_NAME and the header's n_classes: labels as mj_label_text reads
 * them, unique as text.
 */
void
mj_compile_classes(Compiler *c, json_t *classes, const char *path)
{
	int			n = (int) json_array_size(classes);
	NameSet		class_names;

	if (n > MODEL_MAX_OUTPUTS)
		mj_error(path, "at most %d classes are supported", MODEL_MAX_OUTPUTS);
	nameset_init(&class_names, n);
	for (int i = 0; i < n; i++)
	{
		char	   *ipath = psprintf("%s[%d]", path, i);
		const char *label = mj_label_text(json_array_get(classes, i), ipath);

		if (nameset_add(&class_names, label, i) >= 0)
			mj_error(ipath, "duplicate class \"%s\"", label);
		mj_sec_name(c, SEC_CLASS_NAME, label);
	}
	c->hdr.n_classes = n;
}

bytea *
mj_serialize(Compiler *c)
{
	StringInfoData out;
	static const char zeros[8] = {0};
	int			n_sections = 0;

	initStringInfo(&out);
	appendStringInfoSpaces(&out, VARHDRSZ);
	appendBinaryStringInfo(&out, (const char *) &c->hdr, sizeof(ModelHeader));
	for (int tag = 1; tag < SEC__COUNT; tag++)
	{
		Section    *s = &c->sec[tag];
		SectionHeader sh;

		if (!s->used)
			continue;
		sh.tag = tag;
		sh.elem_size = s->elem_size;
		sh.count = s->count;
		sh.reserved = 0;
		appendBinaryStringInfo(&out, (const char *) &sh, sizeof(sh));
		appendBinaryStringInfo(&out, s->data.data, s->data.len);
		appendBinaryStringInfo(&out, zeros, (8 - s->data.len % 8) % 8);
		n_sections++;
	}
	/* the header sits at an unaligned offset: copy it in, do not poke it */
	c->hdr.n_sections = n_sections;
	c->hdr.total_size = out.len - VARHDRSZ;
	memcpy(out.data + VARHDRSZ, &c->hdr, sizeof(ModelHeader));
	SET_VARSIZE(out.data, out.len);
	return (bytea *) out.data;
}

/* Serialize, free the document, and check the result with the loader. */
static bytea *
finish(Compiler *c, json_t *doc)
{
	bytea	   *compiled;
	MemoryContext check_cxt;

	if (!c->sec[SEC_STRINGS].used)
		mj_sec_append(c, SEC_STRINGS, 1, "", 1);
	compiled = mj_serialize(c);
	json_decref(doc);

	/* the loader's checks are the semantic ones: run them now */
	check_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops model check", ALLOCSET_DEFAULT_SIZES);
	(void) model_load(compiled, check_cxt);
	MemoryContextDelete(check_cxt);
	return compiled;
}

/*
 * Compile a JSON artifact: our format, or a model XGBoost saved as JSON.
 * Raises an error naming the JSON path of the first problem; on success the
 * result has also passed model_load().
 */
bytea *
model_compile_artifact(const char *json, size_t len, int64 version_id, const uint8 *checksum)
{
	Compiler	c;
	json_error_t err;
	json_t	   *doc;

	memset(&c, 0, sizeof(c));
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (doc == NULL && mj_xgboost_text_has_categorical(json, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model artifact: an XGBoost model with categorical splits: they are not supported"),
				 errdetail("XGBoost writes the split condition of a categorical split as NaN, which is not JSON "
						   "(line %d, column %d).", err.line, err.column),
				 errhint("Train with numeric (one-hot encoded) features.")));
	if (doc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid model artifact: not valid JSON: %s", err.text),
				 errdetail("At line %d, column %d (byte %d).", err.line, err.column, err.position)));
	mj_object(doc, "$");

	c.hdr.magic = MODEL_MAGIC;
	c.hdr.layout = MODEL_LAYOUT;
	c.hdr.endian_mark = MODEL_ENDIAN_MARK;
	c.hdr.version_id = version_id;
	if (checksum)
		memcpy(c.hdr.checksum, checksum, 32);

	if (mj_is_xgboost(doc))
	{
		c.hdr.source = SOURCE_XGBOOST_JSON;
		mj_compile_xgboost(&c, doc);
	}
	else
	{
		c.hdr.source = SOURCE_MLOPS_JSON;
		mj_compile_mlops(&c, doc);
	}
	return finish(&c, doc);
}
