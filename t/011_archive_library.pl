
# 011_archive_library.pl — pgark_archive.so: wal-push inside PostgreSQL's
# archiver (archive_library), whatever PGARK_TEST_ARCHIVER says. Under pgbench
# every segment is archived and fetches back byte-exact; a key made unsafe
# and a missing repository are failures (failed_count rises, the segment stays
# .ready and out of the repository) until fixed, although the repository is
# kept open between calls; a different-content conflict is never reported
# archived, an identical copy already archived is success; a new pgark.config after a reload, and an edited configuration
# file, are picked up; key_command runs once per opening, not per segment;
# a backlog is stored by look-ahead inside the archiver (records in its
# memory), a failing look-ahead is reported and never taken for archived, a
# failure keeps the records of the segments stored ahead (the retries and
# the calls after them do not store them again);
# and the archiver process never dies.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgarkTest;

my $so = eval { local $ENV{PGARK_TEST_ARCHIVER} = 'library'; archive_library_path() };
plan skip_all => "pgark_archive.so was not built: $@" unless defined $so;

my $node = PostgreSQL::Test::Cluster->new('lib');
$node->init(has_archiving => 1, allows_streaming => 1);
my $env = new_env(name => 'lib', pgdata => $node->data_dir);
# Every segment stays in pg_wal, to compare what was archived with it.
$node->append_conf('postgresql.conf', qq{
# pgark, through the archive library
archive_mode = on
archive_library = '$so'
archive_command = ''
pgark.config = '$env->{conf}'
wal_keep_size = '4GB'
max_wal_size = '4GB'
checkpoint_timeout = '1h'
shared_buffers = '32MB'
});
$node->start;
my $wal = $node->data_dir . '/pg_wal';

is($node->safe_psql('postgres', 'SHOW archive_library'), $so, 'archive_library is pgark_archive.so');
my $archiver_pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'});
like($archiver_pid, qr/^\d+$/, "the archiver runs (pid $archiver_pid)");

sub stat_archiver
{
	my ($archived, $failed, $last_archived, $last_failed) = split /\|/, $node->safe_psql('postgres',
		q{SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '')
		    FROM pg_stat_archiver});
	return { archived => $archived, failed => $failed, last_archived => $last_archived, last_failed => $last_failed };
}

