/* SPDX-License-Identifier: Apache-2.0
 * The cutover over the Kafka source role; see cutover_flows.h.
 *
 * The sinks may run anywhere, so everything is seen in the target: a
 * barrier written to ferry.signal is read from the binlog by the source
 * after every change committed before it and produced to every
 * partition of every topic of the source database; each sink worker
 * records it per partition (part "barrier:<topic>:<partition>" of
 * pipeline "kafka:<group>" in ferry.offsets) in the transaction that
 * applies what came before it there. The barrier has passed once every
 * partition it went to shows its id.
 */
#include "daemon/cutover_flows.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "daemon/barrier.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 5 /* sinks commit in batches: no need to ask more often */

struct cutover_kafka {
        const struct cfg *cfg;
        struct kafka_source *ks;
        struct kafka_sink *sink; /* the same process's sink role, or NULL */
        struct mapping *map;
};

static bool kafka_refuse(void *flow, char *why, size_t why_size)
{
        struct cutover_kafka *ck = flow;
        char r[512];
        if (!kafka_source_ready(ck->ks, r, sizeof(r))) {
                snprintf(why, why_size, "the kafka source is not streaming: %s",
                         r);
                return true;
        }
        if (ck->sink && !kafka_sink_ready(ck->sink, r, sizeof(r))) {
                snprintf(why, why_size, "the kafka sink is not streaming: %s",
                         r);
                return true;
        }
        return false;
}

static bool kafka_backfill_done(void *flow)
{
        struct cutover_kafka *ck = flow;
        return kafka_source_backfill_done(ck->ks);
}

/* With the sink elsewhere only the source's lag is known here; the
 * drain, bounded by drain_timeout, is what waits for remote sinks. */
static void kafka_lags(void *flow, double *source, double *sink, double *total)
{
        struct cutover_kafka *ck = flow;
        double s, k, t;
        kafka_source_lags(ck->ks, source, sink, total);
        if (!ck->sink)
                return;
        kafka_sink_lags(ck->sink, &s, &k, &t);
        *sink = k;
        if (k > *total)
                *total = k;
}

static struct touched_keys *kafka_touched(void *flow)
{
        struct cutover_kafka *ck = flow;
        return kafka_source_touched_keys(ck->ks);
}

/* @returns whether to give up, with errstr saying why: "<who> did not
 * <did> barrier ID within Nms" */
static bool out_of_time(const atomic_bool *abort, uint64_t deadline,
                        const char *who, const char *did, const char *id,
                        int64_t timeout_ms, char *errstr, size_t errstr_size)
{
        if (abort && atomic_load(abort)) {
                snprintf(errstr, errstr_size,
                         "aborted while waiting for %s to %s barrier %s", who,
                         did, id);
                return true;
        }
        if (clock_mono_ms() > deadline) {
                snprintf(errstr, errstr_size,
                         "%s did not %s barrier %s within %lldms", who, did, id,
                         (long long)timeout_ms);
                return true;
        }
        return false;
}

/* Reads every barrier part of the sinks' pipeline: {part: id}. */
static int read_barriers(MYSQL *dst, const char *sql, json_t **out,
                         char *errstr, size_t errstr_size)
{
        if (mysql_query(dst, sql)) {
                snprintf(errstr, errstr_size, "reading ferry.offsets: %s",
                         mysql_error(dst));
                return db_classify(mysql_errno(dst));
        }
        MYSQL_RES *res = mysql_store_result(dst);
        if (!res) {
                snprintf(errstr, errstr_size, "reading ferry.offsets: %s",
                         mysql_error(dst));
                return db_classify(mysql_errno(dst));
        }
        *out = json_object();
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                if (row[0] && row[1])
                        json_object_set_new(*out, row[0], json_string(row[1]));
        mysql_free_result(res);
        return 0;
}

/* How many partitions of sent do not show id yet; the first one in
 * first. */
static size_t missing(json_t *sent, json_t *seen, const char *id, char *first,
                      size_t first_size, size_t *total)
{
        const char *topic;
        json_t *n;
        size_t miss = 0;
        char part[600];
        *total = 0;
        json_object_foreach(sent, topic, n)
        {
                for (json_int_t p = 0; p < json_integer_value(n); p++) {
                        snprintf(part, sizeof(part), "barrier:%s:%" PRId64,
                                 topic, (int64_t)p);
                        const char *got =
                                json_string_value(json_object_get(seen, part));
                        (*total)++;
                        if (got && !strcmp(got, id))
                                continue;
                        if (!miss++)
                                snprintf(first, first_size, "%s", part + 8);
                }
        }
        return miss;
}

