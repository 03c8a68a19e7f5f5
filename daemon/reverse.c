/* SPDX-License-Identifier: Apache-2.0
 * Reverse streaming; see reverse.h. The reverse stream is an ordinary
 * direct pipeline over a derived config (source = the target server and
 * database, sink = the source server's retired_schema) and the inverted
 * mapping, so it resumes, retries and records its position exactly like
 * the forward one.
 */
#include "daemon/reverse.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/offsets_table.h"
#include "connectors/table_filter.h"
#include "daemon/endpoint.h"
#include "daemon/metric_names.h"
#include "daemon/pipeline.h"
#include "daemon/rollback.h"
#include "transforms/mapping.h"
#include "transforms/mapping_reverse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 5000 /* reading the durable state again after a failure */

enum rev_state {
        REV_OFF,         /* reverse = false */
        REV_WAITING,     /* not cut over (yet) */
        REV_STREAMING,   /* the reverse pipeline runs */
        REV_EXPIRED,     /* reverse_grace is over: stopped by itself */
        REV_ROLLED_BACK, /* a rollback switched back */
        REV_FAILED,      /* cannot start (error says why) */
};

static const char *const state_names[] = {
        "off", "waiting", "streaming", "expired", "rolled_back", "error",
};

struct reverse {
        const struct cfg *cfg;
        struct metric_gauge *m_lag;
        enum rev_state state;
        uint64_t next_try_ms;
        char error[1024];
        char start_pos[2048]; /* where the stream started (part reverse) */
        long long since;      /* unix time of the cutover */

        struct cfg rcfg; /* derived; shares cfg's strings */
        char **tables;   /* the retired source tables */
        char **patterns; /* their targets, as exact LIKE patterns */
        size_t npatterns;
        struct mapping *fwd; /* the forward mapping */
        struct pipeline *rp; /* the reverse stream, or NULL */

        struct rollback *rb;        /* running, or NULL */
        struct control_req *rb_req; /* who waits for it */
        json_t *last_rollback;
};

static void log_note(void *ctx, const char *line)
{
        (void)ctx;
        log_info("reverse mapping: %s", line);
}

bool reverse_wanted(const struct cfg *cfg)
{
        return cfg->cutover.reverse && !strcmp(cfg->cutover.action, "rename");
}

int reverse_check(const struct cfg *cfg, char *errstr, size_t errstr_size)
{
        struct mapping *m, *inv;
        if (!cfg->cutover.reverse)
                return 0;
        char err[1024];
        if (mapping_load(cfg->sink.mapping, &m, err, sizeof(err))) {
                snprintf(errstr, errstr_size, "%s", err);
                return FERRY_ERR_CONFIG;
        }
        int rc = mapping_reverse(m, &inv, log_note, NULL, err, sizeof(err));
        mapping_free(m);
        if (rc) {
                snprintf(errstr, errstr_size,
                         "[cutover] reverse = true, but the mapping cannot "
                         "be streamed back: %s",
                         err);
                return FERRY_ERR_CONFIG;
        }
        mapping_free(inv);
        return 0;
}

int reverse_capture(MYSQL *dst, char *pos, size_t pos_size, char *errstr,
                    size_t errstr_size)
{
        char err[512];
        int rc = db_query_value(dst, "SELECT @@GLOBAL.gtid_binlog_pos", pos,
                                pos_size, err, sizeof(err));
        if (rc) {
                snprintf(errstr, errstr_size,
                         "reading the target's binlog position: %s", err);
                return rc;
        }
        if (!pos[0]) {
                snprintf(errstr, errstr_size,
                         "the target has no binlog position (log_bin off?): "
                         "[cutover] reverse = true needs the target's binlog "
                         "(ROW format, FULL row image, GTID) to stream back");
                return FERRY_ERR_FATAL;
        }
        return 0;
}

/* Writes part = value for the forward pipeline on my (the target). */
static int put_part(const struct cfg *cfg, MYSQL *my, const char *part,
                    const char *value, char *errstr, size_t errstr_size)
{
        char name[300];
        pipeline_name(cfg, name, sizeof(name));
        return offsets_table_put(my, name, part, value, errstr, errstr_size);
}

int reverse_record(const struct cfg *cfg, MYSQL *dst, const char *pos,
                   char *errstr, size_t errstr_size)
{
        char value[2200];
        snprintf(value, sizeof(value), "%lld %s", (long long)time(NULL), pos);
        return put_part(cfg, dst, REVERSE_PART, value, errstr, errstr_size);
}

