#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "util.h"

#define FPR_LABEL "pgark key fingerprint v1"
#define WRAP_INFO "pgark dek wrap v1"
#define MAX_DEKS 64
#define DEK_AAD_LEN 68

struct keyring
{
	store	   *st;
	int			have_kek;
	uint8_t		kek[KEK_LEN];
	/* the master key's fingerprint, made on first use (kek_fpr): a call
	 * that needs no key, like a wal-push whose segment an earlier call
	 * stored ahead, then never initialises OpenSSL (1.4 ms of its 3.2) */
	pthread_mutex_t fpr_mu;
	int			have_fpr;
	char		fpr[2 * KEK_FPR_LEN + 1];
	char		kek_source[PATH_MAX + 32];
	int			ndeks;
	obj_dek		deks[MAX_DEKS];
	/* restore threads look keys up concurrently: the cache (entries never
	 * move once added) and its store reads under one lock */
	pthread_mutex_t mu;
};

/* 32 bytes of printable text ending in a newline: somebody's passphrase
 * written with echo, not a random key (odds for a random key: ~2^-52). */
static int
looks_like_text(const uint8_t *buf, size_t len)
{
	if (len == 0 || buf[len - 1] != '\n')
		return 0;
	for (size_t i = 0; i + 1 < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return 0;
	return 1;
}

/* A key is 32 raw bytes, or 64 hex digits with an optional newline. */
static int
parse_key(const uint8_t *buf, size_t len, uint8_t kek[KEK_LEN])
{
	if (len == KEK_LEN && looks_like_text(buf, len))
		return -1;
	if (len == KEK_LEN)
	{
		memcpy(kek, buf, KEK_LEN);
		return 0;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 2 * KEK_LEN)
	{
		char		hex[2 * KEK_LEN + 1];

		memcpy(hex, buf, 2 * KEK_LEN);
		hex[2 * KEK_LEN] = '\0';
		if (hex_decode(hex, kek, KEK_LEN) == 0)
		{
			secure_zero(hex, sizeof(hex));
			return 0;
		}
		secure_zero(hex, sizeof(hex));
	}
	return -1;
}

int
kek_read_file(const char *path, uint8_t kek[KEK_LEN], pgark_err *err)
{
	int			fd;
	struct stat sb;
	uint8_t		buf[2 * KEK_LEN + 8];
	ssize_t		n;
	int			rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);	/* a FIFO must not block */
	if (fd < 0)
	{
		if (errno == ENOENT)
			return err_set(err, PGARK_ERR_KEY, ENOENT,
						   "key file %s does not exist (make one with key-gen, or fix [crypto] key_file)", path);
		if (errno == ELOOP)
			return err_set(err, PGARK_ERR_KEY, ELOOP, "key file %s is a symbolic link; name the file itself", path);
		return err_sys(err, PGARK_ERR_KEY, "could not open key file %s", path);
	}
	if (fstat(fd, &sb) != 0)
	{
		err_sys(err, PGARK_ERR_KEY, "could not stat key file %s", path);
		goto done;
	}
	if (!S_ISREG(sb.st_mode))
	{
		err_set(err, PGARK_ERR_KEY, 0, "key file %s is not a regular file", path);
		goto done;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO))
	{
		err_set(err, PGARK_ERR_KEY, 0,
				"key file %s has mode %04o: group or others can access it; refusing to use it (chmod 600 %s)",
				path, (unsigned) (sb.st_mode & 07777), path);
		goto done;
	}
	n = read_full(fd, buf, sizeof(buf));
	if (n < 0)
	{
		err_sys(err, PGARK_ERR_KEY, "could not read key file %s", path);
		goto done;
	}
	if (parse_key(buf, (size_t) n, kek) != 0)
	{
		err_set(err, PGARK_ERR_KEY, 0,
				"key file %s does not hold a key (expected 32 random bytes as key-gen writes them, or 64 hex "
				"digits; a line of text is not a key)", path);
		goto done;
	}
	rc = 0;
done:
	secure_zero(buf, sizeof(buf));
	close(fd);
	return rc;
}

