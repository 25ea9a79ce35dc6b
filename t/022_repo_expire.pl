
# 022_repo_expire.pl — repo-expire on a real cluster's repository: no policy
# is refused; --dry-run changes nothing; keep_last with a pin and a short
# pitr_window removes exactly the unkept backup and the WAL nobody needs,
# after which every kept backup restores (a pinned old one to its own end,
# the newest to the end of the archive) and repo-verify passes; a running
# backup (its marker from a live process) stops the pack sweep and a dead
# one's packs go; a base-push racing expires builds on a backup that is
# expired meanwhile and still restores; a held lock refuses a second expire
# and a lock of a process that is gone is taken over; an expire interrupted
# (a store that fails part-way) leaves a consistent repository that the next
# run finishes.
use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgarkTest;

my ($node, $env) = backup_cluster('primary', conf => q{
wal_keep_size = '1GB'
});
my $conf = $env->{conf};
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t (id int, v text)');

my $n = 0;
sub add_rows
{
	my ($k) = @_;
	$node->safe_psql('postgres', "INSERT INTO t SELECT g, md5(g::text) FROM generate_series($n + 1, $n + $k) g");
	$n += $k;
	return;
}

sub policy
{
	my ($name, %p) = @_;
	return env_variant($env, "$env->{dir}/$name.conf", { retention => {%p} });
}

sub expire
{
	my ($c, @args) = @_;
	return run_pgark('repo-expire', '--config', $c, @args);
}

