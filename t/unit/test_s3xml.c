/*
 * test_s3xml.c — the S3 response parsers (lib/s3xml.h).
 *
 * Real-looking documents of each kind (shaped after the examples of the S3
 * API reference), then hostile ones: not XML, every prefix of a valid
 * document, wrong roots, an <Error> in a 200, DOCTYPE and entity bombs,
 * over-long text, deep nesting, bad sizes and dates, and single-byte
 * mutations. Every input is handed to the parser in a buffer of exactly its
 * length, so that ASan sees any read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3xml.h"
#include "tap.h"
#include "testutil.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

/* ------------------------------------------------------------------ helpers */

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n);

	if (p == NULL)
		bail_out("out of memory");
	return p;
}

/* A malloc'd copy of exactly len bytes (no terminating NUL). */
static char *
exact(const char *s, size_t len)
{
	char	   *p = xmalloc(len ? len : 1);

	if (len > 0)
		memcpy(p, s, len);
	return p;
}

#define MAXKEEP 8

typedef struct collected
{
	int			n;
	char		keys[MAXKEEP][S3XML_KEY_MAX + 1];
	uint64_t	sizes[MAXKEEP];
	int64_t		mtimes[MAXKEEP];
	int			stop_at;		/* > 0: return stop_rc at the stop_at'th entry */
	int			stop_rc;
	int			bad_key;		/* an entry whose key was NULL, empty or too long */
} collected;

static int
collect_fn(void *arg, const s3_list_entry *e, pgark_err *err)
{
	collected  *c = arg;

	if (e->key == NULL || e->key[0] == '\0' || strlen(e->key) > S3XML_KEY_MAX)
		c->bad_key = 1;
	else if (c->n < MAXKEEP)
	{
		memcpy(c->keys[c->n], e->key, strlen(e->key) + 1);
		c->sizes[c->n] = e->size;
		c->mtimes[c->n] = e->mtime;
	}
	c->n++;
	if (c->stop_at > 0 && c->n == c->stop_at)
	{
		err_set(err, PGARK_ERR_NOSPACE, 0, "test callback stops at entry %d", c->n);
		return c->stop_rc;
	}
	return 0;
}

enum which
{
	P_ERROR,
	P_LIST,
	P_INITIATE,
	P_COMPLETE,
	P_DELETE
};

static const char *const which_name[] = {"error", "list", "initiate", "complete", "delete"};

/*
 * Run one parser on a copy of exactly len bytes. Returns its result; the list
 * parser's entries go to c (may be NULL).
 */
static int
run(enum which w, const char *doc, size_t len, collected *c, pgark_err *err)
{
	char	   *buf = exact(doc, len);
	int			rc = -2;

	err_clear(err);
	switch (w)
	{
		case P_ERROR:
			{
				s3_error	e;

				rc = s3xml_parse_error(buf, len, &e, err);
				break;
			}
		case P_LIST:
			{
				collected	mine;
				int			tr;
				char		tok[512];

				if (c == NULL)
				{
					memset(&mine, 0, sizeof(mine));
					c = &mine;
				}
				rc = s3xml_parse_list(buf, len, collect_fn, c, &tr, tok, sizeof(tok), err);
				break;
			}
		case P_INITIATE:
			{
				char		id[256];

				rc = s3xml_parse_initiate(buf, len, id, sizeof(id), err);
				break;
			}
		case P_COMPLETE:
			rc = s3xml_parse_complete(buf, len, err);
			break;
		case P_DELETE:
			rc = s3xml_parse_delete(buf, len, err);
			break;
	}
	free(buf);
	return rc;
}

/* The document must be refused by parser w: -1, the kind, a message containing needle. */
static void
refused(enum which w, const char *what, const char *doc, pgark_errkind kind, const char *needle)
{
	pgark_err	err;
	collected	c;

	memset(&c, 0, sizeof(c));
	if (!is_int(run(w, doc, strlen(doc), &c, &err), -1, "%s: refused: %s", which_name[w], what))
	{
		diag("message: %s", err.msg);
		return;
	}
	is_kind(err, kind, "... kind %s", err_kind_name(kind));
	if (needle)
		like(err.msg, needle, "... message says \"%s\"", needle);
	ok(strchr(err.msg, '\n') == NULL, "... message is one line");
	note("%s", err.msg);
}

/* ------------------------------------------------------------------ documents */

/* ListObjectsV2, one complete page (after the S3 API reference's example) */
static const char list_doc[] =
	DECL
	"<ListBucketResult " NS ">\n"
	"  <Name>pgark-test-bucket</Name>\n"
	"  <Prefix>wal/</Prefix>\n"
	"  <KeyCount>3</KeyCount>\n"
	"  <MaxKeys>1000</MaxKeys>\n"
	"  <Delimiter>/</Delimiter>\n"
	"  <IsTruncated>false</IsTruncated>\n"
	"  <Contents>\n"
	"    <Key>wal/000000010000000000000001</Key>\n"
	"    <LastModified>2026-11-27T05:06:24.000Z</LastModified>\n"
	"    <ETag>&quot;7e10e7d25dc4581d89b9285be5f384fd&quot;</ETag>\n"
	"    <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>\n"
	"    <ChecksumType>FULL_OBJECT</ChecksumType>\n"
	"    <Size>16777216</Size>\n"
	"    <Owner>\n"
	"      <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
	"      <DisplayName>pgark</DisplayName>\n"
	"    </Owner>\n"
	"    <StorageClass>STANDARD</StorageClass>\n"
	"  </Contents>\n"
	"  <Contents>\n"
	"    <Key>wal/000000010000000000000002.partial</Key>\n"
	"    <Size>0</Size>\n"
	"    <LastModified>2026-11-27T05:07:01.123Z</LastModified>\n"
	"    <ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag>\n"
	"    <StorageClass>GLACIER</StorageClass>\n"
	"    <RestoreStatus>\n"
	"      <IsRestoreInProgress>true</IsRestoreInProgress>\n"
	"    </RestoreStatus>\n"
	"  </Contents>\n"
	"  <Contents>\n"
	"    <LastModified>2027-01-01T00:00:00.000Z</LastModified>\n"
	"    <Size>18446744073709551615</Size>\n"
	"    <Key>wal/00000002.history</Key>\n"
	"  </Contents>\n"
	"  <CommonPrefixes>\n"
	"    <Prefix>wal/archive_status/</Prefix>\n"
	"  </CommonPrefixes>\n"
	"</ListBucketResult>\n";

/* ListObjectsV2, a truncated page */
static const char list_trunc_doc[] =
	DECL
	"<ListBucketResult " NS ">"
	"<Name>pgark-test-bucket</Name><Prefix>base/</Prefix>"
	"<ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>"
	"<NextContinuationToken>1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==</NextContinuationToken>"
	"<KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><StartAfter>base/</StartAfter>"
	"<IsTruncated>true</IsTruncated>"
	"<Contents><Key>base/20261127T050624/manifest</Key>"
	"<LastModified>2026-11-27T05:06:24.000Z</LastModified>"
	"<ETag>\"599bab3ed2c697f1d26842727561fd94\"</ETag><Size>857</Size>"
	"<StorageClass>STANDARD</StorageClass></Contents>"
	"</ListBucketResult>";

