# pgark — see README.md.  `make`, `make check`, `make demo`, `make install PREFIX=…`
VERSION   = 0.1.0
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
DATADIR  ?= $(PREFIX)/share/pgark
CC       ?= cc

PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
WARN      = -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
            -Wshadow -Wvla -Wwrite-strings
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARN) -pthread
CPPFLAGS += -D_GNU_SOURCE -DPGARK_VERSION='"$(VERSION)"' -Ilib -Icommon $(PQ_CFLAGS)
LDLIBS   += -lpq -lexpat -lcrypto -llz4 -linih -pthread

ifeq ($(WERROR),1)
CFLAGS   += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:.c=.o)
COMMON_OBJ = common/prog.o
PROGRAMS = archive/wal-push restore/wal-fetch keys/key-gen keys/key-rotate repo/repo-init repo/repo-list repo/repo-verify repo/repo-check repo/repo-pin repo/repo-expire basebackup/base-push restore/pitr-prepare dump/dump-push dump/dump-fetch restore/table-restore
BINS     = $(addprefix bin/,$(notdir $(PROGRAMS))) bin/repo-unpin
UNIT_SRC = $(wildcard t/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:.c=)

.PHONY: all check unit demo install clean cppcheck deps-build deps-check deps-demo
all: $(BINS)

# rebuild everything when the flags change (SANITIZE=1 and back)
BUILD_FLAGS := $(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)
.build-flags: FORCE
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@
FORCE:

