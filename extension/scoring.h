/*
 * scoring.h
 *	  Row scoring shared by the SQL scoring functions (scoring.c) and chunked
 *	  batch scoring (batch.c): resolving a model reference, reading one row's
 *	  features, encoding them, and turning a model's outputs into SQL values.
 *
 *	  Like model.h, this header stays clear of jansson.h.
 */
#ifndef MLOPS_SCORE_H
#define MLOPS_SCORE_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"

#include "model.h"

typedef enum ScoreOutput
{
	OUT_VALUE,					/* predict: float8 */
	OUT_PROBA,					/* predict_proba: float8[] */
	OUT_CLASS					/* predict_class: text */
} ScoreOutput;

/*
 * A model reference resolved in this statement.  A query that scores each
 * row with the model of its A/B variant alternates between a few references
 * row by row; each is resolved through SQL once, not on every change.
 */
#define SCORE_RECENT_REFS 64

typedef struct ResolvedRef
{
	char	   *ref;
	int			ref_len;
	int64		version_id;
	uint8		checksum[32];
	char	   *label;
} ResolvedRef;

/*
 * A compiled model that score*() was given at this call site, and what
 * identifies the argument that held it without reading it again: the toast
 * pointer of a value stored out of line, or the bytes of a value compressed
 * in line.
 */
#define SCORE_RECENT_MODELS 4

typedef struct SeenModel
{
	const Model *model;
	char	   *label;
	bool		have_toast_ptr;
	struct varatt_external toast_ptr;
	char	   *raw;			/* a compressed in-line argument, as passed, or NULL */
	Size		raw_len;
} SeenModel;

typedef struct ScoreState
{
	MemoryContext cxt;			/* where the buffers below live (fn_mcxt) */

	/* the reference last seen (one of recent[]), and those resolved before it */
	char	   *ref;
	int			ref_len;
	ResolvedRef recent[SCORE_RECENT_REFS];
	int			n_recent;
	int			next_recent;	/* the slot to reuse when all are taken */
	int64		version_id;
	uint8		checksum[32];

	/* score*(): the compiled models seen, valid while seen_epoch is current */
	bool		arg_checked;	/* model_arg_const worked out */
	bool		model_arg_const;	/* the compiled model argument is a Const */
	SeenModel	seen[SCORE_RECENT_MODELS];
	int			n_seen;
	int			next_seen;		/* the slot to reuse when all are taken */
	int			cur_seen;		/* the one in use, or -1 */
	uint64		seen_epoch;

	char	   *label;			/* for errors: model "churn@champion" (version 3) */
	const Model *model;
	uint64		epoch;			/* model_cache_epoch when model was looked up */

	/*
	 * exclude => text[] of the jsonb functions: keys to leave out of a row.
	 * excl_raw is the last argument as passed, to see that it is unchanged;
	 * excl_features the inputs it names, for excl_model.
	 */
	bool		excl_active;
	char	   *excl_raw;
	Size		excl_raw_len;
	int			n_excl;
	char	  **excl_name;
	int		   *excl_len;
	const Model *excl_model;
	uint64		excl_epoch;
	int32	   *excl_features;
	int			n_excl_features;

	uint64		excl_version;	/* moves whenever the exclusions change */

	/*
	 * A jsonb row: each input's key (-1 absent), each key's input (-1 none),
	 * and the children's offsets.
	 */
	int32	   *key_of;
	int32	   *feat_of;
	uint32	   *offsets;
	int			buf_offsets;

	/*
	 * The keys of the last jsonb row (its key JEntries, then the key bytes),
	 * and what key_of and the first unknown key were for them, for
	 * layout_model with the exclusions of layout_excl_version.
	 */
	char	   *layout;
	Size		layout_len;
	Size		layout_alloc;
	int			layout_n;
	int			layout_unknown;
	const Model *layout_model;
	uint64		layout_epoch;
	uint64		layout_excl_version;

	/* feature_problem(): record what is wrong with a row instead of raising it */
	bool		soft;
	const char *problem;

	/* work buffers, sized for the model */
	const double *x;			/* this row's inputs: st->in, or the array itself */
	int			buf_inputs;
	int			buf_encoded;
	int			buf_outputs;
	int			buf_scratch;
	double	   *in;
	double	   *enc;

	/*
	 * For models whose one-hot blocks stay sparse (Model.sparse_onehot),
	 * enc keeps its blocks between rows: each row moves the 1 of a block
	 * instead of writing the block again, and lists in active the columns
	 * that may be nonzero, so that a 40,000-category feature costs a few
	 * writes, not 40,000.
	 */
	const Model *enc_model;		/* the model enc's blocks were written for, or NULL ... */
	uint64		enc_epoch;		/* ... in this model_cache_epoch (an address can be reused) */
	int32	   *hot;			/* per input: where its block's 1 is; -1 none; -2 block not written */
	int32	   *active;			/* the columns of this row that may be nonzero, ascending */
	int			n_active;		/* their number; -1 when the row was encoded densely */
	int			buf_active;
	double	   *out;
	double	   *scratch;
} ScoreState;

extern void score_resolve_reference(ScoreState *st, text *ref, MemoryContext cxt);
extern bool score_read_array(ScoreState *st, ArrayType *arr);
extern bool score_read_jsonb(ScoreState *st, Jsonb *jb);
extern bool score_encode(ScoreState *st, bool from_jsonb, double *enc);
extern ScoreState *score_state_create(MemoryContext cxt);
extern void score_use_model(ScoreState *st, const Model *m, const char *label);
extern Datum score_reference(ScoreState *st, text *ref, Datum features, bool jsonb_features,
							 ScoreOutput kind, MemoryContext cxt);
extern void score_outputs(ScoreState *st, double *out, const ScoreOutput *kinds, int n_kinds,
						  Datum *values);

#endif							/* MLOPS_SCORE_H */
