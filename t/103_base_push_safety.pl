
# 103_base_push_safety.pl — base-push stores little for an incremental
# backup (page-granular chunks, unchanged files reused without being read,
# everything read again with --full-read); kill -9 mid-way leaves no manifest
# and no backup session on the server, and the next backup completes and
# restores; a repository of another cluster is refused; a page with a bad
# checksum is reported (WARNING naming the file and block, bad_checksums in
# --json, an audit record) without failing the backup. pitr-prepare refuses
# each bad input with a clear error and leaves the directory as it was.
use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run;
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

use PgarkTest;

my $scale = $ENV{PGARK_TEST_SCALE} // 20;
my ($primary, $env) = backup_cluster(
	'primary',
	initdb => ['-k'],
	conf   => q{
shared_buffers = '32MB'
autovacuum = off
max_wal_size = '1GB'
});
my $conf = $env->{conf};
$primary->start;
is($primary->safe_psql('postgres', 'SHOW data_checksums'), 'on', 'data checksums are on (initdb -k)');
$primary->command_ok([ 'pgbench', '-i', '-s', $scale, '-q', 'postgres' ], "pgbench -i -s $scale");
# files settle before backup #1, so that backup #2 may reuse them
$primary->safe_psql('postgres', 'CHECKPOINT');
sleep 2;

my $tmp = PostgreSQL::Test::Utils::tempdir('work');