static const char initiate_doc[] =
	DECL
	"<InitiateMultipartUploadResult " NS ">\n"
	"  <Bucket>pgark-test-bucket</Bucket>\n"
	"  <Key>base/20261127T050624/data.pack</Key>\n"
	"  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
	"</InitiateMultipartUploadResult>\n";

/* what S3 sends for a long CompleteMultipartUpload: white space, then the document */
static const char complete_doc[] =
	"   \n\n  \n"
	DECL
	"<CompleteMultipartUploadResult " NS ">\n"
	"  <Location>https://pgark-test-bucket.s3.eu-west-1.amazonaws.com/base/20261127T050624/data.pack</Location>\n"
	"  <Bucket>pgark-test-bucket</Bucket>\n"
	"  <Key>base/20261127T050624/data.pack</Key>\n"
	"  <ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>\n"
	"  <ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME>\n"
	"</CompleteMultipartUploadResult>\n";

/* the S3 API reference's example of an error in a 200 CompleteMultipartUpload */
static const char complete_error_doc[] =
	DECL
	"\n"
	"<Error>\n"
	"  <Code>InternalError</Code>\n"
	"  <Message>We encountered an internal error. Please try again.</Message>\n"
	"  <RequestId>656c76696e6727732072657175657374</RequestId>\n"
	"  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n"
	"</Error>\n";

static const char nosuchkey_doc[] =
	DECL
	"<Error>\n"
	"  <Code>NoSuchKey</Code>\n"
	"  <Message>The resource you requested does not exist</Message>\n"
	"  <Resource>/pgark-test-bucket/wal/000000010000000000000009</Resource>\n"
	"  <RequestId>4442587FB7D0A2F9</RequestId>\n"
	"</Error>\n";

static const char slowdown_doc[] =
	DECL
	"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
	"<RequestId>K2H6N7ZGQT6WHCEG</RequestId>"
	"<HostId>WWoZlnK4pTjKCYn6eNV7GgOurabfqLkjbSyqTvDMGBaI9uwzyNhSaDhOCPs8paFGye7S6b/AB3A=</HostId></Error>";

static const char delete_ok_doc[] =
	DECL
	"<DeleteResult " NS ">\n"
	"  <Deleted>\n"
	"    <Key>wal/000000010000000000000001</Key>\n"
	"  </Deleted>\n"
	"  <Deleted>\n"
	"    <Key>wal/000000010000000000000002</Key>\n"
	"    <VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId>\n"
	"    <DeleteMarker>true</DeleteMarker>\n"
	"    <DeleteMarkerVersionId>7.fnvz3r0NpJ86p7Uam7WtS.1l.UQvt9</DeleteMarkerVersionId>\n"
	"  </Deleted>\n"
	"</DeleteResult>\n";

static const char delete_fail_doc[] =
	DECL
	"<DeleteResult " NS ">\n"
	"  <Deleted><Key>wal/000000010000000000000001</Key></Deleted>\n"
	"  <Error>\n"
	"    <Key>wal/000000010000000000000002</Key>\n"
	"    <Code>AccessDenied</Code>\n"
	"    <Message>Access Denied</Message>\n"
	"  </Error>\n"
	"  <Error>\n"
	"    <Key>wal/000000010000000000000003</Key>\n"
	"    <VersionId>null</VersionId>\n"
	"    <Code>InternalError</Code>\n"
	"    <Message>We encountered an internal error. Please try again.</Message>\n"
	"  </Error>\n"
	"</DeleteResult>\n";

/* A ListBucketResult page holding one <Contents> with the given inside. */
static const char *
list_with(const char *contents, const char *extra)
{
	static char buf[8192];

	if ((size_t) snprintf(buf, sizeof(buf),
						  DECL "<ListBucketResult " NS "><Name>b</Name>"
						  "<IsTruncated>false</IsTruncated>%s<Contents>%s</Contents></ListBucketResult>",
						  extra ? extra : "", contents) >= sizeof(buf))
		bail_out("list_with: document too long");
	return buf;
}

#define ENTRY(key, size, mtime) \
	"<Key>" key "</Key><LastModified>" mtime "</LastModified><Size>" size "</Size>"

/* ------------------------------------------------------------------ tests */

