
=pod

=head1 NAME

FaultProxy - a fault-injecting HTTP proxy between pgark and the S3 test server

=head1 SYNOPSIS

  use FaultProxy;

  FaultProxy::skip_unless_s3();                  # plan skip_all unless PGARK_TEST_BACKEND=s3
  my $proxy = FaultProxy->start;                 # upstream: the pass's S3 server
  my $env = new_env(name => 'f', pgdata => $node->data_dir);   # reached directly
  my $conf = $proxy->config_for($env, "$env->{dir}/proxy.conf", retries => 2);
  $proxy->fault(match => { method => 'PUT', path => '^/.*/wal/' }, action => '503', count => 2);
  my $r = run_pgark('wal-push', '--config', $conf, $seg);
  my @puts = grep { $_->{method} eq 'PUT' } $proxy->log;
  $proxy->clear;                                 # faults and log

=head1 DESCRIPTION

Starts t/s3/fault-proxy.js (node from PATH) as a child listening on a free
loopback port, forwarding to an S3 endpoint (default: PGARK_TEST_S3_ENDPOINT,
the per-pass server t/run-tests starts). The proxy is plain http, so the tests
that use it run only under PGARK_TEST_BACKEND=s3 (not s3-tls, not local).
The control API and the fault actions are described at the top of
t/s3/fault-proxy.js. Every proxy started is stopped at END.

=cut

package FaultProxy;

use strict;
use warnings;

use Carp;
use Cwd ();
use File::Basename qw(dirname);
use HTTP::Tiny;
use JSON::PP ();
use POSIX ();
use PgarkTest ();
use PostgreSQL::Test::Utils ();
use Test::More ();
use Time::HiRes qw(usleep);

my @started;

sub _top
{
	return $ENV{PGARK_TOP} // dirname(dirname(dirname(Cwd::abs_path(__FILE__))));
}

=pod

=over

=item FaultProxy::skip_unless_s3()

plan skip_all unless the tests run against the plain-http S3 backend, or
when node is missing.

=back

=cut

sub skip_unless_s3
{
	my $b = $ENV{PGARK_TEST_BACKEND} // 'local';
	Test::More::plan(skip_all => "the fault proxy is plain http: only for PGARK_TEST_BACKEND=s3 (this is '$b')")
	  unless $b eq 's3';
	Test::More::plan(skip_all => 'node is not installed') unless grep { -x "$_/node" } split /:/, $ENV{PATH};
	return;
}

=pod

=over

=item FaultProxy->start(upstream => URL)

Start a proxy and wait until it listens. Dies if it does not within 30 s.

=back

=cut