%.o: %.c $(wildcard lib/*.h common/*.h) .build-flags
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

lib/libpgark.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

bin/%: $(COMMON_OBJ) lib/libpgark.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) lib/libpgark.a $(LDLIBS)

bin/wal-push: archive/wal-push.o
bin/wal-fetch: restore/wal-fetch.o
bin/key-gen: keys/key-gen.o
bin/key-rotate: keys/key-rotate.o
bin/repo-init: repo/repo-init.o
bin/repo-list: repo/repo-list.o
bin/repo-verify: repo/repo-verify.o
bin/repo-check: repo/repo-check.o
bin/repo-expire: repo/repo-expire.o
bin/repo-pin: repo/repo-pin.o
bin/repo-unpin: repo/repo-pin.o
bin/base-push: basebackup/base-push.o
bin/pitr-prepare: restore/pitr-prepare.o
bin/dump-push: dump/dump-push.o
bin/dump-fetch: dump/dump-fetch.o
bin/table-restore: restore/table-restore.o

t/unit/test_%: t/unit/test_%.o t/unit/tap.o lib/libpgark.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< t/unit/tap.o lib/libpgark.a $(LDLIBS)

t/unit/%.o: CPPFLAGS += -It/unit
# the tests' own headers; and keep their objects (as intermediates make would
# delete them and rebuild every test on each run)
$(UNIT_BIN:=.o) t/unit/tap.o t/unit/make_golden.o: $(wildcard t/unit/*.h)
.SECONDARY: $(UNIT_BIN:=.o) t/unit/tap.o

# t/tools/store-tool: the repository's objects by name through lib/store.h, for
# the cluster tests' accessors (t/lib/PgarkTest.pm) on every backend
t/tools/store-tool: t/tools/store-tool.o lib/libpgark.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libpgark.a $(LDLIBS)

unit: $(UNIT_BIN) t/tools/store-tool

# The golden files of the object format (t/golden/README.md) were written once
# by this and are committed; it is not part of `make check` and never replaces
# a file that exists.
t/unit/make_golden: t/unit/make_golden.o lib/libpgark.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libpgark.a $(LDLIBS)

.PHONY: golden
golden: t/unit/make_golden
	t/unit/make_golden t/golden

# pgark_archive.so: wal-push inside PostgreSQL's archiver (archive_library,
# archive/pgark_archive.c). Built by `make all` when pg_config and the server
# headers are there (Debian: postgresql-server-dev-15), else skipped with a
# note; `make install` puts it into pg_config --pkglibdir (or PKGLIBDIR).
# The library is built a second time position-independent (lib/pic/), without
# the sanitizers (their runtime cannot be loaded into the server), and only
# the module's entry points are exported (archive/pgark_archive.map), so that
# none of our names (hex_encode, ...) binds to the server's own.
PG_CONFIG ?= pg_config
PG_INCLUDEDIR_SERVER := $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)
PKGLIBDIR ?= $(shell $(PG_CONFIG) --pkglibdir 2>/dev/null)
HAVE_PGSERVER := $(if $(PG_INCLUDEDIR_SERVER),$(wildcard $(PG_INCLUDEDIR_SERVER)/postgres.h))
ARCHIVE_SO  = bin/pgark_archive.so
LIB_PIC_OBJ = $(patsubst lib/%.c,lib/pic/%.o,$(LIB_SRC))
SO_CFLAGS   = $(filter-out -fsanitize=% -fno-sanitize-recover=% -fno-omit-frame-pointer,$(CFLAGS)) \
              -fPIC -fvisibility=hidden
SO_LDFLAGS  = $(filter-out -fsanitize=%,$(LDFLAGS))
SO_LDLIBS   = -lexpat -lcrypto -llz4 -linih -pthread

ifneq ($(HAVE_PGSERVER),)
all: $(ARCHIVE_SO)
else
all: archive-so-skipped
endif
.PHONY: archive-so-skipped
archive-so-skipped:
	@echo "note: $(ARCHIVE_SO) not built: no pg_config with server headers (postgres.h; Debian: postgresql-server-dev-15)"

lib/pic/%.o: lib/%.c $(wildcard lib/*.h) .build-flags
	@mkdir -p lib/pic
	$(CC) $(CPPFLAGS) $(SO_CFLAGS) -c -o $@ $<

lib/libpgark_pic.a: $(LIB_PIC_OBJ)
	rm -f $@
	ar rcs $@ $^

# the server's headers as system headers: our warnings stay on for our code;
# and without libpq's include directory, whose pg_config.h (PG_VERSION_NUM,
# hence the module's magic block) may be another major version's
archive/pgark_archive.pic.o: archive/pgark_archive.c $(wildcard lib/*.h) .build-flags
	$(CC) $(filter-out $(PQ_CFLAGS),$(CPPFLAGS)) -isystem $(PG_INCLUDEDIR_SERVER) $(SO_CFLAGS) -fvisibility=default \
	  -fno-strict-aliasing -fwrapv -c -o $@ $<

$(ARCHIVE_SO): archive/pgark_archive.pic.o lib/libpgark_pic.a archive/pgark_archive.map
	@mkdir -p bin
	$(CC) $(SO_CFLAGS) $(SO_LDFLAGS) -shared -Wl,--version-script=archive/pgark_archive.map -Wl,--as-needed \
	  -o $@ archive/pgark_archive.pic.o lib/libpgark_pic.a $(SO_LDLIBS)

# libFuzzer targets for the parsers of untrusted input (t/fuzz/README.md); not in check
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
.PHONY: fuzz fuzz-run
fuzz: t/fuzz/fuzz_s3xml
t/fuzz/fuzz_s3xml: t/fuzz/fuzz_s3xml.c lib/s3xml.c lib/err.c lib/s3xml.h lib/err.h
	$(FUZZ_CC) -g -O1 -std=c11 $(WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Ilib -o $@ t/fuzz/fuzz_s3xml.c lib/s3xml.c lib/err.c -lexpat
fuzz-run: fuzz
	mkdir -p tmp_check/fuzz-s3xml
	t/fuzz/fuzz_s3xml -max_total_time=$(FUZZ_TIME) -dict=t/fuzz/s3xml.dict tmp_check/fuzz-s3xml t/fuzz/corpus/s3xml

deps-build deps-check deps-demo:
	@sh mk/deps.sh $(@:deps-%=%)

# All tests, one prove run: C unit tests (t/unit/test_*) and cluster tests (t/*.pl).
check: deps-check
	$(MAKE) all unit
	sh t/run-tests

demo: deps-demo
	$(MAKE) all
	sh contrib/demo.sh

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(DATADIR)/cron $(DESTDIR)$(DATADIR)/systemd $(DESTDIR)$(DATADIR)/logrotate \
	  $(DESTDIR)$(DATADIR)/scripts $(DESTDIR)$(DATADIR)/conf
	install -m 0644 contrib/cron/pgark $(DESTDIR)$(DATADIR)/cron/
	install -m 0644 contrib/systemd/*.service contrib/systemd/*.timer $(DESTDIR)$(DATADIR)/systemd/
	install -m 0644 contrib/logrotate/pgark $(DESTDIR)$(DATADIR)/logrotate/
	install -m 0755 contrib/scripts/pgark-pin-monthly $(DESTDIR)$(DATADIR)/scripts/
	install -m 0644 conf/pgark.conf conf/pgark-s3.conf $(DESTDIR)$(DATADIR)/conf/
ifneq ($(HAVE_PGSERVER),)
	install -d $(DESTDIR)$(PKGLIBDIR)
	install -m 0755 $(ARCHIVE_SO) $(DESTDIR)$(PKGLIBDIR)/
endif

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --std=c11 -D_GNU_SOURCE --inline-suppr --suppress=missingIncludeSystem \
	  -Ilib -Icommon lib common archive restore keys repo basebackup dump

clean:
	rm -rf bin lib/*.o lib/*.a lib/pic common/*.o archive/*.o restore/*.o keys/*.o repo/*.o basebackup/*.o dump/*.o \
	  t/unit/*.o $(UNIT_BIN) t/unit/make_golden t/fuzz/fuzz_s3xml t/tools/store-tool t/tools/*.o tmp_check .build-flags
