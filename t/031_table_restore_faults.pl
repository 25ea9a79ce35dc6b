# 031_table_restore_faults.pl — table-restore under bad inputs and failing
# resources: every case exits non-zero with a clear message, leaves no scratch
# directory and no scratch server, and changes nothing in the live target.
#   s3 only (FaultProxy): the store failing while the backup is restored into
#     the scratch directory (500s past the retries, dropped connections, a
#     stall past [repo] timeout) and while the scratch server fetches WAL;
#   local only (nothing there depends on the backend): --output on a full
#     filesystem; a scratch directory that fills up as wal-fetch writes a WAL
#     segment for the server during replay (a tmpfs in a user namespace that
#     maps us to ourselves, so that the server, which refuses to run as root,
#     can run on it); a backup whose tablespace is not in its tablespace_map;
#     a backup without a role to connect as (the bootstrap superuser, its
#     name holding ':"', a prepared transaction open); a password in an
#     --into URI (never in any argv, message or log); an --into setting too
#     long to pass to psql; store-tool seal refusing input past its buffer.
# One source cluster, one backup.
use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use FaultProxy;
use PgarkTest;

my $backend = backend();
plan skip_all => "table-restore faults: only for the local and s3 backends (this is '$backend')"
  unless $backend eq 'local' || $backend eq 's3';
my $local = $backend eq 'local';

# a short parent: a Unix socket's path must fit in 107 bytes
my $scratch_parent = PostgreSQL::Test::Utils::tempdir_short() . '/scratch';
my $priv = "$scratch_parent/pgark-scratch-$>";
my $tsdir = PostgreSQL::Test::Utils::tempdir_short() . '/ts';
make_path($tsdir);

# prepared transactions allowed: one is open when the bootstrap superuser is
# asked for (a single-user backend needs a slot for it as the server does)
my ($node, $env) = backup_cluster('trf', conf => 'max_prepared_transactions = 5',
	env => { extra => { restore => { scratch_dir => $scratch_parent } } });
my $conf = $env->{conf};
$node->start;
my $osuser = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql('postgres', qq{
CREATE TABLESPACE ts LOCATION '$tsdir';
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 300) g;
CREATE TABLE big (id int, v text) TABLESPACE ts;
INSERT INTO big SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(1, 20000) g;
});
my $b = base_push($conf, '--fast');
is($b->{rc}, 0, 'base-push') or diag show($b);
my $backup_id = $b->{json} ? $b->{json}{backup_id} : (backups_in_repo($env))[-1];
$node->safe_psql('postgres', q{UPDATE t SET v = 'late' WHERE id <= 10});
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
# the live table differs from what a restore would make of it
$node->safe_psql('postgres', q{INSERT INTO t VALUES (1000, 'live only')});
my $live_t = table_hash($node, 't');

sub scratch_left
{
	opendir(my $d, $priv) or return ();
	my @l = grep { /^\d+-/ } readdir $d;
	closedir $d;
	return @l;
}

# processes whose working directory or command line is under $dir
sub procs_under
{
	my ($dir) = @_;
	my @p;
	opendir(my $d, '/proc') or return ();
	for my $pid (grep { /^\d+$/ } readdir $d)
	{
		my $cwd = readlink("/proc/$pid/cwd") // '';
		my $cmd = eval { slurp_bytes("/proc/$pid/cmdline") } // '';
		push @p, $pid if index($cwd, $dir) == 0 || index($cmd, $dir) >= 0;
	}
	closedir $d;
	return @p;
}

sub out_file
{
	my ($name) = @_;
	my $f = "$env->{dir}/$name";
	unlink $f;
	return $f;
}

# the checks every failure shares: nothing left, the live table unchanged
sub nothing_left
{
	my ($what, $extra_dir) = @_;
	is(join(' ', scratch_left()), '', "$what: no scratch directory left");
	is(join(' ', procs_under($scratch_parent), $extra_dir ? procs_under($extra_dir) : ()), '',
		"$what: no scratch server left");
	is(table_hash($node, 't'), $live_t, "$what: the live table is unchanged");
	return;
}

