
# 006_durability.pl — the order of durability, proven from the system calls
# (strace): every stored object is written to a temp file that is fsync'd
# after its last write and before it is renamed (or linked) to its final name,
# and the directory holding the final name is opened and fsync'd after that.
# A directory created on the way is fsync'd into its parent before the object
# is published. The same for repo-init (pgark.repo, the data key) and key-gen
# (the key file, then its directory). wal-fetch writes DEST beside it and
# only then gives it its name. On S3 the repository's part is skipped (an
# object is durable once its PUT returns; there are no files to fsync), the
# key file's and DEST's, which are local whatever the backend, are not.
use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $local = backend_is_local();
my $why_local = 'local backend only: fsync and rename of the repository\'s files (an S3 object is durable once its PUT returns)';
{
	my ($o, $e) = ('', '');
	my $ok = eval { IPC::Run::run([ 'strace', '-o', '/dev/null', 'true' ], '>', \$o, '2>', \$e, IPC::Run::timeout(30)) };
	chomp $e;
	plan skip_all => 'strace is not usable here: ' . ($e || $@ || 'failed') unless $ok;
}

my $dir = PostgreSQL::Test::Utils::tempdir('durability');
my @SYSCALLS = qw(openat open creat write pwrite64 fsync fdatasync sync_file_range rename renameat renameat2 link linkat close mkdir mkdirat);

# Run a pgark program under strace; returns (result of run_pgark, [events]).
# An event: { i, pid, call, args (raw), strings [quoted args], fdpath (path of
# the first fd argument), ret, retpath }.
my $n = 0;
sub traced
{
	my ($prog, @args) = @_;
	my $trace = "$dir/trace." . ++$n;
	# LeakSanitizer cannot run under ptrace: with SANITIZE=1 binaries, leave
	# leak checking to the other tests
	my $asan = join(':', grep { defined && $_ ne '' } $ENV{ASAN_OPTIONS}, 'detect_leaks=0');
	my $r = run_cmd({ env => { ASAN_OPTIONS => $asan } }, 'strace', '-f', '-y', '-qq', '-s', '1024', '-o', $trace, '-e', 'trace=' . join(',', @SYSCALLS),
		pgark_bin($prog), @args);
	return ($r, parse_trace($trace));
}

sub parse_trace
{
	my ($file) = @_;
	my (@ev, %pending);
	open my $fh, '<', $file or die "$file: $!";
	while (my $line = <$fh>)
	{
		chomp $line;
		my ($pid, $rest) = $line =~ /^(\d+)\s+(.*)$/ or next;
		if ($rest =~ /^(.*) <unfinished \.\.\.>$/)
		{
			$pending{$pid} = $1;
			next;
		}
		if ($rest =~ /^<\.\.\. \w+ resumed>(.*)$/)
		{
			$rest = ($pending{$pid} // '') . $1;
			delete $pending{$pid};
		}
		my ($call, $args, $ret, $retpath) = $rest =~ /^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:<([^>]*)>)?/ or next;
		my @strings;
		push @strings, $1 while $args =~ /"((?:[^"\\]|\\.)*)"/g;
		my ($fdpath) = $args =~ /^\d+<([^>]*)>/;
		push @ev, {
			i => scalar(@ev), pid => $pid, call => $call, args => $args, strings => \@strings,
			fdpath => $fdpath, ret => $ret, retpath => $retpath, line => $line
		};
	}
	close $fh;
	return \@ev;
}

