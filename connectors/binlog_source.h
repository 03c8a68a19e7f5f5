/* SPDX-License-Identifier: Apache-2.0
 * The MariaDB binlog source: connects as a replica (Connector/C's
 * replication API for transport and framing only), starts from a GTID
 * position, decodes the watched tables' row changes with our own decoder
 * and hands typed change events to a callback, with explicit transaction
 * boundaries. Heartbeats plus a read timeout notice a dead connection in
 * seconds; reconnects back off and resume from the last committed GTID
 * without repeating rows already delivered.
 */
#ifndef FERRY_BINLOG_SOURCE_H
#define FERRY_BINLOG_SOURCE_H

#include "common/ferry_error.h"
#include "connectors/db_conn.h"
#include "transforms/event.h"
#include "transforms/gtid.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct binlog_source_opts {
        struct db_endpoint db;  /* database = the watched schema */
        char *const *tables;    /* names or LIKE patterns */
        size_t ntables;
        uint32_t server_id;     /* our replica id; unique on the server */
        int64_t heartbeat_ms;   /* default 1000 */
        int64_t read_timeout_ms; /* default 5000; must exceed heartbeat */
        const char *start_gtid; /* GTID position; NULL = "now" */
        int max_retries;        /* consecutive failed reconnects, then
                                   FERRY_ERR_RETRY back; 0 = forever */
        struct snapshot *snapshot; /* backfill to interleave, or NULL;
                                      not owned */
        /* When it reads true, a statement on a watched table that cannot
         * be followed ends the stream (FERRY_ERR_STOP) instead of failing
         * it: the cutover has just retired the tables. Not owned. */
        const atomic_bool *retiring;
};

/* Receives each event (ownership passes to the callback): FERRY_EV_BEGIN,
 * FERRY_EV_ROW..., FERRY_EV_COMMIT. Return 0 to continue, anything else
 * stops the source and is returned by binlog_source_run.
 * @context the thread calling binlog_source_run */
typedef int(binlog_event_fn)(struct ferry_event *ev, void *opaque);

/* Counters the metrics endpoint reads. Written by the source thread. */
struct binlog_source_stats {
        atomic_bool connected;
        atomic_uint_fast64_t events;        /* row events delivered */
        atomic_uint_fast64_t reconnects;
        atomic_uint_fast64_t last_event_ms; /* binlog timestamp, ms */
        atomic_uint_fast64_t last_event_recv_ms; /* wall clock it came */
        atomic_uint_fast64_t last_seen_ms;  /* wall clock of last packet */
        atomic_bool caught_up;              /* heartbeat seen since last
                                               event: nothing pending */
};

struct binlog_source;

/* @brief Copies opts; connects nothing yet. */
struct binlog_source *binlog_source_new(const struct binlog_source_opts *opts);
void binlog_source_free(struct binlog_source *src);

/**
 * @brief Streams until *stop becomes true, the callback returns non-zero,
 *        or a fatal error (purged binlog, unfollowable DDL, missing
 *        primary key, bad server settings, decode error).
 * @returns FERRY_ERR_STOP after a requested stop, the callback's value,
 *          or FERRY_ERR_FATAL / FERRY_ERR_SCHEMA / FERRY_ERR_DATA with
 *          errstr naming table, statement or GTID
 * @context a dedicated thread (it blocks in network reads)
 */
int binlog_source_run(struct binlog_source *src, binlog_event_fn *cb,
                      void *opaque, atomic_bool *stop, char *errstr,
                      size_t errstr_size) FERRY_WUR;

/* @brief The position after the last transaction delivered in full.
 * @context any (locked copy) */
void binlog_source_committed(struct binlog_source *src, struct gtid_pos *out);

struct binlog_source_stats *binlog_source_stats(struct binlog_source *src);

#endif
