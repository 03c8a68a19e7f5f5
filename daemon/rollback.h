/* SPDX-License-Identifier: Apache-2.0
 * `ferryctl rollback`: the cutover run backwards, in a thread of its own.
 *
 *  1. refuse unless the reverse stream runs and its lag is under max_lag;
 *  2. pause writes on the new tables (LOCK TABLES ... READ on the target,
 *     bounded attempts, never past lock_timeout);
 *  3. barrier: a row in the TARGET's ferry.signal, read by the reverse
 *     stream; wait until the source server's ferry.offsets shows the
 *     reverse sink applied it;
 *  4. verify retired vs new through the forward mapping (row counts);
 *  5. one atomic RENAME TABLE moves the retired tables back into the
 *     source database (--dry-run skips it);
 *  6. release, and record part "rollback" on the target.
 *
 * Any failure releases the pause and leaves the reverse stream running.
 */
#ifndef FERRY_ROLLBACK_H
#define FERRY_ROLLBACK_H

#include "daemon/config.h"
#include "daemon/pipeline.h"
#include "transforms/mapping.h"

#include <jansson.h>
#include <stdbool.h>

struct rollback;

/**
 * @brief Starts a rollback.
 * @param cfg     the daemon's config (forward direction)
 * @param rcfg    the reverse pipeline's derived config
 * @param rp      the reverse pipeline
 * @param fwd     the forward mapping; all must outlive the rollback
 * @param tables  the retired source tables (NULL-terminated), borrowed
 * @context loop
 */
struct rollback *rollback_start(const struct cfg *cfg, const struct cfg *rcfg,
                                struct pipeline *rp, const struct mapping *fwd,
                                char *const *tables, bool dry_run);

/* @returns whether the thread has finished. */
bool rollback_finished(struct rollback *rb);

/* @returns true if the tables were renamed back. */
bool rollback_switched(struct rollback *rb);

/**
 * @brief {"result": "succeeded" | "dry_run_succeeded" | "refused" |
 *        "failed", "reason", "pause_ms", "barrier", "verify", "dry_run",
 *        "steps"}: a new reference, after rollback_finished.
 */
json_t *rollback_result(struct rollback *rb);

/* @brief Joins the thread and frees; NULL is a no-op. */
void rollback_free(struct rollback *rb);

#endif
