/* SPDX-License-Identifier: Apache-2.0
 * The control socket: a unix stream socket (mode 0600, and the peer must
 * be our own user or root, checked with SO_PEERCRED) speaking one JSON
 * object per line in each direction (docs/control-protocol.md):
 *
 *   -> {"v":1,"cmd":"status","args":{...}}
 *   <- {"v":1,"ok":true,"result":{...}}  or  {"v":1,"ok":false,"error":"..."}
 *
 * It lives on main's event_base. Verbs are registered by the service; a
 * verb may answer at once or keep the request and answer later (a
 * cutover takes seconds), always from the loop thread.
 */
#ifndef FERRY_CONTROL_H
#define FERRY_CONTROL_H

#include "common/ferry_error.h"

#include <jansson.h>
#include <stddef.h>

#define CONTROL_PROTOCOL_VERSION 1
/* A request line longer than this is refused: no verb needs it. */
#define CONTROL_MAX_LINE 65536

struct event_base;
struct control;
struct control_req;

/**
 * @brief Handles one request. Answer with control_req_ok/_fail now or
 *        later; the request stays valid until answered.
 * @param args  the request's "args" object (never NULL; {} if absent),
 *              borrowed for the call only
 * @context loop
 */
typedef void (*control_verb_fn)(void *opaque, struct control_req *req,
                                json_t *args);

/**
 * @brief Binds path (replacing a stale socket left by a crash, refusing
 *        one a live daemon answers on) with mode 0600.
 * @returns the server, or NULL with errstr naming the path and why
 * @context loop
 */
struct control *control_new(struct event_base *base, const char *path,
                            char *errstr, size_t errstr_size);
/* @brief Stops listening, unlinks the socket and drops connections
 * (unanswered requests are answered with an error first). */
void control_free(struct control *ctl);

/* @brief Adds a verb; name and opaque must outlive ctl. */
void control_register(struct control *ctl, const char *name, control_verb_fn fn,
                      void *opaque);

/* @brief Answers with {"ok":true,"result":result}; steals result (NULL
 * means {}). Frees req. */
void control_req_ok(struct control_req *req, json_t *result);
/* @brief Answers with {"ok":false,"error":...}. Frees req. */
void control_req_fail(struct control_req *req, const char *fmt, ...)
        FERRY_PRINTF(2, 3);

#endif
