/*
 * test_golden.c — the committed golden files (t/golden, see its README.md)
 * pin the object container and the wrapped-DEK formats: an archive written
 * today must restore in ten years.
 *
 *  - each file's SHA-256 is the constant below (nobody regenerated them);
 *  - the DEK unwraps with the test master key; both objects decrypt to
 *    exactly plain.txt;
 *  - writing plain.txt again with the same salt, DEK and frame size gives
 *    byte-identical objects, so any change to what the writer produces is
 *    caught here even if the reader still accepts the old bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "golden.h"
#include "keyring.h"
#include "object.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"

/* SHA-256 of the committed files, as printed by make_golden when it wrote them */
#define SHA_MASTER_KEY "feafd7e298a67f45d4f4f98cbadf33af039f265733d849c93ba2a49d77f25250"
#define SHA_PLAIN "17dcd24beb5eab60db70727d33a7f047957eba6f5225bfd677dddd28fd54fa46"
#define SHA_DEK "cab51c5ede0c29ed7af938153eb3c9e9e1d9e3583e94cd8a6a07d80a081b7b8c"
#define SHA_OBJECT_AES "dfb76b37411a6d9e63a6c91b98c06dcae2649d4e305ce50a36311cfc22545624"
#define SHA_OBJECT_NONE "cf0b94d21414b3072b53430342c8ee12d642b81c531980de2fb53c29b6d0a9a1"

static char golden_dir[1024];
static char tmp[1024];

typedef struct gfile
{
	const char *name;
	const char *sha;
	uint8_t    *buf;
	size_t		len;
} gfile;

static gfile files[] = {
	{"test-master.key", SHA_MASTER_KEY, NULL, 0},
	{"plain.txt", SHA_PLAIN, NULL, 0},
	{"dek-v1.bin", SHA_DEK, NULL, 0},
	{"object-v1-aes.bin", SHA_OBJECT_AES, NULL, 0},
	{"object-v1-none.bin", SHA_OBJECT_NONE, NULL, 0},
};
enum
{
	F_KEY, F_PLAIN, F_DEK, F_AES, F_NONE, NFILES
};

static obj_dek golden_dek;

static const obj_dek *
lookup(void *arg, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err)
{
	const obj_dek *d = arg;

	if (memcmp(d->id, id, OBJ_DEK_ID_LEN) == 0)
		return d;
	err_set(err, PGARK_ERR_KEY, 0, "unknown data key");
	return NULL;
}

