/* SPDX-License-Identifier: Apache-2.0
 * The cutover; see cutover.h for the steps and why they are safe.
 */
#include "daemon/cutover.h"

#include "common/clock.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/offsets_table.h"
#include "connectors/signal_table.h"
#include "connectors/table_filter.h"
#include "connectors/verify.h"
#include "daemon/barrier.h"
#include "daemon/endpoint.h"
#include "daemon/reverse.h"
#include "daemon/verify_settle.h"
#include "daemon/write_pause.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS       2   /* hook polling in the pause */
#define RECHECKS      3   /* rows in flight: look again this often */
#define NARROW_ROUNDS 4   /* online key rounds before the pause */
#define NARROW_ENOUGH 200 /* keys left for the pause to check */

struct cutover {
        const struct cfg *cfg;
        const struct cutover_ops *ops;
        void *flow;
        struct touched_keys *tk;
        const struct mapping *m;
        bool dry_run;
        /* Copied at the start: SIGHUP may change the config meanwhile. */
        int64_t max_lag_ms, count_max_rows;

        pthread_t thread;
        atomic_bool abort;
        atomic_bool finished;
        _Atomic(const char *) step;

        /* Written by the thread; read after finished. */
        char reason[1024];
        const char *result;
        bool switched;
        json_t *steps;
        json_t *verify;
        char barrier[64];
        char reverse_pos[2048]; /* target position, for reverse streaming */

        /* Thread-only state, but wp.pause_ms: read after finished. The
         * pause on the source tables owns the locking connection. */
        struct write_pause wp;
        MYSQL *src, *dst, *dst2;
        MYSQL **rename_conns; /* one per table, while switching */
        size_t nrename;
        /* Row counts, taken on each side while the pause does other
         * work: the frozen source on wp.conn during the drain, the
         * drained target on dst2 during the key checks. */
        struct verify_counts *counts;
        struct side_count {
                pthread_t thread;
                bool running;
                MYSQL *my;
                bool target;
                struct verify_counts *vc;
                int rc;
                double ms;
                char err[512];
        } count_src, count_dst;
        char **tables; /* mapped source tables, NULL-terminated */
};

static int fail(struct cutover *c, const char *result, const char *fmt, ...)
        FERRY_PRINTF(3, 4);
static int fail(struct cutover *c, const char *result, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
        c->result = atomic_load(&c->abort) ? "aborted" : result;
        return -1;
}

static void step(struct cutover *c, const char *name, uint64_t since_us)
{
        json_object_set_new(
                c->steps, name,
                json_real((double)(clock_mono_us() - since_us) / 1000.0));
}

/* ms left before the pause must end (lock_timeout) or the cutover must
 * end (drain_timeout), whichever is sooner; negative once over. */
static int64_t budget_ms(struct cutover *c)
{
        return write_pause_budget_ms(&c->wp);
}

static void *count_main(void *arg)
{
        struct side_count *sc = arg;
        uint64_t t0 = clock_mono_us();
        sc->rc = verify_counts_side(sc->vc, sc->target, sc->my, sc->err,
                                    sizeof(sc->err));
        sc->ms = (double)(clock_mono_us() - t0) / 1000.0;
        return NULL;
}

static void count_start(struct side_count *sc, struct verify_counts *vc,
                        MYSQL *my, bool target)
{
        sc->vc = vc;
        sc->my = my;
        sc->target = target;
        sc->rc = 0;
        sc->err[0] = '\0';
        sc->running = pthread_create(&sc->thread, NULL, count_main, sc) == 0;
        if (!sc->running) {
                sc->rc = FERRY_ERR_FATAL;
                snprintf(sc->err, sizeof(sc->err), "cannot start a thread");
        }
}

static int count_join(struct side_count *sc)
{
        if (sc->running)
                pthread_join(sc->thread, NULL);
        sc->running = false;
        return sc->rc;
}

static void release(struct cutover *c)
{
        /* The source count runs on the locking connection: it must be
         * done before UNLOCK (or the close) can go on it. */
        count_join(&c->count_src);
        write_pause_release(&c->wp);
}

