/* SPDX-License-Identifier: Apache-2.0
 * Kafka group consumer with externally stored positions; see
 * kafka_consumer.h. The rebalance callback runs inside
 * rd_kafka_consumer_poll and rd_kafka_consumer_close, so the owner's
 * callbacks run on the owner's own thread and may use its database
 * connection without locks.
 */
#include "connectors/kafka_consumer.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATERMARK_TIMEOUT_MS 10000

struct kafka_consumer {
        rd_kafka_t *rk;
        kafka_consumer_assign_fn *on_assign;
        kafka_consumer_revoke_fn *on_revoke;
        void *opaque;
        bool paused; /* kafka_consumer_set_paused */
        /* The first error a callback hit, returned by the next poll. */
        int err_rc;
        char err[1024];
};

/* Settings the design depends on: offsets are stored by ferry in the
 * target database, never by librdkafka, and a position Kafka no longer
 * has must surface as an error instead of a silent reset. */
static const char *const fixed[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "error"},
};

/* Defaults an operator may change through rdkafka.*. The assignors are
 * eager ones (see the header); the metadata refresh finds topics of new
 * tables that match the subscription within seconds, not minutes. */
static const char *const defaults[][2] = {
        {"partition.assignment.strategy", "range,roundrobin"},
        {"topic.metadata.refresh.interval.ms", "5000"},
        {"enable.partition.eof", "false"},
};

static void set_error(struct kafka_consumer *kc, int rc, const char *msg)
{
        if (kc->err_rc)
                return; /* the first one is the cause; later ones echo it */
        kc->err_rc = rc;
        snprintf(kc->err, sizeof(kc->err), "%s", msg);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
        (void)rk;
        enum log_level l = level <= 3   ? LOG_LVL_ERROR
                           : level <= 5 ? LOG_LVL_WARNING
                           : level == 6 ? LOG_LVL_INFO
                                        : LOG_LVL_DEBUG;
        if (log_enabled(l))
                log_msg(l, "kafka consumer: %s: %s", fac, buf);
}

/* Informational, as librdkafka documents: it retries on its own. Only
 * a fatal client error ends the flow, and that shows up in poll. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        (void)rk;
        (void)opaque;
        log_warning("kafka consumer: %s: %s",
                    rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* A stored position must still be in the partition's log: below the
 * log start it fell to retention, above the end the topic was recreated.
 * Either way changes are missing and resuming would hide the gap. */
static int check_offsets(struct kafka_consumer *kc,
                         const rd_kafka_topic_partition_list_t *parts,
                         char *errstr, size_t errstr_size)
{
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                int64_t lo, hi;
                if (p->offset < 0)
                        continue;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                        kc->rk, p->topic, p->partition, &lo, &hi,
                        WATERMARK_TIMEOUT_MS);
                if (err) {
                        snprintf(errstr, errstr_size,
                                 "topic %s partition %" PRId32
                                 ": reading its offsets: %s",
                                 p->topic, p->partition, rd_kafka_err2str(err));
                        return FERRY_ERR_RETRY;
                }
                if (p->offset < lo || p->offset > hi) {
                        snprintf(errstr, errstr_size,
                                 "topic %s partition %" PRId32
                                 ": stored offset %" PRId64
                                 " is gone from Kafka (the log holds %" PRId64
                                 "..%" PRId64 "): changes in between are "
                                 "lost to this sink; re-snapshot the "
                                 "affected tables and reset the offsets in "
                                 "ferry.offsets",
                                 p->topic, p->partition, p->offset, lo, hi);
                        return FERRY_ERR_FATAL;
                }
        }
        return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        struct kafka_consumer *kc = opaque;
        char why[1024] = "";
        int rc;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                rc = kc->on_assign(kc->opaque, parts, why, sizeof(why));
                if (!rc)
                        rc = check_offsets(kc, parts, why, sizeof(why));
                if (rc) {
                        /* Consume nothing: the owner stops this consumer,
                         * and leaving the group hands the partitions on. */
                        set_error(kc, rc, why);
                        rd_kafka_assign(rk, NULL);
                        return;
                }
                rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, parts);
                if (!aerr && kc->paused)
                        aerr = rd_kafka_pause_partitions(rk, parts);
                if (aerr) {
                        snprintf(why, sizeof(why), "assign: %s",
                                 rd_kafka_err2str(aerr));
                        set_error(kc, FERRY_ERR_RETRY, why);
                }
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                bool lost = rd_kafka_assignment_lost(rk);
                rc = kc->on_revoke(kc->opaque, parts, lost, why, sizeof(why));
                if (rc)
                        set_error(kc, rc, why);
        } else {
                snprintf(why, sizeof(why), "rebalance: %s",
                         rd_kafka_err2str(err));
                set_error(kc, FERRY_ERR_RETRY, why);
        }
        rd_kafka_assign(rk, NULL);
}

