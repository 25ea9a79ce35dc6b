/*
 * test_workers — the thread set of lib/workers.h: every index runs exactly
 * once, on several threads, loop after loop; the lowest failing index's error
 * is the one reported; one worker runs everything in the caller, in order.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "testutil.h"
#include "util.h"
#include "workers.h"

#define N 10000

typedef struct loop
{
	atomic_int	hits[N];
	atomic_int	threads_seen;
	pthread_t	first;
	size_t		fail_from;		/* indices >= this fail (N: none) */
	size_t		order[N];
	atomic_size_t norder;
} loop;

static int
item(void *arg, size_t i, pgark_err *err)
{
	loop	   *l = arg;

	atomic_fetch_add(&l->hits[i], 1);
	l->order[atomic_fetch_add(&l->norder, 1)] = i;
	if (!pthread_equal(pthread_self(), l->first))
		atomic_store(&l->threads_seen, 1);
	if (i >= l->fail_from)
		return err_set(err, PGARK_ERR_IO, 0, "item %zu failed", i);
	/* a little work, so that the threads overlap */
	for (volatile int k = 0; k < 200; k++)
		;
	return 0;
}

static loop l;

/* On the calling thread, wait (up to 10 s in all) until an item has run on
 * another thread: a loop that only ever runs in the caller fails the check. */
static atomic_int other_ran;
static int	waited_ms;

static int
item_wait(void *arg, size_t i, pgark_err *err)
{
	(void) arg;
	(void) i;
	(void) err;
	if (!pthread_equal(pthread_self(), l.first))
	{
		atomic_store(&other_ran, 1);
		return 0;
	}
	for (; waited_ms < 10000 && !atomic_load(&other_ran); waited_ms++)
		nanosleep(&(struct timespec) {0, 1000000}, NULL);
	return 0;
}

static void
reset(size_t fail_from)
{
	memset(&l, 0, sizeof(l));
	l.first = pthread_self();
	l.fail_from = fail_from;
}

int
main(void)
{
	pgark_err	err;
	workers    *w;
	int			bad;

	err_clear(&err);
	ok(workers_default() >= 1, "workers_default: %d", workers_default());

	w = workers_new(4, &err);
	ok(w != NULL && workers_count(w) == 4, "four workers");
	for (int round = 0; round < 50; round++)
	{
		reset(N);
		if (workers_for(w, N, item, &l, &err) != 0)
			break;
		bad = 0;
		for (size_t i = 0; i < N; i++)
			if (atomic_load(&l.hits[i]) != 1)
				bad++;
		if (bad)
		{
			diag("round %d: %d indices not run exactly once", round, bad);
			break;
		}
	}
	is_int(bad, 0, "50 loops of %d items: each index exactly once", N);
	/* how the items spread over the threads depends on the scheduler (a
	 * busy machine may run a whole loop in the caller): checked apart */
	reset(N);
	atomic_store(&other_ran, 0);
	is_int(workers_for(w, 64, item_wait, &l, &err), 0, "a loop whose items wait for one another");
	ok(atomic_load(&other_ran), "... runs items on threads other than the caller's");
	is_int(workers_for(w, 0, item, &l, &err), 0, "an empty loop");

	reset(N / 2);
	is_int(workers_for(w, N, item, &l, &err), -1, "a failing item fails the loop");
	like(err.msg, "item 5000 failed", "... with the lowest failing index's error");
	reset(N);
	is_int(workers_for(w, N, item, &l, &err), 0, "the next loop runs normally");

	/* helpers that poll between loops: loops back to back, and ones that
	 * come after the poll has given up, run every index exactly once */
	workers_set_spin(w, 2000);
	bad = 0;
	for (int round = 0; round < 200 && !bad; round++)
	{
		reset(64);
		if (round % 50 == 49)
			sleep_ms(5);		/* past the poll: the helpers sleep, and are woken */
		if (workers_for(w, 64, item, &l, &err) != 0)
			bad = -1;
		for (size_t i = 0; i < 64 && !bad; i++)
			if (atomic_load(&l.hits[i]) != 1)
				bad = 1;
	}
	is_int(bad, 0, "with workers_set_spin: 200 loops of 64 items, each index exactly once");
	workers_free(w);			/* stops helpers that are polling */
	ok(1, "... and workers_free stops helpers that are polling");

	w = workers_new(1, &err);
	reset(N);
	is_int(workers_for(w, N, item, &l, &err), 0, "one worker");
	bad = 0;
	for (size_t i = 0; i < N; i++)
		if (l.order[i] != i)
			bad++;
	is_int(bad, 0, "... runs every index in order");
	ok(!atomic_load(&l.threads_seen), "... in the calling thread");
	workers_free(w);
	workers_free(NULL);
	return done_testing();
}
