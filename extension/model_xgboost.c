/*
 * model_xgboost.c
 *	  Imports a model saved by XGBoost as JSON (Booster.save_model("m.json"):
 *	  the schema of XGBoost 1.7, and the 2.x files that keep it) into the
 *	  compiled tree-ensemble form, so that an externally trained model is one
 *	  registration away from native scoring.
 *
 *	  What is imported: "gbtree" boosters with numeric splits, for the
 *	  objectives reg:squarederror, reg:logistic, binary:logistic,
 *	  binary:logitraw, multi:softprob, multi:softmax and count:poisson, with
 *	  base_score and each node's default direction for missing values.
 *	  Anything else (dart, gblinear, categorical splits, vector leaves, other
 *	  objectives) is refused, naming the unsupported part: a model is never
 *	  scored differently from how XGBoost scores it.  So is a file whose
 *	  counts disagree with what they count (num_trees, num_parallel_tree,
 *	  num_class against tree_info, num_feature against split indices and
 *	  feature names, num_nodes, num_deleted, per-node array lengths, tree
 *	  ids, iteration_indptr): such a file was not written by XGBoost as it
 *	  stands, and which of its numbers is right is a guess.
 *
 *	  The signature is XGBoost's numeric columns, named from the file, unless
 *	  the file carries ours in its attributes (mlops_features: the features
 *	  array of our format, compiled by the same code, so a one-hot encoded
 *	  text column is scored by name with its categories; mlops_classes: the
 *	  class labels), as mlops.train writes it (training_xgboost.c).
 *
 *	  XGBoost computes in float32: thresholds and leaf values are float32,
 *	  inputs are rounded to float32 before each comparison (x < threshold
 *	  goes left), and the margin is base_margin plus each tree's leaf, added
 *	  in float32 in tree order.  The compiled model says so (TREE_FLOAT32,
 *	  TREE_SPLIT_LT, TREE_SUM_FLOAT32) and model_eval() reproduces it; the
 *	  link is then applied in double and rounded to float32.
 */
#include <math.h>
#include <jansson.h>

#include "postgres.h"

#include "model.h"
#include "model_compile.h"

#define MODEL_PATH "learner.gradient_booster.model"
#define TREES_PATH MODEL_PATH ".trees"
#define ATTR_PATH "learner.attributes"

/*
 * Whether a text that failed to parse is an XGBoost model with categorical
 * splits: XGBoost writes their split conditions as NaN, which is not JSON,
 * so the importer never sees them; this says why instead of "invalid token".
 * It looks for a non-empty "categories_nodes" array.
 */
bool
mj_xgboost_text_has_categorical(const char *json, size_t len)
{
	static const char key[] = "\"categories_nodes\"";
	const char *end = json + len;
	const char *p = json;

	while ((p = memmem(p, end - p, key, sizeof(key) - 1)) != NULL)
	{
		p += sizeof(key) - 1;
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ':'))
			p++;
		if (p < end && *p == '[')
		{
			p++;
			while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
				p++;
			if (p < end && *p >= '0' && *p <= '9')
				return true;
		}
	}
	return false;
}

bool
mj_is_xgboost(json_t *doc)
{
	return json_is_object(doc) && json_object_get(doc, "learner") != NULL;
}

/* XGBoost writes most scalars of its parameters as strings: "100", "5E-1", "[5E-1]" */
static double
param_number(json_t *obj, const char *key, const char *path, bool required, double absent)
{
	json_t	   *v = mj_member(obj, key, path, required);
	const char *s;
	char	   *end;
	char		buf[64];
	double		d;
	size_t		len;

	if (v == NULL)
		return absent;
	if (json_is_number(v))
		return mj_number(v, psprintf("%s.%s", path, key));
	s = mj_string(v, psprintf("%s.%s", path, key));
	len = strlen(s);
	/* XGBoost 2 writes base_score as a one-element vector */
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
	{
		if (len - 2 >= sizeof(buf))
			mj_error(psprintf("%s.%s", path, key), "\"%.40s\" is not a number", s);
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		if (strchr(buf, ','))
			mj_error(psprintf("%s.%s", path, key), "vector base scores (multi-target models) are not supported");
		s = buf;
	}
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(d))
		mj_error(psprintf("%s.%s", path, key), "\"%.40s\" is not a finite number", s);
	return d;
}

