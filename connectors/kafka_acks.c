/* SPDX-License-Identifier: Apache-2.0
 * Delivery reports to durable positions; see kafka_acks.h.
 *
 * Acknowledged sequence numbers above the watermark sit in a ring of
 * flags indexed by seq modulo its size; the ring doubles when a report
 * lands further ahead than it reaches, which bounds it by the messages
 * in flight (librdkafka's queue limits).
 */
#include "connectors/kafka_acks.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_MIN 4096

struct point {
        uint64_t last_seq;
        uint64_t ts_ms;
        char *payload;
        struct point *next;
};

struct kafka_acks {
        pthread_mutex_t lock;
        uint64_t done; /* 1..done all acknowledged */
        uint8_t *ring; /* ring[s % cap]: s in (done, done + cap] acked */
        size_t cap;
        struct point *head, *tail; /* pending, in commit order */
        char *durable;             /* newest durable, not yet taken */
        bool failed;
        char reason[256];
};

struct kafka_acks *kafka_acks_new(void)
{
        struct kafka_acks *a = xcalloc(1, sizeof(*a));
        pthread_mutex_init(&a->lock, NULL);
        a->cap = RING_MIN;
        a->ring = xcalloc(a->cap, 1);
        return a;
}

void kafka_acks_free(struct kafka_acks *a)
{
        if (!a)
                return;
        while (a->head) {
                struct point *pt = a->head;
                a->head = pt->next;
                free(pt->payload);
                free(pt);
        }
        free(a->durable);
        free(a->ring);
        pthread_mutex_destroy(&a->lock);
        free(a);
}

static void grow(struct kafka_acks *a, uint64_t seq)
{
        size_t cap = a->cap;
        while (seq - a->done > cap)
                cap *= 2;
        uint8_t *ring = xcalloc(cap, 1);
        for (uint64_t s = a->done + 1; s <= a->done + a->cap; s++)
                ring[s % cap] = a->ring[s % a->cap];
        free(a->ring);
        a->ring = ring;
        a->cap = cap;
}

/* Moves points covered by the watermark to durable. Under lock. */
static void settle(struct kafka_acks *a)
{
        if (a->failed)
                return;
        while (a->head && a->head->last_seq <= a->done) {
                struct point *pt = a->head;
                a->head = pt->next;
                if (!a->head)
                        a->tail = NULL;
                free(a->durable);
                a->durable = pt->payload;
                free(pt);
        }
}

void kafka_acks_ack(struct kafka_acks *a, uint64_t seq)
{
        pthread_mutex_lock(&a->lock);
        if (seq > a->done) {
                if (seq - a->done > a->cap)
                        grow(a, seq);
                a->ring[seq % a->cap] = 1;
                while (a->ring[(a->done + 1) % a->cap]) {
                        a->ring[(a->done + 1) % a->cap] = 0;
                        a->done++;
                }
                settle(a);
        }
        pthread_mutex_unlock(&a->lock);
}

void kafka_acks_fail(struct kafka_acks *a, uint64_t seq, const char *reason)
{
        pthread_mutex_lock(&a->lock);
        if (!a->failed) {
                a->failed = true;
                snprintf(a->reason, sizeof(a->reason),
                         "message %llu not delivered: %s",
                         (unsigned long long)seq, reason ? reason : "?");
        }
        pthread_mutex_unlock(&a->lock);
}

bool kafka_acks_failed(struct kafka_acks *a, char *reason, size_t size)
{
        pthread_mutex_lock(&a->lock);
        bool f = a->failed;
        if (f && reason)
                snprintf(reason, size, "%s", a->reason);
        pthread_mutex_unlock(&a->lock);
        return f;
}

void kafka_acks_point(struct kafka_acks *a, uint64_t last_seq, char *payload,
                      uint64_t ts_ms)
{
        pthread_mutex_lock(&a->lock);
        if (a->tail && a->tail->last_seq == last_seq) {
                /* No new messages since: the later position supersedes. */
                free(a->tail->payload);
                a->tail->payload = payload;
        } else {
                struct point *pt = xcalloc(1, sizeof(*pt));
                pt->last_seq = last_seq;
                pt->ts_ms = ts_ms;
                pt->payload = payload;
                if (a->tail)
                        a->tail->next = pt;
                else
                        a->head = pt;
                a->tail = pt;
        }
        settle(a);
        pthread_mutex_unlock(&a->lock);
}

char *kafka_acks_take_durable(struct kafka_acks *a)
{
        pthread_mutex_lock(&a->lock);
        char *d = a->durable;
        a->durable = NULL;
        pthread_mutex_unlock(&a->lock);
        return d;
}

uint64_t kafka_acks_oldest_pending_ts(struct kafka_acks *a)
{
        pthread_mutex_lock(&a->lock);
        uint64_t ts = a->head ? a->head->ts_ms : 0;
        pthread_mutex_unlock(&a->lock);
        return ts;
}

uint64_t kafka_acks_watermark(struct kafka_acks *a)
{
        pthread_mutex_lock(&a->lock);
        uint64_t d = a->done;
        pthread_mutex_unlock(&a->lock);
        return d;
}
