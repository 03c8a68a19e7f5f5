/* SPDX-License-Identifier: Apache-2.0
 * A stand-in ferryd for the HTTP endpoint's end-to-end test: registers
 * every catalog metric (with awkward label values), serves them on the
 * given address, prints "port N" and runs until SIGTERM/SIGINT or its
 * time limit. /readyz turns ready on SIGUSR1.
 * Usage: metrics_http_demo [LISTEN] [MAX_SECONDS]
 */
#include "common/log.h"
#include "daemon/http.h"
#include "daemon/metric_names.h"
#include "daemon/metrics.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct demo {
        struct event_base *base;
        bool ready;
        struct metric_counter *events;
        struct metric_histogram *batch;
        unsigned ticks;
};

static bool demo_ready(void *opaque, char *reason, size_t reason_size)
{
        struct demo *d = opaque;

        if (!d->ready)
                snprintf(reason, reason_size, "source not connected");
        return d->ready;
}

static double lag(void *opaque)
{
        return 0.25;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
        struct demo *d = arg;

        if (sig == SIGUSR1)
                d->ready = true;
        else
                event_base_loopbreak(d->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
        struct demo *d = arg;

        d->ticks++;
        metric_counter_add(d->events, 3);
        metric_histogram_observe(d->batch, 0.001 * (d->ticks % 50));
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
        struct demo *d = arg;

        log_warning("metrics_http_demo: time limit reached, exiting");
        event_base_loopbreak(d->base);
}

static void register_all(struct metrics *reg, struct demo *d)
{
        static const char *const states[] = {FERRY_M_CUTOVER_STATE_VALUES};
        static const char *const tables[] = {"clerk_sync_ticket",
                                             "odd \"table\"\\with\nnewline"};
        static const char *const ops[] = {"c", "u", "d", "r"};

        metrics_register_process(reg, "0.1.0-demo");
        metric_gauge_set(metrics_gauge(reg, FERRY_M_SOURCE_CONNECTED, NULL), 1);
        metric_gauge_bind(metrics_gauge(reg, FERRY_M_SOURCE_LAG_SECONDS, NULL),
                          lag, NULL);
        metric_gauge_set_int(metrics_gauge(reg, FERRY_M_SOURCE_GTID_SEQUENCE,
                                           "domain", "0", NULL),
                             1234567);
        metric_gauge_set_int(metrics_gauge(reg,
                                           FERRY_M_SOURCE_SERVER_GTID_SEQUENCE,
                                           "domain", "0", NULL),
                             1234570);
        metric_gauge_set_int(
                metrics_gauge(reg, FERRY_M_SOURCE_BINLOG_FILE_NUMBER, NULL),
                42);
        metric_gauge_set_int(
                metrics_gauge(reg, FERRY_M_SOURCE_BINLOG_POSITION, NULL),
                98765);
        metrics_counter(reg, FERRY_M_SOURCE_RECONNECTS_TOTAL, NULL);
        for (size_t t = 0; t < 2; t++) {
                for (size_t o = 0; o < 4; o++) {
                        metric_counter_add(metrics_counter(reg,
                                                           FERRY_M_EVENTS_TOTAL,
                                                           "table", tables[t],
                                                           "op", ops[o], NULL),
                                           10 * (o + 1));
                        metric_counter_add(
                                metrics_counter(reg, FERRY_M_ROWS_APPLIED_TOTAL,
                                                "table", tables[t], "op",
                                                ops[o], NULL),
                                10 * (o + 1));
                }
                metric_counter_add(
                        metrics_counter(reg, FERRY_M_SNAPSHOT_ROWS_COPIED_TOTAL,
                                        "table", tables[t], NULL),
                        500);
                metric_gauge_set(metrics_gauge(reg,
                                               FERRY_M_SNAPSHOT_ROWS_ESTIMATED,
                                               "table", tables[t], NULL),
                                 1000);
                metric_gauge_set(metrics_gauge(reg, FERRY_M_SNAPSHOT_DONE,
                                               "table", tables[t], NULL),
                                 t);
        }
        d->events = metrics_counter(reg, FERRY_M_EVENTS_TOTAL, "table",
                                    tables[0], "op", "c", NULL);
        metrics_gauge(reg, FERRY_M_DIRECT_QUEUE_EVENTS, NULL);
        metric_counter_add(metrics_counter(reg, FERRY_M_KAFKA_PRODUCED_TOTAL,
                                           "topic",
                                           "ferry.event_finder.clerk_sync_"
                                           "ticket",
                                           NULL),
                           77);
        metric_gauge_set(metrics_gauge(reg, FERRY_M_KAFKA_IN_FLIGHT, NULL), 3);
        metric_gauge_set(metrics_gauge(reg, FERRY_M_KAFKA_CONSUMER_LAG, "topic",
                                       "ferry.event_finder.clerk_sync_ticket",
                                       "partition", "0", NULL),
                         5);
        metric_gauge_set(metrics_gauge(reg, FERRY_M_SINK_LAG_SECONDS, NULL),
                         0.5);
        metric_gauge_set(
                metrics_gauge(reg, FERRY_M_REPLICATION_LAG_SECONDS, NULL),
                0.75);
        metric_gauge_set(metrics_gauge(reg, FERRY_M_SINK_REDO_FILL, NULL),
                         -1);
        d->batch = metrics_histogram(reg, FERRY_M_SINK_BATCH_SECONDS, NULL, 0,
                                     NULL);
        metric_counter_inc(metrics_counter(reg, FERRY_M_ERRORS_TOTAL, "kind",
                                           "source_retry", NULL));
        metric_enum_set(metrics_enum(reg, FERRY_M_CUTOVER_STATE, "state",
                                     states, sizeof(states) / sizeof(states[0]),
                                     NULL),
                        1);
        metric_gauge_set(
                metrics_gauge(reg, FERRY_M_CUTOVER_LAST_PAUSE_SECONDS, NULL),
                0.312);
        metrics_gauge(reg, FERRY_M_CUTOVER_LAST_TIMESTAMP, NULL);
        metrics_counter(reg, FERRY_M_CUTOVERS_TOTAL, "result", "success", NULL);
        metrics_gauge(reg, FERRY_M_REVERSE_LAG_SECONDS, NULL);
}

int main(int argc, char **argv)
{
        const char *addr = argc > 1 ? argv[1] : "127.0.0.1:0";
        int max_seconds = argc > 2 ? atoi(argv[2]) : 120;
        struct timeval tick = {0, 100000}, deadline = {0, 0};
        struct event *sigs[3], *ticker, *limit;
        static const int signums[3] = {SIGTERM, SIGINT, SIGUSR1};
        struct demo d = {0};
        struct http_server *srv;
        struct metrics *reg;
        char err[512];

        if (max_seconds <= 0 || max_seconds > 3600)
                max_seconds = 120;
        deadline.tv_sec = max_seconds;
        d.base = event_base_new();
        reg = metrics_new();
        register_all(reg, &d);
        srv = http_server_new(d.base, addr, reg, demo_ready, &d, err,
                              sizeof(err));
        if (!srv) {
                fprintf(stderr, "metrics_http_demo: %s\n", err);
                metrics_free(reg);
                event_base_free(d.base);
                return 78; /* EX_CONFIG, as ferryd --check-config */
        }
        for (int i = 0; i < 3; i++) {
                sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
                event_add(sigs[i], NULL);
        }
        ticker = event_new(d.base, -1, EV_PERSIST, on_tick, &d);
        event_add(ticker, &tick);
        limit = evtimer_new(d.base, on_deadline, &d);
        event_add(limit, &deadline);
        /* Only now: a test may signal us as soon as it reads the port. */
        printf("port %u\n", (unsigned)http_server_port(srv));
        fflush(stdout);

        event_base_dispatch(d.base);

        event_free(limit);
        event_free(ticker);
        for (int i = 0; i < 3; i++)
                event_free(sigs[i]);
        http_server_free(srv);
        metrics_free(reg);
        event_base_free(d.base);
        return 0;
}
