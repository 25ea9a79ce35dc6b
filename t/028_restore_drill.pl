
# 028_restore_drill.pl — repo-verify --restore-drill, every backend: usage
# errors; a healthy drill (the newest backup restored on a scratch
# instance, replayed to the end of the archive, the WAL written after the
# backup counted, every database queried, pg_amcheck clean) passes, leaves
# the repository as it was but for status/drill and no scratch directory;
# repo-check reports it OK, WARNING past drill_max_age, and says when none
# was recorded; a drill interrupted records nothing; a backup of a cluster
# with a corrupted heap page and a corrupted btree page (made in the source
# cluster before the backup: data checksums are off) fails the drill (exit
# 1) naming both relations, and repo-check is CRITICAL; a segment missing
# from the archive (recovery stops at the gap and promotes) fails the drill,
# naming where replay ended and the segment.
use strict;
use warnings;

use JSON::PP ();
use Time::HiRes ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('primary');
$node->start;
my $dir = $env->{dir};
# short: the scratch instance's socket path must fit in 107 bytes
my $scratch = PostgreSQL::Test::Utils::tempdir_short();
is($node->safe_psql('postgres', 'SHOW data_checksums'), 'off', 'the test cluster has no data checksums');

sub check
{
	my ($c) = @_;
	my $r = run_pgark('repo-check', '--config', $c, '--json');
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	$r->{by} = { map { $_->{name} => $_ } @{ $r->{json}{checks} // [] } };
	return $r;
}

my %drill_env;
sub drill
{
	my (@args) = @_;
	my $t = Time::HiRes::time();
	my $r = run_pgark({ env => {%drill_env} }, 'repo-verify', '--config', $env->{conf}, '--restore-drill', '--json', '--progress=off',
		'--scratch-dir', $scratch, @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	$r->{elapsed} = Time::HiRes::time() - $t;
	return $r;
}

# the runs' directories, in the private per-user one (lib/scratch.h)
sub scratch_left { opendir(my $d, "$scratch/pgark-scratch-$>") or return (); return grep { /^\d+-/ } readdir $d; }

my %chk = (free_warn => '1M', free_crit => '1K');
my $conf = env_variant($env, "$dir/check.conf", { check => \%chk });
my $conf_age = env_variant($env, "$dir/age.conf", { check => { %chk, drill_max_age => '1s' } });
my $conf_week = env_variant($env, "$dir/week.conf", { check => { %chk, drill_max_age => '8d' } });

# --- usage errors
is(run_pgark('repo-verify', '--config', $env->{conf}, '--restore-drill', '--all')->{rc}, 2, '--restore-drill --all: exit 2');
is(run_pgark('repo-verify', '--config', $env->{conf}, '--restore-drill', '--wal')->{rc}, 2, '--restore-drill --wal: exit 2');
is(run_pgark('repo-verify', '--config', $env->{conf}, '--scratch-dir', $scratch)->{rc}, 2, '--scratch-dir without --restore-drill: exit 2');
{
	my $bad = env_variant($env, "$dir/badtimeout.conf", { restore => { drill_timeout => 'soon' } });
	my $b = run_pgark('repo-verify', '--config', $bad, '--restore-drill');
	ok($b->{rc} != 0 && $b->{stderr} =~ /drill_timeout/, '[restore] drill_timeout = soon: refused, naming the setting')
	  or diag show($b);
}
my $r = drill();
is($r->{rc}, 1, 'no backup yet: exit 1') or diag show($r);
like($r->{stderr}, qr/no backup to restore/, '... saying so');

# --- no drill yet: OK unless drill_max_age asks for one
$r = check($conf);
is($r->{by}{drill}{status}, 'OK', 'no drill recorded, drill_max_age 0: drill OK');
like($r->{by}{drill}{message}, qr/no restore drill recorded \(none required/, '... saying none is required');
$r = check($conf_week);
is($r->{by}{drill}{status}, 'WARNING', 'no drill recorded, drill_max_age 8d: WARNING');
like($r->{by}{drill}{message}, qr/no restore drill recorded: run repo-verify --restore-drill/, '... saying what to run');

# --- a healthy repository: two databases, WAL written after the backup
$node->safe_psql('postgres', 'CREATE DATABASE app');
# the backup's postgresql.auto.conf asks for archiving into the repository
# (the scratch instance must override it: checked below, nothing is added
# to the repository by the drill)
{
	my $ac = $node->safe_psql('postgres', 'SHOW archive_command');
	$ac =~ s/'/''/g;
	$node->safe_psql('postgres', "ALTER SYSTEM SET archive_mode = on");
	$node->safe_psql('postgres', "ALTER SYSTEM SET archive_command = '$ac'");
	like(slurp_bytes($node->data_dir . '/postgresql.auto.conf'), qr/archive_command = '.*wal-push/, 'the source\'s postgresql.auto.conf archives into the repository');
}
# per-database settings that would make pg_amcheck --install-missing fail,
# and refuse every connection that does not undo them (template1: the
# test connects to it no more)
$node->safe_psql('postgres', 'CREATE DATABASE ro');
$node->safe_psql('postgres', 'ALTER DATABASE ro SET default_transaction_read_only = on');
$node->safe_psql('postgres', q{ALTER DATABASE template1 SET session_preload_libraries = 'pgark_nosuch_lib'});
$node->safe_psql('app', 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g');
my $b1 = base_push($env->{conf}, '--fast');
is($b1->{rc}, 0, 'base-push') or diag $b1->{stderr};
$r = drill('--backup', 'nosuch');
is($r->{rc}, 1, 'a backup that does not exist: exit 1');
like($r->{stderr}, qr/no backup nosuch/, '... naming it');
$node->safe_psql('app', 'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(5001, 50000) g');
my $after = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn() - pg_lsn(\'' . $b1->{json}{start_lsn} . '\')')
  if defined $b1->{json}{start_lsn};
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
$node->stop;    # nothing archived during the drill: the repository must stay as it is
ok(!repo_object_exists($env, 'status/drill'), 'no drill recorded by the failed attempts');
my $before = repo_snapshot($env);

# libpq settings of the environment must not redirect the drill's connections
%drill_env = (PGHOSTADDR => '127.0.0.1', PGPORT => '1', PGSERVICE => 'nosuch', PGDATABASE => 'nosuch');
$r = drill();
%drill_env = ();
is($r->{rc}, 0, 'healthy (ro has default_transaction_read_only = on, template1 a missing session_preload_libraries; PGHOSTADDR, PGPORT, PGSERVICE set): the drill passes (exit 0)') or diag show($r);
my $j = $r->{json} // {};
is($j->{status}, 'ok', '... status ok');
is($j->{backup}, $b1->{json}{backup_id}, '... the newest backup');
is_deeply([ sort @{ $j->{databases} // [] } ], [qw(app postgres ro template1)], '... every database that allows connections queried');
is($j->{corruptions}, 0, '... pg_amcheck found nothing');
is($j->{amcheck_exit}, 0, '... and exited 0');
ok(($j->{rto_seconds} // 0) > 0 && ($j->{restore_seconds} // -1) >= 0 && ($j->{replay_seconds} // -1) >= 0,
	"... RTO $j->{rto_seconds}s (restore $j->{restore_seconds}s + replay $j->{replay_seconds}s)");
ok(abs($j->{rto_seconds} - $j->{restore_seconds} - $j->{replay_seconds}) < 0.01, '... RTO = restore + replay');
ok(($j->{prepare_seconds} // -1) >= 0 && $j->{prepare_seconds} + $j->{rto_seconds} <= $r->{elapsed} + 0.5,
	"... and what came before ($j->{prepare_seconds}s) apart, all within the run (" . ($r->{elapsed} // '?') . 's)');
ok(($j->{wal_bytes} // 0) >= ($after // 1), "... WAL replayed from the backup's start past the rows written after it ($j->{wal_bytes} >= " . ($after // '?') . ')');
like($r->{stderr}, qr/restore drill of backup \S+: PASSED\n\s+RTO [\d.]+ s \(restore [\d.]+ s, server start and WAL replay [\d.]+ s; before them [\d.]+ s, not in the RTO\)\n\s+WAL replayed: /,
	'... a human summary on stderr');
is_deeply([ scratch_left() ], [], '... no scratch directory left');
my $now = repo_snapshot($env);
my $drill_rec = delete $now->{'status/drill'};
ok(defined $drill_rec, '... status/drill recorded');
is_deeply([ sort keys %$now ], [ sort keys %$before ], '... no other object added or removed');
is_deeply([ grep { $now->{$_} ne $before->{$_} } keys %$before ], [], '... none changed');
my ($audit) = grep { $_->{action} eq 'drill' } read_audit($env);
is($audit->{result} // '', 'ok', '... audited');

$r = check($conf);
is($r->{by}{drill}{status}, 'OK', 'repo-check: drill OK') or diag explain $r->{by}{drill};
like($r->{by}{drill}{message}, qr/the last restore drill passed \(backup \Q$b1->{json}{backup_id}\E, RTO \d+s/, '... naming the backup and the RTO');
like($r->{by}{drill}{message}, qr/; the backup taken \d+(s|min \d+s) ago\)/, '... and the backup\'s age');
$r = check($conf_week);
is($r->{by}{drill}{status}, 'OK', '... within drill_max_age 8d: OK');
{
	my $prom = "$dir/pgark.prom";
	run_pgark('repo-check', '--config', $conf, '--prometheus', $prom);
	my %val = map { /^(pgark_last_drill_\w+) (\S+)$/ ? ($1 => $2) : () } split /\n/, slurp_bytes($prom);
	is($val{pgark_last_drill_ok}, 1, '... Prometheus: pgark_last_drill_ok 1');
	ok(defined $val{pgark_last_drill_age_seconds}, '... pgark_last_drill_age_seconds');
	ok(defined $val{pgark_last_drill_rto_seconds} && abs($val{pgark_last_drill_rto_seconds} - $j->{rto_seconds}) <= 1,
		'... pgark_last_drill_rto_seconds, the RTO (' . ($val{pgark_last_drill_rto_seconds} // 'none') . ')');
}
sleep 2;
$r = check($conf_age);
is($r->{by}{drill}{status}, 'WARNING', 'older than drill_max_age: WARNING');
like($r->{by}{drill}{message}, qr/older than \[check\] drill_max_age = 1s/, '... naming the setting');

# --- interrupted: nothing recorded, nothing left
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ pgark_bin('repo-verify'), '--config', $env->{conf}, '--restore-drill',
			'--progress=off', '--scratch-dir', $scratch ], '<', \undef, '>', \$out, '2>', \$err);
	my $deadline = time() + 60;
	select(undef, undef, undef, 0.05) until scratch_left() || time() > $deadline;
	ok(scalar(scratch_left()), 'a drill under way has its scratch directory');
	$h->signal('TERM');
	$h->finish;
	isnt($h->result(0), 0, 'interrupted (SIGTERM): a failure exit') or diag $err;
	like($err, qr/interrupted/, '... saying so');
	is_deeply([ scratch_left() ], [], '... no scratch directory left');
	is(repo_read_object($env, 'status/drill'), $drill_rec, '... and the last drill\'s record kept');
}

# --- SIGTERM to every process of the run (as systemd stops a unit: the
# server and pg_amcheck get it too) while pg_amcheck runs: nothing recorded
{
	my ($out, $err) = ('', '');
	# setsid: the drill leads a session of its own, the scratch server and
	# pg_amcheck in it, as in a unit's cgroup
	my $h = IPC::Run::start([ 'setsid', pgark_bin('repo-verify'), '--config', $env->{conf}, '--restore-drill',
			'--progress=off', '--scratch-dir', $scratch ], '<', \undef, '>', \$out, '2>', \$err);
	my $sid = $h->{KIDS}[0]{PID};
	my $session = sub {
		my %p;
		for my $st (glob '/proc/[0-9]*/stat')
		{
			open(my $f, '<', $st) or next;
			my $l = <$f> // next;
			my ($pid, $comm, $rest) = $l =~ /^(\d+) \((.*)\) (.*)$/s or next;
			my @f = split ' ', $rest;
			$p{$pid} = $comm if $f[3] == $sid;    # field 6: session
		}
		return \%p;
	};
	my $deadline = time() + 120;
	my $seen = 0;
	until ($seen || time() > $deadline || !kill(0, $sid))
	{
		$seen = grep { /pg_amcheck/ } values %{ $session->() };
		select(undef, undef, undef, 0.01) unless $seen;
	}
	ok($seen, 'pg_amcheck runs in the drill\'s session');
	kill 'TERM', keys %{ $session->() };
	$h->finish;
	isnt($h->result(0), 0, 'SIGTERM to the whole session during pg_amcheck: a failure exit') or diag $err;
	like($err, qr/interrupted/, '... saying interrupted') or diag $err;
	unlike($err, qr/FAILED/, '... no verdict');
	is(repo_read_object($env, 'status/drill'), $drill_rec, '... the last drill\'s record kept');
	is_deeply([ scratch_left() ], [], '... no scratch directory left');
}

# --- corruption made in the source cluster, then backed up
$node->start;
$node->safe_psql('app', 'CREATE TABLE corrupt_heap (id int, v text); INSERT INTO corrupt_heap SELECT g, repeat(\'x\', 20) FROM generate_series(1, 100) g');
$node->safe_psql('app', 'CREATE TABLE corrupt_idx (id int); INSERT INTO corrupt_idx SELECT generate_series(1, 100); CREATE INDEX corrupt_idx_i ON corrupt_idx (id)');
$node->safe_psql('app', 'CHECKPOINT');
my $heap = $node->data_dir . '/' . $node->safe_psql('app', q{SELECT pg_relation_filepath('corrupt_heap')});
my $idx = $node->data_dir . '/' . $node->safe_psql('app', q{SELECT pg_relation_filepath('corrupt_idx_i')});
$node->stop;
{
	# the heap: the tuple area at the end of page 0 (the first tuples'
	# headers: xmin, xmax ...) overwritten
	my $page = slurp_bytes($heap);
	substr($page, 8192 - 600, 200) = "\xff" x 200;
	write_bytes($heap, $page);
	# the btree: block 1 (the root leaf), its first item's key made the
	# largest int4 so that the items are out of order
	my $ix = slurp_bytes($idx);
	my $blk = 8192;
	my $lp = unpack('V', substr($ix, $blk + 24, 4));
	my $off = $lp & 0x7fff;
	is(unpack('l<', substr($ix, $blk + $off + 8, 4)), 1, 'the index\'s first item is key 1');
	substr($ix, $blk + $off + 8, 4) = pack('l<', 0x7fffffff);
	write_bytes($idx, $ix);
}
$node->start;
my $b2 = base_push($env->{conf}, '--fast');
is($b2->{rc}, 0, 'base-push of the corrupted cluster') or diag $b2->{stderr};
$last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
$node->stop;

$r = drill('--backup', 'latest');
is($r->{rc}, 1, 'corruption: the drill fails (exit 1)') or diag show($r);
$j = $r->{json} // {};
is($j->{status}, 'failed', '... status failed');
is($j->{backup}, $b2->{json}{backup_id}, '... --backup latest is the newest');
ok(($j->{corruptions} // 0) >= 2, "... pg_amcheck found corruption ($j->{corruptions})");
ok((grep { /heap table "app\.public\.corrupt_heap"/ } @{ $j->{corruption} // [] }), '... naming the heap table')
  or diag explain $j->{corruption};
ok((grep { /btree index "app\.public\.corrupt_idx_i"/ } @{ $j->{corruption} // [] }), '... and the btree index');
like($r->{stderr}, qr/: FAILED\n  RTO .*\n  WAL replayed: .*\n  databases: 4 queried, 0 failed; pg_amcheck \(heap, btree\): \d+ corruptions \([\d.]+ s\)\n  pg_amcheck found \d+ corruptions; /,
	'... FAILED on stderr, with what was found');
like($r->{stderr}, qr/corrupt_heap/, '... naming the relation there too');
is_deeply([ scratch_left() ], [], '... no scratch directory left');

$r = check($conf);
is($r->{rc}, 2, 'repo-check after a failed drill: exit 2') or diag show($r);
is($r->{by}{drill}{status}, 'CRITICAL', '... drill CRITICAL');
like($r->{by}{drill}{message}, qr/the last restore drill .*failed: .*corrupt_heap/, '... naming the relation');
like($r->{by}{drill}{message}, qr/backup \Q$b2->{json}{backup_id}\E, taken \d+(s|min \d+s) ago\) failed/, '... and the backup drilled, with its age');

# the older, sound backup passes: that says nothing about the newer one,
# repo-check stays CRITICAL, naming it
$r = drill('--backup', $b1->{json}{backup_id});
is($r->{rc}, 0, 'the older, sound backup drilled: exit 0') or diag show($r);
is($r->{json}{wal_complete}, JSON::PP::true, '... its replay reached the archive\'s newest segment');
$r = check($conf);
is($r->{by}{drill}{status}, 'CRITICAL', '... repo-check drill still CRITICAL: the newer backup\'s failure is not cleared')
  or diag explain $r->{by}{drill};
like($r->{by}{drill}{message}, qr/drill of backup \Q$b2->{json}{backup_id}\E failed.*passed for backup \Q$b1->{json}{backup_id}\E, an older one/,
	'... naming the failed backup and the one drilled');

# --- a gap in the archive: recovery stops there and promotes; the drill
# says it did not reach the end
$node->start;
my @segs;
for (1 .. 3)
{
	$node->safe_psql('app', 'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g ON CONFLICT DO NOTHING');
	push @segs, switch_wal($node);
}
ok(wait_for_archive($node, $segs[-1]), "archived up to $segs[-1]");
$node->stop;
repo_remove_object($env, wal_object_name($segs[1]));
$r = drill('--backup', $b1->{json}{backup_id});
is($r->{rc}, 1, 'a segment missing from the archive: the drill fails (exit 1)') or diag show($r);
is($r->{json}{wal_complete}, JSON::PP::false, '... the replay did not reach the end');
like($r->{json}{detail} // '', qr/replay ended at \S+, before the archive's newest segment \Q$segs[-1]\E/, '... saying where it ended and where the archive ends');
like($r->{json}{detail} // '', qr/\Q$segs[1]\E/, '... naming the missing segment');
$r = check($conf);
is($r->{by}{drill}{status}, 'CRITICAL', '... repo-check drill CRITICAL');

# --- a newer, sound backup passes: that clears the failures
$node->start;
$node->safe_psql('app', 'DROP TABLE corrupt_heap; DROP TABLE corrupt_idx');
my $b3 = base_push($env->{conf}, '--fast');
is($b3->{rc}, 0, 'base-push of the repaired cluster') or diag $b3->{stderr};
$last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
$node->stop;
$r = drill();
is($r->{rc}, 0, 'the newest backup, sound: the drill passes') or diag show($r);
$r = check($conf);
is($r->{by}{drill}{status}, 'OK', '... repo-check drill OK again') or diag explain $r->{by}{drill};
like($r->{by}{drill}{message}, qr/passed \(backup \Q$b3->{json}{backup_id}\E/, '... naming it');

done_testing();
