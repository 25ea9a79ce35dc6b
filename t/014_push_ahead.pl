
# 014_push_ahead.pl — wal-push's look-ahead ([archive] push_ahead with a
# spool). Called for one segment, wal-push also stores the other .ready
# segments and records each; PostgreSQL's later calls for them confirm the
# record against the store and return. A record never stands in for a missing
# object: one whose object is gone, whose file changed, or that was forged, is
# thrown away and the segment pushed again; a failed look-ahead never turns
# into a success. Under pgbench with wal-push killed -9 at random, no segment
# is marked .done without being in the repository, every archived segment
# fetches back byte-exact, and a restore replays to the end.
#
# Runs wal-push itself (archive_command), whatever the archiver of the pass.
use strict;
use warnings;

use File::Basename qw(basename);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster(
	'primary', conf => q{
wal_keep_size = '4GB'
max_wal_size = '4GB'
checkpoint_timeout = '1h'
shared_buffers = '32MB'
});
my $spool = "$env->{dir}/spool";
my $conf  = env_variant($env, "$env->{dir}/ahead.conf",  { archive => { spool => $spool, push_ahead => 8 } });
# step by step, one call at a time: no helper racing ahead (push_helper, below)
my $conf2 = env_variant($env, "$env->{dir}/ahead2.conf",
	{ archive => { spool => $spool, push_ahead => 2, push_helper => 'off' } });
my $pgdata = $node->data_dir;
my $wal    = "$pgdata/pg_wal";

# The archiver is held (archive_command fails) while .ready files pile up.
$node->append_conf('postgresql.conf', "archive_command = 'false'\narchive_library = ''\n");
$node->start;
my $real_command = pgark_bin('wal-push') . " --config $conf %p";

sub set_archive_command
{
	my ($cmd) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET archive_command = '$cmd'; SELECT pg_reload_conf()");
	return;
}

sub ready_segments
{
	return sort map { /^([0-9A-F]{24})\.ready$/ ? ($1) : () } list_dir("$wal/archive_status");
}

sub records    { return push_records($spool); }
sub record_dir { return push_record_dir($spool); }

