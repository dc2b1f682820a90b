/*
 * model_json.c
 *	  The front end of the model compiler for our own JSON format
 *	  (mlops.model/v1): from the parsed document into the compiler's sections
 *	  (model_compile.c drives it).
 *
 *	  This file checks the shape of the document: required and unknown fields,
 *	  types, array lengths, names, and that the entries a tree does not use (a
 *	  leaf's feature and threshold, an internal node's value) are still of
 *	  their kind, so that mixed-up arrays are refused rather than half-read.
 *	  What the numbers mean (child indices in range, no cycles in a tree,
 *	  features in range, classes consistent with the task) is checked once,
 *	  by model_load(), on the compiled form: that form can also arrive from
 *	  outside as an argument of mlops.score(), so its checks must stand on
 *	  their own.  The driver runs model_load() on the result before
 *	  returning it, so every registered model passes both.
 *
 *	  Errors name the JSON path of what is wrong ("model.trees[3].left").
 *	  The README's "Model format" section is written against this file and
 *	  model.c, and sql/model_format.sql pins each of its rules.
 */
#include <math.h>
#include <jansson.h>

#include "postgres.h"

#include "lib/stringinfo.h"

#include "model.h"
#include "model_compile.h"

/*
 * Whether v has the shape of a leaf's value: a number for a tree with one
 * value per leaf (width 1), else an array of width numbers.
 */
static bool
leaf_shaped(json_t *v, int width)
{
	if (width == 1)
		return json_is_number(v);
	if (!json_is_array(v) || (int) json_array_size(v) != width)
		return false;
	for (int k = 0; k < width; k++)
		if (!json_is_number(json_array_get(v, k)))
			return false;
	return true;
}

/* ---- the document ---- */

static const char *const link_names[] = {"identity", "logistic", "softmax", "exp", NULL};
static const int32 link_codes[] = {LINK_IDENTITY, LINK_LOGISTIC, LINK_SOFTMAX, LINK_EXP};

/* Rows of a matrix: an array of "rows" arrays of "cols" numbers. */
static void
matrix(Compiler *c, SectionTag tag, json_t *v, const char *path, int rows, int cols)
{
	mj_array(v, path, 0);
	if ((int) json_array_size(v) != rows)
		mj_error(path, "expected %d rows, found %zu", rows, json_array_size(v));
	for (int r = 0; r < rows; r++)
		mj_number_array(c, tag, json_array_get(v, r), psprintf("%s[%d]", path, r), cols);
}

static void
compile_linear(Compiler *c, json_t *m)
{
	static const char *const fields[] = {"type", "coef", "intercept", "link", NULL};
	json_t	   *coef = mj_array(mj_member(m, "coef", "model", true), "model.coef", 1);
	json_t	   *intercept = mj_member(m, "intercept", "model", false);
	int			n_outputs;

	mj_only_fields(m, "model", fields);
	c->hdr.link = mj_choice(mj_member(m, "link", "model", true), "model.link", link_names, link_codes);

	/* one output may be written as a flat array */
	if (json_is_number(json_array_get(coef, 0)))
	{
		n_outputs = 1;
		mj_number_array(c, SEC_LINEAR_COEF, coef, "model.coef", c->hdr.n_encoded);
	}
	else
	{
		n_outputs = (int) json_array_size(coef);
		if (n_outputs > MODEL_MAX_OUTPUTS)
			mj_error("model.coef", "at most %d outputs are supported", MODEL_MAX_OUTPUTS);
		matrix(c, SEC_LINEAR_COEF, coef, "model.coef", n_outputs, c->hdr.n_encoded);
	}
	c->hdr.n_outputs = n_outputs;

	if (intercept == NULL)
		for (int i = 0; i < n_outputs; i++)
			mj_sec_double(c, SEC_LINEAR_INTERCEPT, 0.0);
	else if (json_is_number(intercept) && n_outputs == 1)
		mj_sec_double(c, SEC_LINEAR_INTERCEPT, mj_number(intercept, "model.intercept"));
	else
		mj_number_array(c, SEC_LINEAR_INTERCEPT, intercept, "model.intercept", n_outputs);
}

