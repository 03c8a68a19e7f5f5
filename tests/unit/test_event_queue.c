/* SPDX-License-Identifier: Apache-2.0
 * The direct-transport queue: order kept, memory bounded, close wakes
 * both sides.
 */
#include "daemon/event_queue.h"
#include "common/ferry_error.h"
#include "tests/unit/unit.h"

#include <pthread.h>

#define N 100000

static struct event_queue *q;
static size_t max_seen;

static void *producer(void *arg)
{
        (void)arg;
        for (uint64_t i = 0; i < N; i++) {
                struct ferry_event *ev = ferry_event_new(
                        FERRY_EV_COMMIT, NULL, false, false, NULL, 0, NULL);
                ev->pos.gtid.seq = i;
                if (event_queue_push(q, ev))
                        return (void *)1;
                size_t b = event_queue_bytes(q);
                if (b > max_seen)
                        max_seen = b;
        }
        return NULL;
}

int main(void)
{
        struct ferry_event *probe = ferry_event_new(FERRY_EV_COMMIT, NULL,
                                                    false, false, NULL, 0,
                                                    NULL);
        size_t one = probe->size;
        ferry_event_free(probe);
        q = event_queue_new(64 * one);
        pthread_t th;
        pthread_create(&th, NULL, producer, NULL);
        uint64_t want = 0;
        bool ordered = true;
        while (want < N) {
                struct ferry_event *ev = event_queue_pop(q, 5000);
                if (!ev)
                        break;
                if (ev->pos.gtid.seq != want)
                        ordered = false;
                want++;
                ferry_event_free(ev);
        }
        void *ret;
        pthread_join(th, &ret);
        CHECK(ret == NULL);
        CHECK(want == N);
        CHECK(ordered);
        CHECK(max_seen <= 64 * one);
        CHECK(event_queue_pop(q, 10) == NULL); /* times out when empty */

        /* Close: a blocked push returns STOP, pops drain then NULL. */
        struct ferry_event *ev = ferry_event_new(FERRY_EV_COMMIT, NULL, false,
                                                 false, NULL, 0, NULL);
        CHECK(event_queue_push(q, ev) == 0);
        event_queue_close(q);
        CHECK(event_queue_push(q, ferry_event_new(FERRY_EV_COMMIT, NULL,
                                                  false, false, NULL, 0,
                                                  NULL)) == FERRY_ERR_STOP);
        ev = event_queue_pop(q, -1);
        CHECK(ev != NULL);
        ferry_event_free(ev);
        CHECK(event_queue_pop(q, -1) == NULL);
        event_queue_free(q);
        UNIT_DONE();
}
