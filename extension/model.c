/*
 * model.c
 *	  Loading and evaluating compiled models (model.h).
 *
 *	  model_load() is the one gate every compiled model passes before it is
 *	  evaluated, whether it comes from the registry or from an argument of
 *	  mlops.score(): it checks every size, offset, index and tree structure,
 *	  so that evaluation can run without bounds checks and cannot loop or read
 *	  out of bounds on a hostile input.  Errors are phrased with the JSON
 *	  paths of the artifact the compiled form mirrors.
 *
 *	  model_encode() turns an input vector (one value per signature feature,
 *	  NaN for missing) into the model's input: imputation, one-hot encoding,
 *	  scaling.  model_eval() runs the model proper and its link function.
 */
#include "postgres.h"

#include <math.h>
#include <cblas.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "model.h"

static const struct
{
	uint32		elem_size;
	const char *what;
}			section_info[SEC__COUNT] = {
	[SEC_STRINGS] = {1, "names"},
	[SEC_FEATURE_NAME] = {4, "features[].name"},
	[SEC_FEATURE_KIND] = {4, "features[].type"},
	[SEC_FEATURE_NCAT] = {4, "features[].categories"},
	[SEC_FEATURE_CAT_FIRST] = {4, "features[].categories"},
	[SEC_FEATURE_UNKNOWN_IGNORE] = {4, "features[].unknown"},
	[SEC_CATEGORY_NAME] = {4, "features[].categories"},
	[SEC_IMPUTE_SET] = {4, "features[].impute"},
	[SEC_IMPUTE_VALUE] = {8, "features[].impute"},
	[SEC_SCALE_CENTER] = {8, "scaler.center"},
	[SEC_SCALE_FACTOR] = {8, "scaler.scale"},
	[SEC_CLASS_NAME] = {4, "classes"},
	[SEC_LINEAR_COEF] = {8, "model.coef"},
	[SEC_LINEAR_INTERCEPT] = {8, "model.intercept"},
	[SEC_MLP_SIZES] = {4, "model.layers"},
	[SEC_MLP_WEIGHTS] = {8, "model.layers[].weights"},
	[SEC_MLP_BIASES] = {8, "model.layers[].bias"},
	[SEC_TREE_FIRST_NODE] = {4, "model.trees"},
	[SEC_TREE_NODE_COUNT] = {4, "model.trees"},
	[SEC_TREE_OUTPUT] = {4, "model.trees[].output"},
	[SEC_NODE_FEATURE] = {4, "model.trees[].feature"},
	[SEC_NODE_THRESHOLD] = {8, "model.trees[].threshold"},
	[SEC_NODE_LEFT] = {4, "model.trees[].left"},
	[SEC_NODE_RIGHT] = {4, "model.trees[].right"},
	[SEC_NODE_DEFAULT_LEFT] = {1, "model.trees[].default_left"},
	[SEC_NODE_VALUE_FIRST] = {4, "model.trees[].value"},
	[SEC_LEAF_VALUE] = {8, "model.trees[].value"},
	[SEC_BASE_SCORE] = {8, "model.base_score"},
};

static void
invalid(const char *fmt,...) pg_attribute_printf(1, 2);

static void
invalid(const char *fmt,...)
{
	char		buf[512];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid model: %s", buf)));
}

const char *
model_task_name(int32 task)
{
	switch (task)
	{
		case TASK_REGRESSION:
			return "regression";
		case TASK_BINARY:
			return "binary";
		case TASK_MULTICLASS:
			return "multiclass";
	}
	return "?";
}

const char *
model_family_name(int32 family)
{
	switch (family)
	{
		case FAMILY_LINEAR:
			return "linear";
		case FAMILY_MLP:
			return "mlp";
		case FAMILY_TREES:
			return "trees";
	}
	return "?";
}

static void
check_count(const void *ptr, uint32 have, int64 want, SectionTag tag)
{
	if (want == 0 && ptr == NULL)
		return;
	if (ptr == NULL)
		invalid("%s is missing", section_info[tag].what);
	if ((int64) have != want)
		invalid("%s has %u elements, expected " INT64_FORMAT, section_info[tag].what, have, want);
}

static void
check_finite(const double *v, uint32 n, SectionTag tag)
{
	for (uint32 i = 0; i < n; i++)
		if (!isfinite(v[i]))
			invalid("%s[%u] is not a finite number", section_info[tag].what, i);
}

static bool
link_allowed(int32 link, const int32 *allowed)
{
	for (; *allowed; allowed++)
		if (*allowed == link)
			return true;
	return false;
}

/*
 * Walk one tree from its root: every child index in range, no node reached
 * twice (which rules out cycles), depth bounded, features in range.
 */
static void
check_tree(Model *m, int t, int32 first, int32 count, int32 width, uint8 *seen, int32 *stack, int32 *depth)
{
	int			sp = 0;

	memset(seen, 0, count);
	stack[sp] = 0;
	depth[sp] = 1;
	sp++;
	while (sp > 0)
	{
		int32		local;
		int32		d;
		int32		node;

		sp--;
		local = stack[sp];
		d = depth[sp];
		node = first + local;
		if (seen[local])
			invalid("model.trees[%d]: node %d is reached twice (a cycle, or a node shared by two parents)",
					t, local);
		seen[local] = 1;
		if (d > MODEL_MAX_TREE_DEPTH)
			invalid("model.trees[%d] is deeper than %d levels", t, MODEL_MAX_TREE_DEPTH);

		if (m->node_left[node] == -1)
		{
			int32		vf = m->node_value_first[node];

			if (m->node_right[node] != -1)
				invalid("model.trees[%d].right[%d]: a leaf (left = -1) must have right = -1", t, local);
			if (vf < 0 || (int64) vf + width > m->n_leaf_values)
				invalid("model.trees[%d].value[%d]: leaf value out of range", t, local);
			continue;
		}
		if (m->node_left[node] < 0 || m->node_left[node] >= count)
			invalid("model.trees[%d].left[%d]: child %d is out of range (the tree has %d nodes)",
					t, local, m->node_left[node], count);
		if (m->node_right[node] < 0 || m->node_right[node] >= count)
			invalid("model.trees[%d].right[%d]: child %d is out of range (the tree has %d nodes)",
					t, local, m->node_right[node], count);
		if (m->node_feature[node] < 0 || m->node_feature[node] >= m->hdr->n_encoded)
			invalid("model.trees[%d].feature[%d]: feature %d is out of range (the model has %d input columns)",
					t, local, m->node_feature[node], m->hdr->n_encoded);
		if (isnan(m->node_threshold[node]))
			invalid("model.trees[%d].threshold[%d] is NaN", t, local);
		/* at most count entries can ever be on the stack: each node is pushed once */
		if (sp + 2 > count + 1)
			invalid("model.trees[%d]: node %d is reached twice", t, local);
		stack[sp] = m->node_left[node];
		depth[sp++] = d + 1;
		stack[sp] = m->node_right[node];
		depth[sp++] = d + 1;
	}
}