# ------------------------------------------------------------------ S3 faults
SKIP:
{
	skip 'store faults: only under PGARK_TEST_BACKEND=s3 (the fault proxy is plain http)', 31 if $local;
	skip 'node is not installed (the fault proxy)', 31 unless grep { -x "$_/node" } split /:/, $ENV{PATH};
	my $proxy = FaultProxy->start;
	my $pconf = $proxy->config_for($env, "$env->{dir}/proxy.conf", retries => 2, timeout => 2);

	my $into = $node->connstr('postgres');
	my @into = ('--into', $into, '--table', 'public.t', '--replace');
	my $r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $pconf, '--progress=off',
		'--wait-timeout', '120', '--table', 'public.t', '--output', out_file('p.dump'));
	is($r->{rc}, 0, 'through the proxy, no fault: table-restore works') or diag show($r);
	ok((grep { $_->{path} =~ m{/packs/} } $proxy->log), '... it read packs through the proxy');
	ok((grep { $_->{path} =~ m{/wal/} } $proxy->log), '... and WAL');

	for my $case ([ '500 past the retries', { action => '500' }, qr/500|InternalError/ ],
		[ 'dropped connections', { action => 'drop' },
			qr/Empty reply from server|Server returned nothing|Recv failure|Connection reset/ ],
		[ 'a stall past the timeout', { action => 'stall', forward => JSON::PP::false(), stall_ms => 5000,
				then => 'drop' }, qr/no progress for 2 s \(\[repo\] timeout\)/ ])
	{
		my ($what, $fault, $re) = @$case;
		$proxy->clear;
		$proxy->fault(match => { method => 'GET', path => '/packs/' }, count => -1, %$fault);
		$r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $pconf, '--progress=off',
			'--wait-timeout', '120', @into);
		isnt($r->{rc}, 0, "restoring the backup, the store fails ($what): non-zero exit") or diag show($r);
		like($r->{stderr}, qr{packs/[0-9a-f]{2}/[0-9a-f]+}, '... naming the object') or diag show($r);
		like($r->{stderr}, $re, '... and the fault') or diag show($r);
		ok((grep { defined $_->{fault} } $proxy->log), '... the fault was hit');
		nothing_left("store fails ($what)");
	}

	# WAL fetched by the scratch server's restore_command fails
	$proxy->clear;
	$proxy->fault(match => { method => 'GET', path => '/wal/0' }, count => -1, action => '500');
	$r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $pconf, '--progress=off',
		'--wait-timeout', '120', @into);
	isnt($r->{rc}, 0, 'the store fails while WAL is replayed: non-zero exit') or diag show($r);
	like($r->{stderr}, qr/scratch server .* stopped .*its log ends:/s, '... the dead server reported with its log')
	  or diag show($r);
	like($r->{stderr}, qr{wal/[0-9A-F]{16}/[0-9A-F]{24}}, '... naming the WAL object') or diag show($r);
	ok((grep { defined $_->{fault} && $_->{path} =~ m{/wal/} } $proxy->log), '... the fault was hit');
	nothing_left('WAL fetch fails');
	$proxy->stop;
}

# ------------------------------------------------------------------ local only
if (!$local)
{
	$node->stop;
	done_testing();
	exit 0;
}

# A tmpfs of $size mounted at $mnt in a user and mount namespace, and $script
# (sh) run there as ourselves (a nested user namespace that maps root of the
# first back to our uid and gid: PostgreSQL refuses to run as root); %env
# for it. The tmpfs is gone when it returns.
my ($uid, $gid) = ($>, (split / /, $))[0]);
sub in_tmpfs
{
	my ($size, $mnt, $script, %env) = @_;
	make_path($mnt);
	my $outer = 'mount -t tmpfs -o size="$1" tmpfs "$2" || { echo MOUNTFAIL; exit 0; }; '
	  . 'exec unshare --map-user="$3" --map-group="$4" sh -c "$5"';
	return run_cmd({ timeout => 600, env => \%env }, 'unshare', '-Urm', 'sh', '-c', $outer, 'sh', $size, $mnt, $uid,
		$gid, $script);
}

my $tmp = PostgreSQL::Test::Utils::tempdir_short();
my $probe = in_tmpfs('1m', "$tmp/probe", 'id -u; touch "$MNT/x" && stat -c %u "$MNT/x"', MNT => "$tmp/probe");
my $can_tmpfs = $probe->{rc} == 0 && $probe->{stdout} =~ /^$uid\n$uid\n/;
note 'tmpfs in a user namespace: ' . ($can_tmpfs ? 'yes' : 'no: ' . show($probe));

my $tr = pgark_bin('table-restore');

