/*
 * tap.c — see tap.h. Written for pgark; output follows the TAP 12 format
 * that prove reads.
 */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	tap_count;
static int	tap_fails;
static int	tap_finished;

static void report(int pass, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
report(int pass, const char *fmt, va_list ap)
{
	tap_count++;
	printf("%sok %d", pass ? "" : "not ", tap_count);
	if (fmt && fmt[0])
	{
		char		desc[1024];

		vsnprintf(desc, sizeof(desc), fmt, ap);
		fputs(" - ", stdout);
		/* one line, and no '#' that prove would read as a directive */
		for (const char *p = desc; *p; p++)
		{
			if (*p == '\n')
				fputs("\\n", stdout);
			else if (*p == '\r')
				fputs("\\r", stdout);
			else if (*p == '#')
				fputs("\\#", stdout);
			else
				putchar(*p);
		}
	}
	putchar('\n');
	fflush(stdout);
	if (!pass)
		tap_fails++;
}

static void
failed_at(const char *file, int line)
{
	fflush(stdout);
	fprintf(stderr, "#   Failed test %d at %s line %d.\n", tap_count, file, line);
}

int
tap_ok(int pass, const char *file, int line, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		failed_at(file, line);
	return pass;
}

int
tap_is_int(long long got, long long want, const char *file, int line, const char *fmt,...)
{
	va_list		ap;
	int			pass = got == want;

	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
	{
		failed_at(file, line);
		fprintf(stderr, "#          got: %lld\n#     expected: %lld\n", got, want);
	}
	return pass;
}

int
tap_is_uint(unsigned long long got, unsigned long long want, const char *file, int line,
			const char *fmt,...)
{
	va_list		ap;
	int			pass = got == want;

	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
	{
		failed_at(file, line);
		fprintf(stderr, "#          got: %llu (0x%016llx)\n#     expected: %llu (0x%016llx)\n",
				got, got, want, want);
	}
	return pass;
}

static void
hexdump_around(const char *label, const unsigned char *p, size_t len, size_t at)
{
	size_t		from = at > 8 ? at - 8 : 0;
	size_t		to = at + 8 < len ? at + 8 : len;

	fprintf(stderr, "#     %s[%zu..%zu]:", label, from, to);
	for (size_t i = from; i < to; i++)
		fprintf(stderr, "%s%02x", i == at ? " [" : " ", p[i]);
	fprintf(stderr, "\n");
}

int
tap_is_mem(const void *got, size_t gotlen, const void *want, size_t wantlen,
		   const char *file, int line, const char *fmt,...)
{
	va_list		ap;
	const unsigned char *g = got;
	const unsigned char *w = want;
	size_t		n = gotlen < wantlen ? gotlen : wantlen;
	size_t		diff = n;
	int			null_ptr = (g == NULL && gotlen > 0) || (w == NULL && wantlen > 0);
	int			pass;

	if (!null_ptr)
		for (size_t i = 0; i < n; i++)
			if (g[i] != w[i])
			{
				diff = i;
				break;
			}
	pass = !null_ptr && gotlen == wantlen && diff == n;
	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
	{
		failed_at(file, line);
		if (null_ptr)
			fprintf(stderr, "#     %s is NULL\n", g == NULL ? "got" : "expected");
		else if (diff < n)
		{
			fprintf(stderr, "#     first difference at byte %zu\n", diff);
			hexdump_around("got", g, gotlen, diff);
			hexdump_around("exp", w, wantlen, diff);
		}
		if (gotlen != wantlen)
			fprintf(stderr, "#     length: got %zu, expected %zu\n", gotlen, wantlen);
	}
	return pass;
}

int
tap_is_str(const char *got, const char *want, const char *file, int line, const char *fmt,...)
{
	va_list		ap;
	int			pass = (got == NULL || want == NULL) ? got == want : strcmp(got, want) == 0;

	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
	{
		failed_at(file, line);
		fprintf(stderr, "#          got: %s%s%s\n#     expected: %s%s%s\n",
				got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
				want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
	}
	return pass;
}

int
tap_like(const char *got, const char *needle, int want_found, const char *file, int line,
		 const char *fmt,...)
{
	va_list		ap;
	int			found = got != NULL && needle != NULL && strstr(got, needle) != NULL;
	int			pass = got != NULL && needle != NULL && found == want_found;

	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
	{
		failed_at(file, line);
		fprintf(stderr, "#     \"%s\"\n#     %s \"%s\"\n", got ? got : "(null)",
				want_found ? "does not contain" : "contains", needle ? needle : "(null)");
	}
	return pass;
}

void
note(const char *fmt,...)
{
	va_list		ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void
diag(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fputs("# ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
skip(int n, const char *fmt,...)
{
	char		why[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (int i = 0; i < n; i++)
		printf("ok %d # skip %s\n", ++tap_count, why);
	fflush(stdout);
}

void
bail_out(const char *fmt,...)
{
	va_list		ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(255);
}

int
tap_failed(void)
{
	return tap_fails;
}

int
done_testing(void)
{
	if (tap_finished++)
		return tap_fails ? 1 : 0;
	if (tap_count == 0)
	{
		/* a test that ran nothing must not look like a pass */
		printf("1..0 # no tests run\n");
		fflush(stdout);
		diag("no tests were run");
		return 1;
	}
	printf("1..%d\n", tap_count);
	fflush(stdout);
	if (tap_fails)
		diag("looks like you failed %d test%s of %d", tap_fails, tap_fails == 1 ? "" : "s", tap_count);
	return tap_fails ? 1 : 0;
}
