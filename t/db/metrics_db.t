# The database and auth metrics (src/metrics, recorded by src/db/pool.rs, src/db/queries.rs,
# src/authenticate.rs) move when their event happens, against a private PostgreSQL
# (t::Fault::Pg: its slow trigger and its stop must not touch the shared test database):
# statements by name, connects and the pool gauges, the auth cache (miss, PBKDF2, hit), a wrong
# password, a list stream and its rows, a statement past music_query_timeout (cancel), a full
# queue (503) and a wait that timed out, PostgreSQL stopped (connect failures by reason, the
# reconnect backoff) and back.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use POSIX ();
use t::Fault qw(start_nginx stop_nginx wait_until alert_lines);
use t::Music ();

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 35;

my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES
    ('a', 'x', now(), now()), ('b', 'y', now(), now()), ('c', 'z', now(), now())});
my $n = start_nginx(
    name => 'metrics-db',
    url => $pg->url,
    workers => 1,
    http => 'music_metrics_zone metrics:1m; music_connect_timeout 1s; music_pool_timeout 500ms;
        music_query_timeout 1s; music_pool_size 1; music_pool_pipeline 1; music_pool_queue 1;
        music_list_buffer_size 0;',   # every list streams: the stream metrics
    server => 'location = /metrics { music_metrics; }',
);
my $admin = "$t::Music::admin\r\n";

