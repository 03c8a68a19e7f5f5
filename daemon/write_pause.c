/* SPDX-License-Identifier: Apache-2.0
 * The write pause shared by the cutover and the rollback; see
 * write_pause.h.
 */
#include "daemon/write_pause.h"

#include "common/clock.h"
#include "common/log.h"

#include <stdio.h>

#define LOCK_ATTEMPTS       3
#define LOCK_ATTEMPT_MAX_MS 500 /* writers queue behind a waiting lock */
#define LOCK_RETRY_GAP_MS   100 /* ... so they get through between tries */

void write_pause_init(struct write_pause *wp, const char *who,
                      const char *writes, const char *tables,
                      int64_t lock_timeout_ms, int64_t drain_timeout_ms)
{
        *wp = (struct write_pause){
                .who = who,
                .writes = writes,
                .tables = tables,
                .lock_timeout_ms = lock_timeout_ms,
                .drain_timeout_ms = drain_timeout_ms,
        };
}

int write_pause_connect(struct write_pause *wp, const struct db_endpoint *ep,
                        char *errstr, size_t errstr_size)
{
        return db_connect(&wp->conn, ep, 30, errstr, errstr_size);
}

void write_pause_begin(struct write_pause *wp)
{
        wp->t_start = clock_mono_us();
}

int64_t write_pause_budget_ms(const struct write_pause *wp)
{
        uint64_t now = clock_mono_us();
        int64_t left =
                wp->drain_timeout_ms - (int64_t)(now - wp->t_start) / 1000;
        if (wp->locked) {
                int64_t l = wp->lock_timeout_ms -
                            (int64_t)(now - wp->t_locked) / 1000;
                if (l < left)
                        left = l;
        }
        return left;
}

int write_pause_limit_session(MYSQL *my, int64_t ms, char *errstr,
                              size_t errstr_size)
{
        char sql[96];
        snprintf(sql, sizeof(sql), "SET SESSION max_statement_time = %.3f",
                 ms > 0 ? (double)ms / 1000.0 : 0.001);
        return db_exec(my, sql, errstr, errstr_size);
}

int write_pause_unlimit_session(MYSQL *my, char *errstr, size_t errstr_size)
{
        return db_exec(my, "SET SESSION max_statement_time = 0", errstr,
                       errstr_size);
}

void write_pause_put_table(struct buf *q, const char *db, const char *table)
{
        buf_puts(q, q->len ? ", " : "LOCK TABLES ");
        db_put_ident(q, db);
        buf_putc(q, '.');
        db_put_ident(q, table);
        buf_puts(q, " READ");
}

int write_pause_take(struct write_pause *wp, const char *lock_sql,
                     const atomic_bool *abort, char *errstr, size_t errstr_size)
{
        /* Said if an abort comes before the first attempt. */
        char err[512] = "aborted";
        /* A waiting LOCK holds up every writer behind it: wait a
         * quarter of lock_timeout at most, and let them through before
         * trying again. */
        int64_t attempt = wp->lock_timeout_ms / 4;
        if (attempt > LOCK_ATTEMPT_MAX_MS)
                attempt = LOCK_ATTEMPT_MAX_MS;
        if (attempt < 50)
                attempt = 50;
        for (int i = 0; i < LOCK_ATTEMPTS && !(abort && atomic_load(abort));
             i++) {
                if (i)
                        clock_sleep_ms(LOCK_RETRY_GAP_MS);
                if (write_pause_limit_session(wp->conn, attempt, err,
                                              sizeof(err)))
                        break;
                uint64_t t0 = clock_mono_us();
                if (mysql_query(wp->conn, lock_sql) == 0) {
                        wp->t_locked = clock_mono_us();
                        wp->locked = true;
                        wp->lock_wait_ms = (double)(wp->t_locked - t0) / 1000.0;
                        log_info("%s: %s paused attempt=%d wait_ms=%.1f",
                                 wp->who, wp->writes, i + 1, wp->lock_wait_ms);
                        /* UNLOCK must never be cut short. */
                        if (write_pause_unlimit_session(wp->conn, err,
                                                        sizeof(err))) {
                                snprintf(errstr, errstr_size,
                                         "after pausing: %s", err);
                                return -1;
                        }
                        return 0;
                }
                snprintf(err, sizeof(err), "%s", mysql_error(wp->conn));
                log_warning("%s: lock attempt %d of %d gave up after "
                            "%lldms: %s",
                            wp->who, i + 1, LOCK_ATTEMPTS, (long long)attempt,
                            err);
        }
        snprintf(errstr, errstr_size,
                 "could not pause writes on %s in %d attempts of %lldms (a "
                 "long transaction holds them?): %s",
                 wp->tables, LOCK_ATTEMPTS, (long long)attempt, err);
        return -1;
}

void write_pause_release(struct write_pause *wp)
{
        if (!wp->locked)
                return;
        char err[256];
        /* If the server cannot hear UNLOCK, closing the connection is
         * what releases the locks. A session limit the owner set (for
         * statements in the pause) goes first: nothing may cut UNLOCK
         * short. */
        if (write_pause_unlimit_session(wp->conn, err, sizeof(err)) ||
            db_exec(wp->conn, "UNLOCK TABLES", err, sizeof(err))) {
                log_warning("%s: UNLOCK TABLES failed (%s): closing the "
                            "connection instead",
                            wp->who, err);
                mysql_close(wp->conn);
                wp->conn = NULL;
        }
        wp->pause_ms = (double)(clock_mono_us() - wp->t_locked) / 1000.0;
        wp->locked = false;
        log_info("%s: %s resumed pause_ms=%.1f", wp->who, wp->writes,
                 wp->pause_ms);
}

void write_pause_close(struct write_pause *wp)
{
        write_pause_release(wp);
        mysql_close(wp->conn);
        wp->conn = NULL;
}
