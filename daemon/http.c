/* SPDX-License-Identifier: Apache-2.0
 * The operations HTTP endpoint; see http.h. We bind the socket ourselves
 * (rather than evhttp_bind_socket) so that a bad metrics_listen gets an
 * error that names the address and says exactly what failed.
 */
#include "daemon/http.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Scrapers and probes send small requests; anything else is not ours. */
#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY    4096
#define HTTP_TIMEOUT_S   10

struct http_server {
        struct evhttp *http;
        struct metrics *reg;
        http_ready_fn ready;
        void *opaque;
        uint16_t port;
        struct buf scratch; /* reused by every /metrics scrape */
};

int http_listen_parse(const char *addr, char **host, uint16_t *port,
                      char *errstr, size_t errstr_size)
{
        const char *colon, *h = addr;
        size_t hlen;
        char *end;
        unsigned long p;

        if (!addr || !*addr) {
                snprintf(errstr, errstr_size,
                         "metrics_listen is empty: expected host:port");
                return FERRY_ERR_CONFIG;
        }
        if (addr[0] == '[') {
                const char *close = strchr(addr, ']');
                if (!close || close[1] != ':') {
                        snprintf(errstr, errstr_size,
                                 "metrics_listen '%s': expected [ipv6]:port",
                                 addr);
                        return FERRY_ERR_CONFIG;
                }
                h = addr + 1;
                hlen = (size_t)(close - h);
                colon = close + 1;
        } else {
                colon = strchr(addr, ':');
                if (!colon || strchr(colon + 1, ':')) {
                        snprintf(errstr, errstr_size,
                                 "metrics_listen '%s': expected host:port "
                                 "or [ipv6]:port",
                                 addr);
                        return FERRY_ERR_CONFIG;
                }
                hlen = (size_t)(colon - addr);
        }
        if (hlen == 0) {
                snprintf(errstr, errstr_size,
                         "metrics_listen '%s': no host (use 0.0.0.0 or [::] "
                         "for every address)",
                         addr);
                return FERRY_ERR_CONFIG;
        }
        errno = 0;
        p = strtoul(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end || errno || p > 65535) {
                snprintf(errstr, errstr_size,
                         "metrics_listen '%s': port must be 0..65535", addr);
                return FERRY_ERR_CONFIG;
        }
        *host = xstrndup(h, hlen);
        *port = (uint16_t)p;
        return 0;
}

/* Binds and listens on the first address of host that accepts us.
 * @returns the non-blocking socket, or -1 with errstr set. */
static int listen_socket(const char *addr, const char *host, uint16_t port,
                         char *errstr, size_t errstr_size)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *res, *ai;
        char service[8];
        int rc, fd = -1, err = 0;

        snprintf(service, sizeof(service), "%u", (unsigned)port);
        rc = getaddrinfo(host, service, &hints, &res);
        if (rc) {
                snprintf(errstr, errstr_size,
                         "metrics_listen '%s': cannot resolve '%s': %s", addr,
                         host, gai_strerror(rc));
                return -1;
        }
        for (ai = res; ai; ai = ai->ai_next) {
                int one = 1;

                fd = socket(ai->ai_family,
                            ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            ai->ai_protocol);
                if (fd < 0) {
                        err = errno;
                        continue;
                }
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                 sizeof(one));
                /* "[::]" means IPv6 only; "0.0.0.0" covers IPv4. */
                if (ai->ai_family == AF_INET6)
                        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
                                         sizeof(one));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                    listen(fd, 64) == 0)
                        break;
                err = errno;
                close(fd);
                fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0)
                snprintf(errstr, errstr_size,
                         "metrics_listen '%s': cannot listen: %s", addr,
                         strerror(err ? err : EADDRNOTAVAIL));
        return fd;
}

static uint16_t bound_port(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &len))
                return 0;
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return 0;
}

static void reply(struct evhttp_request *req, int code, const char *reason,
                  const char *content_type, const void *body, size_t len)
{
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);

        evhttp_add_header(h, "Content-Type", content_type);
        evhttp_add_header(h, "Cache-Control", "no-store");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
        evhttp_send_reply(req, code, reason, NULL);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *text)
{
        reply(req, code, reason, "text/plain; charset=utf-8", text,
              strlen(text));
}