sub first_index
{
	my ($ev, $from, $pred) = @_;
	for my $e (@$ev[ $from .. $#$ev ])
	{
		local $_ = $e;
		return $e->{i} if $pred->($e);
	}
	return undef;
}

sub last_index
{
	my ($ev, $to, $pred) = @_;
	for my $e (reverse @$ev[ 0 .. $to ])
	{
		local $_ = $e;
		return $e->{i} if $pred->($e);
	}
	return undef;
}

sub is_fsync { my ($e, $path) = @_; return ($e->{call} eq 'fsync' || $e->{call} eq 'fdatasync') && $e->{ret} == 0 && ($e->{fdpath} // '') eq $path; }
sub is_write { my ($e, $path) = @_; return $e->{call} =~ /^(write|pwrite64)$/ && ($e->{fdpath} // '') eq $path; }

# Check that object $final was published durably; returns a list of problems.
sub check_publish
{
	my ($ev, $final) = @_;
	my @bad;
	my $pub = first_index($ev, 0, sub {
		($_->{call} =~ /^(rename|renameat|renameat2|link|linkat)$/) && $_->{ret} == 0 && $_->{strings}[-1] eq $final
	});
	return ("$final: never renamed or linked into place") unless defined $pub;
	my $tmp = $ev->[$pub]{strings}[0];
	if ($tmp =~ m{^/proc/self/fd/(\d+)$})
	{
		# an unnamed O_TMPFILE in the object's directory, given its name by
		# linkat() (which never replaces an existing name)
		my $fdn = $1;
		my $created = last_index($ev, $pub, sub { $_->{call} =~ /^open/ && $_->{args} =~ /O_TMPFILE/ && $_->{ret} == $fdn });
		push @bad, "$final: published from $tmp, which is not an O_TMPFILE" unless defined $created;
		push @bad, "$final: the O_TMPFILE is not in the object's directory"
		  unless defined $created && $ev->[$created]{strings}[0] eq dirname($final);
		push @bad, "$final: an unnamed file must be published with linkat" unless $ev->[$pub]{call} eq 'linkat';
		$tmp = defined $created ? $ev->[$created]{retpath} // '' : '';
	}
	else
	{
		push @bad, "$final: published from \"$tmp\", not from a temp file" unless $tmp =~ m{/\.[^/]+\.tmp$};
		my $created = first_index($ev, 0, sub { $_->{call} =~ /^open/ && ($_->{retpath} // '') eq $tmp && $_->{args} =~ /O_CREAT/ && $_->{args} =~ /O_EXCL/ });
		push @bad, "$final: temp file not created with O_CREAT|O_EXCL" unless defined $created;
	}
	my $lastw = last_index($ev, $pub, sub { is_write($_, $tmp) });
	push @bad, "$final: no write to the temp file" unless defined $lastw;
	my $sync = defined $lastw ? first_index($ev, $lastw, sub { is_fsync($_, $tmp) }) : undef;
	push @bad, "$final: temp file not fsync'd after its last write" unless defined $sync;
	push @bad, "$final: temp file fsync'd only after it was renamed" if defined $sync && $sync > $pub;
	my $later_w = first_index($ev, $sync // 0, sub { is_write($_, $tmp) });
	push @bad, "$final: written again after its fsync" if defined $sync && defined $later_w && $later_w < $pub;
	my $d = dirname($final);
	my $dsync = first_index($ev, $pub, sub { is_fsync($_, $d) });
	push @bad, "$final: directory $d not fsync'd after the rename" unless defined $dsync;
	if (defined $dsync)
	{
		my $open = last_index($ev, $dsync, sub { $_->{call} =~ /^open/ && ($_->{retpath} // '') eq $d && $_->{args} =~ /O_DIRECTORY/ });
		push @bad, "$final: directory $d not opened after the rename (an fd opened before may not see it)"
		  unless defined $open && $open > $pub;
	}
	return @bad;
}

# Every directory created (mkdir = 0) must be fsync'd into its parent before
# $before (the event that makes it reachable matter), if given.
sub check_new_dirs
{
	my ($ev, $before) = @_;
	my @bad;
	for my $e (grep { $_->{call} =~ /^mkdir/ && $_->{ret} == 0 } @$ev)
	{
		my $p = $e->{strings}[0];
		my $parent = dirname($p);
		my $s = first_index($ev, $e->{i}, sub { is_fsync($_, $parent) });
		if (!defined $s) { push @bad, "new directory $p: parent $parent never fsync'd" }
		elsif (defined $before && $s > $before) { push @bad, "new directory $p: parent fsync'd only after publishing" }
	}
	return @bad;
}

# ------------------------------------------------------------ key-gen
{
	my $key = "$dir/keys/sub/master.key";
	my ($r, $ev) = traced('key-gen', $key);
	is($r->{rc}, 0, 'key-gen under strace') or diag $r->{stderr};
	my $open = first_index($ev, 0, sub { $_->{call} =~ /^open/ && ($_->{retpath} // '') eq $key && $_->{args} =~ /O_CREAT/ });
	ok(defined $open && $ev->[$open]{args} =~ /O_EXCL/ && $ev->[$open]{args} =~ /0600/,
		'key-gen creates the key with O_CREAT|O_EXCL, mode 0600');
	my $lastw = last_index($ev, $#$ev, sub { is_write($_, $key) });
	ok(defined $lastw, 'key-gen writes the key');
	my $sync = defined $lastw ? first_index($ev, $lastw, sub { is_fsync($_, $key) }) : undef;
	ok(defined $sync, 'key-gen: the key file is fsync\'d after its last write');
	my $kd = dirname($key);
	my $dsync = defined $sync ? first_index($ev, $sync, sub { is_fsync($_, $kd) }) : undef;
	ok(defined $dsync, 'key-gen: then its directory is fsync\'d');
	is_deeply([ check_new_dirs($ev, $dsync) ], [], 'key-gen: directories it created are fsync\'d into their parents');
}

# ------------------------------------------------------------ repo-init
my $node = PostgreSQL::Test::Cluster->new('durability');
$node->init;
my $env = new_env(name => 'durability', pgdata => $node->data_dir, repo => "$dir/deep/repo", init => 0);
if (!$local)
{
	my $r = run_pgark('repo-init', '--config', $env->{conf}, '--pgdata', $node->data_dir);
	is($r->{rc}, 0, 'repo-init') or diag $r->{stderr};
  SKIP: { skip $why_local, 6; }
}
else
{
	my ($r, $ev) = traced('repo-init', '--config', $env->{conf}, '--pgdata', $node->data_dir);
	is($r->{rc}, 0, 'repo-init under strace') or diag $r->{stderr};
	my @keys = repo_list_objects($env, 'keys/');
	is(scalar(@keys), 1, 'repo-init made one data key');
	for my $obj ('pgark.repo', @keys)
	{
		my $final = "$env->{repo}/$obj";
		is_deeply([ check_publish($ev, $final) ], [], "repo-init: $obj: temp file fsync'd, renamed, directory fsync'd");
	}
	my $meta = first_index($ev, 0, sub { $_->{call} =~ /^(rename|link)/ && $_->{ret} == 0 && $_->{strings}[-1] eq "$env->{repo}/pgark.repo" });
	my $keyp = first_index($ev, 0, sub { $_->{call} =~ /^(rename|link)/ && $_->{ret} == 0 && $_->{strings}[-1] eq "$env->{repo}/$keys[0]" });
	ok(defined $meta && defined $keyp && $keyp < $meta, 'repo-init: the data key is stored before pgark.repo names it');
	is_deeply([ check_new_dirs($ev, $meta) ], [], 'repo-init: directories it created are fsync\'d into their parents first');
}

# ------------------------------------------------------------ wal-push
{
	my $name = '000000010000000000000001';
	my $seg  = "$dir/$name";
	write_bytes($seg, slurp_bytes($node->data_dir . "/pg_wal/$name"));
	my ($r, $ev);
  SKIP:
	{
		if (!$local)
		{
			$r = run_pgark('wal-push', '--config', $env->{conf}, $seg);
			is($r->{rc}, 0, 'wal-push') or diag $r->{stderr};
			skip $why_local, 8;
		}
		($r, $ev) = traced('wal-push', '--config', $env->{conf}, $seg);
		is($r->{rc}, 0, 'wal-push under strace') or diag $r->{stderr};
		my $final = $env->{repo} . '/' . wal_object_name($name);
		my @bad = check_publish($ev, $final);
		is_deeply(\@bad, [], 'wal-push: temp file fsync\'d after its last write and before the rename; directory opened and fsync\'d after it');
		my $pub = first_index($ev, 0, sub { $_->{call} =~ /^(rename|link)/ && $_->{ret} == 0 && $_->{strings}[-1] eq $final });
		is_deeply([ check_new_dirs($ev, $pub) ], [], 'wal-push: new directories (wal/, wal/<timeline+log>/) are fsync\'d into their parents before the rename');
		ok((grep { $_->{call} =~ /^mkdir/ && $_->{ret} == 0 } @$ev) >= 1, 'wal-push created wal/<timeline+log>/ (the case above is not vacuous; wal/ itself comes from repo-init)');
		ok(defined $pub && $ev->[$pub]{call} =~ /^(renameat2|link)/ && ($ev->[$pub]{call} ne 'renameat2' || $ev->[$pub]{args} =~ /RENAME_NOREPLACE/),
			'wal-push publishes without overwriting (renameat2 RENAME_NOREPLACE, or link)');

		# a history file into an existing directory chain
		my $hist = "$dir/00000002.history";
		write_bytes($hist, "1\t0/3000000\tno recovery target specified\n");
		($r, $ev) = traced('wal-push', '--config', $env->{conf}, $hist);
		is($r->{rc}, 0, 'wal-push of a .history file under strace') or diag $r->{stderr};
		is_deeply([ check_publish($ev, "$env->{repo}/wal/history/00000002.history") ], [], 'wal-push .history: same order');

		# into a directory that exists but was made seconds ago: its creator
		# may have died before its entry was durable, so its parent is
		# fsync'd again (only directories born over 5 minutes ago are not)
		my $hist3 = "$dir/00000003.history";
		write_bytes($hist3, "1\t0/3000000\tno recovery target specified\n2\t0/4000000\tno recovery target specified\n");
		($r, $ev) = traced('wal-push', '--config', $env->{conf}, $hist3);
		is($r->{rc}, 0, 'wal-push of a second .history file under strace') or diag $r->{stderr};
		my $final3 = "$env->{repo}/wal/history/00000003.history";
		my $pub3 = first_index($ev, 0, sub { $_->{call} =~ /^(rename|link)/ && $_->{ret} == 0 && $_->{strings}[-1] eq $final3 });
		my $psync = first_index($ev, 0, sub { is_fsync($_, "$env->{repo}/wal") });
		ok(defined $pub3 && defined $psync && $psync < $pub3,
			'wal-push into a young existing directory (wal/history/): its parent wal/ fsync\'d before publishing');
	}

	# and wal-fetch never leaves DEST half-written: it writes an unnamed
	# O_TMPFILE (or a named temp file) beside DEST, and only then links or
	# renames it to DEST
	my $dest = "$dir/fetched/$name";
	make_path(dirname($dest));
	($r, $ev) = traced('wal-fetch', '--config', $env->{conf}, $name, $dest);
	is($r->{rc}, 0, 'wal-fetch under strace') or diag $r->{stderr};
	ok(slurp_bytes($dest) eq slurp_bytes($seg), 'wal-fetch under strace: byte-exact');
	my $fpub = first_index($ev, 0, sub {
		$_->{ret} == 0 && $_->{call} =~ /^(rename|renameat|renameat2|link|linkat)$/ && $_->{strings}[-1] eq $dest
	});
	ok(defined $fpub, 'wal-fetch publishes DEST by a rename or a link');
	my $src = defined $fpub ? $ev->[$fpub]{strings}[0] : '';
	my $written;
	if ($src =~ m{^/proc/self/fd/(\d+)$})
	{
		my $fdn = $1;
		my $open = last_index($ev, $fpub, sub { $_->{call} =~ /^open/ && $_->{args} =~ /O_TMPFILE/ && $_->{ret} == $fdn });
		ok(defined $open, 'wal-fetch wrote an unnamed O_TMPFILE: nothing named exists until it is complete');
		is(defined $open ? $ev->[$open]{strings}[0] : '', dirname($dest), 'the O_TMPFILE is in DEST\'s directory');
		$written = defined $open ? $ev->[$open]{retpath} : undef;
	}
	else
	{
		like($src, qr{^\Q@{[dirname($dest)]}\E/\.[^/]+\.tmp$}, 'wal-fetch wrote a named temp file beside DEST');
		$written = $src;
	}
	ok(!(grep { $_->{call} =~ /^(write|pwrite64)$/ && ($_->{fdpath} // '') eq $dest } @$ev), 'wal-fetch never writes to DEST itself');
	my @w = grep { is_write($_, $written // '') } @$ev;
	ok(@w >= 16, scalar(@w) . ' writes of the fetched data found');
	ok(@w && defined $fpub && $w[-1]{i} < $fpub, 'all of them happen before DEST gets its name');
	ok(!(grep { /\.tmp$/ } list_dir(dirname($dest))), 'no temp file left beside DEST');
}

done_testing();