sub get { my ($r) = $n->parallel(15, t::Music::request('GET', $_[0], close => 1, headers => $_[1] // '')); $r }

sub metric {
    my ($series) = @_;
    my ($r) = $n->parallel(5, t::Music::request('GET', '/metrics', close => 1));
    for my $line (split /\n/, $r->{body}) {
        return $1 if $line =~ /^\Q$series\E (\S+)$/;
    }
    return undef;
}

my $q = 'pool="primary",purpose="queries"';
my $s = 'pool="primary",purpose="streams"';

{   # a first authenticated request
    my $r = get('/api/musics/1/', $admin);
    is($r->{status}, 200, 'GET /api/musics/1/ with a first-time login: 200');
    is(metric('ngx_music_auth_cache_misses_total'), 1, 'auth cache: 1 miss');
    is(metric('ngx_music_auth_pbkdf2_runs_total'), 1, 'PBKDF2: 1 run');
    is(metric('ngx_music_db_statement_duration_seconds_count{pool="primary",statement="user_by_name"}'), 1,
        'statement user_by_name: 1');
    is(metric('ngx_music_db_statement_duration_seconds_count{pool="primary",statement="retrieve"}'), 1,
        'statement retrieve: 1');
    is(metric("ngx_music_db_connects_total{$q}"), 1, 'connects: 1 (music_pool_size 1)');
    is(metric("ngx_music_db_pool_connections_open{$q}"), 1, 'connections open: 1');
    is(metric("ngx_music_db_pool_connections_idle{$q}"), 1, '  idle: 1');
    get('/api/musics/2/', $admin);
    is(metric('ngx_music_auth_cache_hits_total'), 1, 'the same credentials again: 1 cache hit');
    is(metric('ngx_music_auth_pbkdf2_runs_total'), 1, '  and no second PBKDF2');
}

{   # a wrong password
    my $r = get('/api/musics/1/', 'Authorization: Basic ' . encode_base64('admin:nope', '') . "\r\n");
    is($r->{status}, 403, 'a wrong password: 403');
    is(metric('ngx_music_auth_failed_logins_total'), 1, 'failed logins: 1');
}

{   # a streamed list
    my $r = get('/api/musics/', $admin);
    is($r->{status}, 200, 'GET /api/musics/: 200');
    is(metric("ngx_music_db_streams_total{$s}"), 1, 'streams: 1');
    is(metric("ngx_music_db_stream_rows_total{$s}"), 3, 'rows streamed: 3');
    is(metric('ngx_music_db_statement_duration_seconds_count{pool="primary",statement="list"}'), 1,
        'statement list: 1');
}

{   # a statement past music_query_timeout, then a full queue
    $pg->psql(q{CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});
    my $post = t::Music::request('POST', '/api/musics/', close => 1, body => '{"song":"s","singer":"t"}',
        headers => $admin . "Content-Type: application/json\r\n");
    my ($r) = $n->parallel(15, $post);
    is($r->{status}, 504, 'an INSERT past music_query_timeout: 504');
    is(metric("ngx_music_db_cancels_total{$q}"), 1, 'cancels sent: 1');
    # one INSERT runs (pipeline 1), one waits (queue 1), the rest are refused at once
    my @r = $n->parallel(15, ($post) x 5);
    my %by;
    $by{ $_->{status} }++ for @r;
    cmp_ok($by{503} // 0, '>=', 3, 'five at once on one connection: at least three 503')
        or diag explain \%by;
    cmp_ok(metric("ngx_music_db_pool_queue_full_total{$q}"), '>=', 2, 'queue full refusals counted');
    cmp_ok(metric("ngx_music_db_pool_waits_total{$q}"), '>=', 1, 'a wait counted');
    cmp_ok(metric("ngx_music_db_pool_wait_timeouts_total{$q}"), '>=', 1, 'a wait that timed out counted');
    $pg->psql('DROP TRIGGER slow ON music');
    sleep 1.5;   # the cancelled INSERTs are over
}

{   # a statement PostgreSQL refuses: counted by SQLSTATE class
    $pg->psql(q{CREATE OR REPLACE FUNCTION refuse_song() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no' USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER refuse BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION refuse_song();});
    my $before = metric('ngx_music_db_errors_total{pool="primary",sqlstate_class="23"}');
    my ($r) = $n->parallel(15, t::Music::request('POST', '/api/musics/', close => 1, body => '{"song":"s","singer":"t"}',
        headers => $admin . "Content-Type: application/json\r\n"));
    cmp_ok($r->{status}, '>=', 500, "an INSERT the database refuses (23514): $r->{status}");
    is(metric('ngx_music_db_errors_total{pool="primary",sqlstate_class="23"}') - $before, 1,
        'errors by SQLSTATE class: one more in class 23');
    $pg->psql('DROP TRIGGER refuse ON music');
}

{   # PostgreSQL stopped, then back
    $pg->stop('fast');
    for (1 .. 3) { get('/api/musics/1/', $admin); sleep 0.2 }
    cmp_ok(metric("ngx_music_db_connect_failures_total{$q,reason=\"refused\"}"), '>=', 1,
        'database stopped: connect failures with reason "refused"');
    is(metric("ngx_music_db_pool_connections_open{$q}"), 0, 'connections open: 0');
    my $connects = metric("ngx_music_db_connects_total{$q}");
    $pg->start;
    my $ok = wait_until(8, sub { get('/api/musics/1/', $admin)->{status} == 200 }, 0.2);
    ok($ok, 'database back: 200 again');
    cmp_ok(metric("ngx_music_db_connects_total{$q}"), '>', $connects, 'and a new connect counted');
}

stop_nginx($n);
is(scalar(alert_lines($n->error_log)), 0, 'no [alert] or [crit]');

{   # logins beyond music_auth_queue: refused at once, and counted
    $n = start_nginx(
        name => 'metrics-db-auth',
        url => $pg->url,
        workers => 1,
        http => 'music_metrics_zone metrics:1m; music_auth_queue 1;',
        server => 'location = /metrics { music_metrics; }',
   );
    my @r = $n->parallel(30, map {
        t::Music::request('GET', '/api/musics/1/', close => 1,
            headers => 'Authorization: Basic ' . encode_base64("nobody$_:x$_", '') . "\r\n")
    } 1 .. 40);
    my $busy = grep { $_->{status} == 503 && $_->{body} =~ /Authentication is busy/ } @r;
    my $refused = grep { $_->{status} == 403 } @r;
    cmp_ok($busy, '>=', 1, "40 unknown users at once with music_auth_queue 1: $busy answered 503 busy, $refused 403");
    is(metric('ngx_music_auth_queue_refusals_total'), $busy, 'queue refusals: as many as the 503s');
    is(metric('ngx_music_auth_failed_logins_total'), $refused, 'failed logins: as many as the 403s');
    is(metric('ngx_music_auth_pbkdf2_runs_total'), $refused, 'PBKDF2 runs: one per refused unknown user');

    # a write whose connection breaks after it was sent: its backend is terminated mid-INSERT
    $pg->psql(q{CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});
    my $killer = fork // die "fork: $!";
    if ($killer == 0) {
        sleep 1.5;
        $pg->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND pid <> pg_backend_pid()});
        POSIX::_exit(0);
    }
    my ($w) = $n->parallel(15, t::Music::request('POST', '/api/musics/', close => 1, body => '{"song":"s","singer":"t"}',
        headers => $admin . "Content-Type: application/json\r\n"));
    waitpid $killer, 0;
    like("$w->{status} $w->{body}", qr/^503 .*outcome is unknown/, 'an INSERT whose backend is terminated: 503, outcome unknown');
    is(metric("ngx_music_db_writes_unknown_outcome_total{$q}"), 1, 'writes with unknown outcome: 1');
    $pg->psql('DROP TRIGGER slow ON music');
    stop_nginx($n);
}
