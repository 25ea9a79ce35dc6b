
# 015_push_ahead_faults.pl — wal-push's look-ahead ([archive] push_ahead with
# a spool) when the spool is full and when S3 is dead or slow. In every case
# the segment asked for gets the exit status of its own push, a look-ahead
# that failed leaves no record (so nothing is ever confirmed from one), the
# failure is audited ("push-ahead") and warned about, nothing is marked .done
# by wal-push, and PostgreSQL's own later calls store the segments.
#
# 1. Full spool (every backend): the spool on a full tmpfs in a user+mount
#    namespace (unshare -Urm, as t/004). The look-ahead pushes X1 and X2 but
#    cannot write their records ("No space left on device"); the call for X0
#    still exits 0. Outside the namespace the own calls for X1 and X2 find
#    them stored, identical ("exists"). wal-push refuses a spool below a
#    directory owned by another user, and in the namespace the real root's
#    "/" is owned by the overflow uid (65534): so wal-push runs chrooted into
#    a tmpfs root of the namespace's own, with /usr, /etc, /dev and the test's
#    directories bound in at their paths.
# 2. Dead S3 (PGARK_TEST_BACKEND=s3 only, through t/lib/FaultProxy.pm): every
#    PUT under wal/ answers 503 ([repo] retries 1, transfers 3: the own push
#    and both look-aheads at once): the call for Y0 exits 1, nothing stored, no
#    record, Y0 stays .ready; with the faults cleared Y0-Y2 are stored.
# 3. Faults only on one look-ahead segment (s3): Y3 and Y5 stored (Y5 with a
#    record), Y4 without a record, its failure audited; Y4's own call stores it.
# 4. Slow S3 (s3): every PUT under wal/ stalls past [repo] timeout (3 s):
#    the call with look-ahead exits non-zero within 60 s (a bound for a loaded
#    2-core machine; about 7 s here), no record, the segment stays .ready;
#    once the stalls are gone it is stored.
# 5. S3 dead for the look-ahead helper's segments only (s3): the call stores
#    its own and two ahead; the detached helper tries one round (two
#    segments), audits both as failed, leaves no record and no claim and
#    ends; PostgreSQL's own call for one of them fails at once; with S3 back
#    every call stores its segment.
# 6. S3 stalling the helper's segments (s3): a call for a segment the helper
#    has claimed waits for it, then pushes it itself and fails on its own
#    within a bound; the helper ends, no claim or record is left, and once S3
#    is fast every call stores its segment.
# Runs wal-push itself, the way PostgreSQL's archiver does; the server's
# archiver is held (archive_command = 'false') while .ready files pile up.
use strict;
use warnings;

use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use IPC::Run;
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FaultProxy;
use PgarkTest;

my ($node, $env) = backup_cluster(
	'primary', conf => q{
wal_keep_size = '4GB'
max_wal_size = '4GB'
checkpoint_timeout = '1h'
shared_buffers = '32MB'
});
my $pgdata = $node->data_dir;
my $wal    = "$pgdata/pg_wal";

$node->append_conf('postgresql.conf', "archive_command = 'false'\narchive_library = ''\n");
$node->start;

sub ready_segments
{
	return sort map { /^([0-9A-F]{24})\.ready$/ ? ($1) : () } list_dir("$wal/archive_status");
}