static int32
param_int(json_t *obj, const char *key, const char *path, int64 min, int64 max)
{
	double		d = param_number(obj, key, path, true, 0);

	if (d != floor(d) || d < min || d > max)
		mj_error(psprintf("%s.%s", path, key), "%g is not an integer in [%lld, %lld]",
				 d, (long long) min, (long long) max);
	return (int32) d;
}

/* an optional integer parameter, "absent" when the key is not there */
static int32
param_int_opt(json_t *obj, const char *key, const char *path, int64 min, int64 max, int32 absent)
{
	if (json_object_get(obj, key) == NULL)
		return absent;
	return param_int(obj, key, path, min, max);
}

/* an array of numbers or 0/1 booleans of exactly n elements */
static json_t *
node_array(json_t *tree, const char *key, const char *tpath, int n)
{
	char	   *path = psprintf("%s.%s", tpath, key);
	json_t	   *a = mj_array(mj_member(tree, key, tpath, true), path, 0);

	if ((int) json_array_size(a) != n)
		mj_error(path, "expected %d elements, one per node, found %zu", n, json_array_size(a));
	return a;
}

/*
 * How many nodes of a tree are reached from its root, or -1 when a node is
 * reached twice (a cycle or a shared node, which model_load() reports with
 * its place).  The children are already known to be in range.  Every node
 * is expanded once at most, so at most 2n + 1 entries are ever pushed.
 */
static int
count_reachable(const int32 *left, const int32 *right, int n)
{
	uint8	   *seen = palloc0(n);
	int32	   *stack = palloc(sizeof(int32) * (2 * (Size) n + 1));
	int			sp = 0;
	int			count = 0;

	stack[sp++] = 0;
	while (sp > 0)
	{
		int32		node = stack[--sp];

		if (seen[node])
			return -1;
		seen[node] = 1;
		count++;
		if (left[node] != -1)
		{
			stack[sp++] = left[node];
			stack[sp++] = right[node];
		}
	}
	pfree(seen);
	pfree(stack);
	return count;
}

/*
 * One tree.  Besides the arrays scoring reads, every count the tree states
 * is checked against what it counts (tree_param.num_nodes, num_deleted,
 * num_feature; the lengths of the per-node arrays scoring does not read;
 * its id, which XGBoost uses as its position), so that a file that is not
 * self-consistent is refused rather than scored as a guess.
 */