# One call as PostgreSQL's archiver makes it; on success the file is marked
# .done as the archiver would. Returns (exit status, audit records of it, stderr).
sub push_as_archiver
{
	my ($cf, $name) = @_;
	my $before = () = read_audit($env);
	my $r = run_pgark({ cwd => $pgdata }, 'wal-push', '--config', $cf, "pg_wal/$name");
	rename("$wal/archive_status/$name.ready", "$wal/archive_status/$name.done") if $r->{rc} == 0;
	my @all = read_audit($env);
	return ($r->{rc}, [ @all[ $before .. $#all ] ], $r->{stderr});
}

sub own_push
{
	my ($recs, $name) = @_;
	my @own = grep { $_->{action} eq 'push' && ($_->{object} // '') =~ /\Q$name\E$/ } @$recs;
	return $own[0] // {};
}

sub ahead_names
{
	my ($recs, $result) = @_;
	return sort map { basename($_->{object}) }
	  grep { $_->{action} eq 'push-ahead' && (!defined $result || $_->{result} eq $result) } @$recs;
}

switch_wal($node) for 1 .. 13;
my @ready = ready_segments();
cmp_ok(scalar(@ready), '>=', 13, scalar(@ready) . ' segments are .ready with the archiver held');
my @x = @ready[ 0 .. 12 ];

# --- the call for X0 stores X1 and X2 as well (push_ahead = 2) ---
my ($rc, $recs, $stderr) = push_as_archiver($conf2, $x[0]);
is($rc, 0, "wal-push $x[0] exit 0") or diag $stderr;
is(own_push($recs, $x[0])->{result}, 'ok', "$x[0] stored by its own call");
is_deeply([ ahead_names($recs, 'ok') ], [ @x[ 1, 2 ] ], 'the two next .ready segments were stored ahead');
is_deeply([ records() ], [ @x[ 1, 2 ] ], 'a record for each of them, none for the segment asked for');
ok(repo_object_exists($env, wal_object_name($_)), "$_ is in the repository") for @x[ 0 .. 2 ];
ok(-e "$wal/archive_status/$x[1].ready", 'look-ahead did not mark anything .done');

# --- X1: confirmed from its record, nothing pushed ---
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[1]);
is($rc, 0, "wal-push $x[1] exit 0") or diag $stderr;
is(own_push($recs, $x[1])->{detail}, 'stored ahead by an earlier wal-push', "$x[1] answered from its record");
is_deeply([ ahead_names($recs) ], [], 'a confirmed call does no look-ahead');
is_deeply([ records() ], [ $x[2] ], 'its record was consumed');

# --- X2: the record's object is gone (a repository restored from elsewhere) ---
repo_remove_object($env, wal_object_name($x[2]));
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[2]);
is($rc, 0, "wal-push $x[2] exit 0 with its object gone") or diag $stderr;
is(own_push($recs, $x[2])->{result}, 'ok', "$x[2] pushed again, not answered from the record");
isnt(own_push($recs, $x[2])->{detail} // '', 'stored ahead by an earlier wal-push', 'not taken as stored ahead');
ok(repo_object_exists($env, wal_object_name($x[2])), "$x[2] is in the repository again");
is_deeply([ ahead_names($recs, 'ok') ], [ @x[ 3, 4 ] ], "$x[3] and $x[4] stored ahead");

# --- X3: the local file changed since its record (times differ) ---
utime(undef, undef, "$wal/$x[3]") or die "utime: $!";
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[3]);
is($rc, 0, "wal-push $x[3] exit 0 with its file touched") or diag $stderr;
is(own_push($recs, $x[3])->{result}, 'exists', "$x[3] checked against the repository again (identical)");

# --- X4 and X5 from their records; X6's object stored again (same bytes,
# so same size, but a new object): its record no longer vouches for it ---
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[4]);
is(own_push($recs, $x[4])->{detail}, 'stored ahead by an earlier wal-push', "$x[4] answered from its record");
is_deeply([ ahead_names($recs) ], [], 'no look-ahead on a confirmed call');
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[5]);
is(own_push($recs, $x[5])->{detail}, 'stored ahead by an earlier wal-push', "$x[5] answered from its record");
ok(-e record_dir() . "/$x[6]", "a record for $x[6] (stored ahead with $x[5] by the call for $x[3])");
{
	my $obj = wal_object_name($x[6]);
	my $bytes = repo_read_object($env, $obj);
	sleep 2;    # a later modification time, at the stores' one-second resolution
	repo_remove_object($env, $obj);
	repo_write_object($env, $obj, $bytes);
}
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[6]);
is($rc, 0, "wal-push $x[6] exit 0") or diag $stderr;
is(own_push($recs, $x[6])->{result}, 'exists',
	"$x[6]: its object was stored again since the record, so it is compared again (identical), not taken on the record's word");
is_deeply([ ahead_names($recs, 'ok') ], [ @x[ 7, 8 ] ], "$x[7] and $x[8] stored ahead");

for my $i (7, 8)
{
	($rc, $recs, $stderr) = push_as_archiver($conf2, $x[$i]);
	is(own_push($recs, $x[$i])->{detail}, 'stored ahead by an earlier wal-push', "$x[$i] answered from its record");
}

