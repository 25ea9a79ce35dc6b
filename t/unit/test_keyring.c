/*
 * test_keyring.c — master key files and commands, DEK wrapping
 * (lib/keyring.h). The master key must never appear in an error message.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keyring.h"
#include "store.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"

static char dir[1024];

/* A fixed test key, and its hex spelling. */
static const char *kek_hex = "c0ffee00112233445566778899aabbccddeeff0102030405060708090a0b0c0d";
static uint8_t kek_bin[KEK_LEN];

static const char *
tmp_path(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* The message must not carry the key: neither its hex (either case) nor its bytes. */
static void
no_key_in(const char *msg, const uint8_t *key, const char *what)
{
	char		hex[2 * KEK_LEN + 1], upper[2 * KEK_LEN + 1], half[KEK_LEN + 1];

	hex_encode(key, KEK_LEN, hex);
	for (int i = 0; i <= 2 * KEK_LEN; i++)
		upper[i] = (char) (hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	memcpy(half, hex, KEK_LEN);
	half[KEK_LEN] = '\0';
	ok(strstr(msg, half) == NULL && strstr(msg, upper + KEK_LEN) == NULL &&
	   memmem(msg, strlen(msg), key, 8) == NULL && memmem(msg, strlen(msg), key + 24, 8) == NULL,
	   "%s: the message does not contain the key (hex or raw)", what);
}

static void
test_generate(void)
{
	const char *path = tmp_path("gen.key");
	struct stat sb;
	pgark_err	err;
	uint8_t		kek[KEK_LEN], again[KEK_LEN];
	size_t		len;
	uint8_t    *raw;
	char		copy[4200];

	snprintf(copy, sizeof(copy), "%s", path);
	err_clear(&err);
	if (!is_int(kek_generate_file(copy, &err), 0, "kek_generate_file creates a key"))
		diag("%s", err.msg);
	ok(stat(copy, &sb) == 0 && S_ISREG(sb.st_mode), "... a regular file");
	is_int(sb.st_mode & 07777, 0600, "... mode 0600");
	is_int(sb.st_size, KEK_LEN, "... 32 bytes");
	raw = read_file(copy, &len);
	is_int(kek_read_file(copy, kek, &err), 0, "kek_read_file reads it");
	is_buf(kek, KEK_LEN, raw, len, "... as the 32 raw bytes");

	is_int(kek_generate_file(copy, &err), -1, "kek_generate_file refuses an existing file");
	is_kind(err, PGARK_ERR_EXISTS, "... as EXISTS");
	like(err.msg, copy, "... naming it");
	is_int(kek_read_file(copy, again, &err), 0, "the key is still readable");
	is_mem(again, kek, KEK_LEN, "... and unchanged");
	free(raw);

	/* a dangling symlink is not followed to create a key elsewhere */
	{
		char		link[4200], target[4200];

		snprintf(target, sizeof(target), "%s", tmp_path("target.key"));
		snprintf(link, sizeof(link), "%s", tmp_path("link.key"));
		if (symlink(target, link) != 0)
			bail_out("symlink: %s", strerror(errno));
		is_int(kek_generate_file(link, &err), -1, "kek_generate_file refuses a symlink");
		ok(access(target, F_OK) != 0, "... and creates nothing at its target");
	}
	/* a directory that does not exist */
	snprintf(copy, sizeof(copy), "%s/no/such/dir/k", dir);
	is_int(kek_generate_file(copy, &err), -1, "kek_generate_file in a missing directory fails");
	is_kind(err, PGARK_ERR_IO, "... as IO");
}

static void
test_read_file(void)
{
	const char *path;
	char		p[4200];
	pgark_err	err;
	uint8_t		kek[KEK_LEN];
	char		line[2 * KEK_LEN + 2];
	static const mode_t bad_modes[] = {0640, 0604, 0644, 0660, 0606, 0610, 0601, 0620};

	/* 64 hex digits and a newline */
	snprintf(line, sizeof(line), "%s\n", kek_hex);
	path = tmp_path("hex.key");
	snprintf(p, sizeof(p), "%s", path);
	write_file(p, line, strlen(line), 0600);
	memset(kek, 0, sizeof(kek));
	err_clear(&err);
	if (!is_int(kek_read_file(p, kek, &err), 0, "64 hex digits + newline, mode 0600: read"))
		diag("%s", err.msg);
	is_mem(kek, kek_bin, KEK_LEN, "... decoded");
	write_file(p, kek_hex, strlen(kek_hex), 0400);
	is_int(kek_read_file(p, kek, &err), 0, "64 hex digits without newline, mode 0400: read");
	is_mem(kek, kek_bin, KEK_LEN, "... decoded");
	write_file(p, kek_bin, KEK_LEN, 0600);
	is_int(kek_read_file(p, kek, &err), 0, "32 raw bytes: read");
	is_mem(kek, kek_bin, KEK_LEN, "... as is");

	/* modes that let the group or others in */
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++)
	{
		char		mode[8];

		write_file(p, line, strlen(line), bad_modes[i]);
		err_clear(&err);
		is_int(kek_read_file(p, kek, &err), -1, "mode %04o refused", (unsigned) bad_modes[i]);
		is_kind(err, PGARK_ERR_KEY, "... as KEY");
		snprintf(mode, sizeof(mode), "%04o", (unsigned) bad_modes[i]);
		like(err.msg, mode, "... the message says the mode");
		like(err.msg, p, "... and names the file");
		no_key_in(err.msg, kek_bin, "bad mode");
	}

	/* wrong contents */
	{
		static const struct
		{
			const char *what;
			size_t		len;
		}			sizes[] = {{"31 bytes", 31}, {"33 bytes", 33}, {"0 bytes", 0}, {"63 hex digits", 63},
		{"65 hex digits", 65}};
		char		buf[100];

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		{
			if (strstr(sizes[i].what, "hex"))
			{
				memset(buf, 'a', sizeof(buf));
				memcpy(buf, kek_hex, 64);
			}
			else
				memset(buf, 0x41, sizeof(buf));
			write_file(p, buf, sizes[i].len, 0600);
			err_clear(&err);
			is_int(kek_read_file(p, kek, &err), -1, "a key file of %s is refused", sizes[i].what);
			ok(err.kind == PGARK_ERR_KEY && strstr(err.msg, p) != NULL, "... as KEY, naming the file");
		}
		/* a passphrase written with echo: 31 characters and a newline */
		memcpy(buf, "correct horse battery staple!!!\n", 32);
		write_file(p, buf, 32, 0600);
		is_int(kek_read_file(p, kek, &err), -1, "a 32-byte line of text (echo of a passphrase) is refused");
		like(err.msg, "a line of text is not a key", "... saying why");
		/* while 32 random bytes that happen to end in a newline are a key */
		memcpy(buf, kek_bin, 32);
		buf[0] = 0x01;
		buf[31] = '\n';
		write_file(p, buf, 32, 0600);
		is_int(kek_read_file(p, kek, &err), 0, "32 raw bytes ending in a newline (not all text) are a key");
		/* 64 characters that are not all hex */
		memcpy(buf, kek_hex, 64);
		buf[40] = 'g';
		buf[64] = '\n';
		write_file(p, buf, 65, 0600);
		is_int(kek_read_file(p, kek, &err), -1, "64 characters with a non-hex one are refused");
		no_key_in(err.msg, kek_bin, "not hex");
	}

	/* a symlink to a good key file */
	{
		char		target[4200], link[4200];

		snprintf(target, sizeof(target), "%s", tmp_path("real.key"));
		snprintf(link, sizeof(link), "%s", tmp_path("symlinked.key"));
		write_file(target, line, strlen(line), 0600);
		if (symlink(target, link) != 0)
			bail_out("symlink: %s", strerror(errno));
		err_clear(&err);
		is_int(kek_read_file(link, kek, &err), -1, "a symlink to a key file is refused");
		is_kind(err, PGARK_ERR_KEY, "... as KEY");
		like(err.msg, "symbolic link", "... saying why");
	}

	/* missing, and a directory */
	is_int(kek_read_file(tmp_path("missing.key"), kek, &err), -1, "a missing key file");
	ok(err.kind == PGARK_ERR_KEY && strstr(err.msg, "does not exist"), "... KEY, 'does not exist'");
	is_int(kek_read_file(dir, kek, &err), -1, "a directory");
	is_kind(err, PGARK_ERR_KEY, "... KEY");
}

static void
test_read_command(void)
{
	pgark_err	err;
	uint8_t		kek[KEK_LEN];
	char		cmd[512];

	snprintf(cmd, sizeof(cmd), "printf '%%s\\n' %s", kek_hex);
	memset(kek, 0, sizeof(kek));
	err_clear(&err);
	if (!is_int(kek_read_command(cmd, kek, &err), 0, "key_command printing hex + newline"))
		diag("%s", err.msg);
	is_mem(kek, kek_bin, KEK_LEN, "... gives the key");

	snprintf(cmd, sizeof(cmd), "printf %s", kek_hex);
	memset(kek, 0, sizeof(kek));
	is_int(kek_read_command(cmd, kek, &err), 0, "key_command printing hex, no newline");
	is_mem(kek, kek_bin, KEK_LEN, "... gives the key");

	snprintf(cmd, sizeof(cmd), "echo SECRET-OUTPUT-%s; exit 3", kek_hex);
	err_clear(&err);
	is_int(kek_read_command(cmd, kek, &err), -1, "a command exiting 3 fails");
	is_kind(err, PGARK_ERR_KEY, "... as KEY");
	like(err.msg, "exit status 3", "... the message has the status");
	unlike(err.msg, "SECRET-OUTPUT", "... and not the command's output");
	unlike(err.msg, "echo", "... nor the command line");
	no_key_in(err.msg, kek_bin, "failed command");

	snprintf(cmd, sizeof(cmd), "printf '%s\\n'; exit 1", kek_hex);
	is_int(kek_read_command(cmd, kek, &err), -1, "a good key from a failing command is not used");

	is_int(kek_read_command("echo hello", kek, &err), -1, "a command printing garbage");
	ok(err.kind == PGARK_ERR_KEY && strstr(err.msg, "no key"), "... KEY, 'printed no key'");
	unlike(err.msg, "hello", "... without its output");
	{
		/* a hung vault: killed after the timeout, not waited for */
		char		slow[200];
		double		t0 = now_ms();

		snprintf(slow, sizeof(slow), "sleep 10; printf %%s %s", kek_hex);
		is_int(kek_read_command_timeout(slow, 1, kek, &err), -1, "a key_command that hangs fails");
		ok(now_ms() - t0 < 5000, "... after about the timeout (1 s), not the command's 10 s");
		like(err.msg, "did not answer within 1 s", "... saying so");
	}
	{
		/* what the command started dies with it (its process group) */
		char		kdir[PATH_MAX],
					pidfile[PATH_MAX + 16],
					slow[PATH_MAX + 100],
					statpath[64];
		uint8_t    *text;
		size_t		len = 0;
		long		child = 0;
		int			gone = 0;

		make_tmpdir(kdir, sizeof(kdir), "keycmd");
		snprintf(pidfile, sizeof(pidfile), "%s/pid", kdir);
		snprintf(slow, sizeof(slow), "sleep 30 & echo $! > %s; wait", pidfile);
		is_int(kek_read_command_timeout(slow, 1, kek, &err), -1, "a key_command whose child hangs fails");
		if ((text = read_file(pidfile, &len)) != NULL)
			child = strtol((const char *) text, NULL, 10);
		free(text);
		/* killed: gone, or a zombie until init reaps it */
		for (int i = 0; i < 100 && child > 0 && !gone; i++)
		{
			char		buf[256] = "";
			FILE	   *f;
			char	   *p;

			snprintf(statpath, sizeof(statpath), "/proc/%ld/stat", child);
			if ((f = fopen(statpath, "r")) == NULL)
				gone = 1;
			else
			{
				if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
					p[2] == 'Z')
					gone = 1;
				fclose(f);
			}
			if (!gone)
				nanosleep(&(struct timespec) {0, 10000000}, NULL);
		}
		ok(child > 0 && gone, "... and the process it started (pid %ld) is killed too", child);
		if (child > 0 && !gone)
			kill((pid_t) child, SIGKILL);
		rm_rf(kdir);
	}

	is_int(kek_read_command("true", kek, &err), -1, "a command printing nothing");
	is_kind(err, PGARK_ERR_KEY, "... KEY");

	snprintf(cmd, sizeof(cmd), "printf '%%s%%s' %s %s", kek_hex, kek_hex);
	is_int(kek_read_command(cmd, kek, &err), -1, "a command printing two keys");

	is_int(kek_read_command("kill -9 $$", kek, &err), -1, "a command killed by a signal");
	like(err.msg, "signal 9", "... the message says so");

	is_int(kek_read_command("/nonexistent/kms-helper 2>/dev/null", kek, &err), -1, "a command that does not exist");
	like(err.msg, "127", "... exit status 127");

	/* more output than a key, fast: no hang, refused */
	is_int(kek_read_command("head -c 100000 /dev/zero", kek, &err), -1, "a command printing 100000 bytes");
}