/*
 * Lay every tree out for evaluation (FastNode): breadth first, so that the
 * children of a node are adjacent.  model_load() has already proved that
 * every node is reached once from the root, so the walk is finite and every
 * index it writes is in range.
 */
static void
build_fast_trees(Model *m)
{
	const ModelHeader *h = m->hdr;
	int32	   *queue = palloc(sizeof(int32) * Max(h->n_nodes, 1));
	int32		next = 0;

	m->fast_nodes = palloc(sizeof(FastNode) * Max(h->n_nodes, 1));
	m->fast_root = palloc(sizeof(int32) * h->n_trees);
	for (int t = 0; t < h->n_trees; t++)
	{
		int32		first = m->tree_first_node[t];
		int			head = 0;
		int			tail = 0;
		int32		base = next;

		/* queue[i] is the original node placed at fast index base + i */
		m->fast_root[t] = next++;
		queue[tail++] = first;
		while (head < tail)
		{
			int32		node = queue[head];
			FastNode   *f = &m->fast_nodes[base + head];

			head++;
			if (m->node_left[node] == -1)
			{
				f->feature = -1;
				f->threshold = 0;
				f->left = m->node_value_first[node];
				continue;
			}
			f->feature = m->node_feature[node];
			f->threshold = m->node_threshold[node];
			f->left = next;
			next += 2;
			queue[tail++] = first + m->node_left[node];
			queue[tail++] = first + m->node_right[node];
		}
	}
	pfree(queue);
}

/* a category name and its index within its feature, for sorting */
typedef struct CategoryKey
{
	const char *name;
	int32		len;
	int32		index;
} CategoryKey;

/* by length, then bytes, then index: equal names keep the first's index first */
static int
compare_category_keys(const void *a, const void *b)
{
	const CategoryKey *x = a;
	const CategoryKey *y = b;
	int			c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->name, y->name, x->len);
	if (c != 0)
		return c;
	return x->index < y->index ? -1 : (x->index > y->index);
}

/*
 * Each categorical feature's categories in sorted order (category_order),
 * with the length of every name (category_len), so that scoring by name
 * finds a category by binary search: a zip code among 40,000 in 16 steps
 * rather than 20,000 comparisons on average.
 */
static void
build_category_index(Model *m, int n_cat_total)
{
	const ModelHeader *h = m->hdr;
	CategoryKey *keys;

	if (n_cat_total == 0)
		return;
	m->category_len = palloc(sizeof(int32) * n_cat_total);
	m->category_order = palloc(sizeof(int32) * n_cat_total);
	m->size += 2 * sizeof(int32) * n_cat_total;
	keys = palloc(sizeof(CategoryKey) * n_cat_total);
	for (int c = 0; c < n_cat_total; c++)
	{
		/* the strings section ends with a NUL (checked above), so strlen stays inside it */
		m->category_len[c] = strlen(model_string(m, m->category_name[c]));
	}
	for (int i = 0; i < h->n_inputs; i++)
	{
		int32		first = m->feature_cat_first[i];
		int32		ncat = m->feature_ncat[i];

		if (m->feature_kind[i] != FEATURE_CATEGORICAL)
			continue;
		for (int j = 0; j < ncat; j++)
		{
			keys[j].name = model_string(m, m->category_name[first + j]);
			keys[j].len = m->category_len[first + j];
			keys[j].index = j;
		}
		qsort(keys, ncat, sizeof(CategoryKey), compare_category_keys);
		for (int j = 0; j < ncat; j++)
			m->category_order[first + j] = keys[j].index;
	}
	pfree(keys);
}

/*
 * The features' names in the order of a jsonb object's keys (by length,
 * then bytes: CategoryKey's order), with their lengths, so that a row by
 * name is read in one merge of its keys with the signature.
 */
static void
build_feature_index(Model *m)
{
	int			n = m->hdr->n_inputs;
	CategoryKey *keys = palloc(sizeof(CategoryKey) * n);

	m->feature_len = palloc(sizeof(int32) * n);
	m->feature_order = palloc(sizeof(int32) * n);
	m->size += 2 * sizeof(int32) * n;
	for (int i = 0; i < n; i++)
	{
		keys[i].name = model_string(m, m->feature_name[i]);
		keys[i].len = m->feature_len[i] = strlen(keys[i].name);
		keys[i].index = i;
	}
	qsort(keys, n, sizeof(CategoryKey), compare_category_keys);
	for (int i = 0; i < n; i++)
		m->feature_order[i] = keys[i].index;
	pfree(keys);
}

