/* SPDX-License-Identifier: Apache-2.0
 * `ferryctl verify`: an online verify in a thread of its own. Chunks that
 * differ are re-checked once the stream has caught up, so rows still in
 * flight are not reported; only persistent differences are.
 */
#ifndef FERRY_VERIFY_JOB_H
#define FERRY_VERIFY_JOB_H

#include "daemon/config.h"
#include "daemon/cutover.h"

#include <jansson.h>
#include <stdbool.h>

struct verify_job;

/**
 * @param ops, flow  the flow's cutover ops (cutover_flows.h), for its
 *                   mapping and barriers; the job owns flow and calls
 *                   ops->release(flow) when freed
 * @param table  one source table, or NULL for every mapped one
 */
struct verify_job *verify_job_start(const struct cfg *cfg,
                                    const struct cutover_ops *ops, void *flow,
                                    const char *table);
bool verify_job_finished(struct verify_job *j);
/* @returns {"clean", "seconds", "tables": [...]} or {"error": ...}; a new
 * reference; only after verify_job_finished. */
json_t *verify_job_result(struct verify_job *j);
/* @brief Joins and frees; NULL is a no-op. */
void verify_job_free(struct verify_job *j);

#endif