static void serve_metrics(struct http_server *srv, struct evhttp_request *req)
{
        buf_reset(&srv->scratch);
        metrics_render(srv->reg, &srv->scratch);
        reply(req, HTTP_OK, "OK", METRICS_CONTENT_TYPE, srv->scratch.data,
              srv->scratch.len);
        /* One big scrape should not pin its buffer for the process life. */
        if (srv->scratch.cap > (1u << 20))
                buf_free(&srv->scratch);
}

static void serve_readyz(struct http_server *srv, struct evhttp_request *req)
{
        char reason[256] = "";
        char body[300];

        if (!srv->ready || srv->ready(srv->opaque, reason, sizeof(reason))) {
                reply_text(req, HTTP_OK, "OK", "ready\n");
                return;
        }
        snprintf(body, sizeof(body), "not ready: %s\n",
                 reason[0] ? reason : "unknown");
        reply_text(req, 503, "Service Unavailable", body);
}

/* @context loop */
static void handle(struct evhttp_request *req, void *arg)
{
        struct http_server *srv = arg;
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        enum { P_NONE, P_METRICS, P_HEALTHZ, P_READYZ } which = P_NONE;

        if (path && !strcmp(path, "/metrics"))
                which = P_METRICS;
        else if (path && !strcmp(path, "/healthz"))
                which = P_HEALTHZ;
        else if (path && !strcmp(path, "/readyz"))
                which = P_READYZ;

        if (which == P_NONE) {
                reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
                return;
        }
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
                evhttp_add_header(evhttp_request_get_output_headers(req),
                                  "Allow", "GET, HEAD");
                reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
                           "method not allowed\n");
                return;
        }
        switch (which) {
        case P_METRICS:
                serve_metrics(srv, req);
                break;
        case P_HEALTHZ:
                /* Answering at all proves the loop turns. */
                reply_text(req, HTTP_OK, "OK", "ok\n");
                break;
        case P_READYZ:
                serve_readyz(srv, req);
                break;
        case P_NONE:
                break;
        }
}

struct http_server *http_server_new(struct event_base *base, const char *addr,
                                    struct metrics *reg, http_ready_fn ready,
                                    void *opaque, char *errstr,
                                    size_t errstr_size)
{
        struct http_server *srv;
        char *host = NULL;
        uint16_t port;
        int fd;

        if (http_listen_parse(addr, &host, &port, errstr, errstr_size))
                return NULL;
        fd = listen_socket(addr, host, port, errstr, errstr_size);
        free(host);
        if (fd < 0)
                return NULL;

        srv = xcalloc(1, sizeof(*srv));
        srv->reg = reg;
        srv->ready = ready;
        srv->opaque = opaque;
        srv->port = bound_port(fd);
        buf_init(&srv->scratch);
        srv->http = evhttp_new(base);
        if (!srv->http) {
                snprintf(errstr, errstr_size,
                         "metrics_listen '%s': evhttp_new failed", addr);
                goto fail;
        }
        /* Let every method reach handle() so that it can answer 405;
         * evhttp itself would answer 501 to the ones it was not told of. */
        evhttp_set_allowed_methods(
                srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                   EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                   EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
        evhttp_set_max_headers_size(srv->http, HTTP_MAX_HEADERS);
        evhttp_set_max_body_size(srv->http, HTTP_MAX_BODY);
        evhttp_set_timeout(srv->http, HTTP_TIMEOUT_S);
        evhttp_set_gencb(srv->http, handle, srv);
        if (!evhttp_accept_socket_with_handle(srv->http, fd)) {
                snprintf(errstr, errstr_size,
                         "metrics_listen '%s': cannot accept on socket", addr);
                goto fail;
        }
        log_info("http: serving /metrics /healthz /readyz listen=%s port=%u",
                 addr, (unsigned)srv->port);
        return srv;

fail:
        close(fd);
        http_server_free(srv);
        return NULL;
}

uint16_t http_server_port(const struct http_server *srv)
{
        return srv->port;
}

void http_server_free(struct http_server *srv)
{
        if (!srv)
                return;
        if (srv->http)
                evhttp_free(srv->http);
        buf_free(&srv->scratch);
        free(srv);
}
