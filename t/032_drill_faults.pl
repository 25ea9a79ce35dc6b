
# 032_drill_faults.pl — repo-verify --restore-drill when something other
# than the backup fails: each run exits non-zero with a clear error, records
# nothing in status/drill (the previous drill's record stays as it was),
# alerts, and leaves no scratch directory and no process behind.
# Under s3 (through t/s3/fault-proxy.js): the backup's packs failing while
# they are restored, the WAL failing while the scratch instance replays it,
# the WAL failing once (the drill's own fetch of it then works), a history
# file that is not in the repository failing (a 503 on PostgreSQL's probe for
# the next timeline), the store not answering, and the WAL so slow that [restore] drill_timeout (1 s)
# expires; and, the backup's failure after all, a WAL segment that arrives
# corrupt on every read is recorded, also when wal-fetch's own warnings
# ("Permission denied" on its audit log) fill the server's log.
# Under local: pg_amcheck missing from the server binaries ([postgres]
# bindir), drill_timeout = 1s expiring (a bindir whose postgres starts 3 s
# late), a [restore] scratch_user role the backup's cluster does not
# have, and a [postgres] bindir of a newer major version passed over. One source cluster, one small backup.
use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $backend = backend();
plan skip_all => "drill faults: under local and s3 only (this is '$backend')"
  unless $backend eq 'local' || $backend eq 's3';

my ($node, $env) = backup_cluster('drillf');
$node->start;
my $dir = $env->{dir};
# short: the scratch instance's socket path must fit in 107 bytes
my $scratch = PostgreSQL::Test::Utils::tempdir_short();

$node->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
my $b = base_push($env->{conf}, '--fast');
is($b->{rc}, 0, 'base-push') or diag $b->{stderr};
$node->safe_psql('postgres', 'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(2001, 4000) g');
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
$node->stop;

# the runs' directories, in the private per-user one (lib/scratch.h)
sub scratch_left { opendir(my $d, "$scratch/pgark-scratch-$>") or return (); return grep { /^\d+-/ } readdir $d; }

