/*
 * mlops.h
 *	  Declarations shared between the C files of the mlops extension.
 */
#ifndef MLOPS_H
#define MLOPS_H

#include "postgres.h"

#define MLOPS_VERSION "0.1.0"

/* GUCs, defined in mlops.c */
extern int	mlops_max_artifact_kb;

#endif							/* MLOPS_H */
