
# 013_fetch_ahead.pl — wal-fetch's prefetch ([archive] spool, fetch_ahead).
# Archive recovery through wal-fetch with prefetch on replays to the end with
# exactly the primary's data, and segments really come from the spool (the
# audit log says "prefetched"); afterwards no helper runs and the spool holds
# at most fetch_ahead segments. Recovery that follows a newer timeline's
# .history gets that timeline's segments prefetched too. With the helper
# killed (kill -9) at random points all the time, recovery still replays to
# the end. A standby restoring from the archive alone prefetches the same way,
# and starts no helper while it waits for a segment not archived yet. A
# garbage, truncated or misnamed file in the spool, or one of an earlier
# boot, is never delivered: the repository's segment is.
use strict;
use warnings;

use Fcntl qw(:flock);
use File::Basename qw(basename);
use File::Copy qw(copy);
use File::Path qw(make_path);
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $AHEAD = 4;
my $SEG = 16 * 1024 * 1024;

my ($primary, $env) = archiving_cluster('primary', conf => "shared_buffers = '16MB'");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
});
$primary->backup('b1');

# About twenty segments after the backup, each with changes of its own.
my @segs;
for my $i (1 .. 20)
{
	$primary->safe_psql('postgres', qq{
		INSERT INTO t SELECT g, md5(g::text) FROM generate_series($i * 10000, $i * 10000 + 2000) g;
		UPDATE t SET v = 'round $i' WHERE id % 97 = $i;
	});
	push @segs, switch_wal($primary);
}
my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM t};
my $expected = $primary->safe_psql('postgres', $checksum_sql);
ok(wait_for_archive($primary, $segs[-1]), "primary archived up to $segs[-1]");
$primary->stop;

