
# 030_dump_faults.pl — logical dumps against bad input and a faulty store.
#
# Every backend: dump-fetch with the wrong master key, with a key file others
# can read, and of a dump whose objects name a data key the repository lacks:
# a clear error, exit 1. Local only (the output side does not depend on the
# backend): dump-fetch --output onto a full filesystem.
# S3 through t/lib/FaultProxy.pm: a store that fails while repo-verify reads
# a dump (or a dump removed meanwhile) makes the run incomplete, never a
# "damaged" verdict, while real damage still is one; a PUT whose success was
# lost and whose retry met 412 does not fail dump-push when the object there
# is ours; S3 dying or stalling in the middle of a multipart dump-push stops
# pg_dump, commits no meta, aborts the upload, and a later dump-push works;
# dump-fetch from a dead or stalled S3 leaves no --output file behind.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $s3 = (($ENV{PGARK_TEST_BACKEND} // "local") eq 's3' && grep { -x "$_/node" } split /:/, $ENV{PATH}) ? 1 : 0;
my $local = backend_is_local() && !PgarkTest::archiver_is_library();
# s3-tls, local+library: the same code paths as s3 and local
plan skip_all => 'nothing here adds to what the s3 and local passes test' unless $s3 || $local;

my ($node, $env) = backup_cluster('df');
my $conf = $env->{conf};
my $tmp = "$env->{dir}/t";
make_path($tmp);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE small');
$node->safe_psql('small', q{CREATE TABLE t AS SELECT g, md5(g::text) AS a FROM generate_series(1, 2000) g});

sub dump_objects { return repo_list_all($env, 'dumps/'); }

