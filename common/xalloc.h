/* SPDX-License-Identifier: Apache-2.0
 * Allocation that never returns NULL: running out of memory in a
 * replication daemon is not recoverable in any useful way, so we log
 * and abort, and systemd restarts us from the last checkpoint.
 */
#ifndef FERRY_XALLOC_H
#define FERRY_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

/* Routes jansson's allocations through xmalloc/free. */
void xalloc_install_jansson(void);

#endif