static void
import_tree(Compiler *c, json_t *tree, int t, int n_features, int32 output, int32 node_base,
			int32 *leaf_values)
{
	static const char *const unused_arrays[] = {"parents", "base_weights", "loss_changes", "sum_hessian",
	"split_type", NULL};
	static const char *const category_arrays[] = {"categories", "categories_nodes", "categories_segments",
	"categories_sizes", NULL};
	char	   *tpath = psprintf(TREES_PATH "[%d]", t);
	json_t	   *left,
			   *right,
			   *split_index,
			   *split_cond,
			   *default_left;
	json_t	   *v;
	int			n;
	int			tree_features = n_features;
	int			n_deleted = -1;
	int32	   *lchild;
	int32	   *rchild;

	mj_object(tree, tpath);
	left = mj_array(mj_member(tree, "left_children", tpath, true), psprintf("%s.left_children", tpath), 1);
	n = (int) json_array_size(left);
	if (n > INT32_MAX / 2 - node_base)
		mj_error(tpath, "too many nodes");
	right = node_array(tree, "right_children", tpath, n);
	split_index = node_array(tree, "split_indices", tpath, n);
	split_cond = node_array(tree, "split_conditions", tpath, n);
	default_left = node_array(tree, "default_left", tpath, n);
	for (const char *const *a = unused_arrays; *a; a++)
		if (json_object_get(tree, *a))
			(void) node_array(tree, *a, tpath, n);

	/* XGBoost 2 loads each tree at the position its id says, 1.7 in file order: both agree only if equal */
	if ((v = json_object_get(tree, "id")))
	{
		int32		id = mj_int(v, psprintf("%s.id", tpath), 0, INT32_MAX);

		if (id != t)
			mj_error(psprintf("%s.id", tpath), "the tree at position %d has id %d; XGBoost places each tree "
					 "at its id, so the trees must be in the order of their ids", t, id);
	}

	if ((v = json_object_get(tree, "tree_param")))
	{
		char	   *ppath = psprintf("%s.tree_param", tpath);
		int32		declared;

		mj_object(v, ppath);
		declared = param_int(v, "num_nodes", ppath, 1, INT32_MAX);
		if (declared != n)
			mj_error(psprintf("%s.num_nodes", ppath), "%d nodes declared, but left_children has %d",
					 declared, n);
		n_deleted = param_int_opt(v, "num_deleted", ppath, 0, n - 1, -1);
		tree_features = param_int_opt(v, "num_feature", ppath, 1, INT32_MAX, n_features);
		if (tree_features > n_features)
			mj_error(psprintf("%s.num_feature", ppath), "the tree has %d features, more than the model's %d "
					 "(learner.learner_model_param.num_feature)", tree_features, n_features);
		if (param_int_opt(v, "size_leaf_vector", ppath, 0, INT32_MAX, 0) > 1)
			mj_error(ppath, "vector leaves (multi-target trees) are not supported");
	}
	if ((v = json_object_get(tree, "split_type")))
	{
		for (size_t i = 0; i < json_array_size(v); i++)
			if (!json_is_integer(json_array_get(v, i)) || json_integer_value(json_array_get(v, i)) != 0)
				mj_error(psprintf("%s.split_type[%zu]", tpath, i),
						 "categorical splits are not supported; train with numeric (one-hot) features");
	}
	for (const char *const *a = category_arrays; *a; a++)
		if ((v = json_object_get(tree, *a)) && json_is_array(v) && json_array_size(v) > 0)
			mj_error(psprintf("%s.%s", tpath, *a), "categorical splits are not supported");

	mj_sec_int32(c, SEC_TREE_FIRST_NODE, node_base);
	mj_sec_int32(c, SEC_TREE_NODE_COUNT, n);
	mj_sec_int32(c, SEC_TREE_OUTPUT, output);

	lchild = palloc(sizeof(int32) * n);
	rchild = palloc(sizeof(int32) * n);
	for (int i = 0; i < n; i++)
	{
		int32		l = mj_int(json_array_get(left, i), psprintf("%s.left_children[%d]", tpath, i), -1, INT32_MAX);
		int32		r = mj_int(json_array_get(right, i), psprintf("%s.right_children[%d]", tpath, i), -1, INT32_MAX);
		double		cond = mj_number(json_array_get(split_cond, i), psprintf("%s.split_conditions[%d]", tpath, i));
		json_t	   *dl = json_array_get(default_left, i);
		uint8		go_left;

		if (json_is_boolean(dl))
			go_left = json_is_true(dl);
		else
			go_left = (uint8) mj_int(dl, psprintf("%s.default_left[%d]", tpath, i), 0, 1);
		if (isinf((float) cond))
			mj_error(psprintf("%s.split_conditions[%d]", tpath, i), "%g is out of the float32 range", cond);

		if ((l == -1) != (r == -1))
			mj_error(psprintf("%s.left_children[%d]", tpath, i),
					 "a node has both children or none (left %d, right %d)", l, r);
		if (l != -1 && (l >= n || r >= n))
			mj_error(psprintf("%s.%s_children[%d]", tpath, l >= n ? "left" : "right", i),
					 "child %d is out of range (the tree has %d nodes)", l >= n ? l : r, n);
		lchild[i] = l;
		rchild[i] = r;

		mj_sec_int32(c, SEC_NODE_LEFT, l);
		mj_sec_int32(c, SEC_NODE_RIGHT, r);
		mj_sec_append(c, SEC_NODE_DEFAULT_LEFT, 1, &go_left, 1);
		if (l == -1)
		{
			/* a leaf: split_conditions holds its value */
			mj_sec_int32(c, SEC_NODE_FEATURE, -1);
			mj_sec_double(c, SEC_NODE_THRESHOLD, 0.0);
			mj_sec_int32(c, SEC_NODE_VALUE_FIRST, *leaf_values);
			mj_sec_double(c, SEC_LEAF_VALUE, (double) (float) cond);
			(*leaf_values)++;
		}
		else
		{
			int32		f = mj_int(json_array_get(split_index, i), psprintf("%s.split_indices[%d]", tpath, i),
								   0, INT32_MAX);

			if (f >= tree_features)
				mj_error(psprintf("%s.split_indices[%d]", tpath, i),
						 "feature %d is beyond the %s's %d features (%s.num_feature)",
						 f, tree_features < n_features ? "tree" : "model", tree_features,
						 tree_features < n_features ? "tree_param" : "learner_model_param");
			mj_sec_int32(c, SEC_NODE_FEATURE, f);
			mj_sec_double(c, SEC_NODE_THRESHOLD, (double) (float) cond);
			mj_sec_int32(c, SEC_NODE_VALUE_FIRST, -1);
		}
	}

	/*
	 * XGBoost keeps the nodes it pruned in the arrays, unreachable, and
	 * counts them in num_deleted (it reuses them as new nodes come).
	 */
	if (n_deleted >= 0)
	{
		int			reached = count_reachable(lchild, rchild, n);

		if (reached >= 0 && n - reached != n_deleted)
			mj_error(psprintf("%s.tree_param.num_deleted", tpath),
					 "%d deleted nodes declared, but %d of the %d nodes are not reached from the root",
					 n_deleted, n - reached, n);
	}
	pfree(lchild);
	pfree(rchild);
}

