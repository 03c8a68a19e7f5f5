/* SPDX-License-Identifier: Apache-2.0
 * The rollback; see rollback.h for the steps. It mirrors the cutover
 * (daemon/cutover.c) with the roles of the servers swapped: the pause is
 * on the target's new tables, the barrier goes into the target's
 * ferry.signal (the signal table lives on the server being read) and is
 * seen in the source server's ferry.offsets, where the reverse sink
 * records it.
 */
#include "daemon/rollback.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/signal_table.h"
#include "connectors/verify.h"
#include "daemon/barrier.h"
#include "daemon/endpoint.h"
#include "daemon/reverse.h"
#include "daemon/write_pause.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rollback {
        const struct cfg *cfg, *rcfg;
        struct pipeline *rp;
        const struct mapping *fwd;
        char *const *tables;
        bool dry_run;
        /* Copied at the start: SIGHUP may change the config meanwhile. */
        int64_t max_lag_ms;

        pthread_t thread;
        atomic_bool finished;

        /* Written by the thread; read after finished. */
        char reason[1024];
        const char *result;
        bool switched;
        json_t *steps;
        json_t *verify;
        char barrier[64];

        /* Thread-only, but wp.pause_ms: read after finished. The pause
         * on the new tables owns the locking connection. */
        struct write_pause wp;
        MYSQL *tgt, *src;
};

static int fail(struct rollback *rb, const char *result, const char *fmt, ...)
        FERRY_PRINTF(3, 4);
static int fail(struct rollback *rb, const char *result, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rb->reason, sizeof(rb->reason), fmt, ap);
        va_end(ap);
        rb->result = result;
        return -1;
}

static void step(struct rollback *rb, const char *name, uint64_t since_us)
{
        json_object_set_new(
                rb->steps, name,
                json_real((double)(clock_mono_us() - since_us) / 1000.0));
}

/* ms left before the pause must end or the rollback must end. */
static int64_t budget_ms(struct rollback *rb)
{
        return write_pause_budget_ms(&rb->wp);
}

static int preconditions(struct rollback *rb)
{
        char why[512];
        double s, k, total;
        if (!rb->tables[0])
                return fail(rb, "refused", "no retired table to move back");
        if (!pipeline_ready(rb->rp, why, sizeof(why)))
                return fail(rb, "refused",
                            "the reverse stream is not "
                            "running: %s",
                            why);
        pipeline_lags(rb->rp, &s, &k, &total);
        if (total * 1000.0 > (double)rb->max_lag_ms)
                return fail(rb, "refused",
                            "reverse lag %.1fs is over max_lag %.1fs: wait "
                            "for the reverse stream to catch up",
                            total, (double)rb->max_lag_ms / 1000);
        return 0;
}

static int connect_all(struct rollback *rb)
{
        struct db_endpoint t = cfg_endpoint(&rb->cfg->sink.db);
        struct db_endpoint s = cfg_endpoint(&rb->cfg->source.db);
        char err[512];
        if (write_pause_connect(&rb->wp, &t, err, sizeof(err)) ||
            db_connect(&rb->tgt, &t, 30, err, sizeof(err)) ||
            db_connect(&rb->src, &s, 30, err, sizeof(err)))
                return fail(rb, "failed", "connecting: %s", err);
        if (signal_table_ensure(rb->tgt, err, sizeof(err)))
                return fail(rb, "failed", "target: %s", err);
        return 0;
}

/* Pauses writes on every new table the retired ones feed. */
static int pause_writes(struct rollback *rb)
{
        char err[1024];
        struct buf q;
        buf_init(&q);
        for (size_t i = 0; rb->tables[i]; i++) {
                const char *const *t =
                        mapping_source_targets(rb->fwd, rb->tables[i]);
                for (; t && *t; t++)
                        write_pause_put_table(&q, rb->cfg->sink.db.database,
                                              *t);
        }
        int rc =
                write_pause_take(&rb->wp, buf_cstr(&q), NULL, err, sizeof(err));
        buf_free(&q);
        if (rc)
                return fail(rb, "failed", "%s", err);
        return 0;
}

