/* SPDX-License-Identifier: Apache-2.0
 * The service's state, shared by the loop (service.c) and the control
 * verbs (control_verbs.c). Loop thread only.
 */
#ifndef FERRY_SERVICE_INT_H
#define FERRY_SERVICE_INT_H

#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/cutover.h"
#include "daemon/flow.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"
#include "daemon/reverse.h"
#include "daemon/verify_job.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct service {
        struct cfg *cfg;
        struct event_base *base;
        const struct flow_ops *ops;
        void *flow;
        struct pipeline *pipe; /* the flow when it is the direct pipeline */
        struct metrics *reg;
        struct control *ctl;
        bool stopping;
        int status_ticks;
        uint64_t started_ms;

        struct cutover *cutover;         /* running, or NULL */
        struct control_req *cutover_req; /* who waits for it */
        json_t *last_cutover;            /* outcome, or NULL */
        bool cut_over;                   /* a cutover switched */
        struct reverse *reverse;         /* reverse streaming, rollback */

        struct verify_job *verify;
        struct control_req *verify_req;
        json_t *last_verify;

        struct metric_enum *m_state;
        struct metric_gauge *m_pause, *m_cutover_ts;
        struct metric_counter *m_cutovers_ok, *m_cutovers_failed,
                *m_cutovers_dry;
};

/* @brief Registers status, pause, resume, snapshot, verify, cutover and
 * abort on s->ctl. */
void control_verbs_register(struct service *s);
/* @brief Answers requests whose work finished; called from the tick. */
void control_verbs_tick(struct service *s);
/* @brief Stops what runs (abort, join) and answers who waits. */
void control_verbs_shutdown(struct service *s);
/* @returns the state name ferryctl status shows. */
const char *service_state(struct service *s);

#endif
