/* SPDX-License-Identifier: Apache-2.0
 * The control socket; see control.h. One request at a time per
 * connection: reading pauses while a verb works, so answers come back in
 * request order without any queueing of our own.
 */
#include "daemon/control.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_VERBS      32
#define IDLE_TIMEOUT_S 300 /* a forgotten ferryctl must not pin a slot */

struct verb {
        const char *name;
        control_verb_fn fn;
        void *opaque;
};

struct conn;

struct control {
        struct event_base *base;
        struct evconnlistener *listener;
        char *path;
        struct verb verbs[MAX_VERBS];
        size_t nverbs;
        struct conn *conns; /* list, for control_free */
};

struct conn {
        struct control *ctl;
        struct bufferevent *bev;
        struct control_req *pending;
        struct conn *next, **prevp;
        uid_t uid;
        pid_t pid;
        bool closing; /* free once the last reply is written */
};

struct control_req {
        struct conn *conn; /* NULL once the client has gone */
        char cmd[64];
};

static void conn_free(struct conn *c)
{
        if (c->pending)
                c->pending->conn = NULL; /* answered later into the void */
        *c->prevp = c->next;
        if (c->next)
                c->next->prevp = c->prevp;
        bufferevent_free(c->bev);
        free(c);
}

static void send_json(struct conn *c, json_t *msg)
{
        char *text = json_dumps(msg, JSON_COMPACT);
        if (!text) {
                log_error("control: cannot encode a reply to pid %d",
                          (int)c->pid);
                return;
        }
        struct evbuffer *out = bufferevent_get_output(c->bev);
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        free(text);
}

/* Whether a whole request line is waiting in the input. */
static bool has_line(struct conn *c)
{
        struct evbuffer *in = bufferevent_get_input(c->bev);
        return evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF).pos >= 0;
}

static void answer(struct control_req *req, json_t *msg)
{
        struct conn *c = req->conn;
        if (c) {
                c->pending = NULL;
                send_json(c, msg);
                if (!c->closing)
                        bufferevent_enable(c->bev, EV_READ);
                /* Requests sent together were read together: the socket
                 * will not wake on_read for them again. */
                if (has_line(c))
                        bufferevent_trigger(c->bev, EV_READ,
                                            BEV_TRIG_DEFER_CALLBACKS);
        }
        json_decref(msg);
        free(req);
}

void control_req_ok(struct control_req *req, json_t *result)
{
        answer(req,
               json_pack("{s:i, s:b, s:o}", "v", CONTROL_PROTOCOL_VERSION, "ok",
                         1, "result", result ? result : json_object()));
}

/* Replaces each byte that is not part of valid UTF-8 (as jansson checks
 * it: no overlongs, surrogates or code points past U+10FFFF) with '?'.
 * A reason quotes what the client sent (jansson's error text does) and
 * may be cut mid-character; jansson would refuse to encode either, and
 * the client would never get its answer. */