/* The mapped source tables that [source] tables selects. */
static void list_tables(struct cutover *c)
{
        const struct cfg *cfg = c->cfg;
        const char *const *src = mapping_sources(c->m);
        size_t n = 0;
        while (src[n])
                n++;
        c->tables = xcalloc(n + 1, sizeof(*c->tables));
        for (size_t i = 0, k = 0; i < n; i++)
                if (table_filter_match(cfg->source.db.database,
                                       cfg->source.tables, cfg->source.n_tables,
                                       cfg->source.db.database, src[i]))
                        c->tables[k++] = xstrdup(src[i]);
}

static int connect_all(struct cutover *c)
{
        struct db_endpoint s = cfg_endpoint(&c->cfg->source.db);
        struct db_endpoint d = cfg_endpoint(&c->cfg->sink.db);
        char err[512];
        if (write_pause_connect(&c->wp, &s, err, sizeof(err)) ||
            db_connect(&c->src, &s, 30, err, sizeof(err)) ||
            db_connect(&c->dst, &d, 30, err, sizeof(err)) ||
            db_connect(&c->dst2, &d, 30, err, sizeof(err)))
                return fail(c, "failed", "connecting: %s", err);
        return 0;
}

/* Step 1. */
static int preconditions(struct cutover *c)
{
        double src, snk, total;
        if (!c->tables[0])
                return fail(c, "refused",
                            "no mapped table is selected by "
                            "[source] tables");
        char why[768];
        if (c->ops->refuse(c->flow, why, sizeof(why)))
                return fail(c, "refused", "%s", why);
        if (!c->ops->backfill_done(c->flow))
                return fail(c, "refused",
                            "the backfill is not done yet "
                            "(see ferryctl status)");
        c->ops->lags(c->flow, &src, &snk, &total);
        if (total * 1000.0 > (double)c->max_lag_ms)
                return fail(c, "refused",
                            "lag %.1fs is over max_lag %.1fs: wait for the "
                            "stream to catch up",
                            total, (double)c->max_lag_ms / 1000);
        return 0;
}

static int report_json(struct cutover *c, const char *what, json_t *j)
{
        json_object_set_new(c->verify, what, j);
        if (json_is_true(json_object_get(j, "clean")))
                return 0;
        char *text = json_dumps(json_object_get(j, "tables"), JSON_COMPACT);
        log_error("cutover: %s verify found differences: %s", what,
                  text ? text : "?");
        free(text);
        return fail(c, "failed",
                    "%s verify found rows that differ (see "
                    "ferryctl status --json)",
                    what);
}

static int report_verify(struct cutover *c, const char *what,
                         struct verify_report *r)
{
        return report_json(c, what, verify_report_json(r));
}

/* Step 2: everything, while writes go on; what differs is looked at
 * again once the stream has caught up (verify_settle.h). The sink
 * remembers from here what it applies. */
static int verify_online(struct cutover *c)
{
        char err[1024];
        json_t *rep;
        touched_keys_start(c->tk);
        /* A sink that cannot catch up fails this within drain_timeout. */
        if (verify_settled(c->cfg, c->m, c->src, c->dst, NULL, RECHECKS,
                           c->wp.drain_timeout_ms, c->ops->barrier, c->flow,
                           &c->abort, &rep, err, sizeof(err)))
                return fail(c, "failed", "verify: %s", err);
        return report_json(c, "online", rep);
}

/* Step 2b: the keys applied since the online verify, checked online so
 * that the pause only checks the few applied in the last moments. Each
 * round takes the remembered keys and starts remembering afresh; after
 * a barrier (all changes to them are applied) a key that matches is done
 * unless applied again, and one that differs must have been applied
 * again (then the next round or the pause checks it) or it is a real
 * difference. */
