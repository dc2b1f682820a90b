/*
 * training.c
 *	  Training in the database.
 */
#include "postgres.h"

#include "training.h"
