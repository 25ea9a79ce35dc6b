
# 027_table_restore.pl — table-restore on a real cluster: a table with rows
# deleted after T comes back exactly as at T under a new name (--as) and in
# place (--replace), other tables untouched; a table dropped after T, kept
# in a tablespace, comes back and the live tablespace is not touched by the
# scratch instance; --output writes a 0600 dump; refusals (an existing table
# without --replace, a dependent view, a target before the oldest backup, no
# disk space, usage errors) change nothing; a run interrupted (SIGTERM) or
# killed (SIGKILL) leaves no scratch directory or server behind (the killed
# run's by the next run).
use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgarkTest;

# a short parent: a Unix socket's path must fit in 107 bytes
my $scratch_parent = PostgreSQL::Test::Utils::tempdir_short() . '/scratch';
# the runs' directories are in a private per-user subdirectory of it
my $scratch_priv = "$scratch_parent/pgark-scratch-$>";
my $tsdir = PostgreSQL::Test::Utils::tempdir_short() . '/ts1';
make_path($tsdir);

my ($node, $env) = backup_cluster('primary',
	env => { extra => { restore => { scratch_dir => $scratch_parent } } });
my $conf = $env->{conf};
$node->start;
my $connstr = $node->connstr('postgres');

$node->safe_psql('postgres', qq{
CREATE TABLE t (id serial PRIMARY KEY, v text NOT NULL);
CREATE INDEX t_v ON t (v);
INSERT INTO t (v) SELECT md5(g::text) FROM generate_series(1, 1000) g;
CREATE TABLE u (id int, v text);
INSERT INTO u SELECT g, 'u' || g FROM generate_series(1, 300) g;
CREATE TABLESPACE ts1 LOCATION '$tsdir';
CREATE TABLE tt (id int PRIMARY KEY, w text) TABLESPACE ts1;
INSERT INTO tt SELECT g, 'tt' || g FROM generate_series(1, 200) g;
});

# settings in the backup's postgresql.auto.conf (read by the scratch
# server, unlike postgresql.conf) that it must override: archiving into the
# repository, and a library that does not exist (it would not start)
$node->safe_psql('postgres', q{ALTER SYSTEM SET archive_mode = on});
$node->safe_psql('postgres', q{ALTER SYSTEM SET shared_preload_libraries = 'pgark_no_such_library'});
$node->safe_psql('postgres', q{ALTER SYSTEM SET listen_addresses = '*'});
$node->safe_psql('postgres', qq{ALTER SYSTEM SET archive_command = '@{[ archive_command_for($conf) ]}'})
  unless archiver_is_library();

my $b = base_push($conf, '--fast');
is($b->{rc}, 0, 'base-push') or diag show($b);
$node->safe_psql('postgres', 'ALTER SYSTEM RESET ALL');

# changes after the backup and before T: replayed from the archive
$node->safe_psql('postgres', q{INSERT INTO t (v) SELECT 'after backup ' || g FROM generate_series(1, 500) g});
my $t_hash = table_hash($node, 't');
my $tt_hash = table_hash($node, 'tt');
sleep 1;
my $T = utc_now_text($node);
my $T_lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
sleep 1;

# after T: rows deleted, a table dropped, another table changed
$node->safe_psql('postgres', q{
DELETE FROM t WHERE id > 200;
DROP TABLE tt;
INSERT INTO u SELECT g, 'late' FROM generate_series(301, 350) g;
});
my $t_now = table_hash($node, 't');
my $u_hash = table_hash($node, 'u');
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");

