# mlops: PGXS build.  `make && make install`, then `make installcheck` against
# a running server (tests/run_all.sh does all of it on a throwaway cluster).

EXTENSION   = mlops
EXTVERSION  = 0.8.0

# One C file and one SQL file per concept, with the same name.  The install
# script is the SQL files concatenated in this order (each may use what the
# ones before it define).
CONCEPTS    = mlops tracking registry scoring bundles batch schedules drift drift_report features ab metrics training retraining

MODULE_big  = mlops
OBJS        = extension/mlops.o extension/tracking.o extension/registry.o extension/scoring.o \
              extension/batch.o extension/schedules.o extension/model.o extension/model_compile.o extension/model_json.o \
              extension/model_xgboost.o extension/model_cache.o \
              extension/drift.o extension/drift_stats.o extension/features.o extension/ab.o extension/ab_stats.o \
              extension/metrics.o extension/training.o extension/training_xgboost.o
# The released install scripts stay as they were shipped (an older version can
# still be created, then updated), with the upgrade scripts between them.
DATA        = $(wildcard extension/mlops--*.sql)
DATA_built  = mlops--$(EXTVERSION).sql
PGFILEDESC  = "mlops - machine-learning lifecycle in SQL"

# one pg_regress file per concept, run in this order
REGRESS      = mlops tracking scoring model_format registry xgboost bundles batch drift features ab metrics training retraining
REGRESS_OPTS = --inputdir=. --load-extension=mlops

PG_CONFIG ?= pg_config
PKG_CONFIG ?= pkg-config

DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags jansson openblas)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs jansson openblas)

PG_CPPFLAGS = -I$(srcdir)/extension $(DEP_CFLAGS)
# -Wno-unused-parameter: PostgreSQL's own inline functions and PG_FUNCTION_ARGS trip it
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter $(if $(WERROR),-Werror)
# XGBoost's C library trains boosted trees (training_xgboost.c); Debian's
# libxgboost-dev has no pkg-config file.
SHLIB_LINK  = $(DEP_LIBS) -lxgboost

EXTRA_CLEAN = results regression.diffs regression.out

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

mlops--$(EXTVERSION).sql: $(foreach c,$(CONCEPTS),extension/$(c).sql)
	cat $^ > $@

# Every object depends on every header: there are few of both, and a stale
# object built against an old struct layout is a crash.
$(OBJS): $(wildcard extension/*.h)