Model *
model_load(const bytea *compiled, MemoryContext cxt)
{
	Size		size = VARSIZE_ANY_EXHDR(compiled);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Model	   *m = palloc0(sizeof(Model));
	char	   *data;
	const ModelHeader *h;
	const void *sec[SEC__COUNT] = {0};
	uint32		cnt[SEC__COUNT] = {0};
	Size		pos;
	int			n_cat_total;
	int			n_encoded;

	if (size < sizeof(ModelHeader))
		invalid("%zu bytes is too short for a compiled model", size);
	/* palloc memory is MAXALIGNed, as the double arrays need */
	data = palloc(size);
	memcpy(data, VARDATA_ANY(compiled), size);
	m->hdr = h = (const ModelHeader *) data;
	m->size = size + sizeof(Model);

	if (h->magic != MODEL_MAGIC)
		invalid("not a compiled mlops model (bad magic number)");
	if (h->endian_mark != MODEL_ENDIAN_MARK)
		invalid("compiled on a machine of the other byte order; register the artifact again");
	if (h->layout != MODEL_LAYOUT)
		invalid("compiled layout %u is not supported by this version (%d); recompile with mlops.compile_model()",
				h->layout, MODEL_LAYOUT);
	if (h->total_size != size)
		invalid("the header says %u bytes, the datum has %zu", h->total_size, size);

	pos = sizeof(ModelHeader);
	for (uint32 i = 0; i < h->n_sections; i++)
	{
		const SectionHeader *sh;
		uint64		bytes;

		if (size - pos < sizeof(SectionHeader))
			invalid("section %u is truncated", i);
		sh = (const SectionHeader *) (data + pos);
		pos += sizeof(SectionHeader);
		if (sh->tag == 0 || sh->tag >= SEC__COUNT)
			invalid("unknown section tag %u", sh->tag);
		if (sec[sh->tag] != NULL)
			invalid("section %s appears twice", section_info[sh->tag].what);
		if (sh->elem_size != section_info[sh->tag].elem_size)
			invalid("section %s has element size %u", section_info[sh->tag].what, sh->elem_size);
		bytes = (uint64) sh->elem_size * sh->count;
		if (bytes > size - pos)
			invalid("section %s is truncated", section_info[sh->tag].what);
		sec[sh->tag] = data + pos;
		cnt[sh->tag] = sh->count;
		pos += bytes;
		pos += (8 - bytes % 8) % 8;
		if (pos > size)
			invalid("section %s is truncated", section_info[sh->tag].what);
	}
	if (pos != size)
		invalid("%zu bytes follow the last section", size - pos);

	m->strings = sec[SEC_STRINGS];
	m->strings_len = cnt[SEC_STRINGS];
	if (m->strings == NULL || m->strings_len == 0 || m->strings[m->strings_len - 1] != '\0')
		invalid("the names section is missing or not terminated");

	m->feature_name = sec[SEC_FEATURE_NAME];
	m->feature_kind = sec[SEC_FEATURE_KIND];
	m->feature_ncat = sec[SEC_FEATURE_NCAT];
	m->feature_cat_first = sec[SEC_FEATURE_CAT_FIRST];
	m->feature_unknown_ignore = sec[SEC_FEATURE_UNKNOWN_IGNORE];
	m->category_name = sec[SEC_CATEGORY_NAME];
	m->n_categories_total = cnt[SEC_CATEGORY_NAME];
	m->impute_set = sec[SEC_IMPUTE_SET];
	m->impute_value = sec[SEC_IMPUTE_VALUE];
	m->scale_center = sec[SEC_SCALE_CENTER];
	m->scale_factor = sec[SEC_SCALE_FACTOR];
	m->class_name = sec[SEC_CLASS_NAME];
	m->coef = sec[SEC_LINEAR_COEF];
	m->intercept = sec[SEC_LINEAR_INTERCEPT];
	m->mlp_sizes = sec[SEC_MLP_SIZES];
	m->mlp_weights = sec[SEC_MLP_WEIGHTS];
	m->mlp_biases = sec[SEC_MLP_BIASES];
	m->tree_first_node = sec[SEC_TREE_FIRST_NODE];
	m->tree_node_count = sec[SEC_TREE_NODE_COUNT];
	m->tree_output = sec[SEC_TREE_OUTPUT];
	m->node_feature = sec[SEC_NODE_FEATURE];
	m->node_threshold = sec[SEC_NODE_THRESHOLD];
	m->node_left = sec[SEC_NODE_LEFT];
	m->node_right = sec[SEC_NODE_RIGHT];
	m->node_default_left = sec[SEC_NODE_DEFAULT_LEFT];
	m->node_value_first = sec[SEC_NODE_VALUE_FIRST];
	m->leaf_value = sec[SEC_LEAF_VALUE];
	m->n_leaf_values = cnt[SEC_LEAF_VALUE];
	m->base_score = sec[SEC_BASE_SCORE];

	/* ---- signature ---- */
	if (h->n_inputs < 1 || h->n_inputs > MODEL_MAX_FEATURES)
		invalid("features: %d features (1 to %d are supported)", h->n_inputs, MODEL_MAX_FEATURES);
	check_count(m->feature_name, cnt[SEC_FEATURE_NAME], h->n_inputs, SEC_FEATURE_NAME);
	check_count(m->feature_kind, cnt[SEC_FEATURE_KIND], h->n_inputs, SEC_FEATURE_KIND);
	check_count(m->feature_ncat, cnt[SEC_FEATURE_NCAT], h->n_inputs, SEC_FEATURE_NCAT);
	check_count(m->feature_cat_first, cnt[SEC_FEATURE_CAT_FIRST], h->n_inputs, SEC_FEATURE_CAT_FIRST);
	check_count(m->feature_unknown_ignore, cnt[SEC_FEATURE_UNKNOWN_IGNORE], h->n_inputs, SEC_FEATURE_UNKNOWN_IGNORE);
	check_count(m->impute_set, cnt[SEC_IMPUTE_SET], h->n_inputs, SEC_IMPUTE_SET);
	check_count(m->impute_value, cnt[SEC_IMPUTE_VALUE], h->n_inputs, SEC_IMPUTE_VALUE);
	check_finite(m->impute_value, h->n_inputs, SEC_IMPUTE_VALUE);

	m->encoded_first = palloc(sizeof(int32) * h->n_inputs);
	n_cat_total = 0;
	n_encoded = 0;
	for (int i = 0; i < h->n_inputs; i++)
	{
		int32		ncat = m->feature_ncat[i];

		if (m->feature_name[i] >= (uint32) m->strings_len)
			invalid("features[%d].name is out of range", i);
		m->encoded_first[i] = n_encoded;
		if (m->feature_kind[i] == FEATURE_NUMERIC)
		{
			if (ncat != 0)
				invalid("features[%d]: a numeric feature has no categories", i);
			n_encoded += 1;
		}
		else if (m->feature_kind[i] == FEATURE_CATEGORICAL)
		{
			if (ncat < 1 || ncat > MODEL_MAX_CATEGORIES)
				invalid("features[%d].categories: %d categories", i, ncat);
			if (m->feature_cat_first[i] != n_cat_total)
				invalid("features[%d].categories are out of place", i);
			if (m->impute_set[i] &&
				(m->impute_value[i] < 0 || m->impute_value[i] >= ncat ||
				 m->impute_value[i] != floor(m->impute_value[i])))
				invalid("features[%d].impute is not one of the categories", i);
			m->any_categorical = true;
			n_cat_total += ncat;
			n_encoded += ncat;
		}
		else
			invalid("features[%d].type is unknown (%d)", i, m->feature_kind[i]);
		if (n_encoded > MODEL_MAX_FEATURES)
			invalid("features: more than %d encoded columns", MODEL_MAX_FEATURES);
	}
	if (n_encoded != h->n_encoded)
		invalid("features: %d encoded columns, the header says %d", n_encoded, h->n_encoded);
	build_feature_index(m);
	check_count(m->category_name, cnt[SEC_CATEGORY_NAME], n_cat_total, SEC_CATEGORY_NAME);
	for (int i = 0; i < n_cat_total; i++)
		if (m->category_name[i] >= (uint32) m->strings_len)
			invalid("a category name is out of range");
	build_category_index(m, n_cat_total);

	if ((m->scale_center == NULL) != (m->scale_factor == NULL))
		invalid("scaler: \"center\" and \"scale\" come together");
	if (m->scale_center)
	{
		check_count(m->scale_center, cnt[SEC_SCALE_CENTER], n_encoded, SEC_SCALE_CENTER);
		check_count(m->scale_factor, cnt[SEC_SCALE_FACTOR], n_encoded, SEC_SCALE_FACTOR);
		check_finite(m->scale_center, n_encoded, SEC_SCALE_CENTER);
		check_finite(m->scale_factor, n_encoded, SEC_SCALE_FACTOR);
		for (int i = 0; i < n_encoded; i++)
			if (m->scale_factor[i] == 0)
				invalid("scaler.scale[%d] is zero", i);
	}

	/*
	 * One-hot blocks can be kept between rows and skipped in a linear
	 * model's sum when a 0 stays 0 through the scaler.
	 */
	m->sparse_onehot = m->any_categorical;
	for (int i = 0; i < h->n_inputs && m->sparse_onehot && m->scale_center; i++)
		if (m->feature_kind[i] == FEATURE_CATEGORICAL)
			for (int j = 0; j < m->feature_ncat[i]; j++)
				if (m->scale_center[m->encoded_first[i] + j] != 0)
					m->sparse_onehot = false;

	/* ---- task, classes, outputs ---- */
	if (h->n_outputs < 1 || h->n_outputs > MODEL_MAX_OUTPUTS)
		invalid("model: %d outputs", h->n_outputs);
	switch (h->task)
	{
		case TASK_REGRESSION:
			if (h->n_classes != 0 || m->class_name != NULL)
				invalid("classes: a regression model has no classes");
			if (h->n_outputs != 1)
				invalid("model: a regression model has one output, this one has %d", h->n_outputs);
			if (h->link != LINK_IDENTITY && h->link != LINK_EXP && h->link != LINK_LOGISTIC)
				invalid("model.link: a regression model's link is \"identity\", \"exp\" or \"logistic\"");
			break;
		case TASK_BINARY:
			if (h->n_classes != 2)
				invalid("classes: a binary model has 2 classes");
			if (!((h->n_outputs == 1 && h->link == LINK_LOGISTIC) ||
				  (h->n_outputs == 2 && (h->link == LINK_SOFTMAX || h->link == LINK_IDENTITY))))
				invalid("model: a binary model has one output with the \"logistic\" link, or two with "
						"\"softmax\" or \"identity\" (probabilities); this one has %d", h->n_outputs);
			break;
		case TASK_MULTICLASS:
			if (h->n_classes < 2 || h->n_classes > MODEL_MAX_OUTPUTS)
				invalid("classes: a multiclass model has at least 2 classes");
			if (h->n_outputs != h->n_classes)
				invalid("model: a multiclass model has one output per class (%d), this one has %d",
						h->n_classes, h->n_outputs);
			if (h->link != LINK_SOFTMAX && h->link != LINK_IDENTITY)
				invalid("model.link: a multiclass model's link is \"softmax\" or \"identity\" (probabilities)");
			break;
		default:
			invalid("task %d is unknown", h->task);
	}
	check_count(m->class_name, cnt[SEC_CLASS_NAME], h->n_classes, SEC_CLASS_NAME);
	for (int i = 0; i < h->n_classes; i++)
		if (m->class_name[i] >= (uint32) m->strings_len)
			invalid("classes[%d] is out of range", i);

	/* ---- the model proper ---- */
	switch (h->family)
	{
		case FAMILY_LINEAR:
			check_count(m->coef, cnt[SEC_LINEAR_COEF], (int64) h->n_outputs * n_encoded, SEC_LINEAR_COEF);
			check_count(m->intercept, cnt[SEC_LINEAR_INTERCEPT], h->n_outputs, SEC_LINEAR_INTERCEPT);
			check_finite(m->coef, cnt[SEC_LINEAR_COEF], SEC_LINEAR_COEF);
			check_finite(m->intercept, cnt[SEC_LINEAR_INTERCEPT], SEC_LINEAR_INTERCEPT);
			m->scratch_len = 0;
			break;

		case FAMILY_MLP:
			{
				static const int32 hidden[] = {LINK_IDENTITY, LINK_RELU, LINK_TANH, LINK_LOGISTIC, 0};
				int64		n_weights = 0;
				int64		n_biases = 0;

				if (h->n_layers < 1 || h->n_layers > MODEL_MAX_LAYERS)
					invalid("model.layers: %d layers (1 to %d are supported)", h->n_layers, MODEL_MAX_LAYERS);
				if (!link_allowed(h->hidden_activation, hidden))
					invalid("model.hidden_activation is unknown");
				check_count(m->mlp_sizes, cnt[SEC_MLP_SIZES], h->n_layers + 1, SEC_MLP_SIZES);
				if (m->mlp_sizes[0] != n_encoded)
					invalid("model.layers[0].weights has %d rows, expected %d (the input columns)",
							m->mlp_sizes[0], n_encoded);
				m->mlp_max_width = n_encoded;
				for (int l = 1; l <= h->n_layers; l++)
				{
					if (m->mlp_sizes[l] < 1 || m->mlp_sizes[l] > MODEL_MAX_FEATURES)
						invalid("model.layers[%d] has %d units", l - 1, m->mlp_sizes[l]);
					n_weights += (int64) m->mlp_sizes[l - 1] * m->mlp_sizes[l];
					n_biases += m->mlp_sizes[l];
					m->mlp_max_width = Max(m->mlp_max_width, m->mlp_sizes[l]);
				}
				if (m->mlp_sizes[h->n_layers] != h->n_outputs)
					invalid("model.layers: the last layer has %d units, the model %d outputs",
							m->mlp_sizes[h->n_layers], h->n_outputs);
				check_count(m->mlp_weights, cnt[SEC_MLP_WEIGHTS], n_weights, SEC_MLP_WEIGHTS);
				check_count(m->mlp_biases, cnt[SEC_MLP_BIASES], n_biases, SEC_MLP_BIASES);
				check_finite(m->mlp_weights, cnt[SEC_MLP_WEIGHTS], SEC_MLP_WEIGHTS);
				check_finite(m->mlp_biases, cnt[SEC_MLP_BIASES], SEC_MLP_BIASES);
				m->scratch_len = 2 * m->mlp_max_width;
				break;
			}

		case FAMILY_TREES:
			{
				int64		nodes = 0;
				int32		max_count = 1;
				uint8	   *seen;
				int32	   *stack;
				int32	   *depth;

				if (h->n_trees < 1 || h->n_trees > MODEL_MAX_TREES)
					invalid("model.trees: %d trees (1 to %d are supported)", h->n_trees, MODEL_MAX_TREES);
				if (h->tree_flags & ~(TREE_SPLIT_LT | TREE_FLOAT32 | TREE_AVERAGE | TREE_SUM_FLOAT32))
					invalid("model: unknown tree flags");
				if ((h->tree_flags & TREE_SUM_FLOAT32) && (h->tree_flags & TREE_AVERAGE))
					invalid("model: float32 sums are for boosting, not averaging");
				check_count(m->tree_first_node, cnt[SEC_TREE_FIRST_NODE], h->n_trees, SEC_TREE_FIRST_NODE);
				check_count(m->tree_node_count, cnt[SEC_TREE_NODE_COUNT], h->n_trees, SEC_TREE_NODE_COUNT);
				check_count(m->tree_output, cnt[SEC_TREE_OUTPUT], h->n_trees, SEC_TREE_OUTPUT);
				check_count(m->base_score, cnt[SEC_BASE_SCORE], h->n_outputs, SEC_BASE_SCORE);
				check_finite(m->base_score, h->n_outputs, SEC_BASE_SCORE);
				for (int t = 0; t < h->n_trees; t++)
				{
					if (m->tree_first_node[t] != nodes || m->tree_node_count[t] < 1)
						invalid("model.trees[%d]: node arrays out of place or empty", t);
					if (m->tree_output[t] < -1 || m->tree_output[t] >= h->n_outputs)
						invalid("model.trees[%d].output %d is out of range", t, m->tree_output[t]);
					nodes += m->tree_node_count[t];
					max_count = Max(max_count, m->tree_node_count[t]);
				}
				if (nodes != h->n_nodes)
					invalid("model.trees: " INT64_FORMAT " nodes, the header says %d", nodes, h->n_nodes);
				check_count(m->node_feature, cnt[SEC_NODE_FEATURE], nodes, SEC_NODE_FEATURE);
				check_count(m->node_threshold, cnt[SEC_NODE_THRESHOLD], nodes, SEC_NODE_THRESHOLD);
				check_count(m->node_left, cnt[SEC_NODE_LEFT], nodes, SEC_NODE_LEFT);
				check_count(m->node_right, cnt[SEC_NODE_RIGHT], nodes, SEC_NODE_RIGHT);
				check_count(m->node_default_left, cnt[SEC_NODE_DEFAULT_LEFT], nodes, SEC_NODE_DEFAULT_LEFT);
				check_count(m->node_value_first, cnt[SEC_NODE_VALUE_FIRST], nodes, SEC_NODE_VALUE_FIRST);
				if (m->leaf_value == NULL)
					invalid("model.trees[].value is missing");
				check_finite(m->leaf_value, m->n_leaf_values, SEC_LEAF_VALUE);

				seen = palloc(max_count);
				stack = palloc(sizeof(int32) * (max_count + 2));
				depth = palloc(sizeof(int32) * (max_count + 2));
				for (int t = 0; t < h->n_trees; t++)
					check_tree(m, t, m->tree_first_node[t], m->tree_node_count[t],
							   m->tree_output[t] == -1 ? h->n_outputs : 1, seen, stack, depth);
				pfree(seen);
				pfree(stack);
				pfree(depth);
				build_fast_trees(m);
				/* a copy of the input rounded to float32, for TREE_FLOAT32 */
				m->scratch_len = h->n_encoded;
				break;
			}

		default:
			invalid("model family %d is unknown", h->family);
	}

	MemoryContextSwitchTo(old);
	return m;
}