sub table_restore
{
	my @args = @_;
	my $r = run_pgark('table-restore', '--config', $conf, '--progress=off', '--json', @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	return $r;
}

sub scratch_left
{
	opendir(my $d, $scratch_priv) or return ();
	my @l = grep { /^\d+-/ } readdir $d;
	closedir $d;
	return @l;
}

# postgres processes whose working directory is under the scratch parent
sub scratch_servers
{
	my @p;
	opendir(my $d, '/proc') or return ();
	for my $pid (grep { /^\d+$/ } readdir $d)
	{
		my $cwd = readlink("/proc/$pid/cwd") // next;
		push @p, $pid if index($cwd, $scratch_parent) == 0;
	}
	closedir $d;
	return @p;
}

# --- usage errors: exit 2, nothing started
{
	my $r = table_restore('--table', 'public.t', '--table', 'public.u', '--as', 'x', '--into', $connstr,
		'--target-time', $T);
	is($r->{rc}, 2, '--as with two --table: usage error');
	like($r->{stderr}, qr/--as names one table/, '... saying why');
	$r = table_restore('--table', 'public.t', '--target-time', $T);
	is($r->{rc}, 2, 'neither --into nor --output: usage error');
	$r = table_restore('--table', 'public.t', '--target-time', $T, '--target-lsn', '0/1000000', '--output', '/dev/null');
	is($r->{rc}, 2, 'two targets: usage error');
	$r = table_restore('--table', 'public.t', '--into', 'host=/nonexistent port=1 password=sekrit=x y', '--target-time', $T);
	is($r->{rc}, 2, 'a malformed --into: usage error');
	unlike($r->{stderr}, qr/sekrit/, '... not quoting the string (it may hold a password)');
}

# --- the table as at T under a new name; nothing else touched
{
	# a password in --into (trust ignores it) shows nowhere
	my $r = table_restore('--table', 'public.t', '--target-time', $T, '--into', "$connstr password=PwNotShown",
		'--as', 't_at_t');
	is($r->{rc}, 0, '--as t_at_t: exit 0') or diag show($r);
	unlike($r->{stderr} . $r->{stdout} . slurp_bytes($env->{audit}), qr/PwNotShown/,
		'the password of --into is in no message and no audit record');
	is(table_hash($node, 't_at_t'), $t_hash, 't_at_t is t exactly as at T');
	is(table_hash($node, 't'), $t_now, 't itself is untouched');
	is(table_hash($node, 'u'), $u_hash, 'another table is untouched');
	is($r->{json}{tables}[0]{rows}, 1500, '--json: 1500 rows restored');
	like($r->{stderr}, qr/public\.t restored into postgres as public\.t_at_t: 1500 rows/, 'rows reported on stderr');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_indexes WHERE tablename = 't_at_t'}), 2,
		"t_at_t has its indexes (renamed: no clash with t's)");
	# its serial sequence is its own, and continues past T's values
	# (recovery leaves a sequence at the last value it WAL-logged ahead)
	my $seq = $node->safe_psql('postgres', q{SELECT pg_get_serial_sequence('t_at_t', 'id')});
	is($seq, 'public.t_at_t_id_seq', "t_at_t's sequence is its own, renamed");
	$node->safe_psql('postgres', q{INSERT INTO t_at_t (v) VALUES ('new')});
	cmp_ok($node->safe_psql('postgres', q{SELECT max(id) FROM t_at_t}), '>', 1500, "... and continues past T's values");
	is($node->safe_psql('postgres', q{SELECT pg_get_serial_sequence('t', 'id')}), 'public.t_id_seq', "t's is still t's");
	is(scalar(scratch_left()), 0, 'no scratch directory left');
	is(scalar(scratch_servers()), 0, 'no scratch server left');
	my @audit = grep { ($_->{action} // '') eq 'table-restore' } read_audit($env);
	ok(@audit && $audit[-1]{result} eq 'ok', 'audit record') or diag explain \@audit;
}

# --- --target-lsn: the same table, by LSN
{
	my $r = table_restore('--table', 'public.t', '--target-lsn', $T_lsn, '--into', $connstr, '--as', 't_at_lsn');
	is($r->{rc}, 0, '--target-lsn: exit 0') or diag show($r);
	is(table_hash($node, 't_at_lsn'), $t_hash, 't_at_lsn is t as at that LSN');
}

# --- in place: refused without --replace, then replaced in one transaction
{
	my $r = table_restore('--table', 'public.t', '--target-time', $T, '--into', $connstr);
	is($r->{rc}, 1, 'in place without --replace: refused');
	like($r->{stderr}, qr/table public\.t exists in the target database postgres.*--replace/, '... saying how');
	is(table_hash($node, 't'), $t_now, '... t unchanged');

	$node->safe_psql('postgres', 'CREATE VIEW t_view AS SELECT id FROM t');
	$r = table_restore('--table', 'public.t', '--target-time', $T, '--into', $connstr, '--replace');
	is($r->{rc}, 1, '--replace with a view on t: refused');
	like($r->{stderr}, qr/view t_view depends on it; nothing was changed/, '... naming the view');
	is(table_hash($node, 't'), $t_now, '... t unchanged');
	$node->safe_psql('postgres', 'DROP VIEW t_view');
	$node->safe_psql('postgres', 'CREATE TABLE t_ref (tid int REFERENCES t (id))');
	$r = table_restore('--table', 'public.t', '--target-time', $T, '--into', $connstr, '--replace');
	is($r->{rc}, 1, "--replace with another table's foreign key on t: refused");
	like($r->{stderr}, qr/foreign key t_ref_tid_fkey of t_ref depends on it; nothing was changed/, '... naming it');
	is(table_hash($node, 't'), $t_now, '... t unchanged');
	$node->safe_psql('postgres', 'DROP TABLE t_ref');

	$r = table_restore('--table', 'public.t', '--target-time', $T, '--into', $connstr, '--replace');
	is($r->{rc}, 0, '--replace: exit 0') or diag show($r);
	is(table_hash($node, 't'), $t_hash, 't is back as at T, in place');
	is(table_hash($node, 'u'), $u_hash, 'u still untouched');
}

# --- a dropped table kept in a tablespace: --output first (the live
# tablespace directory must not change: the scratch instance has its own)
{
	my $before = tree_snapshot($tsdir);
	my $repo_before = repo_snapshot($env);
	my $out = "$env->{dir}/tt.dump";
	my $r = table_restore('--table', 'tt', '--target-time', $T, '--output', $out);
	is($r->{rc}, 0, '--output: exit 0') or diag show($r);
	# promoted, the scratch server starts a new timeline: archiving it (a
	# history file, WAL) would show here
	is_deeply(repo_snapshot($env), $repo_before, 'the scratch instance wrote nothing to the repository');
	ok(-s $out, 'the dump is written');
	is((stat $out)[2] & 07777, 0600, '... mode 0600');
	is_deeply(tree_snapshot($tsdir), $before, 'the live tablespace directory is untouched by the scratch instance');
	my $l = run_cmd('pg_restore', '-l', $out);
	like($l->{stdout}, qr/TABLE public tt /, 'the dump holds table tt');
	ok(!-e "$out.tmp.$$" && !grep({ /tt\.dump\.tmp/ } list_dir($env->{dir})), 'no temporary file beside it');

	$r = table_restore('--table', 'public.tt', '--target-time', $T, '--into', $connstr);
	is($r->{rc}, 0, 'dropped table restored in place') or diag show($r);
	is(table_hash($node, 'tt'), $tt_hash, 'tt is back as at T');
	is($node->safe_psql('postgres', q{SELECT tablespace FROM pg_tables WHERE tablename = 'tt'}), 'ts1',
		'... in its tablespace');
}

# --- --schema-only: the definition, empty
{
	my $r = table_restore('--table', 'public.t', '--target-time', $T, '--into', $connstr, '--as', 't_empty',
		'--schema-only');
	is($r->{rc}, 0, '--schema-only: exit 0') or diag show($r);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t_empty'), 0, 't_empty has no rows');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_indexes WHERE tablename = 't_empty'}), 2,
		'... and its indexes');
}

