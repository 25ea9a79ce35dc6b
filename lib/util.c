#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* One more than the value of each hex digit, 0 for any other byte (a table:
 * the chunk lines of a restore's manifest are 64 hex digits per 8 KiB). */
static const unsigned char hexval1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int
hex_decode(const char *in, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		int			hi = hexval1[(unsigned char) in[2 * i]] - 1;
		int			lo = hi < 0 ? -1 : hexval1[(unsigned char) in[2 * i + 1]] - 1;

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t) ((hi << 4) | lo);
	}
	return in[2 * n] == '\0' ? 0 : -1;
}

ssize_t
read_full(int fd, void *buf, size_t n)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		r = read(fd, (char *) buf + done, n - done);

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t) r;
	}
	return (ssize_t) done;
}

/* write (off < 0) or pwrite at off until all n bytes are written */
static int
write_all(int fd, const void *buf, size_t n, off_t off)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		w;

		errno = 0;
		w = off < 0 ? write(fd, (const char *) buf + done, n - done)
			: pwrite(fd, (const char *) buf + done, n - done, off + (off_t) done);
		if (w < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0)
		{
			errno = ENOSPC;
			return -1;
		}
		done += (size_t) w;
	}
	return 0;
}

int
write_full(int fd, const void *buf, size_t n)
{
	return write_all(fd, buf, n, -1);
}

int
pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	return off < 0 ? (errno = EINVAL, -1) : write_all(fd, buf, n, off);
}

int
fsync_dir(const char *dir, pgark_err *err)
{
	int			fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open directory \"%s\" to fsync it", dir);
	if (fsync(fd) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not fsync directory \"%s\"", dir);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
mkdir_p(const char *path, mode_t mode, pgark_err *err)
{
	char		buf[4096];
	size_t		len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return err_set(err, PGARK_ERR_IO, 0, "path too long: \"%s\"", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++)
	{
		if (buf[i] == '/' || buf[i] == '\0')
		{
			char		save = buf[i];

			buf[i] = '\0';
			if (mkdir(buf, mode) == 0)
			{
				/* a new directory is durable only once its parent is fsync'd */
				char		parent[4096];

				path_dirname(buf, parent, sizeof(parent));
				if (fsync_dir(parent, err) != 0)
					return -1;
			}
			else if (errno != EEXIST)
				return err_sys(err, PGARK_ERR_IO, "could not create directory \"%s\"", buf);
			buf[i] = save;
		}
	}
	return 0;
}

void
path_dirname(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");
	else
		snprintf(out, outlen, "%.*s", (int) (slash - path), path);
}

int
path_resolve(const char *base, const char *path, char *out, size_t outlen)
{
	int			n;

	if (path[0] == '/' || base == NULL || base[0] == '\0')
		n = snprintf(out, outlen, "%s", path);
	else
		n = snprintf(out, outlen, "%s/%s", base, path);
	return (n < 0 || (size_t) n >= outlen) ? -1 : 0;
}

const char *
path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

void
sleep_ms(unsigned long ms)
{
	struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
iso8601_now(char *out, size_t outlen)
{
	struct timespec ts;
	struct tm	tm;
	char		base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

void
iso8601_from_unix(int64_t secs, char *out, size_t outlen)
{
	time_t		t = (time_t) secs;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
secure_zero(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int
iso8601_parse(const char *s, int64_t *out)
{
	struct tm	tm;
	char	   *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = (int64_t) timegm(&tm);
	return 0;
}

#define HUGE_PAGE (2u << 20)

void *
alloc_bulk(size_t n)
{
	void	   *p;

	if (n < HUGE_PAGE)
		return malloc(n);
	if (posix_memalign(&p, HUGE_PAGE, n) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void) madvise(p, n, MADV_HUGEPAGE);	/* only a hint: without it, 4 KiB pages */
#endif
	return p;
}
