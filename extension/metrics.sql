-- metrics.sql: model-quality metrics as aggregates over any predictions
-- table (metrics.c), computed as sklearn.metrics computes them.

CALL mlops._private_by_default();
