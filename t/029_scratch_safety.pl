# 029_scratch_safety.pl — the scratch instance (lib/scratch.c) acts on
# nothing that is not its own: the sweep of stale scratch directories
# neither signals nor deletes through a symlink planted in one (the live
# cluster survives, the symlink's target is untouched), and works only in a
# private per-user subdirectory of the scratch parent; the backup's
# postgresql.auto.conf does not apply to the scratch server, nor do its
# per-database settings to our sessions.
use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

# a short parent: a Unix socket's path must fit in 107 bytes
my $scratch_parent = PostgreSQL::Test::Utils::tempdir_short() . '/scratch';
my $priv = "$scratch_parent/pgark-scratch-$>";

my ($node, $env) = backup_cluster('primary',
	env => { extra => { restore => { scratch_dir => $scratch_parent } } });
my $conf = $env->{conf};
$node->start;

$node->safe_psql('postgres', q{
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 300) g;
});
# P1-2: settings in the backup's postgresql.auto.conf that must not apply to
# the scratch server: the live cluster's external pid file, a replay delay
# (it would wait an hour), settings that stop its start-up
my $extpid = "$env->{dir}/ext.pid";
$node->safe_psql('postgres', qq{ALTER SYSTEM SET external_pid_file = '$extpid'});
$node->safe_psql('postgres', q{ALTER SYSTEM SET recovery_min_apply_delay = '1h'});
$node->safe_psql('postgres', q{ALTER SYSTEM SET huge_pages = 'on'});
$node->safe_psql('postgres', q{ALTER SYSTEM SET superuser_reserved_connections = 25});
# P1-3: per-database settings of the backup's cluster rank above the
# server's command line: every connection to the scratch instance must undo
# them (a missing library would refuse every session, read-only and tiny
# timeouts would break the work)
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 50)});
$node->safe_psql('postgres', q{
ALTER DATABASE app SET session_preload_libraries = 'pgark_no_such_library';
ALTER DATABASE app SET default_transaction_read_only = on;
ALTER DATABASE app SET statement_timeout = '1ms';
ALTER DATABASE app SET lock_timeout = '1ms';
CREATE ROLE plain LOGIN;
});
my $b = base_push($conf, '--fast');
is($b->{rc}, 0, 'base-push') or diag show($b);
$node->safe_psql('postgres', 'ALTER SYSTEM RESET ALL');
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, 'late' FROM generate_series(301, 320) g});
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");

sub table_restore
{
	my @args = @_;
	unlink "$env->{dir}/t.dump";    # --output never replaces a file
	return run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off',
		'--wait-timeout', '120', '--table', 'public.t', '--output', "$env->{dir}/t.dump", @args);
}

sub live_pid
{
	open(my $fh, '<', $node->data_dir . '/postmaster.pid') or return 0;
	my $pid = <$fh>;
	close $fh;
	chomp $pid;
	return $pid;
}

# --- P0-1: a fake stale scratch directory whose data is a symlink to the
# live data directory, both in the old place (the parent itself) and in the
# private subdirectory
{
	my $livepid = live_pid();
	make_path($scratch_parent, $priv);
	chmod 0700, $priv;
	for my $d ("$scratch_parent/pgark-scratch-4000000-evil", "$priv/4000001-evil")
	{
		mkdir $d or die "mkdir $d: $!";
		symlink($node->data_dir, "$d/data") or die "symlink: $!";
	}
	my $r = table_restore();
	is($r->{rc}, 0, 'a run with planted symlinks works') or diag show($r);
	ok(kill(0, $livepid), "the live postmaster ($livepid) survived the sweep");
	ok(-f $node->data_dir . '/postmaster.pid', '... its data directory is untouched');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '320', '... and it answers');
	ok(!-e $extpid, "the backup's external_pid_file was not written");
	my $l = run_cmd('pg_restore', '-f', '-', '--data-only', "$env->{dir}/t.dump");
	like($l->{stdout}, qr/^320\tlate$/m, 'the rows after the backup are replayed (no apply delay)');
	ok(-l "$scratch_parent/pgark-scratch-4000000-evil/data", 'nothing outside the private subdirectory is touched');
	ok(!-e "$priv/4000001-evil", 'the stale directory in it is removed (the symlink, not its target)');
	my @left = glob("$priv/*");
	is(scalar(@left), 0, 'no scratch directory left') or diag "@left";
	my $mode = (stat $priv)[2] & 07777;
	is(sprintf('%o', $mode), '700', 'the private subdirectory is mode 0700');
	unlink "$scratch_parent/pgark-scratch-4000000-evil/data";
	rmdir "$scratch_parent/pgark-scratch-4000000-evil";
}