sub fetches_back_exact
{
	my ($name, $conf) = @_;
	my $dest = "$env->{dir}/fetched-$name";
	unlink $dest;
	my $r = run_pgark('wal-fetch', '--config', $conf // $env->{conf}, $name, $dest);
	my $ok = $r->{rc} == 0 && -f $dest && slurp_bytes($dest) eq slurp_bytes("$wal/$name");
	diag "wal-fetch $name: exit $r->{rc}: $r->{stderr}" unless $ok;
	unlink $dest;
	return $ok;
}

# records of the audit log at $file
sub audit_of
{
	my ($file) = @_;
	return read_audit({ audit => $file });
}

# Wait until $walname has failed at least $n more times than $before.
sub wait_failed
{
	my ($walname, $before, $n) = @_;
	return $node->poll_query_until('postgres',
		"SELECT failed_count >= $before + $n AND last_failed_wal = '$walname' FROM pg_stat_archiver");
}

# ---------------------------------------------------------------------------
note 'under pgbench: every segment archived through the library';
$node->command_ok([ 'pgbench', '-i', '-s', '5', '-q', 'postgres' ], 'pgbench -i -s 5');
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-h', $node->host, '-p', $node->port, '-c', '4', '-j', '2', '-T', '10', 'postgres' ],
	'>', \$bench_out, '2>', \$bench_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
my @switched;
for (1 .. 3)
{
	sleep 3;
	push @switched, switch_wal($node);
}
$bench->finish;
is($bench->result(0), 0, 'pgbench -T 10 ran') or diag $bench_err;
push @switched, switch_wal($node);
ok(wait_for_archive($node, $switched[-1]), "the archiver caught up to $switched[-1]");
my $st = stat_archiver();
is($st->{failed}, 0, 'pg_stat_archiver: no failure');
cmp_ok($st->{archived}, '>', 5, "pg_stat_archiver: $st->{archived} files archived");
ok(repo_object_exists($env, wal_object_name($_)), "switched segment $_ is in the repository") for @switched;

my @audit = grep { $_->{program} ne 'repo-init' } audit_of($env->{audit});
# a call that finds others .ready stores them too (push-ahead); their own
# calls then find them stored (push, "stored ahead by an earlier call")
is_deeply([ grep { $_->{program} ne 'pgark_archive' || $_->{result} ne 'ok' || $_->{action} !~ /^push(-ahead)?$/ } @audit ],
	[], 'every audit record: program pgark_archive, push or push-ahead, ok');
is_deeply([ sort map { $_->{object} } grep { $_->{action} eq 'push' } @audit ], [ repo_list_objects($env, 'wal/') ],
	'one push record per archived object');
is_deeply([ grep { $_->{pid} != $archiver_pid } @audit ], [],
	'every push ran inside the archiver process (no process started per segment)');
unlike(slurp_file($node->logfile), qr/archive command/, 'no archive_command ran');
# the archiver runs for ever: what the library opens per segment or per
# opening (files, the repository, pipes for key_command) must be closed again
sub archiver_fds { my @fd = glob("/proc/$archiver_pid/fd/*"); return scalar(@fd); }
my $fds0 = archiver_fds();
cmp_ok($fds0, '>', 2, "the archiver's file descriptors are counted in /proc ($fds0)");

# ---------------------------------------------------------------------------
note 'failure: the key file made unsafe while the repository is open';
{
	chmod 0644, $env->{key} or die;
	my $before = stat_archiver()->{failed};
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
	my $s = switch_wal($node);
	ok(wait_failed($s, $before, 1), "archiving $s failed (failed_count rose)");
	ok(-f "$wal/archive_status/$s.ready", "$s stays .ready");
	ok(!-e "$wal/archive_status/$s.done", "$s is not .done");
	ok(!repo_object_exists($env, wal_object_name($s)), "$s is not in the repository");
	like(slurp_file($node->logfile),
		qr/WARNING:\s+pgark_archive: key file \Q$env->{key}\E has mode 0644: group or others can access it/,
		'the server log has pgark\'s reason, as a WARNING');
	ok((grep { $_->{object} eq $s && $_->{result} eq 'key' } audit_of($env->{audit})), 'audit record with result "key"');
	chmod 0600, $env->{key} or die;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');    # wakes the archiver up
	ok(wait_for_archive($node, $s), "fixed: $s is archived");
	ok(-f "$wal/archive_status/$s.done", "$s is .done");
	ok(fetches_back_exact($s), "$s fetches back byte-exact");
}

# ---------------------------------------------------------------------------
note 'failure: the repository goes missing while it is open';
{
	# pgark.repo gone (an emptied directory or bucket prefix, an absent mount)
	my $meta = repo_read_object($env, 'pgark.repo');
	repo_remove_object($env, 'pgark.repo');
	my $before = stat_archiver()->{failed};
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
	my $s = switch_wal($node);
	ok(wait_failed($s, $before, 1), "no pgark.repo: archiving $s failed (failed_count rose)");
	ok(-f "$wal/archive_status/$s.ready", "$s stays .ready");
	ok(!repo_object_exists($env, wal_object_name($s)), "$s is not in the repository");
	like(slurp_file($node->logfile), qr/WARNING:\s+pgark_archive: \Q$env->{where}\E is not a pgark repository \(no pgark.repo\)/,
		'the server log says it is not a repository any more');
	repo_write_object($env, 'pgark.repo', $meta);
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_for_archive($node, $s), "pgark.repo back: $s is archived");
	ok(fetches_back_exact($s), "$s fetches back byte-exact");
}
SKIP:
{
	skip 'the repository directory moved away: local backend only', 6 unless backend_is_local();
	my $moved = "$env->{repo}.moved";
	rename $env->{repo}, $moved or die "rename: $!";
	my $before = stat_archiver()->{failed};
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
	my $s = switch_wal($node);
	ok(wait_failed($s, $before, 1), "directory moved: archiving $s failed (failed_count rose)");
	ok(-f "$wal/archive_status/$s.ready", "$s stays .ready");
	ok(!-e $env->{repo} && !-e "$moved/" . wal_object_name($s), "$s is nowhere, the directory was not re-created");
	like(slurp_file($node->logfile), qr/WARNING:\s+pgark_archive: repository directory \Q$env->{repo}\E does not exist/,
		'the server log says the repository is missing');
	rename $moved, $env->{repo} or die "rename: $!";
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_for_archive($node, $s), "back: $s is archived");
	ok(fetches_back_exact($s), "$s fetches back byte-exact");
}

