
# 005_concurrent.pl — wal-push racing itself on one name. Eight pushes of the
# same segment released at once: all exit 0, one object, byte-exact, no temp
# file. Two different contents raced under one name: exactly one wins, the
# other exits 1 with a conflict, and the object is the winner's.
use strict;
use warnings;

use Fcntl qw(:flock);
use File::Path qw(make_path);
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

use PgarkTest;

my $node = PostgreSQL::Test::Cluster->new('concurrent');
$node->init;
$node->start;
my @names;
for (1 .. 4)
{
	$node->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS c(i int); INSERT INTO c SELECT generate_series(1, 20000)');
	push @names, switch_wal($node);
}
my $env = new_env(name => 'concurrent', pgdata => $node->data_dir);
my $segs = "$env->{dir}/segs";
make_path($segs);
for my $n (@names)
{
	write_bytes("$segs/$n", slurp_bytes($node->data_dir . "/pg_wal/$n"));
}
$node->stop;

# Start one process per command, all blocked on a lock the parent holds, wait
# until every one is queued on it, then release them together. Returns the
# exit codes and stderr of each.
my $barrier = "$env->{dir}/barrier";
sub race
{
	my (@cmds) = @_;
	open my $lock, '>', $barrier or die "$barrier: $!";
	flock($lock, LOCK_EX) or die "flock: $!";
	my $ino = (stat $barrier)[1];
	my @kids;
	for my $i (0 .. $#cmds)
	{
		my $pid = fork() // die "fork: $!";
		if ($pid == 0)
		{
			open my $l, '<', $barrier or POSIX::_exit(126);
			flock($l, LOCK_SH) or POSIX::_exit(126);
			close $l;
			open STDOUT, '>', "$env->{dir}/race-$i.out" or POSIX::_exit(126);
			open STDERR, '>', "$env->{dir}/race-$i.err" or POSIX::_exit(126);
			exec @{ $cmds[$i] } or POSIX::_exit(127);
		}
		push @kids, $pid;
	}
	# every child queued behind our lock? (/proc/locks lists waiters with "->")
	my $deadline = time() + 20;
	while (time() < $deadline)
	{
		open my $pl, '<', '/proc/locks' or last;
		my $waiting = grep { /->.*:$ino\s/ } <$pl>;
		close $pl;
		last if $waiting >= @cmds;
		usleep(10_000);
	}
	flock($lock, LOCK_UN);
	close $lock;
	my @res;
	for my $i (0 .. $#kids)
	{
		waitpid($kids[$i], 0);
		push @res, { rc => $? >> 8, stderr => slurp_bytes("$env->{dir}/race-$i.err") };
	}
	return @res;
}

my $push = pgark_bin('wal-push');

# 1. Eight pushes of the same segment.
my $name = $names[0];
my $obj  = wal_object_name($name);
my @res  = race(map { [ $push, '--config', $env->{conf}, "$segs/$name" ] } 1 .. 8);
is_deeply([ map { $_->{rc} } @res ], [ (0) x 8 ], 'eight simultaneous pushes of one segment: all exit 0')
  or diag join '', map { $_->{stderr} } @res;
is_deeply([ repo_list_objects($env, 'wal/') ], [$obj], 'one object stored');
is_deeply([ repo_list_all($env, 'wal/') ], [$obj], 'no temp file (nor any other object) left beside it');
my %pushed = ($obj => 1);
my $r = run_pgark('wal-fetch', '--config', $env->{conf}, $name, "$env->{dir}/fetched");
is($r->{rc}, 0, 'it fetches');
ok(slurp_bytes("$env->{dir}/fetched") eq slurp_bytes("$segs/$name"), 'byte-exact');
unlink "$env->{dir}/fetched";
my @audit = grep { $_->{object} eq $obj && $_->{program} eq 'wal-push' } read_audit($env);
is(scalar(grep { $_->{result} eq 'ok' } @audit), 1, 'audit: exactly one push stored it');
is(scalar(grep { $_->{result} eq 'exists' } @audit), 7, 'audit: seven found it already there, identical');
# how many ran at the same time as the winner (started before it finished)?
my ($win) = grep { $_->{result} eq 'ok' } @audit;
my $t = sub {
	my ($iso) = @_;
	my ($h, $m, $s) = $iso =~ /T(\d\d):(\d\d):(\d\d\.\d+)Z/;
	return ($h * 3600 + $m * 60 + $s) * 1000;
};
my $overlap = grep { $t->($_->{time}) - $_->{duration_ms} < $t->($win->{time}) } grep { $_->{result} eq 'exists' } @audit;
note "$overlap of 7 losers started before the winner had finished";

# 2. Different contents raced under one name, a few rounds.
for my $round (1 .. 3)
{
	my $n = $names[$round];
	my $dirA = "$env->{dir}/A$round";
	my $dirB = "$env->{dir}/B$round";
	make_path($dirA, $dirB);
	my $a = slurp_bytes("$segs/$n");
	my $b = $a;
	substr($b, 8 * 1024 * 1024, 8) = 'DIFFERNT';
	write_bytes("$dirA/$n", $a);
	write_bytes("$dirB/$n", $b);
	my @rr = race([ $push, '--config', $env->{conf}, "$dirA/$n" ], [ $push, '--config', $env->{conf}, "$dirB/$n" ]);
	my @rcs = sort map { $_->{rc} } @rr;
	is_deeply(\@rcs, [ 0, 1 ], "round $round: one of two different contents wins, the other exits 1");
	my ($loser) = grep { $_->{rc} == 1 } @rr;
	like($loser->{stderr} // '', qr/already archived with DIFFERENT content; refusing to overwrite it/,
		"round $round: the loser reports a conflict");
	my $winner = $rr[0]{rc} == 0 ? $a : $b;
	my $o = wal_object_name($n);
	$r = run_pgark('wal-fetch', '--config', $env->{conf}, $n, "$env->{dir}/fetched");
	is($r->{rc}, 0, "round $round: the object fetches");
	ok(slurp_bytes("$env->{dir}/fetched") eq $winner, "round $round: the object is the winner's content, whole");
	unlink "$env->{dir}/fetched";
	$pushed{$o} = 1;
	is_deeply([ repo_list_all($env, 'wal/') ], [ sort keys %pushed ], "round $round: no temp file (nor any other object) left");
	my @au = grep { $_->{object} eq $o && $_->{program} eq 'wal-push' } read_audit($env);
	is_deeply([ sort map { $_->{result} } @au ], [ 'conflict', 'ok' ], "round $round: audit ok + conflict");
}

done_testing();
