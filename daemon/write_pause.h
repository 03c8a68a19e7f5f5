/* SPDX-License-Identifier: Apache-2.0
 * A write pause: LOCK TABLES ... READ on a connection of its own, taken
 * in a few short attempts and held within a time budget. The cutover
 * pauses the source tables with it, the rollback the new tables; both
 * must never hold writers longer than lock_timeout, nor run longer than
 * drain_timeout, whatever the server does meanwhile.
 *
 * Everything here runs in the thread of the cutover or rollback that
 * owns the struct (@context thread).
 */
#ifndef FERRY_WRITE_PAUSE_H
#define FERRY_WRITE_PAUSE_H

#include "common/buf.h"
#include "common/ferry_error.h"
#include "connectors/db_conn.h"

#include <mysql.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct write_pause {
        /* Words for the log lines and errors, which tests and operators
         * grep: who ("cutover"), whose writes ("source writes") and
         * which tables ("the source tables"). Not copied: literals. */
        const char *who, *writes, *tables;
        /* Copied at the start: SIGHUP may change the config meanwhile. */
        int64_t lock_timeout_ms, drain_timeout_ms;
        /* Owned: the connection that takes and holds the locks, opened
         * by write_pause_connect, closed by write_pause_close (or by
         * write_pause_release if UNLOCK fails: then NULL). The owner
         * may run other statements on it while paused (they see the
         * paused tables as they are). */
        MYSQL *conn;
        uint64_t t_start;  /* the budget's start: write_pause_begin */
        uint64_t t_locked; /* when the locks were granted */
        bool locked;
        /* Results, read by the owner. */
        double lock_wait_ms; /* the successful attempt's wait */
        double pause_ms;     /* how long writers were held, once released */
};

/**
 * @brief Sets up an unlocked pause; no connection yet.
 * @param who, writes, tables  see struct write_pause (literals)
 */
void write_pause_init(struct write_pause *wp, const char *who,
                      const char *writes, const char *tables,
                      int64_t lock_timeout_ms, int64_t drain_timeout_ms);

/**
 * @brief Opens wp->conn to ep (30 s read timeout, like the others).
 * @returns 0 or a db_connect() code, with errstr
 */
int write_pause_connect(struct write_pause *wp, const struct db_endpoint *ep,
                        char *errstr, size_t errstr_size) FERRY_WUR;

/** @brief Starts the drain_timeout budget now. */
void write_pause_begin(struct write_pause *wp);

/**
 * @returns ms left before the pause must end (lock_timeout, once
 *          locked) or the whole must end (drain_timeout since
 *          write_pause_begin), whichever is sooner; negative once over
 */
int64_t write_pause_budget_ms(const struct write_pause *wp);

/**
 * @brief Appends "db.table READ" to the LOCK TABLES statement in q,
 *        starting the statement when q is empty.
 */
void write_pause_put_table(struct buf *q, const char *db, const char *table);

/**
 * @brief Takes the pause: runs lock_sql (LOCK TABLES ...) on wp->conn
 *        up to three times, each attempt's wait cut short by the
 *        server (max_statement_time), with a gap between attempts for
 *        the writers queued behind the waiting lock. Once locked, the
 *        session limit is lifted: UNLOCK must never be cut short.
 * @param abort  stops further attempts once true; may be NULL
 * @returns 0 (wp->locked) or -1 with the reason in errstr (wp->locked
 *          too if only lifting the limit failed: release it)
 */
int write_pause_take(struct write_pause *wp, const char *lock_sql,
                     const atomic_bool *abort, char *errstr,
                     size_t errstr_size) FERRY_WUR;

/**
 * @brief Ends the pause, if held: UNLOCK TABLES, or closing wp->conn
 *        when the server cannot hear it (that releases the locks too).
 *        Sets wp->pause_ms. Anything else running on wp->conn must
 *        have finished.
 */
void write_pause_release(struct write_pause *wp);

/** @brief Releases the pause if held and closes wp->conn. */
void write_pause_close(struct write_pause *wp);

/**
 * @brief Bounds every later statement of my's session to ms (at least
 *        1 ms): a query that would overrun the budget is interrupted by
 *        the server itself.
 * @returns 0 or a db_exec() code, with errstr
 */
int write_pause_limit_session(MYSQL *my, int64_t ms, char *errstr,
                              size_t errstr_size) FERRY_WUR;

/** @brief Lifts write_pause_limit_session. @returns as db_exec() */
int write_pause_unlimit_session(MYSQL *my, char *errstr,
                                size_t errstr_size) FERRY_WUR;

#endif