int kafka_consumer_set_paused(struct kafka_consumer *kc, bool paused,
                              char *errstr, size_t errstr_size)
{
        kc->paused = paused;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_resp_err_t err = rd_kafka_assignment(kc->rk, &parts);
        if (!err && parts->cnt)
                err = paused ? rd_kafka_pause_partitions(kc->rk, parts)
                             : rd_kafka_resume_partitions(kc->rk, parts);
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (err) {
                snprintf(errstr, errstr_size, "kafka: %s partitions: %s",
                         paused ? "pausing" : "resuming",
                         rd_kafka_err2str(err));
                return FERRY_ERR_RETRY;
        }
        return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                    char *errstr, size_t errstr_size)
{
        char why[512];
        if (rd_kafka_conf_set(conf, k, v, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "[kafka] rdkafka.%s: %s", k, why);
                return FERRY_ERR_CONFIG;
        }
        return 0;
}

static int check_passthrough(const char *k, const char *v, char *errstr,
                             size_t errstr_size)
{
        for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
                if (!strcmp(k, fixed[i][0])) {
                        snprintf(errstr, errstr_size,
                                 "[kafka] rdkafka.%s: ferry sets this "
                                 "itself (%s): the sink stores its offsets "
                                 "in the target database",
                                 k, fixed[i][1]);
                        return FERRY_ERR_CONFIG;
                }
        }
        if (!strcmp(k, "partition.assignment.strategy") &&
            strstr(v, "cooperative")) {
                snprintf(errstr, errstr_size,
                         "[kafka] rdkafka.%s: the sink uses eager "
                         "assignment; choose range and/or roundrobin",
                         k);
                return FERRY_ERR_CONFIG;
        }
        return 0;
}

static rd_kafka_conf_t *build_conf(const struct kafka_consumer_conf *c,
                                   struct kafka_consumer *kc, char *errstr,
                                   size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        int rc = conf_set(conf, "bootstrap.servers", c->brokers, errstr,
                          errstr_size);
        if (!rc)
                rc = conf_set(conf, "group.id", c->group, errstr, errstr_size);
        for (size_t i = 0; !rc && i < sizeof(defaults) / sizeof(*defaults); i++)
                rc = conf_set(conf, defaults[i][0], defaults[i][1], errstr,
                              errstr_size);
        for (size_t i = 0; !rc && i < c->n_rdkafka; i++) {
                rc = check_passthrough(c->rdkafka_keys[i], c->rdkafka_values[i],
                                       errstr, errstr_size);
                if (!rc)
                        rc = conf_set(conf, c->rdkafka_keys[i],
                                      c->rdkafka_values[i], errstr,
                                      errstr_size);
        }
        for (size_t i = 0; !rc && i < sizeof(fixed) / sizeof(*fixed); i++)
                rc = conf_set(conf, fixed[i][0], fixed[i][1], errstr,
                              errstr_size);
        if (rc) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_opaque(conf, kc);
        return conf;
}

int kafka_consumer_new(const struct kafka_consumer_conf *c,
                       struct kafka_consumer **kcp, char *errstr,
                       size_t errstr_size)
{
        char why[512];
        *kcp = NULL;
        struct kafka_consumer *kc = xcalloc(1, sizeof(*kc));
        kc->on_assign = c->on_assign;
        kc->on_revoke = c->on_revoke;
        kc->opaque = c->opaque;

        rd_kafka_conf_t *conf = build_conf(c, kc, errstr, errstr_size);
        if (!conf) {
                free(kc);
                return FERRY_ERR_CONFIG;
        }
        /* rd_kafka_new owns conf on success only. */
        kc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
        if (!kc->rk) {
                rd_kafka_conf_destroy(conf);
                free(kc);
                snprintf(errstr, errstr_size, "kafka consumer: %s", why);
                return FERRY_ERR_FATAL;
        }
        /* Route the main queue (rebalances, errors) into consumer_poll. */
        rd_kafka_poll_set_consumer(kc->rk);

        rd_kafka_topic_partition_list_t *sub =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, c->topic_regex,
                                          RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(kc->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                snprintf(errstr, errstr_size, "kafka subscribe %s: %s",
                         c->topic_regex, rd_kafka_err2str(err));
                rd_kafka_destroy(kc->rk);
                free(kc);
                return FERRY_ERR_FATAL;
        }
        *kcp = kc;
        return 0;
}

