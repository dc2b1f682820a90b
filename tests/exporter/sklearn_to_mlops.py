#!/usr/bin/python3
"""Export fitted scikit-learn models to the mlops JSON model format (mlops.model/v1).

The format is described in the README, section "Model format".  This module
turns a fitted estimator, or a Pipeline of supported preprocessing steps
followed by one, into such a document, with the input signature (feature
names, categories, imputation), the scaler, the classes and the model.

Written against scikit-learn 1.2 (Debian 12's python3-sklearn); it reads
fitted attributes, some of them private, so other versions may need changes.

Usage as a module::

    from sklearn_to_mlops import export, dumps
    doc = export(fitted_pipeline)   # fitted on a DataFrame: its columns are the feature names
    doc = export(fitted_on_array, feature_names=["age", "income", "region"])
    text = dumps(doc)        # register it: SELECT mlops.register_model_version('name', text)

Usage as a program (the model is a pickle: only load pickles you trust)::

    /usr/bin/python3 sklearn_to_mlops.py model.pkl -o model.json
    /usr/bin/python3 sklearn_to_mlops.py model.pkl -o model.json --feature-names age,income,region

Feature names are the model's signature: rows are scored by these names, so
they are never made up.  They come from the model's feature_names_in_ (the
columns of the DataFrame it was fitted on, for an estimator or a pipeline), or
from feature_names / --feature-names (the raw input columns, in training
order).  When both exist they must be equal.  A model fitted on an array has
no names: it is refused unless they are given, or unless positional names are
asked for explicitly (positional_names=True / --positional-names: x0, x1, ...).

XGBoost models (a Booster, an XGBClassifier / XGBRegressor, or one at the end
of a pipeline) are not exported: mlops registers XGBoost's own JSON as it is
(booster.save_model("model.json"); README, "Models trained elsewhere"), with
the booster's feature names.  The exporter refuses them and says so.

Supported estimators (the last step of a pipeline, or alone):

- LinearRegression, Ridge (one target): model "linear", link "identity".
- LogisticRegression: binary with one-vs-rest probabilities (the default for
  two classes): one output, link "logistic"; multinomial (the default for more
  than two classes with lbfgs and the other multinomial solvers): one output
  per class, link "softmax"; multinomial on two classes: two outputs
  (-coef, +coef), link "softmax", as scikit-learn computes it.  One-vs-rest
  on more than two classes (liblinear, newton-cholesky or multi_class="ovr")
  normalizes independent sigmoids, which the format cannot express: refused.
- MLPClassifier (binary with one logistic unit, or multiclass with softmax),
  MLPRegressor (one target): model "mlp", weights = coefs_, biases =
  intercepts_, hidden_activation = activation, output_activation =
  out_activation_.
- DecisionTreeClassifier / DecisionTreeRegressor, RandomForestClassifier /
  RandomForestRegressor: model "trees" with "input_precision": "float32" and
  "split": "<=" (scikit-learn compares float32(x) <= threshold).  Classifier
  leaves hold the class distribution (tree_.value rows divided by their sum,
  as DecisionTreeClassifier.predict_proba does), one output per class, link
  "identity"; forests use "aggregation": "average".
- GradientBoostingClassifier (loss "log_loss"; binary: one output, link
  "logistic"; multiclass: one scalar tree per class per stage with "output":
  k, link "softmax") and GradientBoostingRegressor (any loss, link
  "identity").  Leaf values are multiplied by the learning rate (the same
  double product scikit-learn's predict_stages computes); "base_score" is the
  init estimator's raw prediction (_raw_predict_init), which must be a
  constant (the default DummyClassifier / DummyRegressor, or init="zero").

Supported preprocessing (the steps of a Pipeline before the estimator):

- SimpleImputer (missing_values NaN, no add_indicator) and StandardScaler on
  all-numeric input, imputer before scaler: "impute" per feature and a
  "scaler" (center = mean_, scale = scale_; 0 / 1 when with_mean / with_std is
  off).
- A ColumnTransformer whose transformers are each a SimpleImputer, a
  StandardScaler, a OneHotEncoder or a Pipeline of these (imputer, then scaler
  or encoder), or "passthrough" / "drop" (also as remainder).  Numeric columns
  become numeric features, encoded columns categorical features with the
  encoder's categories_ ("unknown": "ignore" for handle_unknown="ignore",
  else "error"); the imputer's statistic is the feature's "impute".  The
  signature follows the ColumnTransformer's output order (transformer by
  transformer, in the order of transformers_, remainder last), since the
  format one-hot encodes each categorical feature in place.  One-hot columns
  get center 0 / scale 1.  A StandardScaler after the ColumnTransformer (over
  all its output columns) is folded into the same scaler.

What the format cannot represent is refused with NotImplementedError rather
than approximated: OneHotEncoder with drop or infrequent categories, NaN as a
category, an imputed category the encoder never saw (missing -> all zeros),
an imputer after a scaler, two scalers on one column, multi-output models,
non-constant init estimators, column weights, one-vs-rest multiclass logistic
regression, the exponential loss.

Class labels and categories are written as strings, integers (integral floats too: 1.0 as 1)
or booleans (mlops spells them "true" / "false"; label_text() gives the spelling predict_class
returns).

Numbers are written with Python's repr (shortest round-trip), so the document
holds exactly the doubles scikit-learn uses.
"""