static void utf8_scrub(char *text)
{
        unsigned char *s = (unsigned char *)text;
        while (*s) {
                size_t n = *s < 0x80   ? 1
                           : *s < 0xc2 ? 0
                           : *s < 0xe0 ? 2
                           : *s < 0xf0 ? 3
                           : *s < 0xf5 ? 4
                                       : 0;
                uint32_t cp = n == 1 ? *s : *s & (0x7f >> n);
                size_t i;
                for (i = 1; i < n && (s[i] & 0xc0) == 0x80; i++)
                        cp = cp << 6 | (s[i] & 0x3f);
                bool ok = n && i == n &&
                          !(n == 3 &&
                            (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
                          !(n == 4 && (cp < 0x10000 || cp > 0x10ffff));
                if (ok)
                        s += n;
                else
                        *s++ = '?';
        }
}

void control_req_fail(struct control_req *req, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        utf8_scrub(msg);
        log_info("control: %s refused: %s", req->cmd[0] ? req->cmd : "request",
                 msg);
        answer(req, json_pack("{s:i, s:b, s:s}", "v", CONTROL_PROTOCOL_VERSION,
                              "ok", 0, "error", msg));
}

static void dispatch(struct conn *c, const char *line, size_t len)
{
        struct control_req *req = xcalloc(1, sizeof(*req));
        json_error_t jerr;
        req->conn = c;
        c->pending = req;
        bufferevent_disable(c->bev, EV_READ);

        json_t *msg = json_loadb(line, len, 0, &jerr);
        if (!msg || !json_is_object(msg)) {
                control_req_fail(req, "malformed request: %s",
                                 msg ? "not a JSON object" : jerr.text);
                json_decref(msg);
                return;
        }
        json_t *v = json_object_get(msg, "v");
        json_t *cmd = json_object_get(msg, "cmd");
        json_t *args = json_object_get(msg, "args");
        if (v && (!json_is_integer(v) ||
                  json_integer_value(v) != CONTROL_PROTOCOL_VERSION)) {
                control_req_fail(req,
                                 "protocol version %s is not spoken "
                                 "here (this ferryd speaks %d)",
                                 json_is_integer(v) ? "other" : "unreadable",
                                 CONTROL_PROTOCOL_VERSION);
        } else if (!json_is_string(cmd)) {
                control_req_fail(req, "malformed request: \"cmd\" must be "
                                      "a string");
        } else if (args && !json_is_object(args)) {
                control_req_fail(req, "malformed request: \"args\" must be "
                                      "an object");
        } else {
                const char *name = json_string_value(cmd);
                snprintf(req->cmd, sizeof(req->cmd), "%s", name);
                size_t i;
                for (i = 0; i < c->ctl->nverbs; i++)
                        if (!strcmp(c->ctl->verbs[i].name, name))
                                break;
                if (i == c->ctl->nverbs) {
                        control_req_fail(req, "unknown command '%.60s'", name);
                } else {
                        json_t *a = args ? json_incref(args) : json_object();
                        log_info("control: %s from pid %d uid %u", name,
                                 (int)c->pid, (unsigned)c->uid);
                        c->ctl->verbs[i].fn(c->ctl->verbs[i].opaque, req, a);
                        json_decref(a);
                }
        }
        json_decref(msg);
}

static void on_read(struct bufferevent *bev, void *arg)
{
        struct conn *c = arg;
        struct evbuffer *in = bufferevent_get_input(bev);
        while (!c->pending) {
                size_t len;
                char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
                if (!line) {
                        if (evbuffer_get_length(in) > CONTROL_MAX_LINE) {
                                json_t *m = json_pack("{s:i, s:b, s:s}", "v",
                                                      CONTROL_PROTOCOL_VERSION,
                                                      "ok", 0, "error",
                                                      "request line too long");
                                send_json(c, m);
                                json_decref(m);
                                evbuffer_drain(in, evbuffer_get_length(in));
                                /* The rest of that line would read as
                                 * garbage: hang up once this is sent. */
                                bufferevent_disable(bev, EV_READ);
                                c->closing = true;
                        } else if (c->closing &&
                                   !evbuffer_get_length(
                                           bufferevent_get_output(bev))) {
                                conn_free(c); /* all answered and sent */
                        }
                        return;
                }
                if (len > CONTROL_MAX_LINE) {
                        free(line);
                        json_t *m = json_pack("{s:i, s:b, s:s}", "v",
                                              CONTROL_PROTOCOL_VERSION, "ok", 0,
                                              "error", "request line too long");
                        send_json(c, m);
                        json_decref(m);
                        continue;
                }
                if (len > 0)
                        dispatch(c, line, len);
                free(line);
        }
}

static void on_write(struct bufferevent *bev, void *arg)
{
        struct conn *c = arg;
        (void)bev;
        /* A half-closed client still gets the answers to every request
         * it sent before closing. */
        if (c->closing && !c->pending && !has_line(c))
                conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
        struct conn *c = arg;
        /* A client that half-closes after its request (echo ... | socat)
         * still gets the answer: hang up once it is written. */
        if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
            (c->pending || evbuffer_get_length(bufferevent_get_output(bev)))) {
                c->closing = true;
                bufferevent_disable(bev, EV_READ);
                return;
        }
        if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
                conn_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
        struct control *ctl = arg;
        struct ucred cred;
        socklen_t clen = sizeof(cred);
        (void)l;
        (void)sa;
        (void)salen;
        /* The socket's mode already keeps others out; the credential
         * check also holds when someone loosens the directory or mode. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
            (cred.uid != geteuid() && cred.uid != 0)) {
                static const char refusal[] =
                        "{\"v\":1,\"ok\":false,\"error\":\"permission "
                        "denied: not the daemon's user\"}\n";
                log_warning("control: refused a connection from uid %ld",
                            clen == sizeof(cred) ? (long)cred.uid : -1L);
                if (write(fd, refusal, sizeof(refusal) - 1) < 0) {
                        /* the peer may be gone already; nothing to do */
                }
                close(fd);
                return;
        }
        struct conn *c = xcalloc(1, sizeof(*c));
        c->ctl = ctl;
        c->uid = cred.uid;
        c->pid = cred.pid;
        c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
        struct timeval idle = {IDLE_TIMEOUT_S, 0};
        bufferevent_set_timeouts(c->bev, &idle, NULL);
        bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        c->next = ctl->conns;
        if (c->next)
                c->next->prevp = &c->next;
        c->prevp = &ctl->conns;
        ctl->conns = c;
}