# ---------------------------------------------------------------------------
note 'conflict: an object of that name with other content is never taken for archived';
{
	# the segment being written, with some WAL in it; a copy of it now differs
	# from what it will hold when complete
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
	my $cur = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
	make_path("$env->{dir}/early");
	copy("$wal/$cur", "$env->{dir}/early/$cur") or die "copy: $!";
	my $r = run_pgark('wal-push', '--config', $env->{conf}, "$env->{dir}/early/$cur");
	is($r->{rc}, 0, "an early copy of $cur pushed by hand") or diag $r->{stderr};
	my $obj = wal_object_name($cur);
	my $planted = repo_read_object($env, $obj);

	my $before = stat_archiver()->{failed};
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
	my $s = switch_wal($node);
	is($s, $cur, "$cur completed");
	ok(wait_failed($s, $before, 2), "archiving $s failed, and failed again on retry");
	my $st2 = stat_archiver();
	ok($st2->{last_archived} lt $s, "never reported archived (last_archived_wal $st2->{last_archived})");
	ok(-f "$wal/archive_status/$s.ready", "$s stays .ready");
	ok(repo_read_object($env, $obj) eq $planted, 'the archived object was not overwritten');
	like(slurp_file($node->logfile),
		qr/WARNING:\s+pgark_archive: \Q$obj\E is already archived with DIFFERENT content; refusing to overwrite it/,
		'the server log says the content differs');
	ok((grep { $_->{object} eq $obj && $_->{result} eq 'conflict' && $_->{program} eq 'pgark_archive' } audit_of($env->{audit})),
		'audit record with result "conflict"');
	# someone sorts it out: the stray object goes
	repo_remove_object($env, $obj);
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_for_archive($node, $s), "conflict resolved: $s is archived");
	ok(fetches_back_exact($s), "$s fetches back byte-exact (the server's content, not the early copy)");
}