import argparse
import json
import math
import pickle
import sys

import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

__all__ = ["export", "dumps", "label_text", "FORMAT"]

FORMAT = "mlops.model/v1"


def _unsupported(msg):
    raise NotImplementedError("cannot export exactly: " + msg)


def _floats(a):
    """A numpy array (any shape) as nested lists of Python floats, checked finite."""
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        _unsupported("a parameter is not a finite number")
    return a.tolist()


def _label(v):
    """A class label or category as the format takes it: a string or an integer."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)              # JSON true/false: mlops spells them "true" / "false"
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            _unsupported("NaN as a category (OneHotEncoder fitted on missing values without an imputer)")
        if float(v).is_integer():
            return int(v)
        _unsupported("non-integral numeric label/category %r" % (v,))
    if isinstance(v, str):
        return v
    _unsupported("label/category of type %s" % type(v).__name__)


def label_text(v):
    """How mlops spells a label or category: strings as they are, integers as digits, true/false."""
    v = _label(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _is_nan_marker(v):
    return isinstance(v, float) and math.isnan(v)


# --------------------------------------------------------------------------
# Preprocessing: a per-column description of the input signature and of the
# encoded columns the estimator sees.
# --------------------------------------------------------------------------

class _Column:
    """One input column on its way to the estimator."""

    def __init__(self, index, name):
        self.index = index          # position in the raw input
        self.name = name
        self.kind = "numeric"
        self.impute = None          # a number, or a category label
        self.categories = None      # categorical: list of labels
        self.unknown = None         # categorical: "error" / "ignore"
        self.center = None          # numeric: per encoded column lists below
        self.scale = None
        self.scaled = False

    def width(self):
        return len(self.categories) if self.kind == "categorical" else 1


def _check_imputer(imp, what):
    mv = imp.missing_values
    if not _is_nan_marker(mv):
        _unsupported("%s: SimpleImputer(missing_values=%r); only NaN is supported" % (what, mv))
    if imp.add_indicator:
        _unsupported("%s: SimpleImputer(add_indicator=True)" % what)


def _apply_step(step, cols, what):
    """Apply one fitted transformer to the columns it receives (in order)."""
    if isinstance(step, SimpleImputer):
        _check_imputer(step, what)
        stats = list(step.statistics_)
        if len(stats) != len(cols):
            _unsupported("%s: the imputer dropped columns (all missing in training)" % what)
        for c, s in zip(cols, stats):
            if c.kind != "numeric":
                _unsupported("%s: an imputer after the one-hot encoder" % what)
            if c.scaled:
                _unsupported("%s: an imputer after a scaler (column %s)" % (what, c.name))
            if c.impute is not None:
                _unsupported("%s: two imputers on column %s" % (what, c.name))
            if isinstance(s, (float, np.floating)) and math.isnan(s):
                _unsupported("%s: the imputer has no value for column %s" % (what, c.name))
            c.impute = s
        return cols
    if isinstance(step, StandardScaler):
        if len(cols) != step.n_features_in_:
            _unsupported("%s: scaler width mismatch" % what)
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None
        for j, c in enumerate(cols):
            if c.kind != "numeric":
                _unsupported("%s: a scaler over a categorical column" % what)
            if c.scaled:
                _unsupported("%s: two scalers on column %s" % (what, c.name))
            if c.impute is not None and not isinstance(c.impute, (int, float, np.integer, np.floating)):
                _unsupported("%s: column %s imputes a non-number" % (what, c.name))
            c.center = [float(mean[j]) if mean is not None else 0.0]
            c.scale = [float(scale[j]) if scale is not None else 1.0]
            c.scaled = True
        return cols
    if isinstance(step, OneHotEncoder):
        if step.drop is not None:
            _unsupported("%s: OneHotEncoder(drop=%r)" % (what, step.drop))
        if getattr(step, "_infrequent_enabled", False) and any(
                x is not None for x in step.infrequent_categories_):
            _unsupported("%s: OneHotEncoder with infrequent categories" % what)
        if len(step.categories_) != len(cols):
            _unsupported("%s: encoder width mismatch" % what)
        unknown = "error" if step.handle_unknown == "error" else "ignore"
        for c, cats in zip(cols, step.categories_):
            if c.kind != "numeric" or c.scaled:
                _unsupported("%s: a one-hot encoder after a scaler or another encoder" % what)
            labels = [_label(v) for v in cats]
            if len(set(label_text(x) for x in labels)) != len(labels):
                _unsupported("%s: categories of column %s collide as text" % (what, c.name))
            c.kind = "categorical"
            c.categories = labels
            c.unknown = unknown
            if c.impute is not None:
                imp = _label(c.impute)
                if label_text(imp) not in [label_text(x) for x in labels]:
                    _unsupported("%s: column %s imputes %r, which the encoder never saw (sklearn would "
                                 "encode it as all zeros; the format imputes only known categories)"
                                 % (what, c.name, imp))
                c.impute = imp
        return cols
    if isinstance(step, Pipeline):
        for name, sub in step.steps:
            if sub is None or sub == "passthrough":
                continue
            cols = _apply_step(sub, cols, "%s/%s" % (what, name))
        return cols
    if isinstance(step, str) and step == "passthrough":
        return cols
    _unsupported("%s: transformer %s" % (what, type(step).__name__))


def _column_transformer(ct, names):
    if ct.transformer_weights:
        _unsupported("ColumnTransformer(transformer_weights=...)")
    out = []
    used = set()
    for name, trans, _ in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        idx = list(ct._transformer_to_input_indices[name])
        if not idx:
            continue
        for i in idx:
            if i in used:
                _unsupported("input column %s is used by two transformers" % names[i])
            used.add(i)
        cols = [_Column(i, names[i]) for i in idx]
        out.extend(_apply_step(trans, cols, "ColumnTransformer[%s]" % name))
    return out


class _Encoded:
    """The signature: input columns (in signature order) and their encoded columns."""

    def __init__(self, cols):
        self.cols = cols

    def width(self):
        return sum(c.width() for c in self.cols)

    def apply_scaler(self, scaler, what):
        """A StandardScaler over all encoded columns (after a ColumnTransformer)."""
        if scaler.n_features_in_ != self.width():
            _unsupported("%s: scaler width %d, encoded width %d" % (what, scaler.n_features_in_, self.width()))
        pos = 0
        for c in self.cols:
            w = c.width()
            if c.scaled:
                _unsupported("%s: two scalers on column %s" % (what, c.name))
            c.center = [float(scaler.mean_[pos + k]) if scaler.with_mean else 0.0 for k in range(w)]
            c.scale = [float(scaler.scale_[pos + k]) if scaler.with_std else 1.0 for k in range(w)]
            c.scaled = True
            pos += w

    def features(self):
        feats = []
        seen = set()
        for c in self.cols:
            name = str(c.name)
            if not name or len(name.encode()) > 250:
                _unsupported("feature name %r (1 to 250 bytes)" % name)
            if name in seen:
                _unsupported("duplicate feature name %r" % name)
            seen.add(name)
            f = {"name": name, "type": c.kind}
            if c.kind == "categorical":
                f["categories"] = c.categories
                f["unknown"] = c.unknown
                if c.impute is not None:
                    f["impute"] = c.impute
            elif c.impute is not None:
                if not isinstance(c.impute, (int, float, np.integer, np.floating)):
                    _unsupported("column %s imputes %r but is not one-hot encoded" % (name, c.impute))
                f["impute"] = float(c.impute)
                if not math.isfinite(f["impute"]):
                    _unsupported("imputation value of %s is not finite" % name)
            feats.append(f)
        return feats

    def scaler(self):
        if not any(c.scaled for c in self.cols):
            return None
        center, scale = [], []
        for c in self.cols:
            w = c.width()
            center += c.center if c.scaled else [0.0] * w
            scale += c.scale if c.scaled else [1.0] * w
        if not all(math.isfinite(v) for v in center + scale) or any(v == 0 for v in scale):
            _unsupported("the scaler has a non-finite center or a zero scale")
        return {"center": center, "scale": scale}


def _signature(steps, feature_names):
    enc = None
    for k, (name, step) in enumerate(steps):
        what = "step %s" % name
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if isinstance(step, ColumnTransformer):
            if enc is not None:
                _unsupported("%s: a ColumnTransformer must be the first step" % what)
            enc = _Encoded(_column_transformer(step, feature_names))
            continue
        if enc is None:
            enc = _Encoded([_Column(i, n) for i, n in enumerate(feature_names)])
        if isinstance(step, StandardScaler) and any(c.kind == "categorical" for c in enc.cols):
            enc.apply_scaler(step, what)
        elif isinstance(step, SimpleImputer) and any(c.kind == "categorical" for c in enc.cols):
            _unsupported("%s: an imputer after one-hot encoding" % what)
        elif isinstance(step, (SimpleImputer, StandardScaler)):
            _apply_step(step, enc.cols, what)
        else:
            _unsupported("%s: %s (supported: SimpleImputer, StandardScaler, ColumnTransformer)"
                         % (what, type(step).__name__))
    if enc is None:
        enc = _Encoded([_Column(i, n) for i, n in enumerate(feature_names)])
    return enc


# --------------------------------------------------------------------------
# Estimators: each returns (task, classes or None, model dict).
# --------------------------------------------------------------------------

def _classes(est):
    classes = [_label(c) for c in est.classes_]
    if len(set(label_text(c) for c in classes)) != len(classes):
        _unsupported("class labels collide as text: %r" % (classes,))
    return ("binary" if len(classes) == 2 else "multiclass"), classes


def _linear_regression(est):
    coef = np.asarray(est.coef_)
    if coef.ndim != 1:
        _unsupported("%s with %d targets" % (type(est).__name__, coef.shape[0]))
    return "regression", None, {"type": "linear", "link": "identity",
                                "coef": _floats(coef), "intercept": [float(est.intercept_)]}


def _logistic(est):
    task, classes = _classes(est)
    coef = np.asarray(est.coef_)
    intercept = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
    ovr = est.multi_class in ("ovr", "warn") or (
        est.multi_class == "auto" and (len(classes) <= 2 or est.solver in ("liblinear", "newton-cholesky")))
    if task == "binary":
        if ovr:
            return task, classes, {"type": "linear", "link": "logistic",
                                   "coef": _floats(coef[0]), "intercept": _floats(intercept)}
        # multinomial on two classes: softmax([-d, d]); negation is exact
        return task, classes, {"type": "linear", "link": "softmax",
                               "coef": _floats(np.vstack([-coef[0], coef[0]])),
                               "intercept": _floats([-intercept[0], intercept[0]])}
    if ovr:
        _unsupported("one-vs-rest LogisticRegression on %d classes (probabilities are normalized "
                     "sigmoids, not a softmax)" % len(classes))
    return task, classes, {"type": "linear", "link": "softmax",
                           "coef": _floats(coef), "intercept": _floats(intercept)}


def _mlp(est, classifier):
    if classifier:
        if est._label_binarizer.y_type_ == "multilabel-indicator":
            _unsupported("multi-label MLPClassifier")
        task, classes = _classes(est)
        want = ("logistic", 1) if task == "binary" else ("softmax", len(classes))
        if (est.out_activation_, est.n_outputs_) != want:
            _unsupported("MLPClassifier with %d %s outputs for %d classes"
                         % (est.n_outputs_, est.out_activation_, len(classes)))
    else:
        task, classes = "regression", None
        if est.n_outputs_ != 1:
            _unsupported("MLPRegressor with %d targets" % est.n_outputs_)
    layers = [{"weights": _floats(w), "bias": _floats(b)} for w, b in zip(est.coefs_, est.intercepts_)]
    return task, classes, {"type": "mlp", "hidden_activation": est.activation,
                           "output_activation": est.out_activation_, "layers": layers}


def _tree_arrays(tree, leaf_values):
    """A fitted sklearn Tree as our parallel arrays; leaf_values(i) gives node i's value."""
    left = tree.children_left.tolist()
    right = tree.children_right.tolist()
    feature = [int(f) if l != -1 else 0 for f, l in zip(tree.feature, left)]
    threshold = [float(t) if l != -1 else 0.0 for t, l in zip(tree.threshold, left)]
    return {"feature": feature, "threshold": _floats(threshold) if threshold else [],
            "left": left, "right": right, "value": [leaf_values(i) for i in range(tree.node_count)]}