static void
compile_mlp(Compiler *c, json_t *m)
{
	static const char *const fields[] = {"type", "layers", "hidden_activation", "output_activation", NULL};
	static const char *const layer_fields[] = {"weights", "bias", NULL};
	static const char *const act_names[] = {"identity", "relu", "tanh", "logistic", NULL};
	static const int32 act_codes[] = {LINK_IDENTITY, LINK_RELU, LINK_TANH, LINK_LOGISTIC};
	static const char *const out_names[] = {"identity", "logistic", "softmax", NULL};
	static const int32 out_codes[] = {LINK_IDENTITY, LINK_LOGISTIC, LINK_SOFTMAX};
	json_t	   *layers = mj_array(mj_member(m, "layers", "model", true), "model.layers", 1);
	int			n_layers = (int) json_array_size(layers);
	int			width = c->hdr.n_encoded;

	mj_only_fields(m, "model", fields);
	if (n_layers > MODEL_MAX_LAYERS)
		mj_error("model.layers", "at most %d layers are supported", MODEL_MAX_LAYERS);
	c->hdr.hidden_activation = mj_member(m, "hidden_activation", "model", false)
		? mj_choice(mj_member(m, "hidden_activation", "model", false), "model.hidden_activation", act_names, act_codes)
		: LINK_RELU;
	c->hdr.link = mj_choice(mj_member(m, "output_activation", "model", true), "model.output_activation",
						 out_names, out_codes);
	c->hdr.n_layers = n_layers;
	mj_sec_int32(c, SEC_MLP_SIZES, width);

	for (int l = 0; l < n_layers; l++)
	{
		char	   *path = psprintf("model.layers[%d]", l);
		json_t	   *layer = mj_object(json_array_get(layers, l), path);
		char	   *wpath = psprintf("%s.weights", path);
		json_t	   *weights = mj_array(mj_member(layer, "weights", path, true), wpath, 1);
		json_t	   *first_row = json_array_get(weights, 0);
		int			out;

		mj_only_fields(layer, path, layer_fields);
		if (!json_is_array(first_row) || json_array_size(first_row) == 0)
			mj_error(psprintf("%s[0]", wpath), "expected a non-empty array (a row of the %d x n weight matrix)", width);
		out = (int) json_array_size(first_row);
		if (out > MODEL_MAX_FEATURES)
			mj_error(wpath, "layers have at most %d units", MODEL_MAX_FEATURES);
		matrix(c, SEC_MLP_WEIGHTS, weights, wpath, width, out);
		mj_number_array(c, SEC_MLP_BIASES, mj_member(layer, "bias", path, true), psprintf("%s.bias", path), out);
		mj_sec_int32(c, SEC_MLP_SIZES, out);
		width = out;
	}
	c->hdr.n_outputs = width;
}

