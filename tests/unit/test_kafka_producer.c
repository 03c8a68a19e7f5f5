/* SPDX-License-Identifier: Apache-2.0
 * The source's producer against librdkafka's in-process mock cluster:
 * topic naming, key and value, the tombstone after a delete, sequence
 * numbers in delivery reports, the barrier on every partition, and
 * config errors that name the property.
 */
#include "common/xalloc.h"
#include "connectors/kafka_producer.h"
#include "tests/unit/unit.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>

#define TOPIC "pfx.db.tab"
#define PARTS 4

static uint64_t acked_mask; /* bit seq-1 for each acknowledged seq */
static int failed;

static void on_delivery(uint64_t seq, const char *topic, int err,
                        const char *reason, void *opaque)
{
        (void)opaque;
        (void)reason;
        CHECK_STR(topic, TOPIC);
        if (err)
                failed++;
        else if (seq >= 1 && seq <= 64)
                acked_mask |= 1ull << (seq - 1);
}

static struct ferry_table *table(void)
{
        struct ferry_table *t = ferry_table_new("db", "tab", 2);
        t->cols[0].name = xstrdup("id");
        t->cols[0].type = FERRY_T_INT;
        t->cols[0].pk = true;
        t->cols[1].name = xstrdup("v");
        t->cols[1].type = FERRY_T_TEXT;
        t->npk = 1;
        t->pk = xcalloc(1, sizeof(uint32_t));
        return t;
}

static struct ferry_event *row(struct ferry_table *t, enum ferry_op op,
                               int64_t id)
{
        bool before = op != FERRY_OP_CREATE, after = op != FERRY_OP_DELETE;
        struct ferry_event *ev = ferry_event_new(FERRY_EV_ROW, t, before, after,
                                                 "bin.000001", 0, NULL);
        ev->op = op;
        ev->pos.gtid = (struct gtid){0, 1, 7};
        struct ferry_value *img = after ? ev->after : ev->before;
        img[0] = (struct ferry_value){.kind = FERRY_V_INT, .i = id};
        img[1] = (struct ferry_value){.kind = FERRY_V_TEXT, .len = 1, .p = "x"};
        if (before && after)
                ev->before[0] = ev->after[0], ev->before[1] = ev->after[1];
        return ev;
}

/* Reads every message of TOPIC; returns how many, filling the arrays. */
static int consume(const char *bootstrap, char **keys, char **vals, int *parts,
                   int max)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                          sizeof(err));
        rd_kafka_conf_set(conf, "group.id", "unit", err, sizeof(err));
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err,
                          sizeof(err));
        rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(PARTS);
        for (int p = 0; p < PARTS; p++)
                rd_kafka_topic_partition_list_add(l, TOPIC, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(c, l);
        rd_kafka_topic_partition_list_destroy(l);
        int n = 0, eofs = 0;
        for (int i = 0; i < 200 && eofs < PARTS; i++) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        eofs++;
                } else if (!m->err && n < max) {
                        keys[n] = xstrndup(m->key, m->key_len);
                        vals[n] = m->payload ? xstrndup(m->payload, m->len)
                                             : NULL;
                        parts[n] = m->partition;
                        n++;
                }
                rd_kafka_message_destroy(m);
        }
        CHECK(eofs == PARTS);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        return n;
}

int main(void)
{
        char err[512];
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        rd_kafka_t *mrk =
                rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof(err));
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 3);
        rd_kafka_mock_topic_create(mc, TOPIC, PARTS, 3);
        const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);

        char *bad_k[] = {"no.such.property"}, *bad_v[] = {"1"};
        struct kafka_producer_opts o = {.brokers = bootstrap,
                                        .topic_prefix = "pfx",
                                        .rdkafka_keys = bad_k,
                                        .rdkafka_values = bad_v,
                                        .n_rdkafka = 1,
                                        .json = {.name = "pfx"}};
        CHECK(kafka_producer_new(&o, on_delivery, NULL, err, sizeof(err)) ==
              NULL);
        CHECK(strstr(err, "rdkafka.no.such.property") != NULL);

        char *k[] = {"linger.ms"}, *v[] = {"1"};
        o.rdkafka_keys = k;
        o.rdkafka_values = v;
        struct kafka_producer *p =
                kafka_producer_new(&o, on_delivery, NULL, err, sizeof(err));
        CHECK(p != NULL);
        atomic_bool stop = false;
        struct ferry_table *t = table();
        struct ferry_event *c1 = row(t, FERRY_OP_CREATE, 1);
        struct ferry_event *d1 = row(t, FERRY_OP_DELETE, 1);
        CHECK(kafka_producer_send(p, c1, &stop, err, sizeof(err)) == 0);
        CHECK(kafka_producer_send(p, d1, &stop, err, sizeof(err)) == 0);
        CHECK(kafka_producer_last_seq(p) == 3); /* c, d, tombstone */
        json_t *sent = NULL;
        CHECK(kafka_producer_barrier(p, "b\"1", "0-1-7", NULL, &sent, &stop,
                                     err, sizeof(err)) == 0);
        CHECK(kafka_producer_last_seq(p) == 3 + PARTS);
        /* It says where it went: the one topic, every partition. */
        CHECK(json_object_size(sent) == 1);
        const char *sent_topic;
        json_t *sent_parts;
        json_object_foreach(sent, sent_topic, sent_parts)
                CHECK(json_integer_value(sent_parts) == PARTS);
        json_decref(sent);
        CHECK(kafka_producer_flush(p, 10000, err, sizeof(err)) == 0);
        CHECK(acked_mask == (1ull << (3 + PARTS)) - 1);
        CHECK(failed == 0);
        CHECK(kafka_producer_in_flight(p) == 0);
        CHECK(!kafka_producer_fatal(p, err, sizeof(err)));

        char *keys[32], *vals[32];
        int parts[32];
        int n = consume(bootstrap, keys, vals, parts, 32);
        CHECK(n == 3 + PARTS);
        int rows = 0, barrier_parts = 0, tomb = 0;
        for (int i = 0; i < n; i++) {
                if (!strcmp(keys[i], "{\"id\":1}")) {
                        rows++;
                        if (!vals[i])
                                tomb++;
                        else
                                CHECK(strstr(vals[i], "\"op\":") != NULL);
                } else {
                        CHECK_STR(keys[i], "{\"__ferry_barrier\":\"b\\\"1\"}");
                        CHECK_STR(vals[i], "{\"op\":\"barrier\",\"barrier\":"
                                           "\"b\\\"1\",\"source\":{\"gtid\":"
                                           "\"0-1-7\"}}");
                        barrier_parts |= 1 << parts[i];
                }
                free(keys[i]);
                free(vals[i]);
        }
        CHECK(rows == 3 && tomb == 1);
        CHECK(barrier_parts == (1 << PARTS) - 1);

        ferry_event_free(c1);
        ferry_event_free(d1);
        ferry_table_unref(t);
        kafka_producer_free(p);
        kafka_producer_free(NULL);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        UNIT_DONE();
}