def _class_distributions(tree, n_classes):
    """Per node, the class distribution DecisionTreeClassifier.predict_proba returns."""
    proba = tree.value[:, 0, :n_classes]
    normalizer = proba.sum(axis=1)[:, np.newaxis]
    normalizer[normalizer == 0.0] = 1.0
    return _floats(proba / normalizer)


def _check_single_output(est):
    if getattr(est, "n_outputs_", 1) != 1:
        _unsupported("%s with %d outputs" % (type(est).__name__, est.n_outputs_))


def _forest(est, classifier):
    _check_single_output(est)
    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    model = {"type": "trees", "split": "<=", "input_precision": "float32",
             "aggregation": "average" if hasattr(est, "estimators_") else "sum", "trees": []}
    if classifier:
        task, classes = _classes(est)
        model["link"] = "identity"
        model["n_outputs"] = len(classes)
        for t in trees:
            dist = _class_distributions(t.tree_, len(classes))
            model["trees"].append(_tree_arrays(t.tree_, lambda i: dist[i]))
    else:
        task, classes = "regression", None
        model["link"] = "identity"
        for t in trees:
            vals = _floats(t.tree_.value[:, 0, 0])
            model["trees"].append(_tree_arrays(t.tree_, lambda i: vals[i]))
    return task, classes, model


