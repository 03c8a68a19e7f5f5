/* SPDX-License-Identifier: Apache-2.0
 * The source role's Kafka producer; see kafka_producer.h.
 *
 * librdkafka does the batching, retries and ordering (idempotence keeps
 * per-partition order across retries); this file adds the topic naming,
 * the sequence numbers the checkpoint is built from, and the waiting
 * that turns a full queue or a broker outage into a paused reader
 * instead of growing memory.
 */
#include "connectors/kafka_producer.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A full queue for longer than this is worth one log line. */
#define QUEUE_FULL_LOG_MS   1000
#define METADATA_TIMEOUT_MS 5000
/* During an outage, how often the polling thread asks for metadata to
 * notice a cluster that is back while nothing is being produced. */
#define PROBE_EVERY_MS   1000
#define PROBE_TIMEOUT_MS 500

struct ktopic {
        char *db;
        char *table;
        rd_kafka_topic_t *rkt;
};

struct kafka_producer {
        rd_kafka_t *rk;
        char *prefix;
        struct event_json_opts jopts;
        kafka_delivery_fn *dr;
        void *opaque;

        /* Guards seq, topics and the encode buffers: the source thread
         * sends while a control command may put in a barrier. */
        pthread_mutex_t lock;
        atomic_uint_fast64_t seq; /* last sequence number produced */
        struct ktopic *topics;
        size_t ntopics;
        struct buf key;
        struct buf value;

        atomic_bool outage;     /* all brokers down, not yet delivering again */
        uint64_t last_probe_ms; /* polling thread only */
        atomic_bool fatal;
        pthread_mutex_t fatal_lock;
        char fatal_reason[512];
};

/* Defaults for a change stream: nothing lost or reordered (idempotence,
 * acks from every in-sync replica), cheap compression, and batches big
 * enough for throughput. The queue bounds are the memory ferry may use
 * for messages not yet acknowledged: when they are reached, produce
 * waits and so the binlog reader pauses. Config rdkafka.* overrides. */
static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        {"linger.ms", "20"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"queue.buffering.max.messages", "100000"},
        {"queue.buffering.max.kbytes", "65536"},
        {"partitioner", "murmur2_random"}, /* Java clients' choice */
        {"client.id", "ferryd"},
};

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void kafka_topic_name(const char *prefix, const char *db, const char *table,
                      char *out, size_t out_size)
{
        snprintf(out, out_size, "%s.%s.%s", prefix, db, table);
}

/* ---- librdkafka callbacks (its threads, or the polling thread) ----- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
        struct kafka_producer *p = opaque;
        uint64_t seq = (uint64_t)(uintptr_t)m->_private;
        (void)rk;
        if (!m->err && atomic_exchange(&p->outage, false))
                log_info("kafka: brokers reachable again, deliveries "
                         "resumed");
        p->dr(seq, rd_kafka_topic_name(m->rkt), m->err ? FERRY_ERR_RETRY : 0,
              m->err ? rd_kafka_err2str(m->err) : NULL, p->opaque);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        struct kafka_producer *p = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[400];
                rd_kafka_resp_err_t orig =
                        rd_kafka_fatal_error(rk, why, sizeof(why));
                pthread_mutex_lock(&p->fatal_lock);
                snprintf(p->fatal_reason, sizeof(p->fatal_reason),
                         "fatal producer error %s: %s", rd_kafka_err2name(orig),
                         why);
                pthread_mutex_unlock(&p->fatal_lock);
                atomic_store(&p->fatal, true);
                log_error("kafka: fatal producer error %s: %s",
                          rd_kafka_err2name(orig), why);
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                /* Once per outage: librdkafka repeats it while it retries. */
                if (!atomic_exchange(&p->outage, true))
                        log_warning("kafka: all brokers are down; messages "
                                    "wait and the binlog reader pauses when "
                                    "the queue fills: %s",
                                    reason);
                return;
        }
        /* Informational: librdkafka retries these itself. */
        log_debug("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
        (void)rk;
        /* Connection churn is logged at LOG_ERR by librdkafka and also
         * reaches on_error; only critical lines are worth a default log. */
        if (level <= 2)
                log_error("kafka: %s: %s", fac, buf);
        else
                log_debug("kafka: %s: %s", fac, buf);
}