static void
find_golden_dir(void)
{
	const char *top = getenv("PGARK_TOP");
	struct stat sb;

	snprintf(golden_dir, sizeof(golden_dir), "%s/t/golden", top && top[0] ? top : ".");
	if (stat(golden_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		bail_out("no golden files at %s (run from the top of the tree, or set PGARK_TOP)", golden_dir);
}

static void
test_files(void)
{
	for (int i = 0; i < NFILES; i++)
	{
		char		path[2048];
		uint8_t		want[SHA256_LEN], got[SHA256_LEN];

		snprintf(path, sizeof(path), "%s/%s", golden_dir, files[i].name);
		files[i].buf = read_file(path, &files[i].len);
		if (files[i].buf == NULL)
			bail_out("cannot read %s", path);
		unhex(files[i].sha, want, sizeof(want));
		sha256_once(files[i].buf, files[i].len, got);
		if (!is_mem(got, want, SHA256_LEN, "%s has its committed SHA-256", files[i].name))
			diag("%s changed: golden files are never regenerated (t/golden/README.md)", files[i].name);
	}
}

/* Read a whole object; 0 if it ended verified. */
static int
read_all(const uint8_t *obj, size_t len, const obj_dek *dek, membuf *out, obj_summary *sum,
		 obj_header *hdr, pgark_err *err)
{
	memsrc		src = {obj, len, 0, 333};
	obj_reader *r = obj_reader_new(mem_source, &src, dek ? lookup : NULL, (void *) dek, err);
	uint8_t		buf[1000];
	int			rc = -1;

	if (r == NULL)
		return -1;
	*hdr = *obj_reader_header(r);
	for (;;)
	{
		size_t		got;

		if (obj_reader_read(r, buf, sizeof(buf), &got, err) != 0)
			break;
		if (got == 0)
		{
			*sum = *obj_reader_summary(r);
			rc = 0;
			break;
		}
		membuf_append(out, buf, got);
	}
	obj_reader_free(r);
	return rc;
}

static void
test_dek(void)
{
	char		keycopy[2048];
	uint8_t		kek[KEK_LEN], want_kek[KEK_LEN];
	pgark_err	err;
	obj_dek		want;

	/* git does not keep mode 0600: read a private copy */
	snprintf(keycopy, sizeof(keycopy), "%s/test-master.key", tmp);
	write_file(keycopy, files[F_KEY].buf, files[F_KEY].len, 0600);
	err_clear(&err);
	if (!is_int(kek_read_file(keycopy, kek, &err), 0, "test-master.key (copied with mode 0600) reads as a KEK"))
		bail_out("%s", err.msg);
	unhex(GOLDEN_KEK_HEX, want_kek, KEK_LEN);
	is_mem(kek, want_kek, KEK_LEN, "... the test key of golden.h");

	is_int(files[F_DEK].len, DEK_OBJECT_LEN, "dek-v1.bin is %d bytes", DEK_OBJECT_LEN);
	is_mem(files[F_DEK].buf, DEK_MAGIC, 8, "... starts with %s", DEK_MAGIC);
	is_int(get_be16(files[F_DEK].buf + 8), 1, "... format version 1");
	is_uint(get_be64(files[F_DEK].buf + 16), GOLDEN_DEK_CREATED, "... created %d", GOLDEN_DEK_CREATED);
	memset(&golden_dek, 0, sizeof(golden_dek));
	if (!is_int(dek_unwrap(kek, files[F_DEK].buf, files[F_DEK].len, &golden_dek, &err), 0,
				"dek-v1.bin unwraps with the test master key"))
		bail_out("%s", err.msg);
	unhex(GOLDEN_DEK_ID_HEX, want.id, OBJ_DEK_ID_LEN);
	unhex(GOLDEN_DEK_KEY_HEX, want.key, AES256_KEY_LEN);
	is_mem(golden_dek.id, want.id, OBJ_DEK_ID_LEN, "... DEK id");
	is_mem(golden_dek.key, want.key, AES256_KEY_LEN, "... DEK key");

	kek[5] ^= 1;
	is_int(dek_unwrap(kek, files[F_DEK].buf, files[F_DEK].len, &want, &err), -1, "... and not with another key");
}

static void
test_object(int fi, obj_cipher cipher, const char *salt_hex, uint64_t plain_len)
{
	const gfile *f = &files[fi];
	membuf		plain = {0}, again = {0};
	obj_summary sum = {0};
	obj_header	h = {0};
	pgark_err	err;
	uint8_t		salt[OBJ_SALT_LEN];
	size_t		off, frames = 0, lz4 = 0, raw = 0;

	unhex(salt_hex, salt, OBJ_SALT_LEN);
	err_clear(&err);
	if (!is_int(read_all(f->buf, f->len, cipher == OBJ_CIPHER_AES256GCM ? &golden_dek : NULL, &plain, &sum, &h, &err),
				0, "%s decrypts and verifies", f->name))
		diag("%s", err.msg);
	is_buf(plain.buf, plain.len, files[F_PLAIN].buf, files[F_PLAIN].len, "%s gives exactly plain.txt", f->name);
	ok(h.version == 1 && h.compression == OBJ_COMP_LZ4 && h.cipher == cipher &&
	   h.frame_size == GOLDEN_FRAME_SIZE && h.plain_len == plain_len &&
	   memcmp(h.salt, salt, OBJ_SALT_LEN) == 0,
	   "%s header: version 1, lz4, %s, frame %d, plain_len %s, the fixed salt", f->name,
	   cipher == OBJ_CIPHER_AES256GCM ? "aes-256-gcm" : "none", GOLDEN_FRAME_SIZE,
	   plain_len == OBJ_LEN_UNKNOWN ? "unknown" : "known");
	if (cipher == OBJ_CIPHER_AES256GCM)
		is_mem(h.dek_id, golden_dek.id, OBJ_DEK_ID_LEN, "%s names the golden DEK", f->name);
	is_uint(sum.xxh64, xxh64(files[F_PLAIN].buf, files[F_PLAIN].len, 0), "%s: XXH64 of plain.txt in its trailer",
			f->name);

	/* the frames: compressed text, one incompressible frame stored raw, a partial last one */
	for (off = OBJ_HEADER_LEN; off + OBJ_FRAME_HDR_LEN <= f->len;)
	{
		uint8_t		flags = f->buf[off + 4];

		if (!(flags & OBJ_FRAME_LAST))
		{
			frames++;
			if (flags & OBJ_FRAME_LZ4)
				lz4++;
			else
				raw++;
		}
		off += OBJ_FRAME_HDR_LEN + get_be32(f->buf + off) + GCM_TAG_LEN;
	}
	is_uint(off, f->len, "%s: frames end at the end of the file", f->name);
	is_uint(frames, sum.frames, "%s: %llu data frames", f->name, (unsigned long long) sum.frames);
	ok(lz4 >= 3 && raw >= 1, "%s: %zu lz4 frames and %zu stored raw", f->name, lz4, raw);

	/* write it again: the same bytes */
	{
		obj_params	p;
		obj_writer *w;
		obj_summary ws;

		memset(&p, 0, sizeof(p));
		p.compression = OBJ_COMP_LZ4;
		p.cipher = cipher;
		p.frame_size = GOLDEN_FRAME_SIZE;
		p.plain_len = plain_len;
		p.dek = cipher == OBJ_CIPHER_AES256GCM ? &golden_dek : NULL;
		p.salt = salt;
		w = obj_writer_new(&p, mem_sink, &again, &err);
		if (w == NULL || obj_writer_write(w, files[F_PLAIN].buf, files[F_PLAIN].len, &err) != 0 ||
			obj_writer_finish(w, &ws, &err) != 0)
			ok(0, "%s: re-encrypting plain.txt: %s", f->name, err.msg);
		else
		{
			if (!is_buf(again.buf, again.len, f->buf, f->len,
						"re-encrypting plain.txt gives %s byte for byte", f->name))
				diag("the writer's output changed: that is a FORMAT change (t/golden/README.md)");
		}
		obj_writer_free(w);
	}
	membuf_free(&plain);
	membuf_free(&again);
}

int
main(void)
{
	find_golden_dir();
	make_tmpdir(tmp, sizeof(tmp), "golden");
	test_files();
	test_dek();
	test_object(F_AES, OBJ_CIPHER_AES256GCM, GOLDEN_SALT_AES_HEX, files[F_PLAIN].len);
	test_object(F_NONE, OBJ_CIPHER_NONE, GOLDEN_SALT_NONE_HEX, OBJ_LEN_UNKNOWN);
	for (int i = 0; i < NFILES; i++)
		free(files[i].buf);
	rm_rf(tmp);
	return done_testing();
}