def _init_raw(est):
    """The init estimator's raw prediction, a constant for the supported inits."""
    if not (isinstance(est.init_, str) and est.init_ == "zero") and \
            not isinstance(est.init_, (DummyClassifier, DummyRegressor)):
        _unsupported("GradientBoosting init=%s (not a constant)" % type(est.init_).__name__)
    raw = est._raw_predict_init(np.zeros((1, est.n_features_in_), dtype=np.float64))
    return _floats(raw[0])


def _boosting(est, classifier):
    lr = est.learning_rate
    model = {"type": "trees", "split": "<=", "input_precision": "float32", "aggregation": "sum",
             "trees": []}
    if classifier:
        task, classes = _classes(est)
        if est.loss not in ("log_loss", "deviance"):
            _unsupported("GradientBoostingClassifier(loss=%r)" % est.loss)
        model["link"] = "logistic" if task == "binary" else "softmax"
    else:
        task, classes = "regression", None
        model["link"] = "identity"
    n_stages, k_per_stage = est.estimators_.shape
    for i in range(n_stages):
        for k in range(k_per_stage):
            tree = est.estimators_[i, k].tree_
            vals = _floats(lr * tree.value[:, 0, 0])   # the product predict_stages computes
            arrays = _tree_arrays(tree, lambda j: vals[j])
            if k_per_stage > 1:
                arrays["output"] = k
            model["trees"].append(arrays)
    base = _init_raw(est)
    model["base_score"] = base if len(base) > 1 else base[0]
    return task, classes, model