static inline double
sigmoid(double z)
{
	/* two forms, so that neither exp() overflows nor precision is lost for z << 0 */
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	else
	{
		double		e = exp(z);

		return e / (1.0 + e);
	}
}

static void
apply_link(int32 link, double *v, int n)
{
	switch (link)
	{
		case LINK_IDENTITY:
			break;
		case LINK_LOGISTIC:
			for (int i = 0; i < n; i++)
				v[i] = sigmoid(v[i]);
			break;
		case LINK_EXP:
			for (int i = 0; i < n; i++)
				v[i] = exp(v[i]);
			break;
		case LINK_RELU:
			for (int i = 0; i < n; i++)
				v[i] = v[i] > 0 ? v[i] : 0;
			break;
		case LINK_TANH:
			for (int i = 0; i < n; i++)
				v[i] = tanh(v[i]);
			break;
		case LINK_SOFTMAX:
			{
				double		max = v[0];
				double		sum = 0;

				for (int i = 1; i < n; i++)
					max = Max(max, v[i]);
				for (int i = 0; i < n; i++)
				{
					v[i] = exp(v[i] - max);
					sum += v[i];
				}
				for (int i = 0; i < n; i++)
					v[i] /= sum;
				break;
			}
	}
}

/* add a leaf to the outputs; in float32 for TREE_SUM_FLOAT32 (sum32) */
static inline void
add_values(double *out, int output, const double *v, int n_out, bool sum32)
{
	if (output >= 0)
		out[output] = sum32 ? (double) (float) (out[output] + v[0]) : out[output] + v[0];
	else
		for (int k = 0; k < n_out; k++)
			out[k] = sum32 ? (double) (float) (out[k] + v[k]) : out[k] + v[k];
}