# One call as PostgreSQL's archiver makes it (cwd = pgdata, pg_wal/NAME); on
# success the file is marked .done as the archiver would. Returns (exit
# status, audit records of it, stderr, seconds it took).
sub push_as_archiver
{
	my ($cf, $name) = @_;
	my $before = () = read_audit($env);
	my $t0 = time;
	my $r = run_pgark({ cwd => $pgdata }, 'wal-push', '--config', $cf, "pg_wal/$name");
	my $secs = time - $t0;
	rename("$wal/archive_status/$name.ready", "$wal/archive_status/$name.done") if $r->{rc} == 0;
	my @all = read_audit($env);
	return ($r->{rc}, [ @all[ $before .. $#all ] ], $r->{stderr}, $secs);
}

sub own_push
{
	my ($recs, $name) = @_;
	my @own = grep { $_->{action} eq 'push' && ($_->{object} // '') =~ /\Q$name\E$/ } @$recs;
	return $own[0] // {};
}

# names of the segments of push-ahead audit records (of one result, or all)
sub ahead_names
{
	my ($recs, $result) = @_;
	return sort map { basename($_->{object}) }
	  grep { $_->{action} eq 'push-ahead' && (!defined $result || $_->{result} eq $result) } @$recs;
}

# push-ahead audit records that are failures (neither "ok" nor "exists")
sub ahead_failed
{
	my ($recs) = @_;
	return sort map { basename($_->{object}) }
	  grep { $_->{action} eq 'push-ahead' && $_->{result} ne 'ok' && $_->{result} ne 'exists' } @$recs;
}

# push-ahead audit records that are failures, for the given segments
sub ahead_failed_recs
{
	my ($recs, @names) = @_;
	my %want = map { $_ => 1 } @names;
	return grep {
		     $_->{action} eq 'push-ahead'
		  && $_->{result} ne 'ok'
		  && $_->{result} ne 'exists'
		  && $want{ basename($_->{object} // '') }
	} @$recs;
}

sub in_repo
{
	my ($name) = @_;
	return repo_object_exists($env, wal_object_name($name));
}

# $n new segments; they must be the only .ready ones, so that a look-ahead
# takes exactly these (in name order)
sub new_segments
{
	my ($n, $what) = @_;
	my %old = map { $_ => 1 } ready_segments();
	switch_wal($node) for 1 .. $n;
	my @new = grep { !$old{$_} } ready_segments();
	is_deeply([ ready_segments() ], [ @new[ 0 .. $n - 1 ] ], "$what: $n new segments, the only .ready ones");
	return @new[ 0 .. $n - 1 ];
}

# ====================================================================
# 1. the spool on a full filesystem
# ====================================================================
{
	my @x = new_segments(3, 'full spool');
	my $mnt  = "$env->{dir}/spoolfs";          # the tmpfs, in the namespace only
	my $root = PostgreSQL::Test::Utils::tempdir('newroot');    # not below a bound directory
	my $out  = "$env->{dir}/ns-out";
	make_path($mnt, $out);
	my $fspool = "$mnt/spool";
	my $fconf  = env_variant($env, "$env->{dir}/fullspool.conf", { archive => { spool => $fspool, push_ahead => 2 } });
	my $bin    = dirname(pgark_bin('wal-push'));
	# everything wal-push reads or writes, bound into the new root at its own path
	my @binds = ($pgdata, $env->{dir}, $bin);
	push @binds, dirname($ENV{PGARK_TEST_S3_CA}) if backend() eq 's3-tls';

	# One script, one namespace: the tmpfs exists only while it runs.
	my $script = <<'EOS';
set -u
umask 022
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$MNT" || { echo "SETUP cannot mount a tmpfs on $MNT"; exit 0; }
# fill it: every data page is taken; directories need none, so mkdir still works
dd if=/dev/zero of="$MNT/filler" bs=4k 2>"$OUT/fill.err"; echo "FILL $?"
if (printf x >"$MNT/probe") 2>/dev/null; then echo "PROBE written"; else echo "PROBE failed"; fi
rm -f "$MNT/probe"
# a root of our own: the real "/" belongs to an unmapped uid here, which the
# spool's check of every directory above it rightly refuses
mount -t tmpfs -o mode=0755 tmpfs "$ROOT" || { echo "SETUP cannot mount a tmpfs on $ROOT"; exit 0; }
# (/proc too: LeakSanitizer, under make check SANITIZE=1, reads it)
for d in usr etc dev proc; do
  mkdir "$ROOT/$d" && mount --rbind "/$d" "$ROOT/$d" || { echo "SETUP cannot bind /$d"; exit 0; }
done
for l in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$ROOT/$l"; fi
done
IFS='
'
for p in $BINDS; do
  mkdir -p "$ROOT$p" && mount --rbind "$p" "$ROOT$p" || { echo "SETUP cannot bind $p"; exit 0; }
done
unset IFS
echo "READY"
chroot "$ROOT" /bin/sh -c '
  cd "$PGDATA" || exit 1
  "$BIN/wal-push" --config "$CONF" "pg_wal/$X0" 2>"$OUT/push.err"; echo "PUSH $?"
  find "$MNT" -mindepth 1 -printf "SPOOL %y %P\n"
'
echo "DONE"
EOS
	my $before = () = read_audit($env);
	my ($o, $e) = ('', '');
	my $ok = eval {
		local %ENV = (
			%ENV,
			MNT    => $mnt,
			ROOT   => $root,
			OUT    => $out,
			BINDS  => join("\n", @binds),
			BIN    => $bin,
			CONF   => $fconf,
			PGDATA => $pgdata,
			X0     => $x[0]);
		delete $ENV{$_} for grep { /^PGARK_(?!BIN$|TOP$|TEST_)/ } keys %ENV;
		IPC::Run::run([ 'unshare', '-Urm', 'sh', '-c', $script ], '>', \$o, '2>', \$e,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		1;
	};
	note $o;
	my $why =
	    !$ok                  ? 'unshare -Urm failed: ' . ($@ || $e)
	  : $o =~ /^SETUP (.*)$/m ? $1
	  : $o !~ /^READY$/m      ? "unshare -Urm: $e"
	  :                         undef;
	chomp $why if defined $why;

  SKIP:
	{
		skip "full spool: cannot set up a tmpfs and a root in a user+mount namespace here: $why", 20 if defined $why;
		my %st = $o =~ /^(FILL|PROBE|PUSH) (\S+)$/mg;
		my @spool = $o =~ /^SPOOL (.*)$/mg;
		my $slurp = sub { my $f = "$out/$_[0]"; -e $f ? slurp_bytes($f) : '' };
		my $stderr = $slurp->('push.err');
		my @all  = read_audit($env);
		my $recs = [ @all[ $before .. $#all ] ];

		like($slurp->('fill.err'), qr/No space left on device/, 'full spool: the tmpfs was filled to ENOSPC');
		is($st{PROBE}, 'failed', 'full spool: not one more byte can be written there');
		ok($o =~ /^DONE$/m, 'full spool: the namespace script ran to its end') or diag "stderr: $e";
		rename("$wal/archive_status/$x[0].ready", "$wal/archive_status/$x[0].done") if ($st{PUSH} // '') eq '0';

		is($st{PUSH}, 0, "full spool: wal-push $x[0] exit 0") or diag $stderr;
		unlike($stderr, qr/look-ahead is off/, 'full spool: the spool itself was accepted (look-ahead on)');
		is(own_push($recs, $x[0])->{result}, 'ok', "full spool: $x[0] stored by its own call");
		ok(in_repo($x[0]), "full spool: $x[0] is in the repository");
		is_deeply([ ahead_names($recs, 'ok') ], [ @x[ 1, 2 ] ], "full spool: $x[1] and $x[2] pushed ahead");
		ok(in_repo($_), "full spool: $_ is in the repository") for @x[ 1, 2 ];
		my @detail = map { $_->{detail} // '' } grep { $_->{action} eq 'push-ahead' } @$recs;
		is(scalar(grep { /could not write look-ahead record.*No space left on device/ } @detail), 2,
			'full spool: both push-ahead audit lines say the record could not be written: No space left on device')
		  or diag explain \@detail;
		like($stderr, qr/look-ahead for \Q$_\E: .*No space left on device.*PostgreSQL's own call for it will push it/,
			"full spool: a warning for $_")
		  for @x[ 1, 2 ];
		my @recfiles = grep { m{^f spool/push-[^/]+/[^/]+$} } @spool;
		is_deeply(\@recfiles, [], 'full spool: no record (nor temporary record) left in the spool')
		  or diag explain \@spool;
		ok((grep { m{^d spool/push-[^/]+$} } @spool), 'full spool: (its directory was made: no data block needed)')
		  or diag explain \@spool;
		is_deeply([ ready_segments() ], [ @x[ 1, 2 ] ],
			"full spool: $x[1] and $x[2] still .ready (wal-push marks nothing .done)");

		# PostgreSQL's own calls for them, outside the namespace (plain
		# pushes, each compared with what is stored)
		for my $name (@x[ 1, 2 ])
		{
			my ($rc, $r2, $err2) = push_as_archiver($env->{conf}, $name);
			is($rc, 0, "full spool: the own call for $name exit 0") or diag $err2;
			is(own_push($r2, $name)->{result}, 'exists', "full spool: $name was stored, identical (\"exists\")");
		}
	}
	# whatever happened, leave nothing .ready for the next cases
	for my $name (ready_segments())
	{
		my ($rc, undef, $err2) = push_as_archiver($env->{conf}, $name);
		diag "clean-up push of $name: exit $rc: $err2" if $rc != 0;
	}
}

# ====================================================================
# 2-6. a dead or slow S3, through the fault proxy
# ====================================================================
SKIP:
{
	my $b = backend();
	skip "dead or slow S3: the fault proxy is plain http, only for PGARK_TEST_BACKEND=s3 (this is '$b')", 114
	  unless $b eq 's3';
	skip 'dead or slow S3: node is not installed', 114 unless grep { -x "$_/node" } split /:/, $ENV{PATH};

	my $proxy = FaultProxy->start;
	my $pspool = "$env->{dir}/spool-proxy";
	# three threads: the own push and both look-aheads start at once (with
	# fewer, a look-ahead still queued when the own push fails is dropped)
	my $pconf = env_variant($env, "$env->{dir}/proxy-ahead.conf",
		{
			repo    => $proxy->repo_settings(retries => 1, transfers => 3),
			archive => { spool => $pspool, push_ahead => 2 }
		});
	my $wal_put = { method => 'PUT', path => '/wal/' };
	my $path_re = sub { '/wal/' . substr($_[0], 0, 16) . "/$_[0]\$" };

	# ---- 2. every PUT under wal/ answers 503 ----
	my @y = new_segments(3, 'dead S3');
	$proxy->clear;
	$proxy->fault(match => $wal_put, action => '503', count => -1);
	my ($rc, $recs, $stderr) = push_as_archiver($pconf, $y[0]);
	my @log = $proxy->log;
	is($rc, 1, "dead S3: wal-push $y[0] exit 1 (its own push failed)") or diag $stderr;
	ok(-e "$wal/archive_status/$y[0].ready", "dead S3: $y[0] stays .ready");
	isnt(own_push($recs, $y[0])->{result} // 'none', 'ok', "dead S3: $y[0]'s own push audited as failed");
	is_deeply([ ahead_failed($recs) ], [ @y[ 1, 2 ] ], "dead S3: the look-ahead for $y[1] and $y[2] audited as failed");
	is_deeply([ ahead_names($recs, 'ok') ], [], 'dead S3: no push-ahead "ok"');
	like($stderr, qr/look-ahead for \Q$_\E: .*PostgreSQL's own call for it will push it/, "dead S3: a warning for $_")
	  for @y[ 1, 2 ];
	for my $name (@y)
	{
		my @puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ $path_re->($name) } @log;
		ok(@puts >= 1 && !(grep { ($_->{status} // 0) != 503 } @puts),
			"dead S3: $name was PUT (" . scalar(@puts) . ' times), answered 503 every time')
		  or diag FaultProxy::describe(@log);
	}
	is_deeply([ push_records($pspool) ], [], 'dead S3: no record');
	ok(!in_repo($_), "dead S3: $_ is not in the repository") for @y[ 0 .. 2 ];
	is_deeply([ ready_segments() ], [ @y[ 0 .. 2 ] ], 'dead S3: all three still .ready');

	$proxy->clear;
	for my $name (@y[ 0 .. 2 ])
	{
		($rc, $recs, $stderr) = push_as_archiver($pconf, $name);
		is($rc, 0, "S3 back: wal-push $name exit 0") or diag $stderr;
	}
	ok(in_repo($_), "S3 back: $_ is in the repository") for @y[ 0 .. 2 ];
	is_deeply([ ready_segments() ], [], 'S3 back: nothing left .ready');

	# ---- 3. faults on one look-ahead segment only ----
	@y = new_segments(3, 'faults on one segment');
	$proxy->clear;
	$proxy->fault(match => { method => 'PUT', path => $path_re->($y[1]) }, action => '503', count => -1);
	($rc, $recs, $stderr) = push_as_archiver($pconf, $y[0]);
	is($rc, 0, "one segment faulty: wal-push $y[0] exit 0") or diag $stderr;
	is(own_push($recs, $y[0])->{result}, 'ok', "one segment faulty: $y[0] stored by its own call");
	is_deeply([ ahead_names($recs, 'ok') ], [ $y[2] ], "one segment faulty: $y[2] stored ahead");
	is_deeply([ ahead_failed($recs) ], [ $y[1] ], "one segment faulty: the look-ahead for $y[1] audited as failed");
	like($stderr, qr/look-ahead for \Q$y[1]\E: .*PostgreSQL's own call for it will push it/,
		"one segment faulty: a warning for $y[1]");
	is_deeply([ push_records($pspool) ], [ $y[2] ], "one segment faulty: a record for $y[2], none for $y[1]");
	ok(in_repo($y[0]),  "one segment faulty: $y[0] is in the repository");
	ok(in_repo($y[2]),  "one segment faulty: $y[2] is in the repository");
	ok(!in_repo($y[1]), "one segment faulty: $y[1] is not");
	ok(-e "$wal/archive_status/$y[1].ready", "one segment faulty: $y[1] stays .ready");

	$proxy->clear;
	($rc, $recs, $stderr) = push_as_archiver($pconf, $y[1]);
	is($rc, 0, "faults cleared: the own call for $y[1] exit 0") or diag $stderr;
	is(own_push($recs, $y[1])->{result}, 'ok', "faults cleared: $y[1] stored by its own call");
	ok(in_repo($y[1]), "faults cleared: $y[1] is in the repository");
	($rc, $recs, $stderr) = push_as_archiver($pconf, $y[2]);
	is($rc, 0, "wal-push $y[2] exit 0") or diag $stderr;
	is(own_push($recs, $y[2])->{detail}, 'stored ahead by an earlier wal-push', "$y[2] answered from its record");
	is_deeply([ ready_segments() ], [], 'nothing left .ready');

	# ---- 4. slow S3: every PUT under wal/ stalls past [repo] timeout ----
	my $timeout = $proxy->repo_settings->{timeout};
	my $bound = 60;
	@y = new_segments(3, 'slow S3');
	$proxy->clear;
	$proxy->fault(match => $wal_put, action => 'stall', forward => JSON::PP::false, then => 'drop',
		stall_ms => ($timeout + 5) * 1000, count => -1);
	my $secs;
	($rc, $recs, $stderr, $secs) = push_as_archiver($pconf, $y[0]);
	@log = $proxy->log;
	note sprintf('slow S3: wal-push %s took %.1f s', $y[0], $secs);
	isnt($rc, 0, "slow S3: wal-push $y[0] exits non-zero (exit $rc)");
	cmp_ok($secs, '<', $bound, sprintf('slow S3: within %d s (%.1f s)', $bound, $secs));
	cmp_ok($secs, '>=', $timeout - 0.2, sprintf('slow S3: after waiting [repo] timeout (%d s) at least', $timeout));
	for my $name (@y)
	{
		my @puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ $path_re->($name) } @log;
		ok(@puts >= 1 && !(grep { ($_->{fault} // '') ne 'stall' } @puts),
			"slow S3: $name was PUT (" . scalar(@puts) . ' times), stalled every time')
		  or diag FaultProxy::describe(@log);
	}
	is_deeply([ ahead_failed($recs) ], [ @y[ 1, 2 ] ], "slow S3: the look-ahead for $y[1] and $y[2] audited as failed");
	is_deeply([ push_records($pspool) ], [], 'slow S3: no record');
	ok(-e "$wal/archive_status/$y[0].ready", "slow S3: $y[0] stays .ready");
	ok(!in_repo($_), "slow S3: $_ is not in the repository") for @y;

	$proxy->clear;
	($rc, $recs, $stderr) = push_as_archiver($pconf, $y[0]);
	is($rc, 0, "S3 fast again: wal-push $y[0] exit 0") or diag $stderr;
	is_deeply([ ahead_names($recs, 'ok') ], [ @y[ 1, 2 ] ], "S3 fast again: $y[1] and $y[2] stored ahead");
	for my $name (@y[ 1, 2 ])
	{
		($rc, $recs, $stderr) = push_as_archiver($pconf, $name);
		is($rc, 0, "S3 fast again: wal-push $name exit 0") or diag $stderr;
	}
	ok(in_repo($_), "S3 fast again: $_ is in the repository") for @y;
	is_deeply([ ready_segments() ], [], 'S3 fast again: nothing left .ready');

	# ---- 5. S3 dead for the look-ahead helper's segments ----
	my $one_of = sub { '/wal/[0-9A-F]{16}/(' . join('|', @_) . ')$' };
	@y = new_segments(7, 'dead S3 for the helper');
	$proxy->clear;
	$proxy->fault(match => { method => 'PUT', path => $one_of->(@y[ 3 .. 6 ]) }, action => '503', count => -1);
	($rc, $recs, $stderr) = push_as_archiver($pconf, $y[0]);
	is($rc, 0, "dead S3 for the helper: wal-push $y[0] exit 0") or diag $stderr;
	my $call_pid = own_push($recs, $y[0])->{pid} // -1;
	is_deeply([ ahead_names([ grep { $_->{pid} == $call_pid } @$recs ], 'ok') ], [ @y[ 1, 2 ] ],
		"dead S3 for the helper: the call stored $y[1] and $y[2] ahead");
	my $t0 = time;
	my @hfail;
	while (time - $t0 < $bound)
	{
		@hfail = grep { $_->{pid} != $call_pid } ahead_failed_recs([ read_audit($env) ], @y[ 3 .. 6 ]);
		last if @hfail >= 2 && !push_helper_running($pspool);
		select(undef, undef, undef, 0.1);
	}
	ok(!push_helper_running($pspool), sprintf('dead S3 for the helper: a helper ran and ended (%.1f s)', time - $t0));
	is_deeply([ sort map { basename($_->{object}) } @hfail ], [ @y[ 3, 4 ] ],
		"dead S3 for the helper: it audited $y[3] and $y[4] as failed, and tried no further round");
	isnt($hfail[0]{pid} // $call_pid, $call_pid, 'dead S3 for the helper: in a process of its own');
	is_deeply([ push_records($pspool) ], [ @y[ 1, 2 ] ], "dead S3 for the helper: records only for $y[1] and $y[2]");
	is_deeply([ push_claims($pspool) ], [], 'dead S3 for the helper: no claim left');
	ok(!in_repo($_), "dead S3 for the helper: $_ is not in the repository") for @y[ 3 .. 6 ];
	is_deeply([ ready_segments() ], [ @y[ 1 .. 6 ] ], 'dead S3 for the helper: the others still .ready');
	for my $name (@y[ 1, 2 ])
	{
		($rc, $recs, $stderr) = push_as_archiver($pconf, $name);
		is(own_push($recs, $name)->{detail} // "exit $rc", 'stored ahead by an earlier wal-push',
			"dead S3 for the helper: $name answered from its record");
	}
	# PostgreSQL's own call for a segment the helper failed on: told at once
	my $secs3;
	($rc, $recs, $stderr, $secs3) = push_as_archiver($pconf, $y[3]);
	is($rc, 1, "dead S3 for the helper: wal-push $y[3] exit 1") or diag $stderr;
	cmp_ok($secs3, '<', $bound, sprintf('dead S3 for the helper: within %d s (%.1f s)', $bound, $secs3));
	ok(!in_repo($y[3]), "dead S3 for the helper: $y[3] still not in the repository");
	ok(wait_push_helper_gone($pspool), 'dead S3 for the helper: no helper left running');

	$proxy->clear;
	is(push_each(\&push_as_archiver, $pconf, ready_segments()), '', 'dead S3 for the helper: once S3 is back, every call exits 0');
	ok(wait_push_helper_gone($pspool), 'dead S3 for the helper: no helper left running at the end');
	ok(in_repo($_), "dead S3 for the helper: $_ is in the repository at the end") for @y;
	is_deeply([ ready_segments() ], [], 'dead S3 for the helper: nothing left .ready');

	# ---- 6. S3 stalls the helper's segments: a call waits for its claim, then fails on its own ----
	@y = new_segments(7, 'slow S3 for the helper');
	$proxy->clear;
	$proxy->fault(match => { method => 'PUT', path => $one_of->(@y[ 3 .. 6 ]) }, action => 'stall',
		forward => JSON::PP::false, then => 'drop', stall_ms => ($timeout + 5) * 1000, count => -1);
	($rc, $recs, $stderr) = push_as_archiver($pconf, $y[0]);
	is($rc, 0, "slow S3 for the helper: wal-push $y[0] exit 0") or diag $stderr;
	$t0 = time;
	select(undef, undef, undef, 0.05) until (grep { $_ eq "claim-$y[3]" } push_claims($pspool)) || time - $t0 > $bound;
	ok((grep { $_ eq "claim-$y[3]" } push_claims($pspool)), "slow S3 for the helper: the helper claimed $y[3]");
	for my $name (@y[ 1, 2 ])
	{
		($rc, $recs, $stderr) = push_as_archiver($pconf, $name);
		is($rc, 0, "slow S3 for the helper: wal-push $name exit 0 (from its record) while the helper stalls")
		  or diag $stderr;
	}
	($rc, $recs, $stderr, $secs3) = push_as_archiver($pconf, $y[3]);
	note sprintf('slow S3 for the helper: wal-push %s took %.1f s', $y[3], $secs3);
	isnt($rc, 0, "slow S3 for the helper: wal-push $y[3] exits non-zero (exit $rc)");
	cmp_ok($secs3, '<', 2 * $bound, sprintf('slow S3 for the helper: within %d s (%.1f s)', 2 * $bound, $secs3));
	ok(-e "$wal/archive_status/$y[3].ready", "slow S3 for the helper: $y[3] stays .ready");
	ok(wait_push_helper_gone($pspool), 'slow S3 for the helper: the helper ended');
	is_deeply([ push_claims($pspool) ], [], 'slow S3 for the helper: no claim left');
	ok(!in_repo($_), "slow S3 for the helper: $_ is not in the repository") for @y[ 3 .. 6 ];
	is_deeply([ grep { my $n = $_; grep { $_ eq $n } @y[ 3 .. 6 ] } push_records($pspool) ], [],
		'slow S3 for the helper: no record for a stalled segment');

	$proxy->clear;
	is(push_each(\&push_as_archiver, $pconf, ready_segments()), '', 'slow S3 for the helper: once S3 is fast, every call exits 0');
	ok(wait_push_helper_gone($pspool), 'slow S3 for the helper: no helper left running at the end');
	ok(in_repo($_), "slow S3 for the helper: $_ is in the repository at the end") for @y;
	$proxy->stop;
}

$node->stop;
done_testing();