def _estimator(est):
    # exact type checks where a subclass could change predict()
    if isinstance(est, (LinearRegression, Ridge)):
        return _linear_regression(est)
    if isinstance(est, LogisticRegression):
        return _logistic(est)
    if isinstance(est, MLPClassifier):
        return _mlp(est, True)
    if isinstance(est, MLPRegressor):
        return _mlp(est, False)
    if isinstance(est, (DecisionTreeClassifier, RandomForestClassifier)):
        return _forest(est, True)
    if isinstance(est, (DecisionTreeRegressor, RandomForestRegressor)):
        return _forest(est, False)
    if isinstance(est, GradientBoostingClassifier):
        return _boosting(est, True)
    if isinstance(est, GradientBoostingRegressor):
        return _boosting(est, False)
    _unsupported("estimator %s" % type(est).__name__)


# --------------------------------------------------------------------------

def _is_xgboost(obj):
    """An XGBoost Booster or scikit-learn wrapper, recognised without importing xgboost."""
    return type(obj).__module__.split(".")[0] == "xgboost"


def _refuse_xgboost(model, feature_names):
    """Raise ValueError pointing to XGBoost's own JSON, which mlops registers as it is."""
    steps = model.steps if isinstance(model, Pipeline) else [("", model)]
    xgb_steps = [(name, s) for name, s in steps if _is_xgboost(s)]
    if not xgb_steps:
        return
    name, est = xgb_steps[-1]
    booster = est.get_booster() if hasattr(est, "get_booster") else est
    names = getattr(booster, "feature_names", None)
    msg = ["%s is an XGBoost model: it is not exported to mlops.model/v1. Save it as XGBoost's own JSON, "
           "which mlops registers as it is (README, \"Models trained elsewhere\"):" % type(est).__name__]
    if isinstance(model, Pipeline):
        msg.append("    booster = model.named_steps[%r].get_booster()" % name)
    elif booster is not est:
        msg.append("    booster = model.get_booster()")
    if not names:
        given = "[%s]" % ", ".join(repr(str(n)) for n in feature_names) if feature_names else "[...]"
        msg.append("    booster.feature_names = %s   # it has none: mlops would call them f0, f1, ..." % given)
    msg.append('    booster.save_model("model.json")')
    msg.append("    SELECT mlops.register_model_version('my_model', pg_read_file('/path/to/model.json'));")
    if names:
        msg.append("The file keeps the booster's feature names (%s): they become the model's signature."
                   % ", ".join(names))
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        msg.append("The pipeline's other steps (%s) are not part of that file: apply them before scoring, "
                   "or train the booster on the raw columns." % ", ".join(n for n, _ in model.steps if n != name))
    raise ValueError("\n".join(msg))