static void
test_retryable(void)
{
	static const char *const yes[] = {
		"InternalError", "ServiceUnavailable", "SlowDown", "SlowDownRead", "SlowDownWrite",
		"RequestTimeout", "OperationAborted", "ConditionalRequestConflict",
		"Throttling", "ThrottlingException", "RequestThrottled",
	};
	static const char *const no[] = {
		"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "AccessDenied", "InvalidAccessKeyId",
		"SignatureDoesNotMatch", "RequestTimeTooSkewed", "ExpiredToken", "InvalidPart",
		"InvalidPartOrder", "EntityTooSmall", "PreconditionFailed", "slowdown", "SlowDown ",
		"InternalErrors", "",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(s3xml_code_retryable(yes[i]), "retryable: %s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(!s3xml_code_retryable(no[i]), "not retryable: \"%s\"", no[i]);
	ok(!s3xml_code_retryable(NULL), "not retryable: NULL");
}

static void
test_error_doc(void)
{
	s3_error	e;
	pgark_err	err;
	char		big[4096];

	err_clear(&err);
	is_int(s3xml_parse_error(nosuchkey_doc, strlen(nosuchkey_doc), &e, &err), 1, "error: NoSuchKey document is an <Error>");
	is_str(e.code, "NoSuchKey", "... Code");
	is_str(e.message, "The resource you requested does not exist", "... Message");
	is_str(e.request_id, "4442587FB7D0A2F9", "... RequestId");

	is_int(s3xml_parse_error(slowdown_doc, strlen(slowdown_doc), &e, &err), 1, "error: SlowDown on one line");
	is_str(e.code, "SlowDown", "... Code");

	{
		static const char d[] = "<Error><Code>AccessDenied</Code></Error>";

		is_int(s3xml_parse_error(d, strlen(d), &e, &err), 1, "error: without declaration, Message or RequestId");
		is_str(e.message, "", "... missing Message is \"\"");
		is_str(e.request_id, "", "... missing RequestId is \"\"");
	}
	{
		static const char d[] = "<s3:Error xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<s3:Code>SlowDown</s3:Code><s3:Message>x &lt; y &amp; z</s3:Message></s3:Error>";

		is_int(s3xml_parse_error(d, strlen(d), &e, &err), 1, "error: a namespace prefix is ignored");
		is_str(e.code, "SlowDown", "... Code");
		is_str(e.message, "x < y & z", "... entities decoded in Message");
	}
	{
		static const char d[] = "\xEF\xBB\xBF<Error><Code>SlowDown</Code></Error>";

		is_int(s3xml_parse_error(d, strlen(d), &e, &err), 1, "error: a UTF-8 byte order mark is taken");
	}

	/* not <Error> */
	is_int(s3xml_parse_error(list_doc, strlen(list_doc), &e, &err), 0, "error: a ListBucketResult is not an <Error>");
	is_str(e.code, "", "... out is cleared");
	is_int(s3xml_parse_error("", 0, &e, &err), 0, "error: empty body is not an <Error>");
	is_int(s3xml_parse_error(" \r\n\t", 4, &e, &err), 0, "error: blanks are not an <Error>");
	is_int(s3xml_parse_error(NULL, 0, &e, &err), 0, "error: NULL body of length 0");
	is_int(s3xml_parse_error("<Foo/>", 6, NULL, &err), 0, "error: out may be NULL");
	is_int(s3xml_parse_error("<Error><Code>X</Code></Error>", 29, NULL, &err), 1, "error: out may be NULL (an <Error>)");

	/* not XML */
	{
		static const char d[] = "<Error>\n<Code>SlowDown</Code>\n<Message>oops</Mesage>\n</Error>";

		is_int(s3xml_parse_error(d, strlen(d), &e, &err), -1, "error: mismatched tag is not well-formed");
		is_kind(err, PGARK_ERR_IO, "... kind io");
		like(err.msg, "S3 response is not well-formed XML at line 3", "... message names the line");
		like(err.msg, "mismatched tag", "... and expat's reason");
		like(err.msg, "body begins \"<Error>?<Code>SlowDown</Code>?", "... and quotes the start, sanitised");
		note("%s", err.msg);
	}
	{
		static const char d[] = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";

		is_int(s3xml_parse_error(d, strlen(d), &e, &err), -1, "error: a proxy's HTML page is not XML");
		like(err.msg, "502 Bad Gateway", "... the excerpt shows what it was");
		ok(strlen(err.msg) < 300, "... and stays short (%zu)", strlen(err.msg));
		note("%s", err.msg);
	}
	is_int(s3xml_parse_error("Service Unavailable", 19, &e, &err), -1, "error: plain text is not XML");
	is_int(s3xml_parse_error("<Error><Code>X</Code></Error><Error/>", 37, &e, &err), -1, "error: two roots are not well-formed");
	like(err.msg, "junk after document element", "... junk after document element");

	/* long and hostile text is cut, and only sanitised text gets into messages */
	memset(big, 'm', sizeof(big));
	{
		char		d[8192];

		snprintf(d, sizeof(d), "<Error><Code>InternalError</Code><Message>%.2000s</Message>"
				 "<RequestId>%.300s</RequestId></Error>", big, big);
		is_int(s3xml_parse_error(d, strlen(d), &e, &err), 1, "error: a 2000-byte Message is taken");
		is_int(strlen(e.message), sizeof(e.message) - 1, "... cut to its field");
		ok(strcmp(e.message + sizeof(e.message) - 4, "...") == 0, "... ending in \"...\"");
		is_int(strlen(e.request_id), sizeof(e.request_id) - 1, "... a 300-byte RequestId cut too");
		is_int(s3xml_parse_complete(d, strlen(d), &err), -1, "complete: that <Error> fails");
		is_kind(err, PGARK_ERR_TRANSIENT, "... transient (InternalError)");
		ok(strlen(err.msg) < 400, "... with a short message (%zu bytes)", strlen(err.msg));
	}
	{
		static const char d[] = "<Error><Code>AccessDenied</Code><Message>line one&#10;line two\ttab \xC3\xA9</Message></Error>";

		is_int(s3xml_parse_complete(d, strlen(d), &err), -1, "complete: <Error> with a newline, tab and UTF-8 in Message");
		like(err.msg, "line one?line two?tab ??", "... they are '?' in the message");
		note("%s", err.msg);
	}
}

static void
test_list_good(void)
{
	pgark_err	err;
	collected	c;
	int			tr = -1;
	char		tok[256];
	struct tm	tm;

	memset(&c, 0, sizeof(c));
	err_clear(&err);
	if (!is_int(s3xml_parse_list(list_doc, strlen(list_doc), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0,
				"list: a complete page"))
		diag("%s", err.msg);
	is_int(c.n, 3, "... 3 entries");
	is_int(tr, 0, "... not truncated");
	is_str(tok, "", "... no token");
	is_str(c.keys[0], "wal/000000010000000000000001", "... key 1");
	is_uint(c.sizes[0], 16777216, "... size 1");
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2026 - 1900;
	tm.tm_mon = 10;
	tm.tm_mday = 27;
	tm.tm_hour = 5;
	tm.tm_min = 6;
	tm.tm_sec = 24;
	is_int(c.mtimes[0], (long long) timegm(&tm), "... mtime 1 is 2026-11-27T05:06:24Z (timegm)");
	is_int(c.mtimes[0], 1795755984LL, "... which is 1795755984");
	is_str(c.keys[1], "wal/000000010000000000000002.partial", "... key 2 (fields in another order, RestoreStatus)");
	is_uint(c.sizes[1], 0, "... size 0");
	is_int(c.mtimes[1], c.mtimes[0] + 37, "... mtime 2: fraction dropped");
	is_str(c.keys[2], "wal/00000002.history", "... key 3 (Key last)");
	is_uint(c.sizes[2], UINT64_MAX, "... size 18446744073709551615");

	memset(&c, 0, sizeof(c));
	if (!is_int(s3xml_parse_list(list_trunc_doc, strlen(list_trunc_doc), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0,
				"list: a truncated page"))
		diag("%s", err.msg);
	is_int(tr, 1, "... truncated");
	is_str(tok, "1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==", "... NextContinuationToken (not ContinuationToken)");
	is_int(c.n, 1, "... 1 entry");
	is_uint(c.sizes[0], 857, "... size");

	/* empty listing */
	{
		static const char d[] = DECL "<ListBucketResult " NS "><Name>b</Name><Prefix>nothing/</Prefix>"
			"<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>";

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: an empty listing");
		is_int(c.n, 0, "... no entries");
	}

	/* entities, CDATA, UTF-8 in keys */
	{
		const char *d = list_with(ENTRY("a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#x41;&#66;", "1", "2026-11-27T05:06:24Z"), NULL);

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: XML entities in a key");
		is_str(c.keys[0], "a&b <c> \"d\" 'e' AB", "... are decoded (&amp; is &)");
	}
	{
		const char *d = list_with(ENTRY("<![CDATA[x&amp;<y>]]>", "1", "2026-11-27T05:06:24Z"), NULL);

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: a CDATA key");
		is_str(c.keys[0], "x&amp;<y>", "... is taken literally");
	}
	{
		const char *d = list_with(ENTRY("caf\xC3\xA9/\xE2\x82\xAC &#x1F418;", "1", "2026-11-27T05:06:24Z"), NULL);

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: a UTF-8 key");
		is_str(c.keys[0], "caf\xC3\xA9/\xE2\x82\xAC \xF0\x9F\x90\x98", "... bytes as sent, character reference as UTF-8");
	}
	{
		static const char d[] = DECL "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>k</s3:Key><s3:Size>5</s3:Size>"
			"<s3:LastModified>2026-11-27T05:06:24.000Z</s3:LastModified></s3:Contents></s3:ListBucketResult>";

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: namespace prefixes are ignored");
		is_int(c.n, 1, "... one entry");
		is_uint(c.sizes[0], 5, "... its size");
	}
	{
		const char *d = list_with("<!-- a comment --><?pi x?>" ENTRY("k", "1", "2026-11-27T05:06:24Z")
								  "<Future a=\"1\"><Key>not this</Key><Size>x</Size></Future>",
								  "<EncodingType></EncodingType><Owner><Key>nor this</Key></Owner>");

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0,
			   "list: comments, PIs, unknown elements (holding Key/Size) and an empty EncodingType are ignored");
		is_str(c.keys[0], "k", "... the entry's own key is taken");
	}

	/* keys at the limit */
	{
		char		key[S3XML_KEY_MAX + 2];
		char		inner[S3XML_KEY_MAX * 5 + 200];
		const char *d;

		memset(key, 'k', S3XML_KEY_MAX);
		key[S3XML_KEY_MAX] = '\0';
		snprintf(inner, sizeof(inner), "<Key>%s</Key><Size>1</Size><LastModified>2026-11-27T05:06:24Z</LastModified>", key);
		d = list_with(inner, NULL);
		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: a key of exactly 1024 bytes");
		is_int(strlen(c.keys[0]), S3XML_KEY_MAX, "... is whole");

		inner[0] = '\0';
		strcat(inner, "<Key>");
		for (int i = 0; i < S3XML_KEY_MAX; i++)
			strcat(inner, "&amp;");
		strcat(inner, "</Key><Size>1</Size><LastModified>2026-11-27T05:06:24Z</LastModified>");
		d = list_with(inner, NULL);
		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, strlen(d), collect_fn, &c, &tr, tok, sizeof(tok), &err), 0,
			   "list: 1024 &amp; (5120 bytes in the document) make a 1024-byte key");
		is_int(strlen(c.keys[0]), S3XML_KEY_MAX, "... the limit is on the decoded key");
	}

	/* a full page of 1000 keys */
	{
		size_t		cap = 1000 * 200 + 1000;
		char	   *d = xmalloc(cap);
		size_t		n = 0;

		n += (size_t) snprintf(d + n, cap - n, DECL "<ListBucketResult " NS "><IsTruncated>true</IsTruncated>"
							   "<NextContinuationToken>tok</NextContinuationToken>");
		for (int i = 0; i < 1000; i++)
			n += (size_t) snprintf(d + n, cap - n,
								   "<Contents><Key>wal/%024X</Key><LastModified>2026-11-27T05:06:24.000Z</LastModified>"
								   "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>\n", i, i);
		n += (size_t) snprintf(d + n, cap - n, "</ListBucketResult>");
		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, n, collect_fn, &c, &tr, tok, sizeof(tok), &err), 0, "list: a page of 1000 keys (%zu bytes)", n);
		is_int(c.n, 1000, "... 1000 callbacks");
		ok(!c.bad_key, "... every key sane");
		is_str(tok, "tok", "... token");

		/* the callback stops the parse */
		memset(&c, 0, sizeof(c));
		c.stop_at = 10;
		c.stop_rc = -1;
		err_clear(&err);
		is_int(s3xml_parse_list(d, n, collect_fn, &c, &tr, tok, sizeof(tok), &err), -1, "list: callback returning -1 at entry 10");
		is_int(c.n, 10, "... no callback after it");
		is_kind(err, PGARK_ERR_NOSPACE, "... err as the callback set it");
		is_str(err.msg, "test callback stops at entry 10", "... message untouched");

		memset(&c, 0, sizeof(c));
		c.stop_at = 1;
		c.stop_rc = 7;
		is_int(s3xml_parse_list(d, n, collect_fn, &c, &tr, tok, sizeof(tok), &err), 7, "list: callback returning 7 at entry 1: 7 is returned");
		is_int(c.n, 1, "... after one callback");

		memset(&c, 0, sizeof(c));
		is_int(s3xml_parse_list(d, n, NULL, NULL, &tr, tok, sizeof(tok), &err), 0, "list: a NULL callback");
		is_int(tr, 1, "... truncated still reported");
		free(d);
	}

	/* NULL truncated, small token buffer */
	memset(&c, 0, sizeof(c));
	is_int(s3xml_parse_list(list_doc, strlen(list_doc), collect_fn, &c, NULL, NULL, 0, &err), 0,
		   "list: truncated and next_token may be NULL when the page has no token");
	memset(&c, 0, sizeof(c));
	tr = -1;
	is_int(s3xml_parse_list(list_trunc_doc, strlen(list_trunc_doc), collect_fn, &c, &tr, tok, 20, &err), -1,
		   "list: a token longer than tokcap is refused");
	like(err.msg, "<NextContinuationToken> is longer than 19 bytes", "... saying so");
	is_int(tr, 0, "... *truncated is 0 on failure");
	is_str(tok, "", "... next_token is \"\" on failure");
}

