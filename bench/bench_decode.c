/* SPDX-License-Identifier: Apache-2.0
 * Decode benchmark: reads a server's binlog from the start through the
 * binlog source (network, framing, our row decoder, change events) and
 * counts rows, stopping at a given GTID. Prints one JSON line.
 *   bench_decode HOST PORT USER PASSWORD DB TABLES STOP_GTID [--json]
 * With --json every event is also encoded as its Debezium JSON; with
 * --print the JSON is written to stdout too (a debugging aid).
 */
#include "common/buf.h"
#include "common/log.h"
#include "connectors/binlog_source.h"
#include "transforms/event_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct counter {
        struct gtid stop;
        uint64_t rows;
        bool encode;
        bool print;
        struct buf out;
        struct event_json_opts jo;
};

static int on_event(struct ferry_event *ev, void *opaque)
{
        struct counter *c = opaque;
        int rc = 0;
        if (ev->kind == FERRY_EV_ROW) {
                c->rows++;
                if (c->encode) {
                        char err[256];
                        buf_reset(&c->out);
                        if (event_json_write(ev, &c->jo, 0, &c->out, err,
                                             sizeof(err)))
                                rc = FERRY_ERR_DATA;
                        else if (c->print)
                                printf("%s\n", buf_cstr(&c->out));
                }
        } else if (ev->kind == FERRY_EV_COMMIT &&
                   ev->pos.gtid.domain == c->stop.domain &&
                   ev->pos.gtid.seq >= c->stop.seq) {
                rc = FERRY_ERR_STOP;
        }
        ferry_event_free(ev);
        return rc;
}

static double mono(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        if (argc < 8) {
                fprintf(stderr, "usage: bench_decode HOST PORT USER PASSWORD "
                                "DB TABLES STOP_GTID [--json|--print]\n");
                return 64;
        }
        char *tables[] = {argv[6]};
        struct binlog_source_opts o = {
                .db = {.host = argv[1], .port = atoi(argv[2]),
                       .user = argv[3], .password = argv[4],
                       .database = argv[5]},
                .tables = tables,
                .ntables = 1,
                .server_id = 4999,
                .start_gtid = "",
                .max_retries = 1,
        };
        struct counter c = {.encode = argc > 8,
                            .print = argc > 8 && !strcmp(argv[8], "--print"),
                            .jo = {.name = "bench"}};
        buf_init(&c.out);
        if (gtid_parse(&c.stop, argv[7])) {
                fprintf(stderr, "bad stop GTID %s\n", argv[7]);
                return 64;
        }
        log_set_level(LOG_LVL_WARNING);
        atomic_bool stop = false;
        char err[1024];
        struct binlog_source *src = binlog_source_new(&o);
        double t0 = mono();
        int rc = binlog_source_run(src, on_event, &c, &stop, err, sizeof(err));
        double dt = mono() - t0;
        binlog_source_free(src);
        buf_free(&c.out);
        if (rc != FERRY_ERR_STOP) {
                fprintf(stderr, "bench_decode: %s\n", err);
                return 1;
        }
        fprintf(c.print ? stderr : stdout, "{\"rows\": %llu, \"seconds\": %.3f, \"rows_per_s\": %.0f}\n",
               (unsigned long long)c.rows, dt, (double)c.rows / dt);
        return 0;
}
