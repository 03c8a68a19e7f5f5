/* SPDX-License-Identifier: Apache-2.0
 * The mapping read backwards, for reverse streaming after a cutover
 * (new tables -> the retired old ones): every target becomes a source
 * that maps back onto the table that fed it. Pure, like mapping.h.
 */
#ifndef FERRY_MAPPING_REVERSE_H
#define FERRY_MAPPING_REVERSE_H

#include "transforms/mapping.h"

/**
 * @brief Builds the inverse of m.
 *
 * Per target table T fed by source table S: renames are inverted; value
 * maps are inverted when one-to-one (refused otherwise); columns only
 * the target has (constant defaults, columns a transform derives from
 * others) are dropped on the way back; a route's `when` column that the
 * route drops comes back as a constant when `when` names one value;
 * named C transforms that change a column in place are not inverted:
 * the value passes through as the target holds it (lossy, reported
 * through note). Routed targets all map back to their one source.
 * Source columns the forward mapping drops are simply absent: the sink
 * upserts only the columns it is given, so they keep their values on
 * update and take the column default on insert.
 *
 * @param note  receives one line per lossy column (may be NULL)
 * @param rp    on success a new mapping the caller frees (mapping_free)
 * @returns 0, or FERRY_ERR_CONFIG with errstr naming the table, the
 *          column and why it cannot be inverted
 */
int mapping_reverse(const struct mapping *m, struct mapping **rp,
                    mapping_problem_fn *note, void *ctx, char *errstr,
                    size_t errstr_size) FERRY_WUR;

#endif