/*
 * The general walk, on the compiled arrays: used for rows with missing
 * values, which follow each node's default branch.
 */
static void
eval_trees_missing(const Model *m, const double *x, double *out)
{
	const ModelHeader *h = m->hdr;
	bool		split_lt = (h->tree_flags & TREE_SPLIT_LT) != 0;
	bool		as_float = (h->tree_flags & TREE_FLOAT32) != 0;
	int			n_out = h->n_outputs;

	for (int t = 0; t < h->n_trees; t++)
	{
		const int32 first = m->tree_first_node[t];
		int32		node = first;
		const double *leaf;

		/* model_load() proved every path ends at a leaf */
		while (m->node_left[node] != -1)
		{
			double		v = x[m->node_feature[node]];
			bool		go_left;

			if (isnan(v))
				go_left = m->node_default_left[node];
			else
			{
				if (as_float)
					v = (double) (float) v;
				go_left = split_lt ? v < m->node_threshold[node] : v <= m->node_threshold[node];
			}
			node = first + (go_left ? m->node_left[node] : m->node_right[node]);
		}
		leaf = m->leaf_value + m->node_value_first[node];
		add_values(out, m->tree_output[t], leaf, n_out, (h->tree_flags & TREE_SUM_FLOAT32) != 0);
	}
}