# --- P2-10: a stale directory that cannot be removed is skipped with a
# warning; the others are removed all the same
{
	make_path("$priv/4000002-stuck/x", "$priv/4000003-gone/data");
	open(my $f, '>', "$priv/4000002-stuck/x/f") or die;
	close $f;
	chmod 0500, "$priv/4000002-stuck/x";
	my $r = table_restore();
	is($r->{rc}, 0, 'a stale directory that cannot be removed: the run works') or diag show($r);
	like($r->{stderr}, qr/WARNING.*stale scratch directories: could not remove \S*4000002-stuck/, '... warning about it')
	  or diag show($r);
	ok(!-e "$priv/4000003-gone", '... another stale directory is removed');
	chmod 0700, "$priv/4000002-stuck/x";
	unlink "$priv/4000002-stuck/x/f";
	rmdir "$priv/4000002-stuck/x";
	rmdir "$priv/4000002-stuck";
}

# --- P1-3: a table of the database with those settings
{
	my $r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off',
		'--wait-timeout', '120', '--from-db', 'app', '--table', 'public.a', '--output', "$env->{dir}/a.dump");
	is($r->{rc}, 0, "a database whose settings would break every session: table-restore works") or diag show($r);
	my $l = run_cmd('pg_restore', '-f', '-', '--data-only', "$env->{dir}/a.dump");
	like($l->{stdout}, qr/^50$/m, '... the dump holds its rows');
}

# --- P1-5: PG* variables of the environment neither redirect nor break the
# connections to the scratch instance
{
	my $r = run_pgark({ timeout => 600, env => { PGHOSTADDR => '127.0.0.1', PGCHANNELBINDING => 'require',
				PGTARGETSESSIONATTRS => 'read-only', PGOPTIONS => '-c default_transaction_read_only=on' } },
		'table-restore', '--config', $conf, '--progress=off', '--wait-timeout', '60', '--from-db', 'app',
		'--table', 'public.a', '--output', "$env->{dir}/a2.dump");
	is($r->{rc}, 0, 'PGHOSTADDR, PGCHANNELBINDING, PGTARGETSESSIONATTRS set: table-restore works') or diag show($r);
}

# --- P1-5: [restore] scratch_user: a role that does not exist, or is not a
# superuser: a configuration error (exit 1) that says it is not the backup's
for my $case ([ 'pgark_no_such_role', qr/no role "pgark_no_such_role" to connect as \(a problem of this host's setup, not of the backup\)/ ],
	[ 'plain', qr/role "plain" is not a superuser .*not of the backup/ ])
{
	my ($role, $re) = @$case;
	my $c2 = "$env->{dir}/user-$role.conf";
	open(my $in, '<', $conf) or die;
	my $text = do { local $/; <$in> };
	close $in;
	$text =~ s/^\[restore\]\n/[restore]\nscratch_user = $role\n/m or die 'no [restore] section';
	open(my $out, '>', $c2) or die;
	print $out $text;
	close $out;
	chmod 0600, $c2;    # it may hold S3 credentials
	my $r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $c2, '--progress=off', '--wait-timeout', '60',
		'--table', 'public.t', '--output', "$env->{dir}/u.dump");
	is($r->{rc}, 1, "scratch_user = $role: exit 1") or diag show($r);
	like($r->{stderr}, $re, '... saying why') or diag show($r);
}

# --- a private subdirectory that is a symlink, or open to others: refused
{
	my $other = PostgreSQL::Test::Utils::tempdir_short();
	my $p2 = PostgreSQL::Test::Utils::tempdir_short() . '/p2';
	make_path($p2);
	symlink($other, "$p2/pgark-scratch-$>") or die;
	my $r = table_restore('--scratch-dir', $p2);
	isnt($r->{rc}, 0, 'a symlinked private subdirectory: refused');
	like($r->{stderr}, qr/not a symlink/, '... saying why') or diag show($r);
	unlink "$p2/pgark-scratch-$>";
	mkdir "$p2/pgark-scratch-$>";
	chmod 0777, "$p2/pgark-scratch-$>";
	$r = table_restore('--scratch-dir', $p2);
	isnt($r->{rc}, 0, 'a private subdirectory open to others: refused');
	like($r->{stderr}, qr/mode 0700/, '... saying why') or diag show($r);
	rmdir "$p2/pgark-scratch-$>";
	chmod 0777, $p2;
	$r = table_restore('--scratch-dir', $p2);
	isnt($r->{rc}, 0, 'a world-writable, not sticky parent: refused');
	like($r->{stderr}, qr/writable by other users and not sticky/, '... saying why') or diag show($r);
	chmod 0700, $p2;
}

$node->stop;
done_testing();