int
kek_read_command(const char *command, uint8_t kek[KEK_LEN], pgark_err *err)
{
	return kek_read_command_timeout(command, 30, kek, err);
}

int
kek_read_command_timeout(const char *command, int timeout_s, uint8_t kek[KEK_LEN], pgark_err *err)
{
	double		deadline = now_ms() + timeout_s * 1000.0;
	int			timed_out = 0;
	int			pfd[2];
	pid_t		pid;
	uint8_t		buf[256];
	size_t		used = 0;
	int			status;
	sigset_t	all, saved;
	int			rc = -1;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return err_sys(err, PGARK_ERR_KEY, "could not create a pipe for [crypto] key_command");
	/* Inside a server process (pgark_archive.so in PostgreSQL's archiver)
	 * signal handlers are installed, SIGPIPE and others are ignored and some
	 * signals are blocked. Every signal stays blocked across fork(), so that
	 * none of the server's handlers runs in the child (it would act as the
	 * archiver: set its latch, signal its pid); the child then restores
	 * default dispositions and an empty mask, which exec keeps, and the
	 * parent its own mask. */
	sigfillset(&all);
	(void) pthread_sigmask(SIG_BLOCK, &all, &saved);
	pid = fork();
	if (pid < 0)
	{
		int			e = errno;

		(void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
		close(pfd[0]);
		close(pfd[1]);
		errno = e;
		return err_sys(err, PGARK_ERR_KEY, "could not start [crypto] key_command");
	}
	if (pid == 0)
	{
		int			devnull;
		sigset_t	none;

		/* its own process group: a timeout kills whatever it started too */
		(void) setpgid(0, 0);
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				(void) signal(sig, SIG_DFL);
		sigemptyset(&none);
		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", command, (char *) NULL);
		_exit(127);
	}
	(void) setpgid(pid, pid);	/* as the child does: whichever runs first */
	(void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
	close(pfd[1]);
	for (;;)
	{
		struct pollfd pf = {pfd[0], POLLIN, 0};
		double		left = deadline - now_ms();
		ssize_t		n;
		int			pr;

		if (left <= 0 || (pr = poll(&pf, 1, (int) left)) == 0)
		{
			/* a hung vault or KMS must not freeze the archiver for ever */
			timed_out = 1;
			kill(-pid, SIGKILL);	/* the shell and what it started */
			kill(pid, SIGKILL);
			break;
		}
		if (pr < 0)
		{
			if (errno == EINTR)
				continue;
			break;
		}
		n = read(pfd[0], buf + used, sizeof(buf) - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t) n;
		if (used == sizeof(buf))
			break;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
	{
		if (errno != EINTR)
		{
			err_sys(err, PGARK_ERR_KEY, "could not wait for [crypto] key_command");
			goto done;
		}
	}
	if (timed_out)
	{
		err_set(err, PGARK_ERR_KEY, 0, "[crypto] key_command did not answer within %d s (key_command_timeout)",
				timeout_s);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
	{
		if (WIFEXITED(status))
			err_set(err, PGARK_ERR_KEY, 0, "[crypto] key_command failed (exit status %d)", WEXITSTATUS(status));
		else
			err_set(err, PGARK_ERR_KEY, 0, "[crypto] key_command was killed by signal %d", WTERMSIG(status));
		goto done;
	}
	if (parse_key(buf, used, kek) != 0)
	{
		err_set(err, PGARK_ERR_KEY, 0,
				"[crypto] key_command printed no key (expected 32 bytes, or 64 hex digits, on standard output)");
		goto done;
	}
	rc = 0;
done:
	secure_zero(buf, sizeof(buf));
	return rc;
}

int
kek_generate_file(const char *path, pgark_err *err)
{
	uint8_t		kek[KEK_LEN];
	char		dir[PATH_MAX];
	int			fd;
	int			rc = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
	{
		if (errno == EEXIST)
			return err_set(err, PGARK_ERR_EXISTS, EEXIST,
						   "%s already exists; refusing to overwrite a key (data encrypted with it would be lost)",
						   path);
		return err_sys(err, PGARK_ERR_IO, "could not create key file %s", path);
	}
	if (fchmod(fd, 0600) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not set mode 0600 on %s", path);
		goto done;
	}
	if (random_bytes(kek, sizeof(kek), err) != 0)
		goto done;
	if (write_full(fd, kek, sizeof(kek)) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write key file %s", path);
		goto done;
	}
	if (fsync(fd) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not fsync key file %s", path);
		goto done;
	}
	rc = 0;
done:
	secure_zero(kek, sizeof(kek));
	close(fd);
	if (rc != 0)
		unlink(path);
	else
	{
		path_dirname(path, dir, sizeof(dir));
		rc = fsync_dir(dir, err);
	}
	return rc;
}

static int
kek_fingerprint(const uint8_t kek[KEK_LEN], uint8_t fpr[KEK_FPR_LEN], pgark_err *err)
{
	uint8_t		mac[SHA256_LEN];

	if (hmac_sha256(kek, KEK_LEN, (const uint8_t *) FPR_LABEL, strlen(FPR_LABEL), mac, err) != 0)
		return -1;
	memcpy(fpr, mac, KEK_FPR_LEN);
	return 0;
}

static int
wrap_key(const uint8_t kek[KEK_LEN], uint8_t wk[AES256_KEY_LEN], pgark_err *err)
{
	return hkdf_sha256(NULL, 0, kek, KEK_LEN, (const uint8_t *) WRAP_INFO, strlen(WRAP_INFO),
					   wk, AES256_KEY_LEN, err);
}

int
dek_wrap(const uint8_t kek[KEK_LEN], const obj_dek *dek, int64_t created,
		 uint8_t out[DEK_OBJECT_LEN], pgark_err *err)
{
	uint8_t		wk[AES256_KEY_LEN];
	gcm_ctx    *g = NULL;
	int			rc = -1;

	memset(out, 0, DEK_OBJECT_LEN);
	memcpy(out, DEK_MAGIC, 8);
	put_be16(out + 8, 1);
	put_be64(out + 16, (uint64_t) created);
	memcpy(out + 24, dek->id, OBJ_DEK_ID_LEN);
	if (kek_fingerprint(kek, out + 40, err) != 0 ||
		random_bytes(out + 56, GCM_NONCE_LEN, err) != 0 ||
		wrap_key(kek, wk, err) != 0 ||
		(g = gcm_new(wk, err)) == NULL)
		goto done;
	if (gcm_seal(g, out + 56, out, DEK_AAD_LEN, dek->key, AES256_KEY_LEN, out + 68, out + 100, err) != 0)
		goto done;
	rc = 0;
done:
	gcm_free(g);
	secure_zero(wk, sizeof(wk));
	return rc;
}

int
dek_unwrap(const uint8_t kek[KEK_LEN], const uint8_t *buf, size_t len, obj_dek *dek, pgark_err *err)
{
	uint8_t		wk[AES256_KEY_LEN];
	uint8_t		fpr[KEK_FPR_LEN];
	gcm_ctx    *g = NULL;
	int			rc = -1;

	if (len != DEK_OBJECT_LEN || memcmp(buf, DEK_MAGIC, 8) != 0)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "not a pgark data key object");
	if (get_be16(buf + 8) != 1)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "unsupported data key format version %u", get_be16(buf + 8));
	if (kek_fingerprint(kek, fpr, err) != 0)
		return -1;
	if (memcmp(fpr, buf + 40, KEK_FPR_LEN) != 0)
	{
		char		want[2 * KEK_FPR_LEN + 1], have[2 * KEK_FPR_LEN + 1];

		hex_encode(buf + 40, KEK_FPR_LEN, want);
		hex_encode(fpr, KEK_FPR_LEN, have);
		return err_set(err, PGARK_ERR_KEY, 0,
					   "wrong master key: this data key is wrapped by the master key with fingerprint %s, "
					   "the configured one has fingerprint %s", want, have);
	}
	if (wrap_key(kek, wk, err) != 0 || (g = gcm_new(wk, err)) == NULL)
		goto done;
	memcpy(dek->id, buf + 24, OBJ_DEK_ID_LEN);
	if (gcm_open(g, buf + 56, buf, DEK_AAD_LEN, buf + 68, AES256_KEY_LEN, dek->key, buf + 100, err) != 0)
	{
		secure_zero(dek->key, sizeof(dek->key));
		err_set(err, PGARK_ERR_KEY, 0, "data key does not unwrap with the configured master key (damaged key object?)");
		goto done;
	}
	rc = 0;
done:
	gcm_free(g);
	secure_zero(wk, sizeof(wk));
	return rc;
}

keyring *
keyring_open(const pgark_config *cfg, store *st, pgark_err *err)
{
	keyring    *kr = calloc(1, sizeof(*kr));

	if (kr == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	kr->st = st;
	pthread_mutex_init(&kr->mu, NULL);
	pthread_mutex_init(&kr->fpr_mu, NULL);
	if (config_cipher_is_none(cfg))
		return kr;
	if (cfg->key_command[0])
	{
		snprintf(kr->kek_source, sizeof(kr->kek_source), "[crypto] key_command");
		if (kek_read_command_timeout(cfg->key_command, cfg->key_command_timeout, kr->kek, err) != 0)
			goto fail;
	}
	else
	{
		snprintf(kr->kek_source, sizeof(kr->kek_source), "%s", cfg->key_file);
		if (kek_read_file(cfg->key_file, kr->kek, err) != 0)
			goto fail;
	}
	kr->have_kek = 1;
	return kr;
fail:
	keyring_free(kr);
	return NULL;
}

void
keyring_free(keyring *kr)
{
	if (kr == NULL)
		return;
	pthread_mutex_destroy(&kr->mu);
	pthread_mutex_destroy(&kr->fpr_mu);
	secure_zero(kr, sizeof(*kr));
	free(kr);
}

/* The master key's fingerprint (hex), made on first use; NULL with err if
 * that fails. Only with a master key. */
static const char *
kek_fpr(keyring *kr, pgark_err *err)
{
	const char *res = kr->fpr;

	pthread_mutex_lock(&kr->fpr_mu);
	if (!kr->have_fpr)
	{
		if (kek_fingerprint_hex(kr->kek, kr->fpr, err) == 0)
			kr->have_fpr = 1;
		else
			res = NULL;
	}
	pthread_mutex_unlock(&kr->fpr_mu);
	return res;
}

const char *
keyring_kek_fingerprint(keyring *kr)
{
	pgark_err	e;
	const char *f;

	if (!kr->have_kek)
		return "";
	f = kek_fpr(kr, &e);
	return f ? f : "(fingerprint unavailable)";
}

static void
dek_object_name(const uint8_t id[OBJ_DEK_ID_LEN], char *out, size_t outlen)
{
	char		hex[2 * OBJ_DEK_ID_LEN + 1];

	hex_encode(id, OBJ_DEK_ID_LEN, hex);
	snprintf(out, outlen, "keys/%s", hex);
}

const obj_dek *
keyring_new_dek(keyring *kr, pgark_err *err)
{
	obj_dek		dek;
	uint8_t		obj[DEK_OBJECT_LEN];
	char		name[64];
	const obj_dek *res = NULL;

	if (!kr->have_kek)
	{
		err_set(err, PGARK_ERR_KEY, 0, "no master key configured");
		return NULL;
	}
	if (kr->ndeks >= MAX_DEKS)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "too many data keys in one process");
		return NULL;
	}
	if (random_bytes(dek.id, sizeof(dek.id), err) != 0 ||
		random_bytes(dek.key, sizeof(dek.key), err) != 0 ||
		dek_wrap(kr->kek, &dek, (int64_t) time(NULL), obj, err) != 0)
		goto done;
	dek_object_name(dek.id, name, sizeof(name));
	if (store_put_buf(kr->st, name, obj, sizeof(obj), STORE_NO_OVERWRITE, err) != 0)
		goto done;
	kr->deks[kr->ndeks] = dek;
	res = &kr->deks[kr->ndeks++];
done:
	secure_zero(&dek, sizeof(dek));
	return res;
}

static const obj_dek *get_dek_locked(keyring *kr, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err);
static int	open_dek_object(keyring *kr, const char *name, const uint8_t *buf, size_t len, int direct,
							obj_dek *dek, pgark_err *err);

const obj_dek *
keyring_get_dek(keyring *kr, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err)
{
	const obj_dek *d;

	pthread_mutex_lock(&kr->mu);
	d = get_dek_locked(kr, id, err);
	pthread_mutex_unlock(&kr->mu);
	return d;
}

static const obj_dek *
get_dek_locked(keyring *kr, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err)
{
	char		name[64];
	uint8_t    *buf = NULL;
	size_t		len;
	obj_dek		dek;
	const obj_dek *res = NULL;

	for (int i = 0; i < kr->ndeks; i++)
		if (memcmp(kr->deks[i].id, id, OBJ_DEK_ID_LEN) == 0)
			return &kr->deks[i];
	dek_object_name(id, name, sizeof(name));
	if (!kr->have_kek)
	{
		err_set(err, PGARK_ERR_KEY, 0, "object is encrypted with data key %s but no master key is configured", name + 5);
		return NULL;
	}
	if (kr->ndeks >= MAX_DEKS)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "too many data keys in one process");
		return NULL;
	}
	if (store_get_buf(kr->st, name, DEK_OBJECT_LEN, &buf, &len, err) != 0)
	{
		if (err && err->kind == PGARK_ERR_NOTFOUND)
			err_set(err, PGARK_ERR_KEY, ENOENT, "data key %s is missing from the repository", name);
		return NULL;
	}
	if (open_dek_object(kr, name, buf, len, 0, &dek, err) != 0)
	{
		err_prefix(err, "data key %s (master key from %s)", name, kr->kek_source);
		goto done;
	}
	if (memcmp(dek.id, id, OBJ_DEK_ID_LEN) != 0)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "data key object %s holds another key id", name);
		goto done;
	}
	kr->deks[kr->ndeks] = dek;
	res = &kr->deks[kr->ndeks++];
