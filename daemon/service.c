/* SPDX-License-Identifier: Apache-2.0
 * The service loop; see service.h. Signals are libevent events, so no
 * work happens inside a signal handler; the pipeline's threads report
 * back through state the loop polls on a short timer.
 */
#include "daemon/service.h"
#include "common/log.h"
#include "daemon/ferry_version.h"
#include "daemon/http.h"
#include "daemon/kafka_source.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

/* What the loop drives: the direct pipeline or one Kafka role. Each
 * flow owns its threads; the loop only starts, polls and stops it. */
struct flow_ops {
        const char *name;
        int (*start)(const struct cfg *cfg, struct metrics *reg, void **out,
                     char *errstr, size_t errstr_size);
        void (*request_stop)(void *flow);
        bool (*finished)(void *flow);
        int (*free)(void *flow);
        bool (*ready)(void *flow, char *reason, size_t reason_size);
        void (*lags)(void *flow, double *source, double *sink, double *total);
};

static int direct_start(const struct cfg *cfg, struct metrics *reg, void **out,
                        char *errstr, size_t errstr_size)
{
        struct pipeline *p = NULL;
        int rc = pipeline_start(cfg, reg, &p, errstr, errstr_size);
        *out = p;
        return rc;
}

static void direct_request_stop(void *f)
{
        pipeline_request_stop(f);
}
static bool direct_finished(void *f)
{
        return pipeline_finished(f);
}
static int direct_free(void *f)
{
        return pipeline_free(f);
}
static bool direct_ready(void *f, char *r, size_t n)
{
        return pipeline_ready(f, r, n);
}
static void direct_lags(void *f, double *a, double *b, double *c)
{
        pipeline_lags(f, a, b, c);
}

static const struct flow_ops direct_ops = {
        "direct pipeline", direct_start, direct_request_stop, direct_finished,
        direct_free,       direct_ready, direct_lags,
};

static int ksrc_start(const struct cfg *cfg, struct metrics *reg, void **out,
                      char *errstr, size_t errstr_size)
{
        struct kafka_source *ks = NULL;
        int rc = kafka_source_start(cfg, reg, &ks, errstr, errstr_size);
        *out = ks;
        return rc;
}

static void ksrc_request_stop(void *f)
{
        kafka_source_request_stop(f);
}
static bool ksrc_finished(void *f)
{
        return kafka_source_finished(f);
}
static int ksrc_free(void *f)
{
        return kafka_source_free(f);
}
static bool ksrc_ready(void *f, char *r, size_t n)
{
        return kafka_source_ready(f, r, n);
}
static void ksrc_lags(void *f, double *a, double *b, double *c)
{
        kafka_source_lags(f, a, b, c);
}

static const struct flow_ops kafka_source_ops = {
        "kafka source", ksrc_start, ksrc_request_stop, ksrc_finished,
        ksrc_free,      ksrc_ready, ksrc_lags,
};

struct service {
        struct cfg *cfg;
        struct event_base *base;
        const struct flow_ops *ops;
        void *flow;
        bool stopping;
        int status_ticks;
};

static bool ready_cb(void *opaque, char *reason, size_t reason_size)
{
        struct service *s = opaque;
        return s->ops->ready(s->flow, reason, reason_size);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
        struct service *s = arg;
        (void)what;
        if (s->stopping) {
                log_warning("second signal %d: stopping now", (int)sig);
                event_base_loopbreak(s->base);
                return;
        }
        log_info("signal %d: draining and stopping", (int)sig);
        s->stopping = true;
        sd_notify(0, "STOPPING=1");
        s->ops->request_stop(s->flow);
}

/* SIGHUP: re-read the file; apply what can change live, say what not. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
        struct service *s = arg;
        struct cfg *fresh;
        char err[1024];
        (void)sig;
        (void)what;
        if (cfg_load(s->cfg->path, &fresh, err, sizeof(err))) {
                log_error("reload refused, keeping the running config: %s",
                          err);
                return;
        }
        if (fresh->daemon.log_level != s->cfg->daemon.log_level) {
                log_set_level((enum log_level)fresh->daemon.log_level);
                s->cfg->daemon.log_level = fresh->daemon.log_level;
        }
        s->cfg->cutover.max_lag_ms = fresh->cutover.max_lag_ms;
        s->cfg->cutover.lock_timeout_ms = fresh->cutover.lock_timeout_ms;
        s->cfg->cutover.drain_timeout_ms = fresh->cutover.drain_timeout_ms;
        log_info("reloaded log_level and [cutover] timeouts; other changes "
                 "need a restart");
        cfg_free(fresh);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
        struct service *s = arg;
        (void)fd;
        (void)what;
        if (s->ops->finished(s->flow)) {
                event_base_loopbreak(s->base);
                return;
        }
        sd_notify(0, "WATCHDOG=1");
        if (++s->status_ticks % 10 == 0) {
                double src, sink, total;
                s->ops->lags(s->flow, &src, &sink, &total);
                sd_notifyf(0, "STATUS=streaming, lag %.1fs (source %.1fs, "
                              "sink %.1fs)",
                           total, src, sink);
        }
}

int service_run(struct cfg *cfg)
{
        struct service s = {.cfg = cfg};
        char err[1024];
        int rc = 1;

        if (cfg->daemon.transport == CFG_TRANSPORT_DIRECT) {
                s.ops = &direct_ops;
        } else if (cfg->daemon.role == CFG_ROLE_SOURCE) {
                s.ops = &kafka_source_ops;
        } else {
                log_error("transport = kafka is not built yet; use "
                          "transport = direct");
                return 78;
        }
        struct metrics *reg = metrics_new();
        metrics_register_process(reg, FERRY_VERSION);
        s.base = event_base_new();

        if (s.ops->start(cfg, reg, &s.flow, err, sizeof(err))) {
                log_error("cannot start: %s", err);
                event_base_free(s.base);
                metrics_free(reg);
                return 78;
        }
        struct http_server *http = NULL;
        if (cfg->daemon.metrics_listen[0]) {
                http = http_server_new(s.base, cfg->daemon.metrics_listen, reg,
                                       ready_cb, &s, err, sizeof(err));
                if (!http) {
                        log_error("%s", err);
                        goto out;
                }
                log_info("metrics listening addr=%s port=%u",
                         cfg->daemon.metrics_listen,
                         (unsigned)http_server_port(http));
        }

        struct event *ev_term = evsignal_new(s.base, SIGTERM, on_stop, &s);
        struct event *ev_int = evsignal_new(s.base, SIGINT, on_stop, &s);
        struct event *ev_hup = evsignal_new(s.base, SIGHUP, on_reload, &s);
        struct event *tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
        struct timeval period = {0, 200000};
        event_add(ev_term, NULL);
        event_add(ev_int, NULL);
        event_add(ev_hup, NULL);
        event_add(tick, &period);
        signal(SIGPIPE, SIG_IGN);

        log_info("starting the %s", s.ops->name);
        sd_notify(0, "READY=1\nSTATUS=starting the pipeline");
        event_base_dispatch(s.base);

        event_free(ev_term);
        event_free(ev_int);
        event_free(ev_hup);
        event_free(tick);
out:
        rc = s.ops->free(s.flow) ? 1 : 0;
        http_server_free(http);
        event_base_free(s.base);
        metrics_free(reg);
        if (rc == 0)
                log_info("stopped cleanly");
        return rc;
}