static void
compile_trees(Compiler *c, json_t *m)
{
	static const char *const fields[] = {"type", "trees", "base_score", "aggregation", "link", "split",
	"input_precision", "n_outputs", NULL};
	static const char *const tree_fields[] = {"feature", "threshold", "left", "right", "default_left",
	"value", "output", NULL};
	static const char *const agg_names[] = {"sum", "average", NULL};
	static const int32 agg_codes[] = {0, TREE_AVERAGE};
	static const char *const split_names[] = {"<=", "<", NULL};
	static const int32 split_codes[] = {0, TREE_SPLIT_LT};
	static const char *const prec_names[] = {"float64", "float32", NULL};
	static const int32 prec_codes[] = {0, TREE_FLOAT32};
	json_t	   *trees = mj_array(mj_member(m, "trees", "model", true), "model.trees", 1);
	json_t	   *base = mj_member(m, "base_score", "model", false);
	json_t	   *v;
	int			n_trees = (int) json_array_size(trees);
	int			n_outputs;
	int			node_base = 0;
	int			leaf_values = 0;

	mj_only_fields(m, "model", fields);
	if (n_trees > MODEL_MAX_TREES)
		mj_error("model.trees", "at most %d trees are supported", MODEL_MAX_TREES);

	c->hdr.link = mj_choice(mj_member(m, "link", "model", true), "model.link", link_names, link_codes);
	c->hdr.tree_flags = 0;
	if ((v = mj_member(m, "aggregation", "model", false)))
		c->hdr.tree_flags |= mj_choice(v, "model.aggregation", agg_names, agg_codes);
	if ((v = mj_member(m, "split", "model", false)))
		c->hdr.tree_flags |= mj_choice(v, "model.split", split_names, split_codes);
	if ((v = mj_member(m, "input_precision", "model", false)))
		c->hdr.tree_flags |= mj_choice(v, "model.input_precision", prec_names, prec_codes);

	if ((v = mj_member(m, "n_outputs", "model", false)))
		n_outputs = mj_int(v, "model.n_outputs", 1, MODEL_MAX_OUTPUTS);
	else
		n_outputs = c->hdr.task == TASK_MULTICLASS ? c->hdr.n_classes : 1;
	c->hdr.n_outputs = n_outputs;

	if (base == NULL)
		for (int i = 0; i < n_outputs; i++)
			mj_sec_double(c, SEC_BASE_SCORE, 0.0);
	else if (json_is_number(base) && n_outputs == 1)
		mj_sec_double(c, SEC_BASE_SCORE, mj_number(base, "model.base_score"));
	else
		mj_number_array(c, SEC_BASE_SCORE, base, "model.base_score", n_outputs);

	for (int t = 0; t < n_trees; t++)
	{
		char	   *path = psprintf("model.trees[%d]", t);
		json_t	   *tree = mj_object(json_array_get(trees, t), path);
		char	   *lpath = psprintf("%s.left", path);
		json_t	   *left = mj_array(mj_member(tree, "left", path, true), lpath, 1);
		int			n_nodes = (int) json_array_size(left);
		json_t	   *feature = mj_member(tree, "feature", path, true);
		json_t	   *threshold = mj_member(tree, "threshold", path, true);
		json_t	   *right = mj_member(tree, "right", path, true);
		json_t	   *default_left = mj_member(tree, "default_left", path, false);
		json_t	   *value = mj_member(tree, "value", path, true);
		json_t	   *output = mj_member(tree, "output", path, false);
		const char *names[] = {"feature", "threshold", "right", "default_left", "value"};
		json_t	   *arrays[] = {feature, threshold, right, default_left, value};
		json_t	   *first_leaf = NULL;
		int			width;

		mj_only_fields(tree, path, tree_fields);
		for (int a = 0; a < 5; a++)
		{
			char	   *apath = psprintf("%s.%s", path, names[a]);

			if (arrays[a] == NULL)
				continue;
			mj_array(arrays[a], apath, 0);
			if ((int) json_array_size(arrays[a]) != n_nodes)
				mj_error(apath, "expected %d elements, one per node (as in \"left\"), found %zu",
							n_nodes, json_array_size(arrays[a]));
		}
		if (node_base > INT32_MAX - n_nodes)
			mj_error(path, "too many nodes in all");

		/*
		 * A scalar tree adds to one output, a vector tree to all of them.
		 * Its first leaf says which: the value of an internal node (often
		 * node 0) is not used, so it may be null and decides nothing.
		 */
		for (int i = 0; i < n_nodes && first_leaf == NULL; i++)
			if (json_is_integer(json_array_get(left, i)) && json_integer_value(json_array_get(left, i)) == -1)
				first_leaf = json_array_get(value, i);
		width = json_is_array(first_leaf) ? n_outputs : 1;
		if (json_is_array(first_leaf) && n_outputs == 1)
			mj_error(path, "its leaves hold arrays of values, but the model has one output (see \"n_outputs\")");
		if (width == 1 && n_outputs > 1 && output == NULL)
			mj_error(path, "a tree with one value per leaf needs \"output\" when the model has %d outputs",
						n_outputs);

		/*
		 * An average divides each output by the number of trees.  Over
		 * several outputs, trees that add to one output each would be
		 * divided by trees that never added to it (two outputs of one tree
		 * each would be halved): refused rather than guessed.
		 */
		if ((c->hdr.tree_flags & TREE_AVERAGE) && n_outputs > 1 && width == 1)
			mj_error(path, "with \"aggregation\": \"average\" and %d outputs, every leaf holds one value per "
					 "output (an array); a tree of one value per leaf adds to one output only", n_outputs);
		mj_sec_int32(c, SEC_TREE_OUTPUT, width == 1
				  ? (output ? mj_int(output, psprintf("%s.output", path), 0, n_outputs - 1) : 0)
				  : -1);
		if (width > 1 && output != NULL)
			mj_error(psprintf("%s.output", path), "only trees with one value per leaf have an output");
		mj_sec_int32(c, SEC_TREE_FIRST_NODE, node_base);
		mj_sec_int32(c, SEC_TREE_NODE_COUNT, n_nodes);

		for (int i = 0; i < n_nodes; i++)
		{
			int32		l = mj_int(json_array_get(left, i), psprintf("%s[%d]", lpath, i), -1, INT32_MAX);
			int32		r = mj_int(json_array_get(right, i), psprintf("%s.right[%d]", path, i), -1, INT32_MAX);
			uint8		dl = 1;

			mj_sec_int32(c, SEC_NODE_LEFT, l);
			mj_sec_int32(c, SEC_NODE_RIGHT, r);
			if (default_left)
			{
				json_t	   *d = json_array_get(default_left, i);

				if (json_is_boolean(d))
					dl = json_is_true(d);
				else
					dl = (uint8) mj_int(d, psprintf("%s.default_left[%d]", path, i), 0, 1);
			}
			mj_sec_append(c, SEC_NODE_DEFAULT_LEFT, 1, &dl, 1);

			if (l == -1)
			{
				/*
				 * A leaf: its feature and threshold are not used, but are
				 * still of their kind (scikit-learn writes -2 for both), so
				 * that arrays shifted or mixed up are not taken for a tree.
				 */
				json_t	   *leaf = json_array_get(value, i);
				char	   *vpath = psprintf("%s.value[%d]", path, i);
				json_t	   *lf = json_array_get(feature, i);
				json_t	   *lt = json_array_get(threshold, i);

				if (!json_is_null(lf) && !json_is_integer(lf))
					mj_error(psprintf("%s.feature[%d]", path, i),
							 "a leaf's feature is not used: it is null or an integer");
				if (!json_is_null(lt) && !json_is_number(lt))
					mj_error(psprintf("%s.threshold[%d]", path, i),
							 "a leaf's threshold is not used: it is null or a number");
				mj_sec_int32(c, SEC_NODE_FEATURE, -1);
				mj_sec_double(c, SEC_NODE_THRESHOLD, 0.0);
				mj_sec_int32(c, SEC_NODE_VALUE_FIRST, leaf_values);
				if (width == 1)
					mj_sec_double(c, SEC_LEAF_VALUE, mj_number(leaf, vpath));
				else
					mj_number_array(c, SEC_LEAF_VALUE, leaf, vpath, width);
				leaf_values += width;
			}
			else
			{
				json_t	   *unused = json_array_get(value, i);

				/* an internal node's value is not used either (scikit-learn writes the node's mean) */
				if (!json_is_null(unused) && !leaf_shaped(unused, width))
					mj_error(psprintf("%s.value[%d]", path, i),
							 "an internal node's value is not used: it is null or shaped as the leaves' (%s)",
							 width == 1 ? "a number" : psprintf("an array of %d numbers", width));
				mj_sec_int32(c, SEC_NODE_FEATURE,
						  mj_int(json_array_get(feature, i), psprintf("%s.feature[%d]", path, i), 0, INT32_MAX));
				mj_sec_double(c, SEC_NODE_THRESHOLD,
						   mj_number(json_array_get(threshold, i), psprintf("%s.threshold[%d]", path, i)));
				mj_sec_int32(c, SEC_NODE_VALUE_FIRST, -1);
			}
		}
		node_base += n_nodes;
	}
	c->hdr.n_trees = n_trees;
	c->hdr.n_nodes = node_base;
}