static int narrow_touched(struct cutover *c)
{
        const struct cfg *cfg = c->cfg;
        char err[1024], id[64];
        size_t checked = 0;
        bool reported = false; /* fail() already said why */
        for (int round = 0; round < NARROW_ROUNDS; round++) {
                bool overflow;
                json_t *old = touched_keys_restart(c->tk, &overflow);
                size_t n = 0;
                const char *table;
                json_t *keys;
                json_object_foreach(old, table, keys) n +=
                        json_object_size(keys);
                if (overflow || n <= NARROW_ENOUGH) {
                        /* Overflowed: the pause verifies everything; few:
                         * the pause checks them with the rest. Put them
                         * back either way. */
                        touched_keys_merge(c->tk, old, overflow);
                        json_decref(old);
                        break;
                }
                int rc = c->ops->barrier(c->flow, c->src, c->dst,
                                         c->wp.drain_timeout_ms, &c->abort, id,
                                         sizeof(id), err, sizeof(err));
                json_t *suspects = json_array(); /* [[table, key text]] */
                json_object_foreach(old, table, keys)
                {
                        if (rc)
                                break;
                        json_t *arr = json_array();
                        const char *k;
                        json_t *v;
                        json_object_foreach(keys, k, v)
                                json_array_append(arr, v);
                        struct verify_report *r = NULL;
                        rc = verify_keys(c->m, c->src, cfg->source.db.database,
                                         c->dst, cfg->sink.db.database, table,
                                         arr, NULL, &r, err, sizeof(err));
                        json_decref(arr);
                        if (rc == FERRY_ERR_CONFIG) {
                                /* keys through a transform: leave them to
                                 * the pause, which checks the table */
                                json_t *back = json_object();
                                json_object_set(back, table, keys);
                                touched_keys_merge(c->tk, back, false);
                                json_decref(back);
                                rc = 0;
                                continue;
                        }
                        checked += json_object_size(keys);
                        for (size_t i = 0; r && i < verify_report_count(r);
                             i++) {
                                const struct verify_result *res =
                                        verify_report_get(r, i);
                                for (size_t j = 0; j < res->nkeys; j++) {
                                        json_t *kj = json_loads(res->keys[j], 0,
                                                                NULL);
                                        char *kt =
                                                kj ? json_dumps(
                                                             kj,
                                                             JSON_COMPACT |
                                                                     JSON_SORT_KEYS)
                                                   : xstrdup(res->keys[j]);
                                        json_array_append_new(
                                                suspects,
                                                json_pack("[s,s]", table, kt));
                                        free(kt);
                                        json_decref(kj);
                                }
                        }
                        verify_report_free(r);
                }
                /* A key that differs was changed again at the source after
                 * the barrier (or it really differs). Once a second barrier
                 * has passed, any such change is applied, so the sink has
                 * remembered it; one it has not is a real difference. */
                if (!rc && json_array_size(suspects))
                        rc = c->ops->barrier(c->flow, c->src, c->dst,
                                             c->wp.drain_timeout_ms, &c->abort,
                                             id, sizeof(id), err, sizeof(err));
                size_t si;
                json_t *sus;
                json_array_foreach(rc ? NULL : suspects, si, sus)
                {
                        const char *st =
                                json_string_value(json_array_get(sus, 0));
                        const char *sk =
                                json_string_value(json_array_get(sus, 1));
                        if (!touched_keys_hit(c->tk, st, sk)) {
                                reported = true;
                                rc = fail(c, "failed",
                                          "%s key %s differs and was not "
                                          "changed since",
                                          st, sk);
                                break;
                        }
                }
                json_decref(suspects);
                json_decref(old);
                if (rc)
                        return reported ? rc
                                        : fail(c, "failed", "narrowing: %s",
                                               err);
        }
        json_object_set_new(c->verify, "online_keys_checked",
                            json_integer((json_int_t)checked));
        return 0;
}

/* Step 3. */
static int pause_writes(struct cutover *c)
{
        char err[1024];
        struct buf q;
        buf_init(&q);
        for (size_t i = 0; c->tables[i]; i++)
                write_pause_put_table(&q, c->cfg->source.db.database,
                                      c->tables[i]);
        int rc = write_pause_take(&c->wp, buf_cstr(&q), &c->abort, err,
                                  sizeof(err));
        buf_free(&q);
        if (c->wp.locked)
                json_object_set_new(c->steps, "lock_wait_ms",
                                    json_real(c->wp.lock_wait_ms));
        if (rc)
                return fail(c, "failed", "%s", err);
        return 0;
}

/* Step 4: everything written before the pause is applied once the
 * barrier is. */
