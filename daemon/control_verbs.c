/* SPDX-License-Identifier: Apache-2.0
 * What ferryctl can ask of a running ferryd (docs/control-protocol.md).
 * Verbs that take long (verify, cutover) run in threads; their request
 * is answered from the tick once the thread has finished.
 */
#include "common/log.h"
#include "connectors/db_conn.h"
#include "connectors/signal_table.h"
#include "connectors/table_filter.h"
#include "daemon/endpoint.h"
#include "daemon/metric_names.h"
#include "daemon/service_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const states[] = {FERRY_M_CUTOVER_STATE_VALUES};

const char *service_state(struct service *s)
{
        if (s->cutover)
                return "cutting_over";
        if (s->reverse && reverse_service_state(s->reverse))
                return reverse_service_state(s->reverse);
        if (s->cut_over)
                return "cut_over";
        if (!s->pipe)
                return s->ops->finished(s->flow) ? "error"
                       : s->ops->paused(s->flow) ? "paused"
                                                 : "streaming";
        json_t *st = pipeline_status(s->pipe);
        static char state[32];
        snprintf(state, sizeof(state), "%s",
                 json_string_value(json_object_get(st, "state")));
        json_decref(st);
        return state;
}

/* Verbs that steer the direct pipeline: answers for the Kafka roles.
 * @returns the service, or NULL after answering */
static struct service *direct_only(void *opaque, struct control_req *req)
{
        struct service *s = opaque;
        if (!s->pipe)
                control_req_fail(req, "not available with transport = "
                                      "kafka yet");
        return s->pipe ? s : NULL;
}

static void verb_status(void *opaque, struct control_req *req, json_t *args)
{
        struct service *s = opaque;
        const struct cfg *cfg = s->cfg;
        (void)args;
        json_t *st;
        if (s->pipe) {
                st = pipeline_status(s->pipe);
        } else {
                double sl, kl, tl;
                char why[256] = "";
                s->ops->lags(s->flow, &sl, &kl, &tl);
                bool ready = s->ops->ready(s->flow, why, sizeof(why));
                st = json_pack("{s:f, s:f, s:f, s:b, s:o, s:[]}", "lag_seconds",
                               tl, "source_lag_seconds", sl, "sink_lag_seconds",
                               kl, "ready", ready, "last_error",
                               ready ? json_null() : json_string(why),
                               "backfill");
        }
        json_object_set_new(st, "state", json_string(service_state(s)));
        if (s->pipe) {
                json_object_set_new(
                        st, "backfill_held",
                        json_boolean(pipeline_backfill_held(s->pipe)));
                double fill = pipeline_redo_fill(s->pipe);
                json_object_set_new(st, "sink_redo_fill",
                                    fill < 0 ? json_null() : json_real(fill));
        }
        json_object_set_new(st, "role",
                            json_string(cfg->daemon.role == CFG_ROLE_ALL ? "all"
                                        : cfg->daemon.role == CFG_ROLE_SOURCE
                                                ? "source"
                                                : "sink"));
        json_object_set_new(
                st, "transport",
                json_string(cfg->daemon.transport == CFG_TRANSPORT_DIRECT
                                    ? "direct"
                                    : "kafka"));
        json_object_set_new(
                st, "source",
                json_pack("{s:s, s:s}", "database", cfg->source.db.database,
                          "tables",
                          cfg->source.n_tables ? cfg->source.tables[0] : ""));
        json_object_set_new(st, "last_cutover",
                            s->last_cutover ? json_incref(s->last_cutover)
                                            : json_null());
        if (s->cutover)
                json_object_set_new(st, "cutover_step",
                                    json_string(cutover_step(s->cutover)));
        json_object_set_new(st, "last_verify",
                            s->last_verify ? json_incref(s->last_verify)
                                           : json_null());
        json_object_set_new(st, "verify_running", json_boolean(s->verify));
        if (s->reverse)
                json_object_set_new(st, "reverse", reverse_status(s->reverse));
        control_req_ok(req, st);
}

/* The direct pipeline's source waits while its queue is full; a Kafka
 * sink stops fetching and its messages wait in Kafka. */
static void set_paused(struct service *s, struct control_req *req, bool on)
{
        char err[256];
        if (s->ops->set_paused(s->flow, on, err, sizeof(err))) {
                control_req_fail(req, "%s", err);
                return;
        }
        if (on)
                log_info("sink paused by ferryctl: %s",
                         s->pipe ? "changes queue up (bounded) and the "
                                   "source waits"
                                 : "messages wait in Kafka");
        else
                log_info("sink resumed by ferryctl");
        control_req_ok(req, json_pack("{s:s}", "state", service_state(s)));
}

