
# 026_dumps.pl — logical dumps (dump-push, dump-fetch) on a real cluster:
# a round trip of databases (several schemas, a role with a password, a
# large object, a sequence, a view; one database with a name that needs
# encoding) gives identical pg_dump output and the same password hash
# through the globals; pg_restore -t of one table from a fetched stream; a
# schema-only dump restores the structure without the data; the
# repository never holds the data's plaintext; a pg_dump that fails or is
# killed leaves nothing under dumps/; a damaged dump fails dump-fetch and
# repo-verify naming the object; repo-list shows the dumps; repo-expire
# with dumps_keep_last removes the older ones and without it none; the
# conninfo's password never in pg_dump's argv; a dump larger than the S3
# multipart threshold round-trips, and one killed after several parts
# leaves nothing.
use strict;
use warnings;

use File::Path qw(make_path);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $CANARY = 'PLAINTEXT-CANARY-d9f1c27e';
my $ODD_DB = "my db/\xc3\xa9t\xc3\xa9.x";    # UTF-8 bytes: a space, a '/', non-ASCII, a '.'

my ($node, $env) = backup_cluster('src');
my $bindir = $node->config_data('--bindir');
my $conf = $env->{conf};
$node->start;

$node->safe_psql('postgres', q{CREATE ROLE alice LOGIN PASSWORD 'alice-secret-pw'});
$node->safe_psql('postgres', q{CREATE DATABASE shop OWNER alice});
$node->safe_psql('postgres', qq{CREATE DATABASE "$ODD_DB"});
$node->safe_psql('shop', qq{
CREATE SCHEMA s1 AUTHORIZATION alice;
CREATE SCHEMA s2;
CREATE TABLE s1.items (id int PRIMARY KEY, name text, price numeric);
INSERT INTO s1.items SELECT g, '$CANARY-' || g, g * 1.5 FROM generate_series(1, 5000) g;
CREATE TABLE s2.other (k text);
INSERT INTO s2.other VALUES ('a'), ('b');
CREATE SEQUENCE s2.seq START 100;
SELECT setval('s2.seq', 4242);
CREATE VIEW s2.v AS SELECT i.id, i.name FROM s1.items i WHERE i.id < 10;
SELECT lo_from_bytea(424242, convert_to('large object $CANARY', 'UTF8'));
ALTER TABLE s1.items OWNER TO alice;
});

