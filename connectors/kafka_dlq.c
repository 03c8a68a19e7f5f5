/* SPDX-License-Identifier: Apache-2.0
 * Dead-letter producer; see kafka_dlq.h.
 */
#include "connectors/kafka_dlq.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLQ_TIMEOUT_MS 30000

struct kafka_dlq {
        rd_kafka_t *rk;
        char *topic;
};

/* Delivery report: the message's opaque is the caller's result slot. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        (void)opaque;
        rd_kafka_resp_err_t *res = m->_private;
        *res = m->err;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
        (void)rk;
        if (level <= 4)
                log_warning("kafka dlq producer: %s: %s", fac, buf);
        else
                log_debug("kafka dlq producer: %s: %s", fac, buf);
}

int kafka_dlq_new(const char *brokers, const char *topic,
                  char *const *rdkafka_keys, char *const *rdkafka_values,
                  size_t n_rdkafka, struct kafka_dlq **dlqp, char *errstr,
                  size_t errstr_size)
{
        char why[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *kv[][2] = {{"bootstrap.servers", brokers},
                               {"enable.idempotence", "true"},
                               {"acks", "all"},
                               {"message.timeout.ms", "30000"}};
        *dlqp = NULL;
        for (size_t i = 0; i < sizeof(kv) / sizeof(*kv) + n_rdkafka; i++) {
                size_t j = i - sizeof(kv) / sizeof(*kv);
                bool mine = i < sizeof(kv) / sizeof(*kv);
                const char *k = mine ? kv[i][0] : rdkafka_keys[j];
                const char *v = mine ? kv[i][1] : rdkafka_values[j];
                if (rd_kafka_conf_set(conf, k, v, why, sizeof(why)) !=
                    RD_KAFKA_CONF_OK) {
                        snprintf(errstr, errstr_size,
                                 "kafka dlq producer: %s: %s", k, why);
                        rd_kafka_conf_destroy(conf);
                        return FERRY_ERR_CONFIG;
                }
        }
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "kafka dlq producer: %s", why);
                return FERRY_ERR_FATAL;
        }
        struct kafka_dlq *dlq = xcalloc(1, sizeof(*dlq));
        dlq->rk = rk;
        dlq->topic = xstrdup(topic);
        *dlqp = dlq;
        return 0;
}

void kafka_dlq_free(struct kafka_dlq *dlq)
{
        if (!dlq)
                return;
        if (rd_kafka_flush(dlq->rk, DLQ_TIMEOUT_MS))
                log_warning("kafka dlq: messages still unsent at close");
        rd_kafka_destroy(dlq->rk);
        free(dlq->topic);
        free(dlq);
}

const char *kafka_dlq_topic(const struct kafka_dlq *dlq)
{
        return dlq->topic;
}

int kafka_dlq_send(struct kafka_dlq *dlq, const rd_kafka_message_t *msg,
                   const char *error, char *errstr, size_t errstr_size)
{
        char part[16], off[24];
        const char *topic = rd_kafka_topic_name(msg->rkt);
        snprintf(part, sizeof(part), "%" PRId32, msg->partition);
        snprintf(off, sizeof(off), "%" PRId64, msg->offset);

        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
        rd_kafka_header_add(hdrs, "topic", -1, topic, -1);
        rd_kafka_header_add(hdrs, "partition", -1, part, -1);
        rd_kafka_header_add(hdrs, "offset", -1, off, -1);
        rd_kafka_header_add(hdrs, "error", -1, error, -1);

        /* Set by dr_cb; this value means "no report yet". */
        rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        rd_kafka_resp_err_t err =
                rd_kafka_producev(dlq->rk, RD_KAFKA_V_TOPIC(dlq->topic),
                                  RD_KAFKA_V_KEY(msg->key, msg->key_len),
                                  RD_KAFKA_V_VALUE(msg->payload, msg->len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(hdrs),
                                  RD_KAFKA_V_OPAQUE(&result), RD_KAFKA_V_END);
        if (err) {
                /* producev owns the headers only on success. */
                rd_kafka_headers_destroy(hdrs);
                snprintf(errstr, errstr_size, "dead-lettering to %s: %s",
                         dlq->topic, rd_kafka_err2str(err));
                return FERRY_ERR_RETRY;
        }
        rd_kafka_flush(dlq->rk, DLQ_TIMEOUT_MS);
        /* flush may return before the report is served; poll it out.
         * message.timeout.ms (30 s) bounds the wait for a report, so it
         * arrives before result goes out of scope. */
        for (int i = 0; i < 300 && result == RD_KAFKA_RESP_ERR__IN_PROGRESS;
             i++)
                rd_kafka_poll(dlq->rk, 100);
        if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(errstr, errstr_size, "dead-lettering to %s: %s",
                         dlq->topic,
                         result == RD_KAFKA_RESP_ERR__IN_PROGRESS
                                 ? "no acknowledgement"
                                 : rd_kafka_err2str(result));
                return FERRY_ERR_RETRY;
        }
        return 0;
}
