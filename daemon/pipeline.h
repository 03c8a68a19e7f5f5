/* SPDX-License-Identifier: Apache-2.0
 * The direct pipeline (transport = direct, role = all): the binlog
 * source in one thread, the sink in another, a bounded queue between.
 * The sink stores the source GTID position it has applied with the rows
 * (ferry.offsets), and a (re)start resumes from there, so the position
 * and the data can never disagree.
 */
#ifndef FERRY_PIPELINE_H
#define FERRY_PIPELINE_H

#include "daemon/config.h"
#include "daemon/metrics.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct pipeline;

/**
 * @brief Loads the mapping, connects the sink, reads the stored position
 *        and starts both threads.
 * @returns 0 or FERRY_ERR_CONFIG / FERRY_ERR_FATAL / FERRY_ERR_RETRY
 * @context loop
 */
int pipeline_start(const struct cfg *cfg, struct metrics *reg,
                   struct pipeline **pp, char *errstr,
                   size_t errstr_size) FERRY_WUR;

struct mapping;
/**
 * @brief As pipeline_start with a mapping already built (the reverse
 *        stream's inverted one) instead of cfg->sink.mapping.
 * @param reg      NULL: no metrics (a second pipeline would clobber the
 *                 first one's series)
 * @param map      taken: freed with the pipeline
 * @param lenient  a mapping that does not fit the tables is a warning
 * @context loop
 */
void pipeline_start_mapped(const struct cfg *cfg, struct metrics *reg,
                           struct mapping *map, bool lenient,
                           struct pipeline **pp);

/* @brief Asks both threads to finish: the sink applies every complete
 * transaction already queued and records its position. */
void pipeline_request_stop(struct pipeline *p);

/* @returns true once both threads have ended (on request or error). */
bool pipeline_finished(struct pipeline *p);

/* @brief Joins the threads and frees everything.
 * @returns 0 after a clean stop, else the first error (logged). */
int pipeline_free(struct pipeline *p);

/* @brief true while the source is connected and the sink is applying. */
bool pipeline_ready(struct pipeline *p, char *reason, size_t reason_size);

/* @brief Pauses or resumes the sink (events queue up, the source then
 * waits on the full queue). */
void pipeline_set_paused(struct pipeline *p, bool paused);

/* @brief Current lags in seconds (source, sink, end to end). */
void pipeline_lags(struct pipeline *p, double *source, double *sink,
                   double *total);

/* @returns whether every planned backfill has finished (also true when
 * none was planned). @context any thread */
bool pipeline_backfill_done(struct pipeline *p);

bool pipeline_paused(struct pipeline *p);

/**
 * @brief The pipeline's state for `ferryctl status`: state, position,
 *        lags, per-table backfill progress (rows, estimate, rate, ETA),
 *        the last error. A new reference. @context any thread
 */
json_t *pipeline_status(struct pipeline *p);

/* @brief Says the cutover is about to retire the source tables: their
 * RENAME then ends the stream cleanly instead of failing it. */
void pipeline_set_retiring(struct pipeline *p, bool on);
/* @returns true once the stream ended at a cutover (or the target says
 * a cutover already happened): the daemon stays up, in state cut_over. */
bool pipeline_cut_over(struct pipeline *p);

/* @brief Ends the stream after a cutover that left the tables in place. */
void pipeline_end_at_cutover(struct pipeline *p);

/* @brief Copies backfill progress into the snapshot metrics. @context loop */
void pipeline_publish_backfill(struct pipeline *p);

/* @brief Applies the backfill throttles ([source] backfill_max_rows_per_
 * second, backfill_max_lag) to the running backfill. @context loop */
void pipeline_throttle(struct pipeline *p);
/* @returns whether the backfill is holding for the live stream. */
bool pipeline_backfill_held(struct pipeline *p);
/* @returns the target's redo fill (checkpoint age over its maximum) as
 * last read for [source] backfill_max_redo_fill, or -1 when that is off
 * or not read yet. */
double pipeline_redo_fill(struct pipeline *p);

struct mapping;
/* @returns the mapping the pipeline applies (lives as long as p). */
const struct mapping *pipeline_mapping(struct pipeline *p);

struct touched_keys;
/* @returns the keys the sink applied while recording (touched_keys.h);
 * lives as long as p. @context any */
struct touched_keys *pipeline_touched_keys(struct pipeline *p);

/* @returns the config the pipeline was started with. */
const struct cfg *pipeline_config(struct pipeline *p);

/* @brief The name of this pipeline's rows in the target's ferry.offsets. */
void pipeline_name(const struct cfg *cfg, char *out, size_t out_size);

#endif