/* one step down a tree for a row without missing values */
#define STEP(node, x, split_lt) \
	((nodes)[node].left + (int32) ((split_lt) ? !((x)[(nodes)[node].feature] < (nodes)[node].threshold) \
											 : ((x)[(nodes)[node].feature] > (nodes)[node].threshold)))

static inline void
add_leaf(const Model *m, int t, const FastNode *leaf, double *out, int n_out, bool sum32)
{
	add_values(out, m->tree_output[t], m->leaf_value + leaf->left, n_out, sum32);
}

/*
 * Rows without missing values: four trees walked side by side, so that the
 * processor overlaps their independent chains of loads.  Leaves are added in
 * tree order, so the sum is the same as one tree at a time.
 */
static void
eval_trees_complete(const Model *m, const double *x, double *out, bool split_lt, bool sum32)
{
	const FastNode *nodes = m->fast_nodes;
	int			n_trees = m->hdr->n_trees;
	int			n_out = m->hdr->n_outputs;
	int			t = 0;

	for (; t + 4 <= n_trees; t += 4)
	{
		int32		a = m->fast_root[t];
		int32		b = m->fast_root[t + 1];
		int32		c = m->fast_root[t + 2];
		int32		d = m->fast_root[t + 3];

		for (;;)
		{
			bool		more = false;

			if (nodes[a].feature >= 0)
			{
				a = STEP(a, x, split_lt);
				more = true;
			}
			if (nodes[b].feature >= 0)
			{
				b = STEP(b, x, split_lt);
				more = true;
			}
			if (nodes[c].feature >= 0)
			{
				c = STEP(c, x, split_lt);
				more = true;
			}
			if (nodes[d].feature >= 0)
			{
				d = STEP(d, x, split_lt);
				more = true;
			}
			if (!more)
				break;
		}
		add_leaf(m, t, &nodes[a], out, n_out, sum32);
		add_leaf(m, t + 1, &nodes[b], out, n_out, sum32);
		add_leaf(m, t + 2, &nodes[c], out, n_out, sum32);
		add_leaf(m, t + 3, &nodes[d], out, n_out, sum32);
	}
	for (; t < n_trees; t++)
	{
		int32		a = m->fast_root[t];

		while (nodes[a].feature >= 0)
			a = STEP(a, x, split_lt);
		add_leaf(m, t, &nodes[a], out, n_out, sum32);
	}
}