# A restored node whose wal-fetch prefetches into $spool. restore_command
# waits a little before wal-fetch, standing in for the replay of a busy
# segment, so that the helper gets ahead of recovery.
sub restore_node
{
	my ($name, $spool, %o) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($primary, 'b1', has_restoring => 1, standby => $o{standby} // 0);
	my $audit = "$env->{dir}/$name-audit.jsonl";
	my $conf = env_variant(
		$env,
		"$env->{dir}/$name.conf",
		{
			postgres => { pgdata      => $node->data_dir },
			log      => { audit       => $audit },
			archive  => { spool       => $spool, fetch_ahead => $AHEAD },
		});
	$node->append_conf('postgresql.conf', sprintf(qq{
hot_standby = off
restore_command = 'sleep %s; %s'
%s
%s
}, $o{delay} // '0.2', restore_command_for($conf), $o{archive} ? archive_settings_for($conf) : 'archive_mode = off',
		$o{conf} // ''));
	return ($node, $conf, { audit => $audit });
}

sub fetch_dir
{
	my ($spool) = @_;
	my @d = glob("$spool/fetch-*");
	return @d == 1 ? $d[0] : undef;
}

sub segments_in
{
	my ($dir) = @_;
	return defined $dir ? grep { /^[0-9A-F]{24}$/ } list_dir($dir) : ();
}

# True once no helper holds the lock of $dir (within $secs seconds).
sub helper_gone
{
	my ($dir, $secs) = @_;
	my $deadline = time() + $secs;
	while (1)
	{
		open my $fh, '<', "$dir/helper.lock" or return 1;
		my $free = flock($fh, LOCK_SH | LOCK_NB);
		close $fh;
		return 1 if $free;
		return 0 if time() > $deadline;
		select(undef, undef, undef, 0.2);
	}
}

# pids of prefetch helpers started with configuration $conf
sub helper_pids
{
	my ($conf) = @_;
	my @pids;
	for my $p (glob('/proc/[0-9]*'))
	{
		open my $fh, '<', "$p/cmdline" or next;
		local $/;
		my $cmd = <$fh> // '';
		close $fh;
		my @argv = split /\0/, $cmd;
		push @pids, $p =~ s{.*/}{}r
		  if (grep { $_ eq '--prefetch-helper' } @argv) && (grep { $_ eq $conf } @argv);
	}
	return @pids;
}

# 1. Recovery with prefetch: the data, the spool served segments, and after
# the end no helper and at most fetch_ahead segments in the spool.
my $spool = "$env->{dir}/spool";
my ($r1, $conf1, $aud1) = restore_node('restored', $spool, archive => 1);
# meanwhile, the working directory of each helper seen holding the lock (it
# takes it once it has left the data directory)
my $cwds = "$env->{dir}/helper-cwds";
my $watcher = fork() // die "fork: $!";
if ($watcher == 0)
{
	$SIG{TERM} = sub { POSIX::_exit(0) };
	while (1)
	{
		my $fd = fetch_dir($spool);
		my $holder = '';
		if (defined $fd && open(my $lf, '<', "$fd/helper.lock"))
		{
			$holder = <$lf> // '';
			close $lf;
			chomp $holder;
		}
		if ($holder =~ /^\d+$/ && grep { $_ eq $holder } helper_pids($conf1))
		{
			my $cwd = readlink("/proc/$holder/cwd");
			if (defined $cwd && open(my $out, '>>', $cwds))
			{
				print $out "$holder $cwd\n";
				close $out;
			}
		}
		select(undef, undef, undef, 0.01);
	}
}
$r1->start;
ok(wait_for_recovery_end($r1), 'recovery with prefetch finished and the node promoted')
  or diag tail_of($r1->logfile);
kill 'TERM', $watcher;
waitpid($watcher, 0);
my %cwd_of = map { split / /, $_, 2 } -e $cwds ? split(/\n/, slurp_file($cwds)) : ();
note 'helpers seen holding the lock: ' . scalar(keys %cwd_of);
ok(%cwd_of && !(grep { $_ ne '/' } values %cwd_of),
	'every helper seen works from / (not the data directory): ' . join(', ', sort values %cwd_of));
is($r1->safe_psql('postgres', $checksum_sql), $expected, 'restored data is exactly what the primary committed');
like(slurp_file($r1->logfile), qr/restored log file "\Q$segs[-1]\E" from archive/, "replayed up to $segs[-1]");
my @a1 = read_audit($aud1);
my @served = grep { $_->{program} eq 'wal-fetch' && $_->{action} eq 'fetch' && ($_->{detail} // '') eq 'prefetched' } @a1;
my @prefetched = grep { $_->{action} eq 'prefetch' && $_->{result} eq 'ok' } @a1;
note sprintf "%d segments delivered from the spool, %d prefetched", scalar @served, scalar @prefetched;
cmp_ok(scalar @served, '>=', 5, 'wal-fetch delivered segments from the spool ("prefetched" in the audit log)');
ok((grep { $_->{bytes} == $SEG && $_->{result} eq 'ok' } @served) == @served, '... each a whole segment');
cmp_ok(scalar @prefetched, '>=', scalar @served, 'the helper recorded what it prefetched');
ok(!(grep { $_->{action} eq 'prefetch' && $_->{result} ne 'ok' } @a1), 'no prefetch failed')
  or diag explain [ grep { $_->{action} eq 'prefetch' && $_->{result} ne 'ok' } @a1 ];
my $fdir = fetch_dir($spool);
ok(defined $fdir, 'the spool has one fetch directory');
ok(helper_gone($fdir, 30), 'no prefetch helper runs once recovery is over');
cmp_ok(scalar(segments_in($fdir)), '<=', $AHEAD, "at most fetch_ahead ($AHEAD) segments stay in the spool");
is((stat($fdir))[2] & 07777, 0700, 'the fetch directory is mode 0700');

# New timeline 2, archived into the same repository, for part 2.
my @tl2;
for my $i (1 .. 4)
{
	$r1->safe_psql('postgres', qq{INSERT INTO t SELECT g, 'tl2 $i' FROM generate_series(1000000 + $i * 100, 1000000 + $i * 100 + 50) g});
	push @tl2, switch_wal($r1);
}
like($tl2[-1], qr/^00000002/, "timeline 2 segments up to $tl2[-1]");
my $expected2 = $r1->safe_psql('postgres', $checksum_sql);
ok(wait_for_archive($r1, $tl2[-1]), 'the promoted node archived timeline 2');
$r1->stop;

# 2. A new restore of b1 follows 00000002.history (recovery_target_timeline
# = latest, the default): timeline 2's segments are prefetched under their
# timeline 2 names and served.
my ($r2, $conf2, $aud2) = restore_node('follow', "$env->{dir}/spool-follow");
$r2->start;
ok(wait_for_recovery_end($r2), 'recovery across the timeline switch finished') or diag tail_of($r2->logfile);
is($r2->safe_psql('postgres', $checksum_sql), $expected2, 'restored data is timeline 2\'s');
my @a2 = read_audit($aud2);
my @served2 = grep { $_->{action} eq 'fetch' && ($_->{detail} // '') eq 'prefetched' && $_->{object} =~ m{/00000002[0-9A-F]{16}$} } @a2;
note 'timeline 2 segments from the spool: ' . join(' ', map { $_->{object} =~ s{.*/}{}r } @served2);
cmp_ok(scalar @served2, '>=', 1, 'timeline 2 segments were prefetched and delivered from the spool');
ok(helper_gone(fetch_dir("$env->{dir}/spool-follow"), 30), 'no helper left');
$r2->stop;

# 3. kill -9 of the helper at random points while recovery runs.
my ($r3, $conf3, $aud3) = restore_node('killed', "$env->{dir}/spool-killed", delay => '0.1');
my $kills = "$env->{dir}/kills";
my $killer = fork() // die "fork: $!";
if ($killer == 0)
{
	$SIG{TERM} = sub { POSIX::_exit(0) };
	srand($$);
	while (1)
	{
		for my $pid (helper_pids($conf3))
		{
			if (kill('KILL', $pid))
			{
				open my $fh, '>>', $kills;
				print $fh "$pid\n";
				close $fh;
			}
		}
		select(undef, undef, undef, 0.01 + rand(0.25));
	}
}
$r3->start;
my $ended = wait_for_recovery_end($r3);
kill 'TERM', $killer;
waitpid($killer, 0);
ok($ended, 'recovery with the helper killed again and again finished') or diag tail_of($r3->logfile);
my $nkills = 0;
$nkills = scalar(split /\n/, slurp_file($kills)) if -e $kills;
note "helpers killed: $nkills";
cmp_ok($nkills, '>=', 3, 'helpers were killed (kill -9) during recovery');
is($r3->safe_psql('postgres', $checksum_sql), $expected2, 'restored data is complete and exact');
my @a3 = read_audit($aud3);
ok(!(grep { $_->{program} eq 'wal-fetch' && $_->{action} eq 'fetch' && $_->{result} ne 'ok' } @a3),
	'no wal-fetch call failed');
my $fdir3 = fetch_dir("$env->{dir}/spool-killed");
ok(helper_gone($fdir3, 30), 'no helper left');
$r3->stop;

# 4. A standby (standby.signal, no streaming: the archive only) replays
# through the spool the same way, and once it has caught up, its calls for
# the next segment (not archived: exit 1, every 5 s) start no helper.
my $sbspool = "$env->{dir}/spool-standby";
my ($sb, $confsb, $audsb) = restore_node('standby', $sbspool, standby => 1, conf => 'hot_standby = on');
ok(-e $sb->data_dir . '/standby.signal', 'a standby');
$sb->start;
my $caught_up = 0;
for (1 .. $PostgreSQL::Test::Utils::timeout_default * 2)
{
	my $got = query_once($sb, $checksum_sql);
	if (defined $got && $got eq $expected2) { $caught_up = 1; last; }
	select(undef, undef, undef, 0.5);
}
ok($caught_up, 'the standby replayed the whole archive (timeline 2\'s data)') or diag tail_of($sb->logfile);
is(query_once($sb, 'SELECT pg_is_in_recovery()'), 't', '... and is still a standby');
my @asb = read_audit($audsb);
cmp_ok(scalar(grep { $_->{action} eq 'fetch' && ($_->{detail} // '') eq 'prefetched' } @asb), '>=', 5,
	'the standby got segments from the spool');
my $sbdir = fetch_dir($sbspool);
ok(helper_gone($sbdir, 30), 'no helper runs while the standby waits for the next segment');
my $lock_mtime = (stat("$sbdir/helper.lock"))[9];
sleep 11;
is((stat("$sbdir/helper.lock"))[9], $lock_mtime, 'its "not found" calls in 11 s started no helper');
ok(postmaster_alive($sb), 'the standby is still running');
$sb->stop;

# 5. What must never be delivered. wal-fetch is called by hand with the
# configuration of part 1 (its spool has the meta file of a helper), holding
# the helper lock ourselves so that no helper starts and tidies the spool
# between planting a file and the call.
my $refconf = env_variant($env, "$env->{dir}/ref.conf", { archive => { fetch_ahead => 0 } });
my $out = "$env->{dir}/out";
make_path($out);
sub reference
{
	my ($name) = @_;
	my $r = run_pgark('wal-fetch', '--config', $refconf, $name, "$out/ref-$name");
	is($r->{rc}, 0, "reference fetch of $name without prefetch") or diag show($r);
	return slurp_bytes("$out/ref-$name");
}
open my $lock, '>>', "$fdir/helper.lock" or die "open $fdir/helper.lock: $!";
ok(flock($lock, LOCK_EX | LOCK_NB), 'the helper lock is ours');

my $n_served_before = scalar(grep { ($_->{detail} // '') eq 'prefetched' } read_audit($aud1));
sub fetch_planted
{
	my ($name, $bytes, $why, $expect_served) = @_;
	my $want = reference($name);
	write_bytes("$fdir/$name", $bytes);
	unlink "$out/$name";
	my $r = run_pgark('wal-fetch', '--config', $conf1, $name, "$out/$name");
	is($r->{rc}, 0, "$why: wal-fetch exit 0") or diag show($r);
	ok(slurp_bytes("$out/$name") eq $want, "$why: what was delivered is the archived segment, byte for byte");
	my $served = scalar(grep { ($_->{detail} // '') eq 'prefetched' } read_audit($aud1)) - $n_served_before;
	$n_served_before += $served;
	is($served, $expect_served ? 1 : 0, $expect_served ? "$why: delivered from the spool" : "$why: not delivered from the spool");
	ok(!-e "$fdir/$name", "$why: the spool file is gone");
	return $r;
}
# the control: a sound file is delivered from the spool
my $good = reference($segs[2]);
fetch_planted($segs[2], $good, 'a sound prefetched file', 1);
my $r;
$r = fetch_planted($segs[3], "garbage\n" x 1000, 'a garbage file', 0);
like($r->{stderr}, qr/not using a prefetched file: .*\Q$segs[3]\E/, '... wal-fetch says it did not use it');
my $seg4 = reference($segs[4]);
$r = fetch_planted($segs[4], substr($seg4, 0, length($seg4) / 2), 'a half-written (truncated) file', 0);
like($r->{stderr}, qr/bytes, not the segment size/, '... refused for its size');
$r = fetch_planted($segs[6], reference($segs[5]), 'another segment under this name', 0);
like($r->{stderr}, qr/not at .* as its name says/, '... refused for its page address');
# a file of an earlier boot (its meta names another boot id)
my $meta = slurp_bytes("$fdir/meta");
(my $other = $meta) =~ s/^boot .*$/boot 00000000-0000-0000-0000-000000000000/m;
write_bytes("$fdir/meta", $other);
fetch_planted($segs[7], reference($segs[7]), 'a file prefetched before a reboot', 0);
write_bytes("$fdir/meta", $meta);
# cleanup: files of segments before the one asked for go, also on other timelines
write_bytes("$fdir/$segs[0]", $good);
(my $tl9 = $segs[1]) =~ s/^00000001/00000009/;
write_bytes("$fdir/$tl9", $good);
write_bytes("$fdir/.000000010000000000000099.pgark-999999999.tmp", 'x');
fetch_planted($segs[8], reference($segs[8]), 'a sound file again', 1);
ok(!-e "$fdir/$segs[0]" && !-e "$fdir/$tl9", 'segments before the one asked for were removed');
ok(!-e "$fdir/.000000010000000000000099.pgark-999999999.tmp", 'a temp file of a dead process was removed');
close $lock;

# The spool on another filesystem than the destination (tmpfs): the file is
# copied beside DEST and renamed, not moved.
SKIP:
{
	my $shm = '/dev/shm';
	skip 'no writable /dev/shm on a filesystem of its own', 5
	  unless -d $shm && -w $shm && (stat($shm))[0] != (stat($out))[0];
	my $xspool = "$shm/pgark-013-$$";
	my $xdir = "$xspool/" . basename($fdir);
	my $xconf = env_variant($env, "$env->{dir}/xdev.conf",
		{ log => { audit => $aud1->{audit} }, archive => { spool => $xspool, fetch_ahead => $AHEAD } });
	make_path($xdir);
	chmod 0700, $xspool, $xdir;
	copy("$fdir/meta", "$xdir/meta") or die "copy meta: $!";
	open my $xlock, '>>', "$xdir/helper.lock" or die "open $xdir/helper.lock: $!";
	flock($xlock, LOCK_EX | LOCK_NB) or die "lock $xdir/helper.lock: $!";
	my $name = $segs[10];
	my $want = reference($name);
	write_bytes("$xdir/$name", $want);
	my $before = scalar(grep { ($_->{detail} // '') eq 'prefetched' } read_audit($aud1));
	my $r = run_pgark('wal-fetch', '--config', $xconf, $name, "$out/$name");
	is($r->{rc}, 0, 'spool on another filesystem: wal-fetch exit 0') or diag show($r);
	ok(slurp_bytes("$out/$name") eq $want, '... the archived segment, byte for byte');
	is(scalar(grep { ($_->{detail} // '') eq 'prefetched' } read_audit($aud1)) - $before, 1, '... from the spool');
	ok(!-e "$xdir/$name", '... and gone from the spool');
	is_deeply([ temp_files_in($out) ], [], '... no temp file left beside DEST');
	close $xlock;
	File::Path::rmtree($xspool);
}

# A segment that is not in the repository: exit 1, no helper started.
$r = run_pgark('wal-fetch', '--config', $conf1, '0000000100000000000000FE', "$out/none");
is($r->{rc}, 1, 'a segment not in the repository: exit 1');
ok(!helper_pids($conf1), '... and no helper started for it');

done_testing();
