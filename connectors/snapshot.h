/* SPDX-License-Identifier: Apache-2.0
 * Online backfill of the rows that already exist, interleaved with the
 * binlog by watermarks (Netflix DBLog; Debezium incremental snapshots).
 *
 * For each chunk: write a LOW watermark row into ferry.signal on the
 * source, read the chunk in primary-key order (a plain SELECT: no lock,
 * no long transaction), write a HIGH watermark. The binlog source sees
 * LOW, then the live changes, then HIGH: keys changed between the two
 * are dropped from the chunk (the log carries their newer version) and
 * the rest are emitted as op 'r' events inside the HIGH watermark's own
 * transaction, followed by a progress mark. The sink stores that mark
 * with the rows, so a crash resumes from the last chunk applied.
 *
 * Runs inside the binlog source's thread: the chunk read happens between
 * two binlog events, which is what makes the ordering argument simple.
 */
#ifndef FERRY_SNAPSHOT_H
#define FERRY_SNAPSHOT_H

#include "common/ferry_error.h"
#include "connectors/db_conn.h"
#include "transforms/event.h"

#include <stdbool.h>
#include <stdint.h>

#define SNAPSHOT_DONE "done"

struct snapshot;

/* Per-table progress as the sink stored it. */
struct snapshot_table_state {
        const char *table;
        const char *position; /* "" = from the start, a JSON key array of
                                 the last row copied, or "done" */
};

/**
 * @brief Prepares a backfill of the given tables of db.
 * @param server_id  our replica id, which makes watermark ids unique
 *                   among pipelines sharing a source
 * @param max_rows_per_s  throttle; 0 = none
 */
struct snapshot *snapshot_new(const struct db_endpoint *ep,
                              uint32_t server_id,
                              const struct snapshot_table_state *tables,
                              size_t ntables, int64_t chunk_ms,
                              int64_t max_rows_per_s);
void snapshot_free(struct snapshot *snap);

/* @returns true while some table still has rows to copy. */
bool snapshot_active(const struct snapshot *snap);

/**
 * @brief Starts the next chunk when none is in flight: LOW, SELECT,
 *        HIGH. Called by the source between transactions.
 * @returns 0, FERRY_ERR_RETRY (connection trouble) or FERRY_ERR_FATAL
 */
int snapshot_tick(struct snapshot *snap, char *errstr,
                  size_t errstr_size) FERRY_WUR;

/* @brief A live row change of a watched table: drops its key from the
 * chunk in flight when it falls between the watermarks. */
void snapshot_on_change(struct snapshot *snap, const struct ferry_event *ev);

/* Delivers snapshot events (ownership passes) from snapshot_on_signal. */
typedef int(snapshot_emit_fn)(struct ferry_event *ev, void *opaque);

/**
 * @brief A ferry.signal row arrived in the binlog. On the HIGH watermark
 *        of the chunk in flight, emits its rows (op 'r', the table's
 *        shape read from the catalogue with the chunk) and a
 *        FERRY_EV_MARK with the progress, all at position pos.
 */
int snapshot_on_signal(struct snapshot *snap, const struct ferry_event *sig,
                       struct ferry_pos *pos, snapshot_emit_fn *emit,
                       void *emit_opaque, char *errstr,
                       size_t errstr_size) FERRY_WUR;

/**
 * @brief Bounds how far the copy runs ahead of the sink: no chunk starts
 *        while max_chunks chunks are emitted and not yet applied. Rows
 *        already queued are out of the throttles' reach, so this is what
 *        lets a hold act at once. 0 (the default): no bound, for a sink
 *        in another process, which never reports.
 * @context the source's thread, before the first tick
 */
void snapshot_set_max_ahead(struct snapshot *snap, unsigned max_chunks);

/**
 * @brief The sink applied a chunk's progress mark (FERRY_EV_MARK).
 * @context any thread
 */
void snapshot_chunk_applied(struct snapshot *snap);

/**
 * @brief Sets the throttles: a ceiling on rows copied per second (0: none)
 *        and hold (no new chunk while true: the live stream is behind).
 * @context any thread
 */
void snapshot_set_throttle(struct snapshot *snap, int64_t max_rows_per_s,
                           bool hold);

/* Counters for progress reporting. */
struct snapshot_progress {
        const char *table;
        uint64_t rows_copied;
        uint64_t rows_estimated;
        bool done;
};
size_t snapshot_progress(struct snapshot *snap,
                         struct snapshot_progress *out, size_t max);

#endif