static void
test_list_bad(void)
{
	char		key[S3XML_KEY_MAX + 2];
	char		inner[S3XML_KEY_MAX + 200];

	refused(P_LIST, "empty body", "", PGARK_ERR_IO, "S3 ListObjectsV2 response is empty");
	refused(P_LIST, "blanks only", "\n  \n", PGARK_ERR_IO, "is empty");
	refused(P_LIST, "wrong root", DECL "<ListAllMyBucketsResult " NS "><Buckets/></ListAllMyBucketsResult>",
			PGARK_ERR_IO, "root element is <ListAllMyBucketsResult>, expected <ListBucketResult>");
	refused(P_LIST, "no IsTruncated",
			DECL "<ListBucketResult " NS "><Name>b</Name></ListBucketResult>", PGARK_ERR_IO, "no <IsTruncated>");
	refused(P_LIST, "<Error> SlowDown", slowdown_doc, PGARK_ERR_TRANSIENT,
			"S3 ListObjectsV2 failed: SlowDown: Please reduce your request rate. (request id K2H6N7ZGQT6WHCEG)");
	refused(P_LIST, "<Error> NoSuchKey", nosuchkey_doc, PGARK_ERR_IO, "NoSuchKey: The resource you requested does not exist");
	refused(P_LIST, "<Error> without Code", "<Error><Message>odd</Message></Error>", PGARK_ERR_IO, "without a <Code>");
	refused(P_LIST, "IsTruncated without token",
			DECL "<ListBucketResult " NS "><IsTruncated>true</IsTruncated></ListBucketResult>",
			PGARK_ERR_IO, "S3 ListObjectsV2 response: <IsTruncated>true without <NextContinuationToken>");
	refused(P_LIST, "IsTruncated with an empty token",
			DECL "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken/></ListBucketResult>",
			PGARK_ERR_IO, "without <NextContinuationToken>");
	refused(P_LIST, "two IsTruncated", list_with(ENTRY("k", "1", "2026-11-27T05:06:24Z"), "<IsTruncated>false</IsTruncated>"),
			PGARK_ERR_IO, "more than one <IsTruncated>");
	refused(P_LIST, "IsTruncated \"True\"", DECL "<ListBucketResult><IsTruncated>True</IsTruncated></ListBucketResult>",
			PGARK_ERR_IO, "<IsTruncated> is \"True\", not true or false");
	refused(P_LIST, "IsTruncated \"yes\"", DECL "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
			PGARK_ERR_IO, "<IsTruncated> is \"yes\", not true or false");
	refused(P_LIST, "IsTruncated \" false\"", DECL "<ListBucketResult><IsTruncated> false</IsTruncated></ListBucketResult>",
			PGARK_ERR_IO, "not true or false");
	refused(P_LIST, "two NextContinuationToken",
			DECL "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>a</NextContinuationToken>"
			"<NextContinuationToken>b</NextContinuationToken></ListBucketResult>", PGARK_ERR_IO, "more than one <NextContinuationToken>");
	refused(P_LIST, "EncodingType url", list_with(ENTRY("a%2Fb", "1", "2026-11-27T05:06:24Z"), "<EncodingType>url</EncodingType>"),
			PGARK_ERR_IO, "<EncodingType> is \"url\"");

	/* entries */
	refused(P_LIST, "Contents without Key", list_with("<Size>1</Size><LastModified>2026-11-27T05:06:24Z</LastModified>", NULL),
			PGARK_ERR_IO, "<Contents> entry 1 has no <Key>");
	refused(P_LIST, "Contents without Size", list_with("<Key>k</Key><LastModified>2026-11-27T05:06:24Z</LastModified>", NULL),
			PGARK_ERR_IO, "<Contents> \"k\" has no <Size>");
	refused(P_LIST, "Contents without LastModified", list_with("<Key>k</Key><Size>1</Size>", NULL),
			PGARK_ERR_IO, "<Contents> \"k\" has no <LastModified>");
	refused(P_LIST, "empty Contents", list_with("", NULL), PGARK_ERR_IO, "has no <Key>");
	refused(P_LIST, "empty Key", list_with(ENTRY("", "1", "2026-11-27T05:06:24Z"), NULL), PGARK_ERR_IO, "has an empty <Key>");
	refused(P_LIST, "two Keys", list_with(ENTRY("k", "1", "2026-11-27T05:06:24Z") "<Key>k2</Key>", NULL),
			PGARK_ERR_IO, "<Contents> \"k\" has more than one <Key>");
	refused(P_LIST, "two Sizes", list_with(ENTRY("k", "1", "2026-11-27T05:06:24Z") "<Size>2</Size>", NULL),
			PGARK_ERR_IO, "more than one <Size>");
	refused(P_LIST, "an element inside Key", list_with("<Key>a<b/>c</Key><Size>1</Size>", NULL),
			PGARK_ERR_IO, "<Key> holds an element <b>");

	memset(key, 'k', S3XML_KEY_MAX + 1);
	key[S3XML_KEY_MAX + 1] = '\0';
	snprintf(inner, sizeof(inner), "<Key>%s</Key><Size>1</Size><LastModified>2026-11-27T05:06:24Z</LastModified>", key);
	refused(P_LIST, "a key of 1025 bytes", list_with(inner, NULL), PGARK_ERR_IO, "<Key> is longer than 1024 bytes");
	{
		const char *d = DECL "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>";
		char	   *big = xmalloc(8192);

		snprintf(big, 8192, "%s%05000d</NextContinuationToken></ListBucketResult>", d, 0);
		refused(P_LIST, "a 5000-byte token", big, PGARK_ERR_IO, "<NextContinuationToken> is longer than 4096 bytes");
		free(big);
	}

	/* sizes */
	{
		static const char *const bad[] = {
			"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1e3", "abc", "18446744073709551616",
			"99999999999999999999", "１", "&#x31;&#x32;x",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			char		in[300];
			char		what[100];

			snprintf(in, sizeof(in), "<Key>wal/x</Key><Size>%s</Size><LastModified>2026-11-27T05:06:24Z</LastModified>", bad[i]);
			snprintf(what, sizeof(what), "Size \"%s\"", bad[i]);
			refused(P_LIST, what, list_with(in, NULL), PGARK_ERR_IO, "<Contents> \"wal/x\": <Size>");
		}
	}
	{
		pgark_err	err;
		collected	c;
		const char *d = list_with(ENTRY("k", "007", "2026-11-27T05:06:24Z"), NULL);

		memset(&c, 0, sizeof(c));
		is_int(run(P_LIST, d, strlen(d), &c, &err), 0, "list: Size \"007\" (leading zeros) is 7");
		is_uint(c.sizes[0], 7, "... 7");
	}

	/* dates */
	{
		static const char *const bad[] = {
			"", "yesterday", "1795756384", "Fri, 27 Nov 2026 05:06:24 GMT",
			"2026-11-27T05:06:24.000", "2026-11-27T05:06:24", "2026-11-27 05:06:24Z", "2026-11-27t05:06:24z",
			"2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-00T00:00:00Z",
			"2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T05:60:00Z",
			"2026-11-27T05:06:61Z", "2026-11-27T05:06:24.Z", "2026-11-27T05:06:24.0000000000Z",
			"2026-11-27T05:06:24Zjunk", "2026-11-27T05:06:24+0200", "2026-11-27T05:06:24+24:00",
			"2026-1-27T05:06:24Z", "+2026-11-27T05:06:24Z", "0000-01-01T00:00:00Z", "2026-11-27T05:06:2xZ",
			" 2026-11-27T05:06:24Z",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			char		in[300];
			char		what[100];

			snprintf(in, sizeof(in), "<Key>wal/x</Key><Size>1</Size><LastModified>%s</LastModified>", bad[i]);
			snprintf(what, sizeof(what), "LastModified \"%s\"", bad[i]);
			refused(P_LIST, what, list_with(in, NULL), PGARK_ERR_IO, "<LastModified>");
		}
	}
	{
		/* good dates, checked against timegm */
		static const struct
		{
			const char *s;
			int			y,
						mo,
						d,
						h,
						mi,
						sec;
			int			off;	/* seconds east of UTC */
		}			good[] = {
			{"2026-11-27T05:06:24.000Z", 2026, 11, 27, 5, 6, 24, 0},
			{"2026-11-27T05:06:24Z", 2026, 11, 27, 5, 6, 24, 0},
			{"2026-11-27T05:06:24.123456789Z", 2026, 11, 27, 5, 6, 24, 0},
			{"2026-11-27T07:36:24.5+02:30", 2026, 11, 27, 5, 6, 24, 0},
			{"2026-11-27T00:06:24-05:00", 2026, 11, 27, 5, 6, 24, 0},
			{"1970-01-01T00:00:00Z", 1970, 1, 1, 0, 0, 0, 0},
			{"1969-12-31T23:59:59Z", 1969, 12, 31, 23, 59, 59, 0},
			{"2000-02-29T12:00:00Z", 2000, 2, 29, 12, 0, 0, 0},
			{"2024-02-29T23:59:59Z", 2024, 2, 29, 23, 59, 59, 0},
			{"2038-01-19T03:14:08Z", 2038, 1, 19, 3, 14, 8, 0},
			{"2100-03-01T00:00:00Z", 2100, 3, 1, 0, 0, 0, 0},
			{"9999-12-31T23:59:59Z", 9999, 12, 31, 23, 59, 59, 0},
			{"2016-12-31T23:59:60Z", 2016, 12, 31, 23, 59, 60, 0},
		};

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		{
			char		in[300];
			pgark_err	err;
			collected	c;
			struct tm	tm;
			const char *d;

			snprintf(in, sizeof(in), "<Key>k</Key><Size>1</Size><LastModified>%s</LastModified>", good[i].s);
			d = list_with(in, NULL);
			memset(&c, 0, sizeof(c));
			memset(&tm, 0, sizeof(tm));
			tm.tm_year = good[i].y - 1900;
			tm.tm_mon = good[i].mo - 1;
			tm.tm_mday = good[i].d;
			tm.tm_hour = good[i].h;
			tm.tm_min = good[i].mi;
			tm.tm_sec = good[i].sec;
			if (!is_int(run(P_LIST, d, strlen(d), &c, &err), 0, "list: LastModified \"%s\"", good[i].s))
				diag("%s", err.msg);
			is_int(c.mtimes[0], (long long) timegm(&tm) - good[i].off, "... is timegm's %lld", (long long) timegm(&tm));
		}
	}
}

