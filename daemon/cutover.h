/* SPDX-License-Identifier: Apache-2.0
 * The cutover (DESIGN.md "Cutover"), run in a thread of its own so the
 * loop keeps answering status, metrics and abort meanwhile:
 *
 *  1. refuse unless the backfill is done and lag is under max_lag;
 *  2. verify online (full, with a re-check of differing chunks once the
 *     stream caught up); the flow starts remembering the keys it
 *     carries (the direct sink what it applies, the Kafka source what
 *     it produces);
 *  3. pause writes: LOCK TABLES ... READ on the mapped source tables on a
 *     dedicated connection; each attempt waits a bounded time (the
 *     server's max_statement_time interrupts the metadata-lock wait) and
 *     a failed attempt lets writers through before the next;
 *  4. barrier: a ferry.signal row through the binlog; wait until the
 *     target's ferry.offsets shows the sink applied it (with Kafka: on
 *     every partition it was produced to);
 *  5. verify in the pause: the keys carried since step 2, and row counts;
 *  6. switch: rename (the old tables move to retired_schema, one
 *     RENAME per table, each queued behind our lock so that it wins
 *     over the writers waiting on its table),
 *     exec:PATH (its exit code decides) or none; --dry-run skips it;
 *  7. release the pause and record the outcome.
 *
 * The pause never outlives lock_timeout and the whole never outlives
 * drain_timeout; a failure or an abort releases and returns to
 * streaming. Nothing is lost either way: the stream never stopped.
 *
 * The steps are the same whatever carries the stream; what differs (how
 * a barrier is seen applied, who remembers the keys, how the stream
 * ends) is behind struct cutover_ops (cutover_flows.h binds the direct
 * pipeline and the Kafka source).
 */
#ifndef FERRY_CUTOVER_H
#define FERRY_CUTOVER_H

#include "daemon/barrier.h"
#include "daemon/config.h"
#include "daemon/touched_keys.h"
#include "transforms/mapping.h"

#include <jansson.h>
#include <stdbool.h>

/* What the cutover needs of the flow that carries the stream. Called
 * from the cutover's thread; flow is the opaque given to cutover_start. */
struct cutover_ops {
        /* @returns true, with why, when the flow cannot cut over now */
        bool (*refuse)(void *flow, char *why, size_t why_size);
        /* @returns whether every planned backfill is done */
        bool (*backfill_done)(void *flow);
        /* @brief Lags in seconds; total is held against max_lag. */
        void (*lags)(void *flow, double *source, double *sink, double *total);
        /* @returns the keys carried while recording; lives with flow */
        struct touched_keys *(*touched)(void *flow);
        /* Passes a barrier through the whole stream (barrier.h). */
        barrier_fn *barrier;
        /* @brief The switch is about to RENAME the source tables away:
         * the stream must end there instead of failing. */
        void (*set_retiring)(void *flow, bool on);
        /* @brief Switched without a RENAME: end the stream now. */
        void (*end)(void *flow);
        /* @brief The name its rows in the target's ferry.offsets go
         * under: the cutover records itself there (part "cutover"). */
        void (*name)(const struct cfg *cfg, char *out, size_t out_size);
        /* @returns the mapping to verify through; lives with flow */
        const struct mapping *(*mapping)(void *flow);
        /* @brief The cutover is done with flow (cutover_free). */
        void (*release)(void *flow);
};

struct cutover;

/**
 * @brief Starts a cutover in its own thread.
 * @param cfg  must outlive the cutover
 * @param ops, flow  the flow it drives; ops->release(flow) is called by
 *                   cutover_free (ownership of what it frees passes)
 * @context loop
 */
struct cutover *cutover_start(const struct cfg *cfg,
                              const struct cutover_ops *ops, void *flow,
                              bool dry_run);

/* @returns whether the thread has finished (then cutover_result). */
bool cutover_finished(struct cutover *c);

/* @brief Asks a running cutover to give up and release at once. */
void cutover_abort(struct cutover *c);

/* @returns the step the cutover is in ("locking", "draining", ...). */
const char *cutover_step(struct cutover *c);

/**
 * @brief The outcome: {"result": "succeeded" | "dry_run_succeeded" |
 *        "refused" | "failed" | "aborted", "reason", "pause_ms",
 *        "steps": {name: ms}, "verify": {...}, "barrier", "action",
 *        "dry_run"}. A new reference; only after cutover_finished.
 */
json_t *cutover_result(struct cutover *c);

/* @returns true if the switch was made (the result is "succeeded"). */
bool cutover_switched(struct cutover *c);

/* @brief Joins the thread and frees; NULL is a no-op. */
void cutover_free(struct cutover *c);

#endif
