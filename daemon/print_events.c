/* SPDX-License-Identifier: Apache-2.0
 * --print-events mode; see print_events.h.
 */
#include "daemon/endpoint.h"
#include "daemon/print_events.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/binlog_source.h"
#include "daemon/ferry_version.h"
#include "transforms/event_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A transaction larger than this is written before its commit, so that
 * memory stays bounded; only then can a restart repeat some lines. */
#define PRINT_TX_MAX_EVENTS 10000

struct printer {
        struct event_json_opts jopts;
        struct ferry_event *head, *tail;
        size_t n;
        struct buf line;
        bool failed;
};

static uint64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int write_all(const char *p, size_t n)
{
        while (n) {
                ssize_t w = write(STDOUT_FILENO, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static int flush_tx(struct printer *pr)
{
        char err[512];
        uint64_t now = wall_ms();
        int rc = 0;

        buf_reset(&pr->line);
        while (pr->head) {
                struct ferry_event *ev = pr->head;
                pr->head = ev->next;
                if (!rc) {
                        size_t mark = pr->line.len;
                        if (event_json_write(ev, &pr->jopts, now, &pr->line,
                                             err, sizeof(err))) {
                                pr->line.len = mark;
                                log_error("cannot encode event: %s", err);
                                rc = FERRY_ERR_DATA;
                        } else {
                                buf_putc(&pr->line, '\n');
                        }
                }
                ferry_event_free(ev);
        }
        pr->tail = NULL;
        pr->n = 0;
        if (!rc && pr->line.len && write_all(pr->line.data, pr->line.len)) {
                log_error("writing to stdout: %s", strerror(errno));
                rc = FERRY_ERR_STOP;
        }
        return rc;
}

static int on_event(struct ferry_event *ev, void *opaque)
{
        struct printer *pr = opaque;
        switch (ev->kind) {
        case FERRY_EV_ROW:
                ev->next = NULL;
                if (pr->tail)
                        pr->tail->next = ev;
                else
                        pr->head = ev;
                pr->tail = ev;
                if (++pr->n >= PRINT_TX_MAX_EVENTS)
                        return flush_tx(pr);
                return 0;
        case FERRY_EV_COMMIT:
                ferry_event_free(ev);
                return flush_tx(pr);
        default:
                ferry_event_free(ev);
                return 0;
        }
}

int print_events_run(const struct cfg *cfg, atomic_bool *stop)
{
        char err[1024];
        struct binlog_source_opts o = {
                .db = cfg_endpoint(&cfg->source.db),
                .tables = cfg->source.tables,
                .ntables = cfg->source.n_tables,
                .server_id = cfg->source.server_id,
                .heartbeat_ms = cfg->source.heartbeat_ms,
                .read_timeout_ms = cfg->source.read_timeout_ms,
                .start_gtid = cfg->source.start == CFG_START_GTID
                                      ? cfg->source.start_gtid
                                      : NULL,
        };
        if (cfg->source.start == CFG_START_SNAPSHOT)
                log_info("--print-events streams new changes only: start = "
                         "snapshot acts as start = now here");

        struct printer pr = {
                .jopts = {.name = cfg->kafka.topic_prefix,
                          .version = FERRY_VERSION,
                          .server_id = cfg->source.server_id},
        };
        buf_init(&pr.line);
        struct binlog_source *src = binlog_source_new(&o);
        int rc = binlog_source_run(src, on_event, &pr, stop, err, sizeof(err));

        /* An incomplete transaction is dropped: it is re-read from the
         * committed position on the next start. */
        while (pr.head) {
                struct ferry_event *ev = pr.head;
                pr.head = ev->next;
                ferry_event_free(ev);
        }
        struct gtid_pos pos;
        struct buf b;
        gtid_pos_init(&pos);
        buf_init(&b);
        binlog_source_committed(src, &pos);
        gtid_pos_format(&pos, &b);
        if (rc == FERRY_ERR_STOP) {
                log_info("stopped gtid=%s", buf_cstr(&b));
                rc = 0;
        } else {
                log_error("binlog source stopped: %s gtid=%s", err,
                          buf_cstr(&b));
                rc = rc == FERRY_ERR_CONFIG ? 78 : 1;
        }
        buf_free(&b);
        gtid_pos_free(&pos);
        buf_free(&pr.line);
        binlog_source_free(src);
        return rc;
}