static void
test_initiate(void)
{
	pgark_err	err;
	char		id[128];
	char		small[8];

	err_clear(&err);
	is_int(s3xml_parse_initiate(initiate_doc, strlen(initiate_doc), id, sizeof(id), &err), 0, "initiate: a real response");
	is_str(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA", "... UploadId");
	is_int(s3xml_parse_initiate(initiate_doc, strlen(initiate_doc), small, sizeof(small), &err), -1, "initiate: UploadId longer than cap");
	like(err.msg, "<UploadId> is longer than 7 bytes", "... says so");
	is_str(small, "", "... upload_id is \"\" on failure");
	is_int(s3xml_parse_initiate(initiate_doc, strlen(initiate_doc), id, 0, &err), -1, "initiate: cap 0");
	is_kind(err, PGARK_ERR_INTERNAL, "... is the caller's bug");

	refused(P_INITIATE, "no UploadId", DECL "<InitiateMultipartUploadResult " NS "><Bucket>b</Bucket><Key>k</Key></InitiateMultipartUploadResult>",
			PGARK_ERR_IO, "S3 CreateMultipartUpload response: no <UploadId>");
	refused(P_INITIATE, "empty UploadId", "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>",
			PGARK_ERR_IO, "empty <UploadId>");
	refused(P_INITIATE, "self-closing UploadId", "<InitiateMultipartUploadResult><UploadId/></InitiateMultipartUploadResult>",
			PGARK_ERR_IO, "empty <UploadId>");
	refused(P_INITIATE, "two UploadIds", "<InitiateMultipartUploadResult><UploadId>a</UploadId><UploadId>b</UploadId></InitiateMultipartUploadResult>",
			PGARK_ERR_IO, "more than one <UploadId>");
	refused(P_INITIATE, "UploadId one level too deep", "<InitiateMultipartUploadResult><X><UploadId>a</UploadId></X></InitiateMultipartUploadResult>",
			PGARK_ERR_IO, "no <UploadId>");
	refused(P_INITIATE, "wrong root", complete_doc, PGARK_ERR_IO, "expected <InitiateMultipartUploadResult>");
	refused(P_INITIATE, "<Error> ServiceUnavailable", "<Error><Code>ServiceUnavailable</Code><Message>Please retry</Message></Error>",
			PGARK_ERR_TRANSIENT, "S3 CreateMultipartUpload failed: ServiceUnavailable: Please retry");
	refused(P_INITIATE, "empty body", "", PGARK_ERR_IO, "is empty");
}

static void
test_complete(void)
{
	pgark_err	err;

	err_clear(&err);
	if (!is_int(s3xml_parse_complete(complete_doc, strlen(complete_doc), &err), 0,
				"complete: a result after S3's keep-alive blanks"))
		diag("%s", err.msg);
	{
		static const char d[] = "<CompleteMultipartUploadResult/>";

		is_int(s3xml_parse_complete(d, strlen(d), &err), 0, "complete: an empty result element");
	}
	{
		static const char d[] = DECL "\n \n \n<CompleteMultipartUploadResult " NS "><ETag>\"x\"</ETag></CompleteMultipartUploadResult>";

		is_int(s3xml_parse_complete(d, strlen(d), &err), 0, "complete: blanks after the declaration");
	}
	refused(P_COMPLETE, "an <Error> in a 200 (InternalError)", complete_error_doc, PGARK_ERR_TRANSIENT,
			"S3 CompleteMultipartUpload failed: InternalError: We encountered an internal error. Please try again. (request id 656c76696e6727732072657175657374)");
	refused(P_COMPLETE, "an <Error> in a 200 (SlowDown)", slowdown_doc, PGARK_ERR_TRANSIENT, "SlowDown");
	refused(P_COMPLETE, "<Error> InvalidPart",
			"<Error><Code>InvalidPart</Code><Message>One or more of the specified parts could not be found.</Message>"
			"<UploadId>abc</UploadId><PartNumber>2</PartNumber><ETag>x</ETag></Error>", PGARK_ERR_IO, "InvalidPart: One or more");
	refused(P_COMPLETE, "<Error> NoSuchUpload", "<Error><Code>NoSuchUpload</Code></Error>", PGARK_ERR_IO, "NoSuchUpload: (no message)");
	refused(P_COMPLETE, "<Error> RequestTimeTooSkewed", "<Error><Code>RequestTimeTooSkewed</Code></Error>", PGARK_ERR_IO, "RequestTimeTooSkewed");
	refused(P_COMPLETE, "empty body", "", PGARK_ERR_IO, "S3 CompleteMultipartUpload response is empty");
	refused(P_COMPLETE, "only keep-alive blanks (cut off)", "  \n  \n ", PGARK_ERR_IO, "is empty");
	refused(P_COMPLETE, "another root", initiate_doc, PGARK_ERR_IO,
			"root element is <InitiateMultipartUploadResult>, expected <CompleteMultipartUploadResult>");
	refused(P_COMPLETE, "not XML", "OK", PGARK_ERR_IO, "not well-formed XML at line 1");
	refused(P_COMPLETE, "cut after the blanks and the declaration", "  \n" DECL, PGARK_ERR_IO, "not well-formed XML");
	refused(P_COMPLETE, "result then junk", "<CompleteMultipartUploadResult/>junk", PGARK_ERR_IO, "junk after document element");
	refused(P_COMPLETE, "result then an <Error>", "<CompleteMultipartUploadResult/><Error><Code>InternalError</Code></Error>",
			PGARK_ERR_IO, "junk after document element");
	refused(P_COMPLETE, "declaration after content", "<CompleteMultipartUploadResult/>\n" DECL, PGARK_ERR_IO, "not well-formed");
}

static void
test_delete(void)
{
	pgark_err	err;

	err_clear(&err);
	is_int(s3xml_parse_delete(delete_ok_doc, strlen(delete_ok_doc), &err), 0, "delete: verbose result, all deleted");
	{
		static const char d[] = DECL "<DeleteResult " NS "/>";

		is_int(s3xml_parse_delete(d, strlen(d), &err), 0, "delete: quiet result, nothing failed");
	}
	is_int(s3xml_parse_delete("", 0, &err), 0, "delete: an empty body (quiet mode, as AWS documents it)");
	refused(P_DELETE, "two failed keys", delete_fail_doc, PGARK_ERR_IO,
			"S3 DeleteObjects: 2 keys not deleted, the first \"wal/000000010000000000000002\": AccessDenied: Access Denied");
	refused(P_DELETE, "one failed key, retryable",
			"<DeleteResult><Error><Key>a</Key><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error></DeleteResult>",
			PGARK_ERR_TRANSIENT, "1 key not deleted, the first \"a\": SlowDown");
	refused(P_DELETE, "a failure without Code or Key", "<DeleteResult><Error/></DeleteResult>",
			PGARK_ERR_IO, "1 key not deleted, the first \"\": (no code): (no message)");
	{
		char		d[4096];
		char		key[S3XML_KEY_MAX + 50];

		memset(key, 'z', sizeof(key) - 1);
		key[sizeof(key) - 1] = '\0';
		snprintf(d, sizeof(d), "<DeleteResult><Error><Key>%s&#10;x</Key><Code>AccessDenied</Code></Error></DeleteResult>", key);
		refused(P_DELETE, "a failed key longer than 1024 bytes is cut in the message", d, PGARK_ERR_IO, "zzz...\": AccessDenied");
		snprintf(d, sizeof(d), "<DeleteResult><Error><Key>a&#10;b&#13;c</Key><Code>AccessDenied</Code></Error></DeleteResult>");
		refused(P_DELETE, "control characters in a failed key", d, PGARK_ERR_IO, "\"a?b?c\"");
	}
	refused(P_DELETE, "<Error> root", "<Error><Code>MalformedXML</Code><Message>The XML you provided was not well-formed</Message></Error>",
			PGARK_ERR_IO, "S3 DeleteObjects failed: MalformedXML");
	refused(P_DELETE, "<Error> root, retryable", complete_error_doc, PGARK_ERR_TRANSIENT, "S3 DeleteObjects failed: InternalError");
	refused(P_DELETE, "wrong root", list_doc, PGARK_ERR_IO, "expected <DeleteResult>");
	refused(P_DELETE, "not XML", "<DeleteResult>", PGARK_ERR_IO, "no element found");
}

static void
test_hostile(void)
{
	static const char lol[] =
		DECL
		"<!DOCTYPE lolz [\n"
		" <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		"]>\n"
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&lol9;</Key><Size>1</Size>"
		"<LastModified>2026-11-27T05:06:24Z</LastModified></Contents></ListBucketResult>\n";
	static const char xxe[] =
		DECL "<!DOCTYPE Error [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><Error><Code>&xxe;</Code></Error>";
	static const char ext_dtd[] =
		DECL "<!DOCTYPE CompleteMultipartUploadResult SYSTEM \"http://example.invalid/s3.dtd\"><CompleteMultipartUploadResult/>";
	static const char plain_doctype[] = "<!DOCTYPE DeleteResult><DeleteResult/>";
	char		deep[2048];
	int			n;

	for (int w = P_ERROR; w <= P_DELETE; w++)
	{
		refused((enum which) w, "entity-expansion bomb (billion laughs)", lol, PGARK_ERR_IO, "DOCTYPE");
		refused((enum which) w, "external entity (XXE)", xxe, PGARK_ERR_IO, "DOCTYPE");
		refused((enum which) w, "external DTD", ext_dtd, PGARK_ERR_IO, "DOCTYPE");
		refused((enum which) w, "DOCTYPE without a subset", plain_doctype, PGARK_ERR_IO, "DOCTYPE");
		refused((enum which) w, "undefined entity", "<Error><Code>&foo;</Code></Error>", PGARK_ERR_IO, "undefined entity");
		refused((enum which) w, "binary", "\x89PNG\r\n\x1a\n\x01\x02", PGARK_ERR_IO, "not well-formed XML at line 1");
		refused((enum which) w, "a character reference to NUL", "<Error><Code>&#0;</Code></Error>", PGARK_ERR_IO, "reference to invalid character");
		refused((enum which) w, "UTF-16 declared, UTF-8 sent", "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Error/>", PGARK_ERR_IO, "not well-formed");
		refused((enum which) w, "an unknown encoding", "<?xml version=\"1.0\" encoding=\"EBCDIC-XX\"?><Error/>", PGARK_ERR_IO, "encoding");
	}
	{
		pgark_err	err;
		s3_error	e;

		for (int w = P_ERROR; w <= P_DELETE; w++)
		{
			if (is_int(run((enum which) w, "<Error>\0</Error>", 16, NULL, &err), -1, "%s: refused: a NUL byte in an element", which_name[w]))
				like(err.msg, "not well-formed (invalid token)", "... not well-formed (invalid token)");
		}
		/* a NUL inside a length: the parser must not stop at it */
		is_int(s3xml_parse_error("<Error/>\0<x>", 12, &e, &err), -1, "error: bytes after a NUL are parsed too");
	}

	/* nesting: S3XML_MAX_DEPTH levels are taken, one more is refused */
	n = snprintf(deep, sizeof(deep), "<ListBucketResult><IsTruncated>false</IsTruncated>");
	for (int i = 1; i < S3XML_MAX_DEPTH; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t) n, "<a%d>", i);
	for (int i = S3XML_MAX_DEPTH - 1; i >= 1; i--)
		n += snprintf(deep + n, sizeof(deep) - (size_t) n, "</a%d>", i);
	snprintf(deep + n, sizeof(deep) - (size_t) n, "</ListBucketResult>");
	{
		pgark_err	err;

		is_int(run(P_LIST, deep, strlen(deep), NULL, &err), 0, "list: elements nested %d deep are taken", S3XML_MAX_DEPTH);
	}
	for (int w = P_ERROR; w <= P_DELETE; w++)
	{
		static const char *const roots[] = {
			"Error", "ListBucketResult", "InitiateMultipartUploadResult",
			"CompleteMultipartUploadResult", "DeleteResult",
		};

		n = snprintf(deep, sizeof(deep), "<%s>", roots[w]);
		for (int i = 1; i <= S3XML_MAX_DEPTH; i++)
			n += snprintf(deep + n, sizeof(deep) - (size_t) n, "<a>");
		for (int i = 1; i <= S3XML_MAX_DEPTH; i++)
			n += snprintf(deep + n, sizeof(deep) - (size_t) n, "</a>");
		snprintf(deep + n, sizeof(deep) - (size_t) n, "</%s>", roots[w]);
		refused((enum which) w, "elements nested 17 deep", deep, PGARK_ERR_IO, "nested more than 16 deep");
	}
	{
		/* 100000 levels: refused at 17, never recursing */
		size_t		cap = 100000 * 3 + 1;
		char	   *d = xmalloc(cap);
		pgark_err	err;

		for (size_t i = 0; i < 100000; i++)
			memcpy(d + i * 3, "<a>", 3);
		is_int(run(P_ERROR, d, cap - 1, NULL, &err), -1, "error: 100000 open elements are refused");
		like(err.msg, "nested more than 16 deep", "... by depth");
		free(d);
	}
	{
		/* an element name too long to keep: never matches a known one */
		char		d[1024];
		char		name[300];
		pgark_err	err;

		memset(name, 'N', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		snprintf(d, sizeof(d), "<DeleteResult><%s><Error/></%s></DeleteResult>", name, name);
		is_int(run(P_DELETE, d, strlen(d), NULL, &err), 0, "delete: a 299-byte element name is an unknown element");
		snprintf(d, sizeof(d), "<%s/>", name);
		is_int(run(P_COMPLETE, d, strlen(d), NULL, &err), -1, "complete: a 299-byte root name is the wrong root");
		like(err.msg, "root element is <NNNNN", "... quoted");
		ok(strlen(err.msg) < 200, "... cut short (%zu bytes)", strlen(err.msg));
	}
}