# --- X9 with a forged record ---
ok(!repo_object_exists($env, wal_object_name($x[9])), "sanity: $x[9] is not stored yet");
{
	# the file's identity as wal-push binds it: device, inode, size, mtime, ctime
	my $ident = `stat -c '%d %i %s %.9Y %.9Z' $wal/$x[9]`;
	chomp $ident;
	open my $fh, '>', record_dir() . "/$x[9]" or die $!;
	print $fh "pgark push record 2\nobject " . wal_object_name($x[9]) . "\nstored 1234\nmtime 0\nfile $ident\n";
	close $fh;
}
# plant damaged bytes under X9's name: its look-ahead must fail, not succeed
repo_write_object($env, wal_object_name($x[11]), 'PGARKOBJ' . ("\0" x 100));
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[9]);
is($rc, 0, "wal-push $x[9] exit 0 with a forged record") or diag $stderr;
is(own_push($recs, $x[9])->{result}, 'ok', "$x[9] pushed: a record never stands in for a missing object");
ok(repo_object_exists($env, wal_object_name($x[9])), "$x[9] is in the repository");
is_deeply([ ahead_names($recs, 'ok') ], [ $x[10] ], "$x[10] stored ahead");
my @bad = grep { $_->{action} eq 'push-ahead' && $_->{result} ne 'ok' } @$recs;
is(scalar(@bad), 1, "the look-ahead for $x[11] failed") and like($bad[0]{detail}, qr/\Q$x[11]\E/, 'naming it');
like($stderr, qr/look-ahead for \Q$x[11]\E: .*PostgreSQL's own call for it will push it/, 'and said so');
ok(!grep({ $_ eq $x[11] } records()), "no record for $x[11]");

($rc, $recs, $stderr) = push_as_archiver($conf2, $x[10]);
is($rc, 0, "wal-push $x[10] exit 0 (from its record)");
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[11]);
is($rc, 1, "wal-push $x[11] exit 1: the damaged object is there, the segment is not archived");
ok(-e "$wal/archive_status/$x[11].ready", "$x[11] stays .ready");
repo_remove_object($env, wal_object_name($x[11]));

# --- an unsafe spool: plain push, with a warning ---
my $rd = record_dir();
chmod 0777, $rd or die;
($rc, $recs, $stderr) = push_as_archiver($conf2, $x[11]);
is($rc, 0, "wal-push $x[11] exit 0 with a world-writable spool");
like($stderr, qr/look-ahead is off for this call: .*writable by group or others/, 'look-ahead off, and why');
is_deeply([ ahead_names($recs) ], [], 'no look-ahead');
chmod 0700, $rd or die;
# and above it: whoever can write to a directory above could swap the spool
chmod 0777, $spool or die;
switch_wal($node);
my ($xa) = grep { $_ gt $x[11] } ready_segments();
($rc, $recs, $stderr) = push_as_archiver($conf2, $xa);
is($rc, 0, "wal-push $xa exit 0 with the spool's parent world-writable");
like($stderr, qr/look-ahead is off for this call: .*\Q$spool\E" is writable by another user/,
	'look-ahead off, naming the directory');
chmod 0755, $spool or die;

# --- the helper: more .ready than a call takes; a detached helper stores the rest ---
use Fcntl qw(:flock);
my $conf3 = env_variant($env, "$env->{dir}/ahead3.conf", { archive => { spool => $spool, push_ahead => 2 } });

is(push_each(\&push_as_archiver, $conf2, ready_segments()), '', 'what was left .ready is archived (no helper)');

switch_wal($node) for 1 .. 8;
my @h = ready_segments();
cmp_ok(scalar(@h), '>=', 8, scalar(@h) . ' segments .ready');
($rc, $recs, $stderr) = push_as_archiver($conf3, $h[0]);
is($rc, 0, "wal-push $h[0] exit 0, two stored ahead, more .ready") or diag $stderr;
my $own_pid = own_push($recs, $h[0])->{pid} // -1;
is_deeply([ ahead_names([ grep { $_->{pid} == $own_pid } @$recs ], 'ok') ], [ @h[ 1, 2 ] ],
	"the call itself stored $h[1] and $h[2] ahead");
