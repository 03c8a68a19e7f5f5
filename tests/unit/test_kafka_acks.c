/* SPDX-License-Identifier: Apache-2.0
 * Delivery reports to durable checkpoints: out-of-order acks, a ring
 * that grows, folded empty transactions, and a failure that freezes the
 * position.
 */
#include "common/xalloc.h"
#include "connectors/kafka_acks.h"
#include "tests/unit/unit.h"

#include <stdlib.h>

static void test_order(void)
{
        struct kafka_acks *a = kafka_acks_new();
        kafka_acks_point(a, 2, xstrdup("tx1"), 100);
        kafka_acks_point(a, 5, xstrdup("tx2"), 200);
        CHECK(kafka_acks_take_durable(a) == NULL);
        CHECK(kafka_acks_oldest_pending_ts(a) == 100);
        kafka_acks_ack(a, 2);
        kafka_acks_ack(a, 4);
        CHECK(kafka_acks_take_durable(a) == NULL); /* 1 still missing */
        kafka_acks_ack(a, 1);
        char *d = kafka_acks_take_durable(a);
        CHECK_STR(d, "tx1");
        free(d);
        CHECK(kafka_acks_take_durable(a) == NULL); /* taken once */
        kafka_acks_ack(a, 3);
        CHECK(kafka_acks_take_durable(a) == NULL); /* 5 missing */
        kafka_acks_ack(a, 5);
        d = kafka_acks_take_durable(a);
        CHECK_STR(d, "tx2");
        free(d);
        CHECK(kafka_acks_watermark(a) == 5);
        CHECK(kafka_acks_oldest_pending_ts(a) == 0);
        /* A transaction without messages is durable at once. */
        kafka_acks_point(a, 5, xstrdup("empty"), 300);
        d = kafka_acks_take_durable(a);
        CHECK_STR(d, "empty");
        free(d);
        kafka_acks_free(a);
}

static void test_fold_and_grow(void)
{
        struct kafka_acks *a = kafka_acks_new();
        const uint64_t n = 100000;
        kafka_acks_point(a, 10, xstrdup("a"), 1);
        kafka_acks_point(a, 10, xstrdup("b"), 2); /* folds into a */
        kafka_acks_point(a, n, xstrdup("end"), 3);
        /* Acks in reverse order: the ring must grow to hold them. */
        for (uint64_t s = n; s >= 2; s--)
                kafka_acks_ack(a, s);
        CHECK(kafka_acks_take_durable(a) == NULL);
        kafka_acks_ack(a, 1);
        char *d = kafka_acks_take_durable(a);
        CHECK_STR(d, "end"); /* newer points supersede older ones */
        free(d);
        CHECK(kafka_acks_watermark(a) == n);
        kafka_acks_ack(a, 7); /* a duplicate report is harmless */
        CHECK(kafka_acks_watermark(a) == n);
        kafka_acks_free(a);
}

static void test_failure(void)
{
        struct kafka_acks *a = kafka_acks_new();
        char why[256];
        kafka_acks_point(a, 1, xstrdup("one"), 1);
        kafka_acks_point(a, 3, xstrdup("three"), 2);
        kafka_acks_ack(a, 1);
        kafka_acks_fail(a, 2, "Local: Message timed out");
        kafka_acks_ack(a, 3);
        CHECK(kafka_acks_failed(a, why, sizeof(why)));
        CHECK(strstr(why, "message 2") && strstr(why, "timed out"));
        char *d = kafka_acks_take_durable(a);
        CHECK_STR(d, "one");
        free(d);
        CHECK(kafka_acks_take_durable(a) == NULL); /* never past 2 */
        kafka_acks_free(a);                        /* frees the pending point */
        kafka_acks_free(NULL);
}

int main(void)
{
        test_order();
        test_fold_and_grow();
        test_failure();
        UNIT_DONE();
}