/*
 * An attribute holding JSON: XGBoost's attributes are strings, and ours
 * (mlops_features, mlops_classes) hold a JSON array in that string.  NULL
 * when the file does not have it; a new reference otherwise.  The text is
 * untrusted like the rest of the file: jansson refuses nesting deeper than
 * its parser's limit, and the arrays' sizes are bounded where they are read.
 */
static json_t *
attribute_json(json_t *attributes, const char *key)
{
	char	   *path = psprintf(ATTR_PATH ".%s", key);
	json_t	   *v = attributes ? json_object_get(attributes, key) : NULL;
	const char *text;
	json_t	   *doc;
	json_error_t err;

	if (v == NULL)
		return NULL;
	text = mj_string(v, path);
	doc = json_loadb(text, json_string_length(v), JSON_REJECT_DUPLICATES, &err);
	if (doc == NULL)
		mj_error(path, "XGBoost attributes are strings; this one must hold a JSON array, but it is not valid "
				 "JSON: %s (at byte %d)", err.text, err.position);
	if (!json_is_array(doc) || json_array_size(doc) == 0)
	{
		json_decref(doc);
		mj_error(path, "expected a string holding a non-empty JSON array");
	}
	return doc;
}

/*
 * The signature XGBoost knows: a numeric feature per column, named from
 * learner.feature_names ("names", NULL without them) or f0, f1, ...
 */
