
=pod

=head1 NAME

PgarkTest - helpers shared by pgark's cluster tests (t/*.pl)

=head1 SYNOPSIS

  use PgarkTest;

  my ($node, $env) = PgarkTest::archiving_cluster('primary');
  $node->start;
  my $r = PgarkTest::run_pgark('wal-fetch', '--config', $env->{conf}, $name, $dest);
  is($r->{rc}, 0, 'fetched');

=head1 DESCRIPTION

Every test builds an "environment": a temporary directory with a master key
(made by bin/key-gen), a configuration file and a repository. The storage
backend is chosen by PGARK_TEST_BACKEND, which t/run-tests sets for each pass:
"local" (a directory), "s3" or "s3-tls" (a bucket of the S3 test server that
t/run-tests starts, t/s3/, over http or https; PGARK_TEST_S3_* say where).
repo_config() writes the [repo] section for the backend, and the repo_*
accessors below reach objects by name on any backend (on S3 through
t/tools/store-tool, which uses lib/store.h), so every test that uses them runs
against each backend unchanged. Parts of tests that are about a local
filesystem by nature (full disk, fsync order, directories, temp files) check
backend_is_local() and skip otherwise, saying why.

=cut

package PgarkTest;

use strict;
use warnings;

use Carp;
use Cwd ();
use Digest::SHA ();
use Exporter 'import';
use Fcntl qw(:mode :flock);
use File::Basename qw(basename dirname);
use File::Copy qw(copy);
use File::Find ();
use File::Path qw(make_path);
use IPC::Run;
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  pgark_bin new_env write_config repo_config run_pgark run_cmd
  archive_command_for restore_command_for archiving_cluster
  archiver_is_library archive_library_path archive_settings_for push_program
  wal_object_name repo_object_exists repo_read_object repo_write_object
  repo_list_objects repo_snapshot repo_object_path backend_is_local
  backend backend_is_s3 repo_where repo_remove_object repo_list_all store_tool
  switch_wal wait_for_archive read_audit slurp_bytes write_bytes
  temp_files_in list_dir save_archived_wal system_identifier_of env_variant
  wait_for_postmaster_exit
  backup_cluster base_push pitr_prepare backups_in_repo restored_node
  setup_restored wait_for_recovery_end table_hash tree_snapshot utc_now_text
  postmaster_alive show tail_of query_once wait_for_query
  push_record_dir push_records push_claims push_helper_lock push_helper_running
  wait_push_helper_gone push_each
);

our $SEG_SIZE = 16 * 1024 * 1024;

=pod

=head2 Paths and programs

=over

=item pgark_bin($program)

Absolute path of a pgark program (PGARK_BIN, set by t/run-tests).

=back

=cut

sub pgark_bin
{
	my ($prog) = @_;
	my $bin = $ENV{PGARK_BIN}
	  // (($ENV{PGARK_TOP} // dirname(dirname(dirname(Cwd::abs_path(__FILE__))))) . '/bin');
	my $path = "$bin/$prog";
	croak "no pgark program $path (run make)" unless -x $path;
	return $path;
}

=pod

=over

=item run_pgark($program, @args) / run_pgark({env => {...}, cwd => DIR, stdin => ...}, $program, @args)

Run a pgark program; returns a hash: rc (exit status, or 128+signal), stdout,
stderr, and cmd (for diagnostics). Never dies on a non-zero status.

=back

=cut

sub run_pgark
{
	my $opts = ref $_[0] eq 'HASH' ? shift : {};
	my ($prog, @args) = @_;
	return run_cmd($opts, pgark_bin($prog), @args);
}

=pod

=over

=item run_cmd([{env => ...},] @cmd)

Like run_pgark, for any command (e.g. strace wrapping a pgark program).

=back

=cut