# --- a table that did not exist at T, and --data-only into a missing table
{
	my $r = table_restore('--table', 'public.nosuch', '--target-time', $T, '--output', "$env->{dir}/x.dump");
	is($r->{rc}, 1, 'a table that did not exist at T: exit 1');
	like($r->{stderr}, qr/table public\.nosuch did not exist in database postgres at the target/, '... saying so');
	ok(!-e "$env->{dir}/x.dump", '... no dump written');
	is(scalar(scratch_left()), 0, '... no scratch directory left');
}

# --- --data-only --replace: the rows as at T instead of the current ones
{
	$node->safe_psql('postgres', 'DELETE FROM u WHERE id > 100');
	my $r = table_restore('--table', 'public.u', '--target-time', $T, '--into', $connstr, '--data-only', '--replace');
	is($r->{rc}, 0, '--data-only --replace: exit 0') or diag show($r);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), 300, 'u has its 300 rows of T');
}

# --- a target before the oldest backup
{
	my $r = table_restore('--table', 'public.t', '--target-time', '2001-01-01 00:00:00+00', '--as', 'old',
		'--into', $connstr);
	is($r->{rc}, 1, 'a target before the oldest backup: refused');
	like($r->{stderr}, qr/the oldest backup, \S+, ended at \d{4}-/, "... naming the oldest backup's end");
	is($node->safe_psql('postgres', q{SELECT to_regclass('old') IS NULL}), 't', '... nothing created');
}

# --- a target past the end of the archive: the server stops, its log quoted
{
	my $r = table_restore('--table', 'public.t', '--target-time', '2099-01-01 00:00:00+00', '--output',
		"$env->{dir}/z.dump");
	is($r->{rc}, 1, 'a target past the end of the archive: exit 1');
	like($r->{stderr}, qr/stopped .* before recovery reached its target; its log ends: .*recovery ended before configured recovery target was reached/,
		"... quoting the scratch server's log");
	is(scalar(scratch_left()), 0, '... no scratch directory left');
	is(scalar(scratch_servers()), 0, '... no scratch server left');
}

