/*
 * workers.h — a fixed set of threads that run one parallel loop at a time:
 * workers_for(w, n, fn, arg) calls fn(arg, i, err) for every i in [0, n),
 * spread over the threads and the calling thread, and returns when all are
 * done: 0, or -1 with the error of the lowest failing i. No thread outlives
 * workers_free. With 1 worker everything runs in the caller, in order.
 */
#ifndef PGARK_WORKERS_H
#define PGARK_WORKERS_H

#include <stddef.h>

#include "err.h"

#define WORKERS_MAX 64

typedef struct workers workers;
typedef int (*workers_fn) (void *arg, size_t i, pgark_err *err);

/* n threads in all, the caller's included (n >= 1). */
workers    *workers_new(int n, pgark_err *err);
int			workers_count(const workers *w);

/*
 * From now on a helper that has finished its part of a loop polls for the
 * next one for up to us microseconds before it sleeps (0, the default: it
 * sleeps at once). For callers that run loops back to back, like wal-push
 * sealing a segment in batches of a few frames: a helper that went to sleep
 * is often woken on the caller's CPU and waits for it, so the two threads
 * take turns on one core while the other idles. Costs up to us of CPU per
 * loop when no next loop comes.
 */
void		workers_set_spin(workers *w, long us);
int			workers_for(workers *w, size_t n, workers_fn fn, void *arg, pgark_err *err);
void		workers_free(workers *w);

/* The number of CPUs this process may run on (at least 1). */
int			workers_default(void);

#endif