static void verb_pause(void *opaque, struct control_req *req, json_t *args)
{
        (void)args;
        set_paused(opaque, req, true);
}

static void verb_resume(void *opaque, struct control_req *req, json_t *args)
{
        (void)args;
        set_paused(opaque, req, false);
}

/* Backfill requests go through ferry.signal, so they take effect at a
 * definite point of the stream and work the same without this socket. */
static void verb_snapshot(void *opaque, struct control_req *req, json_t *args)
{
        struct service *s = opaque;
        const struct cfg *cfg = s->cfg;
        if (!s->pipe && cfg->daemon.role == CFG_ROLE_SINK) {
                control_req_fail(req, "a backfill is the source's: ask the "
                                      "ferryd with role = source or all");
                return;
        }
        json_t *tables = json_object_get(args, "tables");
        if (!json_is_array(tables) || !json_array_size(tables)) {
                control_req_fail(req, "snapshot needs at least one table");
                return;
        }
        size_t i;
        json_t *t;
        json_array_foreach(tables, i, t)
        {
                const char *name = json_string_value(t);
                if (!name || !table_filter_match(
                                     cfg->source.db.database,
                                     cfg->source.tables, cfg->source.n_tables,
                                     cfg->source.db.database, name)) {
                        control_req_fail(req,
                                         "table '%s' is not one [source] "
                                         "tables selects",
                                         name ? name : "?");
                        return;
                }
        }
        struct db_endpoint ep = cfg_endpoint(&cfg->source.db);
        MYSQL *my;
        char err[512];
        int rc = db_connect(&my, &ep, 10, err, sizeof(err));
        if (rc == 0)
                rc = signal_table_ensure(my, err, sizeof(err));
        json_array_foreach(tables, i, t)
        {
                if (rc)
                        break;
                rc = signal_table_write(my, "request", "snapshot",
                                        json_string_value(t), err, sizeof(err));
        }
        if (my)
                mysql_close(my);
        if (rc) {
                control_req_fail(req, "source: %s", err);
                return;
        }
        control_req_ok(req, json_pack("{s:O}", "requested", tables));
}

static void verb_verify(void *opaque, struct control_req *req, json_t *args)
{
        struct service *s = opaque;
        if (s->verify || s->cutover) {
                control_req_fail(req, "a %s is already running",
                                 s->verify ? "verify" : "cutover");
                return;
        }
        json_t *t = json_object_get(args, "table");
        if (t && !json_is_string(t)) {
                control_req_fail(req, "\"table\" must be a string");
                return;
        }
        /* Through the flow the cutover drives: its mapping, and barriers
         * that pass once its sinks, here or elsewhere, applied them. */
        const struct cutover_ops *ops;
        void *flow;
        char err[1024];
        if (!s->pipe && s->cfg->daemon.role == CFG_ROLE_SINK) {
                control_req_fail(req, "this ferryd is a kafka sink: run "
                                      "ferryctl verify against the ferryd "
                                      "with role = source (or all)");
                return;
        }
        if (s->ops->cutover(s->flow, s->cfg, &ops, &flow, err, sizeof(err))) {
                control_req_fail(req, "%s", err);
                return;
        }
        s->verify = verify_job_start(s->cfg, ops, flow, json_string_value(t));
        s->verify_req = req;
}

static void verb_cutover(void *opaque, struct control_req *req, json_t *args)
{
        struct service *s = opaque;
        if (s->cutover || s->verify) {
                control_req_fail(req, "a %s is already running",
                                 s->cutover ? "cutover" : "verify");
                return;
        }
        if (s->cut_over) {
                control_req_fail(req, "already cut over");
                return;
        }
        bool dry = json_is_true(json_object_get(args, "dry_run"));
        const struct cutover_ops *ops;
        void *target;
        char err[1024];
        if (s->ops->cutover(s->flow, s->cfg, &ops, &target, err, sizeof(err))) {
                control_req_fail(req, "%s", err);
                return;
        }
        s->cutover = cutover_start(s->cfg, ops, target, dry);
        s->cutover_req = req;
        metric_enum_set(s->m_state, 3);
}

static void verb_abort(void *opaque, struct control_req *req, json_t *args)
{
        struct service *s = opaque;
        (void)args;
        if (!s->cutover) {
                control_req_fail(req, "no cutover is running");
                return;
        }
        cutover_abort(s->cutover);
        control_req_ok(
                req, json_pack("{s:s}", "aborting", cutover_step(s->cutover)));
}

/* The reverse stream and the rollback live in reverse.c. */
static void verb_rollback(void *opaque, struct control_req *req, json_t *args)
{
        if (!direct_only(opaque, req))
                return;
        struct service *s = opaque;
        if (s->cutover || s->verify) {
                control_req_fail(req, "a %s is running",
                                 s->cutover ? "cutover" : "verify");
                return;
        }
        reverse_rollback(s->reverse, req, args);
}