static int drain(struct cutover *c)
{
        char err[512];
        int64_t left = budget_ms(c);
        if (c->ops->barrier(c->flow, c->src, c->dst, left > 0 ? left : 0,
                            &c->abort, c->barrier, sizeof(c->barrier), err,
                            sizeof(err)))
                return fail(c, "failed",
                            "draining (within lock_timeout "
                            "and drain_timeout): %s",
                            err);
        return 0;
}

/* Step 5: the rows touched since the online verify, and the counts. */
static int verify_paused(struct cutover *c)
{
        const struct cfg *cfg = c->cfg;
        char err[1024];
        bool overflow;
        json_t *touched = touched_keys_take(c->tk, &overflow);
        int rc = 0;
        int64_t left = budget_ms(c);
        if (write_pause_limit_session(c->src, left, err, sizeof(err)) ||
            write_pause_limit_session(c->dst, left, err, sizeof(err)) ||
            write_pause_limit_session(c->dst2, left, err, sizeof(err))) {
                json_decref(touched);
                return fail(c, "failed", "verify: %s", err);
        }
        /* The target is drained: count it while the keys are checked. */
        count_start(&c->count_dst, c->counts, c->dst2, true);
        uint64_t t_keys = clock_mono_us();
        struct verify_report *r = NULL;
        if (overflow) {
                /* Too much changed to check key by key: everything. */
                rc = verify_run(c->m, c->src, cfg->source.db.database, c->dst,
                                cfg->sink.db.database, NULL, &r, err,
                                sizeof(err));
                if (rc == 0)
                        rc = report_verify(c, "paused_full", r);
                else
                        rc = fail(c, "failed", "verify in the pause: %s", err);
                verify_report_free(r);
        }
        const char *table;
        json_t *keys;
        size_t nkeys = 0;
        json_object_foreach(overflow ? NULL : touched, table, keys)
        {
                if (rc)
                        break;
                json_t *arr = json_array();
                const char *k;
                json_t *v;
                json_object_foreach(keys, k, v) json_array_append(arr, v);
                nkeys += json_array_size(arr);
                r = NULL;
                int vrc = verify_keys(c->m, c->src, cfg->source.db.database,
                                      c->dst, cfg->sink.db.database, table, arr,
                                      NULL, &r, err, sizeof(err));
                if (vrc == FERRY_ERR_CONFIG) {
                        /* Its key goes through a transform: the keys
                         * cannot be looked up, the whole table can. */
                        struct verify_opts o;
                        verify_opts_init(&o);
                        o.only_table = table;
                        vrc = verify_run(c->m, c->src, cfg->source.db.database,
                                         c->dst, cfg->sink.db.database, &o, &r,
                                         err, sizeof(err));
                }
                if (vrc)
                        rc = fail(c, "failed", "verify of %s in the pause: %s",
                                  table, err);
                else {
                        char what[128];
                        snprintf(what, sizeof(what), "paused_keys:%.100s",
                                 table);
                        rc = report_verify(c, what, r);
                }
                verify_report_free(r);
                json_decref(arr);
        }
        json_object_set_new(
                c->steps, "verify_keys_ms",
                json_real((double)(clock_mono_us() - t_keys) / 1000.0));
        int src_rc = count_join(&c->count_src);
        int dst_rc = count_join(&c->count_dst);
        json_object_set_new(c->steps, "count_source_ms",
                            json_real(c->count_src.ms));
        json_object_set_new(c->steps, "count_target_ms",
                            json_real(c->count_dst.ms));
        if (rc == 0 && (src_rc || dst_rc))
                rc = fail(c, "failed", "row counts in the pause: %s",
                          src_rc ? c->count_src.err : c->count_dst.err);
        if (rc == 0) {
                r = verify_counts_report(c->counts);
                rc = report_verify(c, "paused_counts", r);
                verify_report_free(r);
        }
        json_object_set_new(c->verify, "paused_keys_checked",
                            json_integer((json_int_t)nkeys));
        json_decref(touched);
        if (rc == 0 && (write_pause_unlimit_session(c->src, err, sizeof(err)) ||
                        write_pause_unlimit_session(c->dst, err, sizeof(err))))
                rc = fail(c, "failed", "after verifying: %s", err);
        return rc;
}