/* Everything written to the new tables before the pause is in the
 * retired ones once the reverse sink has applied the barrier. */
static int drain(struct rollback *rb)
{
        char err[512];
        int64_t left = budget_ms(rb);
        if (barrier_pass(rb->rcfg, rb->tgt, rb->src, left > 0 ? left : 0, NULL,
                         rb->barrier, sizeof(rb->barrier), err, sizeof(err)))
                return fail(rb, "failed",
                            "draining the reverse stream (within "
                            "lock_timeout and drain_timeout): %s",
                            err);
        return 0;
}

/* Retired vs new through the forward mapping, by row counts (the
 * checksum would flag every lossy column, see docs/mapping.md), table by
 * table: only the retired tables are there to count. */
static int verify_paused(struct rollback *rb)
{
        const struct cfg *cfg = rb->cfg;
        char err[1024];
        int64_t left = budget_ms(rb);
        if (write_pause_limit_session(rb->src, left, err, sizeof(err)) ||
            write_pause_limit_session(rb->tgt, left, err, sizeof(err)))
                return fail(rb, "failed", "verify: %s", err);
        json_t *all = json_array();
        json_object_set_new(rb->verify, "paused_counts", all);
        bool clean = true;
        for (size_t i = 0; rb->tables[i]; i++) {
                struct verify_opts o;
                verify_opts_init(&o);
                o.only_table = rb->tables[i];
                struct verify_report *r = NULL;
                if (verify_counts(rb->fwd, rb->src, cfg->cutover.retired_schema,
                                  rb->tgt, cfg->sink.db.database, &o, &r, err,
                                  sizeof(err))) {
                        verify_report_free(r);
                        return fail(rb, "failed",
                                    "row counts of %s in the pause: %s",
                                    rb->tables[i], err);
                }
                json_t *j = verify_report_json(r);
                clean = clean && verify_report_clean(r);
                verify_report_free(r);
                size_t k;
                json_t *t;
                json_array_foreach(json_object_get(j, "tables"), k, t)
                        json_array_append(all, t);
                json_decref(j);
        }
        if (!clean) {
                char *text = json_dumps(all, JSON_COMPACT);
                log_error("rollback: row counts differ: %s", text ? text : "?");
                free(text);
                return fail(rb, "failed",
                            "row counts of the retired and the new tables "
                            "differ (see ferryctl status --json)");
        }
        return 0;
}

/* One RENAME moves every retired table back: all or none. */
static int switch_back(struct rollback *rb)
{
        const struct cfg *cfg = rb->cfg;
        char err[512];
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "RENAME TABLE ");
        for (size_t i = 0; rb->tables[i]; i++) {
                if (i)
                        buf_puts(&q, ", ");
                db_put_ident(&q, cfg->cutover.retired_schema);
                buf_putc(&q, '.');
                db_put_ident(&q, rb->tables[i]);
                buf_puts(&q, " TO ");
                db_put_ident(&q, cfg->source.db.database);
                buf_putc(&q, '.');
                db_put_ident(&q, rb->tables[i]);
        }
        int rc = write_pause_limit_session(rb->src, budget_ms(rb), err,
                                           sizeof(err));
        if (rc == 0)
                rc = db_exec(rb->src, buf_cstr(&q), err, sizeof(err));
        buf_free(&q);
        if (rc)
                return fail(rb, "failed",
                            "rename back into %s failed, the tables stay in "
                            "%s: %s",
                            cfg->source.db.database,
                            cfg->cutover.retired_schema, err);
        return 0;
}

