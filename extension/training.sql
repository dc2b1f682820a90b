-- training.sql: training in the database (training.c, training_xgboost.c).

CALL mlops._private_by_default();