void kafka_consumer_free(struct kafka_consumer *kc)
{
        if (!kc)
                return;
        /* Close first: it runs the revoke callback, then leaves the group
         * at once instead of after session.timeout.ms. */
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(kc->rk);
        if (err)
                log_warning("kafka consumer close: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(kc->rk);
        free(kc);
}

static int message_error(struct kafka_consumer *kc, rd_kafka_message_t *m,
                         char *errstr, size_t errstr_size)
{
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
        char why[512];
        int rc = 0;

        switch (m->err) {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                break;
        case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
        case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
                snprintf(errstr, errstr_size,
                         "topic %s partition %" PRId32 ": offset %" PRId64
                         " is gone from Kafka (%s): changes are lost to "
                         "this sink; re-snapshot the affected tables and "
                         "reset the offsets in ferry.offsets",
                         topic, m->partition, m->offset,
                         rd_kafka_message_errstr(m));
                rc = FERRY_ERR_FATAL;
                break;
        case RD_KAFKA_RESP_ERR__FATAL:
                rd_kafka_fatal_error(kc->rk, why, sizeof(why));
                snprintf(errstr, errstr_size, "kafka consumer fatal: %s", why);
                rc = FERRY_ERR_FATAL;
                break;
        default:
                /* Broker down, leader moving, a topic vanishing from the
                 * subscription: librdkafka recovers on its own. */
                log_warning("kafka consumer: %s topic=%s partition=%" PRId32,
                            rd_kafka_message_errstr(m), topic, m->partition);
                break;
        }
        return rc;
}

int kafka_consumer_poll(struct kafka_consumer *kc, int timeout_ms,
                        rd_kafka_message_t **msgp, char *errstr,
                        size_t errstr_size)
{
        *msgp = NULL;
        rd_kafka_message_t *m =
                kc->err_rc ? NULL : rd_kafka_consumer_poll(kc->rk, timeout_ms);
        if (kc->err_rc) {
                if (m)
                        rd_kafka_message_destroy(m);
                snprintf(errstr, errstr_size, "%s", kc->err);
                return kc->err_rc;
        }
        if (!m)
                return 0;
        if (m->err) {
                int rc = message_error(kc, m, errstr, errstr_size);
                rd_kafka_message_destroy(m);
                return rc;
        }
        *msgp = m;
        return 0;
}

void kafka_consumer_commit_async(struct kafka_consumer *kc,
                                 const rd_kafka_topic_partition_list_t *offs)
{
        if (!offs || offs->cnt == 0)
                return;
        rd_kafka_resp_err_t err = rd_kafka_commit(kc->rk, offs, 1);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_debug("kafka commit (informative): %s",
                          rd_kafka_err2str(err));
}

int64_t kafka_consumer_lag(struct kafka_consumer *kc, const char *topic,
                           int32_t partition, int64_t next_offset)
{
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(kc->rk, topic, partition, &lo,
                                           &hi) ||
            hi < 0)
                return -1;
        return hi > next_offset ? hi - next_offset : 0;
}

const char *kafka_consumer_member(struct kafka_consumer *kc, char *buf,
                                  size_t buf_size)
{
        char *id = rd_kafka_memberid(kc->rk);
        snprintf(buf, buf_size, "%s", id ? id : "");
        if (id)
                rd_kafka_mem_free(kc->rk, id);
        return buf;
}

int kafka_consumer_seek(struct kafka_consumer *kc,
                        const rd_kafka_topic_partition_list_t *parts,
                        char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_error_t *e = rd_kafka_seek_partitions(kc->rk, l, 10000);
        int rc = 0;
        if (e) {
                snprintf(errstr, errstr_size, "seek: %s",
                         rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                rc = FERRY_ERR_RETRY;
        }
        for (int i = 0; !rc && i < l->cnt; i++) {
                if (l->elems[i].err) {
                        snprintf(errstr, errstr_size,
                                 "seek %s:%" PRId32 ": %s", l->elems[i].topic,
                                 l->elems[i].partition,
                                 rd_kafka_err2str(l->elems[i].err));
                        rc = FERRY_ERR_RETRY;
                }
        }
        rd_kafka_topic_partition_list_destroy(l);
        return rc;
}