static void run(struct rollback *rb)
{
        uint64_t t;
        char err[512];
        if (preconditions(rb) || connect_all(rb))
                return;
        write_pause_begin(&rb->wp);
        if (pause_writes(rb))
                return;
        t = clock_mono_us();
        if (drain(rb))
                return;
        step(rb, "drain_ms", t);
        t = clock_mono_us();
        if (verify_paused(rb))
                return;
        step(rb, "verify_paused_ms", t);
        if (budget_ms(rb) <= 0) {
                fail(rb, "failed", "out of time before the switch");
                return;
        }
        if (!rb->dry_run) {
                t = clock_mono_us();
                if (switch_back(rb))
                        return;
                step(rb, "switch_ms", t);
                /* Nothing more may reach the moved tables from here. */
                pipeline_request_stop(rb->rp);
                rb->switched = true;
        }
        write_pause_release(&rb->wp);
        rb->result = rb->dry_run ? "dry_run_succeeded" : "succeeded";
        if (rb->switched && rollback_record(rb->cfg, rb->tgt, err, sizeof(err)))
                log_error("rollback: recording it in ferry.offsets failed "
                          "(%s): a restarted ferryd would stream back again",
                          err);
}

static void *rollback_main(void *arg)
{
        struct rollback *rb = arg;
        write_pause_begin(&rb->wp);
        log_info("rollback: starting%s", rb->dry_run ? " (dry run)" : "");
        run(rb);
        write_pause_release(&rb->wp);
        if (!rb->result)
                rb->result = "failed";
        if (rb->wp.pause_ms > 0)
                json_object_set_new(rb->steps, "pause_ms",
                                    json_real(rb->wp.pause_ms));
        if (!strcmp(rb->result, "succeeded") ||
            !strcmp(rb->result, "dry_run_succeeded"))
                log_info("rollback: %s pause_ms=%.1f barrier=%s", rb->result,
                         rb->wp.pause_ms, rb->barrier);
        else
                log_error("rollback: %s: %s pause_ms=%.1f", rb->result,
                          rb->reason, rb->wp.pause_ms);
        write_pause_close(&rb->wp);
        mysql_close(rb->tgt);
        mysql_close(rb->src);
        rb->tgt = rb->src = NULL;
        atomic_store(&rb->finished, true);
        return NULL;
}

struct rollback *rollback_start(const struct cfg *cfg, const struct cfg *rcfg,
                                struct pipeline *rp, const struct mapping *fwd,
                                char *const *tables, bool dry_run)
{
        struct rollback *rb = xcalloc(1, sizeof(*rb));
        rb->cfg = cfg;
        rb->rcfg = rcfg;
        rb->rp = rp;
        rb->fwd = fwd;
        rb->tables = tables;
        rb->dry_run = dry_run;
        rb->max_lag_ms = cfg->cutover.max_lag_ms;
        write_pause_init(&rb->wp, "rollback", "writes to the new tables",
                         "the new tables", cfg->cutover.lock_timeout_ms,
                         cfg->cutover.drain_timeout_ms);
        rb->steps = json_object();
        rb->verify = json_object();
        pthread_create(&rb->thread, NULL, rollback_main, rb);
        return rb;
}

bool rollback_finished(struct rollback *rb)
{
        return atomic_load(&rb->finished);
}

bool rollback_switched(struct rollback *rb)
{
        return rb->switched;
}

json_t *rollback_result(struct rollback *rb)
{
        return json_pack("{s:s, s:s, s:f, s:O, s:O, s:s, s:b}", "result",
                         rb->result ? rb->result : "running", "reason",
                         rb->reason, "pause_ms", rb->wp.pause_ms, "steps",
                         rb->steps, "verify", rb->verify, "barrier",
                         rb->barrier, "dry_run", rb->dry_run);
}

void rollback_free(struct rollback *rb)
{
        if (!rb)
                return;
        pthread_join(rb->thread, NULL);
        json_decref(rb->steps);
        json_decref(rb->verify);
        free(rb);
}