/* ---- setup ---------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                    char *errstr, size_t errstr_size)
{
        char why[256];
        if (rd_kafka_conf_set(conf, k, v, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "rdkafka.%s: %s", k, why);
                return FERRY_ERR_CONFIG;
        }
        return 0;
}

/* The defaults, then the brokers, then the config's overrides. */
static rd_kafka_conf_t *make_conf(const struct kafka_producer_opts *o,
                                  char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
                if (conf_set(conf, defaults[i][0], defaults[i][1], errstr,
                             errstr_size))
                        goto fail;
        if (conf_set(conf, "bootstrap.servers", o->brokers, errstr,
                     errstr_size))
                goto fail;
        for (size_t i = 0; i < o->n_rdkafka; i++)
                if (conf_set(conf, o->rdkafka_keys[i], o->rdkafka_values[i],
                             errstr, errstr_size))
                        goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

int kafka_producer_check(const struct kafka_producer_opts *o, char *errstr,
                         size_t errstr_size)
{
        rd_kafka_conf_t *conf = make_conf(o, errstr, errstr_size);
        if (!conf)
                return FERRY_ERR_CONFIG;
        rd_kafka_conf_destroy(conf);
        return 0;
}

struct kafka_producer *kafka_producer_new(const struct kafka_producer_opts *o,
                                          kafka_delivery_fn *dr, void *opaque,
                                          char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = make_conf(o, errstr, errstr_size);
        if (!conf)
                return NULL;

        struct kafka_producer *p = xcalloc(1, sizeof(*p));
        p->prefix = xstrdup(o->topic_prefix);
        p->jopts = o->json;
        p->dr = dr;
        p->opaque = opaque;
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->fatal_lock, NULL);
        buf_init(&p->key);
        buf_init(&p->value);
        rd_kafka_conf_set_opaque(conf, p);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_error_cb(conf, on_error);
        rd_kafka_conf_set_log_cb(conf, on_log);

        char why[512];
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
        if (!p->rk) {
                snprintf(errstr, errstr_size, "creating the producer: %s", why);
                /* rd_kafka_new takes the conf only on success */
                rd_kafka_conf_destroy(conf);
                kafka_producer_free(p);
                return NULL;
        }
        return p;
}

void kafka_producer_free(struct kafka_producer *p)
{
        if (!p)
                return;
        if (p->rk) {
                /* Undelivered messages are reported failed, never kept. */
                rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE |
                                              RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(p->rk, 0);
                for (size_t i = 0; i < p->ntopics; i++)
                        rd_kafka_topic_destroy(p->topics[i].rkt);
                rd_kafka_destroy(p->rk);
        }
        for (size_t i = 0; i < p->ntopics; i++) {
                free(p->topics[i].db);
                free(p->topics[i].table);
        }
        free(p->topics);
        buf_free(&p->key);
        buf_free(&p->value);
        free(p->prefix);
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->fatal_lock);
        free(p);
}

/* ---- producing ------------------------------------------------------ */

/* Finds or opens the topic of a table. Under p->lock. */
static struct ktopic *topic_get(struct kafka_producer *p, const char *db,
                                const char *table, char *errstr,
                                size_t errstr_size)
{
        for (size_t i = 0; i < p->ntopics; i++)
                if (!strcmp(p->topics[i].table, table) &&
                    !strcmp(p->topics[i].db, db))
                        return &p->topics[i];
        char name[512];
        kafka_topic_name(p->prefix, db, table, name, sizeof(name));
        /* A copy of the default topic conf keeps the rdkafka.* topic
         * properties (partitioner, ...) given on the global conf. */
        rd_kafka_topic_conf_t *tconf = rd_kafka_default_topic_conf_dup(p->rk);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, name, tconf);
        if (!rkt) {
                snprintf(errstr, errstr_size, "topic %s: %s", name,
                         rd_kafka_err2str(rd_kafka_last_error()));
                return NULL;
        }
        p->topics = xrealloc(p->topics, (p->ntopics + 1) * sizeof(*p->topics));
        struct ktopic *kt = &p->topics[p->ntopics++];
        kt->db = xstrdup(db);
        kt->table = xstrdup(table);
        kt->rkt = rkt;
        return kt;
}

static int classify(rd_kafka_resp_err_t e)
{
        switch (e) {
        case RD_KAFKA_RESP_ERR__FATAL:
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return FERRY_ERR_FATAL;
        default:
                return FERRY_ERR_RETRY;
        }
}

/* Produces one message with the next sequence number; waits (serving
 * delivery reports) while the queue is full. Under p->lock. */
