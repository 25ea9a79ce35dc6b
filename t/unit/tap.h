/*
 * tap.h — a tiny TAP harness for pgark's C unit tests.
 *
 * Each test program calls the check macros below as it goes and ends with
 * `return done_testing();`. The plan ("1..N") is counted at run time and
 * printed last, so tests never keep a hand-maintained count. A failed check
 * prints "not ok N - description" on stdout and the location and the values
 * involved on stderr (prove shows stderr even when not verbose).
 *
 * Every check returns 1 if it passed and 0 if not, so a test can stop a
 * dependent sequence early:  if (!ok(p != NULL, "...")) return;
 */
#ifndef PGARK_TAP_H
#define PGARK_TAP_H

#include <stddef.h>
#include <stdint.h>

#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))

int			tap_ok(int pass, const char *file, int line, const char *fmt,...) TAP_PRINTF(4, 5);
int			tap_is_int(long long got, long long want, const char *file, int line,
					   const char *fmt,...) TAP_PRINTF(5, 6);
int			tap_is_uint(unsigned long long got, unsigned long long want, const char *file, int line,
						const char *fmt,...) TAP_PRINTF(5, 6);
int			tap_is_mem(const void *got, size_t gotlen, const void *want, size_t wantlen,
					   const char *file, int line, const char *fmt,...) TAP_PRINTF(7, 8);
int			tap_is_str(const char *got, const char *want, const char *file, int line,
					   const char *fmt,...) TAP_PRINTF(5, 6);
int			tap_like(const char *got, const char *needle, int want_found, const char *file, int line,
					 const char *fmt,...) TAP_PRINTF(6, 7);

/* ok(cond, "description %d", ...) */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* is_int(got, want, ...): signed integers (enums, return codes, sizes that fit). */
#define is_int(got, want, ...) \
	tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__, __VA_ARGS__)
/* is_uint(got, want, ...): 64-bit unsigned values (hashes, lengths), shown in hex too. */
#define is_uint(got, want, ...) \
	tap_is_uint((unsigned long long) (got), (unsigned long long) (want), __FILE__, __LINE__, __VA_ARGS__)
/* is_mem(got, want, len, ...): equal bytes; the first difference is reported. */
#define is_mem(got, want, len, ...) \
	tap_is_mem((got), (len), (want), (len), __FILE__, __LINE__, __VA_ARGS__)
/* is_buf(got, gotlen, want, wantlen, ...): equal lengths and bytes. */
#define is_buf(got, gotlen, want, wantlen, ...) \
	tap_is_mem((got), (gotlen), (want), (wantlen), __FILE__, __LINE__, __VA_ARGS__)
/* is_str(got, want, ...): equal C strings (NULL only equals NULL). */
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
/* like(got, needle, ...): got contains needle; unlike(): it does not. */
#define like(got, needle, ...) tap_like((got), (needle), 1, __FILE__, __LINE__, __VA_ARGS__)
#define unlike(got, needle, ...) tap_like((got), (needle), 0, __FILE__, __LINE__, __VA_ARGS__)

/* "# ..." comment lines: note() on stdout, diag() on stderr. */
void		note(const char *fmt,...) TAP_PRINTF(1, 2);
void		diag(const char *fmt,...) TAP_PRINTF(1, 2);

/* Record n passing "ok N # skip reason" lines. */
void		skip(int n, const char *fmt,...) TAP_PRINTF(2, 3);

/* Stop the whole run at once ("Bail out!"), for broken preconditions. */
_Noreturn void bail_out(const char *fmt,...) TAP_PRINTF(1, 2);

/* Print the plan; returns the exit status for main (0 all passed, else 1). */
int			done_testing(void);

/* Count of failed checks so far (for tests that want to stop early). */
int			tap_failed(void);

#endif
