#include "workers.h"

#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


struct workers
{
	int			n;				/* threads in all, the caller's included */
	int			started;		/* helper threads running */
	pthread_t	th[WORKERS_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv_go;
	pthread_cond_t cv_done;
	/* the current loop */
	atomic_ulong gen;			/* bumped for every loop (under mu) */
	atomic_int	stop;
	atomic_long spin_ns;		/* workers_set_spin */
	workers_fn	fn;
	void	   *arg;
	size_t		total;
	size_t		next;			/* next index to hand out */
	int			busy;			/* helpers inside the current loop */
	int			failed;
	size_t		fail_i;
	pgark_err	fail_err;
};

/* Take indices until none is left; record the lowest failure. */
static void
run_items(workers *w)
{
	for (;;)
	{
		size_t		i;
		pgark_err	e;

		pthread_mutex_lock(&w->mu);
		if (w->next >= w->total)
		{
			pthread_mutex_unlock(&w->mu);
			return;
		}
		i = w->next++;
		pthread_mutex_unlock(&w->mu);
		err_clear(&e);
		if (w->fn(w->arg, i, &e) != 0)
		{
			pthread_mutex_lock(&w->mu);
			if (!w->failed || i < w->fail_i)
			{
				w->failed = 1;
				w->fail_i = i;
				w->fail_err = e;
			}
			/* no new items after a failure */
			w->next = w->total;
			pthread_mutex_unlock(&w->mu);
			return;
		}
	}
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static long
elapsed_ns(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* Poll up to spin_ns for a loop newer than seen (or stop), without the lock. */
static void
spin_for_work(workers *w, unsigned long seen)
{
	struct timespec t0;

	if (atomic_load_explicit(&w->spin_ns, memory_order_relaxed) <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 1;; i++)
	{
		if (atomic_load_explicit(&w->gen, memory_order_relaxed) != seen ||
			atomic_load_explicit(&w->stop, memory_order_relaxed))
			return;
		cpu_relax();
		if (i % 64 == 0 && elapsed_ns(&t0) > atomic_load_explicit(&w->spin_ns, memory_order_relaxed))
			return;
	}
}

static void *
helper(void *arg)
{
	workers    *w = arg;
	unsigned long seen = 0;

	for (;;)
	{
		spin_for_work(w, seen);
		pthread_mutex_lock(&w->mu);
		while (w->gen == seen && !w->stop)
			pthread_cond_wait(&w->cv_go, &w->mu);
		if (w->stop)
		{
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		seen = w->gen;
		w->busy++;
		pthread_mutex_unlock(&w->mu);
		run_items(w);
		pthread_mutex_lock(&w->mu);
		w->busy--;
		if (w->busy == 0)
			pthread_cond_signal(&w->cv_done);
		pthread_mutex_unlock(&w->mu);
	}
}

workers *
workers_new(int n, pgark_err *err)
{
	workers    *w = calloc(1, sizeof(*w));

	if (w == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	if (n < 1)
		n = 1;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	w->n = n;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv_go, NULL);
	pthread_cond_init(&w->cv_done, NULL);
	{
		/* the threads start with every signal blocked, so signals reach
		 * only the program's own thread (and its handlers, e.g. a
		 * PostgreSQL archiver's, never run on ours) */
		sigset_t	all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (int i = 0; i < n - 1; i++)
		{
			if (pthread_create(&w->th[i], NULL, helper, w) != 0)
				break;			/* fewer threads: slower, not wrong */
			w->started++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return w;
}

void
workers_set_spin(workers *w, long us)
{
	if (w != NULL)
		atomic_store(&w->spin_ns, us > 0 ? us * 1000 : 0);
}

int
workers_count(const workers *w)
{
	return w->started + 1;
}

int
workers_for(workers *w, size_t n, workers_fn fn, void *arg, pgark_err *err)
{
	if (n == 0)
		return 0;
	if (w->started == 0 || n == 1)
	{
		for (size_t i = 0; i < n; i++)
			if (fn(arg, i, err) != 0)
				return -1;
		return 0;
	}
	pthread_mutex_lock(&w->mu);
	w->fn = fn;
	w->arg = arg;
	w->total = n;
	w->next = 0;
	w->failed = 0;
	w->gen++;
	pthread_cond_broadcast(&w->cv_go);
	pthread_mutex_unlock(&w->mu);

	run_items(w);

	pthread_mutex_lock(&w->mu);
	/* every index handed out, and every helper out of the loop */
	while (w->busy > 0 || w->next < w->total)
		pthread_cond_wait(&w->cv_done, &w->mu);
	/* a helper that wakes late finds nothing left and goes back to sleep */
	w->total = 0;
	w->next = 0;
	pthread_mutex_unlock(&w->mu);
	if (w->failed)
	{
		*err = w->fail_err;
		return -1;
	}
	return 0;
}

void
workers_free(workers *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv_go);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->started; i++)
		pthread_join(w->th[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv_go);
	pthread_cond_destroy(&w->cv_done);
	free(w);
}

int
workers_default(void)
{
	cpu_set_t	set;
	int			n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return n < WORKERS_MAX ? n : WORKERS_MAX;
	return 1;
}