/* A socket file left by a crashed daemon is in the way; one that a live
 * daemon answers on means a second ferryd with the same config. */
static int clear_stale(const char *path, char *errstr, size_t errstr_size)
{
        struct stat st;
        if (lstat(path, &st) != 0)
                return 0;
        if (!S_ISSOCK(st.st_mode)) {
                snprintf(errstr, errstr_size,
                         "control_socket %s exists and "
                         "is not a socket; remove it or pick another path",
                         path);
                return FERRY_ERR_CONFIG;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        int live = fd >= 0 &&
                   connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
        if (fd >= 0)
                close(fd);
        if (live) {
                snprintf(errstr, errstr_size,
                         "control_socket %s: another "
                         "ferryd is running there",
                         path);
                return FERRY_ERR_CONFIG;
        }
        unlink(path);
        return 0;
}

struct control *control_new(struct event_base *base, const char *path,
                            char *errstr, size_t errstr_size)
{
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sun.sun_path)) {
                snprintf(errstr, errstr_size,
                         "control_socket %s: longer than "
                         "the %zu bytes a unix socket path may have",
                         path, sizeof(sun.sun_path) - 1);
                return NULL;
        }
        if (clear_stale(path, errstr, errstr_size))
                return NULL;
        memcpy(sun.sun_path, path, strlen(path) + 1);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "control_socket %s: socket: %s",
                         path, strerror(errno));
                return NULL;
        }
        /* Created 0600 from the start: no window in which others could
         * connect between bind and chmod. */
        mode_t old = umask(0177);
        int bad = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
        int bind_errno = errno;
        umask(old);
        if (bad || listen(fd, 16) != 0) {
                snprintf(errstr, errstr_size, "control_socket %s: %s: %s", path,
                         bad ? "bind" : "listen",
                         strerror(bad ? bind_errno : errno));
                close(fd);
                return NULL;
        }
        struct control *ctl = xcalloc(1, sizeof(*ctl));
        ctl->base = base;
        ctl->path = xstrdup(path);
        ctl->listener = evconnlistener_new(base, on_accept, ctl,
                                           LEV_OPT_CLOSE_ON_FREE, -1, fd);
        if (!ctl->listener) {
                snprintf(errstr, errstr_size,
                         "control_socket %s: cannot "
                         "listen",
                         path);
                close(fd);
                unlink(path);
                free(ctl->path);
                free(ctl);
                return NULL;
        }
        return ctl;
}

void control_free(struct control *ctl)
{
        if (!ctl)
                return;
        evconnlistener_free(ctl->listener);
        unlink(ctl->path);
        while (ctl->conns) {
                struct conn *c = ctl->conns;
                if (c->pending)
                        control_req_fail(c->pending, "ferryd is stopping");
                /* The loop will not run again: hand over what is written
                 * (replies are small; the socket takes them at once). */
                struct evbuffer *out = bufferevent_get_output(c->bev);
                while (evbuffer_get_length(out) &&
                       evbuffer_write(out, bufferevent_getfd(c->bev)) > 0) {
                }
                conn_free(c);
        }
        free(ctl->path);
        free(ctl);
}

void control_register(struct control *ctl, const char *name, control_verb_fn fn,
                      void *opaque)
{
        if (ctl->nverbs == MAX_VERBS) {
                log_error("control: verb table full, '%s' not registered",
                          name);
                return;
        }
        ctl->verbs[ctl->nverbs++] = (struct verb){name, fn, opaque};
}