int rollback_record(const struct cfg *cfg, MYSQL *dst, char *errstr,
                    size_t errstr_size)
{
        char value[64];
        snprintf(value, sizeof(value), "%lld", (long long)time(NULL));
        return put_part(cfg, dst, ROLLBACK_PART, value, errstr, errstr_size);
}

static double gauge_lag(void *opaque)
{
        struct reverse *r = opaque;
        double s, k, t;
        if (r->state != REV_STREAMING || !r->rp)
                return 0;
        pipeline_lags(r->rp, &s, &k, &t);
        return t;
}

struct reverse *reverse_new(const struct cfg *cfg, struct metrics *reg)
{
        struct reverse *r = xcalloc(1, sizeof(*r));
        r->cfg = cfg;
        r->state = cfg->cutover.reverse ? REV_WAITING : REV_OFF;
        if (reg) {
                r->m_lag =
                        metrics_gauge(reg, FERRY_M_REVERSE_LAG_SECONDS, NULL);
                metric_gauge_bind(r->m_lag, gauge_lag, r);
        }
        return r;
}

static void free_list(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* A name as a LIKE pattern that matches only itself. */
static char *exact_pattern(const char *name)
{
        struct buf b;
        buf_init(&b);
        for (const char *c = name; *c; c++) {
                if (*c == '_' || *c == '%' || *c == '\\')
                        buf_putc(&b, '\\');
                buf_putc(&b, *c);
        }
        char *out = xstrdup(buf_cstr(&b));
        buf_free(&b);
        return out;
}

/* The mapped source tables [source] tables selects (what a cutover
 * retires), and the targets they feed. */
static void list_tables(struct reverse *r)
{
        const struct cfg *cfg = r->cfg;
        const char *const *src = mapping_sources(r->fwd);
        size_t n = 0, k = 0;
        while (src[n])
                n++;
        r->tables = xcalloc(n + 1, sizeof(*r->tables));
        const char **targets = NULL;
        size_t nt = 0;
        for (size_t i = 0; i < n; i++) {
                if (!table_filter_match(cfg->source.db.database,
                                        cfg->source.tables,
                                        cfg->source.n_tables,
                                        cfg->source.db.database, src[i]))
                        continue;
                r->tables[k++] = xstrdup(src[i]);
                const char *const *t = mapping_source_targets(r->fwd, src[i]);
                for (; t && *t; t++) {
                        targets =
                                xrealloc(targets, (nt + 1) * sizeof(*targets));
                        targets[nt++] = *t;
                }
        }
        r->patterns = xcalloc(nt + 1, sizeof(*r->patterns));
        for (size_t i = 0; i < nt; i++)
                r->patterns[i] = exact_pattern(targets[i]);
        r->npatterns = nt;
        free(targets);
}

/* Reads parts reverse and rollback from the target. @returns 0 or an
 * error (then retried). */
static int read_state(struct reverse *r, char *rev, size_t revsz, char *rb,
                      size_t rbsz)
{
        struct db_endpoint ep = cfg_endpoint(&r->cfg->sink.db);
        MYSQL *my;
        char name[300], err[512];
        /* A short timeout: this runs in the loop, once. */
        int rc = db_connect(&my, &ep, 5, err, sizeof(err));
        if (rc) {
                snprintf(r->error, sizeof(r->error), "target: %s", err);
                return rc;
        }
        pipeline_name(r->cfg, name, sizeof(name));
        const char *parts[] = {REVERSE_PART, ROLLBACK_PART};
        char *outs[] = {rev, rb};
        size_t sizes[] = {revsz, rbsz};
        for (size_t i = 0; i < 2 && rc == 0; i++)
                rc = offsets_table_get(my, name, parts[i], outs[i], sizes[i],
                                       err, sizeof(err));
        mysql_close(my);
        if (rc)
                snprintf(r->error, sizeof(r->error),
                         "target: reading ferry.offsets: %s", err);
        return rc;
}

static void start_stream(struct reverse *r)
{
        const struct cfg *cfg = r->cfg;
        char err[1024];
        struct mapping *inv;
        if (mapping_load(cfg->sink.mapping, &r->fwd, err, sizeof(err)) ||
            mapping_reverse(r->fwd, &inv, NULL, NULL, err, sizeof(err))) {
                snprintf(r->error, sizeof(r->error), "%s", err);
                r->state = REV_FAILED;
                log_error("reverse streaming cannot start: %s", r->error);
                return;
        }
        list_tables(r);
        /* Same endpoints, the other way round. The strings stay cfg's. */
        r->rcfg = *cfg;
        r->rcfg.source.db = cfg->sink.db;
        r->rcfg.source.tables = r->patterns;
        r->rcfg.source.n_tables = r->npatterns;
        /* Its own replica id: the server drops a connection whose id
         * another replica takes (and source and target may be one). */
        r->rcfg.source.server_id =
                cfg->source.server_id + 1 ? cfg->source.server_id + 1 : 1;
        r->rcfg.source.start = CFG_START_GTID;
        r->rcfg.source.start_gtid = r->start_pos;
        r->rcfg.sink.db = cfg->source.db;
        r->rcfg.sink.db.database = cfg->cutover.retired_schema;
        log_info("reverse streaming starts: %s.* -> %s.* position=%s",
                 cfg->sink.db.database, cfg->cutover.retired_schema,
                 r->start_pos);
        pipeline_start_mapped(&r->rcfg, NULL, inv, true, &r->rp);
        r->state = REV_STREAMING;
}

static void stop_stream(struct reverse *r)
{
        if (r->rp)
                pipeline_request_stop(r->rp);
}

static void finish_rollback(struct reverse *r)
{
        json_t *res = rollback_result(r->rb);
        bool switched = rollback_switched(r->rb);
        rollback_free(r->rb);
        r->rb = NULL;
        json_object_set_new(res, "finished_at",
                            json_integer((json_int_t)time(NULL)));
        json_decref(r->last_rollback);
        r->last_rollback = json_incref(res);
        if (switched) {
                r->state = REV_ROLLED_BACK;
                log_info("rolled back: the old tables are back in %s; "
                         "reverse streaming ends",
                         r->cfg->source.db.database);
                stop_stream(r);
        }
        const char *result = json_string_value(json_object_get(res, "result"));
        if (!r->rb_req) {
                json_decref(res);
                return;
        }
        if (!strcmp(result, "succeeded") ||
            !strcmp(result, "dry_run_succeeded")) {
                control_req_ok(r->rb_req, res);
        } else {
                control_req_fail(
                        r->rb_req, "rollback %s: %s", result,
                        json_string_value(json_object_get(res, "reason")));
                json_decref(res);
        }
        r->rb_req = NULL;
}

static bool grace_over(const struct reverse *r)
{
        int64_t grace = r->cfg->cutover.reverse_grace_ms;
        return grace > 0 && (long long)time(NULL) > r->since + grace / 1000;
}

void reverse_tick(struct reverse *r, bool cut_over)
{
        if (r->rb && rollback_finished(r->rb))
                finish_rollback(r);
        /* A stopped stream (rolled back, expired) is freed once it has
         * drained; a rollback still holds it until it ends. */
        if (r->rp && !r->rb && r->state != REV_STREAMING &&
            pipeline_finished(r->rp)) {
                (void)pipeline_free(r->rp);
                r->rp = NULL;
        }
        if (r->state == REV_STREAMING && !r->rb && grace_over(r)) {
                log_info("reverse_grace is over: reverse streaming stops; "
                         "ferryctl rollback is no longer possible");
                r->state = REV_EXPIRED;
                stop_stream(r);
        }
        if (r->state != REV_WAITING || !cut_over)
                return;
        uint64_t now = clock_mono_ms();
        if (now < r->next_try_ms)
                return;
        char rev[2200] = "", rb[64] = "";
        if (read_state(r, rev, sizeof(rev), rb, sizeof(rb))) {
                log_warning("reverse streaming waits: %s", r->error);
                r->next_try_ms = now + RETRY_MS;
                return;
        }
        r->error[0] = '\0';
        if (rb[0]) {
                log_info("rolled back already (at %s): no reverse streaming",
                         rb);
                r->state = REV_ROLLED_BACK;
                return;
        }
        char *space = strchr(rev, ' ');
        if (!space || !space[1]) {
                snprintf(r->error, sizeof(r->error),
                         "the cutover recorded no reverse start position "
                         "(it ran with [cutover] reverse = false?): reverse "
                         "streaming cannot start without losing changes");
                log_error("%s", r->error);
                r->state = REV_FAILED;
                return;
        }
        *space = '\0';
        r->since = atoll(rev);
        snprintf(r->start_pos, sizeof(r->start_pos), "%s", space + 1);
        if (grace_over(r)) {
                log_info("reverse_grace is over: no reverse streaming");
                r->state = REV_EXPIRED;
                return;
        }
        start_stream(r);
}

const char *reverse_service_state(struct reverse *r)
{
        if (r->rb)
                return "rolling_back";
        if (r->state == REV_ROLLED_BACK)
                return "rolled_back";
        return NULL;
}

json_t *reverse_status(struct reverse *r)
{
        json_t *o = json_object();
        const char *state = state_names[r->state];
        double lag = 0;
        bool ready = false;
        json_t *pos = json_null(), *err = json_null();
        if (r->state == REV_STREAMING && r->rp) {
                json_t *ps = pipeline_status(r->rp);
                lag = json_real_value(json_object_get(ps, "lag_seconds"));
                ready = json_is_true(json_object_get(ps, "ready"));
                pos = json_incref(json_object_get(ps, "position"));
                if (pipeline_finished(r->rp)) {
                        state = "error";
                        err = json_incref(json_object_get(ps, "last_error"));
                }
                json_decref(ps);
        }
        if (r->rb)
                state = "rolling_back";
        if (r->error[0] && json_is_null(err)) {
                json_decref(err);
                err = json_string(r->error);
        }
        json_object_set_new(o, "enabled",
                            json_boolean(r->cfg->cutover.reverse));
        json_object_set_new(o, "state", json_string(state));
        json_object_set_new(o, "lag_seconds", json_real(lag));
        json_object_set_new(o, "ready", json_boolean(ready));
        json_object_set_new(o, "position", pos);
        json_object_set_new(o, "start_position",
                            r->start_pos[0] ? json_string(r->start_pos)
                                            : json_null());
        json_object_set_new(o, "cut_over_at",
                            r->since ? json_integer(r->since) : json_null());
        json_object_set_new(
                o, "grace_ends_at",
                r->since && r->cfg->cutover.reverse_grace_ms > 0
                        ? json_integer(r->since +
                                       r->cfg->cutover.reverse_grace_ms / 1000)
                        : json_null());
        json_object_set_new(o, "last_error", err);
        json_object_set_new(o, "last_rollback",
                            r->last_rollback ? json_incref(r->last_rollback)
                                             : json_null());
        return o;
}

void reverse_rollback(struct reverse *r, struct control_req *req, json_t *args)
{
        if (r->rb) {
                control_req_fail(req, "a rollback is already running");
                return;
        }
        switch (r->state) {
        case REV_OFF:
                control_req_fail(req, "rollback needs reverse streaming: set "
                                      "[cutover] reverse = true before the "
                                      "cutover");
                return;
        case REV_WAITING:
                control_req_fail(req, "not cut over: there is nothing to "
                                      "roll back");
                return;
        case REV_EXPIRED:
                control_req_fail(req,
                                 "reverse_grace is over: the retired tables "
                                 "no longer follow the new ones");
                return;
        case REV_ROLLED_BACK:
                control_req_fail(req, "already rolled back");
                return;
        case REV_FAILED:
                control_req_fail(req, "reverse streaming failed: %s", r->error);
                return;
        case REV_STREAMING:
                break;
        }
        if (!r->rp || pipeline_finished(r->rp)) {
                control_req_fail(req, "the reverse stream has stopped: see "
                                      "ferryctl status");
                return;
        }
        bool dry = json_is_true(json_object_get(args, "dry_run"));
        r->rb = rollback_start(r->cfg, &r->rcfg, r->rp, r->fwd, r->tables, dry);
        r->rb_req = req;
}

void reverse_free(struct reverse *r)
{
        if (!r)
                return;
        if (r->rb) {
                /* Bounded by lock_timeout and drain_timeout (and the
                 * connect timeouts): wait, and answer who asked. */
                while (!rollback_finished(r->rb))
                        clock_sleep_ms(10);
                finish_rollback(r);
        }
        if (r->m_lag)
                metric_gauge_bind(r->m_lag, NULL, NULL);
        if (r->rp) {
                pipeline_request_stop(r->rp);
                (void)pipeline_free(r->rp);
        }
        mapping_free(r->fwd);
        free_list(r->tables);
        free_list(r->patterns);
        json_decref(r->last_rollback);
        free(r);
}
