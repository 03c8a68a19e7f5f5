/* SPDX-License-Identifier: Apache-2.0
 * The service loop; see service.h. Signals are libevent events, so no
 * work happens inside a signal handler; the pipeline's threads report
 * back through state the loop polls on a short timer.
 */
#include "daemon/service.h"
#include "common/log.h"
#include "daemon/ferry_version.h"
#include "daemon/flow.h"
#include "daemon/http.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"
#include "daemon/service_int.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static bool ready_cb(void *opaque, char *reason, size_t reason_size)
{
        struct service *s = opaque;
        if (!s->flow) {
                snprintf(reason, reason_size, "starting");
                return false;
        }
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
        char fixed[512];
        size_t n = cfg_reload_diff(s->cfg, fresh, fixed, sizeof(fixed));
        if (fresh->daemon.log_level != s->cfg->daemon.log_level) {
                log_set_level((enum log_level)fresh->daemon.log_level);
                s->cfg->daemon.log_level = fresh->daemon.log_level;
        }
        /* Read by the loop thread only (a cutover copies its settings
         * when it starts), so plain stores are enough. */
        s->cfg->cutover.max_lag_ms = fresh->cutover.max_lag_ms;
        s->cfg->cutover.lock_timeout_ms = fresh->cutover.lock_timeout_ms;
        s->cfg->cutover.drain_timeout_ms = fresh->cutover.drain_timeout_ms;
        s->cfg->source.backfill_max_rows_per_s =
                fresh->source.backfill_max_rows_per_s;
        s->cfg->source.backfill_max_lag_ms = fresh->source.backfill_max_lag_ms;
        s->cfg->source.backfill_max_redo_fill =
                fresh->source.backfill_max_redo_fill;
        if (n)
                log_warning("reloaded log_level, backfill throttles and "
                            "[cutover] timeouts; not applied without a "
                            "restart: %s",
                            fixed);
        else
                log_info("reloaded log_level, backfill throttles and "
                         "[cutover] timeouts");
        cfg_free(fresh);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
        struct service *s = arg;
        (void)fd;
        (void)what;
        if (s->ops->finished(s->flow)) {
                if (!s->ops->cut_over(s->flow) || s->stopping) {
                        event_base_loopbreak(s->base);
                        return;
                }
                /* Cut over: stay up to answer status and metrics. */
                if (!s->cut_over)
                        log_info("cut over: the stream has ended; ferryd "
                                 "stays up for status until stopped");
                s->cut_over = true;
        }
        sd_notify(0, "WATCHDOG=1");
        control_verbs_tick(s);
        if (s->reverse)
                reverse_tick(s->reverse, s->cut_over && !s->cutover);
        if (s->pipe) {
                pipeline_publish_backfill(s->pipe);
                pipeline_throttle(s->pipe);
        }
        if (++s->status_ticks % 10 == 0) {
                double src, sink, total;
                s->ops->lags(s->flow, &src, &sink, &total);
                sd_notifyf(0,
                           "STATUS=%s, lag %.1fs (source %.1fs, "
                           "sink %.1fs)",
                           service_state(s), total, src, sink);
        }
}

int service_run(struct cfg *cfg)
{
        struct service s = {.cfg = cfg};
        char err[1024];
        int rc = 1;
        bool failed = true; /* until the loop has run */

        if (!(s.ops = flow_for(cfg, err, sizeof(err)))) {
                log_error("%s", err);
                return 78;
        }
        struct metrics *reg = metrics_new();
        s.reg = reg;
        metrics_register_process(reg, FERRY_VERSION);
        s.base = event_base_new();

        /* The endpoints first: a second ferryd with this config stops
         * here, before its replica connection could displace ours. */
        struct http_server *http = NULL;
        if (cfg->daemon.control_socket[0]) {
                s.ctl = control_new(s.base, cfg->daemon.control_socket, err,
                                    sizeof(err));
                if (!s.ctl) {
                        log_error("%s", err);
                        goto out;
                }
                log_info("control socket listening path=%s",
                         cfg->daemon.control_socket);
        }
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
        /* A mapping that cannot stream back stops us now, not after
         * the cutover. */
        if (reverse_check(cfg, err, sizeof(err))) {
                log_error("%s", err);
                rc = 78;
                failed = false;
                goto out;
        }
        log_info("starting the %s", s.ops->name);
        if (s.ops->start(cfg, reg, &s.flow, err, sizeof(err))) {
                log_error("cannot start: %s", err);
                rc = 78;
                failed = false;
                goto out;
        }
        if (s.ops == &flow_direct) {
                s.pipe = s.flow;
                s.reverse = reverse_new(cfg, reg);
        }
        control_verbs_register(&s);

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
        failed = false;

        event_free(ev_term);
        event_free(ev_int);
        event_free(ev_hup);
        event_free(tick);
out:
        if (s.flow)
                control_verbs_shutdown(&s);
        control_free(s.ctl);
        if (s.flow || failed)
                rc = (s.flow && s.ops->free(s.flow)) || failed ? 1 : 0;
        http_server_free(http);
        event_base_free(s.base);
        metrics_free(reg);
        if (rc == 0)
                log_info("stopped cleanly");
        return rc;
}