# processes that work in the scratch directory (a server, a wal-fetch run
# by its restore_command, pg_amcheck ...): by command line or directory
sub scratch_procs
{
	my @p;
	for my $pd (glob '/proc/[0-9]*')
	{
		my $cwd = readlink("$pd/cwd") // '';
		my $cmd = '';
		if (open(my $f, '<', "$pd/cmdline")) { local $/; $cmd = <$f> // ''; $cmd =~ tr/\0/ /; }
		push @p, "$pd: $cmd (in $cwd)" if index($cwd, $scratch) == 0 || index($cmd, $scratch) >= 0;
	}
	return @p;
}

# nothing left: waits a little for what the run's cleanup has signalled
sub nothing_left
{
	my ($what) = @_;
	my $deadline = time() + 15;
	my @p;
	while (1)
	{
		@p = scratch_procs();
		last if !@p || time() > $deadline;
		select(undef, undef, undef, 0.2);
	}
	is_deeply([ scratch_left() ], [], "$what: no scratch directory left");
	is_deeply(\@p, [], "$what: no process left");
	return;
}

# [alert] to a closed port: a run that alerts says so on stderr. A state
# directory of its own for each case (a program that keeps failing alerts
# once).
my $closed = PostgreSQL::Test::Cluster::get_free_port();
my $nconf = 0;
sub conf_with
{
	my (%changes) = @_;
	$nconf++;
	my $c = env_variant($env, "$dir/case$nconf.conf",
		{ %changes, alert => { webhook => "http://127.0.0.1:$closed/", timeout => 1, state_dir => "$dir/alert$nconf" } });
	chmod 0600, $c;    # on S3 it holds credentials
	return $c;
}

sub drill
{
	my ($conf, @args) = @_;
	my $r = run_pgark('repo-verify', '--config', $conf, '--restore-drill', '--json', '--progress=off',
		'--scratch-dir', $scratch, @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	return $r;
}

# a failure that is not the backup's: the contract
sub not_the_backups
{
	my ($what, $r, $re, $rec) = @_;
	isnt($r->{rc}, 0, "$what: a failure exit") or diag show($r);
	like($r->{stderr}, $re, "$what: a clear error") or diag show($r);
	unlike($r->{stderr}, qr/: FAILED\n/, "$what: no verdict");
	is(repo_read_object($env, 'status/drill'), $rec, "$what: status/drill as it was");
	like($r->{stderr}, qr/alert webhook http:\/\/127\.0\.0\.1:$closed/, "$what: alerted");
	nothing_left($what);
	return;
}

# a healthy drill first: the record the failures must leave alone
my $r = drill($env->{conf});
is($r->{rc}, 0, 'a healthy drill passes') or diag show($r);
my $rec = repo_read_object($env, 'status/drill');
ok(defined $rec, '... status/drill recorded');

if ($backend eq 's3')
{
	require FaultProxy;
	my $proxy = FaultProxy->start;
	my %fast = (retries => 1, connect_timeout => 2, timeout => 2);

	# the restore: every read of a pack fails
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/packs/' }, action => '503', count => -1);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast)));
	not_the_backups('the packs failing (503) while restored', $r, qr/restore drill of backup \S+: not recorded \(not a problem of the backup\): .*HTTP 503/, $rec);

	# the replay: every read of a WAL segment fails; the restore went well
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/[0-9A-F]{16}/' }, action => '503', count => -1);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast)));
	not_the_backups('the WAL failing (503) during replay', $r,
		qr/restore drill of backup \S+: not recorded \(a problem of the repository's store or of this host, not of the backup\): replay stopped when wal-fetch could not fetch [0-9A-F]{24}: .*HTTP 503/, $rec);
	ok((grep { $_->{fault} && $_->{path} =~ m{/wal/} } $proxy->log), '... the proxy failed WAL reads');

	# the WAL failing twice (wal-fetch's two attempts), then fetching
	# again: the drill's own fetch of it succeeds
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/[0-9A-F]{16}/' }, action => '503', count => 2);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast)));
	not_the_backups('the WAL failing (503) once during replay', $r,
		qr/not recorded \(a problem of the repository's store or of this host, not of the backup\): replay stopped when wal-fetch could not fetch [0-9A-F]{24}, which fetches now/, $rec);

	# the store dead: the connection dropped for every request
	$proxy->clear;
	$proxy->fault(match => {}, action => 'drop', count => -1);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast)));
	not_the_backups('the store unreachable', $r, qr/gave up after \d+ attempts: .*pgark\.repo/, $rec);

	# slow WAL: each read held 1.5 s (within the request timeout), so that
	# [restore] drill_timeout = 1s expires during replay
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/[0-9A-F]{16}/' }, action => 'stall', stall_ms => 1500, count => -1);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast, timeout => 3), restore => { drill_timeout => '1s' }));
	not_the_backups('[restore] drill_timeout = 1s expiring (slow WAL)', $r, qr/not recorded \(not a problem of the backup\): .*did not reach its recovery target within 1 s/, $rec);

	# a file PostgreSQL asks for that is normally not there (the next
	# timeline's history at the start) failing with 503 twice: wal-fetch
	# gives up (exit 200), the drill's own fetch finds it not in the
	# repository: the store's hiccup, not the backup's
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/history/' }, action => '503', count => 2);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast)));
	not_the_backups('a history file that is not there failing (503) during replay', $r,
		qr/not recorded \(a problem of the repository's store or of this host, not of the backup\): replay stopped when wal-fetch could not fetch [0-9A-F]{8}\.history.*a file that is not in the repository/, $rec);
	ok((grep { $_->{fault} && $_->{path} =~ m{/wal/history/} } $proxy->log), '... the proxy failed a history read');

	# a WAL segment that arrives corrupt (a bit flipped on the way, every
	# time): that is the backup's failure, recorded
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/[0-9A-F]{16}/' }, action => 'corrupt', count => -1);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast)));
	is($r->{rc}, 1, 'a WAL segment corrupt on every read: the drill fails (exit 1)') or diag show($r);
	is($r->{json}{status}, 'failed', '... status failed');
	# (the scratch server's log tail names the object, or at least the file)
	like($r->{json}{detail} // '', qr{the backup did not restore: .*(?:wal/[0-9A-F]{16}/[0-9A-F]{24} .* is damaged|could not restore file)},
		'... saying replay stopped on the damaged WAL');
	isnt(repo_read_object($env, 'status/drill'), $rec, '... recorded');
	nothing_left('a WAL segment corrupt');

	# the same with wal-fetch's audit log in a directory it may not write
	# to: its own warnings in the server's log ("Permission denied") are
	# not why replay stopped, the damaged segment is: recorded
	my $failed_rec = repo_read_object($env, 'status/drill');
	my $ro = "$dir/audit-ro";
	mkdir $ro or die "mkdir $ro: $!";
	chmod 0500, $ro;
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/[0-9A-F]{16}/' }, action => 'corrupt', count => -1);
	$r = drill(conf_with(repo => $proxy->repo_settings(%fast),
		log => { %{ $env->{sections}{log} // {} }, audit => "$ro/audit.log" }));
	is($r->{rc}, 1, 'a WAL segment corrupt, wal-fetch warning "Permission denied" on its audit log: the drill fails (exit 1)')
	  or diag show($r);
	is($r->{json}{status}, 'failed', '... status failed');
	unlike($r->{stderr}, qr/a problem of this host/, '... not taken for a problem of this host');
	isnt(repo_read_object($env, 'status/drill'), $failed_rec, '... recorded');
	nothing_left('a WAL segment corrupt, the audit log not writable');
	$proxy->clear;
}
else
{
	# pg_amcheck missing: a bindir with the server's programs but that one
	my $pgbin = `pg_config --bindir`;
	chomp $pgbin;
	my $real = -x "/usr/lib/postgresql/15/bin/postgres" ? "/usr/lib/postgresql/15/bin" : $pgbin;
	my $bin = "$dir/bin-no-amcheck";
	mkdir $bin or die "mkdir $bin: $!";
	opendir(my $d, $real) or die "$real: $!";
	for my $f (grep { !/^\./ && $_ ne 'pg_amcheck' } readdir $d)
	{
		symlink("$real/$f", "$bin/$f") or die "symlink $bin/$f: $!";
	}
	closedir $d;
	ok(!-e "$bin/pg_amcheck" && -x "$bin/postgres", "$bin: the server's binaries without pg_amcheck");
	$r = drill(conf_with(postgres => { %{ $env->{sections}{postgres} }, bindir => $bin }));
	not_the_backups('pg_amcheck missing', $r, qr/pg_amcheck could not be run \(exit 127: not found\)/, $rec);

	# [restore] drill_timeout = 1s expiring: a bindir whose postgres
	# starts the server 3 s late
	my $slow = "$dir/bin-slow";
	mkdir $slow or die "mkdir $slow: $!";
	opendir($d, $real) or die "$real: $!";
	for my $f (grep { !/^\./ && $_ ne 'postgres' } readdir $d)
	{
		symlink("$real/$f", "$slow/$f") or die "symlink $slow/$f: $!";
	}
	closedir $d;
	open(my $w, '>', "$slow/postgres") or die "$slow/postgres: $!";
	print $w "#!/bin/sh\n[ \"\$1\" = --version ] || sleep 3\nexec '$real/postgres' \"\$@\"\n";
	close $w;
	chmod 0755, "$slow/postgres";
	$r = drill(conf_with(postgres => { bindir => $slow }, restore => { drill_timeout => '1s' }));
	not_the_backups('[restore] drill_timeout = 1s expiring (a slow server start)', $r,
		qr/not recorded \(not a problem of the backup\): .*did not reach its recovery target within 1 s/, $rec);

	# a scratch_user the backup's cluster has not
	$r = drill(conf_with(restore => { scratch_user => 'pgark_nosuch_role' }));
	not_the_backups('[restore] scratch_user a role that does not exist', $r,
		qr/has no role "pgark_nosuch_role" to connect as \(a problem of this host's setup/, $rec);

	# [postgres] bindir of a newer major version (for dump-push's
	# pg_dump): passed over with a warning naming both versions, the
	# backup's version's binaries found where they are installed
	my $newer = "$dir/bin-16";
	mkdir $newer or die "mkdir $newer: $!";
	open($w, '>', "$newer/postgres") or die "$newer/postgres: $!";
	print $w "#!/bin/sh\n[ \"\$1\" = --version ] && echo 'postgres (PostgreSQL) 16.4' && exit 0\nexit 1\n";
	close $w;
	chmod 0755, "$newer/postgres";
	$r = drill(conf_with(postgres => { %{ $env->{sections}{postgres} }, bindir => $newer }));
	is($r->{rc}, 0, '[postgres] bindir of PostgreSQL 16: the drill passes with the backup\'s version\'s binaries')
	  or diag show($r);
	like($r->{stderr}, qr{\[postgres\] bindir: \Q$newer\E/postgres is of PostgreSQL 16, the backup of PostgreSQL 15},
		'... warning, naming both versions') or diag show($r);
	$rec = repo_read_object($env, 'status/drill');
}

# and the next healthy drill is recorded again
$r = drill($env->{conf});
is($r->{rc}, 0, 'a healthy drill after them passes') or diag show($r);
isnt(repo_read_object($env, 'status/drill'), $rec, '... and is recorded');

done_testing();