/* exec:PATH: the hook decides by its exit code, within the budget. */
static int switch_exec(struct cutover *c, const char *path)
{
        pid_t pid = fork();
        if (pid < 0)
                return fail(c, "failed", "exec %s: fork: %s", path,
                            strerror(errno));
        if (pid == 0) {
                setenv("FERRY_BARRIER", c->barrier, 1);
                setenv("FERRY_SOURCE_DATABASE", c->cfg->source.db.database, 1);
                setenv("FERRY_TARGET_DATABASE", c->cfg->sink.db.database, 1);
                execl(path, path, "cutover", (char *)NULL);
                _exit(127);
        }
        int status;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        break;
                if (budget_ms(c) <= 0 || atomic_load(&c->abort)) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        return fail(c, "failed",
                                    "exec %s: still running "
                                    "when the pause had to end; "
                                    "killed",
                                    path);
                }
                clock_sleep_ms(POLL_MS);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return fail(c, "failed", "exec %s: %s %d", path,
                            WIFEXITED(status) ? "exited with" : "killed by",
                            WIFEXITED(status) ? WEXITSTATUS(status)
                                              : WTERMSIG(status));
        return 0;
}

/* rename: the RENAME is sent on its own connection while we still hold
 * the pause; it queues for the tables' metadata lock, and a pending
 * exclusive lock is granted before the writers that wait for a shared
 * one, so when we release no write reaches the old tables: it fails with
 * "table doesn't exist" instead, which is what old code should do. */
static void put_rename(struct buf *q, const struct cfg *cfg, const char *t,
                       bool back)
{
        const char *from = back ? cfg->cutover.retired_schema
                                : cfg->source.db.database;
        const char *to = back ? cfg->source.db.database
                              : cfg->cutover.retired_schema;
        buf_reset(q);
        buf_puts(q, "RENAME TABLE ");
        db_put_ident(q, from);
        buf_putc(q, '.');
        db_put_ident(q, t);
        buf_puts(q, " TO ");
        db_put_ident(q, to);
        buf_putc(q, '.');
        db_put_ident(q, t);
}

/* Whether thread id waits for a metadata lock (queued behind ours). */
static bool queued(struct cutover *c, unsigned long id)
{
        char sql[160], state[128], err[256];
        snprintf(sql, sizeof(sql),
                 "SELECT STATE FROM information_schema.PROCESSLIST WHERE "
                 "ID = %lu",
                 id);
        state[0] = '\0';
        if (db_query_value(c->src, sql, state, sizeof(state), err,
                           sizeof(err)))
                return true; /* cannot tell: do not wait for it */
        return strstr(state, "metadata lock") != NULL;
}

/* One RENAME per table, each on its own connection, all queued behind
 * the pause before it is released. A single multi-table RENAME would
 * wait for the first table's lock only: at the release, writers
 * waiting on the other tables would get in first and write to the old
 * tables after the verify (seen in tests). Queued per table, every
 * table has a pending exclusive lock, which MariaDB grants before the
 * writers' shared ones, so the old code's next write fails with 1146.
 * The renames cannot fail for a reason checked here before the pause
 * (the retired name taken); if one fails anyway, the others are moved
 * back. */
