/*
 * testutil.h — helpers shared by pgark's unit tests: hex literals, scratch
 * directories under $TMPDIR, whole-file I/O, and memory sinks/sources for the
 * object container. Header-only (static inline) so the Makefile's
 * test_X = test_X.o + tap.o rule needs nothing more.
 */
#ifndef PGARK_TESTUTIL_H
#define PGARK_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "tap.h"

/* is_kind(err, PGARK_ERR_X, "desc"): the error kind, compared by name. */
#define is_kind(e, k, ...) \
	tap_is_str(err_kind_name((e).kind), err_kind_name(k), __FILE__, __LINE__, __VA_ARGS__)

static inline int
tu_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a hex literal (spaces allowed) into out; returns the byte count. */
static inline size_t
unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t		n = 0;
	int			hi = -1;

	for (const char *p = hex; *p; p++)
	{
		int			v;

		if (*p == ' ' || *p == '\n')
			continue;
		v = tu_hexval(*p);
		if (v < 0)
			bail_out("bad hex digit '%c' in test vector", *p);
		if (hi < 0)
			hi = v;
		else
		{
			if (n >= max)
				bail_out("test vector longer than its buffer (%zu)", max);
			out[n++] = (uint8_t) ((hi << 4) | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		bail_out("odd number of hex digits in test vector");
	return n;
}

/* A fresh directory under $TMPDIR (else /tmp); bails out on failure. */
static inline void
make_tmpdir(char *out, size_t outlen, const char *tag)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t) snprintf(out, outlen, "%s/pgark-unit-%s.XXXXXX", base, tag) >= outlen)
		bail_out("TMPDIR too long");
	if (mkdtemp(out) == NULL)
		bail_out("mkdtemp %s: %s", out, strerror(errno));
}

static inline int
tu_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void) sb;
	(void) type;
	(void) ftw;
	return remove(path);
}

static inline void
rm_rf(const char *path)
{
	(void) nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Create or replace path with exactly len bytes and the given mode. */
static inline void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int			fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		bail_out("create %s: %s", path, strerror(errno));
	if (fchmod(fd, mode) != 0 || (len > 0 && write(fd, data, len) != (ssize_t) len) || close(fd) != 0)
		bail_out("write %s: %s", path, strerror(errno));
}

static inline void
write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s), 0600);
}

/* Read a whole file (malloc'd, NUL-terminated); NULL if it cannot be read. */
static inline uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf = NULL;
	size_t		used = 0, cap = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t		n;

		if (cap - used < 4096)
		{
			uint8_t    *nb = realloc(buf, cap * 2 + 8192);

			if (nb == NULL)
				bail_out("out of memory");
			buf = nb;
			cap = cap * 2 + 8192;
		}
		n = fread(buf + used, 1, cap - used - 1, f);
		used += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
	{
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[used] = '\0';
	*len = used;
	return buf;
}

/* ------------------------------------------------------------------ memory sink/source */

typedef struct membuf
{
	uint8_t    *buf;
	size_t		len;
	size_t		cap;
	int			fail_after;		/* >0: the Nth call fails (sink tests) */
	int			calls;
} membuf;

static inline void
membuf_append(membuf *m, const void *p, size_t n)
{
	if (m->len + n > m->cap)
	{
		size_t		cap = m->cap ? m->cap : 4096;
		uint8_t    *nb;

		while (cap < m->len + n)
			cap *= 2;
		nb = realloc(m->buf, cap);
		if (nb == NULL)
			bail_out("out of memory");
		m->buf = nb;
		m->cap = cap;
	}
	if (n > 0)
		memcpy(m->buf + m->len, p, n);
	m->len += n;
}

static inline void
membuf_free(membuf *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

/* obj_sink_fn over a membuf */
static inline int
mem_sink(void *arg, const void *buf, size_t len, pgark_err *err)
{
	membuf	   *m = arg;

	m->calls++;
	if (m->fail_after > 0 && m->calls >= m->fail_after)
		return err_set(err, PGARK_ERR_NOSPACE, ENOSPC, "test sink full");
	membuf_append(m, buf, len);
	return 0;
}

typedef struct memsrc
{
	const uint8_t *buf;
	size_t		len;
	size_t		pos;
	size_t		chunk;			/* at most this many bytes per call (0 = all) */
} memsrc;

/* obj_source_fn over a memsrc: short reads of `chunk` bytes, like a pipe. */
static inline int
mem_source(void *arg, void *buf, size_t len, size_t *got, pgark_err *err)
{
	memsrc	   *s = arg;
	size_t		n = s->len - s->pos;

	(void) err;
	if (n > len)
		n = len;
	if (s->chunk > 0 && n > s->chunk)
		n = s->chunk;
	if (n > 0)
		memcpy(buf, s->buf + s->pos, n);
	s->pos += n;
	*got = n;
	return 0;
}

/* Deterministic pseudo-random bytes (xorshift64*), for reproducible tests. */
static inline void
fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t	x = seed ? seed : 0x9E3779B97F4A7C15u;

	for (size_t i = 0; i < n; i++)
	{
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t) ((x * 0x2545F4914F6CDD1Du) >> 56);
	}
}

/* Text-like bytes that lz4 compresses well. */
static inline void
fill_text(uint8_t *p, size_t n, uint64_t seed)
{
	static const char *const words[] = {
		"checkpoint ", "segment ", "timeline ", "archive ", "restore ", "WAL ",
		"record ", "page ", "xlog ", "commit ", "relation ", "vacuum ",
	};
	size_t		i = 0;
	uint64_t	x = seed | 1;

	while (i < n)
	{
		const char *w;

		x = x * 6364136223846793005u + 1442695040888963407u;
		w = words[(x >> 33) % (sizeof(words) / sizeof(words[0]))];
		for (; *w && i < n; w++)
			p[i++] = (uint8_t) *w;
	}
}

#endif
