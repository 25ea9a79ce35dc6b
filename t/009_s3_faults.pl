
# 009_s3_faults.pl — S3 faults between pgark and the server (t/s3/fault-proxy.js
# via t/lib/FaultProxy.pm): 500, 503, SlowDown, dropped and stalled
# connections, truncated and corrupted bodies, 200 answers carrying an <Error>.
# Under each: wal-push retries and succeeds, or exits 1 — never 0 without the
# object stored; wal-fetch delivers the exact file or exits non-zero with
# nothing at DEST (200, or 1 under standby.signal for transient faults, never
# 1 otherwise); base-push with multipart uploads completes or leaves no
# manifest, and every multipart upload it began is completed or aborted.
# Also: a request stalled past [repo] timeout is abandoned and sent again; a
# PUT that succeeded but whose answer was lost is settled by the 412 of its
# retry; an endpoint refusing connections. About 100 s.
# Only under PGARK_TEST_BACKEND=s3 (the proxy speaks plain http).
use strict;
use warnings;

use Digest::SHA;
use File::Copy qw(copy);
use File::Find;
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FaultProxy;
use PgarkTest;

FaultProxy::skip_unless_s3();

my $SEG = 16 * 1024 * 1024;
my $MIB5 = 5 * 1024 * 1024;
my $RETRIES = 2;    # attempts after the first, in the proxy configurations
my $TIMEOUT = 2;    # seconds without progress before a request is abandoned
my $STALL = ($TIMEOUT + 2) * 1000;        # longer than the timeout
my $PUT_STALL = ($TIMEOUT + 4) * 1000;    # ... with room to see when it was abandoned

my $proxy = FaultProxy->start;

# ------------------------------------------------------------ WAL to push
# A cluster with archiving off; its segments are copied out of pg_wal and
# pushed by hand. "small" segments are mostly zeros (a few KB stored), "big"
# ones are full of random bytes (16 MiB stored: a multipart upload with a
# 5 MiB threshold, and two range reads of 8 MiB for wal-fetch).
my $node = PostgreSQL::Test::Cluster->new('s3faults');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', q{
wal_keep_size = '4GB'
max_wal_size = '4GB'
checkpoint_timeout = '1h'
autovacuum = off
});
$node->start;

# a table for random, incompressible rows (pgcrypto ships with postgresql-15)
sub random_table
{
	my ($n) = @_;
	$n->safe_psql('postgres', q{
		CREATE EXTENSION IF NOT EXISTS pgcrypto;
		CREATE TABLE rnd(b bytea);
		ALTER TABLE rnd ALTER b SET STORAGE EXTERNAL;
	});
	return;
}

# $mb MiB of random rows
sub random_rows
{
	my ($n, $mb) = @_;
	$n->safe_psql('postgres', "INSERT INTO rnd SELECT gen_random_bytes(1024) FROM generate_series(1, $mb * 1024)");
	return;
}

$node->safe_psql('postgres', 'CREATE TABLE small(i int)');
random_table($node);

my @small;
for my $i (1 .. 20)
{
	$node->safe_psql('postgres', "INSERT INTO small SELECT generate_series(1, 100)");
	push @small, switch_wal($node);
}
# the segments written entirely during a 96 MiB insert: at least 5
my $first = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
random_rows($node, 96);
my @big = _between($first, switch_wal($node));
$node->stop;

# names strictly between two segment names of timeline 1 (16 MiB segments)
sub _between
{
	my ($a, $b) = @_;
	my @n;
	my $ia = hex(substr($a, 8, 8)) * 256 + hex(substr($a, 16, 8));
	my $ib = hex(substr($b, 8, 8)) * 256 + hex(substr($b, 16, 8));
	for my $k ($ia + 1 .. $ib - 1)
	{
		push @n, sprintf('%s%08X%08X', substr($a, 0, 8), int($k / 256), $k % 256);
	}
	return @n;
}

my $segdir = PostgreSQL::Test::Utils::tempdir('segs');
for my $s (@small, @big)
{
	copy($node->data_dir . "/pg_wal/$s", "$segdir/$s") or die "copy $s: $!";
}
cmp_ok(scalar(@small), '>=', 20, scalar(@small) . ' small segments to push');
cmp_ok(scalar(@big), '>=', 5, scalar(@big) . ' segments of random bytes to push');
is(-s "$segdir/$_", $SEG, "segment $_ is complete") for ($small[0], $big[0]);

