/*
 * model.h
 *	  The compiled form of a model, shared by the compiler (model_compile.c
 *	  and its front ends model_json.c and model_xgboost.c), the loader and
 *	  evaluator (model.c), the cache (model_cache.c) and the SQL scoring
 *	  functions (scoring.c).
 *
 *	  A model exists in three shapes:
 *	  - the artifact: our JSON format (README, "Model format"), stored in the
 *		registry as the user wrote it, with its SHA-256;
 *	  - the compiled form: a flat, pointer-free byte string (a bytea in the
 *		registry), built once at registration.  It is what mlops.score() takes
 *		as an argument and what travels to Citus workers and foreign servers;
 *	  - the loaded Model: the compiled form copied to aligned memory, checked
 *		section by section, with pointers set into it.  Only this shape is
 *		used on the hot path, and it never touches JSON.
 *
 *	  Nothing in this header includes jansson.h or utils/builtins.h, whose
 *	  json_* names collide.
 */
#ifndef MLOPS_MODEL_H
#define MLOPS_MODEL_H

#include "postgres.h"

#define MODEL_MAGIC			0x504F4C4D	/* "MLOP" read as a little-endian int */
#define MODEL_LAYOUT		1			/* bump when the compiled layout changes */
#define MODEL_ENDIAN_MARK	0x0102

/* hard limits, checked at compile and load time */
#define MODEL_MAX_FEATURES		100000
#define MODEL_MAX_CATEGORIES	100000
#define MODEL_MAX_OUTPUTS		10000
#define MODEL_MAX_LAYERS		64
#define MODEL_MAX_TREES			100000
#define MODEL_MAX_TREE_DEPTH	1024

typedef enum ModelTask
{
	TASK_REGRESSION = 1,
	TASK_BINARY = 2,
	TASK_MULTICLASS = 3
} ModelTask;

typedef enum ModelFamily
{
	FAMILY_LINEAR = 1,
	FAMILY_MLP = 2,
	FAMILY_TREES = 3
} ModelFamily;

/* link (output) functions, also used as MLP activations */
typedef enum ModelLink
{
	LINK_IDENTITY = 1,
	LINK_LOGISTIC = 2,
	LINK_SOFTMAX = 3,
	LINK_EXP = 4,
	LINK_RELU = 5,
	LINK_TANH = 6
} ModelLink;

typedef enum FeatureKind
{
	FEATURE_NUMERIC = 1,
	FEATURE_CATEGORICAL = 2
} FeatureKind;

/*
 * Sections of the compiled form.  Each is stored as a SectionHeader followed
 * by count elements of elem_size bytes, padded to 8 bytes.
 */
typedef enum SectionTag
{
	SEC_STRINGS = 1,			/* char: all names, NUL-terminated, back to back */
	SEC_FEATURE_NAME,			/* uint32 offset into SEC_STRINGS, per input */
	SEC_FEATURE_KIND,			/* int32 FeatureKind, per input */
	SEC_FEATURE_NCAT,			/* int32 number of categories, per input (0 if numeric) */
	SEC_FEATURE_CAT_FIRST,		/* int32 index of its first category in SEC_CATEGORY_NAME */
	SEC_FEATURE_UNKNOWN_IGNORE, /* int32 bool: unknown category encodes as all zeros */
	SEC_CATEGORY_NAME,			/* uint32 offset into SEC_STRINGS, all categories */
	SEC_IMPUTE_SET,				/* int32 bool, per input */
	SEC_IMPUTE_VALUE,			/* double, per input (a category index if categorical) */
	SEC_SCALE_CENTER,			/* double, per encoded column (optional) */
	SEC_SCALE_FACTOR,			/* double, per encoded column (optional) */
	SEC_CLASS_NAME,				/* uint32 offset into SEC_STRINGS, per class */
	SEC_LINEAR_COEF,			/* double, n_outputs x n_encoded, row-major */
	SEC_LINEAR_INTERCEPT,		/* double, n_outputs */
	SEC_MLP_SIZES,				/* int32, n_layers + 1 widths (first = n_encoded) */
	SEC_MLP_WEIGHTS,			/* double, per layer in_width x out_width row-major */
	SEC_MLP_BIASES,				/* double, per layer out_width */
	SEC_TREE_FIRST_NODE,		/* int32, per tree: index of its root in the node arrays */
	SEC_TREE_NODE_COUNT,		/* int32, per tree */
	SEC_TREE_OUTPUT,			/* int32, per tree: output it adds to, or -1 for all */
	SEC_NODE_FEATURE,			/* int32, per node: encoded column, -1 for a leaf */
	SEC_NODE_THRESHOLD,			/* double, per node */
	SEC_NODE_LEFT,				/* int32, per node: index within its tree */
	SEC_NODE_RIGHT,				/* int32, per node */
	SEC_NODE_DEFAULT_LEFT,		/* uint8, per node: missing values go left */
	SEC_NODE_VALUE_FIRST,		/* int32, per node: index into SEC_LEAF_VALUE */
	SEC_LEAF_VALUE,				/* double */
	SEC_BASE_SCORE,				/* double, n_outputs */
	SEC__COUNT
} SectionTag;