sub run_cmd
{
	my $opts = ref $_[0] eq 'HASH' ? shift : {};
	my @cmd = @_;
	my ($out, $err) = ('', '');
	my $in = $opts->{stdin} // '';

	local %ENV = %ENV;
	# never let a PGARK_* setting of the caller's environment leak into a test
	delete $ENV{$_} for grep { /^PGARK_(?!BIN$|TOP$|TEST_)/ } keys %ENV;
	while (my ($k, $v) = each %{ $opts->{env} // {} })
	{
		if (defined $v) { $ENV{$k} = $v } else { delete $ENV{$k} }
	}
	my @init;
	if (defined $opts->{cwd})
	{
		my $cwd = $opts->{cwd};
		@init = (init => sub { chdir $cwd or die "chdir $cwd: $!" });
	}
	IPC::Run::run(\@cmd, '<', \$in, '>', \$out, '2>', \$err, @init,
		IPC::Run::timeout($opts->{timeout} // $PostgreSQL::Test::Utils::timeout_default));
	my $status = $?;
	my $rc = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
	return { rc => $rc, stdout => $out, stderr => $err, cmd => join(' ', @cmd) };
}

=pod

=head2 Environments

=over

=item backend()

The backend under test: "local", "s3" or "s3-tls" (PGARK_TEST_BACKEND).

=item backend_is_local() / backend_is_s3()

True when the tests run against the local backend (PGARK_TEST_BACKEND unset
or "local"); against S3 (with or without TLS).

=item repo_config($dir)

The [repo] section for a repository named by $dir: for the local backend the
directory itself; for S3 the test bucket with a prefix derived from $dir (the
same $dir always gives the same prefix, so two configurations of one
repository agree; different directories never share one).

=item repo_where($env)

How the programs name the repository in messages: its directory, or
s3://BUCKET/PREFIX.

=back

=cut

my %BACKENDS = map { $_ => 1 } qw(local s3 s3-tls);

sub backend
{
	my $b = $ENV{PGARK_TEST_BACKEND} // 'local';
	$b = 'local' if $b eq '';
	croak "PGARK_TEST_BACKEND=$b: unknown backend (local, s3, s3-tls)" unless $BACKENDS{$b};
	return $b;
}

sub backend_is_local { return backend() eq 'local'; }
sub backend_is_s3 { return backend() =~ /^s3/; }

sub _s3_setting
{
	my ($what) = @_;
	my $v = $ENV{"PGARK_TEST_S3_$what"};
	croak "PGARK_TEST_BACKEND=" . backend() . " needs PGARK_TEST_S3_$what (t/run-tests sets it)"
	  unless defined $v && $v ne '';
	return $v;
}

# $dir -> prefix, and the prefixes handed out (this process)
my (%s3_prefix_of, %s3_prefix_used);

sub _s3_prefix
{
	my ($dir) = @_;
	return $s3_prefix_of{$dir} if defined $s3_prefix_of{$dir};
	my $p = $dir;
	# below the test run's directory the rest is unique (tempdir names are)
	for my $top (grep { defined && $_ ne '' } $ENV{TESTDIR}, $ENV{TMPDIR})
	{
		last if $p =~ s{^\Q$top\E/+}{};
	}
	$p =~ s{/+}{-}g;
	$p =~ s{[^A-Za-z0-9._-]}{_}g;
	$p =~ s{^[.-]+}{};
	$p = 'repo' if $p eq '';
	# the test's name first, to find a test's requests in the server's log
	(my $test = basename($0)) =~ s{\.pl$}{};
	$test =~ s{[^A-Za-z0-9._-]}{_}g;
	$p = "pgark-test/$test/$p";
	my ($base, $n) = ($p, 1);
	$p = $base . '-' . ++$n while $s3_prefix_used{$p};
	$s3_prefix_used{$p} = 1;
	return $s3_prefix_of{$dir} = $p;
}

sub repo_config
{
	my ($dir) = @_;
	my $b = backend();
	return { type => 'local', path => $dir } if $b eq 'local';
	my $endpoint = _s3_setting('ENDPOINT');
	my %c = (
		type       => 's3',
		endpoint   => $endpoint,
		bucket     => _s3_setting('BUCKET'),
		region     => _s3_setting('REGION'),
		prefix     => _s3_prefix($dir),
		uri_style  => 'path',
		access_key => _s3_setting('ACCESS_KEY'),
		secret_key => _s3_setting('SECRET_KEY'),
	);
	if ($b eq 's3-tls')
	{
		croak "PGARK_TEST_BACKEND=s3-tls needs an https endpoint, not $endpoint" unless $endpoint =~ m{^https://};
		$c{ca_file} = _s3_setting('CA');
	}
	return \%c;
}

sub repo_where
{
	my ($env) = @_;
	my $r = $env->{sections}{repo} // repo_config($env->{repo});
	return $r->{path} if $r->{type} eq 'local';
	return "s3://$r->{bucket}/$r->{prefix}";
}

=pod

=over

=item write_config($file, { section => { key => value, ... }, ... })

Write an INI file, mode 0600. Sections and keys come out in sorted order, one
per line, so that tests can predict line numbers.

=back

=cut

sub write_config
{
	my ($file, $sections) = @_;
	open my $fh, '>', $file or croak "could not write $file: $!";
	print $fh "# written by t/lib/PgarkTest.pm\n";
	for my $s (sort keys %$sections)
	{
		print $fh "\n[$s]\n";
		for my $k (sort keys %{ $sections->{$s} })
		{
			my $v = $sections->{$s}{$k};
			next unless defined $v;
			print $fh "$k = $v\n";
		}
	}
	close $fh or croak "could not write $file: $!";
	# it may hold an S3 secret_key, which pgark refuses in a file others can read
	chmod 0600, $file or croak "could not chmod $file: $!";
	return $file;
}

=pod

=over

=item new_env(%opts)

Make a temporary directory with a master key, a configuration file and
(unless init => 0 or no pgdata is given) an initialised repository.
Options: pgdata (data directory whose identity repo-init records), name,
cipher ('aes-256-gcm' by default), repo (repository directory, or on S3 the
name of its prefix: see repo_config), key (use
this key file instead of making one), init (default 1 if pgdata), extra
(more sections, merged), dir (use this directory).

Returns a hash: dir, key, conf, repo (the repository's directory; on S3 the
name its prefix is derived from), where (see repo_where), audit, pgdata,
sections (what was written, for variants: see env_variant).

=back

=cut

sub new_env
{
	my %o = @_;
	my $dir = $o{dir} // PostgreSQL::Test::Utils::tempdir($o{name} // 'pgark');
	make_path($dir);
	my $key = $o{key};
	if (!defined $key)
	{
		$key = "$dir/master.key";
		my $r = run_pgark('key-gen', $key);
		croak "key-gen $key failed (exit $r->{rc}): $r->{stderr}" if $r->{rc} != 0;
	}
	my $repo = $o{repo} // "$dir/repo";
	my %sections = (
		repo   => repo_config($repo),
		crypto => { key_file => $key, cipher => $o{cipher} // 'aes-256-gcm' },
		log    => { audit => "$dir/audit.jsonl" },
	);
	$sections{postgres} = { pgdata => $o{pgdata} } if defined $o{pgdata};
	for my $s (keys %{ $o{extra} // {} })
	{
		$sections{$s} = { %{ $sections{$s} // {} }, %{ $o{extra}{$s} } };
	}
	my $conf = write_config("$dir/pgark.conf", \%sections);
	my $env = {
		dir      => $dir,
		key      => $key,
		conf     => $conf,
		repo     => $repo,
		where    => undef,
		audit    => "$dir/audit.jsonl",
		pgdata   => $o{pgdata},
		sections => \%sections,
	};
	$env->{where} = repo_where($env);
	my $init = $o{init} // defined $o{pgdata};
	if ($init)
	{
		my $r = run_pgark('repo-init', '--config', $conf,
			defined $o{pgdata} ? ('--pgdata', $o{pgdata}) : ());
		croak "repo-init failed (exit $r->{rc}): $r->{stderr}" if $r->{rc} != 0;
		$env->{init_stderr} = $r->{stderr};
	}
	return $env;
}

=pod

=over

=item env_variant($env, $file, { section => { key => value (undef deletes) } })

Write another configuration file, a copy of $env's with some settings changed.
Returns its path.

=back

=cut

sub env_variant
{
	my ($env, $file, $changes) = @_;
	my %s = map { $_ => { %{ $env->{sections}{$_} } } } keys %{ $env->{sections} };
	for my $sec (keys %$changes)
	{
		for my $k (keys %{ $changes->{$sec} })
		{
			if (defined $changes->{$sec}{$k}) { $s{$sec}{$k} = $changes->{$sec}{$k} }
			else { delete $s{$sec}{$k} }
		}
	}
	return write_config($file, \%s);
}

sub archive_command_for
{
	my ($conf) = @_;
	return pgark_bin('wal-push') . " --config $conf %p";
}

sub restore_command_for
{
	my ($conf) = @_;
	return pgark_bin('wal-fetch') . " --config $conf %f %p";
}

=pod

=head2 How the clusters archive

=over

=item PgarkTest::archiver() / archiver_is_library()

"command" (archive_command = wal-push, the default) or "library"
(archive_library = pgark_archive.so, the same wal-push inside PostgreSQL's
archiver), from PGARK_TEST_ARCHIVER; t/run-tests' pass "local+library" sets
it. Tests that run wal-push by hand are the same either way.

=item archive_library_path()

Absolute path of pgark_archive.so (PGARK_ARCHIVE_SO, else beside the
programs); croaks if it was not built.

=item archive_settings_for($conf)

The postgresql.conf lines that archive through pgark with configuration
file $conf, per PgarkTest::archiver(): archive_command = '<wal-push> --config $conf %p';
or archive_library = '<pgark_archive.so>', pgark.config = '$conf' and an
empty archive_command (PostgreSQL 16+ refuses both set).

=item push_program()

The "program" of the audit records of what the server archived: "wal-push"
or "pgark_archive".

=back

=cut

sub archiver
{
	my $a = $ENV{PGARK_TEST_ARCHIVER} // '';
	$a = 'command' if $a eq '';
	croak "PGARK_TEST_ARCHIVER=$a: unknown archiver (command, library)" unless $a =~ /^(command|library)$/;
	return $a;
}

sub archiver_is_library { return archiver() eq 'library'; }

sub archive_library_path
{
	my $so = $ENV{PGARK_ARCHIVE_SO} // dirname(pgark_bin('wal-push')) . '/pgark_archive.so';
	croak "no $so (make builds it when pg_config and the server headers are installed)" unless -f $so;
	return $so;
}

sub archive_settings_for
{
	my ($conf) = @_;
	return "archive_command = '" . archive_command_for($conf) . "'" unless archiver_is_library();
	return "archive_library = '" . archive_library_path() . "'\narchive_command = ''\npgark.config = '$conf'";
}

sub push_program { return archiver_is_library() ? 'pgark_archive' : 'wal-push'; }

=pod

=over

=item archiving_cluster($name, %opts)

A new (not started) PostgreSQL::Test::Cluster with archive_mode = on,
archiving through pgark (archive_settings_for: wal-push, or
pgark_archive.so) into a fresh repository initialised from its data
directory. %opts: conf (more postgresql.conf lines), env (options of new_env).
Returns ($node, $env).

=back

=cut

sub archiving_cluster
{
	my ($name, %o) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(has_archiving => 1, allows_streaming => 1);
	my $env = new_env(name => $name, pgdata => $node->data_dir, %{ $o{env} // {} });
	$node->append_conf('postgresql.conf', qq{
# pgark
archive_mode = on
@{[ archive_settings_for($env->{conf}) ]}
@{[ $o{conf} // "" ]}
});
	return ($node, $env);
}

=pod

=head2 The repository, by object name

Object names are the repository's (FORMAT.md): wal/<first 16>/<name>,
wal/history/<tli>.history, keys/<dek>, pgark.repo. On the local backend the
accessors read and write the files; on S3 they run t/tools/store-tool with the
environment's configuration ($env->{conf}: only its [repo] section matters).

=over

=item wal_object_name($walname)

=item repo_object_exists($env, $object) / repo_read_object / repo_write_object (replaces) / repo_remove_object

=item repo_list_objects($env, $prefix) — sorted object names, temp files excluded

=item repo_list_all($env, $prefix) — sorted names of everything the storage
holds under $prefix: on the local backend temp files of writers too (for "no
temp file left"; on S3 an object exists only once its PUT completed, so the
check is that no object other than the expected ones is there)

=item repo_snapshot($env) — { name => bytes } of everything, temp files included (for "nothing changed")

=item repo_object_path($env, $object) — the file; local backend only (croaks otherwise)

=item store_tool($env, @args [, {stdin => ...}]) — run t/tools/store-tool with $env's configuration

=back

=cut

sub wal_object_name
{
	my ($name) = @_;
	return "wal/history/$name" if $name =~ /^[0-9A-F]{8}\.history$/;
	return 'wal/' . substr($name, 0, 16) . "/$name";
}

sub repo_object_path
{
	my ($env, $object) = @_;
	croak "repo_object_path: only for the local backend (this is " . backend() . ')' unless backend_is_local();
	return "$env->{repo}/$object";
}

sub _store_tool_bin
{
	my $tool = $ENV{PGARK_TEST_STORE_TOOL}
	  // (($ENV{PGARK_TOP} // dirname(dirname(dirname(Cwd::abs_path(__FILE__))))) . '/t/tools/store-tool');
	croak "no $tool (run make unit)" unless -x $tool;
	return $tool;
}

sub store_tool
{
	my $opts = ref $_[-1] eq 'HASH' ? pop : {};
	my ($env, @args) = @_;
	return run_cmd($opts, _store_tool_bin(), $env->{conf}, @args);
}

# store-tool, dying unless its exit status is one of @ok (default 0)
sub _store_tool_ok
{
	my ($env, $ok, @args) = @_;
	my $r = store_tool($env, @args);
	croak "store-tool failed: " . show($r) unless grep { $r->{rc} == $_ } @$ok;
	return $r;
}

sub repo_object_exists
{
	my ($env, $object) = @_;
	return -f repo_object_path($env, $object) if backend_is_local();
	return _store_tool_ok($env, [ 0, 1 ], 'head', $object)->{rc} == 0;
}

sub repo_read_object
{
	my ($env, $object) = @_;
	return slurp_bytes(repo_object_path($env, $object)) if backend_is_local();
	return _store_tool_ok($env, [0], 'get', $object)->{stdout};
}

sub repo_write_object
{
	my ($env, $object, $bytes) = @_;
	if (backend_is_local())
	{
		my $p = repo_object_path($env, $object);
		make_path(dirname($p));
		write_bytes($p, $bytes);
		return;
	}
	my $r = store_tool($env, 'put', $object, { stdin => $bytes });
	croak "store-tool failed: " . show($r) unless $r->{rc} == 0;
	return;
}

sub repo_remove_object
{
	my ($env, $object) = @_;
	if (backend_is_local())
	{
		my $p = repo_object_path($env, $object);
		unlink $p or $!{ENOENT} or croak "could not remove $p: $!";
		return;
	}
	_store_tool_ok($env, [0], 'rm', $object);
	return;
}

# every regular file under the repository, relative names, sorted
sub _repo_files
{
	my ($env) = @_;
	my @files;
	return () unless -d $env->{repo};
	File::Find::find(
		{
			no_chdir => 1,
			wanted   => sub {
				return unless -f $_;
				(my $rel = $_) =~ s{^\Q$env->{repo}\E/}{};
				push @files, $rel;
			}
		},
		$env->{repo});
	return sort @files;
}

# every object of an S3 repository (names relative to its prefix), sorted
sub _s3_objects
{
	my ($env, $prefix) = @_;
	my $r = _store_tool_ok($env, [0], 'list', $prefix // '');
	return sort map { /^(\S+) \d+$/ ? $1 : croak "store-tool list: unexpected line: $_" } split /\n/, $r->{stdout};
}

sub repo_list_all
{
	my ($env, $prefix) = @_;
	$prefix //= '';
	return _s3_objects($env, $prefix) unless backend_is_local();
	return grep { index($_, $prefix) == 0 } _repo_files($env);
}

sub repo_list_objects
{
	my ($env, $prefix) = @_;
	return grep { basename($_) !~ /^\./ } repo_list_all($env, $prefix);
}

sub repo_snapshot
{
	my ($env) = @_;
	my %snap;
	if (!backend_is_local())
	{
		$snap{$_} = repo_read_object($env, $_) for _s3_objects($env, '');
		return \%snap;
	}
	for my $f (_repo_files($env))
	{
		my $p = repo_object_path($env, $f);
		$snap{$f} = slurp_bytes($p);
	}
	return \%snap;
}

=pod

=head2 WAL

=over

=item switch_wal($node)

Write a little WAL (so that there is something to switch away from), switch,
and return the name of the segment that was completed.

=item wait_for_archive($node, $walname)

Wait until the archiver has archived $walname (or later) and has nothing
.ready left. Returns true on success.

=item save_archived_wal($node, $dir)

Copy every file of pg_wal that the archiver marked .done into $dir, and
return their names. Files recycled meanwhile are skipped (a name is never
reused for other content, so a copy by name is either right or missing).

=back

=cut

sub switch_wal
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{SELECT pg_logical_emit_message(false, 'pgark-test', 'switch')});
	return $node->safe_psql('postgres', q{SELECT pg_walfile_name(pg_switch_wal())});
}

sub wait_for_archive
{
	my ($node, $walname) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT coalesce(last_archived_wal, '') >= '$walname'
		   AND (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') = 0
		  FROM pg_stat_archiver});
}

=pod

=over

=item wait_for_postmaster_exit($node)

Wait until the node's postmaster has exited by itself (e.g. after a FATAL in
the startup process), and tell the node object so. True if it exited; false
at once if the server log says it is ready to accept connections instead.

=back

=cut

sub wait_for_postmaster_exit
{
	my ($node) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		if (!postmaster_alive($node))
		{
			$node->_update_pid(-1);
			return 1;
		}
		return 0
		  if -e $node->logfile
		  && slurp_file($node->logfile) =~ /database system is ready to accept (read-only )?connections/;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

sub save_archived_wal
{
	my ($node, $dest) = @_;
	my $wal = $node->data_dir . '/pg_wal';
	make_path($dest);
	my @saved;
	for my $done (list_dir("$wal/archive_status"))
	{
		next unless $done =~ /^(.+)\.done$/;
		my $name = $1;
		next unless copy("$wal/$name", "$dest/$name");
		push @saved, $name;
	}
	return sort @saved;
}

sub system_identifier_of
{
	my ($pgdata) = @_;
	my $ctl = slurp_bytes("$pgdata/global/pg_control");
	return unpack('Q<', substr($ctl, 0, 8));
}

=pod

=head2 Files

=over

=item slurp_bytes($path) / write_bytes($path, $bytes)

=item list_dir($dir) — sorted names, without . and ..

=item temp_files_in($dir) — names that look like a temp file of pgark (.*.tmp)

=item read_audit($env) — the audit log, each line decoded (dies on a line that is not JSON)

=back

=cut

sub slurp_bytes
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or croak "could not open $path: $!";
	local $/;
	my $b = <$fh>;
	close $fh;
	return $b // '';
}

sub write_bytes
{
	my ($path, $bytes) = @_;
	open my $fh, '>:raw', $path or croak "could not write $path: $!";
	print $fh $bytes or croak "could not write $path: $!";
	close $fh or croak "could not write $path: $!";
	return;
}

sub list_dir
{
	my ($dir) = @_;
	opendir my $dh, $dir or return ();
	my @n = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
	closedir $dh;
	return @n;
}

=pod

=head2 wal-push's look-ahead spool

=over

=item push_record_dir($spool)

The directory of look-ahead records in a spool (one repository: one push-*
directory); undef while there is none, or more than one.

=item push_records($spool), push_claims($spool)

The segment names recorded there; the helper's claim files (claim-NAME).

=item push_helper_lock($spool), push_helper_running($spool), wait_push_helper_gone($spool)

The look-ahead helper's lock file; whether a helper holds it; wait (up to
60 s) until none does, true if so.

=item push_each($push, $config, @names)

Calls $push->($config, NAME) (a test's own call as the archiver makes it,
returning the exit status first, the stderr third) for each name in order;
'' if each exited 0, else what the first failure said.

=back

=cut

sub push_record_dir
{
	my ($spool) = @_;
	my @dirs = grep { -d } glob("$spool/push-*");
	return @dirs == 1 ? $dirs[0] : undef;
}

sub push_records
{
	my ($spool) = @_;
	my $d = push_record_dir($spool) // return ();
	return sort grep { /^[0-9A-F]{24}$/ } list_dir($d);
}

sub push_claims
{
	my ($spool) = @_;
	my $d = push_record_dir($spool) // return ();
	return sort grep { /^claim-/ } list_dir($d);
}

sub push_helper_lock
{
	my ($spool) = @_;
	my $d = push_record_dir($spool) // return "$spool/no-record-dir";
	return "$d/helper.lock";
}

sub push_helper_running
{
	my ($spool) = @_;
	open my $fh, '<', push_helper_lock($spool) or return 0;
	my $free = flock($fh, LOCK_SH | LOCK_NB);
	close $fh;
	return !$free;
}

sub wait_push_helper_gone
{
	my ($spool) = @_;
	for (1 .. 600)
	{
		return 1 unless push_helper_running($spool);
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

sub push_each
{
	my ($push, $config, @names) = @_;
	for my $name (@names)
	{
		my ($rc, undef, $err) = $push->($config, $name);
		return "$name: exit $rc: $err" if $rc != 0;
	}
	return '';
}

sub temp_files_in
{
	my ($dir) = @_;
	return grep { /\.tmp$/ } list_dir($dir);
}

sub read_audit
{
	my ($env) = @_;
	return () unless -e $env->{audit};
	my @recs;
	open my $fh, '<', $env->{audit} or croak "could not open $env->{audit}: $!";
	while (my $line = <$fh>)
	{
		chomp $line;
		my $rec = eval { JSON::PP::decode_json($line) };
		croak "audit log line $. is not JSON ($@): $line" unless ref $rec eq 'HASH';
		push @recs, $rec;
	}
	close $fh;
	return @recs;
}

=pod

=head2 Base backups and point-in-time restore (t/1*.pl)

=over

=item backup_cluster($name, %opts)

Like archiving_cluster, for base-push: a new (not started) node archiving
through pgark (archive_settings_for) into a fresh repository, whose configuration also has
[postgres] conninfo (the node's connection string) and pgdata. %opts: initdb
(extra initdb arguments, e.g. ['-k']), conf (more postgresql.conf lines), env
(options of new_env). Returns ($node, $env).

=item base_push($conf, @args) / pitr_prepare($conf, $pgdata, @args)

Run the program with --config $conf --progress=off --json (pitr-prepare:
--pgdata $pgdata) and @args. Returns run_pgark's hash plus json (the decoded
summary, or undef when stdout is not one JSON object).

=item backups_in_repo($env)

Backup ids that have a manifest (base/<id>/manifest), sorted.

=item restored_node($name) / setup_restored($node, %opts)

A new node object whose data directory is not created (for pitr-prepare to
fill); after pitr-prepare, setup_restored appends the node's own port and
socket directory to the restored postgresql.conf (the primary's), and
archive_mode = off unless archive => 1. %opts: conf (more lines).

=item wait_for_recovery_end($node [, $timeout])

Wait until the node is out of recovery (promoted). False at once if the
postmaster exits (e.g. FATAL recovery target not reached), or on timeout.

=item table_hash($node, $table [, $db])

"count md5" of the whole table, rows ordered by their text.

=item tree_snapshot($dir)

{ relative path => description } of everything under $dir (not following
symbolic links): "d MODE", "f MODE SIZE SHA1" or "l TARGET".

=item utc_now_text($node)

The server's clock_timestamp() as 'YYYY-MM-DD HH:MM:SS.US+00'.

=back

=cut

sub backup_cluster
{
	my ($name, %o) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(has_archiving => 1, allows_streaming => 1, extra => $o{initdb} // []);
	my %envo = %{ $o{env} // {} };
	$envo{extra} = { %{ $envo{extra} // {} } };
	$envo{extra}{postgres} = { %{ $envo{extra}{postgres} // {} }, conninfo => $node->connstr('postgres') };
	my $env = new_env(name => $name, pgdata => $node->data_dir, %envo);
	$node->append_conf('postgresql.conf', qq{
# pgark
archive_mode = on
@{[ archive_settings_for($env->{conf}) ]}
@{[ $o{conf} // "" ]}
});
	return ($node, $env);
}

sub _with_json
{
	my ($r) = @_;
	my $j = eval { JSON::PP::decode_json($r->{stdout}) };
	$r->{json} = ref $j eq 'HASH' ? $j : undef;
	return $r;
}

sub base_push
{
	my ($conf, @args) = @_;
	return _with_json(run_pgark('base-push', '--config', $conf, '--progress=off', '--json', @args));
}

sub pitr_prepare
{
	my ($conf, $pgdata, @args) = @_;
	return _with_json(
		run_pgark('pitr-prepare', '--config', $conf, '--pgdata', $pgdata, '--progress=off', '--json', @args));
}

sub backups_in_repo
{
	my ($env) = @_;
	my @ids = sort map { m{^base/([^/]+)/manifest$} ? ($1) : () } repo_list_objects($env, 'base/');
	return @ids;
}

sub restored_node
{
	my ($name) = @_;
	return PostgreSQL::Test::Cluster->new($name);
}

sub setup_restored
{
	my ($node, %o) = @_;
	my $host = $node->host;
	my $port = $node->port;
	$node->append_conf('postgresql.conf', qq{
# restored node @{[ $node->name ]}
port = $port
unix_socket_directories = '$host'
listen_addresses = ''
@{[ $o{archive} ? '' : 'archive_mode = off' ]}
@{[ $o{conf} // '' ]}
});
	return;
}

# Is the node's postmaster (per postmaster.pid) running?
sub postmaster_alive
{
	my ($node) = @_;
	my $pid;
	if (open my $fh, '<', $node->data_dir . '/postmaster.pid')
	{
		$pid = <$fh>;
		close $fh;
		chomp $pid if defined $pid;
	}
	return $pid && kill(0, $pid);
}

# A run_pgark result, for diagnostics.
sub show
{
	my ($r) = @_;
	return "$r->{cmd}\nexit $r->{rc}\nstdout: $r->{stdout}\nstderr: $r->{stderr}";
}

# The last 40 lines of a log file, for diagnostics.
sub tail_of
{
	my ($file) = @_;
	return '(no log)' unless -e $file;
	my @l = split /\n/, slurp_bytes($file);
	return join("\n", @l > 40 ? @l[-40 .. -1] : @l);
}

# One query through psql -c, nothing on its standard input: the output
# (trimmed), or undef if psql failed (the server not accepting connections
# yet, say). PostgreSQL::Test::Cluster's psql and poll_query_until write the
# query to psql's stdin, and when psql exits first (its connection refused
# while the server is starting) IPC::Run dies of the broken pipe.
sub query_once
{
	my ($node, $sql, $db) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db // 'postgres'),
				'-c', $sql ], '<', \undef, '>', \$out, '2>', \$err);
	};
	return undef unless $ok;
	$out =~ s/\s+\z//;
	return $out;
}

# Poll until a query returns 't' (poll_query_until without its stdin race):
# 1, or 0 after the timeout.
sub wait_for_query
{
	my ($node, $sql, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		my $out = query_once($node, $sql);
		return 1 if defined $out && $out eq 't';
		select(undef, undef, undef, 0.2);
	}
	return 0;
}

sub wait_for_recovery_end
{
	my ($node, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		if (!postmaster_alive($node))
		{
			$node->_update_pid(-1);
			return 0;
		}
		my $out = query_once($node, 'SELECT pg_is_in_recovery()');
		return 1 if defined $out && $out eq 'f';
		select(undef, undef, undef, 0.2);
	}
	return 0;
}

sub table_hash
{
	my ($node, $table, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		qq{SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '-') FROM $table x});
}

sub tree_snapshot
{
	my ($dir) = @_;
	my %snap;
	File::Find::find(
		{
			no_chdir => 1,
			wanted   => sub {
				my $p = $_;
				return if $p eq $dir;
				(my $rel = $p) =~ s{^\Q$dir\E/}{};
				my @st = lstat $p or return;
				my $mode = sprintf('%04o', $st[2] & 07777);
				if (-l _)
				{
					$snap{$rel} = 'l ' . readlink($p);
				}
				elsif (-d _)
				{
					$snap{$rel} = "d $mode";
				}
				else
				{
					my $sha = Digest::SHA->new(1);
					$sha->addfile($p, 'b');
					$snap{$rel} = "f $mode $st[7] " . $sha->hexdigest;
				}
			}
		},
		$dir);
	return \%snap;
}

sub utc_now_text
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'});
}

1;
