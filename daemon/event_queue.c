/* SPDX-License-Identifier: Apache-2.0
 * Bounded event queue; see event_queue.h.
 */
#include "daemon/event_queue.h"
#include "common/ferry_error.h"
#include "common/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct event_queue {
        pthread_mutex_t lock;
        pthread_cond_t not_empty;
        pthread_cond_t not_full;
        struct ferry_event *head, *tail;
        size_t len, bytes, max_bytes;
        bool closed;
        /* Threads asleep on each side: waking is a syscall, so it is
         * done only when someone actually waits (measured: signalling on
         * every event cost a quarter of the backfill's CPU). */
        int pop_waiters, push_waiters;
};

struct event_queue *event_queue_new(size_t max_bytes)
{
        struct event_queue *q = xcalloc(1, sizeof(*q));
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->not_empty, &ca);
        pthread_cond_init(&q->not_full, &ca);
        pthread_condattr_destroy(&ca);
        q->max_bytes = max_bytes;
        return q;
}

void event_queue_free(struct event_queue *q)
{
        if (!q)
                return;
        while (q->head) {
                struct ferry_event *ev = q->head;
                q->head = ev->next;
                ferry_event_free(ev);
        }
        pthread_cond_destroy(&q->not_empty);
        pthread_cond_destroy(&q->not_full);
        pthread_mutex_destroy(&q->lock);
        free(q);
}

int event_queue_push(struct event_queue *q, struct ferry_event *ev)
{
        pthread_mutex_lock(&q->lock);
        while (!q->closed && q->len > 0 &&
               q->bytes + ev->size > q->max_bytes) {
                q->push_waiters++;
                pthread_cond_wait(&q->not_full, &q->lock);
                q->push_waiters--;
        }
        if (q->closed) {
                pthread_mutex_unlock(&q->lock);
                ferry_event_free(ev);
                return FERRY_ERR_STOP;
        }
        ev->next = NULL;
        if (q->tail)
                q->tail->next = ev;
        else
                q->head = ev;
        q->tail = ev;
        q->len++;
        q->bytes += ev->size;
        if (q->pop_waiters)
                pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&q->lock);
        return 0;
}

struct ferry_event *event_queue_pop(struct event_queue *q, int timeout_ms)
{
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        if (timeout_ms > 0) {
                until.tv_sec += timeout_ms / 1000;
                until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
        }
        pthread_mutex_lock(&q->lock);
        while (!q->head && !q->closed && timeout_ms != 0) {
                int r = 0;
                q->pop_waiters++;
                if (timeout_ms < 0)
                        pthread_cond_wait(&q->not_empty, &q->lock);
                else
                        r = pthread_cond_timedwait(&q->not_empty, &q->lock,
                                                   &until);
                q->pop_waiters--;
                if (r == ETIMEDOUT)
                        break;
        }
        struct ferry_event *ev = q->head;
        if (ev) {
                q->head = ev->next;
                if (!q->head)
                        q->tail = NULL;
                q->len--;
                q->bytes -= ev->size;
                ev->next = NULL;
                /* A full queue wakes its producer only once a quarter
                 * has drained: it then pushes a burst instead of one
                 * event per pop (measured: a context switch per event
                 * was a quarter of the sink thread's CPU). */
                if (q->push_waiters &&
                    q->bytes <= q->max_bytes - q->max_bytes / 4)
                        pthread_cond_signal(&q->not_full);
        }
        pthread_mutex_unlock(&q->lock);
        return ev;
}

void event_queue_close(struct event_queue *q)
{
        pthread_mutex_lock(&q->lock);
        q->closed = true;
        pthread_cond_broadcast(&q->not_empty);
        pthread_cond_broadcast(&q->not_full);
        pthread_mutex_unlock(&q->lock);
}

size_t event_queue_bytes(struct event_queue *q)
{
        pthread_mutex_lock(&q->lock);
        size_t b = q->bytes;
        pthread_mutex_unlock(&q->lock);
        return b;
}

size_t event_queue_len(struct event_queue *q)
{
        pthread_mutex_lock(&q->lock);
        size_t n = q->len;
        pthread_mutex_unlock(&q->lock);
        return n;
}

bool event_queue_closed(struct event_queue *q)
{
        pthread_mutex_lock(&q->lock);
        bool done = q->closed && !q->head;
        pthread_mutex_unlock(&q->lock);
        return done;
}