SKIP:
{
	skip 'cannot mount a tmpfs in a user namespace that maps us to ourselves', 20 unless $can_tmpfs;

	# --- --output on a full filesystem
	my $mnt = "$tmp/full";
	my $out = "$tmp/out1";
	make_path($out);
	my $r = in_tmpfs('128k', $mnt, q{
"$TR" --config "$CONF" --progress=off --wait-timeout 120 --table public.big --output "$MNT/big.dump" \
  >"$OUT/stdout" 2>"$OUT/stderr"
echo $? >"$OUT/rc"
ls -A "$MNT" >"$OUT/ls"
}, TR => $tr, CONF => $conf, MNT => $mnt, OUT => $out);
	is($r->{rc}, 0, 'full disk: the namespace ran') or diag show($r);
	my $stderr = eval { slurp_bytes("$out/stderr") } // '';
	chomp(my $rc = eval { slurp_bytes("$out/rc") } // '');
	isnt($rc, '0', '--output on a full filesystem: non-zero exit') or diag $stderr;
	like($stderr, qr/ERROR.*No space left on device/, '... the error says ENOSPC') or diag $stderr;
	like($stderr, qr/\Q$mnt\E/, '... and names the file') or diag $stderr;
	is(eval { slurp_bytes("$out/ls") } // 'none', '', '... no file left on it, partial or temporary');
	nothing_left('--output on a full filesystem');

	# --- the scratch directory fills up during replay, past the up-front
	# check: how much the check asks for, then a tmpfs with a little more
	my $c2 = env_variant($env, "$env->{dir}/huge.conf", { restore => { scratch_reserve => '50000000M' } });
	$r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $c2, '--progress=off', '--table', 'public.t',
		'--output', out_file('huge.dump'));
	my ($files) = $r->{stderr} =~ /needs \d+ bytes \((\d+) of files/;
	ok($files, "the up-front check says what the backup's files need") or diag show($r);
	$files //= 64 << 20;
	my $c3 = env_variant($env, "$env->{dir}/small.conf", { restore => { scratch_reserve => '1M' } });
	# 6 MiB more: no room for the 16 MiB segment wal-fetch writes for the
	# server (pg_wal/RECOVERYXLOG). (The server's own writes are not made to
	# fail: with 20 to 48 MiB more it is still wal-fetch that runs out, with
	# 48.5 MiB more the restore works; what the server writes beyond the
	# segments it is given is too little to aim a tmpfs's size at.)
	{
		my ($who, $slack, $re) = ('wal-fetch', 6,
			qr/wal-fetch: ERROR: could not write the file fetched for pg_wal\/RECOVERYXLOG: No space left on device/);
		my $size = int(($files + $slack * (1 << 20)) / 1024) . 'k';
		$mnt = "$tmp/scr-$slack";
		$out = "$tmp/out-$slack";
		make_path($out);
		$r = in_tmpfs($size, $mnt, q{
"$TR" --config "$CONF" --progress=off --wait-timeout 120 --scratch-dir "$MNT" --table public.t \
  --output "$OUT/t.dump" >"$OUT/stdout" 2>"$OUT/stderr"
echo $? >"$OUT/rc"
ls -A "$MNT/pgark-scratch-$(id -u)" >"$OUT/ls"
}, TR => $tr, CONF => $c3, MNT => $mnt, OUT => $out);
		is($r->{rc}, 0, "scratch fills up ($who): the namespace ran") or diag show($r);
		$stderr = eval { slurp_bytes("$out/stderr") } // '';
		chomp($rc = eval { slurp_bytes("$out/rc") } // '');
		isnt($rc, '0', "the scratch directory ($size) fills up as $who writes during replay: non-zero exit")
		  or diag $stderr;
		like($stderr, qr/scratch server .* stopped .* its log ends: .*$re/s,
			'... the dead server reported with the cause from its log') or diag $stderr;
		unlike($stderr, qr/database system is shut down|starting up|startup process \(PID \d+\) exited with exit code/,
			'... the lines that do not say why left out of it') or diag $stderr;
		# its start is in the tail: the external PID file is written
		like($stderr, qr/its log ends: LOG:  listening on Unix socket/, '... from the server\'s start on');
		unlike($stderr, qr/external PID file/, '... where it wrote its external PID file') or diag $stderr;
		is(eval { slurp_bytes("$out/ls") } // 'none', '', '... the scratch directory removed');
		ok(!-e "$out/t.dump", '... no dump');
		nothing_left("scratch fills up ($who)", $mnt);
	}
}

# --- a backup tablespace that is not in the backup's tablespace_map: refused
# before anything is written (a forged manifest, put back afterwards)
{
	my $name = "base/$backup_id/manifest";
	my $saved = repo_read_object($env, $name);
	my $u = store_tool($env, 'unseal', $name);
	is($u->{rc}, 0, 'the manifest unsealed') or diag show($u);
	my $m = $u->{stdout};
	my ($oid) = $m =~ m{^tablespace pg_tblspc/(\d+) }m;
	ok($oid, "the backup has tablespace $oid");
	ok($m =~ s/^tablespace_map (\d+)\n(.*?)\n(?=body\n)/tablespace_map 0\n\n/ms, 'its tablespace_map removed');
	# the tool itself: input over its 1 MiB buffer is refused, not cut
	my $s = store_tool($env, 'seal', $name, { stdin => $m . ("\n" x ((1 << 20) + 1 - length $m)) });
	isnt($s->{rc}, 0, 'store-tool seal: over 1 MiB of input refused') or diag show($s);
	like($s->{stderr}, qr/over 1 MiB/, '... saying so') or diag show($s);
	is(repo_read_object($env, $name), $saved, '... the object unchanged');
	$s = store_tool($env, 'seal', $name, { stdin => $m });
	is($s->{rc}, 0, 'the forged manifest sealed') or diag show($s);
	my $r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off', '--table',
		'public.t', '--output', out_file('ts.dump'));
	is($r->{rc}, 1, 'a tablespace not in tablespace_map: exit 1') or diag show($r);
	like($r->{stderr}, qr{tablespace pg_tblspc/$oid \(at \Q$tsdir\E\) is not in the backup's tablespace_map, so it cannot be restored inside the scratch directory: refused},
		'... saying which and why') or diag show($r);
	ok(!-e "$env->{dir}/ts.dump", '... no dump');
	nothing_left('tablespace not remapped');
	my @ts = glob("$tsdir/*/*");
	ok(@ts, "the live tablespace still has its files");
	repo_write_object($env, $name, $saved);
}

# $p is $anc or one of its descendants
sub descends_from
{
	my ($p, $anc) = @_;
	for (1 .. 64)
	{
		return 1 if $p == $anc;
		my $st = eval { slurp_bytes("/proc/$p/stat") } // return 0;
		($p) = $st =~ /\) \S (\d+)/ or return 0;
		return 0 if $p <= 1;
	}
	return 0;
}

# --- a password in an --into URI: blanked in our argv, never in a child's,
# in a message or in the audit log
my $secret = 'Pw0rdXyzzySecret';
{
	my $host = $node->host;
	my $port = $node->port;
	my $uri = "postgresql://$osuser:$secret\@/postgres?host=$host&port=$port";
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start([ $tr, '--config', $conf, '--progress=off', '--table', 'public.t', '--as', 't_uri',
			'--into', $uri ], '<', \undef, '>', \$o, '2>', \$e);
	my $pid = $h->{KIDS}[0]{PID};
	my (%seen, $own, $children);
	# every process of ours, while it runs
	while ($h->pumpable)
	{
		opendir(my $d, '/proc') or last;
		for my $p (grep { /^\d+$/ } readdir $d)
		{
			# ours and our descendants' only (another run of this test
			# may be on the machine)
			next unless descends_from($p, $pid);
			my $c = eval { slurp_bytes("/proc/$p/cmdline") } // next;
			# ours shows it until we blank it (before any child starts)
			if ($p == $pid)
			{
				next if !defined $own && index($c, $secret) >= 0;
				$own = $c if $c =~ /--into/;
			}
			$children++ if $c =~ m{(^|/)(pg_dump|psql|wal-fetch)\0};
			$seen{"$p: $c"} = 1 if index($c, $secret) >= 0;
		}
		closedir $d;
		eval { $h->pump_nb };
		usleep(20_000);
	}
	$h->finish;
	is($h->result(0), 0, 'a password in an --into URI: the restore works') or diag $e;
	ok(defined $own, '... its command line read while it ran');
	like($own // '', qr{postgresql://\Q$osuser\E:\*+\@/}, '... the password blanked in it');
	ok($children, '... children seen while it ran');
	is(join("\n", sort keys %seen), '', '... no process ever had the password in its argv');
	unlike($e . $o, qr/$secret/, '... nor in its output');
	unlike(eval { slurp_bytes($env->{audit}) } // '', qr/$secret/, '... nor in the audit log');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t_uri'), '300', '... the table restored');

	# an error with the URI: the message has no password
	my $bad = "postgresql://$osuser:$secret\@/pgark_no_such_db?host=$host&port=$port";
	my $r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off', '--table',
		'public.t', '--into', $bad);
	isnt($r->{rc}, 0, 'a URI to a database that does not exist: non-zero exit');
	like($r->{stderr}, qr/pgark_no_such_db/, '... naming it') or diag show($r);
	unlike($r->{stderr} . $r->{stdout}, qr/$secret/, '... without the password');
	unlike(eval { slurp_bytes($env->{audit}) } // '', qr/$secret/, '... nor in the audit log');

	# a setting too long to pass to psql: refused before any work
	my $long = $secret . ('x' x 1200);
	$r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off', '--table', 'public.t',
		'--into', "postgresql://$osuser:$long\@/postgres?host=$host&port=$port");
	is($r->{rc}, 1, 'an --into setting too long to pass to psql: exit 1') or diag show($r);
	like($r->{stderr}, qr/--into: connection setting password is too long \(or too many settings\) to pass to psql/,
		'... naming the setting') or diag show($r);
	unlike($r->{stderr}, qr/$secret/, '... not its value');
	is(join(' ', scratch_left()), '', '... nothing started');
	$node->safe_psql('postgres', 'DROP TABLE t_uri');
}

# --- no role named after the OS user, "postgres" not a superuser: the
# bootstrap superuser; then no role named after either: the bootstrap
# superuser too, its name asked of a single-user backend.
# The bootstrap superuser is renamed in the live cluster, replayed from WAL,
# to a name holding ':"' (what ended the single-user backend's answer); a
# prepared transaction is open at the target (the single-user backend
# needs max_prepared_transactions as the server does).
{
	my $boot = 'pgark:"boot';
	$node->safe_psql('postgres', q{CREATE TABLE px (i int); BEGIN; INSERT INTO px VALUES (1);
PREPARE TRANSACTION 'pgark_px'});
	$node->safe_psql('postgres', 'CREATE ROLE pgark_tmp_su SUPERUSER LOGIN');
	$node->safe_psql('postgres', qq{ALTER ROLE "$osuser" RENAME TO "pgark:""boot"},
		extra_params => [ '-U', 'pgark_tmp_su' ]);
	$ENV{PGUSER} = $boot;
	$node->safe_psql('postgres', 'DROP ROLE pgark_tmp_su; CREATE ROLE postgres LOGIN');
	$last = switch_wal($node);
	ok(wait_for_archive($node, $last), "role changes archived up to $last");
	my $r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off', '--table',
		'public.t', '--output', out_file('boot.dump'));
	is($r->{rc}, 0, 'no role of the OS user, "postgres" not a superuser: the bootstrap superuser works')
	  or diag show($r);
	my $l = run_cmd('pg_restore', '-f', '-', '--data-only', "$env->{dir}/boot.dump");
	like($l->{stdout}, qr/^1000\tlive only$/m, '... the dump holds the rows');
	is(join(' ', scratch_left()), '', '... nothing left');

	$node->safe_psql('postgres', 'DROP ROLE postgres');
	$last = switch_wal($node);
	ok(wait_for_archive($node, $last), "DROP ROLE postgres archived up to $last");
	$r = run_pgark({ timeout => 600 }, 'table-restore', '--config', $conf, '--progress=off', '--table',
		'public.t', '--output', out_file('norole.dump'));
	is($r->{rc}, 0, 'no role of the OS user nor "postgres": the bootstrap superuser, named by a single-user backend')
	  or diag show($r);
	$l = run_cmd('pg_restore', '-f', '-', '--data-only', "$env->{dir}/norole.dump");
	like($l->{stdout}, qr/^1000\tlive only$/m, '... the dump holds the rows');
	nothing_left('no role of ours to connect as');
	is($node->safe_psql('postgres', 'SELECT gid FROM pg_prepared_xacts'), 'pgark_px',
		'... the prepared transaction was open at the target');
	$node->safe_psql('postgres', q{ROLLBACK PREPARED 'pgark_px'});
}

$node->stop;
done_testing();