# the helper may not even have taken its lock yet: wait for its records first
for (1 .. 600)
{
	last if scalar(my @rr = records()) == $#h;
	select(undef, undef, undef, 0.1);
}
ok(wait_push_helper_gone($spool), 'a helper ran and ended');
is(-s push_helper_lock($spool), 0, 'its lock file no longer names it');
my @hrecs = grep { $_->{action} eq 'push-ahead' && $_->{result} eq 'ok' } read_audit($env);
my %hpid = map { basename($_->{object}) => $_->{pid} } @hrecs;
is_deeply([ grep { $hpid{$_} } @h[ 3 .. $#h ] ], [ @h[ 3 .. $#h ] ], 'the helper stored all the others ahead');
isnt($hpid{ $h[3] }, $hpid{ $h[1] }, 'in a process of its own');
is_deeply([ records() ], [ @h[ 1 .. $#h ] ], 'a record for each');
is_deeply([ push_claims($spool) ], [], 'no claim left');
my @not_confirmed;
for my $s (@h[ 1 .. $#h ])
{
	($rc, $recs, $stderr) = push_as_archiver($conf3, $s);
	push @not_confirmed, "$s: exit $rc " . (own_push($recs, $s)->{detail} // '')
	  unless $rc == 0 && (own_push($recs, $s)->{detail} // '') eq 'stored ahead by an earlier wal-push';
}
is_deeply(\@not_confirmed, [], "each later call answered from its record");

# a claim whose helper is gone (killed) is no reason to wait
# (one segment .ready at a time: no look-ahead stores the next one)
switch_wal($node);
my @one = ready_segments();
is(scalar(@one), 1, "only $one[0] is .ready");
open my $cf, '>', record_dir() . "/claim-$one[0]" or die $!;
close $cf;
my $t0 = time();
($rc, $recs, $stderr) = push_as_archiver($conf2, $one[0]);
is($rc, 0, "wal-push $one[0] exit 0 with a stale claim") or diag $stderr;
is(own_push($recs, $one[0])->{result}, 'ok', "$one[0] pushed by its own call");
cmp_ok(time() - $t0, '<', 10, 'without waiting');
unlink record_dir() . "/claim-$one[0]";

# a claim of a running helper: the call waits for its record; the helper
# ending without one, the call stores it itself
switch_wal($node);
push @one, ready_segments();
is(scalar(@one), 2, "only $one[1] is .ready");
open my $lock, '>>', push_helper_lock($spool) or die $!;
flock($lock, LOCK_EX) or die "flock: $!";
open $cf, '>', record_dir() . "/claim-$one[1]" or die $!;
close $cf;
my ($wo, $we) = ('', '');
my $waiter = IPC::Run::start([ pgark_bin('wal-push'), '--config', $conf2, "$wal/$one[1]" ], '>', \$wo, '2>', \$we,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
sleep 2;
ok($waiter->pumpable, "the call for $one[1] waits while a helper holds the lock and claims it");
ok(!repo_object_exists($env, wal_object_name($one[1])), "... and has not stored it");
close $lock;    # the helper "dies"
$waiter->finish;
is($waiter->result(0), 0, "once no helper holds the lock, the call stores $one[1] itself") or diag $we;
ok(repo_object_exists($env, wal_object_name($one[1])), "$one[1] is in the repository");
rename("$wal/archive_status/$one[1].ready", "$wal/archive_status/$one[1].done");
unlink record_dir() . "/claim-$one[1]";

# the same wait, answered from the record once it comes: here the record
# of k3 is made by the look-ahead of a call for k2 (no helper of its own)
switch_wal($node) for 1 .. 2;
my @k23 = grep { $_ gt $one[1] } ready_segments();
is(scalar(@k23), 2, "$k23[0] and $k23[1] are .ready");
open $lock, '>>', push_helper_lock($spool) or die $!;
flock($lock, LOCK_EX) or die "flock: $!";
open $cf, '>', record_dir() . "/claim-$k23[1]" or die $!;
close $cf;
my $before_w = () = read_audit($env);
($wo, $we) = ('', '');
$waiter = IPC::Run::start([ pgark_bin('wal-push'), '--config', $conf2, "$wal/$k23[1]" ], '>', \$wo, '2>', \$we,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
sleep 1;
ok($waiter->pumpable, "the call for $k23[1] waits for the helper's record");
($rc, $recs, $stderr) = push_as_archiver($conf2, $k23[0]);
is($rc, 0, "wal-push $k23[0] exit 0, storing $k23[1] ahead with a record") or diag $stderr;
$waiter->finish;
is($waiter->result(0), 0, "the waiting call for $k23[1] exit 0") or diag $we;
my @wrecs = read_audit($env);
my ($wpush) = grep { $_->{action} eq 'push' && $_->{object} eq wal_object_name($k23[1]) } @wrecs[ $before_w .. $#wrecs ];
is($wpush && $wpush->{detail}, 'stored ahead by an earlier wal-push', '... answered from the record it waited for');
close $lock;
unlink record_dir() . "/claim-$k23[1]";
rename("$wal/archive_status/$k23[1].ready", "$wal/archive_status/$k23[1].done");

# far more .ready than one scan keeps (4096): the oldest are taken, whatever the
# directory's order (20000 names of later segments, without their files)
{
	my @fake = map { sprintf('00000001000000FF%08X', $_) } 1 .. 20000;
	for my $f (@fake)
	{
		open my $fh, '>', "$wal/archive_status/$f.ready" or die $!;
		close $fh;
	}
	switch_wal($node) for 1 .. 3;
	my @r3 = grep { !/^00000001000000FF/ } ready_segments();
	is(scalar(@r3), 3, '3 real segments .ready among 20000 others');
	($rc, $recs, $stderr) = push_as_archiver($conf2, $r3[0]);
	is($rc, 0, "wal-push $r3[0] exit 0") or diag $stderr;
	is_deeply([ ahead_names($recs, 'ok') ], [ @r3[ 1, 2 ] ], 'the next two in order were stored ahead');
	unlink "$wal/archive_status/$_.ready" for @fake;
	is(push_each(\&push_as_archiver, $conf2, ready_segments()), '', 'and are answered from their records');
}

# kill -9 of the helper while it works: every call still archives its segment
switch_wal($node) for 1 .. 12;
my @kh = ready_segments();
($rc, $recs, $stderr) = push_as_archiver($conf3, $kh[0]);
is($rc, 0, "wal-push $kh[0] exit 0 (a helper started)") or diag $stderr;
# the helper's pid once it holds the lock (the file names the holder)
my $hp = '';
for (1 .. 100)
{
	$hp = -e push_helper_lock($spool) ? slurp_file(push_helper_lock($spool)) : '';
	chomp $hp;
	last if $hp =~ /^\d+$/ && push_helper_running($spool) && (eval { slurp_file("/proc/$hp/cmdline") } // '') =~ /--push-helper/;
	$hp = '';
	select(undef, undef, undef, 0.05);
}
my $claims_then = scalar(my @cl = push_claims($spool));
SKIP:
{
	skip 'the helper had ended before it could be seen', 1 if $hp eq '';
	# (it leaves the data directory once the repository is open)
	my $cwd = '';
	for (1 .. 100)
	{
		$cwd = readlink("/proc/$hp/cwd") // '';
		last if $cwd eq '/';
		select(undef, undef, undef, 0.02);
	}
	is($cwd, '/', 'the helper does not keep the data directory as its working directory');
}
kill 'KILL', $hp if $hp ne '';
note $hp ne '' ? "killed the helper (pid $hp) with $claims_then claims left" : 'the helper had ended before it could be killed';
ok(wait_push_helper_gone($spool), 'the helper is gone');
my (@fail, $from_record);
for my $s (@kh[ 1 .. $#kh ])
{
	($rc, $recs, $stderr) = push_as_archiver($conf3, $s);
	push @fail, "$s: exit $rc: $stderr" if $rc != 0;
	$from_record++ if (own_push($recs, $s)->{detail} // '') eq 'stored ahead by an earlier wal-push';
}
is_deeply(\@fail, [], 'after the kill every call exits 0');
note 'answered from records: ' . ($from_record // 0) . ' of ' . $#kh;
ok(wait_push_helper_gone($spool), 'no helper left running');
ok(repo_object_exists($env, wal_object_name($_)), "$_ is in the repository") for @kh;
is_deeply([ records() ], [], 'no record left');

# --- the archiver itself through a backlog, push_ahead = 8 ---
switch_wal($node) for 1 .. 24;
my $last = switch_wal($node);
set_archive_command($real_command);
ok(wait_for_archive($node, $last), "the archiver caught up to $last");
my @all = read_audit($env);
my $confirmed = grep { $_->{action} eq 'push' && ($_->{detail} // '') eq 'stored ahead by an earlier wal-push' } @all;
my $ahead_ok  = grep { $_->{action} eq 'push-ahead' && $_->{result} eq 'ok' } @all;
cmp_ok($confirmed, '>=', 15, "$confirmed of the archiver's calls were answered from records");
cmp_ok($ahead_ok, '>=', $confirmed, "$ahead_ok segments stored ahead");
my ($failed) = $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
note "failed_count (archive_command = false before): $failed";
is_deeply([ records() ], [], 'no record left once every segment is .done');

# --- every .done segment is in the repository and fetches back byte-exact ---
sub check_archive
{
	my ($what) = @_;
	my $copies = "$env->{dir}/copy-$what";
	my @saved = grep { /^[0-9A-F]{24}$/ } save_archived_wal($node, $copies);
	my (@missing, @differ);
	my $fetched = "$env->{dir}/fetched-$what";
	make_path($fetched);
	for my $name (@saved)
	{
		my $r = run_pgark('wal-fetch', '--config', $env->{conf}, $name, "$fetched/$name");
		if ($r->{rc} != 0) { push @missing, "$name: exit $r->{rc}"; next; }
		push @differ, $name unless slurp_bytes("$fetched/$name") eq slurp_bytes("$copies/$name");
		unlink "$fetched/$name";
	}
	is_deeply(\@missing, [], "$what: every segment marked .done is in the repository (" . scalar(@saved) . ')');
	is_deeply(\@differ, [], "$what: and fetches back byte-exact");
	return;
}
check_archive('backlog');

# --- a segment written or renamed while it is read is not stored ---
# (a reader that outlived PostgreSQL's protection of the file: recycled
# under it). wal-push is held 3 s in the posix_fadvise that follows the
# segment's open (strace -P: only that file's), and the file is touched
# meanwhile.
SKIP:
{
	my ($so, $se) = ('', '');
	my $strace_ok = eval { IPC::Run::run([ 'strace', '-o', '/dev/null', 'true' ], '>', \$so, '2>', \$se, IPC::Run::timeout(30)) };
	skip 'strace is not usable here', 5 unless $strace_ok;
	set_archive_command('false');    # the archiver held: this test's wal-push alone
	is(push_each(\&push_as_archiver, $conf2, ready_segments()), '', 'nothing left .ready');
	my $s = switch_wal($node);
	my $asan = join(':', grep { defined && $_ ne '' } $ENV{ASAN_OPTIONS}, 'detect_leaks=0');
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[ 'env', "ASAN_OPTIONS=$asan", 'strace', '-f', '-qq', '-o', '/dev/null', '-P', "$wal/$s", '-e', 'trace=fadvise64',
		  '-e', 'inject=fadvise64:delay_exit=3000000', pgark_bin('wal-push'), '--config', $env->{conf}, "$wal/$s" ],
		'>', \$o, '2>', \$e, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	sleep 1;
	utime(undef, undef, "$wal/$s") or die "utime: $!";
	$h->finish;
	is($h->result(0), 1, "wal-push $s exit 1: the file changed while it was read");
	like($e, qr/was written or renamed while being archived/, 'saying so');
	ok(!repo_object_exists($env, wal_object_name($s)), "$s was not stored");
	is(push_each(\&push_as_archiver, $conf2, ready_segments()), '', "and is stored by the next call");
	set_archive_command($real_command);
}

# --- kill -9 of wal-push at random points under pgbench ---
my $r = base_push($env->{conf}, '--fast');
is($r->{rc}, 0, 'base backup before the crash run') or diag $r->{stderr};
$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', 'postgres' ], 'pgbench -i');
my ($bo, $be) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-h', $node->host, '-p', $node->port, '-c', '4', '-j', '2', '-T', '20', 'postgres' ],
	'>', \$bo, '2>', \$be, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
# archive_command runs wal-push through a wrapper that, for two calls in three,
# sends it SIGKILL after 0-79 ms: at any point of a push, a look-ahead,
# a record's writing or a confirmation; and kills the look-ahead helper, when
# one runs, after one call in four
my $killer = "$env->{dir}/kill-wrapper";
my $killed = "$env->{dir}/killed";
my $killed_helpers = "$env->{dir}/killed-helpers";
open my $kw, '>', $killer or die $!;
print $kw <<"SH";
#!/bin/sh
"\$@" & pid=\$!
r=\$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
if [ \$((r % 3)) -ne 0 ]; then
	sleep 0.\$(printf '%03d' \$((r % 80)))
	kill -9 \$pid 2>/dev/null
fi
wait \$pid
st=\$?
# and one call in four, afterwards, SIGKILL for a look-ahead helper at work
if [ \$((r % 4)) -eq 1 ]; then
	for l in $spool/push-*/helper.lock; do
		hp=\$(cat "\$l" 2>/dev/null)
		case "\$hp" in ''|*[!0-9]*) continue ;; esac
		grep -q -- --push-helper /proc/\$hp/cmdline 2>/dev/null && kill -9 \$hp 2>/dev/null &&
			echo "\$hp" >>$killed_helpers
	done
fi
# above 128, PostgreSQL's archiver would exit (and restart only 10 s later)
[ \$st -eq 137 ] && echo "\$*" >>$killed && exit 1
exit \$st
SH
close $kw;
chmod 0755, $killer;
set_archive_command("$killer $real_command");
my $t_end = time() + 20;
while (time() < $t_end)
{
	select(undef, undef, undef, 0.05 + rand(0.1));
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
$bench->finish;
is($bench->result(0), 0, 'pgbench ran') or diag $be;
my $kills = 0;
$kills = scalar(my @k = split /\n/, slurp_file($killed)) if -e $killed;
cmp_ok($kills, '>', 5, "wal-push killed -9 $kills times");
my $hkills = 0;
$hkills = scalar(my @hk = split /\n/, slurp_file($killed_helpers)) if -e $killed_helpers;
note "look-ahead helpers killed -9: $hkills";
set_archive_command($real_command);
$last = switch_wal($node);
ok(wait_for_archive($node, $last), "the archiver caught up to $last after the kills");
check_archive('crash');
my %hash = map { $_ => table_hash($node, $_) } qw(pgbench_accounts pgbench_history pgbench_branches);

my $rn = restored_node('restored');
$r = pitr_prepare($env->{conf}, $rn->data_dir);
is($r->{rc}, 0, 'pitr-prepare') or diag $r->{stderr};
setup_restored($rn);
$rn->start(fail_ok => 1);
ok(wait_for_recovery_end($rn), 'the restore replayed to the end') or diag tail_of($rn->logfile);
is(table_hash($rn, $_), $hash{$_}, "$_ identical after the restore") for sort keys %hash;
$rn->stop;
ok(wait_push_helper_gone($spool), 'no look-ahead helper left running at the end');
$node->stop;
done_testing();
