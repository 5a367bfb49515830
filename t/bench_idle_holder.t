# bench/idle_holder.py: the idle keep-alive connections of build/bench's keepalive phase are
# real: each has been through a request, nginx counts them as idle keep-alive ("Waiting" in
# stub_status), a request again before keepalive_timeout keeps them open, and the holder
# reports the ones nginx closed.
#   1. 300 connections, keepalive_timeout 2s, a request again on one idle for 0.5 s: HELD 300,
#      Waiting 300, still 300 after 3 s (past the timeout), DONE still_open=300, none closed;
#   2. the same without the request again (idle 100 s before it): nginx closes all 300 after
#      its 2 s, and DONE says so;
#   3. more connections than the hard limit on open files allows: refused with a message.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib dirname(abs_path(__FILE__)) . '/..';
use t::Nginx;

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $N = 300;
my $n = t::Nginx->new(name => 'bench-idle-holder');
my $port = $n->port;
$n->write_conf(<<"EOF");
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_timeout 2s;
    server {
        listen 127.0.0.1:$port;
        location = /api/ { return 200 '{"musics":"x"}'; }
        location = /status { stub_status; }
    }
}
EOF
$n->start;
my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub waiting {
    my $r = $http->get("http://127.0.0.1:$port/status");
    return $r->{content} =~ /Waiting: (\d+)/ ? $1 : -1;
}

# starts the holder; returns (pid, output file) once it has printed HELD (or exited)
sub hold {
    my ($refresh) = @_;
    my $out = $n->root . "/holder-$refresh.txt";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec('python3', "$ROOT/bench/idle_holder.py", '127.0.0.1', $port, $N, '/api/', $refresh) or POSIX::_exit(127);
    }
    my $deadline = time + 30;
    while (time < $deadline) {
        last if slurp($out) =~ /^HELD/m;
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    return ($pid, $out);
}

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh>;
}

sub done {
    my ($pid, $out) = @_;
    kill 'TERM', $pid;
    waitpid($pid, 0);
    return slurp($out);
}

my ($pid, $out) = hold(0.5);
like(slurp($out), qr/^HELD $N ok=$N failed=0 /m, "1: $N connections, each answered 200");
is(waiting(), $N, "1: nginx counts $N idle keep-alive connections");
sleep 3;
is(waiting(), $N, '1: still all of them after keepalive_timeout (each asked again while idle)');
my $done = done($pid, $out);
like($done, qr/^DONE still_open=$N closed_by_server=0 refreshed=[1-9]\d*$/m, '1: DONE: all open, none closed by nginx');

($pid, $out) = hold(100);
like(slurp($out), qr/^HELD $N /m, "2: $N connections again");
sleep 3.5;
is(waiting(), 0, '2: without a request again, nginx closed them after keepalive_timeout');
$done = done($pid, $out);
like($done, qr/^DONE still_open=0 closed_by_server=$N refreshed=0$/m, '2: and the holder reports it');

chomp(my $hard = `sh -c 'ulimit -Hn'`);
SKIP: {
    skip 'no hard limit on open files', 2 if $hard eq 'unlimited';
    my $o = `python3 $ROOT/bench/idle_holder.py 127.0.0.1 $port $hard /api/ 2>&1`;
    isnt($? >> 8, 0, '3: more connections than the hard limit allows: refused');
    like($o, qr/hard limit/, '3: and says why');
}
$n->stop;

done_testing();
