/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for ferryd's INI config: the input is written to a
 * temporary file and loaded with cfg_load, as ferryd --check-config would.
 * A bad file must come back as FERRY_ERR_CONFIG with a message, never a
 * crash, a leak or an out-of-bounds read. Password files it names do not
 * exist (or are not password files): that is an error like any other;
 * inputs naming a device, a FIFO or a file under /proc or /sys are
 * skipped (reading /dev/stdin would wait, not crash).
 */
#include "common/log.h"
#include "daemon/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a reload compares a fresh config with. */
static const char base_text[] = "[daemon]\n"
                                "metrics_listen =\n"
                                "[source]\n"
                                "user = ferry\n"
                                "password_file = /dev/null\n"
                                "database = s\n"
                                "tables = a, b%\n"
                                "[kafka]\n"
                                "rdkafka.acks = all\n"
                                "[sink]\n"
                                "user = ferry\n"
                                "database = t\n"
                                "mapping = /m.json\n";

static int load(const uint8_t *data, size_t size, struct cfg **cfgp, char *err,
                size_t errsz)
{
        char path[] = "/tmp/ferry-fuzz-config-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
                abort();
        size_t off = 0;
        while (off < size) {
                ssize_t n = write(fd, data + off, size - off);
                if (n <= 0)
                        abort();
                off += (size_t)n;
        }
        close(fd);
        int rc = cfg_load(path, cfgp, err, errsz);
        unlink(path);
        return rc;
}

/* password_file is read: a path such as /dev/stdin, /dev/tty,
 * /proc/self/fd/0 or a FIFO like /run/initctl would block the run on a
 * read, not find a bug. Any path-like word of the input that exists and
 * is neither a file, a directory nor /dev/null, or is under /proc or
 * /sys, skips the input. */
static bool blocking_path(const uint8_t *data, size_t size)
{
        static const char stops[] = " \t\r\n;#=,";
        char word[4096];
        size_t i = 0;
        while (i < size) {
                if (data[i] != '/') {
                        i++;
                        continue;
                }
                size_t n = 0;
                while (i < size && data[i] && !strchr(stops, data[i])) {
                        if (n + 1 < sizeof(word))
                                word[n++] = (char)data[i];
                        i++;
                }
                word[n] = '\0';
                struct stat st;
                if (!strncmp(word, "/proc/", 6) || !strncmp(word, "/sys/", 5))
                        return true;
                if (stat(word, &st) == 0 && !S_ISREG(st.st_mode) &&
                    !S_ISDIR(st.st_mode) && strcmp(word, "/dev/null"))
                        return true;
        }
        return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct cfg *base;
        struct cfg *cfg;
        char err[1024];
        if (!base && load((const uint8_t *)base_text, strlen(base_text), &base,
                          err, sizeof(err)))
                abort(); /* base_text above is wrong */

        if (blocking_path(data, size))
                return 0;
        if (load(data, size, &cfg, err, sizeof(err)) == 0) {
                /* A reload against itself changes nothing; against
                 * another config the list stays within its buffer. */
                char diff[64];
                if (cfg_reload_diff(cfg, cfg, diff, sizeof(diff)) != 0)
                        abort();
                (void)cfg_reload_diff(base, cfg, diff, sizeof(diff));
                if (!memchr(diff, '\0', sizeof(diff)))
                        abort();
                (void)cfg_reload_diff(cfg, base, NULL, 0);
                cfg_free(cfg);
        } else if (cfg || !memchr(err, '\0', sizeof(err)) || !err[0]) {
                abort(); /* an error leaves no config and says why */
        }
        return 0;
}