def _feature_names(model, given, positional):
    """The raw input columns' names, and whether they are real (not positional placeholders).

    From the model's feature_names_in_ (a DataFrame's columns) or from "given"; both, when
    present, must be equal.  Without either, positional names x0, x1, ... are returned as
    placeholders (real only when asked for), so that export() can still refuse what it cannot
    represent before it refuses the missing names.
    """
    n_inputs = model.n_features_in_
    fitted = getattr(model, "feature_names_in_", None)
    fitted = [str(n) for n in fitted] if fitted is not None else None
    if given is not None:
        given = [str(n) for n in given]
        if len(given) != n_inputs:
            raise ValueError("%d feature names given for %d input columns" % (len(given), n_inputs))
        if positional:
            raise ValueError("feature names and positional names are both asked for: choose one")
        if fitted is not None and given != fitted:
            diff = [(i, g, f) for i, (g, f) in enumerate(zip(given, fitted)) if g != f]
            i, g, f = diff[0]
            raise ValueError("the feature names given (%s) disagree with the columns the model was fitted on "
                             "(feature_names_in_: %s): column %d is %r, not %r; give the same names, or none"
                             % (", ".join(given), ", ".join(fitted), i, f, g))
        return given, True
    if fitted is not None:
        if positional:
            raise ValueError("the model was fitted on named columns (feature_names_in_: %s); positional names "
                             "would hide them" % ", ".join(fitted))
        return fitted, True
    return ["x%d" % i for i in range(n_inputs)], positional