sub start
{
	my ($class, %o) = @_;
	my $upstream = $o{upstream} // $ENV{PGARK_TEST_S3_ENDPOINT}
	  // croak 'FaultProxy->start: no upstream (PGARK_TEST_S3_ENDPOINT is not set)';
	croak "FaultProxy: upstream $upstream is not plain http" unless $upstream =~ m{^http://};
	my $dir = PostgreSQL::Test::Utils::tempdir('fault-proxy');
	my $portfile = "$dir/port";
	my $logfile = "$dir/proxy.log";
	my $script = _top() . '/t/s3/fault-proxy.js';
	croak "FaultProxy: no $script" unless -f $script;

	my $pid = fork // croak "fork: $!";
	if ($pid == 0)
	{
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', $logfile or POSIX::_exit(127);
		open STDERR, '>&', \*STDOUT;
		exec 'node', $script, '--upstream', $upstream, '--port-file', $portfile
		  or POSIX::_exit(127);
	}
	my $self = bless { pid => $pid, dir => $dir, upstream => $upstream, logfile => $logfile }, $class;
	push @started, $self;
	my $deadline = time + 30;
	until (-s $portfile)
	{
		if (waitpid($pid, POSIX::WNOHANG()) == $pid)
		{
			$self->{pid} = undef;
			croak "FaultProxy: the proxy exited: " . _slurp($logfile);
		}
		croak "FaultProxy: the proxy did not start within 30 s: " . _slurp($logfile) if time > $deadline;
		usleep(20_000);
	}
	chomp(my $port = _slurp($portfile));
	$self->{port} = $port;
	$self->{url} = "http://127.0.0.1:$port";
	$self->{http} = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
	return $self;
}

sub _slurp
{
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	my $s = <$fh>;
	return $s // '';
}

sub url      { return $_[0]{url}; }
sub port     { return $_[0]{port}; }
sub upstream { return $_[0]{upstream}; }
sub pid      { return $_[0]{pid}; }

=pod

=over

=item $proxy->stop

Stop the proxy (SIGTERM, then SIGKILL after 5 s). Also done at END.

=back

=cut

sub stop
{
	my ($self) = @_;
	my $pid = $self->{pid} or return;
	kill 'TERM', $pid;
	my $deadline = time + 5;
	while (waitpid($pid, POSIX::WNOHANG()) == 0)
	{
		if (time > $deadline)
		{
			kill 'KILL', $pid;
			waitpid($pid, 0);
			last;
		}
		usleep(20_000);
	}
	$self->{pid} = undef;
	return;
}

END
{
	my $status = $?;
	$_->stop for @started;
	$? = $status;
}

sub _call
{
	my ($self, $method, $path, $body) = @_;
	my $r = $self->{http}->request($method, $self->{url} . $path,
		defined $body ? { content => JSON::PP::encode_json($body), headers => { 'content-type' => 'application/json' } } : {});
	croak "FaultProxy: $method $path: $r->{status} $r->{reason}: $r->{content}" unless $r->{success};
	return JSON::PP::decode_json($r->{content});
}

=pod

=over

=item $proxy->fault(match => {method, path, query, headers}, action => A, count => N, ...)

Add a rule (see t/s3/fault-proxy.js); returns its id. The next count
matching requests get the fault, then requests pass again.

=item $proxy->clear_faults / $proxy->clear_log / $proxy->clear (both)

=item $proxy->rules — the rules, with "fired" (times applied) and "count" (left)

=item $proxy->log — every request the proxy saw since the last clear, in order:
hashes with seq, t and t_end (epoch seconds: arrival, end of the answer), conn (the
client connection's port), method, path, query, headers, status (what the client got,
undef if nothing), fault (the action applied, or undef), upstream_status,
outcome ("ok", "client_closed", "dropped", "truncated", "upstream_error")

=back

=cut

sub fault
{
	my ($self, %rule) = @_;
	return $self->_call('POST', '/__fault__', \%rule)->{id};
}

sub clear_faults { my ($self) = @_; $self->_call('DELETE', '/__fault__'); return; }
sub clear_log    { my ($self) = @_; $self->_call('DELETE', '/__fault__/log'); return; }
sub clear        { my ($self) = @_; $self->clear_faults; $self->clear_log; return; }
sub rules        { my ($self) = @_; return @{ $self->_call('GET', '/__fault__') }; }
sub log          { my ($self) = @_; return @{ $self->_call('GET', '/__fault__/log') }; }

=pod

=over

=item $proxy->repo_settings(%overrides)

[repo] settings that point a configuration at the proxy (merge them over
PgarkTest::repo_config's, e.g. new_env(extra => { repo => ... }) or
env_variant): endpoint = the proxy, and short timeouts and few retries so that
fault tests run fast: retries 2 (attempts after the first), connect_timeout 2,
timeout 3 (seconds without progress). %overrides wins.

=item $proxy->repo_config($dir, %overrides)

The whole [repo] section: PgarkTest::repo_config($dir) with repo_settings
merged over it.

=item $proxy->config_for($env, $file, %overrides)

Write $file, a copy of $env's configuration (PgarkTest::env_variant) that
reaches the same repository through the proxy; returns its path.

=item FaultProxy::describe(@log) — one line per log entry, for diagnostics

=back

=cut

sub repo_settings
{
	my ($self, %o) = @_;
	return {
		endpoint        => $self->{url},
		retries         => 2,
		connect_timeout => 2,
		timeout         => 3,
		%o,
	};
}

sub repo_config
{
	my ($self, $dir, %o) = @_;
	return { %{ PgarkTest::repo_config($dir) }, %{ $self->repo_settings(%o) } };
}

sub config_for
{
	my ($self, $env, $file, %o) = @_;
	return PgarkTest::env_variant($env, $file, { repo => $self->repo_settings(%o) });
}

sub describe
{
	my @log = @_;
	return join("\n",
		map {
			sprintf('#%d %s %s%s -> %s%s%s', $_->{seq}, $_->{method}, $_->{path},
				length($_->{query}) ? "?$_->{query}" : '', $_->{status} // 'none',
				defined $_->{fault} ? " [fault $_->{fault}]" : '',
				$_->{outcome} ne 'ok' ? " ($_->{outcome})" : '')
		} @log);
}

1;
