/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the control protocol: the input is what a client
 * writes on the control socket, sent over a real unix connection to a
 * control server on its own event_base. Whatever arrives, every request
 * line gets exactly one reply, and every reply is one line of JSON
 * {"v":1,"ok":...}; no crash, leak or out-of-bounds read.
 *
 * Verbs: "now" answers at once, "later" on the next loop iteration (as a
 * cutover does), "fail" refuses, naming args.table as control_verbs.c
 * does. An input of even length gets a trailing newline; one whose
 * length is a multiple of 3 half-closes after writing (echo | socat); one
 * starting with 0xff is the rest repeated into one line longer than
 * CONTROL_MAX_LINE.
 */
#include "common/log.h"
#include "daemon/control.h"

#include <errno.h>
#include <stdbool.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct control *ctl;
static char sock_path[108];
static size_t later_pending;

static void on_later(evutil_socket_t fd, short what, void *arg)
{
        struct control_req *req = arg;
        later_pending--;
        control_req_ok(req, json_pack("{s:b}", "later", 1));
}

static void verb_now(void *opaque, struct control_req *req, json_t *args)
{
        control_req_ok(req, json_pack("{s:O}", "args", args));
}

static void verb_later(void *opaque, struct control_req *req, json_t *args)
{
        struct timeval zero = {0, 0};
        later_pending++;
        if (event_base_once(base, -1, EV_TIMEOUT, on_later, req, &zero))
                abort();
}

static void verb_fail(void *opaque, struct control_req *req, json_t *args)
{
        const char *name = json_string_value(json_object_get(args, "table"));
        control_req_fail(req, "table '%s' is not one [source] tables selects",
                         name ? name : "?");
}

static void stop(void)
{
        control_free(ctl);
        event_base_free(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        char err[512];
        log_set_level(LOG_LVL_FATAL);
        snprintf(sock_path, sizeof(sock_path), "/tmp/ferry-fuzz-ctl-%ld.sock",
                 (long)getpid());
        base = event_base_new();
        if (!base || !(ctl = control_new(base, sock_path, err, sizeof(err)))) {
                fprintf(stderr, "fuzz_control: %s\n", base ? err : "no base");
                abort();
        }
        control_register(ctl, "now", verb_now, NULL);
        control_register(ctl, "later", verb_later, NULL);
        control_register(ctl, "fail", verb_fail, NULL);
        atexit(stop);
        return 0;
}

/* Checks each complete reply line in buf[0..*len) and drops it.
 * @returns how many there were. */
static size_t take_replies(char *buf, size_t *len)
{
        size_t n = 0, off = 0;
        char *nl;
        while ((nl = memchr(buf + off, '\n', *len - off))) {
                size_t l = (size_t)(nl - (buf + off));
                json_error_t jerr;
                json_t *r = json_loadb(buf + off, l, 0, &jerr);
                if (!json_is_object(r) ||
                    json_integer_value(json_object_get(r, "v")) != 1 ||
                    !json_is_boolean(json_object_get(r, "ok"))) {
                        fprintf(stderr, "fuzz_control: bad reply '%.*s': %s\n",
                                (int)l, buf + off,
                                r ? "wrong shape" : jerr.text);
                        abort();
                }
                json_decref(r);
                off += l + 1;
                n++;
        }
        memmove(buf, buf + off, *len - off);
        *len -= off;
        return n;
}

/* Reads what the server has sent so far into buf. */
static void drain(int fd, char *buf, size_t *len, size_t cap, size_t *replies)
{
        for (;;) {
                if (*len == cap) {
                        fprintf(stderr, "fuzz_control: a reply line is "
                                        "longer than the buffer\n");
                        abort();
                }
                ssize_t n = read(fd, buf + *len, cap - *len);
                if (n <= 0)
                        break;
                *len += (size_t)n;
                *replies += take_replies(buf, len);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char reply[1 << 20];
        size_t rlen = 0, replies = 0;

        /* The request bytes: the input, or its repetition past the line
         * limit, and maybe a newline. */
        size_t total = size + 1;
        bool long_mode = size > 1 && data[0] == 0xff;
        if (long_mode)
                total = (CONTROL_MAX_LINE / (size - 1) + 2) * (size - 1) + 1;
        uint8_t *req = malloc(total);
        size_t reqlen = 0;
        if (long_mode) {
                /* One line past the limit: its newlines become spaces. */
                while (reqlen + size - 1 < total) {
                        memcpy(req + reqlen, data + 1, size - 1);
                        reqlen += size - 1;
                }
                for (size_t i = 0; i < reqlen; i++)
                        if (req[i] == '\n')
                                req[i] = ' ';
        } else {
                memcpy(req, data, size);
                reqlen = size;
        }
        if (size % 2 == 0)
                req[reqlen++] = '\n';

        /* One reply for each non-empty complete line. */
        size_t expected = 0, linelen = 0;
        for (size_t i = 0; i < reqlen; i++) {
                if (req[i] != '\n') {
                        linelen++;
                        continue;
                }
                expected += linelen > 0;
                linelen = 0;
        }

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
                abort();

        size_t sent = 0;
        int idle = 0, settled = 0;
        while (idle < 50 && settled < 2) {
                if (sent < reqlen) {
                        ssize_t n = send(fd, req + sent, reqlen - sent,
                                         MSG_NOSIGNAL);
                        if (n > 0)
                                sent += (size_t)n;
                        else if (errno != EAGAIN)
                                sent = reqlen; /* the server hung up */
                        if (sent == reqlen && size % 3 == 0)
                                shutdown(fd, SHUT_WR);
                }
                event_base_loop(base, EVLOOP_NONBLOCK);
                size_t before = replies;
                drain(fd, reply, &rlen, sizeof(reply), &replies);
                /* Done once all is sent and answered; a round more to
                 * catch a reply too many. */
                if (sent == reqlen && replies >= expected && !later_pending)
                        settled++;
                idle = replies == before ? idle + 1 : 0;
        }
        /* A line too long for the server is refused once, and the
         * server hangs up. */
        if (long_mode)
                expected = 1;
        if (replies != expected) {
                fprintf(stderr, "fuzz_control: %zu replies to %zu requests\n",
                        replies, expected);
                abort();
        }
        close(fd);
        /* Let the server see the hang-up and answer what is left. */
        for (int round = 0; round < 4 || later_pending; round++)
                event_base_loop(base, EVLOOP_NONBLOCK);
        free(req);
        return 0;
}