sub figures
{
	my ($j) = @_;
	return join(', ', map { "$_=" . ($j->{$_} // 'undef') }
		qw(backup_id files files_reused bytes_read bytes_stored bytes_reused chunks_new chunks_reused bad_checksums duration_ms));
}

# a cheap whole-table fingerprint (pgbench_accounts has millions of rows)
my @tables = qw(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history);

sub state
{
	my ($node, @more) = @_;
	return join('; ',
		map { "$_ " . $node->safe_psql('postgres', qq{SELECT count(*) || ' ' || coalesce(sum(hashtext(x::text)::numeric), 0) FROM $_ x}) }
		  @tables, @more);
}

# --- backup #1 (full)
my $r = base_push($conf, '--fast', '--label', 'full');
is($r->{rc}, 0, 'backup #1: exit 0') or diag show($r);
my $b1 = $r->{json} // {};
note 'backup #1: ' . figures($b1);
ok(($b1->{bytes_stored} // 0) > 0, 'backup #1 stored something');
is(scalar(backups_in_repo($env)), 1, 'one manifest in the repository');

# --- a light OLTP load and a new small table, backup #2
$primary->command_ok([ 'pgbench', '-n', '-t', '100', '-c', '1', 'postgres' ], 'pgbench -n -t 100 (light load)');
$primary->safe_psql('postgres', q{
	CREATE TABLE small (id int PRIMARY KEY, v text);
	INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
});
$r = base_push($conf, '--fast', '--label', 'incremental');
is($r->{rc}, 0, 'backup #2 (after a light load): exit 0') or diag show($r);
my $b2 = $r->{json} // {};
note 'backup #2: ' . figures($b2);
ok(($b2->{files_reused} // 0) > 0, "backup #2 reused unchanged files without reading them (files_reused=" . ($b2->{files_reused} // 'undef') . ')');
ok(($b2->{chunks_reused} // 0) > 0, 'backup #2 reused chunks');
my $ratio2 = ($b2->{bytes_stored} // 1e18) / (($b1->{bytes_stored} // 0) || 1);
ok($ratio2 < 0.25, sprintf('backup #2 stored %.2f%% of what backup #1 stored (%s of %s bytes; must be < 25%%)',
	100 * $ratio2, $b2->{bytes_stored} // 'undef', $b1->{bytes_stored} // 'undef'));

# --- --full-read: everything read, little stored
$primary->safe_psql('postgres', q{UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 50000 = 7});
$r = base_push($conf, '--fast', '--full-read', '--label', 'full-read');
is($r->{rc}, 0, 'backup #3 --full-read: exit 0') or diag show($r);
my $b3 = $r->{json} // {};
note 'backup #3 (--full-read): ' . figures($b3);
is($b3->{files_reused}, 0, '--full-read reuses no file unread (files_reused == 0)');
ok(($b3->{bytes_read} // 0) >= 0.9 * ($b1->{bytes_read} // 0),
	"--full-read read everything (bytes_read $b3->{bytes_read} vs backup #1's $b1->{bytes_read})");
my $ratio3 = ($b3->{bytes_stored} // 1e18) / (($b1->{bytes_stored} // 0) || 1);
ok($ratio3 < 0.25, sprintf('--full-read still stored little: %.2f%% of backup #1', 100 * $ratio3));

# --- kill -9 mid-way
my $no_other_session = q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()};

# Start base-push, wait until its session runs a query matching $pattern,
# wait $delay seconds more, kill -9. Returns (reached, alive at the kill,
# wait status, stdout, stderr).
sub kill_base_push
{
	my ($pattern, $delay, @args) = @_;
	my ($out, $err, $in) = ('', '', '');
	my $h = IPC::Run::start([ pgark_bin('base-push'), '--config', $conf, '--progress=off', @args ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	my $pid = $h->{KIDS}[0]{PID};
	my $reached = 0;
	for (1 .. 600)
	{
		my $q = $primary->safe_psql('postgres',
			qq{SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query ILIKE '%$pattern%'});
		if ($q > 0) { $reached = 1; last }
		last unless $h->pumpable;
		sleep 0.05;
	}
	sleep $delay;
	my $alive = kill(0, $pid);
	kill 'KILL', $pid;
	eval { $h->finish };
	my $status = $h->full_result(0) // -1;
	return ($reached, $alive, $status, $out, $err);
}

sub leftover_processes
{
	return grep { my $c = eval { slurp_bytes($_) } // ''; $c =~ /base-push/ && $c =~ /\Q$conf\E/ }
	  map { "/proc/$_/cmdline" } grep { /^\d+$/ } list_dir('/proc');
}

my @before = backups_in_repo($env);
# (killed as soon as pg_backup_start is seen: reading the files with
# --full-read can take well under a second, and a kill that lands in
# pg_backup_stop instead is the next case, not this one)
# The kill must land between pg_backup_start's return and pg_backup_stop: on a
# loaded machine it can land while pg_backup_start still checkpoints (then
# there is no backup to abort yet), so try a few times; the server's log
# says when it landed in the window.
my ($reached, $alive, $status, $kout, $kerr, $aborted);
my @after;
for my $try (1 .. 5)
{
	my $logpos = -s $primary->logfile;
	($reached, $alive, $status, $kout, $kerr) = kill_base_push('backup_start', 0, '--fast', '--full-read', '--label', 'killed');
	$primary->poll_query_until('postgres', $no_other_session);
	$aborted = slurp_file($primary->logfile, $logpos) =~
	  /aborting backup due to backend exiting before pg_backup_stop was called/;
	last if $aborted;
	note "try $try: the kill landed outside pg_backup_start..stop; again";
}
ok($reached, 'base-push called pg_backup_start') or diag "base-push stderr: $kerr";
ok($alive && ($status & 127) == 9, 'base-push was killed mid-way (signal 9), not finished before')
  or diag "status $status; stdout: $kout\nstderr: $kerr";
@after = backups_in_repo($env);
is(scalar(@after), scalar(@before), 'no manifest for the killed run') or diag "before: @before\nafter: @after";
ok($primary->poll_query_until('postgres', $no_other_session), 'the killed run\'s pg_backup_start session ended');
ok($aborted, 'the server aborted the killed run\'s backup (it was in pg_backup_start..stop)');
my @left = leftover_processes();
is(scalar(@left), 0, 'no process of the killed run is left') or diag "@left";

# --- kill -9 while base-push waits for the stop segment to reach the repository
# archiving broken: archive_command = 'false'; with pgark_archive.so (pass
# local+library) a pgark.config that does not exist (not configured).
# pg_backup_stop(false) returns at once; base-push then reads the snapshot
# (the session's last query while it waits) and looks for the segment.
my $break_archiving = archiver_is_library()
  ? "ALTER SYSTEM SET pgark.config = '$tmp/no-such-pgark.conf'"
  : "ALTER SYSTEM SET archive_command = 'false'";
my $mend_archiving = archiver_is_library() ? 'ALTER SYSTEM RESET pgark.config' : 'ALTER SYSTEM RESET archive_command';
$primary->safe_psql('postgres', "$break_archiving; SELECT pg_reload_conf();");
sleep 0.5;
($reached, $alive, $status, $kout, $kerr) = kill_base_push('pg_current_snapshot', 1, '--fast', '--label', 'killed-in-stop');
ok($reached, 'base-push called pg_backup_stop (archiving is broken: it waits)') or diag "base-push stderr: $kerr";
ok($alive && ($status & 127) == 9, 'base-push was killed while waiting for the archive')
  or diag "status $status; stdout: $kout\nstderr: $kerr";
@after = backups_in_repo($env);
is(scalar(@after), scalar(@before), 'no manifest for the run killed before its stop segment was archived')
  or diag "before: @before\nafter: @after";

# --- archiving still broken: base-push gives up after [backup] archive_timeout,
# names the segment and what pg_stat_archiver says, and leaves no manifest
{
	my $tconf = env_variant($env, "$env->{dir}/archive-timeout.conf", { backup => { archive_timeout => 3 } });
	my $t0 = time;
	my $tr = base_push($tconf, '--fast', '--label', 'never-archived');
	my $took = time - $t0;
	is($tr->{rc}, 1, 'archiving broken: base-push exits 1 after archive_timeout') or diag $tr->{stderr};
	like($tr->{stderr}, qr/WAL segment [0-9A-F]{24} \(of [0-9A-F]{24} to [0-9A-F]{24}\) did not reach the repository within 3 s \(\[backup\] archive_timeout\)/,
		'the error names the segment, the backup\'s WAL and the setting');
	# (an archive library that is not configured is not even called: no
	# failures to quote, only what was archived last)
	like($tr->{stderr},
		archiver_is_library()
		? qr/pg_stat_archiver: last archived \S+ at /
		: qr/pg_stat_archiver: last archived \S+ at .*; \d+ failures, the last for [0-9A-F]{24}/,
		'the error quotes pg_stat_archiver (the archiver\'s failures, if it failed)');
	ok($took >= 3 && $took < 60, "it waited about archive_timeout ($took s)");
	@after = backups_in_repo($env);
	is(scalar(@after), scalar(@before), 'no manifest for the backup whose stop segment never arrived');
}
$primary->safe_psql('postgres', "$mend_archiving; SELECT pg_reload_conf();");
ok($primary->poll_query_until('postgres', $no_other_session), 'once archiving works again, that session ended too');

# --- the stop segment stored while an earlier segment of the backup is not
# (as wal-push's look-ahead can leave it: later .ready segments stored while
# the one called for fails): base-push must wait for every segment from its
# start to its stop, not the stop segment alone. The archive_command here
# refuses one segment (named in a file) and pushes the .ready segments after
# it instead. A pg_switch_wal() between the backup's start and its stop puts
# them in two segments; tried again if it lands elsewhere.
{
	my $hold = "$tmp/hold";
	my $script = "$tmp/archive-hold.sh";
	my $wp = pgark_bin('wal-push');
	write_bytes($script, qq{#!/bin/sh
n=\$(basename "\$1")
if [ "\$n" = "\$(cat '$hold' 2>/dev/null)" ]; then
	for r in pg_wal/archive_status/*.ready; do
		s=\$(basename "\$r" .ready)
		[ "\$s" = "\$n" ] || '$wp' --config '$conf' "pg_wal/\$s"
	done
	exit 1
fi
exec '$wp' --config '$conf' "\$1"
});
	chmod 0755, $script or die "chmod $script: $!";
	my $tconf = env_variant($env, "$env->{dir}/wait5.conf", { backup => { archive_timeout => 5 } });
	$primary->safe_psql('postgres', "ALTER SYSTEM SET archive_library = ''; "
		  . "ALTER SYSTEM SET archive_command = '$script %p'; SELECT pg_reload_conf();");
	$primary->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS slow AS SELECT g, md5(g::text) v FROM generate_series(1, 300000) g');
	my ($res, $c);
	for my $try (1 .. 4)
	{
		my $done = switch_wal($primary);
		ok($primary->poll_query_until('postgres', "SELECT last_archived_wal >= '$done' FROM pg_stat_archiver"),
			"try $try: archived up to $done") or last;
		# pg_backup_start switches to a new segment first: the backup starts in
		# the one after the current one (a record first: right after a switch
		# the insert position is at the boundary, named as the finished one)
		my $cur = $primary->safe_psql('postgres', q{SELECT pg_walfile_name(pg_logical_emit_message(false, 'pgark-test', 'x'))});
		$c = sprintf('%s%08X', substr($cur, 0, 16), hex(substr($cur, 16)) + 1);
		write_bytes($hold, $c);
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start([ pgark_bin('base-push'), '--config', $tconf, '--progress=off', '--fast', '--full-read' ],
			'>', \$out, '2>', \$err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		# once the backup has started (its session idle after it), the switch
		$primary->poll_query_until('postgres',
			q{SELECT count(*) > 0 FROM pg_stat_activity WHERE query ILIKE '%pg_backup_start%' AND state = 'idle'});
		$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
		$h->finish;
		$res = { rc => $h->result(0), stderr => $err };
		unlink $hold;
		last if $err =~ /\(of \Q$c\E to (?!\Q$c\E)/;
		# a backup that did not need the refused segment may have completed:
		# take its manifest away again
		my %was = map { $_ => 1 } @before;
		repo_remove_object($env, "base/$_/manifest") for grep { !$was{$_} } backups_in_repo($env);
		note "try $try: the switch did not land between the backup's start and stop: again";
	}
	is($res->{rc}, 1, "base-push exits 1: $c, the backup's start segment, never reached the repository");
	like($res->{stderr}, qr/WAL segment \Q$c\E \(of \Q$c\E to ([0-9A-F]{24})\) did not reach the repository/,
		'naming it and the backup\'s WAL') or diag $res->{stderr};
	my ($stop) = $res->{stderr} =~ /\(of \Q$c\E to ([0-9A-F]{24})\)/;
	ok(defined $stop && repo_object_exists($env, wal_object_name($stop)),
		'while its stop segment was in the repository: that alone did not count');
	is(scalar(backups_in_repo($env)), scalar(@before), 'no manifest');
	$primary->safe_psql('postgres', "ALTER SYSTEM RESET archive_command; ALTER SYSTEM RESET archive_library; SELECT pg_reload_conf();");
	ok(wait_for_archive($primary, $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())')),
		'with the segment no longer refused, archiving catches up');
}

# --- the next backup, read in full under load (tables created, grown and
# dropped while it runs), completes and restores
$primary->safe_psql('postgres', q{
	INSERT INTO small SELECT g, 'after the kill' FROM generate_series(1001, 1100) g;
	CREATE TABLE grow (v int);
});
my $churn = "$tmp/churn.sql";
write_bytes($churn, q{\set n random(1, 100000000)
CREATE TABLE churn_:n AS SELECT g FROM generate_series(1, 3000) g;
INSERT INTO grow SELECT generate_series(1, 200);
DROP TABLE churn_:n;
});
my ($lout, $lerr) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-h', $primary->host, '-p', $primary->port, '-c', '2', '-j', '2', '-T', '6',
	  '-b', 'tpcb-like@3', '-f', "$churn\@1", 'postgres' ],
	'>', \$lout, '2>', \$lerr, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
sleep 0.5;
$r = base_push($conf, '--fast', '--full-read', '--label', 'under-load');
$load->finish;
is($load->result(0), 0, 'pgbench (tpcb-like and table churn) ran during the backup') or diag $lerr;
is($r->{rc}, 0, 'the next backup, under load: exit 0') or diag show($r);
unlike($r->{stderr}, qr/ERROR/, 'no error on the way (vanished and growing files are fine)') or diag $r->{stderr};
my $b4 = $r->{json} // {};
note 'backup #4 (after the kills, under load): ' . figures($b4);
is(scalar(backups_in_repo($env)), scalar(@before) + 1, 'its manifest is in the repository');
my $expect = state($primary, 'small', 'grow')
  . '; churn ' . $primary->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'churn\_%'});
my $seg = switch_wal($primary);
ok(wait_for_archive($primary, $seg), "archived up to $seg");

my $rn = restored_node('restored');
$r = pitr_prepare($conf, $rn->data_dir);
is($r->{rc}, 0, 'restore of the backup after the kill: exit 0') or diag show($r);
is($r->{json}{backup_id}, $b4->{backup_id}, 'the newest backup was restored');
setup_restored($rn);
$rn->start(fail_ok => 1);
ok(wait_for_recovery_end($rn), 'recovery finished') or diag "server log:\n" . tail_of($rn->logfile);
is(eval { state($rn, 'small', 'grow') . '; churn ' . $rn->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'churn\_%'}) }
	  // "error: $@", $expect, 'the restored data is the primary\'s');

# --- pitr-prepare refuses bad inputs (the restored node is running)
my $rdir = $rn->data_dir;
my $pgconf_before = slurp_bytes("$rdir/postgresql.conf");
for my $mode ('--force', '--delta')
{
	$r = pitr_prepare($conf, $rdir, $mode);
	is($r->{rc}, 1, "a running postmaster's directory ($mode): exit 1") or diag show($r);
	like($r->{stderr}, qr/postmaster|running/i, "$mode: the message says a postmaster runs there") or diag $r->{stderr};
}
is(slurp_bytes("$rdir/postgresql.conf"), $pgconf_before, 'the running node\'s files are untouched');
is(eval { $rn->safe_psql('postgres', 'SELECT count(*) FROM small') } // "error: $@", '1100', 'the running node still works');
$rn->stop('fast', fail_ok => 1);

my $nonempty = "$tmp/nonempty";
make_path($nonempty);
write_bytes("$nonempty/keep.me", "precious\n");
$r = pitr_prepare($conf, $nonempty);
is($r->{rc}, 1, 'a non-empty directory without --delta or --force: exit 1') or diag show($r);
like($r->{stderr}, qr/not empty|non-empty|--delta|--force/i, 'the message says the directory is not empty') or diag $r->{stderr};
is(join(' ', list_dir($nonempty)), 'keep.me', 'the non-empty directory is left as it was');

my @bad = (
	[ 'no backup ended before the target time', 1, [ '--target-time', '2000-01-01 00:00:00+00' ], undef ],
	[ 'no backup ended before the target LSN', 1, [ '--target-lsn', '0/1' ], undef ],
	[ 'a target time without a time zone', 2, [ '--target-time', '2026-11-27 12:00:00' ], qr/zone/i ],
	[ 'two targets (time and LSN)', 'usage', [ '--target-time', '2026-11-27 12:00:00+00', '--target-lsn', '0/3000000' ], qr/target/i ],
	[ 'two targets (xid and immediate)', 'usage', [ '--target-xid', '1234', '--target', 'immediate' ], qr/target/i ],
	[ 'an unknown target action', 'usage', [ '--target-action', 'explode' ], qr/target-action|explode/i ],
	[ 'an unknown backup', 1, [ '--backup', '20000101T000000Z-dead' ], qr/20000101T000000Z-dead/ ],
);
# the oldest backup's stop time, as the message must name it
my ($oday, $otime) = ($b1->{stop_time} // '') =~ /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/;
for my $i (0 .. $#bad)
{
	my ($what, $rc, $args, $msg) = @{ $bad[$i] };
	my $dir = "$tmp/bad$i";
	$r = pitr_prepare($conf, $dir, @$args);
	if ($rc eq 'usage')
	{
		ok($r->{rc} == 2 || $r->{rc} == 1, "$what: refused (exit $r->{rc})") or diag show($r);
		note "$what: exit $r->{rc} (2 expected for a usage error)" if $r->{rc} != 2;
	}
	else
	{
		is($r->{rc}, $rc, "$what: exit $rc") or diag show($r);
	}
	if ($i < 2)
	{
		like($r->{stderr}, qr/\Q$oday\E.*\Q$otime\E|\Q$oday\E[T ]\Q$otime\E/s, "$what: the message names the oldest backup's stop time ($b1->{stop_time})")
		  or diag $r->{stderr};
	}
	else
	{
		like($r->{stderr}, $msg, "$what: a clear message") or diag $r->{stderr};
	}
	note "$what: $r->{stderr}";
	ok(!-e $dir || !list_dir($dir), "$what: nothing written");
}

# a symbolic link in the target directory must not lead pitr-prepare outside it
my $outside = "$tmp/outside";
make_path($outside);
write_bytes("$outside/sentinel", "outside\n");
my $linked = "$tmp/linked";
make_path($linked);
chmod 0700, $linked;
symlink($outside, "$linked/global") or die "symlink: $!";
$r = pitr_prepare($conf, $linked, '--force');
note "pitr-prepare --force over a directory with global -> outside: exit $r->{rc}: $r->{stderr}";
is(join(' ', list_dir($outside)), 'sentinel', 'nothing was written through the symbolic link');
is(slurp_bytes("$outside/sentinel"), "outside\n", 'the file outside is untouched');
ok($r->{rc} != 0 || (!-l "$linked/global" && -f "$linked/global/pg_control"),
	'the link is either refused or replaced by a real directory');

# --- a repository of another cluster
my $other = PostgreSQL::Test::Cluster->new('other');
$other->init;
my $oenv = new_env(name => 'other', pgdata => $other->data_dir);
my $oconf = env_variant($env, "$env->{dir}/other.conf",
	{ repo => repo_config($oenv->{repo}), crypto => { key_file => $oenv->{key} } });
my ($sys, $osys) = (system_identifier_of($primary->data_dir), system_identifier_of($other->data_dir));
$r = base_push($oconf, '--fast');
is($r->{rc}, 1, 'base-push into another cluster\'s repository: exit 1') or diag show($r);
like($r->{stderr}, qr/\Q$sys\E/, "the message names the server's system identifier ($sys)") or diag $r->{stderr};
like($r->{stderr}, qr/\Q$osys\E/, "the message names the repository's system identifier ($osys)") or diag $r->{stderr};
is(scalar(backups_in_repo($oenv)), 0, 'no backup in the other repository');
ok($primary->poll_query_until('postgres', $no_other_session), 'no backup session left on the server');

# --- a bad page checksum is reported, the backup succeeds
$primary->safe_psql('postgres', q{
	CREATE TABLE victim AS SELECT g AS id, repeat(md5(g::text), 3) AS v FROM generate_series(1, 5000) g;
	CHECKPOINT;
});
my $rel = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
my $pages = $primary->safe_psql('postgres', q{SELECT pg_relation_size('victim') / 8192});
ok($pages > 3, "victim has $pages pages ($rel)");
$primary->stop;
my $block = 2;
{
	my $path = $primary->data_dir . "/$rel";
	open my $fh, '+<:raw', $path or die "open $path: $!";
	my $off = $block * 8192 + 4000;
	seek $fh, $off, 0 or die;
	read($fh, my $byte, 1) == 1 or die "read $path";
	seek $fh, $off, 0 or die;
	print $fh chr(ord($byte) ^ 0xFF) or die;
	close $fh or die;
}
$primary->start;
my $audit_before = scalar(read_audit($env));
$r = base_push($conf, '--fast', '--label', 'bad-page');
is($r->{rc}, 0, 'a bad page checksum does not fail the backup: exit 0') or diag show($r);
note 'backup with a bad page: ' . figures($r->{json} // {});
ok(($r->{json}{bad_checksums} // 0) >= 1, 'bad_checksums >= 1 in --json');
like($r->{stderr}, qr/WARNING.*\Q$rel\E/, "a WARNING names the file ($rel)") or diag $r->{stderr};
like($r->{stderr}, qr/\Q$rel\E.*block\D{0,3}$block\b|block\D{0,3}$block\b.*\Q$rel\E/, "the WARNING names block $block")
  or diag $r->{stderr};
my @new_audit = (read_audit($env))[ $audit_before .. scalar(read_audit($env)) - 1 ];
ok((grep { JSON::PP->new->canonical->encode($_) =~ /checksum/i } @new_audit), 'an audit record reports the bad checksum')
  or diag join("\n", map { JSON::PP->new->canonical->encode($_) } @new_audit);

done_testing();
