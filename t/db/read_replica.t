# music_read_database: the requests that only read (GET/HEAD of the list, an item, detail/,
# all_singer/) go to a read server, a streaming standby of the primary (both private clusters
# of this test); writes stay on music_database. With the standby's replay paused a new row is
# written (201, on the primary) and is not yet seen by the reads, which proves where they go;
# once replay resumes it is. With the standby down, reads fall back to the primary
# (music_read_fallback on, the default) or answer 503 (off). The lag of a write until the
# read server shows it is measured and printed.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Music;
use t::Fault qw(start_nginx stop_nginx wait_until);
use t::Replica qw(standby_of);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $primary = t::Fault::Pg->new;
$primary->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
my $standby = standby_of($primary);
wait_until(10, sub { ($standby->psql('SELECT count(*) FROM music', allow_fail => 1) // 0) == 1 })
    or BAIL_OUT('the standby did not replay the row');

my $auth = "$t::Music::admin\r\n";
my $json = "Content-Type: application/json\r\n";
my $unavailable = '{"detail":"Database unavailable."}';
my $read_url = $standby->url . '?application_name=ngx-music-read';

sub nginx_with {
    my ($extra) = @_;
    return start_nginx(name => 'read_replica', url => $primary->url, workers => 1,
        http => qq{music_read_database "$read_url"; music_connect_timeout 1s; music_pool_timeout 3s; $extra});
}

sub one {
    my ($n, $method, $uri, $body) = @_;
    my %o = (headers => $auth . ($body ? $json : ''), close => 1);
    $o{body} = $body if defined $body;
    my ($r) = $n->parallel(10, t::Music::request($method, $uri, %o));
    return $r;
}

sub created_id {
    my ($r) = @_;
    return $r->{body} =~ /"id":(\d+)/ ? $1 : undef;
}

my $n = nginx_with('');

# Replay paused on the standby: what the primary commits now is not on the read server yet.
$standby->psql('SELECT pg_wal_replay_pause()');
my $r = one($n, 'POST', '/api/musics/', '{"song":"fresh","singer":"new singer"}');
is($r->{status}, 201, 'a write with a read server configured: 201 (on the primary)') or diag $n->error_log;
my $id = created_id($r) // 0;
is(one($n, 'GET', "/api/musics/$id/")->{status}, 404, 'GET of the new row from the read server: not there yet');
is(one($n, 'HEAD', "/api/musics/$id/")->{status}, 404, 'HEAD goes to the read server too');
is(one($n, 'GET', "/api/musics/$id/detail/")->{status}, 404, 'detail/ goes to the read server');
unlike(one($n, 'GET', '/api/musics/')->{body}, qr/fresh/, 'the list comes from the read server');
unlike(one($n, 'GET', '/api/musics/all_singer/')->{body}, qr/new singer/, 'all_singer/ comes from the read server');
# a write that reads first (PATCH checks the row) stays on the primary
is(one($n, 'PATCH', "/api/musics/$id/", '{"song":"fresher"}')->{status}, 200, 'PATCH of the new row: on the primary, 200');
ok($standby->count_backends('ngx-music-read') >= 1, 'the read pool has its sessions on the standby');
is($primary->count_backends('ngx-music-read'), 0, 'and none on the primary');

$standby->psql('SELECT pg_wal_replay_resume()');
ok(wait_until(10, sub { one($n, 'GET', "/api/musics/$id/")->{status} == 200 }, 0.05),
    'once replay resumes, the read server has the row');
like(one($n, 'GET', '/api/musics/all_singer/')->{body}, qr/new singer/, 'all_singer/ too');

# Replication lag as a client sees it: from the 201 to the first GET of the row that finds it
# on the read server.
{
    my @lags;
    for my $i (1 .. 20) {
        my $w = one($n, 'POST', '/api/musics/', qq{{"song":"lag $i","singer":"l"}});
        my $t0 = time;
        my $new = created_id($w) // next;
        my $found = wait_until(5, sub { one($n, 'GET', "/api/musics/$new/")->{status} == 200 }, 0.001);
        push @lags, $found ? time - $t0 : 5;
    }
    @lags = sort { $a <=> $b } @lags;
    ok(@lags == 20 && $lags[-1] < 5, 'every write reached the read server within 5 s');
    diag sprintf('read-after-write lag via the read server, 20 writes: median %.1f ms, max %.1f ms',
        1000 * $lags[10], 1000 * $lags[-1]);
}
stop_nginx($n);

# The standby down: reads fall back to the primary; with music_read_fallback off they fail.
$standby->stop('fast');
$n = nginx_with('');
is(one($n, 'GET', '/api/musics/1/')->{status}, 200, 'read server down: GET from the primary (fallback on)');
is(one($n, 'GET', '/api/musics/')->{status}, 200, 'read server down: the list from the primary');
like($n->error_log, qr/\[error\].*database unavailable/, 'the read pool logs that its server is down');
stop_nginx($n);

$n = nginx_with('music_read_fallback off;');
$r = one($n, 'GET', '/api/musics/1/');
is("$r->{status} $r->{body}", "503 $unavailable", 'read server down, music_read_fallback off: 503');
is(one($n, 'POST', '/api/musics/', '{"song":"w","singer":"w"}')->{status}, 201,
    'writes do not depend on the read server');
stop_nginx($n);

done_testing;