/*
 * Every proper prefix of a valid document must be refused (no crash, -1, kind
 * IO, a message), except where it is valid by chance: once the root element
 * has closed, or (for the parsers that take an empty body) when nothing but
 * blanks is left.
 */
static void
prefixes(enum which w, const char *name, const char *doc, int full_rc)
{
	size_t		len = strlen(doc);
	size_t		valid_from = (size_t) (strrchr(doc, '>') - doc) + 1;
	int			bad = 0;
	int			blank_rc = (w == P_ERROR || w == P_DELETE) ? 0 : -1;

	for (size_t l = 0; l <= len; l++)
	{
		pgark_err	err;
		int			rc = run(w, doc, l, NULL, &err);
		int			want;
		int			blank = strspn(doc, " \t\r\n") >= l;

		if (l >= valid_from)
			want = full_rc;
		else if (blank)
			want = blank_rc;
		else
			want = -1;
		if (rc != want || (rc == -1 && (err.msg[0] == '\0' || (l < valid_from && err.kind != PGARK_ERR_IO))))
		{
			if (bad++ < 3)
				diag("%s: prefix of %zu bytes: rc %d (want %d), kind %s: %s",
					 name, l, rc, want, err_kind_name(err.kind), err.msg);
		}
	}
	ok(bad == 0, "%s: all %zu prefixes of %s refused, the whole taken", which_name[w], len + 1, name);
}