static int produce(struct kafka_producer *p, rd_kafka_topic_t *rkt,
                   int32_t partition, const void *key, size_t klen,
                   const void *val, size_t vlen, atomic_bool *stop,
                   char *errstr, size_t errstr_size)
{
        uint64_t seq = atomic_load(&p->seq) + 1;
        uint64_t waiting_since = 0;
        bool logged = false;

        for (;;) {
                if (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY,
                                     (void *)val, vlen, key, klen,
                                     (void *)(uintptr_t)seq) == 0)
                        break;
                rd_kafka_resp_err_t e = rd_kafka_last_error();
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        snprintf(errstr, errstr_size, "producing to %s: %s",
                                 rd_kafka_topic_name(rkt), rd_kafka_err2str(e));
                        return classify(e);
                }
                if (atomic_load(&p->fatal)) {
                        kafka_producer_fatal(p, errstr, errstr_size);
                        return FERRY_ERR_FATAL;
                }
                if (stop && atomic_load(stop)) {
                        snprintf(errstr, errstr_size, "stop requested");
                        return FERRY_ERR_STOP;
                }
                uint64_t now = mono_ms();
                if (!waiting_since) {
                        waiting_since = now;
                } else if (!logged && now - waiting_since > QUEUE_FULL_LOG_MS) {
                        log_warning("kafka: producer queue full, binlog "
                                    "reader paused in_flight=%d",
                                    rd_kafka_outq_len(p->rk));
                        logged = true;
                }
                rd_kafka_poll(p->rk, 10);
        }
        atomic_store(&p->seq, seq);
        if (logged)
                log_info("kafka: producer queue has room, binlog reader "
                         "resumed paused_ms=%llu",
                         (unsigned long long)(mono_ms() - waiting_since));
        return 0;
}

int kafka_producer_send(struct kafka_producer *p, const struct ferry_event *ev,
                        atomic_bool *stop, char *errstr, size_t errstr_size)
{
        if (ev->kind != FERRY_EV_ROW)
                return 0;
        if (atomic_load(&p->fatal)) {
                kafka_producer_fatal(p, errstr, errstr_size);
                return FERRY_ERR_FATAL;
        }
        int rc;
        pthread_mutex_lock(&p->lock);
        struct ktopic *kt = topic_get(p, ev->table->db, ev->table->name, errstr,
                                      errstr_size);
        if (!kt) {
                rc = FERRY_ERR_FATAL;
                goto out;
        }
        buf_reset(&p->key);
        buf_reset(&p->value);
        if ((rc = event_json_write_key(ev, &p->key, errstr, errstr_size)) ||
            (rc = event_json_write(ev, &p->jopts, wall_ms(), &p->value, errstr,
                                   errstr_size)))
                goto out;
        rc = produce(p, kt->rkt, RD_KAFKA_PARTITION_UA, p->key.data, p->key.len,
                     p->value.data, p->value.len, stop, errstr, errstr_size);
        /* The tombstone lets log compaction forget the deleted key; it
         * follows the delete on the same partition. */
        if (rc == 0 && ev->op == FERRY_OP_DELETE)
                rc = produce(p, kt->rkt, RD_KAFKA_PARTITION_UA, p->key.data,
                             p->key.len, NULL, 0, stop, errstr, errstr_size);
out:
        pthread_mutex_unlock(&p->lock);
        return rc;
}

/* Opens the topics of db that exist in the cluster (md: all topics)
 * but were not produced to yet. Under p->lock. */
static int barrier_topics(struct kafka_producer *p, const char *db,
                          const struct rd_kafka_metadata *md, char *errstr,
                          size_t errstr_size)
{
        char prefix[512];
        snprintf(prefix, sizeof(prefix), "%s.%s.", p->prefix, db);
        size_t plen = strlen(prefix);
        for (int i = 0; i < md->topic_cnt; i++) {
                const char *name = md->topics[i].topic;
                if (strncmp(name, prefix, plen) || !name[plen] ||
                    md->topics[i].err)
                        continue;
                if (!topic_get(p, db, name + plen, errstr, errstr_size))
                        return FERRY_ERR_RETRY;
        }
        return 0;
}

static const struct rd_kafka_metadata_topic *
md_topic(const struct rd_kafka_metadata *md, const char *name)
{
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, name))
                        return &md->topics[i];
        return NULL;
}