static void
import_names(Compiler *c, json_t *names, int n_features)
{
	NameSet		seen;

	nameset_init(&seen, n_features);
	for (int i = 0; i < n_features; i++)
	{
		const char *name;

		if (names)
		{
			name = mj_string(json_array_get(names, i), psprintf("learner.feature_names[%d]", i));
			if (name[0] == '\0' || strlen(name) > 250)
				mj_error(psprintf("learner.feature_names[%d]", i), "feature names have 1 to 250 bytes");
			if (nameset_add(&seen, name, i) >= 0)
				mj_error(psprintf("learner.feature_names[%d]", i), "duplicate feature name \"%s\"", name);
		}
		else
			name = psprintf("f%d", i);
		mj_sec_name(c, SEC_FEATURE_NAME, name);
		mj_sec_int32(c, SEC_FEATURE_KIND, FEATURE_NUMERIC);
		mj_sec_int32(c, SEC_FEATURE_NCAT, 0);
		mj_sec_int32(c, SEC_FEATURE_CAT_FIRST, 0);
		mj_sec_int32(c, SEC_FEATURE_UNKNOWN_IGNORE, 0);
		mj_sec_int32(c, SEC_IMPUTE_SET, 0);
		mj_sec_double(c, SEC_IMPUTE_VALUE, 0);
	}
	c->hdr.n_inputs = n_features;
	c->hdr.n_encoded = n_features;
}

/*
 * Our signature, from the mlops_features attribute: the features array of
 * our own format (the same compiler reads both, so a categorical feature
 * one-hot encodes, is missing or unknown exactly as in "Model format").
 * Its encoded columns are the booster's columns, so their count must be
 * num_feature.  When the file also names its columns, each name must be
 * its encoded column's: a numeric feature's name, and name=category for
 * each column of a categorical feature (what mlops.train writes).  That
 * catches a signature written for other columns, or in another order, which
 * a count alone would not.
 */
static void
import_signature(Compiler *c, json_t *features, json_t *names, int n_features)
{
	int			col = 0;

	mj_compile_features(c, features, ATTR_PATH ".mlops_features");
	if (c->hdr.n_encoded != n_features)
		mj_error(ATTR_PATH ".mlops_features", "the signature encodes to %d columns (a numeric feature 1, a "
				 "categorical feature one per category), but learner.learner_model_param.num_feature is %d",
				 c->hdr.n_encoded, n_features);
	if (names == NULL)
		return;
	for (size_t i = 0; i < json_array_size(features); i++)
	{
		json_t	   *f = json_array_get(features, i);
		const char *name = json_string_value(json_object_get(f, "name"));
		json_t	   *cats = json_object_get(f, "categories");
		size_t		ncol = cats ? json_array_size(cats) : 1;

		for (size_t j = 0; j < ncol; j++, col++)
		{
			char	   *npath = psprintf("learner.feature_names[%d]", col);
			const char *expected = cats ? psprintf("%s=%s", name, mj_label_text(json_array_get(cats, j), npath))
				: name;
			const char *found = mj_string(json_array_get(names, col), npath);

			if (strcmp(found, expected) != 0)
				mj_error(npath, "\"%s\", but column %d of the signature (" ATTR_PATH ".mlops_features) is \"%s\"",
						 found, col, expected);
		}
	}
}