static void
eval_trees(const Model *m, const double *x, double *out, double *scratch)
{
	const ModelHeader *h = m->hdr;
	int			n_out = h->n_outputs;
	int			n = h->n_encoded;
	bool		sum32 = (h->tree_flags & TREE_SUM_FLOAT32) != 0;
	bool		missing = false;

	/* XGBoost starts from the base margin; the others add it at the end */
	for (int k = 0; k < n_out; k++)
		out[k] = sum32 ? (double) (float) m->base_score[k] : 0;

	for (int i = 0; i < n; i++)
		missing |= isnan(x[i]);

	if (missing)
		eval_trees_missing(m, x, out);
	else
	{
		/* round the row once, not at every node */
		if (h->tree_flags & TREE_FLOAT32)
		{
			for (int i = 0; i < n; i++)
				scratch[i] = (double) (float) x[i];
			x = scratch;
		}
		eval_trees_complete(m, x, out, (h->tree_flags & TREE_SPLIT_LT) != 0, sum32);
	}

	if (h->tree_flags & TREE_AVERAGE)
		for (int k = 0; k < n_out; k++)
			out[k] /= h->n_trees;
	if (!sum32)
		for (int k = 0; k < n_out; k++)
			out[k] += m->base_score[k];
}

/*
 * An MLP's layers from layer "from" on, "in" being that layer's input (the
 * encoded row for layer 0, the previous layer's activations otherwise,
 * which may sit in scratch): the last layer's outputs go to "out".  Layer l
 * reads in and writes scratch half (l % 2), so that an input in scratch is
 * never the half being written.
 */
static void
mlp_layers(const Model *m, int from, const double *in, double *out, double *scratch)
{
	const ModelHeader *h = m->hdr;
	const double *w = m->mlp_weights;
	const double *b = m->mlp_biases;
	double	   *bufs[2] = {scratch, scratch + m->mlp_max_width};

	for (int l = 0; l < from; l++)
	{
		w += (Size) m->mlp_sizes[l] * m->mlp_sizes[l + 1];
		b += m->mlp_sizes[l + 1];
	}
	for (int l = from; l < h->n_layers; l++)
	{
		int			rows = m->mlp_sizes[l];
		int			cols = m->mlp_sizes[l + 1];
		bool		last = (l == h->n_layers - 1);
		double	   *z = last ? out : bufs[l % 2];

		/* z = W' in + b, W stored rows x cols (inputs x units) */
		memcpy(z, b, sizeof(double) * cols);
		cblas_dgemv(CblasRowMajor, CblasTrans, rows, cols, 1.0, w, cols, in, 1, 1.0, z, 1);
		apply_link(last ? h->link : h->hidden_activation, z, cols);
		w += (Size) rows * cols;
		b += cols;
		in = z;
	}
}

/*
 * Run the model on an encoded input (model_encode()'s output) and write its
 * n_outputs values, after the link function, to "out".
 */
void
model_eval(const Model *m, const double *x, double *out, double *scratch)
{
	const ModelHeader *h = m->hdr;
	int			n = h->n_encoded;

	switch (h->family)
	{
		case FAMILY_LINEAR:
			if (h->n_outputs == 1)
			{
				/* a BLAS call costs more than a short loop for one row */
				double		z = 0;

				for (int i = 0; i < n; i++)
					z += m->coef[i] * x[i];
				out[0] = z + m->intercept[0];
			}
			else
			{
				memcpy(out, m->intercept, sizeof(double) * h->n_outputs);
				cblas_dgemv(CblasRowMajor, CblasNoTrans, h->n_outputs, n, 1.0, m->coef, n,
							x, 1, 1.0, out, 1);
			}
			apply_link(h->link, out, h->n_outputs);
			break;

		case FAMILY_MLP:
			mlp_layers(m, 0, x, out, scratch);
			break;

		case FAMILY_TREES:
			eval_trees(m, x, out, scratch);
			apply_link(h->link, out, h->n_outputs);
			/* outputs of TREE_SUM_FLOAT32 models are rounded by model_round_outputs() */
			break;
	}
}

/*
 * model_eval() on an encoded input of which only the columns listed in
 * active (ascending) may be nonzero, as score_encode() leaves it for models
 * with one-hot blocks.  Linear models, and an MLP's first layer, add just
 * those columns.  For a single-output linear model that is model_eval()'s
 * loop without its zero terms, so the same sum; elsewhere the terms are
 * added in another order than BLAS's, so equal to rounding.  Trees read the
 * whole input.
 */
void
model_eval_sparse(const Model *m, const double *x, const int32 *active, int n_active, double *out,
				  double *scratch)
{
	const ModelHeader *h = m->hdr;
	int			n = h->n_encoded;

	switch (h->family)
	{
		case FAMILY_LINEAR:
			for (int k = 0; k < h->n_outputs; k++)
			{
				const double *coef = m->coef + (Size) k * n;
				double		z = 0;

				for (int a = 0; a < n_active; a++)
					z += coef[active[a]] * x[active[a]];
				out[k] = z + m->intercept[k];
			}
			apply_link(h->link, out, h->n_outputs);
			break;

		case FAMILY_MLP:
			{
				int			units = m->mlp_sizes[1];
				double	   *z = h->n_layers == 1 ? out : scratch;

				/* the first layer from the active rows of its weights (inputs x units) */
				memcpy(z, m->mlp_biases, sizeof(double) * units);
				for (int a = 0; a < n_active; a++)
				{
					const double *w = m->mlp_weights + (Size) active[a] * units;
					double		v = x[active[a]];

					for (int u = 0; u < units; u++)
						z[u] += v * w[u];
				}
				apply_link(h->n_layers == 1 ? h->link : h->hidden_activation, z, units);
				mlp_layers(m, 1, z, out, scratch);
				break;
			}

		case FAMILY_TREES:
			model_eval(m, x, out, scratch);
			break;
	}
}