# --- two at once: separate scratch instances, both succeed
{
	my @h;
	for my $k (1, 2)
	{
		my ($o, $e) = ('', '');
		push @h, [ IPC::Run::start([ pgark_bin('table-restore'), '--config', $conf, '--progress=off',
					'--table', 'public.u', '--target-time', $T, '--output', "$env->{dir}/par$k.dump" ],
				'<', \undef, '>', \$o, '2>', \$e), \$e ];
	}
	for my $k (0, 1)
	{
		$h[$k][0]->finish;
		is($h[$k][0]->result(0), 0, 'concurrent run ' . ($k + 1) . ': exit 0') or diag ${ $h[$k][1] };
	}
	is(scalar(scratch_left()), 0, '... both removed');
}

# --- not enough disk space for the scratch instance
{
	my $c2 = env_variant($env, "$env->{dir}/big.conf", { restore => { scratch_reserve => '50000000M' } });
	my $r = run_pgark('table-restore', '--config', $c2, '--table', 'public.t', '--target-time', $T,
		'--output', "$env->{dir}/y.dump");
	is($r->{rc}, 1, 'no room for the scratch instance: exit 1');
	like($r->{stderr}, qr/scratch directory \Q$scratch_parent\E: restoring backup \S+ needs \d+ bytes .* only \d+ are available/,
		'... naming the directory, the bytes needed and available');
	is(scalar(scratch_left()), 0, '... nothing made');
}

# --- interrupted (SIGTERM) while the scratch instance runs: everything removed
sub start_bg
{
	my ($out) = @_;
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start([ pgark_bin('table-restore'), '--config', $conf, '--progress=off', '--table',
			'public.t', '--target-time', $T, '--output', $out ], '<', \undef, '>', \$o, '2>', \$e);
	return ($h, \$e);
}

sub wait_for_server
{
	for (1 .. 600)
	{
		my @d = scratch_left();
		return $d[0] if @d && glob("$scratch_priv/$d[0]/sock/.s.PGSQL.*");
		usleep(50_000);
	}
	return undef;
}

{
	my ($h, $e) = start_bg("$env->{dir}/int.dump");
	my $d = wait_for_server();
	ok($d, 'interrupt: the scratch server is up');
	$h->signal('TERM');
	$h->finish;
	isnt($h->result(0), 0, 'interrupted: non-zero exit');
	like($$e, qr/interrupted/, '... saying so') or diag $$e;
	is(scalar(scratch_left()), 0, '... no scratch directory left');
	is(scalar(scratch_servers()), 0, '... no scratch server left');
	ok(!-e "$env->{dir}/int.dump", '... no dump');
}

# --- interrupted as soon as its directory appears (during the restore)
{
	my ($h, $e) = start_bg("$env->{dir}/int2.dump");
	my $seen;
	for (1 .. 2000)
	{
		last if ($seen) = scratch_left();
		usleep(5_000);
	}
	ok($seen, 'interrupt early: the scratch directory appeared');
	$h->signal('TERM');
	$h->finish;
	isnt($h->result(0), 0, 'interrupted early: non-zero exit');
	like($$e, qr/interrupted/, '... saying so') or diag $$e;
	is(scalar(scratch_left()), 0, '... no scratch directory left');
	is(scalar(scratch_servers()), 0, '... no scratch server left');
}

# --- killed (SIGKILL): the server goes (parent-death signal), the next run
# removes the directory
{
	my ($h, $e) = start_bg("$env->{dir}/kill.dump");
	my $d = wait_for_server();
	ok($d, 'kill -9: the scratch server is up');
	$h->signal('KILL');
	eval { $h->finish };
	my $gone = 0;
	for (1 .. 200)
	{
		if (!scratch_servers()) { $gone = 1; last }
		usleep(50_000);
	}
	ok($gone, 'killed: its scratch server stops by itself');
	ok(-d "$scratch_priv/$d", '... its directory is left');
	my $r = table_restore('--table', 'public.u', '--target-time', $T, '--output', "$env->{dir}/u.dump");
	is($r->{rc}, 0, 'the next run works') or diag show($r);
	ok(!-e "$scratch_priv/$d", "... and removed the killed run's directory");
	is(scalar(scratch_left()), 0, '... nothing left');
}

$node->stop;
done_testing();