void
mj_compile_xgboost(Compiler *c, json_t *doc)
{
	json_t	   *learner = mj_object(mj_member(doc, "learner", "$", true), "learner");
	json_t	   *param = mj_object(mj_member(learner, "learner_model_param", "learner", true),
								  "learner.learner_model_param");
	json_t	   *objective = mj_object(mj_member(learner, "objective", "learner", true), "learner.objective");
	json_t	   *booster = mj_object(mj_member(learner, "gradient_booster", "learner", true),
									"learner.gradient_booster");
	const char *booster_name = mj_string(mj_member(booster, "name", "learner.gradient_booster", true),
										 "learner.gradient_booster.name");
	const char *obj = mj_string(mj_member(objective, "name", "learner.objective", true), "learner.objective.name");
	json_t	   *model;
	json_t	   *trees;
	json_t	   *tree_info;
	json_t	   *names;
	json_t	   *types;
	int			n_features;
	int			n_class;
	int			n_trees;
	double		base_score;
	double		base_margin;
	int32		node_base = 0;
	int32		leaf_values = 0;
	int32		n_parallel = 1;
	json_t	   *attributes = json_object_get(learner, "attributes");
	json_t	   *features;
	json_t	   *classes;
	json_t	   *v;

	if (attributes)
		mj_object(attributes, ATTR_PATH);
	if (strcmp(booster_name, "gbtree") != 0)
		mj_error("learner.gradient_booster.name", "the \"%s\" booster is not supported; only \"gbtree\" is",
				 booster_name);

	n_features = param_int(param, "num_feature", "learner.learner_model_param", 1, MODEL_MAX_FEATURES);
	n_class = param_int(param, "num_class", "learner.learner_model_param", 0, MODEL_MAX_OUTPUTS);
	if (json_object_get(param, "num_target") &&
		param_int(param, "num_target", "learner.learner_model_param", 0, INT32_MAX) > 1)
		mj_error("learner.learner_model_param.num_target", "multi-target models are not supported");
	base_score = param_number(param, "base_score", "learner.learner_model_param", false, 0.5);

	/* objective: task, link, and the base score as a margin (in float32) */
	c->hdr.family = FAMILY_TREES;
	c->hdr.n_outputs = 1;
	if (strcmp(obj, "reg:squarederror") == 0 || strcmp(obj, "reg:linear") == 0)
	{
		c->hdr.task = TASK_REGRESSION;
		c->hdr.link = LINK_IDENTITY;
		base_margin = (float) base_score;
	}
	else if (strcmp(obj, "reg:logistic") == 0 || strcmp(obj, "binary:logistic") == 0)
	{
		if (base_score <= 0 || base_score >= 1)
			mj_error("learner.learner_model_param.base_score", "%g is not a probability in (0, 1)", base_score);
		c->hdr.task = strcmp(obj, "binary:logistic") == 0 ? TASK_BINARY : TASK_REGRESSION;
		c->hdr.link = LINK_LOGISTIC;
		base_margin = (float) -logf(1.0f / (float) base_score - 1.0f);
	}
	else if (strcmp(obj, "binary:logitraw") == 0)
	{
		/*
		 * logitraw predicts the margin, a regression on the log-odds scale;
		 * XGBoost 1.7 starts it from base_score itself, not from its logit
		 * (checked against XGBoost in tests/integration/parity_xgboost.sh).
		 */
		c->hdr.task = TASK_REGRESSION;
		c->hdr.link = LINK_IDENTITY;
		base_margin = (float) base_score;
	}
	else if (strcmp(obj, "count:poisson") == 0)
	{
		if (base_score <= 0)
			mj_error("learner.learner_model_param.base_score", "%g is not positive", base_score);
		c->hdr.task = TASK_REGRESSION;
		c->hdr.link = LINK_EXP;
		base_margin = (float) logf((float) base_score);
	}
	else if (strcmp(obj, "multi:softprob") == 0 || strcmp(obj, "multi:softmax") == 0)
	{
		if (n_class < 2)
			mj_error("learner.learner_model_param.num_class", "a multi: objective needs num_class >= 2, found %d",
					 n_class);
		c->hdr.task = TASK_MULTICLASS;
		c->hdr.link = LINK_SOFTMAX;
		c->hdr.n_outputs = n_class;
		base_margin = (float) base_score;
	}
	else
		mj_error("learner.objective.name", "the objective \"%s\" is not supported; supported are "
				 "reg:squarederror, reg:logistic, binary:logistic, binary:logitraw, multi:softprob, "
				 "multi:softmax and count:poisson", obj);
	if (c->hdr.task != TASK_MULTICLASS && n_class > 1)
		mj_error("learner.learner_model_param.num_class", "num_class is %d for the objective \"%s\"", n_class, obj);
	/* the multi: objectives repeat the class count in their own parameters */
	if ((v = json_object_get(objective, "softmax_multiclass_param")))
	{
		int32		k;

		mj_object(v, "learner.objective.softmax_multiclass_param");
		k = param_int_opt(v, "num_class", "learner.objective.softmax_multiclass_param", 0, MODEL_MAX_OUTPUTS, n_class);
		if (k != n_class)
			mj_error("learner.objective.softmax_multiclass_param.num_class",
					 "%d classes, but learner.learner_model_param.num_class is %d", k, n_class);
	}

	/*
	 * The signature: our own, from the attributes, when the file has one;
	 * else the feature names from the file, else XGBoost's own f0, f1, ...
	 */
	names = json_object_get(learner, "feature_names");
	types = json_object_get(learner, "feature_types");
	if (names)
		mj_array(names, "learner.feature_names", 0);
	if (names && json_array_size(names) > 0 && (int) json_array_size(names) != n_features)
		mj_error("learner.feature_names", "%zu names for %d features", json_array_size(names), n_features);
	if (types)
		mj_array(types, "learner.feature_types", 0);
	if (types && json_array_size(types) > 0 && (int) json_array_size(types) != n_features)
		mj_error("learner.feature_types", "%zu types for %d features", json_array_size(types), n_features);
	if (types)
		for (size_t i = 0; i < json_array_size(types); i++)
			if (json_is_string(json_array_get(types, i)) &&
				strcmp(json_string_value(json_array_get(types, i)), "c") == 0)
				mj_error(psprintf("learner.feature_types[%zu]", i), "categorical features are not supported");
	if (names && json_array_size(names) == 0)
		names = NULL;
	if ((features = attribute_json(attributes, "mlops_features")))
	{
		import_signature(c, features, names, n_features);
		json_decref(features);
	}
	else
		import_names(c, names, n_features);

	/* classes: XGBoost labels are 0 .. K-1, or those mlops_classes names */
	if (c->hdr.task == TASK_BINARY)
		n_class = 2;
	if ((classes = attribute_json(attributes, "mlops_classes")))
	{
		if (c->hdr.task == TASK_REGRESSION)
			mj_error(ATTR_PATH ".mlops_classes", "the objective \"%s\" is a regression: it has no classes", obj);
		if ((int) json_array_size(classes) != n_class)
			mj_error(ATTR_PATH ".mlops_classes", "%zu classes, but the model has %d (%s)",
					 json_array_size(classes), n_class,
					 c->hdr.task == TASK_BINARY ? "binary: exactly 2" : "learner.learner_model_param.num_class");
		mj_compile_classes(c, classes, ATTR_PATH ".mlops_classes");
		json_decref(classes);
	}
	else if (c->hdr.task != TASK_REGRESSION)
	{
		for (int k = 0; k < n_class; k++)
			mj_sec_name(c, SEC_CLASS_NAME, psprintf("%d", k));
		c->hdr.n_classes = n_class;
	}

	/*
	 * The trees, and the counts that describe them: each must agree with
	 * what it counts, or the file is refused naming both numbers.
	 */
	model = mj_object(mj_member(booster, "model", "learner.gradient_booster", true), MODEL_PATH);
	trees = mj_array(mj_member(model, "trees", MODEL_PATH, true), TREES_PATH, 1);
	n_trees = (int) json_array_size(trees);
	if (n_trees > MODEL_MAX_TREES)
		mj_error(TREES_PATH, "at most %d trees are supported", MODEL_MAX_TREES);
	if ((v = json_object_get(model, "gbtree_model_param")))
	{
		int32		declared;

		mj_object(v, MODEL_PATH ".gbtree_model_param");
		declared = param_int(v, "num_trees", MODEL_PATH ".gbtree_model_param", 0, INT32_MAX);
		if (declared != n_trees)
			mj_error(MODEL_PATH ".gbtree_model_param.num_trees", "%d trees declared, but " TREES_PATH " has %d",
					 declared, n_trees);
		n_parallel = param_int_opt(v, "num_parallel_tree", MODEL_PATH ".gbtree_model_param", 1,
								   MODEL_MAX_TREES, 1);
		if (param_int_opt(v, "size_leaf_vector", MODEL_PATH ".gbtree_model_param", 0, INT32_MAX, 0) > 1)
			mj_error(MODEL_PATH ".gbtree_model_param.size_leaf_vector",
					 "vector leaves (multi-target trees) are not supported");
	}

	/*
	 * Each boosting round adds num_parallel_tree trees to every output in
	 * turn (XGBoost's tree_info reads 0 0 1 1 2 2 0 0 ... for 2 parallel
	 * trees and 3 classes), so the trees are whole rounds, and tree t adds
	 * to output (t / num_parallel_tree) % outputs.
	 */
	if (n_trees % ((int64) n_parallel * c->hdr.n_outputs) != 0)
		mj_error(TREES_PATH, "%d trees are not whole boosting rounds of %d (num_parallel_tree %d times %d output%s)",
				 n_trees, n_parallel * c->hdr.n_outputs, n_parallel, c->hdr.n_outputs,
				 c->hdr.n_outputs == 1 ? "" : "s, learner_model_param.num_class");
	tree_info = mj_array(mj_member(model, "tree_info", MODEL_PATH, true), MODEL_PATH ".tree_info", 0);
	if ((int) json_array_size(tree_info) != n_trees)
		mj_error(MODEL_PATH ".tree_info", "%zu entries for %d trees", json_array_size(tree_info), n_trees);

	/* XGBoost 2: where each round's trees start, and the end of the last */
	if ((v = json_object_get(model, "iteration_indptr")))
	{
		int			len = (int) json_array_size(mj_array(v, MODEL_PATH ".iteration_indptr", 1));
		int32		prev = 0;

		for (int i = 0; i < len; i++)
		{
			char	   *ipath = psprintf(MODEL_PATH ".iteration_indptr[%d]", i);
			int32		at = mj_int(json_array_get(v, i), ipath, 0, INT32_MAX);

			if (i == 0 && at != 0)
				mj_error(ipath, "the first round starts at tree %d, not 0", at);
			if (at < prev)
				mj_error(ipath, "round %d starts at tree %d, before round %d (at %d)", i, at, i - 1, prev);
			if (i == len - 1 && at != n_trees)
				mj_error(ipath, "the rounds end at tree %d, but " TREES_PATH " has %d trees", at, n_trees);
			prev = at;
		}
	}

	for (int k = 0; k < c->hdr.n_outputs; k++)
		mj_sec_double(c, SEC_BASE_SCORE, base_margin);
	for (int t = 0; t < n_trees; t++)
	{
		char	   *ipath = psprintf(MODEL_PATH ".tree_info[%d]", t);
		int32		output = mj_int(json_array_get(tree_info, t), ipath, 0, c->hdr.n_outputs - 1);
		int32		expected = (t / n_parallel) % c->hdr.n_outputs;
		int32		n = (int32) json_array_size(json_object_get(json_array_get(trees, t), "left_children"));

		if (output != expected)
			mj_error(ipath, "tree %d adds to output %d, but with num_parallel_tree %d and %d outputs it is "
					 "a tree of output %d", t, output, n_parallel, c->hdr.n_outputs, expected);
		import_tree(c, json_array_get(trees, t), t, n_features, output, node_base, &leaf_values);
		node_base += n;
	}
	c->hdr.n_trees = n_trees;
	c->hdr.n_nodes = node_base;
	c->hdr.tree_flags = TREE_SPLIT_LT | TREE_FLOAT32 | TREE_SUM_FLOAT32;
}