typedef struct SectionHeader
{
	uint32		tag;
	uint32		elem_size;
	uint32		count;
	uint32		reserved;
} SectionHeader;

typedef struct ModelHeader
{
	uint32		magic;
	uint16		layout;
	uint16		endian_mark;
	uint32		total_size;		/* bytes, including this header */
	uint32		n_sections;
	int64		version_id;		/* registry id; 0 when compiled outside the registry */
	uint8		checksum[32];	/* SHA-256 of the JSON artifact */
	int32		task;
	int32		family;
	int32		link;			/* output link */
	int32		hidden_activation;	/* MLP only */
	int32		n_inputs;
	int32		n_encoded;
	int32		n_outputs;
	int32		n_classes;
	int32		n_layers;		/* MLP */
	int32		n_trees;
	int32		n_nodes;
	int32		tree_flags;		/* TREE_SPLIT_LT | TREE_FLOAT32 | TREE_AVERAGE | ... */
	int32		source;			/* SOURCE_MLOPS_JSON or SOURCE_XGBOOST_JSON */
} ModelHeader;

#define SOURCE_MLOPS_JSON	1
#define SOURCE_XGBOOST_JSON 2

#define TREE_SPLIT_LT	0x01	/* go left when x < t (XGBoost); else x <= t (scikit-learn) */
#define TREE_FLOAT32	0x02	/* compare the float32 rounding of x, as both libraries do */
#define TREE_AVERAGE	0x04	/* divide the sum of tree outputs by the number of trees */
#define TREE_SUM_FLOAT32 0x08	/* start from base_score and add each tree's leaf in float32,
								 * in tree order, as XGBoost does; outputs are float32 too */

/*
 * The evaluation layout of a tree node, built at load time: a tree walk is a
 * chain of dependent loads, so everything one step needs sits in 16 bytes,
 * and the two children of a node are neighbours, so that the step is
 * "child = left + (go right)", with no branch to mispredict.
 */
typedef struct FastNode
{
	double		threshold;
	int32		feature;		/* -1 for a leaf */
	int32		left;			/* internal: index of the left child (right is left + 1);
								 * leaf: index of its value in leaf_value */
} FastNode;

/* A loaded model: the compiled bytes, aligned, with typed pointers into them. */
typedef struct Model
{
	const ModelHeader *hdr;
	Size		size;			/* bytes of the aligned copy (for cache accounting) */

	const char *strings;
	int32		strings_len;
	const uint32 *feature_name;
	const int32 *feature_kind;
	const int32 *feature_ncat;
	const int32 *feature_cat_first;
	const int32 *feature_unknown_ignore;
	const uint32 *category_name;
	int32		n_categories_total;
	const int32 *impute_set;
	const double *impute_value;
	const double *scale_center; /* NULL when there is no scaler */
	const double *scale_factor;
	const uint32 *class_name;

	const double *coef;
	const double *intercept;

	const int32 *mlp_sizes;
	const double *mlp_weights;
	const double *mlp_biases;
	int32		mlp_max_width;

	const int32 *tree_first_node;
	const int32 *tree_node_count;
	const int32 *tree_output;
	const int32 *node_feature;
	const double *node_threshold;
	const int32 *node_left;
	const int32 *node_right;
	const uint8 *node_default_left;
	const int32 *node_value_first;
	const double *leaf_value;
	int32		n_leaf_values;
	const double *base_score;

	/* derived at load time */
	FastNode   *fast_nodes;		/* trees in evaluation layout, roots first */
	int32	   *fast_root;		/* per tree: index of its root in fast_nodes */
	bool		any_categorical;
	bool		sparse_onehot;	/* every one-hot column encodes 0 as 0 (no scaler, or centre 0) */
	int32	   *feature_len;	/* per input: strlen of its name */
	int32	   *feature_order;	/* the inputs by name, in jsonb key order (length, then bytes) */
	int32	   *category_len;	/* per category: strlen of its name */
	int32	   *category_order; /* per feature's categories: their indices by name */
	int32	   *encoded_first;	/* per input: its first encoded column */
	int32		scratch_len;	/* doubles of scratch that model_eval needs */
} Model;

static inline const char *
model_string(const Model *m, uint32 offset)
{
	return m->strings + offset;
}

/* model_compile.c */
extern bytea *model_compile_artifact(const char *json, size_t len, int64 version_id,
									 const uint8 *checksum);

/* model.c */
extern Model *model_load(const bytea *compiled, MemoryContext cxt);
extern const char *model_task_name(int32 task);
extern const char *model_family_name(int32 family);
extern void model_eval(const Model *m, const double *encoded, double *out, double *scratch);
extern void model_eval_sparse(const Model *m, const double *x, const int32 *active, int n_active,
							  double *out, double *scratch);
extern void model_eval_batch(const Model *m, const double *x, int n_rows, double *out,
							 double *scratch);
extern Size model_batch_scratch_len(const Model *m, int n_rows);
extern void model_round_outputs(const Model *m, double *out, int n);
extern int	model_find_feature(const Model *m, const char *name, int len);
extern int	model_find_category(const Model *m, int input, const char *value, int len);
extern char *model_signature_text(const Model *m);

#endif							/* MLOPS_MODEL_H */