static int switch_rename(struct cutover *c)
{
        const struct cfg *cfg = c->cfg;
        char err[512];
        struct db_endpoint s = cfg_endpoint(&cfg->source.db);
        size_t n = 0;
        while (c->tables[n])
                n++;
        c->rename_conns = xcalloc(n, sizeof(*c->rename_conns));
        c->nrename = n;
        for (size_t i = 0; i < n; i++)
                if (db_connect(&c->rename_conns[i], &s, 30, err, sizeof(err)))
                        return fail(c, "failed", "rename: %s", err);
        struct buf q;
        buf_init(&q);
        /* The RENAME in the binlog ends the stream instead of failing it. */
        c->ops->set_retiring(c->flow, true);
        size_t sent = 0;
        for (; sent < n; sent++) {
                put_rename(&q, cfg, c->tables[sent], false);
                if (mysql_send_query(c->rename_conns[sent], q.data,
                                     (unsigned long)q.len)) {
                        snprintf(err, sizeof(err), "%s",
                                 mysql_error(c->rename_conns[sent]));
                        break;
                }
        }
        /* Wait (briefly) until they queue behind us. */
        for (size_t i = 0; i < sent; i++) {
                unsigned long id = mysql_thread_id(c->rename_conns[i]);
                for (int k = 0; k < 100 && budget_ms(c) > 0; k++) {
                        if (queued(c, id))
                                break;
                        clock_sleep_ms(1);
                }
        }
        release(c);
        bool *done = xcalloc(n, sizeof(*done));
        size_t ndone = 0;
        for (size_t i = 0; i < sent; i++) {
                done[i] = !mysql_read_query_result(c->rename_conns[i]);
                if (done[i])
                        ndone++;
                else if (ndone == i) /* the first failure names it */
                        snprintf(err, sizeof(err), "%s: %s", c->tables[i],
                                 mysql_error(c->rename_conns[i]));
        }
        int rc = 0;
        if (ndone < n) {
                for (size_t i = 0; i < n; i++) {
                        if (!done[i])
                                continue;
                        char why[256];
                        put_rename(&q, cfg, c->tables[i], true);
                        if (db_exec(c->rename_conns[i], buf_cstr(&q), why,
                                    sizeof(why)))
                                log_error("cutover: moving %s back from %s "
                                          "failed: %s (move it by hand)",
                                          c->tables[i],
                                          cfg->cutover.retired_schema, why);
                }
                c->ops->set_retiring(c->flow, false);
                if (ndone)
                        /* Its RENAME has ended the stream: say so. */
                        rc = fail(c, "failed",
                                  "rename to %s failed for %s; %zu of %zu "
                                  "tables had moved and were moved back, "
                                  "but the stream ended at their RENAME: "
                                  "check the tables, then restart ferryd "
                                  "(it will stop at that RENAME: a fresh "
                                  "backfill is the way on, runbook)",
                                  cfg->cutover.retired_schema, err, ndone,
                                  n);
                else
                        rc = fail(c, "failed",
                                  "rename to %s failed, the old tables "
                                  "stay in place: %s",
                                  cfg->cutover.retired_schema, err);
        }
        free(done);
        buf_free(&q);
        return rc;
}

/* The retired schema must not hold the names yet: a RENAME onto one
 * would fail after the pause. */
static int check_retired_free(struct cutover *c)
{
        const struct cfg *cfg = c->cfg;
        struct buf q;
        char err[512], found[256];
        buf_init(&q);
        buf_puts(&q, "SELECT GROUP_CONCAT(TABLE_NAME) FROM "
                     "information_schema.TABLES WHERE TABLE_SCHEMA = ");
        db_put_quoted(c->src, &q, cfg->cutover.retired_schema,
                      strlen(cfg->cutover.retired_schema));
        buf_puts(&q, " AND TABLE_NAME IN (");
        for (size_t i = 0; c->tables[i]; i++) {
                if (i)
                        buf_putc(&q, ',');
                db_put_quoted(c->src, &q, c->tables[i], strlen(c->tables[i]));
        }
        buf_putc(&q, ')');
        int bad = db_query_value(c->src, buf_cstr(&q), found, sizeof(found),
                                 err, sizeof(err));
        buf_free(&q);
        if (bad)
                return fail(c, "failed", "checking retired_schema: %s", err);
        if (found[0])
                return fail(c, "refused",
                            "retired_schema %s already has %s: move or drop "
                            "them first (a RENAME onto them would fail)",
                            cfg->cutover.retired_schema, found);
        return 0;
}

/* The target remembers the cutover, so a restarted ferryd stays cut
 * over instead of streaming (or failing on the RENAME) again. The
 * pipeline's stream ends: at the RENAME for rename, here otherwise. */
static void record(struct cutover *c)
{
        char name[300], err[512], value[256];
        c->ops->name(c->cfg, name, sizeof(name));
        snprintf(value, sizeof(value), "%s at %lld action=%s", c->barrier,
                 (long long)time(NULL), c->cfg->cutover.action);
        if (offsets_table_put(c->dst, name, "cutover", value, err, sizeof(err)))
                log_error("cutover: recording it in ferry.offsets failed "
                          "(%s): a restarted ferryd would stream again",
                          err);
        if (c->reverse_pos[0] &&
            reverse_record(c->cfg, c->dst, c->reverse_pos, err, sizeof(err)))
                log_error("cutover: recording the reverse start position "
                          "failed (%s): reverse streaming cannot start",
                          err);
        if (strcmp(c->cfg->cutover.action, "rename"))
                c->ops->end(c->flow);
}