static void
test_wrap(void)
{
	obj_dek		dek, back;
	uint8_t		wrapped[DEK_OBJECT_LEN], other_kek[KEK_LEN], bad[DEK_OBJECT_LEN];
	pgark_err	err;
	int			all, kinds_ok;

	unhex("0f0e0d0c0b0a09080706050403020100", dek.id, OBJ_DEK_ID_LEN);
	unhex("8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677", dek.key, AES256_KEY_LEN);
	err_clear(&err);
	is_int(dek_wrap(kek_bin, &dek, 1700000000, wrapped, &err), 0, "dek_wrap");
	is_mem(wrapped, DEK_MAGIC, 8, "... starts with the DEK magic");
	is_mem(wrapped + 24, dek.id, OBJ_DEK_ID_LEN, "... carries the DEK id in clear");
	ok(memmem(wrapped, DEK_OBJECT_LEN, dek.key, 8) == NULL, "... but not the key");
	memset(&back, 0, sizeof(back));
	is_int(dek_unwrap(kek_bin, wrapped, DEK_OBJECT_LEN, &back, &err), 0, "dek_unwrap");
	ok(memcmp(back.id, dek.id, OBJ_DEK_ID_LEN) == 0 && memcmp(back.key, dek.key, AES256_KEY_LEN) == 0,
	   "... gives the same id and key");

	{
		uint8_t		w2[DEK_OBJECT_LEN];

		dek_wrap(kek_bin, &dek, 1700000000, w2, &err);
		ok(memcmp(w2, wrapped, DEK_OBJECT_LEN) != 0, "wrapping twice uses a fresh nonce");
	}

	memcpy(other_kek, kek_bin, KEK_LEN);
	other_kek[0] ^= 0x01;
	err_clear(&err);
	is_int(dek_unwrap(other_kek, wrapped, DEK_OBJECT_LEN, &back, &err), -1, "unwrap with another KEK fails");
	is_kind(err, PGARK_ERR_KEY, "... as KEY");
	like(err.msg, "wrong master key", "... saying 'wrong master key'");
	no_key_in(err.msg, kek_bin, "wrong KEK");
	no_key_in(err.msg, other_kek, "wrong KEK (the other)");

	/* every byte of the wrapped object matters */
	all = 1;
	kinds_ok = 1;
	for (size_t i = 0; i < DEK_OBJECT_LEN; i++)
		for (int m = 0; m < 2; m++)
		{
			memcpy(bad, wrapped, DEK_OBJECT_LEN);
			bad[i] ^= m ? 0x80 : 0x01;
			err_clear(&err);
			if (dek_unwrap(kek_bin, bad, DEK_OBJECT_LEN, &back, &err) == 0)
			{
				if (all)
					diag("flip at byte %zu not detected", i);
				all = 0;
			}
			else if (err.kind != PGARK_ERR_CORRUPT && err.kind != PGARK_ERR_KEY)
				kinds_ok = 0;
		}
	ok(all, "each of the %d single-byte flips of a wrapped DEK fails to unwrap", 2 * DEK_OBJECT_LEN);
	ok(kinds_ok, "... as CORRUPT or KEY");
	is_int(dek_unwrap(kek_bin, wrapped, DEK_OBJECT_LEN - 1, &back, &err), -1, "a truncated wrapped DEK fails");
	is_kind(err, PGARK_ERR_CORRUPT, "... as CORRUPT");
	{
		uint8_t		longer[DEK_OBJECT_LEN + 1];

		memcpy(longer, wrapped, DEK_OBJECT_LEN);
		longer[DEK_OBJECT_LEN] = 0;
		is_int(dek_unwrap(kek_bin, longer, sizeof(longer), &back, &err), -1, "a longer wrapped DEK fails");
	}
}