sub expire_json
{
	my ($c, @args) = @_;
	my $r = expire($c, '--json', @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	return $r;
}

sub wal_files_in_repo
{
	return sort grep { !m{/history/} } repo_list_objects($env, 'wal/');
}

sub in_list
{
	my ($x, @l) = @_;
	return scalar grep { $_ eq $x } @l;
}

sub segs_in_repo
{
	return sort map { m{^wal/[0-9A-F]{16}/([0-9A-F]{24})$} ? ($1) : () } repo_list_objects($env, 'wal/');
}

sub packs_in_repo
{
	return sort grep { m{^packs/../[0-9a-f]{32}$} } repo_list_objects($env, 'packs/');
}

# Restore backup $id (or the newest) into a new node and return it running.
sub restore_and_check
{
	my ($name, $want_rows, @args) = @_;
	my $r = restored_node($name);
	my $p = pitr_prepare($conf, $r->data_dir, @args, (grep { /^--target/ } @args) ? ('--target-action', 'promote') : ());
	is($p->{rc}, 0, "$name: pitr-prepare exit 0") or diag show($p);
	setup_restored($r);
	$r->start(fail_ok => 1);
	ok(wait_for_recovery_end($r), "$name: recovery finished") or diag tail_of($r->logfile);
	is(query_once($r, 'SELECT count(*) FROM t'), $want_rows, "$name: $want_rows rows, as backed up");
	$r->stop('fast', fail_ok => 1);
	return;
}

# --- no policy: refused, nothing touched
{
	my $r = expire($conf);
	is($r->{rc}, 1, 'no [retention] policy: exit 1');
	like($r->{stderr}, qr/no retention policy.*\[retention\] keep_last/, '... naming the settings');
}

# --- four backups, WAL between them
my @b;
my %rows;
my ($t_mid, $t_mid_epoch, $mid_rows, $t_first);
for my $i (1 .. 4)
{
	add_rows(1000);
	switch_wal($node);
	my $r = base_push($conf, '--fast');
	is($r->{rc}, 0, "base-push #$i") or diag show($r);
	push @b, $r->{json}{backup_id};
	$rows{ $r->{json}{backup_id} } = $n;
	switch_wal($node) for 1 .. 2;
	if ($i == 1)
	{
		# a point after the first backup, which the window will not reach
		sleep 1;
		$t_first = $node->safe_psql('postgres', 'SELECT now()::text');
		sleep 1;
	}
	if ($i == 3)
	{
		# a point in time between the third and the fourth backup, which
		# the window must still reach after the expire (a second after the
		# backup's stop: backups are chosen by their stop time in seconds)
		sleep 1;
		add_rows(100);
		($t_mid, $t_mid_epoch) = split /\|/,
		  $node->safe_psql('postgres', q{SELECT now()::text || '|' || extract(epoch from now())::bigint});
		$mid_rows = $n;
		sleep 3;
	}
}
is_deeply([ backups_in_repo($env) ], \@b, 'backups made back to back sort in the order they were made');
add_rows(500);
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
my $total = $n;

is(run_pgark('repo-pin', '--config', $conf, '--reason', 'kept for audit', $b[0])->{rc}, 0, "pin $b[0]");

# keep_last 2 and a pitr_window reaching back to the point between b3 and
# b4: b3 and b4 by count, b1 by its pin; b2 goes. WAL: whole from b3's
# start (the window's backup), b1's own start..stop; the rest goes.
# (written again before each run: the window is "now minus a duration")
sub window_policy { return policy('last2', keep_last => 2, pitr_window => (time() - $t_mid_epoch) . 's'); }
my $pol = window_policy();

{
	my $before = repo_snapshot($env);
	my $r = expire_json(window_policy(), '--dry-run');
	is($r->{rc}, 0, 'dry run exit 0') or diag show($r);
	ok($r->{json}, 'dry run --json is JSON') or diag $r->{stdout};
	my %act = map { $_->{name} => $_ } grep { $_->{kind} eq 'backup' } @{ $r->{json}{items} // [] };
	is($act{ $b[1] }{action}, 'would-remove', "dry run: $b[1] would go");
	like($act{ $b[1] }{why}, qr/no rule keeps it/, '... and says why');
	is($act{ $b[0] }{action}, 'keep', "dry run: pinned $b[0] kept");
	like($act{ $b[0] }{why}, qr/pinned/, '... because it is pinned');
	like($act{ $b[3] }{why}, qr/newest usable backup.*keep_last 1/, "$b[3]: the newest, keep_last 1");
	like($act{ $b[2] }{why}, qr/keep_last 2.*pitr_window starts from it/, "$b[2]: keep_last 2, and the window starts from it");
	ok($r->{json}{wal_removed} > 0, 'dry run: some WAL would go');
	is_deeply(repo_snapshot($env), $before, 'dry run: the repository is unchanged, byte for byte');
	my $t = expire(window_policy(), '--dry-run');
	like($t->{stdout}, qr/^backup \Q$b[1]\E\s+would remove\s+no rule keeps it$/m, 'dry run table: the backup and why');
	like($t->{stdout}, qr/nothing was removed/, 'dry run table says nothing was removed');
	my $bad = expire($pol, '--now', '2030-01-01T00:00:00Z');
	is($bad->{rc}, 2, '--now without --dry-run is a usage error');
}

my @segs_before = segs_in_repo();
my @files_before = wal_files_in_repo();
my $r = expire_json(window_policy());
is($r->{rc}, 0, 'expire exit 0') or diag show($r);
is_deeply([ backups_in_repo($env) ], [ @b[ 0, 2, 3 ] ], "$b[1] removed, the others kept");
ok(!grep({ m{^base/\Q$b[1]\E/} } repo_list_objects($env, 'base/')), "nothing of $b[1] is left under base/");
my @segs_after = segs_in_repo();
ok(@segs_after < @segs_before, 'WAL removed: ' . scalar(@segs_before) . ' segments before, ' . scalar(@segs_after) . ' after');
my %after = map { $_ => 1 } wal_files_in_repo();
is($r->{json}{wal_removed}, scalar(grep { !$after{$_} } @files_before), '... as many WAL files as it says')
  or diag join("\n", @files_before), "\n--\n", join("\n", sort keys %after);
my $list = JSON::PP::decode_json(run_pgark('repo-list', '--config', $conf, '--json')->{stdout});
my %st = map { $_->{id} => $_ } @{ $list->{backups} };
is($st{$_}{status}, 'ok', "repo-list: $_ still ok (its own WAL kept)") for @b[ 0, 2, 3 ];
my ($first_kept) = grep { $_ ge $st{ $b[3] }{start_wal} } @segs_before;
ok((grep { $_ eq $st{ $b[2] }{start_wal} } @segs_after), "the window's backup's start segment $st{$b[2]}{start_wal} kept");
is($r->{json}{wal_kept_from}, $st{ $b[2] }{start_wal}, 'WAL kept whole from the window\'s backup on');
ok(!(grep { $_ ge $st{ $b[2] }{start_wal} && !in_list($_, @segs_after) } @segs_before), '... every segment from it on is still there');
ok(!(grep { $_ gt $st{ $b[0] }{stop_wal} && $_ lt $st{ $b[2] }{start_wal} } @segs_after),
	"no segment between $b[0]'s stop and $b[2]'s start is left");
is(run_pgark('repo-verify', '--config', $conf, '--all')->{rc}, 0, 'repo-verify --all passes after the expire');
my @audit = grep { ($_->{program} // '') eq 'repo-expire' } read_audit($env);
ok((grep { ($_->{object} // '') eq $b[1] && $_->{result} eq 'ok' } @audit), 'the removed backup is in the audit log');

restore_and_check('r_pinned', $rows{ $b[0] }, '--backup', $b[0], '--target', 'immediate');
restore_and_check('r_third',  $rows{ $b[2] }, '--backup', $b[2], '--target', 'immediate');
restore_and_check('r_latest', $total);
restore_and_check('r_window', $mid_rows, '--target-time', $t_mid);

# a point after the pinned backup's end but before the window: its WAL is
# gone, so pitr-prepare refuses it up front (naming the window), instead of
# leaving recovery to stop short of the target
{
	my $d = PostgreSQL::Test::Utils::tempdir();
	my $p = pitr_prepare($conf, "$d/pgdata", '--target-time', $t_first, '--target-action', 'promote');
	is($p->{rc}, 1, 'a target before the window: refused') or diag show($p);
	like($p->{stderr}, qr/outside the point-in-time window: backup \Q$b[0]\E restores only to its end.*--backup \Q$b[0]\E --target immediate/s,
		'... naming the backup that restores only to its end, and what can be done')
	  or diag $p->{stderr};
	ok(!-e "$d/pgdata", '... before writing anything');
}

# a second run (the window still reaching the same point) finds nothing more to do
$pol = window_policy();
$r = expire_json($pol);
is($r->{rc}, 0, 'second expire exit 0');
is($r->{json}{backups_removed}, 0, '... removes no backup');
is($r->{json}{wal_removed}, 0, '... and no WAL')
  or diag join("\n", map { "$_->{kind} $_->{name} $_->{why}" } @{ $r->{json}{items} // [] });

# --- running backups and the pack sweep
my $fake = '99990101T000000Z-beef';
my $sleeper = IPC::Run::start([ 'sleep', '300' ]);
my $spid = $sleeper->{KIDS}[0]{PID};
my $host = `hostname`;
chomp $host;
sub owner_text
{
	my ($magic, $pid) = @_;
	my $start = 0;
	if (open my $fh, '<', "/proc/$pid/stat")
	{
		my $s = <$fh>;
		close $fh;
		$s =~ s/^.*\)\s//;
		$start = (split / /, $s)[19];
	}
	my $boot = '?';
	if (open my $fh, '<', '/proc/sys/kernel/random/boot_id') { $boot = <$fh>; chomp $boot; close $fh; }
	my $ns = readlink('/proc/self/ns/pid') // '?';
	$ns =~ s/ /_/g;
	return "$magic\nhost $host\npid $pid\nstart $start\ntime 2026-01-01T00:00:00Z\nrealm $boot/$ns\n";
}
# an orphan pack: nothing refers to it
my $orphan = 'packs/ab/ab' . ('0' x 30);
repo_write_object($env, $orphan, 'x' x 100);
is(store_tool($env, 'seal', "base/$fake/running", { stdin => owner_text('pgark-running 1', $spid) })->{rc}, 0,
	'a running marker of a live process');
$r = expire_json($pol);
is($r->{rc}, 0, 'expire with a backup running: exit 0') or diag show($r);
is($r->{json}{packs_swept}, JSON::PP::false, '... packs not swept');
like($r->{json}{sweep_note}, qr/backup \Q$fake\E is running.*pid $spid/, '... saying which backup runs where');
ok(repo_object_exists($env, $orphan), '... the orphan pack stays');
$sleeper->kill_kill;
$sleeper->finish;
$r = expire_json($pol);
is($r->{rc}, 0, 'expire once that process is gone: exit 0') or diag show($r);
is($r->{json}{packs_swept}, JSON::PP::true, '... packs swept');
ok(!repo_object_exists($env, $orphan), '... the orphan pack removed');
ok(!repo_object_exists($env, "base/$fake/running"), '... and the dead backup\'s marker');
is(run_pgark('repo-verify', '--config', $conf, '--all')->{rc}, 0, 'repo-verify --all still passes');

# --- a base-push racing expires: keep_last 1 expires the backup it builds
# on while it runs; the new backup must still be whole
$node->safe_psql('postgres', q{CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS v FROM generate_series(1, 400000) g});
$pol = policy('last1', keep_last => 1);
my ($bp_out, $bp_err) = ('', '');
my $bp = IPC::Run::start([ pgark_bin('base-push'), '--config', $conf, '--progress=off', '--json', '--fast' ],
	'>', \$bp_out, '2>', \$bp_err);
my ($runs, $skipped) = (0, 0);
while ($bp->pumpable)
{
	my $e = expire_json($pol);
	$runs++;
	ok(0, 'an expire during base-push failed: ' . show($e)) if $e->{rc} != 0;
	$skipped++ if $e->{json} && !$e->{json}{packs_swept};
	$bp->pump_nb;
	usleep(10_000);
}
$bp->finish;
is($bp->result(0), 0, 'base-push racing expires: exit 0') or diag $bp_err;
note "$runs expires ran during the backup, $skipped skipped the pack sweep";
ok($skipped > 0, 'at least one expire saw the backup running and left the packs');
my $new = eval { JSON::PP::decode_json($bp_out)->{backup_id} } // '';
$r = expire_json($pol);
is($r->{rc}, 0, 'expire after the backup: exit 0');
is_deeply([ backups_in_repo($env) ], [ $b[0], $new ], 'the pinned backup and the new one remain');
my $v = run_pgark('repo-verify', '--config', $conf, '--backup', $new);
is($v->{rc}, 0, 'the backup made during the expires verifies: every chunk present') or diag show($v);
add_rows(10);
$last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
restore_and_check('r_raced', $n, '--backup', $new);

# --- a base-push killed part-way: its packs go with its marker
{
	my @p0 = packs_in_repo();
	$node->safe_psql('postgres', q{UPDATE big SET v = md5(v)});
	my $k = IPC::Run::start([ pgark_bin('base-push'), '--config', $conf, '--progress=off', '--fast' ],
		'>', \my $o, '2>', \my $e2);
	# stopped while the repository is looked at, so that it is caught
	# between its first pack and its manifest however fast it runs
	my $pid = $k->{KIDS}[0]{PID};
	my $grew = 0;
	for (1 .. 3000)
	{
		kill 'STOP', $pid;
		my @now = packs_in_repo();
		if (@now > @p0) { $grew = 1; last; }
		kill 'CONT', $pid;
		usleep(20_000);
	}
	kill 'KILL', $pid;
	$k->finish;
	ok($grew, 'the killed base-push had stored a pack');
	my @running = grep { m{/running$} } repo_list_objects($env, 'base/');
	is(scalar @running, 1, 'its marker is left behind');
	$r = expire_json($pol);
	is($r->{rc}, 0, 'expire after a killed base-push: exit 0') or diag show($r);
	is_deeply([ packs_in_repo() ], \@p0, 'its packs are removed, every other pack kept');
	ok(!(grep { m{/running$} } repo_list_objects($env, 'base/')), 'and its marker');
	is(run_pgark('repo-verify', '--config', $conf, '--all')->{rc}, 0, 'repo-verify --all passes');
}

# --- the lock
{
	my $s2 = IPC::Run::start([ 'sleep', '300' ]);
	my $p2 = $s2->{KIDS}[0]{PID};
	is(store_tool($env, 'seal', 'locks/expire', { stdin => owner_text('pgark-lock 1', $p2) })->{rc}, 0,
		'an expire lock held by a live process');
	my $before = repo_snapshot($env);
	my $e = expire($pol);
	is($e->{rc}, 1, 'a second expire is refused');
	like($e->{stderr}, qr/another repo-expire is running.*pid $p2/, '... naming the holder');
	$s2->kill_kill;
	$s2->finish;
	$e = expire($pol);
	is($e->{rc}, 0, 'its holder gone, the lock is taken over') or diag show($e);
	ok(!repo_object_exists($env, 'locks/expire'), 'and released at the end');
	is(store_tool($env, 'seal', 'locks/expire',
			{ stdin => "pgark-lock 1\nhost another-host.example\npid 1\nstart 1\ntime 2026-01-01T00:00:00Z\n" })->{rc},
		0, 'a fresh lock from another host');
	$e = expire($pol);
	is($e->{rc}, 1, '... is respected') or diag show($e);
	like($e->{stderr}, qr/another-host\.example/, '... naming the host');
	store_tool($env, 'rm', 'locks/expire');
}

# --- interrupted: the store fails part-way through removing WAL
if (backend_is_local())
{
	add_rows(10);
	switch_wal($node) for 1 .. 3;
	my $b5 = base_push($conf, '--fast');
	is($b5->{rc}, 0, 'another backup') or diag show($b5);
	$last = switch_wal($node);
	ok(wait_for_archive($node, $last), "archived up to $last");
	# WAL of timeline 1 lives in one directory here: make it read-only
	my ($dir) = map { m{^(wal/[0-9A-F]{16})/} ? ($1) : () } repo_list_objects($env, 'wal/');
	my $path = repo_object_path($env, $dir);
	chmod 0555, $path;
	my $pitr = policy('last1pitr', keep_last => 1, pitr_window => '1s');
	sleep 2;    # the new backup stopped more than pitr_window ago
	my $e = expire($pitr);
	chmod 0755, $path;
	isnt($e->{rc}, 0, 'an expire whose store fails part-way exits non-zero') or diag show($e);
	like($e->{stderr}, qr/removing/, '... saying what it could not remove');
	is_deeply([ backups_in_repo($env) ], [ $b[0], $b5->{json}{backup_id} ], '... the backups were expired first');
	is(run_pgark('repo-verify', '--config', $conf, '--all')->{rc}, 0, 'the repository is consistent: verify passes');
	ok(!repo_object_exists($env, 'locks/expire'), 'the failed run released its lock');
	$e = expire_json($pitr);
	is($e->{rc}, 0, 'the next expire finishes the job') or diag show($e);
	ok($e->{json}{wal_removed} > 0, '... removing the WAL the first could not');
	restore_and_check('r_after_interrupt', $n);
}

$node->stop;
done_testing();