static int make_switch(struct cutover *c)
{
        const char *action = c->cfg->cutover.action;
        if (c->dry_run || !strcmp(action, "none"))
                return 0;
        if (!strncmp(action, "exec:", 5))
                return switch_exec(c, action + 5);
        return switch_rename(c);
}

static void run(struct cutover *c)
{
        uint64_t t;
        char err[512];
        list_tables(c);
        atomic_store(&c->step, "checking");
        if (preconditions(c) || connect_all(c))
                return;
        if (!strcmp(c->cfg->cutover.action, "rename") && !c->dry_run) {
                struct buf q;
                buf_init(&q);
                buf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
                db_put_ident(&q, c->cfg->cutover.retired_schema);
                int bad = db_exec(c->src, buf_cstr(&q), err, sizeof(err));
                buf_free(&q);
                if (bad) {
                        fail(c, "failed", "creating retired_schema: %s", err);
                        return;
                }
        }
        if (!strcmp(c->cfg->cutover.action, "rename") &&
            check_retired_free(c))
                return;
        if (signal_table_ensure(c->src, err, sizeof(err))) {
                fail(c, "failed", "%s", err);
                return;
        }

        atomic_store(&c->step, "verifying");
        t = clock_mono_us();
        if (verify_online(c))
                return;
        step(c, "verify_online_ms", t);
        t = clock_mono_us();
        if (narrow_touched(c))
                return;
        step(c, "narrow_ms", t);
        if (atomic_load(&c->abort)) {
                fail(c, "aborted", "aborted before the pause");
                return;
        }
        /* The online verify may take long; the budget starts here. */
        write_pause_begin(&c->wp);

        struct verify_counts *vc = NULL;
        if (verify_counts_prepare(c->m, c->src, c->cfg->source.db.database,
                                  c->dst, c->cfg->sink.db.database, NULL, &vc,
                                  err, sizeof(err))) {
                fail(c, "failed", "preparing the row counts: %s", err);
                return;
        }
        c->counts = vc;
        /* A big table's COUNT(*) would stretch the pause. Leaving it out
         * loses nothing: the online verify compared its rows chunk by
         * chunk (counts included), and every row changed since is
         * compared key by key in the pause. */
        if (c->count_max_rows > 0) {
                json_t *skipped = json_array();
                int bad = verify_counts_limit(vc, c->src,
                                              (uint64_t)c->count_max_rows,
                                              skipped, err, sizeof(err));
                if (json_array_size(skipped)) {
                        char *text = json_dumps(skipped, JSON_COMPACT);
                        log_info("cutover: not counted in the pause (over "
                                 "pause_count_max_rows=%lld; compared by "
                                 "the online verify and key by key): %s",
                                 (long long)c->count_max_rows,
                                 text ? text : "?");
                        free(text);
                }
                json_object_set_new(c->verify, "counted_online_only",
                                    skipped);
                if (bad) {
                        fail(c, "failed", "preparing the row counts: %s",
                             err);
                        return;
                }
        }

        atomic_store(&c->step, "locking");
        if (pause_writes(c))
                return;
        /* The source is frozen now: count it while the stream drains,
         * bounded like every statement of the pause. */
        if (write_pause_limit_session(c->wp.conn, budget_ms(c), err,
                                      sizeof(err))) {
                fail(c, "failed", "after pausing: %s", err);
                return;
        }
        count_start(&c->count_src, c->counts, c->wp.conn, false);
        atomic_store(&c->step, "draining");
        t = clock_mono_us();
        if (drain(c))
                return;
        step(c, "drain_ms", t);
        atomic_store(&c->step, "verifying_paused");
        t = clock_mono_us();
        if (verify_paused(c))
                return;
        step(c, "verify_paused_ms", t);
        if (budget_ms(c) <= 0 || atomic_load(&c->abort)) {
                fail(c, "failed", "out of time before the switch");
                return;
        }
        /* Paused and drained: the target's position now is where a
         * reverse stream must start (reverse.h). */
        if (reverse_wanted(c->cfg) && !c->dry_run &&
            reverse_capture(c->dst, c->reverse_pos, sizeof(c->reverse_pos),
                            err, sizeof(err))) {
                fail(c, "failed", "%s", err);
                return;
        }
        atomic_store(&c->step, "switching");
        t = clock_mono_us();
        if (make_switch(c))
                return;
        step(c, "switch_ms", t);
        c->switched = !c->dry_run;
        c->result = c->dry_run ? "dry_run_succeeded" : "succeeded";
        if (c->switched)
                record(c);
}