static int wait_applied(struct cutover_kafka *ck, MYSQL *dst, json_t *sent,
                        const char *id, uint64_t deadline, int64_t timeout_ms,
                        const atomic_bool *abort, char *errstr,
                        size_t errstr_size)
{
        char name[300], first[600] = "", err[512];
        size_t miss = 0, total = 0;
        int rc = 0;
        kafka_sink_pipeline_name(ck->cfg, name, sizeof(name));
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT part, position FROM ferry.offsets WHERE "
                     "pipeline = ");
        db_put_quoted(dst, &q, name, strlen(name));
        buf_puts(&q, " AND part LIKE 'barrier:%'");
        for (;;) {
                json_t *seen = NULL;
                if ((rc = read_barriers(dst, buf_cstr(&q), &seen, errstr,
                                        errstr_size)))
                        break;
                miss = missing(sent, seen, id, first, sizeof(first), &total);
                json_decref(seen);
                if (!miss)
                        break;
                if (out_of_time(abort, deadline, "the sink", "apply", id,
                                timeout_ms, err, sizeof(err))) {
                        snprintf(errstr, errstr_size,
                                 "%s on %zu of %zu partitions (%s first; "
                                 "are the sink workers of group %s "
                                 "running?)",
                                 err, miss, total, first, ck->cfg->sink.group);
                        rc = FERRY_ERR_RETRY;
                        break;
                }
                clock_sleep_ms(POLL_MS);
        }
        buf_free(&q);
        return rc;
}

static int kafka_barrier(void *flow, MYSQL *src, MYSQL *dst, int64_t timeout_ms,
                         const atomic_bool *abort, char *id, size_t id_size,
                         char *errstr, size_t errstr_size)
{
        struct cutover_kafka *ck = flow;
        uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
        int rc = barrier_write(ck->cfg, src, id, id_size, errstr, errstr_size);
        if (rc)
                return rc;
        /* First the source must have read it and produced it: that says
         * to which partitions (the topics may have grown since). */
        json_t *sent;
        while (!(sent = kafka_source_barrier_sent(ck->ks, id))) {
                if (out_of_time(abort, deadline, "the kafka source", "produce",
                                id, timeout_ms, errstr, errstr_size))
                        return FERRY_ERR_RETRY;
                clock_sleep_ms(1);
        }
        rc = wait_applied(ck, dst, sent, id, deadline, timeout_ms, abort,
                          errstr, errstr_size);
        json_decref(sent);
        return rc;
}

static void kafka_set_retiring(void *flow, bool on)
{
        struct cutover_kafka *ck = flow;
        kafka_source_set_retiring(ck->ks, on);
}

/* The sinks have applied everything up to the barrier and nothing is
 * produced after it: they only idle until stopped. */
static void kafka_end(void *flow)
{
        struct cutover_kafka *ck = flow;
        kafka_source_end_at_cutover(ck->ks);
}

static const struct mapping *kafka_mapping(void *flow)
{
        struct cutover_kafka *ck = flow;
        return ck->map;
}

static void kafka_release(void *flow)
{
        struct cutover_kafka *ck = flow;
        if (!ck)
                return;
        mapping_free(ck->map);
        free(ck);
}

const struct cutover_ops cutover_kafka_ops = {
        .refuse = kafka_refuse,
        .backfill_done = kafka_backfill_done,
        .lags = kafka_lags,
        .touched = kafka_touched,
        .barrier = kafka_barrier,
        .set_retiring = kafka_set_retiring,
        .end = kafka_end,
        .name = kafka_sink_pipeline_name,
        .mapping = kafka_mapping,
        .release = kafka_release,
};

int cutover_kafka_new(const struct cfg *cfg, struct kafka_source *ks,
                      struct kafka_sink *sink, void **out, char *errstr,
                      size_t errstr_size)
{
        struct buf lack;
        buf_init(&lack);
        if (!cfg->sink.db.user)
                buf_puts(&lack, "user, ");
        if (!cfg->sink.db.database)
                buf_puts(&lack, "database, ");
        if (!cfg->sink.mapping)
                buf_puts(&lack, "mapping, ");
        if (lack.len) {
                /* One line saying exactly what to add, and where. */
                lack.len -= 2;
                snprintf(errstr, errstr_size,
                         "the cutover verifies the target from this ferryd: "
                         "add [sink] %s (and host/port or socket, group as "
                         "the sinks use) to %s",
                         buf_cstr(&lack), cfg->path);
                buf_free(&lack);
                return FERRY_ERR_CONFIG;
        }
        buf_free(&lack);
        struct cutover_kafka *ck = xcalloc(1, sizeof(*ck));
        char err[900];
        if (mapping_load(cfg->sink.mapping, &ck->map, err, sizeof(err))) {
                snprintf(errstr, errstr_size, "[sink] mapping: %s", err);
                free(ck);
                return FERRY_ERR_CONFIG;
        }
        ck->cfg = cfg;
        ck->ks = ks;
        ck->sink = sink;
        *out = ck;
        return 0;
}
