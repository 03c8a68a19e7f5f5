/* SPDX-License-Identifier: Apache-2.0
 * The mapping against the real source and target tables (DESIGN.md:
 * every mapped table and column exists with a compatible type). Run at
 * startup by the pipeline and by `ferryctl plan`.
 */
#ifndef FERRY_VALIDATE_H
#define FERRY_VALIDATE_H

#include "common/ferry_error.h"
#include "daemon/config.h"
#include "transforms/mapping.h"

#include <stddef.h>

/**
 * @brief Describes both schemas and checks m against them.
 * @param report  called once per problem (may be NULL)
 * @returns 0; FERRY_ERR_CONFIG with the first problem and the count in
 *          errstr; or FERRY_ERR_RETRY/FATAL when a server cannot be read
 */
int validate_mapping(const struct cfg *cfg, const struct mapping *m,
                     mapping_problem_fn *report, void *ctx, char *errstr,
                     size_t errstr_size) FERRY_WUR;

#endif
