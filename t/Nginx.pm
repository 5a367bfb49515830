package t::Nginx;

# A small nginx-tests style helper for the scenarios the data-driven format cannot express
# (concurrent requests, reloads, signals): start nginx with a given configuration as a
# direct child on 127.0.0.1, send requests (several at once), signal it, stop it by pid.

use strict;
use warnings;
use Exporter 'import';
use File::Path qw(make_path remove_tree);
use File::Basename qw(basename);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(free_port children_of);

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
        or die "cannot bind: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# t::Nginx->new(name => 'reload', conf => sub { my ($port, $root) = @_; "...nginx.conf..." })
sub new {
    my ($class, %opt) = @_;
    my $root = "t/servroot/" . ($opt{name} // basename($0, '.t')) . "-$$";
    remove_tree($root);
    make_path("$root/conf", "$root/logs", "$root/html");
    for my $d (qw(client_body_temp proxy_temp fastcgi_temp uwsgi_temp scgi_temp)) {
        make_path("$root/$d");
    }
    my $self = bless { root => $root, port => free_port(), owner => $$, %opt }, $class;
    return $self;
}

sub port { $_[0]{port} }
sub root { $_[0]{root} }

sub write_conf {
    my ($self, $text) = @_;
    my $modules = join '', map { "load_module $_;\n" } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $user = $> == 0 ? "user root;\n" : '';
    open my $fh, '>', "$self->{root}/conf/nginx.conf" or die $!;
    print $fh $modules, $user, "pid logs/nginx.pid;\nerror_log logs/error.log info;\n", $text;
    close $fh;
}

sub binary { $ENV{TEST_NGINX_BINARY} || 'nginx' }

# TEST_NGINX_USE_VALGRIND=1 or =<memcheck options> runs nginx under valgrind as the harness
# does (build/memcheck sets it for the whole suite); startup and shutdown then take longer.
sub valgrind_argv {
    my $v = $ENV{TEST_NGINX_USE_VALGRIND} or return ();
    my @opts = $v =~ /^\s*1?\s*$/ ? () : split ' ', $v;
    return ('valgrind', '-q', '--tool=memcheck', '--leak-check=full', '--show-possibly-lost=no',
            '--num-callers=50', @opts);
}

sub slowdown { $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 1 }

sub start {
    my ($self) = @_;
    my $bin = binary();
    my $out = `$bin -p $self->{root}/ -c conf/nginx.conf -e logs/error.log -t 2>&1`;
    die "nginx -t failed:\n$out" if $?;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec valgrind_argv(), $bin, '-p', "$self->{root}/", '-c', 'conf/nginx.conf', '-e', 'logs/error.log',
            '-g', 'daemon off;';
        exit 127;
    }
    $self->{pid} = $pid;
    my $deadline = time + 10 * slowdown();
    while (time < $deadline) {
        die "nginx exited at start:\n" . $self->error_log if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port}, Timeout => 1);
        return $self if $s;
        sleep 0.02;
    }
    die "nginx did not start listening";
}

sub signal {
    my ($self, $sig) = @_;
    kill $sig, $self->{pid};
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'QUIT', $pid;
    my $deadline = time + 10 * slowdown();
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# Only the process that started nginx stops it (not a forked child on its way out).
sub DESTROY { $_[0]->stop if $_[0]{owner} == $$ }

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

# Worker pids from the master's children (Linux /proc).
sub workers {
    my ($self) = @_;
    return children_of($self->{pid});
}

# The pids whose parent is $ppid (Linux /proc), ascending.
sub children_of {
    my ($ppid) = @_;
    my @c;
    for my $stat (glob "/proc/[0-9]*/stat") {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $pp) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @c, $pid if $pp == $ppid;
    }
    return sort { $a <=> $b } @c;
}

# Sends raw HTTP requests all at once, each on its own connection; returns the responses
# (status, headers text, body) in the same order, waiting at most $timeout seconds in all.
# Each answer is read until nginx closes: build them with t::Music::request(..., close => 1).
sub parallel {
    my ($self, $timeout, @requests) = @_;
    my (@socks, %buf, %index);
    for my $i (0 .. $#requests) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port}) or die "connect: $!";
        $s->autoflush(1);
        print $s $requests[$i];
        push @socks, $s;
        $index{fileno $s} = $i;
        $buf{fileno $s} = '';
    }
    my $sel = IO::Select->new(@socks);
    my $deadline = time + $timeout;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read($deadline - time)) {
            my $n = sysread($s, my $chunk, 65536);
            if ($n) { $buf{fileno $s} .= $chunk } else { $sel->remove($s); }
        }
    }
    return map {
        my $raw = $buf{fileno $socks[$_]};
        my ($head, $body) = split /\r\n\r\n/, $raw, 2;
        my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d{3})};
        { status => $status // 0, head => $head // '', body => $body // '' }
    } 0 .. $#requests;
}

1;