/* The keyring over a local store: a new DEK is found again by a fresh keyring. */
static void
test_keyring(void)
{
	pgark_config cfg;
	pgark_err	err;
	char		repo[2048], keyfile[2048], line[2 * KEK_LEN + 2];
	store	   *st;
	keyring    *kr, *kr2;
	const obj_dek *d, *d2;
	obj_dek		saved;

	snprintf(repo, sizeof(repo), "%s/repo", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/ring.key", dir);
	if (mkdir(repo, 0700) != 0)
		bail_out("mkdir: %s", strerror(errno));
	snprintf(line, sizeof(line), "%s\n", kek_hex);
	write_file(keyfile, line, strlen(line), 0600);
	config_defaults(&cfg);
	snprintf(cfg.repo_path, sizeof(cfg.repo_path), "%s", repo);
	snprintf(cfg.key_file, sizeof(cfg.key_file), "%s", keyfile);
	err_clear(&err);
	st = store_local_open(repo, &err);
	if (!ok(st != NULL, "local store for the keyring"))
		return;
	kr = keyring_open(&cfg, st, &err);
	if (!ok(kr != NULL, "keyring_open with a key file"))
	{
		diag("%s", err.msg);
		store_free(st);
		return;
	}
	is_int(strlen(keyring_kek_fingerprint(kr)), 2 * KEK_FPR_LEN, "the fingerprint is 32 hex digits");
	unlike(kek_hex, keyring_kek_fingerprint(kr), "... and not part of the key");
	d = keyring_new_dek(kr, &err);
	if (!ok(d != NULL, "keyring_new_dek"))
		diag("%s", err.msg);
	else
	{
		char		name[64], hex[2 * OBJ_DEK_ID_LEN + 1];
		store_stat	ss;

		saved = *d;
		hex_encode(d->id, OBJ_DEK_ID_LEN, hex);
		snprintf(name, sizeof(name), "keys/%s", hex);
		ok(store_head(st, name, &ss, &err) == 0 && ss.size == DEK_OBJECT_LEN,
		   "stored as %s, %d bytes", name, DEK_OBJECT_LEN);

		kr2 = keyring_open(&cfg, st, &err);
		d2 = kr2 ? keyring_lookup(kr2, saved.id, &err) : NULL;
		ok(d2 && memcmp(d2->key, saved.key, AES256_KEY_LEN) == 0, "a fresh keyring unwraps it from the store");
		keyring_free(kr2);

		/* with another master key: the DEK does not open, and the message says why */
		snprintf(line, sizeof(line), "%s\n", "00ffee00112233445566778899aabbccddeeff0102030405060708090a0b0c0d");
		write_file(keyfile, line, strlen(line), 0600);
		kr2 = keyring_open(&cfg, st, &err);
		d2 = kr2 ? keyring_get_dek(kr2, saved.id, &err) : NULL;
		ok(kr2 && d2 == NULL && err.kind == PGARK_ERR_KEY, "another master key: the DEK is refused as KEY");
		like(err.msg, "wrong master key", "... 'wrong master key'");
		like(err.msg, keyfile, "... naming the key file");
		keyring_free(kr2);

		/* an unknown DEK id */
		saved.id[0] ^= 1;
		d2 = keyring_get_dek(kr, saved.id, &err);
		ok(d2 == NULL && err.kind == PGARK_ERR_KEY && strstr(err.msg, "missing"),
		   "an unknown DEK id: KEY, 'missing from the repository'");
	}
	keyring_free(kr);

	/* the key file's mode is checked through keyring_open too */
	chmod(keyfile, 0644);
	kr = keyring_open(&cfg, st, &err);
	ok(kr == NULL && err.kind == PGARK_ERR_KEY, "keyring_open refuses a 0644 key file");
	keyring_free(kr);
	store_free(st);
}

int
main(void)
{
	unhex(kek_hex, kek_bin, KEK_LEN);
	make_tmpdir(dir, sizeof(dir), "keyring");
	test_generate();
	test_read_file();
	test_read_command();
	test_wrap();
	test_keyring();
	rm_rf(dir);
	return done_testing();
}