def export(model, feature_names=None, metadata=None, positional_names=False):
    """A fitted estimator or Pipeline as a dict in the mlops.model/v1 format.

    feature_names: the names of the raw input columns, in input order.  By
    default the model's feature_names_in_ (the columns of the DataFrame it was
    fitted on); when both exist they must be equal.  A model fitted on an array
    has no names: pass them, or positional_names=True for x0, x1, ...  A
    ColumnTransformer may drop columns; the signature lists the columns it
    uses, in its output order.
    metadata: extra JSON-able data stored under "metadata".
    Raises NotImplementedError for what the format cannot represent exactly,
    and ValueError for missing or inconsistent feature names and for XGBoost
    models (which mlops registers from XGBoost's own JSON).
    """
    _refuse_xgboost(model, feature_names)
    if isinstance(model, Pipeline):
        steps = list(model.steps[:-1])
        est = model.steps[-1][1]
    else:
        steps, est = [], model
    names, named = _feature_names(model, feature_names, positional_names)
    enc = _signature(steps, names)
    if est.n_features_in_ != enc.width():
        raise ValueError("the estimator takes %d columns, the preprocessing gives %d"
                         % (est.n_features_in_, enc.width()))
    task, classes, body = _estimator(est)
    if not named:
        # after the checks above, so that what the format cannot represent is said first
        raise ValueError("%s was fitted on an array, so it has no feature names (feature_names_in_), and "
                         "mlops scores rows by name: pass the names of its %d input columns, in training "
                         "order, with --feature-names a,b,c (feature_names=[...] from Python); or "
                         "--positional-names (positional_names=True) for x0, x1, ..."
                         % (type(model).__name__, len(names)))
    doc = {"format": FORMAT, "task": task}
    if classes is not None:
        doc["classes"] = classes
    doc["features"] = enc.features()
    scaler = enc.scaler()
    if scaler is not None:
        doc["scaler"] = scaler
    doc["model"] = body
    meta = {"exporter": "tests/exporter/sklearn_to_mlops.py", "sklearn_version": sklearn.__version__,
            "estimator": type(est).__name__,
            "steps": [type(s).__name__ for _, s in steps]}
    if metadata:
        meta.update(metadata)
    doc["metadata"] = meta
    return doc


def dumps(doc, indent=None):
    """The document as JSON text; floats are written with repr (shortest round-trip)."""
    return json.dumps(doc, allow_nan=False, ensure_ascii=False, indent=indent,
                      separators=(",", ":") if indent is None else None)


def main(argv=None):
    p = argparse.ArgumentParser(description="Export a pickled, fitted scikit-learn model to mlops.model/v1 JSON.")
    p.add_argument("model", help="pickle file of a fitted estimator or Pipeline (only load pickles you trust)")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    names = p.add_mutually_exclusive_group()
    names.add_argument("--feature-names", help="comma-separated names of the raw input columns, in training "
                       "order (default: the model's feature_names_in_; required without it)")
    names.add_argument("--positional-names", action="store_true",
                       help="name the input columns x0, x1, ... (only for a model fitted on an array)")
    p.add_argument("--indent", type=int, help="pretty-print with this indent")
    args = p.parse_args(argv)
    with open(args.model, "rb") as f:
        model = pickle.load(f)
    names = args.feature_names.split(",") if args.feature_names else None
    try:
        text = dumps(export(model, feature_names=names, positional_names=args.positional_names),
                     indent=args.indent)
    except (NotImplementedError, ValueError) as e:
        print("sklearn_to_mlops: %s" % e, file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
