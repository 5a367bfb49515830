# Fault: PostgreSQL frozen (SIGSTOP of the postmaster and all its children: backends and
# auxiliary processes), on a private cluster (t::Fault::Pg).
#
#   1. with pool connections open: a slow INSERT (a BEFORE INSERT trigger sleeping 30 s) is
#      running when the server freezes, and more requests come while it is frozen: every one
#      answers 504 {"detail":"Database query timed out."} at music_query_timeout, none hangs;
#      after SIGCONT the server-side queries are cancelled (pg_stat_activity shows no active
#      statement of the module's backends, the INSERT left no row) and the pool recovers (every
#      request succeeds again, no worker died);
#   2. with no connection open yet (a fresh nginx): requests answer 503 within the connect/pool
#      timeout while frozen, and succeed after SIGCONT.
# The long variant (./build/stress) freezes longer, several times, under load.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick load summarize alert_lines wait_until live_workers
    start_nginx);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my %P = (
    frozen  => pick(short => 3, long => 8),
    cycles  => pick(short => 1, long => 3),
    clients => pick(short => 0, long => 8),   # background load during the freezes (long only)
);
my ($connect, $pool, $query) = (1, 1, 1);
my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now());
    CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS $$ BEGIN IF NEW.song LIKE 'slow%' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});

my %conf = (
    url => $pg->url,
    workers => 1,
    http => "music_connect_timeout ${connect}s; music_pool_timeout ${pool}s; music_query_timeout ${query}s;
        music_auth_cache_valid 10m;",
);
my $n = start_nginx(name => 'fault-pg-frozen', %conf);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $get = request('GET', '/api/musics/1/detail/', headers => $auth, close => 1);
my $slow_post = request('POST', '/api/musics/', headers => $json . $auth, body => '{"song":"slow-frozen","singer":"s"}', close => 1);

sub timed_parallel {
    my ($nginx, @reqs) = @_;
    my $t = time;
    my @r = $nginx->parallel(15, @reqs);
    $_->{dt} = time - $t for @r;
    return @r;
}

my @workers = live_workers($n);
my @warm = timed_parallel($n, ($get) x 4);
is(scalar(grep { $_->{status} == 200 } @warm), 4, 'warm-up answered 200');

for my $cycle (1 .. $P{cycles}) {
    my $bg = $P{clients} ? load(port => $n->port, clients => $P{clients}, seconds => $P{frozen} + 6, timeout => 10,
        pace => 0.01, make => sub { { tag => 'get', req => request('GET', '/api/musics/1/detail/', headers => $auth), retry_stale => 1 } }) : undef;
    # the slow INSERT, answered by a forked client
    my $slow = load(port => $n->port, clients => 1, max_requests => 1, seconds => 20, timeout => 15,
        make => sub { { tag => 'slow', req => $slow_post } });
    my $running = wait_until(3, sub { grep { $_->{state} eq 'active' && $_->{query} =~ /^INSERT/ } $pg->backends });
    ok($running, "cycle $cycle: the slow INSERT runs on the server");
    my $t_freeze = time;
    my @stopped = $pg->freeze;
    note('stopped ' . scalar(@stopped) . ' PostgreSQL processes');
    my @during = timed_parallel($n, ($get) x 6);
    my $rest = $P{frozen} - (time - $t_freeze);
    sleep $rest if $rest > 0;
    push @during, timed_parallel($n, ($get) x 2) if $P{frozen} >= 2 * $query + 1;
    my ($post) = $slow->finish;
    $pg->thaw;
    my $t_thaw = time;

    is(scalar(grep { $_->{status} == 504 && $_->{body} eq '{"detail":"Database query timed out."}' } @during), scalar @during,
        'frozen: every request answers 504 {"detail":"Database query timed out."}')
        or diag explain [map { sprintf '%d %.2fs %s', $_->{status}, $_->{dt}, $_->{body} } @during];
    my @off = grep { $_->{dt} < $query - 0.05 || $_->{dt} > $query + 1 } @during;
    is(scalar @off, 0, sprintf '...at the query timeout (%.2fs..%.2fs)', (sort { $a <=> $b } map { $_->{dt} } @during)[0, -1]);
    is($post->{status}, 504, 'the slow INSERT answers 504 at the query timeout') or diag explain $post;

    # after SIGCONT: the cancel requests (queued in the postmaster's listen socket) are served
    my $quiet = wait_until(3, sub {
        my @a = grep { $_->{state} eq 'active' } $pg->backends;
        !@a;
    }, 0.1);
    ok($quiet, sprintf 'after SIGCONT the server-side queries are cancelled (no active statement %.1fs later)', time - $t_thaw)
        or diag explain [$pg->backends];
    is($pg->psql(q{SELECT count(*) FROM music WHERE song = 'slow-frozen'}), '0', 'the timed-out INSERT left no row');

    my $t_rec = time;
    my $ok = wait_until(5, sub { my @r = timed_parallel($n, ($get) x 4); !grep { $_->{status} != 200 } @r }, 0.1);
    ok($ok, sprintf 'the pool recovers (all requests 200 %.2fs after SIGCONT)', time - $t_thaw);
    my @after = timed_parallel($n, ($get) x 20);
    is(scalar(grep { $_->{status} == 200 } @after), 20, '...and the next 20 requests all succeed')
        or diag explain [map { "$_->{status} $_->{body}" } grep { $_->{status} != 200 } @after];
    if ($bg) {
        $bg->stop;
        my @res = $bg->finish;
        diag("background load, cycle $cycle:\n" . summarize(@res));
        is(scalar(grep { $_->{status} == 0 } @res), 0, 'background load: no request hung');
        is(scalar(grep { $_->{status} !~ /^(200|503|504)$/ || !defined $_->{detail} && $_->{status} != 200 } @res), 0,
            'background load: failures are 503/504 with a JSON detail');
    }
}
is_deeply([live_workers($n)], \@workers, 'no worker died');
ok(responsive($n), 'every worker still answers (/alive)');

# ---- 2. frozen before any connection was opened
my $fresh = start_nginx(name => 'fault-pg-frozen-fresh', %conf);
$pg->freeze;
my @cold = timed_parallel($fresh, ($get) x 3);
$pg->thaw;
is(scalar(grep { $_->{status} == 503 && defined t::Fault::detail_of($_->{body}) } @cold), 3,
    'frozen, no connection yet: 503 with a JSON detail') or diag explain \@cold;
my ($worst) = sort { $b <=> $a } map { $_->{dt} } @cold;
cmp_ok($worst, '<=', ($connect > $pool ? $connect : $pool) + 1, sprintf '...within the connect/pool timeout (%.2fs)', $worst);
my $back = wait_until(8, sub { my ($r) = $fresh->parallel(5, $get); $r->{status} == 200 }, 0.2);
ok($back, 'after SIGCONT it connects and answers 200');

my @stuck = (stop_nginx($fresh), stop_nginx($n));
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my @alerts = (alert_lines($n->error_log), alert_lines($fresh->error_log));
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error logs') or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);
$pg->psql('DROP TRIGGER IF EXISTS slow ON music');

done_testing;