/*
 * Run the model on n_rows encoded inputs at once (row-major, n_encoded
 * columns) and write n_outputs values per row to "out".  Linear models and
 * MLPs become matrix products, where OpenBLAS keeps the weights in cache
 * across rows and uses its blocked kernels; trees, and linear models with one
 * output, row by row.
 * "scratch" holds model_batch_scratch_len(m, n_rows) doubles.
 *
 * Single-output linear models and trees give model_eval()'s values bit for
 * bit.  Elsewhere the sums are model_eval()'s in the order OpenBLAS's
 * matrix kernels choose, so results agree with row-by-row scoring to
 * rounding (a relative 1e-15 or so), not always bit for bit.
 */
Size
model_batch_scratch_len(const Model *m, int n_rows)
{
	if (m->hdr->family == FAMILY_MLP)
		return (Size) 2 * n_rows * m->mlp_max_width;
	return Max(m->scratch_len, 1);
}

static void
apply_link_rows(int32 link, double *v, int n_rows, int width)
{
	/* softmax normalises within a row; the others are element by element */
	if (link == LINK_SOFTMAX)
		for (int r = 0; r < n_rows; r++)
			apply_link(link, v + (Size) r * width, width);
	else
		apply_link(link, v, n_rows * width);
}

void
model_eval_batch(const Model *m, const double *x, int n_rows, double *out, double *scratch)
{
	const ModelHeader *h = m->hdr;
	int			n = h->n_encoded;
	int			n_out = h->n_outputs;

	if (n_rows <= 0)
		return;
	if (h->family == FAMILY_TREES || (h->family == FAMILY_LINEAR && n_out == 1))
	{
		/*
		 * Row by row: trees gain nothing from a chunk, and a single-output
		 * linear model's dot product per row is bound by reading the inputs
		 * either way, while model_eval()'s own sum keeps batch scores bit for
		 * bit equal to predict()'s.
		 */
		for (int r = 0; r < n_rows; r++)
			model_eval(m, x + (Size) r * n, out + (Size) r * n_out, scratch);
		return;
	}
	switch (h->family)
	{
		case FAMILY_LINEAR:
			/* out = X coef' + intercept */
			for (int r = 0; r < n_rows; r++)
				memcpy(out + (Size) r * n_out, m->intercept, sizeof(double) * n_out);
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, n_out, n, 1.0, x, n,
						m->coef, n, 1.0, out, n_out);
			apply_link_rows(h->link, out, n_rows, n_out);
			break;

		case FAMILY_MLP:
			{
				const double *w = m->mlp_weights;
				const double *b = m->mlp_biases;
				const double *in = x;
				double	   *bufs[2] = {scratch, scratch + (Size) n_rows * m->mlp_max_width};

				for (int l = 0; l < h->n_layers; l++)
				{
					int			rows = m->mlp_sizes[l];
					int			cols = m->mlp_sizes[l + 1];
					bool		last = (l == h->n_layers - 1);
					double	   *z = last ? out : bufs[l % 2];

					/* Z = IN W + b, for all rows: IN is n_rows x rows, W rows x cols */
					for (int r = 0; r < n_rows; r++)
						memcpy(z + (Size) r * cols, b, sizeof(double) * cols);
					cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_rows, cols, rows, 1.0,
								in, rows, w, cols, 1.0, z, cols);
					apply_link_rows(last ? h->link : h->hidden_activation, z, n_rows, cols);
					w += (Size) rows * cols;
					b += cols;
					in = z;
				}
				break;
			}

	}
}

/*
 * XGBoost returns float32 predictions: round a TREE_SUM_FLOAT32 model's
 * values to float32 for output.  Classes are chosen before this, from the
 * unrounded values, which keep the order of XGBoost's margins; rounded
 * probabilities can tie where the margins do not.
 */
void
model_round_outputs(const Model *m, double *out, int n)
{
	if (m->hdr->family == FAMILY_TREES && (m->hdr->tree_flags & TREE_SUM_FLOAT32))
		for (int k = 0; k < n; k++)
			out[k] = (double) (float) out[k];
}

int
model_find_feature(const Model *m, const char *name, int len)
{
	for (int i = 0; i < m->hdr->n_inputs; i++)
	{
		const char *f = model_string(m, m->feature_name[i]);

		if ((int) strlen(f) == len && memcmp(f, name, len) == 0)
			return i;
	}
	return -1;
}

int
model_find_category(const Model *m, int input, const char *value, int len)
{
	int32		first = m->feature_cat_first[input];
	const int32 *order = m->category_order + first;
	int			lo = 0;
	int			hi = m->feature_ncat[input];

	/* the first position whose name is not below value, in category_order's order */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int32		c = first + order[mid];
		int			cmp = m->category_len[c] != len ? (m->category_len[c] < len ? -1 : 1)
			: memcmp(model_string(m, m->category_name[c]), value, len);

		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->feature_ncat[input])
	{
		int32		c = first + order[lo];

		if (m->category_len[c] == len && memcmp(model_string(m, m->category_name[c]), value, len) == 0)
			return order[lo];
	}
	return -1;
}

/* "tenure numeric, contract categorical(a|b|c), ..." for error details, bounded. */
char *
model_signature_text(const Model *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < m->hdr->n_inputs; i++)
	{
		if (buf.len > 600)
		{
			appendStringInfo(&buf, ", ... (%d features in all)", m->hdr->n_inputs);
			break;
		}
		appendStringInfo(&buf, "%s%s %s", i ? ", " : "", model_string(m, m->feature_name[i]),
						 m->feature_kind[i] == FEATURE_NUMERIC ? "numeric" : "categorical");
		if (m->feature_kind[i] == FEATURE_CATEGORICAL)
		{
			appendStringInfoChar(&buf, '(');
			for (int j = 0; j < m->feature_ncat[i] && j < 8; j++)
				appendStringInfo(&buf, "%s%s", j ? "|" : "",
								 model_string(m, m->category_name[m->feature_cat_first[i] + j]));
			if (m->feature_ncat[i] > 8)
				appendStringInfoString(&buf, "|...");
			appendStringInfoChar(&buf, ')');
		}
	}
	return buf.data;
}
