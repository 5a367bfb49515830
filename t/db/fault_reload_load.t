# Fault: `nginx -s reload` (SIGHUP to the master) 20 times during a sustained load, on a private
# cluster (t::Fault::Pg) so that the backends counted are this nginx's only.
#   1. first, the case that decides it: a request whose credentials are being checked
#      (PBKDF2, 5M iterations: most of a second on nginx's thread pool, the worker's auth cache
#      is cold) when the reload comes: the old worker must finish it (200) before it exits,
#      with no "open socket ... left" [alert]; the same with a graceful stop (QUIT);
#   2. the load: forked clients, keep-alive GETs (a GET that meets the keep-alive race -- the
#      server closed the idle connection at a reload before reading it -- is retried once on a
#      new connection, as HTTP clients do, and counted) and POSTs each on a new connection.
# Expected: zero failed requests, every 201 in the table, zero [alert] lines, the old workers
# exit, no connection leak: after the reloads every ngx-music backend belongs to a live worker
# (its client port is a socket of a current worker), there are no more than workers x pool
# size of them, and the master has the same number of open fds as before.
# The long variant (./build/stress) reloads 100 times with more clients.
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use t::Music ();
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick load summarize alert_lines wait_until live_workers
    start_nginx write_outcomes fd_count tcp_ports_to cmdline);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my %P = (
    clients => pick(short => 4, long => 12),
    reloads => pick(short => 20, long => 100),
    every   => pick(short => 0.3, long => 0.25),
);
my ($workers, $pool_size) = (2, 2);
my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});

# ---- 1. a reload (then a stop) while a request waits for PBKDF2 on the thread pool
# Django's pbkdf2_sha256 of 'slowpw' with 5,000,000 iterations (hashlib.pbkdf2_hmac, computed once):
# the module takes most of a second over it
my $slow_hash = 'pbkdf2_sha256$5000000$slowsalt1234$GQYZk5O6WGaCJShPJign8DTXSyD3LkDa/oS3inJR4Qk=';
$pg->psql(qq{INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
    VALUES ('$slow_hash', false, 'slowhash', '', '', '', false, true, now())});
my $slow_auth = t::Music::basic('slowhash', 'slowpw') . "\r\n";
for my $sig (qw(HUP QUIT)) {
    my $one = start_nginx(name => "fault-reload-pbkdf2-$sig", url => $pg->url, workers => 1);
    my $kid = fork // die;
    if ($kid == 0) {
        sleep 0.3;   # the request below is in PBKDF2 by then
        $one->signal($sig);
        POSIX::_exit(0);
    }
    my $t = time;
    my ($r) = $one->parallel(15, request('GET', '/api/musics/1/detail/', headers => $slow_auth, close => 1));
    waitpid($kid, 0);
    is($r->{status}, 200, sprintf('%s while a request waits for PBKDF2 on the thread pool: the old worker answers it (%s after %.2fs)',
        $sig eq 'HUP' ? 'a reload' : 'a graceful stop', $r->{status}, time - $t));
    wait_until(5, sub { $sig eq 'HUP' ? !grep { cmdline($_) =~ /shutting down/ } $one->workers : !kill(0, $one->{pid}) }, 0.1);
    my @stuck = stop_nginx($one);
    my @alerts = alert_lines($one->error_log);
    is(scalar @alerts, 0, '...and no [alert] (no socket left open at the worker\'s exit)') or diag(join "\n", @alerts);
}

# ---- 2. 20 reloads under load
my $n = start_nginx(
    name => 'fault-reload-load', url => $pg->url, workers => $workers,
    http => "music_pool_size $pool_size; music_connect_timeout 2s; music_pool_timeout 2s; music_query_timeout 5s;",
);
my $master = $n->{pid};
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $fds_before = fd_count($master);
my @first_workers = live_workers($n);

my $load = load(
    port => $n->port, clients => $P{clients}, timeout => 10, pace => 0.005,
    seconds => 1 + $P{reloads} * $P{every} + 2 + 10,   # a bound; stopped below
    make => sub {
        my ($c, $seq) = @_;
        return $seq % 3 == 2
            ? { tag => "post:rl-$c-$seq", req => request('POST', '/api/musics/', headers => $json . $auth,
                body => qq({"song":"rl-$c-$seq","singer":"s"}), close => 1) }
            : { tag => 'get', req => request('GET', '/api/musics/1/detail/', headers => $auth), retry_stale => 1 };
    },
);
sleep 1;
my $backends_before = $pg->count_backends;
for (1 .. $P{reloads}) {
    $n->signal('HUP');
    sleep $P{every};
}
sleep 2;
$load->stop;
my @res = $load->finish;
diag("load across $P{reloads} reloads:\n" . summarize(@res));

my @failed = grep { $_->{status} !~ /^20[01]$/ } @res;
is(scalar @failed, 0, 'zero failed requests')
    or diag explain [map { "$_->{status} $_->{body} $_->{error} ($_->{tag})" } @failed[0 .. ($#failed > 9 ? 9 : $#failed)]];
my $retried = grep { $_->{retried} } @res;
diag("$retried keep-alive GETs met a connection closed by a reload and were retried on a new one");
my ($counts, $problems) = write_outcomes($pg, 'rl-%', \@res);
is(scalar @$problems, 0, "every 201 is in the table once ($counts->{created} writes)")
    or diag(join "\n", @$problems[0 .. ($#$problems > 9 ? 9 : $#$problems)]);

# the old workers exit
my $settled = wait_until(20, sub {
    my @all = $n->workers;
    @all == $workers && !grep { cmdline($_) =~ /shutting down/ } @all;
}, 0.2);
ok($settled, 'the old workers exited (only ' . $workers . ' workers are left)')
    or diag(join "\n", map { "$_ " . cmdline($_) } $n->workers);
my @now = live_workers($n);
ok(!grep({ my $w = $_; grep { $_ == $w } @first_workers } @now), 'the workers are new ones');

# connections: none left over from an old worker
my ($r) = $n->parallel(5, request('GET', '/api/musics/1/detail/', headers => $auth, close => 1));
is($r->{status}, 200, 'the new workers answer');
ok(responsive($n), 'every worker answers (/alive)');
my (@orphans, @b);
my $clean = wait_until(5, sub {
    @b = $pg->backends;
    my %ours = map { $_ => 1 } map { tcp_ports_to($_, $pg->port) } live_workers($n);
    @orphans = grep { !$ours{ $_->{port} } } @b;
    !@orphans;
}, 0.2);
ok($clean, sprintf('every ngx-music backend belongs to a live worker (%d before the reloads, %d after)', $backends_before, scalar @b))
    or diag explain \@orphans;
cmp_ok(scalar @b, '<=', $workers * $pool_size, 'no more backends than workers x pool size');
is(fd_count($master), $fds_before, "the master has as many open fds as before the reloads ($fds_before)");

my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'zero [alert] lines (and no [crit], no crash, no socket left open)')
    or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);

done_testing;