/* Single-byte mutations: any result, but a sane one. */
static void
mutations(enum which w, const char *name, const char *doc, uint64_t seed)
{
	size_t		len = strlen(doc);
	char	   *buf = xmalloc(len + 1);
	uint8_t		rnd[3 * 2000];
	int			bad = 0;
	static const char alphabet[] = "<>/&;\"'=! ?x0:\n\xC3\x80-T.Z";

	fill_random(rnd, sizeof(rnd), seed);
	for (int i = 0; i < 2000; i++)
	{
		pgark_err	err;
		int			rc;
		size_t		pos = ((size_t) rnd[3 * i] << 8 | rnd[3 * i + 1]) % len;

		memcpy(buf, doc, len + 1);
		buf[pos] = (rnd[3 * i + 2] & 1) ? (char) rnd[3 * i + 2] : alphabet[rnd[3 * i + 2] % (sizeof(alphabet) - 1)];
		rc = run(w, buf, len, NULL, &err);
		if (rc == -1 && err.msg[0] == '\0')
			bad++;
		if (rc != -1 && rc != 0 && !(w == P_ERROR && rc == 1))
			bad++;
		if (rc == -1 && strchr(err.msg, '\n') != NULL)
			bad++;
	}
	ok(bad == 0, "%s: 2000 one-byte mutations of %s give sane results", which_name[w], name);
	free(buf);
}

