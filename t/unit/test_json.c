/*
 * test_json.c — json_escape: quotes, backslashes and control characters
 * escaped; well-formed UTF-8 kept; anything else (a byte that is not UTF-8,
 * an overlong form, a surrogate, a cut sequence) replaced by \ufffd, so
 * that what repo-list, repo-verify and the audit log print is always JSON;
 * the output never overruns its buffer.
 */
#include <string.h>

#include "log.h"
#include "tap.h"

static void
check(const char *in, const char *want, const char *what)
{
	char		out[256];

	json_escape(in, out, sizeof(out));
	is_str(out, want, "%s", what);
}

int
main(void)
{
	char		small[12];

	check("plain", "plain", "plain text as it is");
	check("a\"b\\c", "a\\\"b\\\\c", "quote and backslash escaped");
	check("l1\nl2\tx\r\x01", "l1\\nl2\\tx\\r\\u0001", "control characters escaped");
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98",
		  "two-, three- and four-byte UTF-8 kept");
	check("latin1 \xe9t\xe9", "latin1 \\ufffdt\\ufffd", "Latin-1 bytes replaced");
	check("\xc0\xaf", "\\ufffd\\ufffd", "an overlong form replaced");
	check("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd", "a surrogate replaced");
	check("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd", "above U+10FFFF replaced");
	check("cut \xe2\x82", "cut \\ufffd\\ufffd", "a sequence cut by the end replaced");
	check(NULL, "", "NULL is the empty string");
	json_escape("\"\"\"\"\"\"\"\"\"\"\"\"", small, sizeof(small));
	ok(strlen(small) < sizeof(small), "a small buffer is never overrun (%zu bytes)", strlen(small));
	return done_testing();
}