/* Our format's document, already parsed, into the compiler's sections. */
void
mj_compile_mlops(Compiler *c, json_t *doc)
{
	static const char *const fields[] = {"format", "task", "features", "classes", "scaler", "model",
	"metadata", NULL};
	static const char *const task_names[] = {"regression", "binary", "multiclass", NULL};
	static const int32 task_codes[] = {TASK_REGRESSION, TASK_BINARY, TASK_MULTICLASS};
	static const char *const family_names[] = {"linear", "mlp", "trees", NULL};
	static const int32 family_codes[] = {FAMILY_LINEAR, FAMILY_MLP, FAMILY_TREES};
	json_t	   *v;
	json_t	   *model;

	mj_only_fields(doc, "$", fields);

	v = mj_member(doc, "format", "$", true);
	if (!json_is_string(v) || strcmp(json_string_value(v), "mlops.model/v1") != 0)
		mj_error("format", "expected \"mlops.model/v1\"");

	c->hdr.task = mj_choice(mj_member(doc, "task", "$", true), "task", task_names, task_codes);

	mj_compile_features(c, mj_member(doc, "features", "$", true), "features");

	v = mj_member(doc, "classes", "$", false);
	if (c->hdr.task == TASK_REGRESSION)
	{
		if (v)
			mj_error("classes", "a regression model has no classes");
	}
	else
	{
		int			n;

		mj_array(mj_member(doc, "classes", "$", true), "classes", 2);
		n = (int) json_array_size(v);
		if (c->hdr.task == TASK_BINARY && n != 2)
			mj_error("classes", "a binary model has exactly 2 classes, found %d", n);
		mj_compile_classes(c, v, "classes");
	}

	if ((v = mj_member(doc, "scaler", "$", false)))
	{
		static const char *const scaler_fields[] = {"center", "scale", NULL};

		mj_object(v, "scaler");
		mj_only_fields(v, "scaler", scaler_fields);
		mj_number_array(c, SEC_SCALE_CENTER, mj_member(v, "center", "scaler", true), "scaler.center", c->hdr.n_encoded);
		mj_number_array(c, SEC_SCALE_FACTOR, mj_member(v, "scale", "scaler", true), "scaler.scale", c->hdr.n_encoded);
	}

	/* free-form, kept with the artifact and never compiled; but an object, as the README says */
	if ((v = mj_member(doc, "metadata", "$", false)))
		mj_object(v, "metadata");

	model = mj_object(mj_member(doc, "model", "$", true), "model");
	c->hdr.family = mj_choice(mj_member(model, "type", "model", true), "model.type", family_names, family_codes);
	switch (c->hdr.family)
	{
		case FAMILY_LINEAR:
			compile_linear(c, model);
			break;
		case FAMILY_MLP:
			compile_mlp(c, model);
			break;
		case FAMILY_TREES:
			compile_trees(c, model);
			break;
	}
}