static void *cutover_main(void *arg)
{
        struct cutover *c = arg;
        write_pause_begin(&c->wp);
        log_info("cutover: starting%s action=%s",
                 c->dry_run ? " (dry run)" : "", c->cfg->cutover.action);
        run(c);
        count_join(&c->count_dst);
        release(c);
        if (!c->result)
                c->result = "failed";
        bool overflow;
        json_decref(touched_keys_take(c->tk, &overflow));
        if (c->wp.pause_ms > 0)
                json_object_set_new(c->steps, "pause_ms",
                                    json_real(c->wp.pause_ms));
        if (!strcmp(c->result, "succeeded") ||
            !strcmp(c->result, "dry_run_succeeded"))
                log_info("cutover: %s pause_ms=%.1f barrier=%s", c->result,
                         c->wp.pause_ms, c->barrier);
        else
                log_error("cutover: %s after %s: %s pause_ms=%.1f", c->result,
                          atomic_load(&c->step), c->reason, c->wp.pause_ms);
        write_pause_close(&c->wp);
        mysql_close(c->src);
        mysql_close(c->dst);
        mysql_close(c->dst2);
        for (size_t i = 0; i < c->nrename; i++)
                mysql_close(c->rename_conns[i]);
        free(c->rename_conns);
        c->rename_conns = NULL;
        c->nrename = 0;
        c->src = c->dst = c->dst2 = NULL;
        verify_counts_free(c->counts);
        c->counts = NULL;
        atomic_store(&c->step, "done");
        atomic_store(&c->finished, true);
        return NULL;
}

struct cutover *cutover_start(const struct cfg *cfg,
                              const struct cutover_ops *ops, void *flow,
                              bool dry_run)
{
        struct cutover *c = xcalloc(1, sizeof(*c));
        c->cfg = cfg;
        c->ops = ops;
        c->flow = flow;
        c->tk = ops->touched(flow);
        c->m = ops->mapping(flow);
        c->dry_run = dry_run;
        c->max_lag_ms = cfg->cutover.max_lag_ms;
        write_pause_init(&c->wp, "cutover", "source writes",
                         "the source tables", cfg->cutover.lock_timeout_ms,
                         cfg->cutover.drain_timeout_ms);
        c->count_max_rows = cfg->cutover.pause_count_max_rows;
        c->steps = json_object();
        c->verify = json_object();
        atomic_store(&c->step, "starting");
        pthread_create(&c->thread, NULL, cutover_main, c);
        return c;
}

bool cutover_finished(struct cutover *c)
{
        return atomic_load(&c->finished);
}

void cutover_abort(struct cutover *c)
{
        atomic_store(&c->abort, true);
}

const char *cutover_step(struct cutover *c)
{
        return atomic_load(&c->step);
}

bool cutover_switched(struct cutover *c)
{
        return c->switched;
}

json_t *cutover_result(struct cutover *c)
{
        json_t *r = json_pack("{s:s, s:s, s:f, s:O, s:O, s:s, s:s, s:b}",
                              "result", c->result ? c->result : "running",
                              "reason", c->reason, "pause_ms", c->wp.pause_ms,
                              "steps", c->steps, "verify", c->verify, "barrier",
                              c->barrier, "action", c->cfg->cutover.action,
                              "dry_run", c->dry_run);
        return r;
}

void cutover_free(struct cutover *c)
{
        if (!c)
                return;
        pthread_join(c->thread, NULL);
        for (size_t i = 0; c->tables && c->tables[i]; i++)
                free(c->tables[i]);
        free(c->tables);
        json_decref(c->steps);
        json_decref(c->verify);
        c->ops->release(c->flow);
        free(c);
}