sub push_dump
{
	my (@args) = @_;
	my $r = run_pgark('dump-push', '--config', $conf, '--json', @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	return $r;
}

sub fetch_dump
{
	my (@args) = @_;
	return run_pgark('dump-fetch', '--config', $conf, @args);
}

sub dump_objects { return repo_list_all($env, 'dumps/'); }

# $dir/$prog: a shell script standing in for pg_dump or pg_dumpall
sub wrapper
{
	my ($dir, $prog, $body) = @_;
	make_path($dir);
	open my $fh, '>', "$dir/$prog" or die "$dir/$prog: $!";
	print $fh "#!/bin/sh\n$body";
	close $fh or die "$dir/$prog: $!";
	chmod 0755, "$dir/$prog" or die "chmod $dir/$prog: $!";
	return $dir;
}

# one that runs the real program, cuts its output after $bytes and is killed
sub killed_after
{
	my ($dir, $prog, $bytes) = @_;
	return wrapper($dir, $prog, qq{if [ "\$1" = --version ]; then exec "$bindir/$prog" "\$@"; fi
"$bindir/$prog" "\$@" | head -c $bytes
kill -9 \$\$
});
}


# usage errors
is(run_pgark('dump-push', '--config', $conf)->{rc}, 2, 'dump-push without --db/--all/--globals: usage');
is(run_pgark('dump-push', '--config', $conf, '--db', 'x', '--all')->{rc}, 2, '--db with --all: usage');
is(run_pgark('dump-fetch', '--config', $conf)->{rc}, 2, 'dump-fetch naming no dump: usage');

# ---- dump-push --all ----
my $r = push_dump('--all');
is($r->{rc}, 0, 'dump-push --all') or diag(show($r));
my $id1 = $r->{json}{dump_id};
like($id1 // '', qr/^\d{8}T\d{6}Z-[0-9a-f]{4}$/, 'a dump id');
my %kinds = map { ($_->{database} // '(globals)') => $_->{kind} } @{ $r->{json}{dumps} // [] };
my $odd_json = $ODD_DB;
utf8::decode($odd_json);
is_deeply([ sort keys %kinds ], [ sort('(globals)', 'postgres', 'shop', 'template1', $odd_json) ],
	'every database that accepts connections but template0, and the globals');
my @objs = dump_objects();
ok((grep { $_ eq "dumps/shop/$id1/meta" } @objs) && (grep { $_ eq "dumps/shop/$id1/data" } @objs),
	'dumps/shop/<id>/data and meta') or diag(join("\n", @objs));
ok((grep { $_ eq "dumps/pg.globals/$id1/meta" } @objs), 'the globals under dumps/pg.globals/');
ok((grep { $_ eq "dumps/my_20db_2f_c3_a9t_c3_a9_2ex/$id1/meta" } @objs), 'an odd database name encoded')
  or diag(join("\n", @objs));

# ---- nothing in plaintext ----
{
	my $snap = repo_snapshot($env);
	my @leak = grep { index($snap->{$_}, $CANARY) >= 0 || index($snap->{$_}, 'alice-secret-pw') >= 0 } keys %$snap;
	is_deeply(\@leak, [], 'no object of the repository holds the plaintext of the data');
	ok(scalar(grep { m{^dumps/} } keys %$snap) >= 10, 'the snapshot saw the dumps');
	my $audit = -f $env->{audit} ? slurp_file($env->{audit}) : '';
	unlike($audit, qr/alice-secret-pw/, 'no password in the audit log');
}

# ---- the round trip ----
my $dst = PostgreSQL::Test::Cluster->new('dst');
$dst->init;
$dst->start;
my $tmp = $env->{dir};
$r = fetch_dump('--globals', '--output', "$tmp/globals.sql");
is($r->{rc}, 0, 'dump-fetch --globals --output') or diag(show($r));
is((stat("$tmp/globals.sql"))[2] & 07777, 0600, 'the output file has mode 0600');
# the bootstrap superuser exists already: that error is expected
run_cmd("$bindir/psql", '-X', '-q', '-d', $dst->connstr('postgres'), '-f', "$tmp/globals.sql");
is($dst->safe_psql('postgres', q{SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'}),
	$node->safe_psql('postgres', q{SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'}),
	'the role and its password hash came back through the globals');

$r = fetch_dump('--db', 'shop', '--output', "$tmp/shop.dump");
is($r->{rc}, 0, 'dump-fetch --db shop --output') or diag(show($r));
$dst->safe_psql('postgres', 'CREATE DATABASE shop OWNER alice');
$r = run_cmd("$bindir/pg_restore", '--exit-on-error', '-d', $dst->connstr('shop'), "$tmp/shop.dump");
is($r->{rc}, 0, 'pg_restore of the fetched dump') or diag(show($r));

sub plain_dump
{
	my ($n, $db) = @_;
	my $x = run_cmd("$bindir/pg_dump", '-Fp', '-d', $n->connstr($db));
	die "pg_dump: $x->{stderr}" if $x->{rc} != 0;
	# pg_dump 15.14 and later: \restrict with a random key each run
	return join('', grep { !/^\\(un)?restrict / } split /^/, $x->{stdout});
}
my $a = plain_dump($node, 'shop');
ok(index($a, $CANARY) >= 0 && $a =~ /lo_open/ && $a =~ /s2\.seq', 4242/, 'the source dump has data, the large object and the sequence');
is(plain_dump($dst, 'shop'), $a, 'the restored database dumps identically');

# the odd name, through stdout
{
	$r = fetch_dump('--db', $ODD_DB);
	is($r->{rc}, 0, 'dump-fetch to stdout (odd name)') or diag(show($r));
	write_bytes("$tmp/odd.dump", $r->{stdout});
	$dst->safe_psql('postgres', 'CREATE DATABASE odd');
	my $x = run_cmd("$bindir/pg_restore", '--exit-on-error', '-d', $dst->connstr('odd'), "$tmp/odd.dump");
	is($x->{rc}, 0, 'its stream restores') or diag(show($x));
}

# ---- pg_restore -t from a stream ----
{
	$r = fetch_dump('--db', 'shop', '--id', $id1);
	is($r->{rc}, 0, 'dump-fetch --id to stdout');
	is($r->{stdout}, slurp_bytes("$tmp/shop.dump"), 'the stream equals the file');
	$dst->safe_psql('postgres', 'CREATE DATABASE onetable');
	$dst->safe_psql('onetable', 'CREATE SCHEMA s1');
	my $x = run_cmd({ stdin => $r->{stdout} }, "$bindir/pg_restore", '--exit-on-error', '-n', 's1', '-t', 'items',
		'--no-owner', '-d', $dst->connstr('onetable'));
	is($x->{rc}, 0, 'pg_restore -t items from the stream') or diag(show($x));
	is($dst->safe_psql('onetable', 'SELECT count(*), sum(id) FROM s1.items'), '5000|12502500', 'the table and its rows');
	is($dst->safe_psql('onetable', q{SELECT count(*) FROM pg_class WHERE relname IN ('other', 'v')}), '0',
		'and nothing else');
}

# ---- schema-only ----
$r = push_dump('--db', 'shop', '--schema-only');
is($r->{rc}, 0, 'dump-push --schema-only') or diag(show($r));
my $id_schema = $r->{json}{dump_id};
$r = fetch_dump('--db', 'shop', '--schema-only', '--output', "$tmp/schema.dump");
is($r->{rc}, 0, 'dump-fetch --schema-only') or diag(show($r));
$dst->safe_psql('postgres', 'CREATE DATABASE schemaonly OWNER alice');
$r = run_cmd("$bindir/pg_restore", '--exit-on-error', '-d', $dst->connstr('schemaonly'), "$tmp/schema.dump");
is($r->{rc}, 0, 'pg_restore of the schema-only dump') or diag(show($r));
is($dst->safe_psql('schemaonly', q{SELECT count(*) FROM s1.items}), '0', 'the table exists, without rows');
is($dst->safe_psql('schemaonly', q{SELECT count(*) FROM pg_views WHERE viewname = 'v'}), '1', 'the view exists');
$r = fetch_dump('--db', 'shop', '--output', "$tmp/shop2.dump");
is(slurp_bytes("$tmp/shop2.dump"), slurp_bytes("$tmp/shop.dump"), 'without --schema-only: still the newest full dump');
$r = fetch_dump('--db', 'shop', '--id', $id_schema, '--output', "$tmp/schema2.dump");
is($r->{rc}, 2, 'dump-fetch --id of a schema-only dump without --schema-only is refused');
like($r->{stderr}, qr/schema-only dump: give --schema-only/, 'saying why') or diag($r->{stderr});
ok(!-e "$tmp/schema2.dump", 'no output file');
is(fetch_dump('--db', 'shop', '--id', $id_schema, '--schema-only', '--output', "$tmp/schema2.dump")->{rc}, 0,
	'with --schema-only it is fetched');

# ---- failures leave nothing ----
{
	my @before = dump_objects();
	$r = push_dump('--db', 'no_such_db');
	isnt($r->{rc}, 0, 'dump-push of a database that does not exist fails');
	like($r->{stderr}, qr/no_such_db/, 'naming it');
	is_deeply([ dump_objects() ], \@before, 'nothing new under dumps/');

	# a pg_dump killed mid-way, after some output
	my $wrap = "$tmp/wrapbin";
	killed_after($wrap, $_, 3000) for ('pg_dump', 'pg_dumpall');
	my $kconf = env_variant($env, "$tmp/killed.conf", { postgres => { bindir => $wrap } });
	$r = run_pgark('dump-push', '--config', $kconf, '--db', 'shop');
	isnt($r->{rc}, 0, 'dump-push whose pg_dump is killed mid-way fails');
	like($r->{stderr}, qr/killed by signal 9/, 'saying so');
	$r = run_pgark('dump-push', '--config', $kconf, '--globals');
	isnt($r->{rc}, 0, 'the same for pg_dumpall');
	is_deeply([ dump_objects() ], \@before, 'nothing new under dumps/ (no temporary file either)');

	# an older pg_dump is refused
	wrapper($wrap, 'pg_dump', qq{echo "pg_dump (PostgreSQL) 14.9"\n});
	$r = run_pgark('dump-push', '--config', $kconf, '--db', 'shop');
	is($r->{rc}, 1, 'an older pg_dump is refused');
	like($r->{stderr}, qr/version 14, older than the server/, 'saying why');
	is_deeply([ dump_objects() ], \@before, 'and nothing stored');
}

# ---- the password reaches pg_dump in its environment, never in argv ----
{
	my $wrap = "$tmp/argvbin";
	wrapper($wrap, $_, qq{echo "$_ \$*" >> "$tmp/argv.log"
[ "\$PGPASSWORD" = argv-canary-pw ] && echo "$_ PGPASSWORD set" >> "$tmp/argv.log"
exec "$bindir/$_" "\$@"
}) for ('pg_dump', 'pg_dumpall');
	my $pconf = env_variant($env, "$tmp/pw.conf",
		{ postgres => { bindir => $wrap, conninfo => $node->connstr('postgres') . ' password=argv-canary-pw' } });
	$r = run_pgark('dump-push', '--config', $pconf, '--db', 'postgres', '--globals');
	is($r->{rc}, 0, 'dump-push with a password in the conninfo') or diag(show($r));
	my $log = slurp_file("$tmp/argv.log");
	unlike($log, qr/argv-canary-pw/, 'the password is in no argv') or diag($log);
	like($log, qr/pg_dump PGPASSWORD set/, 'pg_dump has it in PGPASSWORD') or diag($log);
	like($log, qr/pg_dumpall PGPASSWORD set/, 'pg_dumpall too');
	unlike($r->{stderr} . slurp_file($env->{audit}), qr/argv-canary-pw/, 'nor in messages or the audit log');
	# leave the dumps as they were for what follows
	my ($pid) = $r->{stderr} =~ /dump (\d{8}T\d{6}Z-[0-9a-f]{4}) of database/;
	store_tool($env, 'rm', "dumps/$_/$pid/meta", "dumps/$_/$pid/data") for ('postgres', 'pg.globals');
}

# ---- repo-list ----
$r = run_pgark('repo-list', '--config', $conf);
is($r->{rc}, 0, 'repo-list') or diag(show($r));
like($r->{stdout}, qr/^dumps:/m, 'has a dumps section');
like($r->{stdout}, qr/shop\s+$id_schema\s+schema-only/, 'with the schema-only dump') or diag($r->{stdout});
like($r->{stdout}, qr/\(globals\)\s+$id1\s+globals/, 'and the globals');
$r = run_pgark('repo-list', '--config', $conf, '--json');
{
	my $j = eval { JSON::PP::decode_json($r->{stdout}) };
	my @d = @{ $j->{dumps} // [] };
	my @shop = grep { defined $_->{database} && $_->{database} eq 'shop' } @d;
	is(scalar(@shop), 2, 'repo-list --json: two dumps of shop');
	ok((grep { defined $_->{database} && $_->{database} eq $odd_json } @d), 'the odd name decoded')
	  or diag($r->{stdout});
	like($shop[0]{sha256} // '', qr/^[0-9a-f]{64}$/, 'with the SHA-256 of the stored object');
}

# ---- repo-verify ----
$r = run_pgark('repo-verify', '--config', $conf);
is($r->{rc}, 0, 'repo-verify passes') or diag(show($r));
like($r->{stdout}, qr/dumps: 6 checked/, 'checking the newest dump of each database and kind') or diag($r->{stdout});

# ---- damage ----
{
	$r = push_dump('--db', 'shop');
	is($r->{rc}, 0, 'another dump of shop');
	my $id3 = $r->{json}{dump_id};
	my $obj = "dumps/shop/$id3/data";
	my $orig = repo_read_object($env, $obj);
	my $bad = $orig;
	substr($bad, int(length($bad) / 2), 1) = chr(ord(substr($bad, int(length($bad) / 2), 1)) ^ 0x20);
	repo_write_object($env, $obj, $bad);
	$r = fetch_dump('--db', 'shop', '--output', "$tmp/bad.dump");
	is($r->{rc}, 1, 'dump-fetch of a damaged dump fails');
	like($r->{stderr}, qr/\Q$obj\E.*damaged/, 'naming the object') or diag($r->{stderr});
	ok(!-e "$tmp/bad.dump", 'and leaves no output file');
	$r = fetch_dump('--db', 'shop');
	is($r->{rc}, 1, 'to stdout too');
	like($r->{stderr}, qr/do not use it/, 'saying the output must not be used');
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 1, 'repo-verify finds it');
	like($r->{stdout} . $r->{stderr}, qr/\Q$obj\E/, 'naming the object');
	my $st = store_tool($env, 'unseal', 'status/verify');
	like($st->{stdout}, qr/result damaged/, 'recorded in status/verify') if $st->{rc} == 0;

	# the same stored bytes under another dump's metadata: sizes or SHA-256 differ
	repo_write_object($env, $obj, $orig);
	is(run_pgark('repo-verify', '--config', $conf)->{rc}, 0, 'repaired: repo-verify passes');
	repo_write_object($env, $obj, repo_read_object($env, "dumps/shop/$id1/data"));
	$r = fetch_dump('--db', 'shop', '--id', $id3, '--output', "$tmp/swapped.dump");
	is($r->{rc}, 1, 'another dump\'s data object under this metadata is refused');
	like($r->{stderr}, qr/metadata/, 'by the metadata') or diag($r->{stderr});
	repo_write_object($env, $obj, $orig);

	# a damaged metadata object
	my $meta = "dumps/shop/$id3/meta";
	my $m = repo_read_object($env, $meta);
	repo_write_object($env, $meta, substr($m, 0, length($m) - 5));
	$r = fetch_dump('--db', 'shop', '--output', "$tmp/bad.dump");
	is($r->{rc}, 1, 'a damaged metadata object: dump-fetch fails');
	like($r->{stderr}, qr/\Q$meta\E/, 'naming it') or diag($r->{stderr});
	is(run_pgark('repo-verify', '--config', $conf)->{rc}, 1, 'and repo-verify');
	repo_write_object($env, $meta, $m);
}

# ---- retention ----
{
	# leftovers of a dump-push that died before its metadata: a fresh one,
	# and (local) one two days old
	my $fresh = 'dumps/shop/20200101T000001Z-abcd';
	my $old = 'dumps/shop/20200101T000000Z-abcd';
	repo_write_object($env, "$fresh/data", 'leftover');
	if (backend_is_local())
	{
		repo_write_object($env, "$old/data", 'leftover');
		my $t = time - 2 * 86400;
		utime $t, $t, repo_object_path($env, "$old/data") or die "utime: $!";
	}
	$r = run_pgark('repo-list', '--config', $conf);
	like($r->{stdout}, qr/shop\s+20200101T000001Z-abcd.*incomplete/, 'repo-list shows a leftover as incomplete');
	is(fetch_dump('--db', 'shop', '--output', "$tmp/x.dump")->{rc}, 0, 'dump-fetch ignores it');
	my @before = dump_objects();
	my $c0 = env_variant($env, "$tmp/ret0.conf", { retention => { keep_last => 5 } });
	$r = run_pgark('repo-expire', '--config', $c0);
	is($r->{rc}, 0, 'repo-expire without dumps_keep_*') or diag(show($r));
	is_deeply([ dump_objects() ], \@before, 'removes no dump');

	# dumps only: backups, WAL and packs are left alone
	my $c1 = env_variant($env, "$tmp/ret1.conf", { retention => { dumps_keep_last => 1 } });
	$r = run_pgark('repo-expire', '--config', $c1, '--dry-run', '--json');
	is($r->{rc}, 0, 'repo-expire --dry-run with dumps_keep_last = 1') or diag(show($r));
	my $j = eval { JSON::PP::decode_json($r->{stdout}) } // {};
	my @dumps = grep { $_->{kind} eq 'dump' && $_->{action} ne 'keep' } @{ $j->{items} // [] };
	is_deeply([ sort map { $_->{name} } @dumps ], [ sort("dumps/shop/$id1", backend_is_local() ? $old : ()) ],
		'would remove the older full dump of shop only (per database and kind), and an old leftover')
	  or diag($r->{stdout});
	is_deeply([ dump_objects() ], \@before, 'dry run: nothing removed');
	$r = run_pgark('repo-expire', '--config', $c1);
	is($r->{rc}, 0, 'repo-expire with dumps_keep_last = 1') or diag(show($r));
	my @after = dump_objects();
	ok(!(grep { m{^dumps/shop/\Q$id1\E/} } @after), 'the older dump of shop is gone');
	ok((grep { m{^dumps/shop/\Q$id_schema\E/meta$} } @after), 'the schema-only one stays');
	ok(!(grep { m{^\Q$old\E/} } @after), 'the old leftover is gone');
	ok((grep { m{^\Q$fresh\E/data$} } @after), 'a fresh leftover stays (its dump-push may be finishing)');
	ok((grep { m{^dumps/postgres/\Q$id1\E/meta$} } @after), 'the only dump of postgres stays');
	like(slurp_file($env->{audit}), qr/"action":"expire"[^\n]*dumps\/shop\/$id1/, 'in the audit log');
	is(fetch_dump('--db', 'shop', '--output', "$tmp/last.dump")->{rc}, 0, 'the newest dump still fetches');
}

# ---- larger than [repo] multipart_threshold: streamed in parts on S3, and a
# pg_dump killed after several parts leaves nothing ----
{
	$node->safe_psql('postgres', 'CREATE DATABASE bigdb');
	$node->safe_psql('bigdb', 'CREATE TABLE big AS SELECT g, md5(g::text) || md5((g * 7)::text) AS a '
		  . 'FROM generate_series(1, 400000) g');
	my $bconf = backend_is_local() ? $conf
	  : env_variant($env, "$tmp/big.conf", { repo => { multipart_threshold => '5M', part_size => '5M' } });
	my @before = dump_objects();
	my $wrap = killed_after("$tmp/bigbin", 'pg_dump', 12_000_000);
	my $kconf = env_variant($env, "$tmp/bigkill.conf",
		{ postgres => { bindir => $wrap }, backend_is_local() ? () : (repo => { multipart_threshold => '5M', part_size => '5M' }) });
	$r = run_pgark('dump-push', '--config', $kconf, '--db', 'bigdb');
	isnt($r->{rc}, 0, 'a big dump whose pg_dump is killed after 12 MB fails');
	is_deeply([ dump_objects() ], \@before, 'nothing of it stored (on S3: the multipart upload aborted)');

	$r = run_pgark('dump-push', '--config', $bconf, '--db', 'bigdb', '--json');
	is($r->{rc}, 0, 'a dump larger than multipart_threshold') or diag(show($r));
	my $j = eval { JSON::PP::decode_json($r->{stdout}) } // {};
	cmp_ok($j->{dumps}[0]{plain_bytes} // 0, '>', 12_000_000, 'of more than two parts');
	$r = run_pgark('dump-fetch', '--config', $bconf, '--db', 'bigdb', '--output', "$tmp/big.dump");
	is($r->{rc}, 0, 'fetched') or diag(show($r));
	$dst->safe_psql('postgres', 'CREATE DATABASE bigdb');
	$r = run_cmd("$bindir/pg_restore", '--exit-on-error', '-d', $dst->connstr('bigdb'), "$tmp/big.dump");
	is($r->{rc}, 0, 'and restored') or diag(show($r));
	my $q = q{SELECT count(*), sum(g), md5(string_agg(a, ',' ORDER BY g)) FROM big};
	is($dst->safe_psql('bigdb', $q), $node->safe_psql('bigdb', $q), 'every row as in the source');
}

# dbname in the dumped archive (pg_restore -l header)
sub archive_dbname
{
	my ($file) = @_;
	my $x = run_cmd("$bindir/pg_restore", '-l', $file);
	return $x->{stdout} =~ /^;\s+dbname: (.*)$/m ? $1 : "?($x->{stderr})";
}

# ---- a service file naming another database (and the server): explicit
# settings reach pg_dump explicitly, so the service file does not win ----
{
	my $svc = "$tmp/pg_service.conf";
	open my $fh, '>', $svc or die "$svc: $!";
	printf $fh "[rev]\nhost=%s\nport=%s\ndbname=postgres\n", $node->host, $node->port;
	close $fh or die "$svc: $!";
	my $sconf = env_variant($env, "$tmp/svc.conf", { postgres => { conninfo => 'service=rev' } });
	my @before = dump_objects();
	$r = run_pgark({ env => { PGSERVICEFILE => $svc } }, 'dump-push', '--config', $sconf, '--db', 'shop', '--json');
	is($r->{rc}, 0, 'dump-push --db shop with a service file naming dbname=postgres') or diag(show($r));
	my $sid = eval { JSON::PP::decode_json($r->{stdout})->{dump_id} } // '';
	$r = fetch_dump('--db', 'shop', '--id', $sid, '--output', "$tmp/svc.dump");
	is($r->{rc}, 0, 'fetched') or diag(show($r));
	is(archive_dbname("$tmp/svc.dump"), 'shop', 'the dump stored as shop is a dump of shop');
	store_tool($env, 'rm', grep { m{/\Q$sid\E/} } dump_objects());
	is_deeply([ dump_objects() ], \@before, '(removed again)');

	# whatever made pg_dump dump another database: its archive header says so
	my $wrap = wrapper("$tmp/otherdb", 'pg_dump', qq{if [ "\$1" = --version ]; then exec "$bindir/pg_dump" "\$@"; fi
exec "$bindir/pg_dump" "\$@" -d "} . $node->connstr('postgres') . qq{"
});
	my $oconf = env_variant($env, "$tmp/otherdb.conf", { postgres => { bindir => $wrap } });
	$r = run_pgark('dump-push', '--config', $oconf, '--db', 'shop');
	is($r->{rc}, 1, 'a pg_dump that dumps another database: dump-push fails');
	like($r->{stderr}, qr/dumped database "postgres", not "shop"/, 'saying so') or diag($r->{stderr});
	is_deeply([ dump_objects() ], \@before, 'and stores nothing');
}

# ---- "newest" is by start time: ids of runs within one second are made
# newer than every one there, and a dump started later is newer even when
# its id sorts first (a clock set back) ----
$node->safe_psql('postgres', 'CREATE DATABASE tiny');
{
	my @ids;
	for (1 .. 6)
	{
		$r = push_dump('--db', 'tiny');
		is($r->{rc}, 0, 'a dump of tiny') or diag(show($r));
		push @ids, $r->{json}{dump_id} // '';
	}
	my @bad = grep { substr($ids[ $_ - 1 ], 0, 16) ge substr($ids[$_], 0, 16) } 1 .. $#ids;
	is_deeply(\@bad, [], 'dumps pushed one after another have ids newer by the second') or diag("@ids");

	# the last dump, whose id is newest, started (its metadata says) before the first
	my ($first, $last) = ($ids[0], $ids[-1]);
	my $meta = "dumps/tiny/$last/meta";
	my $m = store_tool($env, 'unseal', $meta)->{stdout};
	like($m, qr/^start_time \S+$/m, 'read its metadata');
	$m =~ s/^start_time \S+$/start_time 2020-01-01T00:00:00Z/m;
	is(store_tool($env, 'rm', $meta)->{rc}, 0, 'rewrite it');
	is(store_tool($env, 'seal', $meta, { stdin => $m })->{rc}, 0, 'with a start time before the others');
	$r = fetch_dump('--db', 'tiny', '--output', "$tmp/tiny.dump");
	is($r->{rc}, 0, 'dump-fetch') or diag(show($r));
	like($r->{stderr}, qr/\Q$ids[-2]\E/, 'delivers the dump started last, not the one with the newest id')
	  or diag($r->{stderr});
	my $c1 = env_variant($env, "$tmp/tiny1.conf", { retention => { dumps_keep_last => 1 } });
	$r = run_pgark('repo-expire', '--config', $c1);
	is($r->{rc}, 0, 'repo-expire dumps_keep_last = 1') or diag(show($r));
	is_deeply([ grep { m{^dumps/tiny/} } dump_objects() ], [ "dumps/tiny/$ids[-2]/data", "dumps/tiny/$ids[-2]/meta" ],
		'keeps the dump started last only');

	# a newer dump whose data object is missing does not count as newer
	$r = push_dump('--db', 'tiny');
	my $gone = $r->{json}{dump_id} // '';
	repo_remove_object($env, "dumps/tiny/$gone/data");
	$r = run_pgark('repo-expire', '--config', $c1);
	is($r->{rc}, 0, 'repo-expire dumps_keep_last = 1, the newest dump without its data') or diag(show($r));
	ok(repo_object_exists($env, "dumps/tiny/$ids[-2]/data"), 'keeps the only restorable dump of tiny')
	  or diag($r->{stdout});
	ok(repo_object_exists($env, "dumps/tiny/$gone/meta"), 'and the one without data (newest)');
	store_tool($env, 'rm', "dumps/tiny/$gone/meta");
}

# ---- repo-verify --backup keeps the dump damage recorded in status/verify ----
{
	$node->safe_psql('postgres', 'CREATE DATABASE dmg');
	my $bp = base_push($conf, '--fast');
	is($bp->{rc}, 0, 'base-push') or diag(show($bp));
	my $bid = $bp->{json}{backup_id} // $bp->{json}{id} // '';
	wait_for_archive($node, switch_wal($node));
	$r = push_dump('--db', 'dmg');
	is($r->{rc}, 0, 'a dump of dmg') or diag(show($r));
	my $obj = "dumps/dmg/$r->{json}{dump_id}/data";
	my $orig = repo_read_object($env, $obj);
	my $bad = $orig;
	substr($bad, int(length($bad) / 2), 1) = chr(ord(substr($bad, int(length($bad) / 2), 1)) ^ 0x20);
	repo_write_object($env, $obj, $bad);
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 1, 'repo-verify finds the damaged dump') or diag(show($r));
	like(store_tool($env, 'unseal', 'status/verify')->{stdout}, qr/^damaged .*dumps\/dmg\//m, 'recorded');
	$r = run_pgark('repo-verify', '--config', $conf, '--backup', $bid);
	diag(show($r)) if $r->{rc} > 1;
	like(store_tool($env, 'unseal', 'status/verify')->{stdout}, qr/^damaged .*dumps\/dmg\//m,
		'still recorded after repo-verify --backup (which checks no dump)');
	isnt(run_pgark('repo-check', '--config', $conf)->{rc}, 0, 'repo-check stays red');
	repo_write_object($env, $obj, $orig);
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 0, 'repaired: repo-verify passes') or diag(show($r));
}

# ---- a dumps-only policy leaves backups, WAL and packs alone, and says so ----
{
	# WAL older than the backup is there: a backup policy would remove it
	my @other = map { repo_list_all($env, $_) } ('base/', 'wal/', 'packs/');
	ok((grep { m{^wal/} } @other) && (grep { m{^base/} } @other), 'there are backups and WAL');
	my $c1 = env_variant($env, "$tmp/donly.conf", { retention => { dumps_keep_last => 1 } });
	$r = run_pgark('repo-expire', '--config', $c1, '--json');
	is($r->{rc}, 0, 'repo-expire --json, dumps only') or diag(show($r));
	my $j = eval { JSON::PP::decode_json($r->{stdout}) } // {};
	ok(defined $j->{packs_swept} && !$j->{packs_swept}, 'packs_swept is false') or diag($r->{stdout});
	like($j->{sweep_note} // '', qr/none of them considered/, 'sweep_note says why');
	$r = run_pgark('repo-expire', '--config', $c1);
	like($r->{stdout}, qr/^backups, WAL, packs: untouched/m, 'the text says so');
	unlike($r->{stdout}, qr/^packs:/m, 'and reports no pack sweep') or diag($r->{stdout});
	is_deeply([ map { repo_list_all($env, $_) } ('base/', 'wal/', 'packs/') ], \@other,
		'backups, WAL and packs untouched');
}

# ---- local: no empty dumps/<db>/<dump-id>/ directories are left behind by
# failed dump-pushes and removed dumps (the test's own removals above go
# through the store too) ----
SKIP:
{
	skip 'directories: local backend only', 1 unless backend_is_local();
	my $top = repo_object_path($env, 'dumps');
	my @empty;
	for my $d (glob("$top/*/*"))
	{
		next unless -d $d;
		opendir my $dh, $d or die "$d: $!";
		my @in = grep { $_ ne '.' && $_ ne '..' } readdir $dh;
		push @empty, $d unless @in;
	}
	is_deeply(\@empty, [], 'no empty dump directories') or diag(join("\n", @empty));
}

done_testing();