# ---------------------------------------------------------------------------
note 'configuration: a new pgark.config after a reload; an edited file; key_command once per opening';
{
	my $runs = "$env->{dir}/key-command-runs";
	my $sigs = "$env->{dir}/key-command-signals";
	write_bytes("$env->{dir}/key-command.sh",
		"grep -E '^Sig(Ign|Blk):' /proc/self/status >> '$sigs'\necho run >> '$runs'\nexec cat '$env->{key}'\n");
	my %kc = (key_file => undef, key_command => "sh $env->{dir}/key-command.sh");
	my $conf2 = env_variant($env, "$env->{dir}/pgark2.conf",
		{ crypto => \%kc, log => { audit => "$env->{dir}/audit2.jsonl" } });
	$node->safe_psql('postgres', "ALTER SYSTEM SET pgark.config = '$conf2'; SELECT pg_reload_conf();");
	ok($node->poll_query_until('postgres', "SELECT current_setting('pgark.config') = '$conf2'"), 'reloaded');
	usleep(500_000);    # the postmaster signals the archiver right after
	my @segs;
	for (1 .. 3)
	{
		$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
		push @segs, switch_wal($node);
	}
	ok(wait_for_archive($node, $segs[-1]), "archived @segs");
	my %in2 = map { $_->{object} => $_ } audit_of("$env->{dir}/audit2.jsonl");
	my %in1 = map { $_->{object} => $_ } audit_of($env->{audit});
	is_deeply([ grep { !$in2{ wal_object_name($_) } } @segs ], [], 'their audit records are in the new configuration\'s audit log');
	is_deeply([ grep { $in1{ wal_object_name($_) } } @segs ], [], 'and not in the old one');
	my @r = -e $runs ? split(/\n/, slurp_bytes($runs)) : ();
	is(scalar(@r), 1, 'key_command ran once for three segments');
	my $sig = -e $sigs ? slurp_bytes($sigs) : '';
	my ($ign) = $sig =~ /^SigIgn:\s+([0-9a-f]+)$/m;
	my ($blk) = $sig =~ /^SigBlk:\s+([0-9a-f]+)$/m;
	# signals 32 and 33 are glibc's own (NPTL): no program can change their
	# disposition through libc, so they keep whatever the environment that
	# started the server gave them (ignored under some test runners)
	my $mask = sub { no warnings 'portable'; my $v = hex($_[0]); $v &= ~((1 << 31) | (1 << 32)); $v };
	ok(defined $ign && defined $blk && $mask->($ign) == 0 && hex($blk) == 0,
		'key_command runs with no signal ignored or blocked (not the archiver\'s)')
	  or diag $sig;

	# the file edited in place, no reload: seen at the next segment
	env_variant($env, $conf2, { crypto => \%kc, log => { audit => "$env->{dir}/audit3.jsonl" } });
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
	my $s = switch_wal($node);
	ok(wait_for_archive($node, $s), "archived $s");
	ok((grep { $_->{object} eq wal_object_name($s) } audit_of("$env->{dir}/audit3.jsonl")),
		'the edited configuration file was read again (its new audit log has the record)');
	@r = split /\n/, slurp_bytes($runs);
	is(scalar(@r), 2, 'key_command ran once more, for the new opening');
	ok(fetches_back_exact($_), "$_ fetches back byte-exact") for @segs, $s;

	# a configuration file that does not exist: not configured, nothing archived
	my $none = "$env->{dir}/does-not-exist.conf";
	$node->safe_psql('postgres', "ALTER SYSTEM SET pgark.config = '$none'; SELECT pg_reload_conf();");
	ok($node->poll_query_until('postgres', "SELECT current_setting('pgark.config') = '$none'"), 'reloaded');
	usleep(500_000);
	my $n = switch_wal($node);
	my $log_re = qr/WARNING:\s+pgark_archive: configuration file "\Q$none\E" does not exist/;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	usleep(100_000) while slurp_file($node->logfile) !~ $log_re && time() < $deadline;
	like(slurp_file($node->logfile), $log_re, 'a missing configuration file: the archiver says so');
	ok(-f "$wal/archive_status/$n.ready", "$n stays .ready");
	ok(!repo_object_exists($env, wal_object_name($n)), "$n is not in the repository");

	# meanwhile wal-push stores it: for the library it is then already
	# archived with identical content, which is success (as for wal-push)
	my $r = run_pgark('wal-push', '--config', $env->{conf}, "$wal/$n");
	is($r->{rc}, 0, "$n pushed by hand with wal-push meanwhile") or diag $r->{stderr};
	$node->safe_psql('postgres', "ALTER SYSTEM RESET pgark.config; SELECT pg_reload_conf();");
	ok(wait_for_archive($node, $n), "pgark.config back: $n is archived");
	ok(-f "$wal/archive_status/$n.done", "$n is .done");
	ok((grep { $_->{object} eq wal_object_name($n) && $_->{result} eq 'exists' && $_->{program} eq 'pgark_archive' }
		audit_of($env->{audit})), 'identical content already archived: audit record with result "exists"');
	like(slurp_file($node->logfile), qr/LOG:\s+pgark_archive: \Q$n\E was already archived with identical content/,
		'the server log says it was already archived');
	ok(fetches_back_exact($n), "$n fetches back byte-exact");
}