done:
	secure_zero(&dek, sizeof(dek));
	free(buf);
	return res;
}

const obj_dek *
keyring_lookup(void *arg, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err)
{
	return keyring_get_dek((keyring *) arg, id, err);
}

int
kek_fingerprint_hex(const uint8_t kek[KEK_LEN], char out[2 * KEK_FPR_LEN + 1], pgark_err *err)
{
	uint8_t		fpr[KEK_FPR_LEN];

	if (kek_fingerprint(kek, fpr, err) != 0)
		return -1;
	hex_encode(fpr, KEK_FPR_LEN, out);
	return 0;
}

typedef struct name_list
{
	char	  **names;
	size_t		n, cap;
	const char *suffix;			/* NULL: data key objects; else names ending with it */
} name_list;

/* keys/<32 hex> (or keys/<32 hex><suffix>) */
static int
collect_keys(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	name_list  *l = arg;
	const char *b = name + 5;
	size_t		tail = l->suffix ? strlen(l->suffix) : 0;

	(void) st;
	if (strncmp(name, "keys/", 5) != 0 || strlen(b) != 2 * OBJ_DEK_ID_LEN + tail ||
		strspn(b, "0123456789abcdef") != 2 * OBJ_DEK_ID_LEN ||
		(tail && strcmp(b + 2 * OBJ_DEK_ID_LEN, l->suffix) != 0))
		return 0;
	if (l->n == l->cap)
	{
		size_t		cap = l->cap ? l->cap * 2 : 16;
		char	  **q = realloc(l->names, cap * sizeof(*q));

		if (q == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		l->names = q;
		l->cap = cap;
	}
	if ((l->names[l->n] = strdup(name)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	l->n++;
	return 0;
}

static void
name_list_free(name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
}

/*
 * Open keys/<id> as the configured master key sees it: the object itself,
 * or (after a rotation away from this key, not yet retired) its copy
 * keys/<id>.kek-<our fingerprint>. direct: only the object itself.
 */
static int
open_dek_object(keyring *kr, const char *name, const uint8_t *buf, size_t len, int direct, obj_dek *dek,
				pgark_err *err)
{
	pgark_err	e1, e2;
	char		copy[128];
	uint8_t    *cbuf = NULL;
	size_t		clen;
	int			rc;

	err_clear(&e1);
	if (dek_unwrap(kr->kek, buf, len, dek, &e1) == 0)
		return 0;
	if (direct || e1.kind != PGARK_ERR_KEY)
	{
		*err = e1;
		return -1;
	}
	{
		const char *f = kek_fpr(kr, err);

		if (f == NULL)
			return -1;
		snprintf(copy, sizeof(copy), "%s.kek-%s", name, f);
	}
	err_clear(&e2);
	if (store_get_buf(kr->st, copy, DEK_OBJECT_LEN, &cbuf, &clen, &e2) != 0)
	{
		/* no copy: the key is simply not ours; a store that failed is that */
		*err = e2.kind == PGARK_ERR_NOTFOUND ? e1 : e2;
		return -1;
	}
	rc = dek_unwrap(kr->kek, cbuf, clen, dek, err);
	free(cbuf);
	return rc;
}

/* One pass over keys/: *todo counts the keys re-wrapped in it. */
static int
rotate_pass(keyring *kr, const uint8_t new_kek[KEK_LEN], const char *newfpr, int *todo, int *skipped,
			pgark_err *err)
{
	name_list	l = {NULL, 0, 0, NULL};
	int			rc = -1;

	*todo = *skipped = 0;
	if (store_list(kr->st, "keys/", collect_keys, &l, err) != 0)
		return err_prefix(err, "listing the data keys");
	for (size_t i = 0; i < l.n; i++)
	{
		uint8_t    *buf = NULL, wrapped[DEK_OBJECT_LEN];
		size_t		len;
		obj_dek		dek;
		char		fpr[2 * KEK_FPR_LEN + 1], copy[128];
		int			ok;

		if (store_get_buf(kr->st, l.names[i], DEK_OBJECT_LEN, &buf, &len, err) != 0)
			goto done;
		if (len != DEK_OBJECT_LEN)
		{
			free(buf);
			err_set(err, PGARK_ERR_CORRUPT, 0, "data key %s: %zu bytes, not %d", l.names[i], len, DEK_OBJECT_LEN);
			goto done;
		}
		hex_encode(buf + 40, KEK_FPR_LEN, fpr);
		if (strcmp(fpr, newfpr) == 0)
		{
			/* re-wrapped already: it must open */
			ok = dek_unwrap(new_kek, buf, len, &dek, err) == 0;
			secure_zero(&dek, sizeof(dek));
			free(buf);
			if (!ok)
			{
				err_prefix(err, "data key %s", l.names[i]);
				goto done;
			}
			(*skipped)++;
			continue;
		}
		/* ours, or (rotated away from ours to another key since) our copy */
		if (open_dek_object(kr, l.names[i], buf, len, 0, &dek, err) != 0)
		{
			free(buf);
			err_prefix(err, "data key %s: the configured master key does not open it, so it cannot be rotated",
					   l.names[i]);
			goto done;
		}
		ok = dek_wrap(new_kek, &dek, (int64_t) get_be64(buf + 16), wrapped, err) == 0;
		secure_zero(&dek, sizeof(dek));
		snprintf(copy, sizeof(copy), "%s.kek-%s", l.names[i], fpr);
		/* the object as it is, kept first (no overwrite: one left by an
		 * interrupted run is the same key wrapped the same way), then the
		 * object itself replaced */
		if (ok && store_put_buf(kr->st, copy, buf, len, STORE_NO_OVERWRITE, err) != 0)
		{
			if (err->kind == PGARK_ERR_EXISTS)
				err_clear(err);
			else
				ok = 0;
		}
		free(buf);
		if (!ok || store_put_buf(kr->st, l.names[i], wrapped, sizeof(wrapped), 0, err) != 0)
		{
			err_prefix(err, "re-wrapping data key %s", l.names[i]);
			goto done;
		}
		(*todo)++;
	}
	rc = 0;
done:
	name_list_free(&l);
	return rc;
}

int
keyring_rotate(keyring *kr, const uint8_t new_kek[KEK_LEN], int *done, int *skipped, pgark_err *err)
{
	char		newfpr[2 * KEK_FPR_LEN + 1];
	const char *cur;

	*done = *skipped = 0;
	if (!kr->have_kek)
		return err_set(err, PGARK_ERR_KEY, 0, "no master key configured: nothing to rotate");
	if (kek_fingerprint_hex(new_kek, newfpr, err) != 0 || (cur = kek_fpr(kr, err)) == NULL)
		return -1;
	if (strcmp(newfpr, cur) == 0)
		return err_set(err, PGARK_ERR_USAGE, 0, "the new master key is the configured one (fingerprint %s)", newfpr);
	/* passes until one finds every key re-wrapped: a data key made by
	 * another process during a pass is caught by the next */
	for (int pass = 0; pass < 10; pass++)
	{
		int			n, already;

		if (rotate_pass(kr, new_kek, newfpr, &n, &already, err) != 0)
			return -1;
		*done += n;
		*skipped = already;
		if (n == 0)
			return 0;
	}
	return err_set(err, PGARK_ERR_TRANSIENT, 0,
				   "data keys keep appearing under another master key: is another key-rotate running?");
}

int
keyring_retire(keyring *kr, const char *fpr, int *removed, pgark_err *err)
{
	char		suffix[64];
	name_list	copies = {NULL, 0, 0, NULL}, keys = {NULL, 0, 0, NULL};
	int			rc = -1;

	*removed = 0;
	if (strlen(fpr) != 2 * KEK_FPR_LEN || strspn(fpr, "0123456789abcdef") != 2 * KEK_FPR_LEN)
		return err_set(err, PGARK_ERR_USAGE, 0, "\"%s\" is not a master key fingerprint (32 lowercase hex digits)", fpr);
	if (kr->have_kek)
	{
		const char *cur = kek_fpr(kr, err);

		if (cur == NULL)
			return -1;
		if (strcmp(fpr, cur) == 0)
			return err_set(err, PGARK_ERR_USAGE, 0, "%s is the configured master key: rotate away from it first", fpr);
	}
	snprintf(suffix, sizeof(suffix), ".kek-%s", fpr);
	copies.suffix = suffix;
	if (store_list(kr->st, "keys/", collect_keys, &keys, err) != 0 ||
		store_list(kr->st, "keys/", collect_keys, &copies, err) != 0)
	{
		err_prefix(err, "listing the data keys");
		goto done;
	}
	/* never the last way to open a key */
	for (size_t i = 0; i < keys.n; i++)
	{
		uint8_t    *buf = NULL;
		size_t		len;
		char		kf[2 * KEK_FPR_LEN + 1];

		if (store_get_buf(kr->st, keys.names[i], DEK_OBJECT_LEN, &buf, &len, err) != 0)
			goto done;
		obj_dek		dek;
		int			opens;

		hex_encode(buf + 40, KEK_FPR_LEN, kf);
		opens = kr->have_kek && open_dek_object(kr, keys.names[i], buf, len, 1, &dek, err) == 0;
		secure_zero(&dek, sizeof(dek));
		free(buf);
		if (len != DEK_OBJECT_LEN || strcmp(kf, fpr) == 0 || !opens)
		{
			err_set(err, PGARK_ERR_KEY, 0,
					"data key %s is wrapped by %s, not by the configured master key: run key-rotate --new-key "
					"with the configured key first (or again: it was interrupted); nothing was removed",
					keys.names[i], kf);
			goto done;
		}
	}
	for (size_t i = 0; i < copies.n; i++)
	{
		if (store_remove(kr->st, copies.names[i], err) != 0 && err->kind != PGARK_ERR_NOTFOUND)
			goto done;
		err_clear(err);
		(*removed)++;
	}
	rc = 0;
done:
	name_list_free(&copies);
	name_list_free(&keys);
	return rc;
}

int
keyring_check_current(keyring *kr, const uint8_t id[OBJ_DEK_ID_LEN], int *count, pgark_err *err)
{
	name_list	l = {NULL, 0, 0, NULL};
	char		name[64];
	uint8_t    *buf = NULL;
	size_t		len;
	obj_dek		dek;
	int			rc;

	if (!kr->have_kek)
		return err_set(err, PGARK_ERR_KEY, 0, "no master key configured");
	if (store_list(kr->st, "keys/", collect_keys, &l, err) != 0)
		return err_prefix(err, "listing the data keys");
	*count = (int) l.n;
	name_list_free(&l);
	dek_object_name(id, name, sizeof(name));
	if (store_get_buf(kr->st, name, DEK_OBJECT_LEN, &buf, &len, err) != 0)
		return err_prefix(err, "reading the current data key");
	rc = open_dek_object(kr, name, buf, len, 1, &dek, err);
	secure_zero(&dek, sizeof(dek));
	free(buf);
	if (rc != 0)
		return err_prefix(err, "the current data key %s is not wrapped by the configured master key "
						  "(was the repository rotated to another key? configure that one)", name);
	return 0;
}

/* keyring_kek_since: the data key objects with their times */
typedef struct key_times
{
	char		(*names)[64];
	int64_t    *mtimes;
	size_t		n, cap;
} key_times;

static int
collect_key_times(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	key_times  *kt = arg;
	const char *b = name + 5;

	if (strncmp(name, "keys/", 5) != 0 || strlen(b) != 2 * OBJ_DEK_ID_LEN ||
		strspn(b, "0123456789abcdef") != 2 * OBJ_DEK_ID_LEN)
		return 0;
	if (kt->n == kt->cap)
	{
		size_t		cap = kt->cap ? kt->cap * 2 : 8;
		char		(*nn)[64] = realloc(kt->names, cap * sizeof(*nn));
		int64_t    *mm;

		if (nn == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		kt->names = nn;
		if ((mm = realloc(kt->mtimes, cap * sizeof(*mm))) == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		kt->mtimes = mm;
		kt->cap = cap;
	}
	snprintf(kt->names[kt->n], sizeof(kt->names[kt->n]), "%s", name);
	kt->mtimes[kt->n] = st ? st->mtime : 0;
	kt->n++;
	return 0;
}

int
keyring_kek_since(keyring *kr, int64_t *since, pgark_err *err)
{
	key_times	kt = {NULL, NULL, 0, 0};
	const char *cur;
	int			rc = -1;

	*since = -1;
	if (!kr->have_kek)
		return err_set(err, PGARK_ERR_KEY, 0, "no master key configured");
	if ((cur = kek_fpr(kr, err)) == NULL)
		return -1;
	if (store_list(kr->st, "keys/", collect_key_times, &kt, err) != 0)
	{
		err_prefix(err, "listing the data keys");
		goto done;
	}
	for (size_t i = 0; i < kt.n; i++)
	{
		uint8_t    *buf = NULL;
		size_t		len;
		char		fpr[2 * KEK_FPR_LEN + 1];

		if (store_get_buf(kr->st, kt.names[i], DEK_OBJECT_LEN, &buf, &len, err) != 0)
		{
			err_prefix(err, "reading data key %s", kt.names[i]);
			goto done;
		}
		fpr[0] = '\0';
		if (len == DEK_OBJECT_LEN)
			hex_encode(buf + 40, KEK_FPR_LEN, fpr);
		free(buf);
		if (strcmp(fpr, cur) == 0 && (*since < 0 || kt.mtimes[i] < *since))
			*since = kt.mtimes[i];
	}
	if (*since < 0)
	{
		err_set(err, PGARK_ERR_KEY, 0, "no data key is wrapped by the configured master key (%s)", cur);
		goto done;
	}
	rc = 0;
done:
	free(kt.names);
	free(kt.mtimes);
	return rc;
}
