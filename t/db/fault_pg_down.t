# Fault: PostgreSQL stopped, while idle and under load (docs/api.md, Other errors).
#
# With a private cluster (t::Fault::Pg: the shared test database stays up for the other files):
#   1. idle: nginx has open pool connections, PostgreSQL stops (pg_ctl -m fast); every request
#      answers 503 with a JSON detail within the connect/pool timeout; no worker dies; when
#      PostgreSQL comes back the requests succeed again without touching nginx (each worker
#      within its pool's reconnect backoff, at most 5 s: until then it answers 503 at once);
#   2. under load (forked keep-alive clients, GETs and POSTs): PostgreSQL stops and starts again
#      in the middle; no request hangs (the client gives up after 10 s and counts it as hung),
#      every failure is a 503 with a JSON detail and comes within the timeouts, the load
#      succeeds again after the restart, no worker dies, no [alert].
# The long variant (./build/stress, t/stress/pg_down.t) stops it several times, for longer, with
# more clients.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick load summarize alert_lines wait_until live_workers
    start_nginx);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my %P = (
    clients => pick(short => 4, long => 16),
    cycles  => pick(short => 1, long => 3),
    up      => pick(short => 1.5, long => 4),     # load before each stop
    down    => pick(short => 3, long => 10),      # PostgreSQL down
    after   => pick(short => 8, long => 10),      # load after the last start
    pace    => pick(short => 0.01, long => 0),
);
my ($connect, $pool, $query) = (1, 1, 2);   # seconds, as configured below
my $bound = ($connect > $pool ? $connect : $pool) + 1.0;   # a failure answers within this
my $backoff_max = 5;                                      # src/db/pool.rs BACKOFF_MAX

my $pg = t::Fault::Pg->new;
my $n = start_nginx(
    name => 'fault-pg-down',
    url => $pg->url,
    workers => 2,
    http => "music_connect_timeout ${connect}s; music_pool_timeout ${pool}s; music_query_timeout ${query}s;",
);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $get = request('GET', '/api/musics/1/detail/', headers => $auth, close => 1);
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});

sub parallel_get { $n->parallel(15, ($get) x $_[0]) }

sub json_503 {
    my ($r) = @_;
    return $r->{status} == 503 && $r->{body} =~ /^\{"detail":"[^"]+"\}$/;
}

my @workers = live_workers($n);
is(scalar @workers, 2, 'two workers');
my @warm = parallel_get(8);
is(scalar(grep { $_->{status} == 200 } @warm), 8, 'warm-up: 8 requests answered 200 (pool connections open)');

# ---- 1. idle
$pg->stop('fast');
my $t0 = time;
my @idle = map { my $t = time; my ($r) = $n->parallel(10, $get); $r->{dt} = time - $t; $r } 1 .. 4;
push @idle, map { $_->{dt} = time - $t0; $_ } do { $t0 = time; parallel_get(6) };
is(scalar(grep { json_503($_) } @idle), scalar @idle, 'database stopped: every request answers 503 with a JSON detail')
    or diag explain [map { "$_->{status} $_->{body}" } @idle];
my ($worst) = sort { $b <=> $a } map { $_->{dt} } @idle;
cmp_ok($worst, '<=', $bound, "...each within the connect/pool timeout (+1s); slowest ${\ sprintf '%.2f', $worst}s");
my ($alive) = $n->parallel(5, request('GET', '/alive', close => 1));
is($alive->{status}, 200, 'nginx serves the rest meanwhile');

$pg->start;
my $t_up = time;
# every worker must be back: each one retries on its own backoff (100 ms doubling to 5 s), and
# until then answers 503 at once; three batches of 10 in a row all 200 count as recovered
my $streak = 0;
my $recovered = wait_until($backoff_max + $connect + 3, sub {
    my @r = parallel_get(10);
    $streak = (grep { $_->{status} != 200 } @r) ? 0 : $streak + 1;
    return $streak >= 3;
}, 0.1);
my $took = time - $t_up;
ok($recovered, sprintf('database back: requests succeed again without restarting nginx (every worker after %.1fs)', $took));
diag(sprintf 'idle: %.2fs after PostgreSQL was back, 3 batches of 10 parallel requests in a row all succeeded', $took);
my @next = parallel_get(10);
is(scalar(grep { $_->{status} == 200 } @next), 10, '...and the next 10 requests all succeed');

# ---- 2. under load
my $load = load(
    port => $n->port, clients => $P{clients}, timeout => 10, pace => $P{pace},
    seconds => $P{cycles} * ($P{up} + $P{down} + 5) + $P{after} + 10,   # a bound; stopped below
    make => sub {
        my ($c, $seq) = @_;
        return $seq % 4 == 3
            ? { tag => "post-$c-$seq", req => request('POST', '/api/musics/', headers => $json . $auth,
                body => qq({"song":"down-$c-$seq","singer":"s"})) }
            : { tag => 'get', req => request('GET', '/api/musics/1/detail/', headers => $auth), retry_stale => 1 };
    },
);
my @windows;   # [down_at, up_at]
for (1 .. $P{cycles}) {
    sleep $P{up};
    my $d = time;
    $pg->stop('fast');
    sleep $P{down};
    $pg->start;
    push @windows, [$d, time];
}
sleep $P{after};
my $t_end = time;
$load->stop;
my @res = $load->finish;
diag("load with PostgreSQL stopped $P{cycles}x for $P{down}s:\n" . summarize(@res));

my @hung = grep { $_->{status} == 0 } @res;
is(scalar @hung, 0, 'no request hung or lost its connection') or diag explain [@hung[0 .. ($#hung > 4 ? 4 : $#hung)]];
my @bad = grep { $_->{status} !~ /^(200|201|503)$/ || ($_->{status} == 503 && !defined $_->{detail}) } @res;
is(scalar @bad, 0, 'every failure is a 503 with a JSON detail')
    or diag explain [map { "$_->{status} $_->{body}" } @bad[0 .. ($#bad > 9 ? 9 : $#bad)]];
my @failures = grep { $_->{status} == 503 } @res;
ok(scalar @failures, sprintf('the stop was noticed (%d requests answered 503)', scalar @failures));
my @late = grep { $_->{dt} > $bound } @failures;
is(scalar @late, 0, "every 503 came within the connect/pool timeout (+1s)")
    or diag explain [map { sprintf '%.2fs %s', $_->{dt}, $_->{body} } @late[0 .. ($#late > 9 ? 9 : $#late)]];
my @slowest = sort { $b->{dt} <=> $a->{dt} } @res;
cmp_ok($slowest[0]{dt}, '<=', $pool + 2 * $query + 1, sprintf 'no request took longer than the timeouts allow (slowest %.2fs)', $slowest[0]{dt});
my $last_up = $windows[-1][1];
my @first_ok = grep { $_->{status} =~ /^2/ && $_->{t0} >= $last_up } @res;
ok(@first_ok, 'requests succeed after the restart');
diag(sprintf 'under load: first success %.2fs after PostgreSQL was back', $first_ok[0]{t0} - $last_up) if @first_ok;
my @tail = grep { $_->{t0} >= $last_up + $backoff_max + $connect + 0.5 } @res;
ok(@tail && !grep({ $_->{status} !~ /^2/ } @tail), sprintf('once the backoff is over, every request succeeds (%d in the last %.1fs)',
    scalar @tail, $t_end - $last_up - $backoff_max - $connect - 0.5))
    or diag(summarize(@tail));

is_deeply([live_workers($n)], \@workers, 'no worker died (the same two workers serve)');
ok(responsive($n), 'every worker still answers (/alive)');
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);

done_testing;