# ------------------------------------------------------------ configurations
# $env: the repository, reached directly (for setting up and for checking);
# $pconf: the same repository through the proxy, with short timeouts.
my $env = new_env(name => 's3faults', pgdata => $node->data_dir);
my %fast = (retries => $RETRIES, timeout => $TIMEOUT, connect_timeout => 2);
my %multipart = (multipart_threshold => $MIB5, part_size => $MIB5);
my $pconf = $proxy->config_for($env, "$env->{dir}/proxy.conf", %fast);
my $pconf_mp = $proxy->config_for($env, "$env->{dir}/proxy-multipart.conf", %fast, %multipart);

my $scratch = PostgreSQL::Test::Utils::tempdir('scratch');
my $nscratch = 0;

# Fetch $name directly (no proxy): (rc, bytes or undef).
sub fetch_direct
{
	my ($name) = @_;
	my $dir = "$scratch/direct" . ++$nscratch;
	make_path($dir);
	my $r = run_pgark('wal-fetch', '--config', $env->{conf}, $name, "$dir/$name");
	my $bytes = $r->{rc} == 0 ? slurp_bytes("$dir/$name") : undef;
	remove_tree($dir);
	return ($r->{rc}, $bytes, $r);
}

sub wal_path_re
{
	my ($name) = @_;
	return '/wal/' . substr($name, 0, 16) . "/$name\$";
}

# requests of the log for one object (path regex), of one method
sub requests_for
{
	my ($log, $re, $method) = @_;
	return grep { $_->{path} =~ /$re/ && (!defined $method || $_->{method} eq $method) } @$log;
}

# ------------------------------------------------------------ wal-push
# Push $seg through the proxy under a fault. The contract, whatever happens:
# exit 0 and the object fetches back byte-exact, or exit 1 and no object
# (unless the request reached the server, or the object was there before);
# after an exit 1, PostgreSQL's retry without the fault ends well.
# %o: fault => { rule }, expect => the exit status a client retrying as
# DESIGN says must get, conf (default $pconf), existing => 1 (archived
# before), reached => 1 (the fault lets the request reach the server).
sub push_case
{
	my ($what, $seg, %o) = @_;
	my $conf = $o{conf} // $pconf;
	$proxy->clear;
	$proxy->fault(%{ $o{fault} }) if $o{fault};
	my $t0 = time;
	my $r = run_pgark('wal-push', '--config', $conf, "$segdir/$seg");
	my $secs = time - $t0;
	my @log = $proxy->log;
	$proxy->clear;
	my $orig = slurp_bytes("$segdir/$seg");
	my ($frc, $bytes) = fetch_direct($seg);
	my $diag = show($r) . "\nproxy log:\n" . FaultProxy::describe(@log);

	if ($r->{rc} == 0)
	{
		ok($frc == 0 && defined $bytes && $bytes eq $orig,
			"$what: wal-push exit 0 and the object fetches back byte-exact") or diag "fetch exit $frc\n$diag";
	}
	elsif ($r->{rc} == 1)
	{
		if ($o{existing} || $o{reached})
		{
			pass("$what: wal-push exit 1 (" . ($o{existing} ? 'archived before' : 'the request reached the server') . ')');
		}
		else
		{
			is($frc, 1, "$what: wal-push exit 1 and no object stored") or diag $diag;
		}
		like($r->{stderr}, qr/ERROR/, "$what: exit 1 says why");
		my $r2 = run_pgark('wal-push', '--config', $conf, "$segdir/$seg");
		($frc, $bytes) = fetch_direct($seg);
		ok($r2->{rc} == 0 && $frc == 0 && defined $bytes && $bytes eq $orig,
			"$what: PostgreSQL's retry without the fault stores it byte-exact") or diag show($r2);
	}
	else
	{
		fail("$what: wal-push exit $r->{rc} (only 0 and 1 are allowed)");
		diag $diag;
	}
	is($r->{rc}, $o{expect}, "$what: wal-push exit $o{expect}") or diag $diag if defined $o{expect};
	return ($r, \@log, $secs);
}

# a fault on the PUT of $seg's object
sub on_put
{
	my ($seg, %rule) = @_;
	return { match => { method => 'PUT', path => wal_path_re($seg) }, %rule };
}