sub push_dump
{
	my ($c, @args) = @_;
	my $r = run_pgark('dump-push', '--config', $c, '--json', @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	$r->{id} = $r->{json} ? $r->{json}{dump_id} : undef;
	return $r;
}

my $r = push_dump($conf, '--db', 'small');
is($r->{rc}, 0, 'a first dump of small') or diag(show($r));
my $small_id = $r->{id};

# files left in $dir: the output or a temp file of it
sub leftovers
{
	my ($dir) = @_;
	return grep { !/^\.\.?$/ } list_dir($dir);
}

if ($local)
{
	note 'keys';
	my $out = "$tmp/keys";
	make_path($out);
	my $other = "$tmp/other.key";
	is(run_pgark('key-gen', $other)->{rc}, 0, 'another master key');
	my $wconf = env_variant($env, "$tmp/wrongkey.conf", { crypto => { key_file => $other } });
	$r = run_pgark('dump-fetch', '--config', $wconf, '--db', 'small', '--output', "$out/x.dump");
	is($r->{rc}, 1, 'dump-fetch with another master key: exit 1');
	like($r->{stderr}, qr/key/i, '... the error is about the key') or diag(show($r));
	is_deeply([ leftovers($out) ], [], '... no output file');

	my $open = "$tmp/open.key";
	copy($env->{key}, $open) or die "copy: $!";
	chmod 0644, $open or die "chmod: $!";
	my $oconf = env_variant($env, "$tmp/openkey.conf", { crypto => { key_file => $open } });
	$r = run_pgark('dump-fetch', '--config', $oconf, '--db', 'small', '--output', "$out/x.dump");
	is($r->{rc}, 1, 'dump-fetch with a key file others can read: exit 1');
	like($r->{stderr}, qr/\Q$open\E/, '... naming the key file') or diag(show($r));
	is_deeply([ leftovers($out) ], [], '... no output file');

	# a second repository with the same master key but its own data key:
	# its dump copied into ours names a data key ours does not hold. It must
	# be the newest there: ids are in order within one repository only, so
	# the other's must start in a later second than ours
	my $env2 = new_env(name => 'df2', key => $env->{key}, pgdata => $node->data_dir,
		extra => { postgres => { conninfo => $node->connstr('postgres') } });
	sleep 1;
	$r = push_dump($env2->{conf}, '--db', 'small');
	is($r->{rc}, 0, 'a dump in a second repository') or diag(show($r));
	my $id2 = $r->{id} // 'none';
	for my $f ('data', 'meta')
	{
		repo_write_object($env, "dumps/small/$id2/$f", repo_read_object($env2, "dumps/small/$id2/$f"));
	}
	$r = run_pgark('dump-fetch', '--config', $conf, '--db', 'small', '--id', $id2, '--output', "$out/x.dump");
	is($r->{rc}, 1, 'dump-fetch of a dump naming a data key the repository lacks: exit 1');
	like($r->{stderr}, qr{dumps/small/\Q$id2\E/meta}, '... naming its object') or diag(show($r));
	like($r->{stderr}, qr/key/i, '... and the key') or diag(show($r));
	is_deeply([ leftovers($out) ], [], '... no output file');
	$r = run_pgark('dump-fetch', '--config', $conf, '--db', 'small', '--output', "$out/x.dump");
	is($r->{rc}, 1, 'nor does the newest fetch pass over it to an older one');
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 1, 'repo-verify: exit 1');
	like($r->{stdout}, qr{dump dumps/small/\Q$id2\E}, '... it reports that dump damaged') or diag(show($r));
	like(store_tool($env, 'unseal', 'status/verify')->{stdout}, qr{^damaged .*dumps/small/\Q$id2\E}m,
		'... and records it');
	repo_remove_object($env, "dumps/small/$id2/$_") for ('meta', 'data');

	note 'names that are no dump';
	for my $bad ([ '--id', '../../pgark.repo' ], [ '--id', "$small_id/../$small_id" ], [ '--db', '../small' ],
		[ '--db', 'small/../small' ])
	{
		my $o = "$tmp/badname";
		make_path($o);
		my @args = $bad->[0] eq '--id' ? ('--db', 'small', @$bad) : @$bad;
		$r = run_pgark('dump-fetch', '--config', $conf, @args, '--output', "$o/x.dump");
		isnt($r->{rc}, 0, "dump-fetch @$bad: refused") or diag(show($r));
		like($r->{stderr}, qr/no .*dump of|cannot be encoded|not a/i, '... saying there is no such dump')
		  or diag(show($r));
		is_deeply([ leftovers($o) ], [], '... no output file');
	}

	note 'status/verify: a damaged list too long for the record ends with +N';
	{
		my $rec = "pgark-status 1\nkind verify\ntime 2026-11-27T02:30:00Z\nresult damaged\n"
		  . "checked backups=0 scope=all wal=present dumps=40\nproblems 40\ndetail dump dumps/x/1: damaged\n"
		  . "damaged dumps/gone/20200101T000000Z-abcd +39\n";
		my $seal = run_cmd({ stdin => $rec }, PgarkTest::_store_tool_bin(), $conf, 'seal', 'status/verify');
		is($seal->{rc}, 0, 'a record of 40 damaged dumps, 39 of them beyond the list') or diag(show($seal));
		$r = run_pgark('repo-check', '--config', $conf);
		like($r->{stdout}, qr/and 39 more damaged items than status\/verify lists/, 'repo-check says there are more')
		  or diag(show($r));
		$r = run_pgark('repo-verify', '--config', $conf);
		is($r->{rc}, 0, 'repo-verify of the newest dumps: no damage found') or diag(show($r));
		my $st = store_tool($env, 'unseal', 'status/verify')->{stdout};
		like($st, qr/^damaged \+39$/m, '... the +39 carried over (the gone dump dropped)') or diag($st);
		like($st, qr/^result damaged$/m, '... still damaged');
		like($st, qr/^detail not checked since it was found damaged: 39 more not listed$/m, '... described')
		  or diag($st);
		$r = run_pgark('repo-verify', '--config', $conf, '--all');
		is($r->{rc}, 0, 'repo-verify --all: every dump checked') or diag(show($r));
		$st = store_tool($env, 'unseal', 'status/verify')->{stdout};
		like($st, qr/^result ok$/m, '... then the unknown ones are over') or diag($st);
		unlike($st, qr/^damaged/m, '... no damaged list');
	}

	note 'status/verify: a list that overflows run after run keeps its +N';
	{
		my $meta = repo_read_object($env, "dumps/small/$small_id/meta");
		my $data = repo_read_object($env, "dumps/small/$small_id/data");
		my $mid = int(length($data) / 2);
		substr($data, $mid, 1) = chr(ord(substr($data, $mid, 1)) ^ 0x01);
		my @dirs = map { sprintf('overflow%02d', $_) } 1 .. 45;
		for my $d (@dirs)
		{
			repo_write_object($env, "dumps/$d/$small_id/meta", $meta);
			repo_write_object($env, "dumps/$d/$small_id/data", $data);
		}
		my @n;
		for my $run (1, 2)
		{
			$r = run_pgark('repo-verify', '--config', $conf);
			is($r->{rc}, 1, "45 damaged dumps, repo-verify run $run: exit 1") or diag(show($r));
			my $st = store_tool($env, 'unseal', 'status/verify')->{stdout};
			push @n, $st =~ /^damaged .* \+(\d+)$/m ? $1 : -1;
		}
		cmp_ok($n[0], '>', 0, "the list overflows (+$n[0])");
		is($n[1], $n[0], '... and a second run keeps that count rather than adding it again');
		for my $d (@dirs)
		{
			repo_remove_object($env, "dumps/$d/$small_id/$_") for ('meta', 'data');
		}
		is(run_pgark('repo-verify', '--config', $conf, '--all')->{rc}, 0, '... until they are gone');
	}

	note 'a full filesystem';
	$node->safe_psql('postgres', 'CREATE DATABASE fill');
	$node->safe_psql('fill', q{CREATE TABLE t AS SELECT g, md5(g::text) || md5((g * 7)::text) AS a
		FROM generate_series(1, 60000) g});
	$r = push_dump($conf, '--db', 'fill');
	is($r->{rc}, 0, 'a dump of more than 1 MiB') or diag(show($r));
	cmp_ok($r->{json}{dumps}[0]{plain_bytes} // 0, '>', 1_100_000, '... it is');
	my $mnt = "$tmp/mnt";
	make_path($mnt);
	my $script = <<'EOS';
mount -t tmpfs -o size=1m tmpfs "$MNT" || { echo "MOUNT failed"; exit 0; }
echo "MOUNT ok"
"$BIN/dump-fetch" --config "$CONF" --db fill --output "$MNT/fill.dump" 2>"$OUT/full.err"; echo "FETCH $?"
find "$MNT" -mindepth 1 -printf 'LEFT %P\n'
EOS
	my ($o, $e) = ('', '');
	{
		local %ENV = (%ENV, MNT => $mnt, CONF => $conf, OUT => $tmp,
			BIN => PgarkTest::pgark_bin('dump-fetch') =~ s{/dump-fetch$}{}r);
		eval { IPC::Run::run([ 'unshare', '-Urm', 'sh', '-c', $script ], '>', \$o, '2>', \$e, IPC::Run::timeout(60)) };
	}
	SKIP:
	{
		skip "cannot mount a tmpfs in a user namespace here: $e", 4 unless $o =~ /^MOUNT ok$/m;
		my $err = -e "$tmp/full.err" ? slurp_file("$tmp/full.err") : '';
		like($o, qr/^FETCH 1$/m, 'dump-fetch --output onto a full filesystem: exit 1') or diag("$o\n$err");
		like($err, qr/No space left on device/, '... "No space left on device"') or diag($err);
		like($err, qr/fill\.dump/, '... naming the output file') or diag($err);
		unlike($o, qr/^LEFT /m, '... and nothing left on it, temp file included') or diag($o);
	}
}

if ($s3)
{
	require FaultProxy;
	my $proxy = FaultProxy->start;
	my $pconf = $proxy->config_for($env, "$tmp/proxy.conf");
	my $quick = $proxy->config_for($env, "$tmp/quick.conf", retries => 0, timeout => 2);
	my $data_re = sub { my ($db, $id, $f) = @_; return "/dumps/$db/" . ($id // '[^/]+') . "/$f\$"; };
	my $status = sub { return store_tool($env, 'unseal', 'status/verify')->{stdout} };
	my $case = sub {
		my ($what, $c, $fault, @cmd) = @_;
		$proxy->clear;
		$proxy->fault(%$_) for @$fault;
		my $x = run_pgark($cmd[0], '--config', $c, @cmd[ 1 .. $#cmd ]);
		$x->{log} = [ $proxy->log ];
		note "$what:\n" . FaultProxy::describe(@{ $x->{log} });
		return $x;
	};

	note 'repo-verify: a faulty store is not damage';
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 0, 'repo-verify: ok to begin with') or diag(show($r));
	for my $c (
		[ 'the meta unreadable (503)', { match => { method => 'GET', path => $data_re->('small', $small_id, 'meta') },
			action => '503', count => -1 } ],
		[ 'the data unreadable (503)', { match => { method => 'GET', path => $data_re->('small', $small_id, 'data') },
			action => '503', count => -1 } ],
		[ 'the data stalled', { match => { method => 'GET', path => $data_re->('small', $small_id, 'data') },
			action => 'stall', forward => JSON::PP::false, stall_ms => 4000, count => -1 } ],
		[ 'the dump removed after the listing (meta and data 404)',
			{ match => { method => 'GET', path => $data_re->('small', $small_id, 'data') },
				action => 'error', status => 404, code => 'NoSuchKey', count => -1 },
			{ match => { method => 'HEAD', path => $data_re->('small', $small_id, 'meta') },
				action => 'error', status => 404, code => 'NoSuchKey', count => -1 } ])
	{
		my ($what, @f) = @$c;
		my $x = $case->($what, $what =~ /stall/ ? $quick : $pconf, \@f, 'repo-verify');
		is($x->{rc}, 1, "repo-verify, $what: exit 1");
		unlike($x->{stdout}, qr/! dump/, "$what: no dump reported damaged") or diag(show($x));
		# (a listing that cannot be completed records nothing, as for backups)
		like($status->(), $what =~ /meta/ ? qr/^result (incomplete|ok)$/m : qr/^result incomplete$/m,
			"$what: status/verify says incomplete" . ($what =~ /meta/ ? ' or is left as it was' : ''));
		unlike($status->(), qr/^damaged \S/m, "$what: and holds no damaged dump");
	}
	{
		my $x = $case->('the data missing, its meta there', $pconf,
			[ { match => { method => 'GET', path => $data_re->('small', $small_id, 'data') },
				action => 'error', status => 404, code => 'NoSuchKey', count => -1 } ], 'repo-verify');
		is($x->{rc}, 1, 'repo-verify, the data missing under its meta: exit 1');
		like($x->{stdout}, qr{! dump dumps/small/\Q$small_id\E: .*missing}, '... reported damaged') or diag(show($x));
		like($status->(), qr{^damaged .*dumps/small/\Q$small_id\E}m, '... and recorded');
		$x = $case->('the data corrupted', $pconf,
			[ { match => { method => 'GET', path => $data_re->('small', $small_id, 'data') }, action => 'corrupt', count => -1 } ],
			'repo-verify');
		like($x->{stdout}, qr{! dump dumps/small/\Q$small_id\E: .*damaged}, 'the data corrupted: damaged') or diag(show($x));
		$x = $case->('repo-list with the meta unreadable', $pconf,
			[ { match => { method => 'GET', path => $data_re->('small', $small_id, 'meta') }, action => '503', count => -1 } ],
			'repo-list');
		is($x->{rc}, 1, 'repo-list with a meta unreadable (503): exit 1, not a damaged dump listed') or diag(show($x));
		$x = $case->('dump-fetch with the meta unreadable', $pconf,
			[ { match => { method => 'GET', path => $data_re->('small', $small_id, 'meta') }, action => '503', count => -1 } ],
			'dump-fetch', '--db', 'small', '--output', "$tmp/m.dump");
		is($x->{rc}, 1, 'dump-fetch with the meta unreadable: exit 1');
		unlike($x->{stderr}, qr/damaged/, '... not called damaged') or diag(show($x));
		$proxy->clear;
		is(run_pgark('repo-verify', '--config', $conf)->{rc}, 0, 'repo-verify without faults: ok again');
	}

	note 'dump-push: a PUT stored whose answer was lost';
	for my $c ([ 'data', '--db', 'small' ], [ 'meta', '--db', 'small' ], [ 'data', '--globals' ])
	{
		my ($f, @args) = @$c;
		my $db = $args[0] eq '--globals' ? 'pg\.globals' : 'small';
		my $x = $case->("the $f PUT stored, then the connection dropped",
			$pconf, [ { match => { method => 'PUT', path => $data_re->($db, undef, $f) }, action => 'drop', forward => JSON::PP::true } ],
			'dump-push', '--json', @args);
		is($x->{rc}, 0, "dump-push @args, the $f PUT stored and its answer lost: exit 0") or diag(show($x));
		my @puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ $data_re->($db, undef, $f) } @{ $x->{log} };
		is(join(' ', map { $_->{upstream_status} // 'none' } @puts), '200 412', '... the retry met 412, and it compared')
		  or diag FaultProxy::describe(@{ $x->{log} });
		my $id = (eval { JSON::PP::decode_json($x->{stdout}) } // {})->{dump_id} // 'none';
		$db =~ s/\\//g;
		ok(repo_object_exists($env, "dumps/$db/$id/meta"), '... the dump is there');
	}
	{
		my @before = dump_objects();
		my $x = $case->('the data there differs',
			$pconf, [ { match => { method => 'PUT', path => $data_re->('small', undef, 'data') }, action => 'drop', forward => JSON::PP::true },
				{ match => { method => 'GET', path => $data_re->('small', undef, 'data') }, action => 'corrupt' } ],
			'dump-push', '--db', 'small');
		is($x->{rc}, 1, 'dump-push, the data found there differs from what was written: exit 1');
		like($x->{stderr}, qr{dumps/small/\S+/data .*already exists .*other content}, '... saying so') or diag(show($x));
		my @new = grep { my $o = $_; !grep { $_ eq $o } @before } dump_objects();
		ok(!(grep { m{/meta$} } @new), '... no meta committed');
		ok(!(grep { $_->{method} eq 'DELETE' } @{ $x->{log} }) && @new == 1, '... the object there left as it is')
		  or diag(join("\n", @new));
		repo_remove_object($env, $_) for @new;
	}

	note 'dump-push: S3 dies in the middle of a multipart upload';
	$node->safe_psql('postgres', 'CREATE DATABASE big');
	$node->safe_psql('big', q{CREATE TABLE t AS SELECT g, md5(g::text) || md5((g * 7)::text) AS a
		FROM generate_series(1, 200000) g});
	my %mp = (multipart_threshold => '5M', part_size => '5M');
	my $mconf = $proxy->config_for($env, "$tmp/mp.conf", %mp);
	my $mquick = $proxy->config_for($env, "$tmp/mpquick.conf", %mp, retries => 0, timeout => 2);
	my $pg_dumps = sub {
		my $host = $node->host;
		return grep { /pg_dump/ && /\Q$host\E/ } split /\n/, run_cmd('ps', '-eo', 'pid,args')->{stdout};
	};
	for my $c (
		[ '500 from the second part on', $mconf, action => '500', count => -1 ],
		[ 'the connection dropped from the second part on', $mconf, action => 'drop', count => -1 ],
		[ 'stalled from the second part on', $mquick, action => 'stall', forward => JSON::PP::false, stall_ms => 4000,
			count => -1 ])
	{
		my ($what, $c, %rule) = @$c;
		my @before = dump_objects();
		my $x = $case->($what, $c,
			[ { match => { method => 'PUT', path => $data_re->('big', undef, 'data'), query => 'partNumber=([2-9]|\d\d)' },
				%rule } ],
			'dump-push', '--db', 'big');
		is($x->{rc}, 1, "dump-push, S3 $what: exit 1") or diag(show($x));
		like($x->{stderr}, qr{dumps/big/\S+/data}, '... naming the object') or diag(show($x));
		ok((grep { $_->{method} eq 'PUT' && $_->{query} =~ /partNumber=1\b/ } @{ $x->{log} }), '... after a first part')
		  or diag FaultProxy::describe(@{ $x->{log} });
		is_deeply([ $pg_dumps->() ], [], '... no pg_dump left running');
		is_deeply([ dump_objects() ], \@before, '... nothing committed');
		$proxy->clear;
		ok((grep { $_->{method} eq 'DELETE' && $_->{query} =~ /uploadId=/ } @{ $x->{log} }),
			'... the multipart upload aborted') or diag FaultProxy::describe(@{ $x->{log} });
	}
	# and the next one works, though the answer to its CompleteMultipartUpload is lost
	{
		my $x = $case->('the answer to CompleteMultipartUpload lost', $mconf,
			[ { match => { method => 'POST', path => $data_re->('big', undef, 'data'), query => 'uploadId=' },
				action => 'drop', forward => JSON::PP::true } ],
			'dump-push', '--json', '--db', 'big');
		is($x->{rc}, 0, 'then a dump-push of big works, though the answer to its completion was lost')
		  or diag(show($x));
		$r = $x;
	}
	my $big_id = (eval { JSON::PP::decode_json($r->{stdout}) } // {})->{dump_id};

	note 'dump-fetch: S3 dead or stalled';
	my $out = "$tmp/fetch";
	make_path($out);
	for my $c (
		[ '503 on the data', $pconf, action => '503', count => -1 ],
		[ 'the data stalled', $quick, action => 'stall', forward => JSON::PP::false, stall_ms => 4000, count => -1 ],
		[ 'the data cut after 2 MB', $quick, action => 'truncate', truncate_at => 2_000_000, count => -1 ])
	{
		my ($what, $c, %rule) = @$c;
		my $x = $case->($what, $c, [ { match => { method => 'GET', path => $data_re->('big', $big_id, 'data') }, %rule } ],
			'dump-fetch', '--db', 'big', '--output', "$out/big.dump");
		is($x->{rc}, 1, "dump-fetch --output, S3 $what: exit 1") or diag(show($x));
		like($x->{stderr}, qr{dumps/big/\Q$big_id\E/data}, '... naming the object') or diag(show($x));
		unlike($x->{stderr}, qr/damaged/, '... not calling it damaged') or diag(show($x));
		is_deeply([ leftovers($out) ], [], '... no file left, temp file included');
	}
	$proxy->clear;
	$r = run_pgark('dump-fetch', '--config', $pconf, '--db', 'big', '--output', "$out/big.dump");
	is($r->{rc}, 0, 'without faults it fetches') or diag(show($r));
}

done_testing();
