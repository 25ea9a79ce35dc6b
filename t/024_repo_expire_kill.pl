
# 024_repo_expire_kill.pl — repo-expire killed (kill -9) at random points
# while it removes backups, WAL and packs: after each kill the repository is
# consistent (repo-verify --all passes, every remaining backup is listed
# usable), the next run takes over the dead run's lock, and a final run
# finishes the job; the kept backup then restores to the end of the archive.
use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgarkTest;

my ($node, $env) = backup_cluster('primary', conf => "wal_keep_size = '1GB'\n");
my $conf = $env->{conf};
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t (id int, v text)');

# six backups, each with its own data (so each has packs of its own) and WAL
for my $i (1 .. 6)
{
	$node->safe_psql('postgres',
		"INSERT INTO t SELECT g, repeat(md5(g::text || '$i'), 20) FROM generate_series(1, 20000) g");
	switch_wal($node) for 1 .. 2;
	my $b = base_push($conf, '--fast');
	is($b->{rc}, 0, "base-push #$i") or diag show($b);
	$node->safe_psql('postgres', "DELETE FROM t WHERE id % 2 = $i % 2; VACUUM FULL t");
}
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
sleep 2;
my $pol = env_variant($env, "$env->{dir}/kill.conf", { retention => { keep_last => 1, pitr_window => '1s' } });

my $objects_before = scalar(my @all = repo_list_objects($env, ''));
srand($ENV{PGARK_TEST_SEED} // time);
# kill within about the time a run takes (a dry run does the same reading)
my $t0 = Time::HiRes::time();
run_pgark('repo-expire', '--config', $pol, '--dry-run');
my $span = int((Time::HiRes::time() - $t0) * 1_500_000) + 5_000;
note "killing within $span us";
my $kills = 0;

# After a kill: consistent, and the run after it finishes the job.
sub check_consistent
{
	my ($what) = @_;
	my $v = run_pgark('repo-verify', '--config', $conf, '--all');
	is($v->{rc}, 0, "$what: repo-verify --all passes") or diag show($v);
	my $l = JSON::PP::decode_json(run_pgark('repo-list', '--config', $conf, '--json')->{stdout});
	my @bad = grep { $_->{status} ne 'ok' } @{ $l->{backups} };
	is(scalar @bad, 0, "$what: every remaining backup is usable") or diag JSON::PP::encode_json(\@bad);
	return;
}

sub kill_at
{
	my ($us) = @_;
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start([ pgark_bin('repo-expire'), '--config', $pol ], '>', \$o, '2>', \$e);
	usleep($us);
	my $killed = 0;
	if ($h->pumpable)
	{
		kill 'KILL', $h->{KIDS}[0]{PID};
		$killed = 1;
	}
	$h->finish;
	return $killed;
}

if (backend_is_local())
{
	# the same repository killed at points spread over a whole run: each
	# round starts again from a copy of it
	my $repo = $env->{repo};
	system('cp', '-a', $repo, "$repo.orig") == 0 or die "cp: $?";
	for my $round (0 .. 9)
	{
		system('rm', '-rf', $repo) == 0 && system('cp', '-a', "$repo.orig", $repo) == 0 or die "restore: $?";
		my $at = int($span * $round / 10 + rand($span / 10));
		next unless kill_at($at);
		$kills++;
		check_consistent("killed after ${at} us");
		my $r = run_pgark('repo-expire', '--config', $pol);
		is($r->{rc}, 0, "killed after ${at} us: the next run finishes") or diag show($r);
		check_consistent("killed after ${at} us, then finished");
	}
	system('rm', '-rf', "$repo.orig");
}
else
{
	# one repository: runs killed one after the other until one finishes
	for my $round (1 .. 8)
	{
		last unless kill_at(int(rand($span)));
		$kills++;
		check_consistent("round $round, killed");
	}
}
note "$kills runs killed";
ok($kills > 0, 'runs were killed part-way');

my $r = run_pgark('repo-expire', '--config', $pol, '--json');
is($r->{rc}, 0, 'a last run finishes the job (taking over a dead run\'s lock)') or diag show($r);
my $j = eval { JSON::PP::decode_json($r->{stdout}) } // {};
is($j->{backups_kept}, 1, 'one backup left');
ok($j->{packs_swept}, 'packs swept');
my $r2 = run_pgark('repo-expire', '--config', $pol, '--json');
my $j2 = eval { JSON::PP::decode_json($r2->{stdout}) } // {};
is($j2->{backups_removed} + $j2->{wal_removed} + $j2->{packs_removed}, 0, 'and nothing is left to do');
ok(scalar(@all = repo_list_objects($env, '')) < $objects_before, 'the repository holds fewer objects than before');
ok(!repo_object_exists($env, 'locks/expire'), 'no lock left');

my $n2 = restored_node('after');
my $p = pitr_prepare($conf, $n2->data_dir);
is($p->{rc}, 0, 'pitr-prepare of the kept backup') or diag show($p);
setup_restored($n2);
$n2->start(fail_ok => 1);
ok(wait_for_recovery_end($n2), 'recovered to the end of the archive') or diag tail_of($n2->logfile);
is(query_once($n2, 'SELECT count(*) FROM t'), $rows, "$rows rows, as on the primary");
$n2->stop('fast', fail_ok => 1);
$node->stop;
done_testing();
