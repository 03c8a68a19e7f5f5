/* SPDX-License-Identifier: Apache-2.0
 * The service loop; see service.h. Signals are libevent events, so no
 * work happens inside a signal handler; the pipeline's threads report
 * back through state the loop polls on a short timer.
 */
#include "daemon/service.h"
#include "common/log.h"
#include "daemon/ferry_version.h"
#include "daemon/http.h"
#include "daemon/kafka_sink.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

struct service {
        struct cfg *cfg;
        struct event_base *base;
        struct pipeline *pipe;     /* transport = direct */
        struct kafka_sink *ksink;  /* transport = kafka, role = sink */
        bool stopping;
        int status_ticks;
};

/* The flow this process runs is either the direct pipeline or the
 * Kafka sink; these forward to whichever it is. */
static bool ready_cb(void *opaque, char *reason, size_t reason_size)
{
        struct service *s = opaque;
        if (s->ksink)
                return kafka_sink_ready(s->ksink, reason, reason_size);
        return pipeline_ready(s->pipe, reason, reason_size);
}

static void flow_request_stop(struct service *s)
{
        if (s->ksink)
                kafka_sink_request_stop(s->ksink);
        else
                pipeline_request_stop(s->pipe);
}

static bool flow_finished(struct service *s)
{
        return s->ksink ? kafka_sink_finished(s->ksink)
                        : pipeline_finished(s->pipe);
}

static void flow_lags(struct service *s, double *src, double *sink,
                      double *total)
{
        if (s->ksink)
                kafka_sink_lags(s->ksink, src, sink, total);
        else
                pipeline_lags(s->pipe, src, sink, total);
}

static int flow_free(struct service *s)
{
        return s->ksink ? kafka_sink_free(s->ksink) : pipeline_free(s->pipe);
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
        flow_request_stop(s);
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
        if (flow_finished(s)) {
                event_base_loopbreak(s->base);
                return;
        }
        sd_notify(0, "WATCHDOG=1");
        if (++s->status_ticks % 10 == 0) {
                double src, sink, total;
                flow_lags(s, &src, &sink, &total);
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

        bool kafka_sink = cfg->daemon.transport == CFG_TRANSPORT_KAFKA &&
                          cfg->daemon.role == CFG_ROLE_SINK;
        if (cfg->daemon.transport != CFG_TRANSPORT_DIRECT && !kafka_sink) {
                log_error("transport = kafka is built for role = sink only "
                          "so far; use transport = direct");
                return 78;
        }
        struct metrics *reg = metrics_new();
        metrics_register_process(reg, FERRY_VERSION);
        s.base = event_base_new();

        if (kafka_sink ? kafka_sink_start(cfg, reg, &s.ksink, err, sizeof(err))
                       : pipeline_start(cfg, reg, &s.pipe, err, sizeof(err))) {
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

        sd_notify(0, "READY=1\nSTATUS=starting the pipeline");
        event_base_dispatch(s.base);

        event_free(ev_term);
        event_free(ev_int);
        event_free(ev_hup);
        event_free(tick);
out:
        rc = flow_free(&s) ? 1 : 0;
        http_server_free(http);
        event_base_free(s.base);
        metrics_free(reg);
        if (rc == 0)
                log_info("stopped cleanly");
        return rc;
}