static void
test_prefixes_and_mutations(void)
{
	prefixes(P_LIST, "a complete page", list_doc, 0);
	prefixes(P_LIST, "a truncated page", list_trunc_doc, 0);
	prefixes(P_INITIATE, "a result", initiate_doc, 0);
	prefixes(P_COMPLETE, "a result after blanks", complete_doc, 0);
	prefixes(P_COMPLETE, "an <Error> in a 200", complete_error_doc, -1);
	prefixes(P_DELETE, "a verbose result", delete_ok_doc, 0);
	prefixes(P_ERROR, "NoSuchKey", nosuchkey_doc, 1);
	prefixes(P_ERROR, "a ListBucketResult", list_doc, 0);

	mutations(P_LIST, "a complete page", list_doc, 1);
	mutations(P_LIST, "a truncated page", list_trunc_doc, 2);
	mutations(P_INITIATE, "a result", initiate_doc, 3);
	mutations(P_COMPLETE, "a result", complete_doc, 4);
	mutations(P_COMPLETE, "an <Error>", complete_error_doc, 5);
	mutations(P_DELETE, "a result with failures", delete_fail_doc, 6);
	mutations(P_ERROR, "NoSuchKey", nosuchkey_doc, 7);
}

int
main(void)
{
	test_retryable();
	test_error_doc();
	test_list_good();
	test_list_bad();
	test_initiate();
	test_complete();
	test_delete();
	test_hostile();
	test_prefixes_and_mutations();
	return done_testing();
}