sub statuses
{
	return join(' ', map { $_->{status} // 'none' } @_);
}

note 'wal-push: transient faults are retried';
{
	my ($r, $log) = push_case('PUT 500 once', $small[0], expect => 0, fault => on_put($small[0], action => '500'));
	is(statuses(requests_for($log, wal_path_re($small[0]), 'PUT')), '500 200',
		'PUT 500 once: the proxy saw the 500, then the retry') or diag FaultProxy::describe(@$log);

	($r, $log) = push_case('PUT 503 twice', $small[1], expect => 0,
		fault => on_put($small[1], action => '503', count => 2));
	is(statuses(requests_for($log, wal_path_re($small[1]), 'PUT')), '503 503 200',
		'PUT 503 twice: two retries, then stored') or diag FaultProxy::describe(@$log);

	($r, $log) = push_case('PUT SlowDown once', $small[2], expect => 0,
		fault => on_put($small[2], action => 'slowdown'));
	is(statuses(requests_for($log, wal_path_re($small[2]), 'PUT')), '503 200', 'PUT SlowDown once: retried');

	push_case('PUT dropped after the request', $small[3], expect => 0, fault => on_put($small[3], action => 'drop'));
	push_case('PUT dropped mid-body (16 MiB body)', $big[0], expect => 0,
		fault => on_put($big[0], action => 'drop_body'));

	# "no progress": no byte moved either way for [repo] timeout seconds
	# (pgark's own progress check; curl's low-speed check averages over a
	# 5-s window and so abandoned a stalled upload only ~5 s late)
	($r, $log) = push_case("PUT stalled ${PUT_STALL} ms (timeout $TIMEOUT s)", $small[4], expect => 0,
		fault => on_put($small[4], action => 'stall', forward => JSON::PP::false, stall_ms => $PUT_STALL));
	my @puts = requests_for($log, wal_path_re($small[4]), 'PUT');
	is($puts[0]{outcome}, 'client_closed', 'PUT stalled: the client abandoned the stalled request')
	  or diag FaultProxy::describe(@$log);
	cmp_ok(scalar(@puts), '>=', 2, 'PUT stalled: and sent it again');
	if (@puts >= 2)
	{
		my $gap = $puts[1]{t} - $puts[0]{t};
		cmp_ok($gap, '>=', $TIMEOUT - 0.2, "PUT stalled: abandoned after ${gap} s, not before $TIMEOUT s");
		cmp_ok($gap, '<', $TIMEOUT + 2.5, "PUT stalled: abandoned within $TIMEOUT s (+ retry backoff)");
	}
}

note 'wal-push: the request reached the server but the answer was lost or wrong';
{
	# the retry answers 412 (If-None-Match: *): the archived copy is compared
	for my $c (
		[ 'PUT stored, then 500', $small[5], action => '500', forward => JSON::PP::true ],
		[ 'PUT stored, then the connection dropped', $small[6], action => 'drop', forward => JSON::PP::true ],
		[ "PUT stored, answer held ${PUT_STALL} ms", $small[7], action => 'stall', stall_ms => $PUT_STALL ])
	{
		my ($what, $seg, %rule) = @$c;
		my ($r, $log) = push_case($what, $seg, expect => 0, reached => 1, fault => on_put($seg, %rule));
		my @puts = requests_for($log, wal_path_re($seg), 'PUT');
		is(join(' ', map { $_->{upstream_status} // 'none' } @puts), '200 412',
			"$what: the retry found the object there (412), and wal-push compared") or diag FaultProxy::describe(@$log);
		unlike($r->{stderr}, qr/DIFFERENT/, "$what: no false conflict");
	}
	# S3 never answers a PutObject 200 with an error, but whoever does must not
	# be taken for a stored object (no ETag, an <Error> body)
	push_case('PUT not stored, answered 200 with an <Error>', $small[8],
		fault => on_put($small[8], action => 'error200_noforward'));
	push_case('PUT stored, answered 200 with an <Error>', $small[9], reached => 1,
		fault => on_put($small[9], action => 'error200'));
}

note 'wal-push: faults that outlast the retries';
{
	my ($r, $log) = push_case('PUT 503 always', $small[10], expect => 1,
		fault => on_put($small[10], action => '503', count => -1));
	my @puts = requests_for($log, wal_path_re($small[10]), 'PUT');
	is(scalar(@puts), $RETRIES + 1, "PUT 503 always: 1 + retries ($RETRIES) attempts, then exit 1")
	  or diag FaultProxy::describe(@$log);
	like($r->{stderr}, qr/503|ServiceUnavailable/, 'PUT 503 always: the message names the error');

	push_case('PUT dropped always', $small[11], expect => 1, fault => on_put($small[11], action => 'drop', count => -1));
}

note 'wal-push of an archived segment: the read-back is faulty';
{
	# $small[0] is stored: a second push compares; a truncated or failed read
	# must not end in a "DIFFERENT content" verdict nor in an unchecked exit 0
	for my $f ([ 'truncated', action => 'truncate', truncate_at => 100 ],
		[ '503', action => '503' ], [ 'corrupted', action => 'corrupt' ])
	{
		my ($label, %rule) = @$f;
		my ($r, $log) = push_case("second push, read-back $label once", $small[0], existing => 1,
			fault => { match => { method => 'GET', path => wal_path_re($small[0]) }, %rule });
		unlike($r->{stderr}, qr/DIFFERENT/, "second push, read-back $label once: no false conflict")
		  or diag show($r);
	}
}

note 'wal-push as a multipart upload (16 MiB stored, 5 MiB parts)';
{
	my $complete = sub { { match => { method => 'POST', path => wal_path_re($_[0]), query => 'uploadId=' }, @_[1 .. $#_] } };
	my ($r, $log) = push_case('CompleteMultipartUpload answered 200 <Error> (not completed), once', $big[1],
		expect => 0, conf => $pconf_mp, fault => $complete->($big[1], action => 'error200_noforward'));
	ok((grep { $_->{query} =~ /uploadId=/ && $_->{method} eq 'PUT' } @$log), 'multipart: parts were uploaded')
	  or diag FaultProxy::describe(@$log);
	check_uploads_finished('multipart wal-push, complete failed once', $log);

	($r, $log) = push_case('CompleteMultipartUpload done, answered 200 <Error>', $big[2], expect => 0,
		conf => $pconf_mp, reached => 1, fault => $complete->($big[2], action => 'error200'));
	check_uploads_finished('multipart wal-push, completed but answered with an error', $log);

	($r, $log) = push_case('CompleteMultipartUpload answered 200 <Error> always', $big[3], expect => 1,
		conf => $pconf_mp, fault => $complete->($big[3], action => 'error200_noforward', count => -1));
	check_uploads_finished('multipart wal-push, complete failing always', $log);

	($r, $log) = push_case('UploadPart 503 twice', $big[4], expect => 0, conf => $pconf_mp,
		fault => { match => { method => 'PUT', path => wal_path_re($big[4]), query => 'partNumber=' },
			action => '503', count => 2 });
	check_uploads_finished('multipart wal-push, parts failing twice', $log);

	# Another writer (a split-brain archiving the same segment) completed the
	# same name: the completion is answered 409 ConditionalRequestConflict,
	# retried, then NoSuchUpload. The object there has our size (the one
	# stored before, a byte changed in its middle) but other content: it must
	# be compared, never taken for ours by its size.
	my $x = $big[0];    # stored by now
	my $xobj = wal_object_name($x);
	my $other = repo_read_object($env, $xobj);
	my $mid = int(length($other) / 2);
	substr($other, $mid, 1) = chr(ord(substr($other, $mid, 1)) ^ 0x01);
	repo_write_object($env, $xobj, $other);
	$proxy->clear;
	$proxy->fault(match => { method => 'HEAD', path => wal_path_re($x) }, action => 'error', status => 404,
		code => 'NoSuchKey');
	$proxy->fault(%{ $complete->($x, action => 'error', status => 409, code => 'ConditionalRequestConflict') });
	$proxy->fault(%{ $complete->($x, action => 'error', status => 404, code => 'NoSuchUpload') });
	my $r2 = run_pgark('wal-push', '--config', $pconf_mp, "$segdir/$x");
	my @log2 = $proxy->log;
	$proxy->clear;
	is($r2->{rc}, 1, "another writer's object of our size after 409 + NoSuchUpload: wal-push exit 1")
	  or diag show($r2) . "\nproxy log:\n" . FaultProxy::describe(@log2);
	like($r2->{stderr}, qr/DIFFERENT|other content|damaged/i, '... naming the conflict')
	  or diag show($r2) . "\nproxy log:\n" . FaultProxy::describe(@log2);
	is(repo_read_object($env, $xobj), $other, '... and the object there is left as it was');
	repo_remove_object($env, $xobj);
	$r2 = run_pgark('wal-push', '--config', $pconf_mp, "$segdir/$x");
	my ($frc, $bytes) = fetch_direct($x);
	ok($r2->{rc} == 0 && $frc == 0 && $bytes eq slurp_bytes("$segdir/$x"),
		'... and once the stray object is gone, wal-push stores it byte-exact') or diag show($r2);
}

# Every multipart upload seen in the log (by its uploadId) was completed on
# the server, or aborted: none is left behind.
sub check_uploads_finished
{
	my ($what, $log) = @_;
	my (%seen, %done);
	for my $e (@$log)
	{
		next unless $e->{query} =~ /(?:^|&)uploadId=([^&]+)/;
		my $id = $1;
		$seen{$id} = 1;
		$done{$id} = 'completed' if $e->{method} eq 'POST' && ($e->{upstream_status} // 0) == 200;
		$done{$id} //= 'aborted' if $e->{method} eq 'DELETE' && ($e->{upstream_status} // 0) == 204;
	}
	my @left = grep { !$done{$_} } sort keys %seen;
	is_deeply(\@left, [], "$what: every multipart upload begun was completed or aborted ("
		  . join(', ', map { $done{$_} } sort keys %done) . ')') or diag FaultProxy::describe(@$log);
	return;
}

# ------------------------------------------------------------ wal-fetch
# Fetch through the proxy under a fault, with DEST relative to a data
# directory (standby.signal there when $standby). The contract: exit 0 with
# the exact file and nothing else in pg_wal, or non-zero with pg_wal empty
# (no DEST, no temp file). $expect_rc: what a client that retries as DESIGN
# says must get.
note 'wal-fetch';
my ($fsmall, $fbig) = ($small[12], $big[0]);    # $big[0] is stored by now
for my $s ($fsmall)
{
	my $r = run_pgark('wal-push', '--config', $env->{conf}, "$segdir/$s");
	is($r->{rc}, 0, "wal-fetch: $s pushed directly") or diag show($r);
}

sub fetch_case
{
	my ($what, $name, $expect_rc, $standby, %fault) = @_;
	my $pgdata = "$scratch/pgdata" . ++$nscratch;
	make_path("$pgdata/pg_wal");
	write_bytes("$pgdata/standby.signal", '') if $standby;
	$proxy->clear;
	$proxy->fault(%fault) if %fault;
	my $t0 = time;
	my $r = run_pgark({ cwd => $pgdata }, 'wal-fetch', '--config', $pconf, $name, "pg_wal/$name");
	my $secs = time - $t0;
	my @log = $proxy->log;
	$proxy->clear;
	my $diag = show($r) . "\nproxy log:\n" . FaultProxy::describe(@log);
	my @left = list_dir("$pgdata/pg_wal");
	if ($r->{rc} == 0)
	{
		my $ok = -f "$pgdata/pg_wal/$name" && slurp_bytes("$pgdata/pg_wal/$name") eq slurp_bytes("$segdir/$name");
		ok($ok, "$what: exit 0 with the exact file") or diag $diag;
		is_deeply(\@left, [$name], "$what: nothing else in pg_wal");
	}
	else
	{
		is_deeply(\@left, [], "$what: exit $r->{rc}, nothing at DEST and no temp file") or diag $diag;
	}
	is($r->{rc}, $expect_rc, "$what: exit $expect_rc") or diag $diag if defined $expect_rc;
	return ($r, \@log, $secs);
}

{
	my $re = wal_path_re($fsmall);
	my $reb = wal_path_re($fbig);
	fetch_case('no fault', $fsmall, 0, 0);
	fetch_case('no fault, two range reads', $fbig, 0, 0);
	my ($r, $log) = fetch_case('a segment not archived', $small[19], 1, 0);
	is(scalar(requests_for($log, wal_path_re($small[19]))), 1, 'not archived: one request, no retry')
	  or diag FaultProxy::describe(@$log);

	for my $f (
		[ 'GET 500 once', action => '500' ],
		[ 'GET 503 twice', action => '503', count => 2 ],
		[ 'GET SlowDown once', action => 'slowdown' ],
		[ 'GET dropped once', action => 'drop' ],
		[ 'GET body truncated once', action => 'truncate', truncate_at => 1000 ],
		[ 'GET body truncated at 0 once', action => 'truncate', truncate_at => 0 ],
		[ "GET answer held ${STALL} ms once", action => 'stall', stall_ms => $STALL ])
	{
		my ($label, %fault) = @$f;
		for my $s ($fsmall, $fbig)
		{
			my $size = $s eq $fbig ? 'random segment' : 'small segment';
			($r, $log) = fetch_case("$label, $size", $s, 0, 0, match => { method => 'GET', path => wal_path_re($s) }, %fault);
			my @gets = requests_for($log, wal_path_re($s), 'GET');
			cmp_ok(scalar(@gets), '>', 1, "$label, $size: retried") or diag FaultProxy::describe(@$log);
		}
	}
	# no byte for longer than the timeout mid-body
	($r, $log) = fetch_case("GET body stalled ${PUT_STALL} ms after 64 KiB once", $fbig, 0, 0,
		match => { method => 'GET', path => $reb }, action => 'stall_body', truncate_at => 65536, stall_ms => $PUT_STALL);
	my @gets = requests_for($log, $reb, 'GET');
	is($gets[0]{outcome}, 'client_closed', 'GET body stalled: the client abandoned it') or diag FaultProxy::describe(@$log);

	# the second range read of the random segment fails once
	fetch_case('second range read truncated once', $fbig, 0, 0,
		match => { method => 'GET', path => $reb }, action => 'truncate', truncate_at => 4096, skip => 1);
	fetch_case('second range read 503 once', $fbig, 0, 0,
		match => { method => 'GET', path => $reb }, action => '503', skip => 1);
	# the object removed between the two range reads (repo-expire, say): the
	# second answers 404. Never "not found" (exit 1 would end an archive
	# recovery as if the WAL ended there): 200, a retry on a standby
	($r) = fetch_case('object gone at the second range read (404)', $fbig, 200, 0,
		match => { method => 'GET', path => $reb }, action => 'error', status => 404, code => 'NoSuchKey',
		skip => 1, count => -1);
	like($r->{stderr}, qr/removed meanwhile/, '... saying the object went away while it was read') or diag show($r);
	fetch_case('object gone at the second range read (404), under standby.signal', $fbig, 1, 1,
		match => { method => 'GET', path => $reb }, action => 'error', status => 404, code => 'NoSuchKey',
		skip => 1, count => -1);

	# faults that outlast the retries: 200 (recovery stops), or 1 on a standby.
	# (A dropped connection that was reused from an earlier request is sent
	# again once by curl itself: one attempt more.)
	for my $f (
		[ 'GET 503 always', 1, action => '503' ],
		[ 'GET dropped always', 1, action => 'drop' ],
		[ 'GET truncated always', 1, action => 'truncate', truncate_at => 1000 ],
		[ "GET answer held ${STALL} ms always", 0, action => 'stall', stall_ms => $STALL ])
	{
		my ($label, $standby_too, %fault) = @$f;
		($r, $log) = fetch_case($label, $fsmall, 200, 0, match => { method => 'GET', path => $re }, %fault, count => -1);
		my $n = scalar(requests_for($log, $re, 'GET'));
		ok($n == $RETRIES + 1 || ($fault{action} eq 'drop' && $n == $RETRIES + 2),
			"$label: 1 + retries ($RETRIES) attempts ($n)") or diag FaultProxy::describe(@$log);
		fetch_case("$label, under standby.signal", $fsmall, 1, 1, match => { method => 'GET', path => $re }, %fault,
			count => -1) if $standby_too;
	}

	# wrong bytes: never delivered; never "not found" (that would end recovery)
	for my $f (
		[ 'GET body corrupted (one bit)', action => 'corrupt' ],
		[ 'GET answered 200 with an <Error> body', action => 'error200_noforward' ])
	{
		my ($label, %fault) = @$f;
		for my $s ($fsmall, $fbig)
		{
			my $size = $s eq $fbig ? 'random segment' : 'small segment';
			($r) = fetch_case("$label once, $size", $s, undef, 0, match => { method => 'GET', path => wal_path_re($s) },
				%fault);
			($r) = fetch_case("$label always, $size", $s, 200, 0,
				match => { method => 'GET', path => wal_path_re($s) }, %fault, count => -1);
			($r) = fetch_case("$label always, $size, under standby.signal", $s, undef, 1,
				match => { method => 'GET', path => wal_path_re($s) }, %fault, count => -1);
			isnt($r->{rc}, 0, "$label always, $size, under standby.signal: not delivered");
		}
	}
}

note 'the endpoint refuses connections (nothing listens)';
{
	my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die "socket: $!";
	my $dead = 'http://127.0.0.1:' . $sock->sockport;
	close $sock;
	my $dconf = env_variant($env, "$env->{dir}/refused.conf", { repo => { %fast, endpoint => $dead } });
	my $r = run_pgark('wal-push', '--config', $dconf, "$segdir/$small[13]");
	is($r->{rc}, 1, 'connection refused: wal-push exit 1') or diag show($r);
	my ($frc) = fetch_direct($small[13]);
	is($frc, 1, 'connection refused: nothing stored');
	for my $standby (0, 1)
	{
		my $pgdata = "$scratch/pgdata" . ++$nscratch;
		make_path("$pgdata/pg_wal");
		write_bytes("$pgdata/standby.signal", '') if $standby;
		$r = run_pgark({ cwd => $pgdata }, 'wal-fetch', '--config', $dconf, $fsmall, "pg_wal/$fsmall");
		my $w = $standby ? ', under standby.signal' : '';
		is($r->{rc}, $standby ? 1 : 200, "connection refused$w: wal-fetch exit " . ($standby ? 1 : 200))
		  or diag show($r);
		is_deeply([ list_dir("$pgdata/pg_wal") ], [], "connection refused$w: nothing at DEST");
	}
}

# ------------------------------------------------------------ base-push, multipart
note 'base-push with multipart packs';
{
	my ($bnode, $benv) = backup_cluster('s3mp', conf => q{
shared_buffers = '16MB'
autovacuum = off
});
	$bnode->start;
	random_table($bnode);
	# archiving goes directly; base-push through the proxy
	my $bconf = $proxy->config_for($benv, "$benv->{dir}/proxy-multipart.conf", %fast, %multipart);
	my $packs = '/packs/[0-9a-f]{2}/[0-9a-f]{32}$';

	# each backup stores new random pages: at least one pack above 5 MiB
	my $n = 0;
	my @kept;
	my $case = sub {
		my ($what, $expect_rc, %fault) = @_;
		random_rows($bnode, 12);
		$bnode->safe_psql('postgres', 'CHECKPOINT');
		my @before = backups_in_repo($benv);
		$proxy->clear;
		$proxy->fault(%fault) if %fault;
		my $r = base_push($bconf, '--fast');
		my @log = $proxy->log;
		$proxy->clear;
		my @after = backups_in_repo($benv);
		my $diag = show($r) . "\nproxy log:\n" . FaultProxy::describe(grep { $_->{path} !~ m{/wal/} } @log);
		ok((grep { $_->{method} eq 'PUT' && $_->{path} =~ /$packs/ && $_->{query} =~ /partNumber=/ } @log),
			"$what: packs went up as multipart uploads") or diag $diag;
		if ($r->{rc} == 0)
		{
			my $id = $r->{json} ? $r->{json}{backup_id} : undef;
			ok(defined $id && (grep { $_ eq $id } @after) && @after == @before + 1,
				"$what: base-push exit 0 and its manifest is there") or diag $diag;
			push @kept, $id if defined $id;
		}
		else
		{
			is_deeply(\@after, \@before, "$what: base-push exit $r->{rc}, no manifest left") or diag $diag;
		}
		is($r->{rc}, $expect_rc, "$what: exit $expect_rc") or diag $diag if defined $expect_rc;
		check_uploads_finished($what, \@log);
		return ($r, \@log);
	};

	$case->('no fault', 0);
	$case->('CompleteMultipartUpload answered 200 <Error>, not completed, once', 0,
		match => { method => 'POST', path => $packs, query => 'uploadId=' }, action => 'error200_noforward');
	$case->('CompleteMultipartUpload completed but answered 200 <Error>, once', 0,
		match => { method => 'POST', path => $packs, query => 'uploadId=' }, action => 'error200');
	$case->('UploadPart 503 twice', 0,
		match => { method => 'PUT', path => $packs, query => 'partNumber=' }, action => '503', count => 2);
	$case->('UploadPart dropped mid-body once', 0,
		match => { method => 'PUT', path => $packs, query => 'partNumber=' }, action => 'drop_body');
	my ($r, $log) = $case->('CompleteMultipartUpload answered 200 <Error> always', 1,
		match => { method => 'POST', path => $packs, query => 'uploadId=' }, action => 'error200_noforward', count => -1);
	ok((grep { $_->{method} eq 'DELETE' && $_->{query} =~ /uploadId=/ } @$log),
		'complete failing always: the proxy saw an AbortMultipartUpload');

	# the backups made under faults restore: the last one, to its end
	my $restored = restored_node('s3mp_restored');
	my $rr = pitr_prepare($benv->{conf}, $restored->data_dir, '--backup', $kept[-1], '--target', 'immediate',
		'--target-action', 'promote');
	is($rr->{rc}, 0, "backup $kept[-1] (made under faults): pitr-prepare exit 0") or diag show($rr);
	setup_restored($restored);
	$restored->start;
	ok(wait_for_recovery_end($restored), 'the restored node is consistent and promoted')
	  or diag tail_of($restored->logfile);
	cmp_ok($restored->safe_psql('postgres', 'SELECT count(*) FROM rnd'), '>', 0, 'the restored node has the random rows');
	$restored->stop;
	$bnode->stop;

	# ---------------------------------------------------------- pitr-prepare read-ahead
	# A whole restore reads the packs ahead of itself on [repo] transfers (2)
	# connections besides its own; --delta reads only on its own. Faults on
	# pack reads, the read-ahead ones included: retried, or a clear failure
	# that leaves no pg_control (a half-done restore must not start).
	note 'pitr-prepare reads ahead on more connections';
	my $nr = 0;
	my $restore = sub {
		my (%o) = @_;
		my $dir = "$benv->{dir}/ra-" . ++$nr;
		$proxy->clear;
		$proxy->fault(match => { method => 'GET', path => $packs }, %{ $o{fault} }) if $o{fault};
		my $r = pitr_prepare($bconf, $dir, '--backup', $kept[-1], '--target', 'immediate', @{ $o{args} // [] });
		my @gets = grep { $_->{method} eq 'GET' && $_->{path} =~ /$packs/ } $proxy->log;
		$proxy->clear;
		return ($r, $dir, \@gets);
	};
	my $conns = sub { my %c = map { $_->{conn} => 1 } @{ $_[0] }; return scalar keys %c; };

	my ($r0, $d0, $g0) = $restore->();
	is($r0->{rc}, 0, 'read-ahead: pitr-prepare exit 0') or diag show($r0);
	cmp_ok($conns->($g0), '>=', 2, 'read-ahead: the packs were read on more than one connection')
	  or diag FaultProxy::describe(@$g0);
	my $overlaps = 0;
	for my $x (@$g0)
	{
		$overlaps += grep { $_->{seq} > $x->{seq} && $_->{conn} != $x->{conn} && $_->{t} < ($x->{t_end} // 0) } @$g0;
	}
	note sprintf('read-ahead: %d pack GETs on %d connections, %d pairs overlapping in time',
		scalar(@$g0), $conns->($g0), $overlaps);
	my $want = tree_listing($d0);

	my ($r1, $d1, $g1) = $restore->(args => ['--delta']);
	is($r1->{rc}, 0, '--delta into an empty directory: exit 0') or diag show($r1);
	is($conns->($g1), 1, '--delta: the packs were read on one connection (no read-ahead)')
	  or diag FaultProxy::describe(@$g1);
	is(tree_listing($d1), $want, '--delta restored the same files, byte for byte');
	my ($f0, $f1) = map { $_->{json} ? $_->{json}{bytes_fetched} // 0 : 0 } $r0, $r1;
	# read ahead are only the blocks the restore reads (global/pg_control's,
	# read last, may come twice)
	ok($f1 > 0 && $f0 <= $f1 + 4 * 1024 * 1024,
		"read-ahead fetched $f0 bytes, --delta $f1: nothing it did not need");

	for my $c (
		[ 'the first pack GET answered 503 three times', 0, action => '503', count => 3 ],
		[ 'a later pack GET (read ahead) answered 503 twice', 0, action => '503', count => 2, skip => 3 ],
		[ 'a later pack GET truncated once', 0, action => 'truncate', truncate_at => 1000, skip => 3 ],
		[ 'a later pack GET dropped once', 0, action => 'drop', skip => 2 ],
		# the flipped bit may fall between the chunks this backup uses
		[ 'a later pack GET corrupted (one bit) once', undef, action => 'corrupt', skip => 3 ],
		[ 'every pack GET answered 500', 1, action => '500', count => -1 ],
		[ 'pack GETs answered 500 from the fourth on', 1, action => '500', count => -1, skip => 3 ])
	{
		my ($what, $fails, %fault) = @$c;
		my ($r, $dir, $gets) = $restore->(fault => \%fault);
		$fails //= $r->{rc} != 0;
		note "$what: pitr-prepare exit $r->{rc}";
		if (!$fails)
		{
			is($r->{rc}, 0, "$what: pitr-prepare exit 0") or diag show($r);
			is(tree_listing($dir), $want, "$what: the same files, byte for byte");
		}
		else
		{
			isnt($r->{rc}, 0, "$what: pitr-prepare fails (exit $r->{rc})") or diag show($r);
			like($r->{stderr}, qr{packs/[0-9a-f]{2}/[0-9a-f]{32}}, "$what: the message names the pack")
			  or diag show($r);
			ok(!-e "$dir/global/pg_control", "$what: no pg_control, the restore cannot be started");
		}
	}
}

# every file under DIR as "path size sha256", sorted, one per line
sub tree_listing
{
	my ($dir) = @_;
	my @out;
	find(
		{
			no_chdir => 1,
			wanted => sub {
				return unless -f $_;
				my $d = Digest::SHA->new(256);
				$d->addfile($_, 'b');
				push @out, substr($_, length($dir) + 1) . ' ' . (-s $_) . ' ' . $d->hexdigest;
			}
		},
		$dir);
	return join("\n", sort @out);
}

done_testing();