# $n new segments, held .ready: archiving fails while the key file is
# unsafe (it stays so until the caller makes it 0600 again)
sub held_backlog
{
	my ($n) = @_;
	chmod 0644, $env->{key} or die;
	my $before = stat_archiver()->{failed};
	my @segs;
	for (1 .. $n)
	{
		$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT * FROM pgbench_history LIMIT 100');
		push @segs, switch_wal($node);
	}
	ok(wait_failed($segs[0], $before, 1), "archiving $segs[0] failed while the key file was unsafe");
	return @segs;
}

# ---------------------------------------------------------------------------
note 'look-ahead: a backlog is stored in parallel by its first call, the others find theirs stored';
{
	# archiving held back by a failure, as after an outage: segments pile up
	my @backlog = held_backlog(5);
	my $lines = scalar(audit_of($env->{audit}));
	chmod 0600, $env->{key} or die;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_for_archive($node, $backlog[-1]), "fixed: the backlog up to $backlog[-1] is archived");
	my @all = audit_of($env->{audit});
	my @new = @all[ $lines .. $#all ];
	my %ahead = map { $_->{object} => $_ } grep { $_->{action} eq 'push-ahead' && $_->{result} eq 'ok' } @new;
	my %own = map { $_->{object} => $_ } grep { $_->{action} eq 'push' && $_->{result} eq 'ok' } @new;
	ok(!exists $ahead{ wal_object_name($backlog[0]) }, "$backlog[0], the segment asked for, is pushed as itself");
	for my $s (@backlog[ 1 .. $#backlog ])
	{
		my $o = wal_object_name($s);
		ok($ahead{$o}, "$s was stored ahead by the call for an earlier segment");
		is($own{$o} && $own{$o}{detail}, 'stored ahead by an earlier call', "$s: its own call found it stored");
		is($ahead{$o} && $ahead{$o}{pid}, $archiver_pid, "$s: stored ahead inside the archiver");
	}
	ok(fetches_back_exact($_), "$_ fetches back byte-exact") for @backlog;
	is(stat_archiver()->{last_archived}, $backlog[-1], "pg_stat_archiver: last archived $backlog[-1]");

	# a look-ahead that fails (damaged bytes already under the last one's
	# name) is reported, never taken for archived, and leaves that segment
	# to its own call, which fails too until the name is cleared
	my @b2 = held_backlog(3);
	my $bad = wal_object_name($b2[2]);
	repo_write_object($env, $bad, 'PGARKOBJ' . ("\0" x 100));
	$lines = scalar(audit_of($env->{audit}));
	my $before = stat_archiver()->{failed};
	chmod 0600, $env->{key} or die;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_failed($b2[2], $before, 1), "$b2[2], whose name holds damaged bytes, fails");
	ok(-f "$wal/archive_status/$b2[2].ready", "$b2[2] stays .ready");
	@all = audit_of($env->{audit});
	@new = @all[ $lines .. $#all ];
	my @fa = grep { $_->{action} eq 'push-ahead' && $_->{object} eq $bad } @new;
	ok(@fa && $fa[0]{result} ne 'ok', "its look-ahead failed and was audited ($fa[0]{result})");
	like(slurp_file($node->logfile), qr/WARNING:\s+pgark_archive: look-ahead for \Q$b2[2]\E: /,
		'with a WARNING naming it');
	ok(!grep({ $_->{action} eq 'push' && $_->{object} eq $bad && $_->{result} eq 'ok' } @new),
		"$b2[2] was never reported archived");
	ok(-f "$wal/archive_status/$b2[1].done", "$b2[1], stored ahead beside it, is archived");
	repo_remove_object($env, $bad);
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_for_archive($node, $b2[2]), "the name cleared: $b2[2] is archived");
	ok(fetches_back_exact($_), "$_ fetches back byte-exact") for @b2;

	# a failure keeps the records of segments stored ahead: here a .backup
	# file (archived after the segment it names, before the next ones) holds
	# damaged bytes under its name; the archiver's retries of it fail, and
	# once it is cleared the segments after it are answered from their
	# records, not stored again
	chmod 0644, $env->{key} or die;
	$before = stat_archiver()->{failed};
	$node->safe_psql('postgres', "SELECT pg_backup_start('t011', true); SELECT pg_backup_stop(false)");
	switch_wal($node) for 1 .. 2;
	my @held = sort map { /^(.*)\.ready$/ ? ($1) : () } list_dir("$wal/archive_status");
	my ($bk) = grep { /\.backup$/ } @held;
	my @after = grep { /^[0-9A-F]{24}$/ && $_ gt ($bk // 'F') } @held;
	ok(defined $bk && @after >= 2, 'a .backup file and ' . scalar(@after) . ' segments after it are .ready');
	ok(wait_failed($held[0], $before, 1), "archiving $held[0] failed while the key file was unsafe");
	my $badbk = wal_object_name($bk);
	repo_write_object($env, $badbk, 'PGARKOBJ' . ("\0" x 100));
	$lines = scalar(audit_of($env->{audit}));
	$before = stat_archiver()->{failed};
	chmod 0600, $env->{key} or die;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_failed($bk, $before, 3), "$bk, whose name holds damaged bytes, failed three times");
	ok(-f "$wal/archive_status/$_.ready", "$_ is still .ready") for @after;
	repo_remove_object($env, $badbk);
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(wait_for_archive($node, $after[-1]), "the name cleared: everything up to $after[-1] is archived");
	@all = audit_of($env->{audit});
	@new = @all[ $lines .. $#all ];
	for my $s (@after)
	{
		my $o = wal_object_name($s);
		my @pa = map { $_->{result} } grep { $_->{action} eq 'push-ahead' && $_->{object} eq $o } @new;
		is_deeply(\@pa, ['ok'], "$s was stored ahead once, not again after the failures of $bk");
		my ($own) = grep { $_->{action} eq 'push' && $_->{object} eq $o } @new;
		is($own && $own->{detail}, 'stored ahead by an earlier call', "$s: its own call found it stored");
	}
	ok(fetches_back_exact($_), "$_ fetches back byte-exact") for @after;
}

# ---------------------------------------------------------------------------
note 'in the end: everything archived, byte-exact; the archiver never died';
my $copies = "$env->{dir}/copies";
my @saved = save_archived_wal($node, $copies);
my (@missing, @differ);
for my $name (@saved)
{
	if (!repo_object_exists($env, wal_object_name($name)))
	{
		push @missing, $name;
		next;
	}
	push @differ, $name unless fetches_back_exact($name);
}
cmp_ok(scalar(@saved), '>', 10, scalar(@saved) . ' files marked .done');
is_deeply(\@missing, [], 'every file marked .done is in the repository');
is_deeply(\@differ, [], 'every one fetches back byte-exact');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'}),
	0, 'nothing left .ready');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'}),
	$archiver_pid, 'the same archiver process throughout (no ERROR/FATAL ended it)');
unlike(slurp_file($node->logfile), qr/archiver process .* exited|PANIC|server process .* was terminated/,
	'no archiver exit in the server log');
cmp_ok(archiver_fds(), '<=', $fds0,
	"the archiver holds no more file descriptors than after the first segments ($fds0), after failures, reopenings and key_command runs");

$node->stop;
done_testing();