static void finish_cutover(struct service *s)
{
        json_t *r = cutover_result(s->cutover);
        const char *result = json_string_value(json_object_get(r, "result"));
        double pause = json_real_value(json_object_get(r, "pause_ms"));
        s->cut_over = cutover_switched(s->cutover);
        cutover_free(s->cutover);
        s->cutover = NULL;
        json_object_set_new(r, "finished_at",
                            json_integer((json_int_t)time(NULL)));
        json_decref(s->last_cutover);
        s->last_cutover = json_incref(r);
        metric_gauge_set(s->m_pause, pause / 1000.0);
        metric_gauge_set(s->m_cutover_ts, (double)time(NULL));
        if (!strcmp(result, "succeeded"))
                metric_counter_inc(s->m_cutovers_ok);
        else if (!strcmp(result, "dry_run_succeeded"))
                metric_counter_inc(s->m_cutovers_dry);
        else
                metric_counter_inc(s->m_cutovers_failed);
        if (s->cutover_req) {
                if (!strcmp(result, "succeeded") ||
                    !strcmp(result, "dry_run_succeeded"))
                        control_req_ok(s->cutover_req, r);
                else {
                        control_req_fail(s->cutover_req, "cutover %s: %s",
                                         result,
                                         json_string_value(
                                                 json_object_get(r, "reason")));
                        json_decref(r);
                }
                s->cutover_req = NULL;
        } else {
                json_decref(r);
        }
}

void control_verbs_tick(struct service *s)
{
        if (s->cutover && cutover_finished(s->cutover))
                finish_cutover(s);
        if (s->verify && verify_job_finished(s->verify)) {
                json_t *r = verify_job_result(s->verify);
                verify_job_free(s->verify);
                s->verify = NULL;
                json_decref(s->last_verify);
                s->last_verify = json_incref(r);
                json_t *e = json_object_get(r, "error");
                if (e) {
                        control_req_fail(s->verify_req, "verify: %s",
                                         json_string_value(e));
                        json_decref(r);
                } else {
                        control_req_ok(s->verify_req, r);
                }
                s->verify_req = NULL;
        }
        const char *st = service_state(s);
        for (size_t i = 0; i < sizeof(states) / sizeof(*states); i++)
                if (!strcmp(states[i], st))
                        metric_enum_set(s->m_state, i);
}

void control_verbs_shutdown(struct service *s)
{
        if (s->cutover) {
                cutover_abort(s->cutover);
                while (!cutover_finished(s->cutover)) {
                        struct timespec ts = {0, 10000000};
                        nanosleep(&ts, NULL);
                }
                finish_cutover(s);
        }
        if (s->verify) {
                verify_job_free(s->verify);
                s->verify = NULL;
                if (s->verify_req)
                        control_req_fail(s->verify_req, "ferryd is stopping");
                s->verify_req = NULL;
        }
        reverse_free(s->reverse);
        s->reverse = NULL;
        json_decref(s->last_cutover);
        json_decref(s->last_verify);
        s->last_cutover = s->last_verify = NULL;
}

void control_verbs_register(struct service *s)
{
        if (s->reg) {
                s->m_state = metrics_enum(
                        s->reg, FERRY_M_CUTOVER_STATE, "state", states,
                        sizeof(states) / sizeof(*states), NULL);
                s->m_pause = metrics_gauge(
                        s->reg, FERRY_M_CUTOVER_LAST_PAUSE_SECONDS, NULL);
                s->m_cutover_ts = metrics_gauge(
                        s->reg, FERRY_M_CUTOVER_LAST_TIMESTAMP, NULL);
                s->m_cutovers_ok =
                        metrics_counter(s->reg, FERRY_M_CUTOVERS_TOTAL,
                                        "result", "success", NULL);
                s->m_cutovers_failed =
                        metrics_counter(s->reg, FERRY_M_CUTOVERS_TOTAL,
                                        "result", "failed", NULL);
                s->m_cutovers_dry =
                        metrics_counter(s->reg, FERRY_M_CUTOVERS_TOTAL,
                                        "result", "dry_run", NULL);
        }
        if (!s->ctl)
                return;
        control_register(s->ctl, "status", verb_status, s);
        control_register(s->ctl, "pause", verb_pause, s);
        control_register(s->ctl, "resume", verb_resume, s);
        control_register(s->ctl, "snapshot", verb_snapshot, s);
        control_register(s->ctl, "verify", verb_verify, s);
        control_register(s->ctl, "cutover", verb_cutover, s);
        control_register(s->ctl, "abort", verb_abort, s);
        control_register(s->ctl, "rollback", verb_rollback, s);
}
