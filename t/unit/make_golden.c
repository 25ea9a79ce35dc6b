/*
 * make_golden.c — writes the golden files of t/golden (`make golden`).
 *
 * Run ONCE. The files are committed and pin the object and DEK formats
 * forever (t/golden/README.md); this program refuses to replace any file
 * that exists, so running it again only re-creates files that are missing.
 * It is not part of `make check`. It prints the SHA-256 of every file, for
 * the constants in test_golden.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "golden.h"
#include "keyring.h"
#include "object.h"
#include "util.h"

static _Noreturn void
die(const char *what, const char *detail)
{
	fprintf(stderr, "make_golden: %s: %s\n", what, detail);
	exit(1);
}

static void
unhex_or_die(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n || hex_decode(hex, out, n) != 0)
		die("bad constant in golden.h", hex);
}

/* Create path with exactly these bytes; never replaces a file. Returns 1 if written. */
static int
create_file(const char *path, const void *buf, size_t len)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
	{
		if (errno == EEXIST)
		{
			printf("kept     %s (exists; golden files are never regenerated)\n", path);
			return 0;
		}
		die(path, strerror(errno));
	}
	if (write_full(fd, buf, len) != 0 || fsync(fd) != 0 || close(fd) != 0)
		die(path, strerror(errno));
	printf("wrote    %s (%zu bytes)\n", path, len);
	return 1;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die(path, strerror(errno));
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
		die(path, "read failed");
	fclose(f);
	*len = (size_t) n;
	return buf;
}

/*
 * The plaintext: three frames of plain, repetitive text (lz4 compresses them),
 * one frame of random base64 characters (lz4 cannot), and a short tail, so
 * the last data frame is partial.
 */
static uint8_t *
make_plain(size_t *len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t		text = 3 * GOLDEN_FRAME_SIZE;
	size_t		total = text + GOLDEN_FRAME_SIZE + 300;
	uint8_t    *p = malloc(total + 200);
	size_t		n = 0;
	uint64_t	x = UINT64_C(0x676f6c64656e2121);

	if (p == NULL)
		die("plain", "out of memory");
	n += (size_t) sprintf((char *) p, "pgark golden plaintext, object format version 1. TEST DATA ONLY.\n");
	for (int line = 1; n < text; line++)
		n += (size_t) sprintf((char *) p + n,
							  "line %03d: the archive keeps every WAL segment compressed, encrypted and verifiable.\n",
							  line);
	/* cut the text at the frame boundary, ending it with a newline */
	n = text;
	p[n - 1] = '\n';
	/* one frame of random base64 (xorshift64*, fixed seed), ending in a newline */
	for (size_t i = 0; i < GOLDEN_FRAME_SIZE - 1; i++)
	{
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[n++] = (uint8_t) b64[(x * UINT64_C(0x2545F4914F6CDD1D)) >> 58];
	}
	p[n++] = '\n';
	for (size_t i = 0; n < total - 1; i++)
		p[n++] = (uint8_t) "the end of the golden plaintext; a partial last frame. "[i % 55];
	p[n++] = '\n';
	*len = n;
	return p;
}

typedef struct sinkbuf
{
	uint8_t    *buf;
	size_t		len;
	size_t		cap;
} sinkbuf;

static int
sink(void *arg, const void *buf, size_t len, pgark_err *err)
{
	sinkbuf    *s = arg;

	(void) err;
	if (s->len + len > s->cap)
	{
		s->cap = (s->len + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (s->buf == NULL)
			die("sink", "out of memory");
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

static void
make_object(const char *path, obj_cipher cipher, const obj_dek *dek, const uint8_t *salt,
			uint64_t plain_len, const uint8_t *plain, size_t n)
{
	obj_params	p;
	obj_writer *w;
	sinkbuf		out = {0};
	pgark_err	err;
	obj_summary sum;

	memset(&p, 0, sizeof(p));
	p.compression = OBJ_COMP_LZ4;
	p.cipher = cipher;
	p.frame_size = GOLDEN_FRAME_SIZE;
	p.plain_len = plain_len;
	p.dek = dek;
	p.salt = salt;
	if ((w = obj_writer_new(&p, sink, &out, &err)) == NULL ||
		obj_writer_write(w, plain, n, &err) != 0 ||
		obj_writer_finish(w, &sum, &err) != 0)
		die(path, err.msg);
	obj_writer_free(w);
	create_file(path, out.buf, out.len);
	free(out.buf);
}

static void
print_sha(const char *path)
{
	size_t		len;
	uint8_t    *buf = slurp(path, &len);
	uint8_t		sha[SHA256_LEN];
	char		hex[2 * SHA256_LEN + 1];

	sha256_once(buf, len, sha);
	hex_encode(sha, SHA256_LEN, hex);
	printf("sha256   %s  %s\n", hex, path);
	free(buf);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "t/golden";
	char		path[5][1024];
	static const char *const names[5] = {
		"test-master.key", "plain.txt", "dek-v1.bin", "object-v1-aes.bin", "object-v1-none.bin"
	};
	uint8_t		kek[KEK_LEN], salt_aes[OBJ_SALT_LEN], salt_none[OBJ_SALT_LEN];
	uint8_t		wrapped[DEK_OBJECT_LEN];
	obj_dek		dek;
	pgark_err	err;
	uint8_t    *plain;
	size_t		n;
	char		keyline[2 * KEK_LEN + 2];

	for (int i = 0; i < 5; i++)
		if ((size_t) snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]) >= sizeof(path[i]))
			die(dir, "path too long");
	unhex_or_die(GOLDEN_KEK_HEX, kek, KEK_LEN);
	unhex_or_die(GOLDEN_DEK_ID_HEX, dek.id, OBJ_DEK_ID_LEN);
	unhex_or_die(GOLDEN_DEK_KEY_HEX, dek.key, AES256_KEY_LEN);
	unhex_or_die(GOLDEN_SALT_AES_HEX, salt_aes, OBJ_SALT_LEN);
	unhex_or_die(GOLDEN_SALT_NONE_HEX, salt_none, OBJ_SALT_LEN);

	snprintf(keyline, sizeof(keyline), "%s\n", GOLDEN_KEK_HEX);
	create_file(path[0], keyline, strlen(keyline));

	plain = make_plain(&n);
	create_file(path[1], plain, n);
	free(plain);
	plain = slurp(path[1], &n);	/* the committed plaintext is the truth */

	/* the wrap's nonce is random: this file is written once and kept */
	if (access(path[2], F_OK) != 0)
	{
		if (dek_wrap(kek, &dek, GOLDEN_DEK_CREATED, wrapped, &err) != 0)
			die("dek_wrap", err.msg);
		create_file(path[2], wrapped, sizeof(wrapped));
	}
	else
		printf("kept     %s (exists; golden files are never regenerated)\n", path[2]);

	make_object(path[3], OBJ_CIPHER_AES256GCM, &dek, salt_aes, n, plain, n);
	make_object(path[4], OBJ_CIPHER_NONE, NULL, salt_none, OBJ_LEN_UNKNOWN, plain, n);
	free(plain);

	for (int i = 0; i < 5; i++)
		print_sha(path[i]);
	return 0;
}