int kafka_producer_barrier(struct kafka_producer *p, const char *id,
                           const char *gtid, const char *db, json_t **sent,
                           atomic_bool *stop, char *errstr, size_t errstr_size)
{
        struct buf key, value;
        int rc = 0;
        json_t *k = json_pack("{s:s}", "__ferry_barrier", id);
        json_t *v = json_pack("{s:s, s:s, s:{s:s}}", "op", "barrier", "barrier",
                              id, "source", "gtid", gtid);
        json_t *out = json_object();
        const struct rd_kafka_metadata *md = NULL;
        buf_init(&key);
        buf_init(&value);
        if (!k || !v || event_json_dump(k, &key) ||
            event_json_dump(v, &value)) {
                snprintf(errstr, errstr_size,
                         "barrier id or gtid is not "
                         "valid UTF-8");
                rc = FERRY_ERR_DATA;
                goto out;
        }
        pthread_mutex_lock(&p->lock);
        /* One request for every topic: asking for a topic by name could
         * create it (auto.create.topics.enable), listing cannot. */
        rd_kafka_resp_err_t e =
                rd_kafka_metadata(p->rk, 1, NULL, &md, METADATA_TIMEOUT_MS);
        if (e) {
                snprintf(errstr, errstr_size, "barrier: metadata: %s",
                         rd_kafka_err2str(e));
                rc = FERRY_ERR_RETRY;
        } else if (db) {
                rc = barrier_topics(p, db, md, errstr, errstr_size);
        }
        for (size_t i = 0; i < p->ntopics && rc == 0; i++) {
                rd_kafka_topic_t *rkt = p->topics[i].rkt;
                const char *name = rd_kafka_topic_name(rkt);
                const struct rd_kafka_metadata_topic *mt = md_topic(md, name);
                if (!mt || mt->err || mt->partition_cnt < 1) {
                        snprintf(
                                errstr, errstr_size,
                                "barrier: metadata of %s: %s", name,
                                rd_kafka_err2str(
                                        mt ? mt->err
                                           : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
                        rc = FERRY_ERR_RETRY;
                        break;
                }
                int n = mt->partition_cnt;
                for (int32_t part = 0; part < n && rc == 0; part++)
                        rc = produce(p, rkt, part, key.data, key.len,
                                     value.data, value.len, stop, errstr,
                                     errstr_size);
                if (rc == 0) {
                        json_object_set_new(out, name, json_integer(n));
                        log_info("kafka: barrier produced id=%s "
                                 "topic=%s partitions=%d gtid=%s",
                                 id, name, n, gtid);
                }
        }
        pthread_mutex_unlock(&p->lock);
out:
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rc == 0 && sent)
                *sent = json_incref(out);
        json_decref(out);
        json_decref(k);
        json_decref(v);
        buf_free(&key);
        buf_free(&value);
        return rc;
}

int kafka_producer_poll(struct kafka_producer *p, int timeout_ms)
{
        rd_kafka_poll(p->rk, timeout_ms);
        /* A delivery ends an outage; an idle source has none, so ask. */
        uint64_t now = mono_ms();
        if (atomic_load(&p->outage) &&
            now - p->last_probe_ms >= PROBE_EVERY_MS) {
                const struct rd_kafka_metadata *md = NULL;
                p->last_probe_ms = now;
                if (rd_kafka_metadata(p->rk, 0, NULL, &md, PROBE_TIMEOUT_MS) ==
                            RD_KAFKA_RESP_ERR_NO_ERROR &&
                    atomic_exchange(&p->outage, false))
                        log_info("kafka: brokers reachable again");
                if (md)
                        rd_kafka_metadata_destroy(md);
        }
        return atomic_load(&p->fatal) ? FERRY_ERR_FATAL : 0;
}

int kafka_producer_flush(struct kafka_producer *p, int timeout_ms, char *errstr,
                         size_t errstr_size)
{
        rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
        if (atomic_load(&p->fatal)) {
                kafka_producer_fatal(p, errstr, errstr_size);
                return FERRY_ERR_FATAL;
        }
        if (e) {
                snprintf(errstr, errstr_size,
                         "flush: %d messages still in "
                         "flight after %dms",
                         rd_kafka_outq_len(p->rk), timeout_ms);
                return FERRY_ERR_RETRY;
        }
        return 0;
}

uint64_t kafka_producer_last_seq(struct kafka_producer *p)
{
        return atomic_load(&p->seq);
}

int kafka_producer_in_flight(struct kafka_producer *p)
{
        return rd_kafka_outq_len(p->rk);
}

bool kafka_producer_fatal(struct kafka_producer *p, char *errstr,
                          size_t errstr_size)
{
        if (!atomic_load(&p->fatal))
                return false;
        pthread_mutex_lock(&p->fatal_lock);
        snprintf(errstr, errstr_size, "%s", p->fatal_reason);
        pthread_mutex_unlock(&p->fatal_lock);
        return true;
}

bool kafka_producer_outage(struct kafka_producer *p)
{
        return atomic_load(&p->outage);
}
