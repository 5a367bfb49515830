# Fault: the client goes away while its query runs, on a private cluster (t::Fault::Pg).
# One worker, music_pool_size 1 and music_pool_pipeline 1, so that a lease that is not given
# back shows at once (the next request would wait for the pool and get 503).
#   1. a write: POST whose row goes through a BEFORE INSERT trigger sleeping 3 s; the client
#      closes its socket while the INSERT runs. Then: the pool is given back (requests succeed
#      quickly once the statement is over, none gets 503), no [alert], and the server-side
#      statement is cancelled when the client aborts (the module watches the client connection
#      while it works, as nginx's upstream module does), so the aborted INSERT leaves no row;
#   2. a read: GET /api/musics/1/ blocked on a table lock held by another session; the client
#      closes its socket; the same questions.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive alert_lines wait_until live_workers start_nginx);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $slow = 3;
my $pg = t::Fault::Pg->new;
$pg->psql(qq{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now());
    CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS \$\$ BEGIN IF NEW.song LIKE 'slow%' THEN PERFORM pg_sleep($slow); END IF; RETURN NEW; END \$\$ LANGUAGE plpgsql;
    CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});
my $n = start_nginx(
    name => 'fault-client-abort', url => $pg->url, workers => 1,
    http => 'music_pool_size 1; music_pool_pipeline 1; music_pool_queue 16; music_pool_timeout 5s;
        music_query_timeout 10s; music_auth_cache_valid 10m;',
);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $get = request('GET', '/api/musics/1/detail/', headers => $auth, close => 1);
my @w = live_workers($n);

sub timed_get {
    my $t = time;
    my ($r) = $n->parallel(8, $get);
    $r->{dt} = time - $t;
    return $r;
}
is(timed_get()->{status}, 200, 'warm-up answered 200');

sub active_like {
    my ($re) = @_;
    return grep { $_->{state} eq 'active' && $_->{query} =~ $re } $pg->backends;
}

# ---- 1. a write
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
print $s request('POST', '/api/musics/', headers => $json . $auth, body => '{"song":"slow-abort","singer":"s"}');
my $t_start = time;
ok(wait_until(2, sub { active_like(qr/^INSERT/) }), 'the slow INSERT runs on the server');
close $s;
my $t_abort = time;
note(sprintf 'client closed its socket %.2fs after sending', $t_abort - $t_start);
my $cancelled = wait_until(1, sub { !active_like(qr/^INSERT/) }, 0.05);
ok($cancelled, 'the server-side INSERT is cancelled within 1s of the client closing');
diag(sprintf 'write: the INSERT was %s %.2fs after the client left', $cancelled ? 'gone' : 'still running', time - $t_abort);
my $r = timed_get();   # waits for the only pool connection if the INSERT still holds it
is($r->{status}, 200, sprintf 'a request after the abort answers 200 (%.2fs)', $r->{dt}) or diag explain $r;
wait_until($slow + 1, sub { !active_like(qr/^INSERT/) }, 0.1);
my @quick = map { timed_get() } 1 .. 5;
is(scalar(grep { $_->{status} == 200 && $_->{dt} < 0.5 } @quick), 5, 'the pool connection was given back: 5 requests answer 200 at once')
    or diag explain [map { "$_->{status} $_->{dt}" } @quick];
my $rows = $pg->psql(q{SELECT count(*) FROM music WHERE song = 'slow-abort'});
diag("write: the aborted INSERT " . ($rows ? 'committed its row' : 'left no row'));
is($rows, '0', 'the cancelled write left no row');

# ---- 2. a read blocked on a lock
my $locker = fork // die;
if ($locker == 0) {
    $pg->psql("BEGIN; LOCK TABLE music IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($slow); COMMIT;", timeout => $slow + 10);
    POSIX::_exit(0);
}
ok(wait_until(2, sub { $pg->psql(q{SELECT count(*) FROM pg_locks WHERE relation = 'music'::regclass AND mode = 'AccessExclusiveLock' AND granted}) }),
    'another session holds the table lock');
$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
print $s request('GET', '/api/musics/1/', headers => $auth);
ok(wait_until(2, sub { active_like(qr/^SELECT/) }), 'the GET waits on the server');
close $s;
$t_abort = time;
$cancelled = wait_until(1, sub { !active_like(qr/^SELECT/) }, 0.05);
ok($cancelled, 'the server-side SELECT is cancelled within 1s of the client closing');
diag(sprintf 'read: the SELECT was %s %.2fs after the client left', $cancelled ? 'gone' : 'still running', time - $t_abort);
waitpid($locker, 0);
wait_until(2, sub { !active_like(qr/^SELECT/) }, 0.1);
@quick = map { timed_get() } 1 .. 5;
is(scalar(grep { $_->{status} == 200 && $_->{dt} < 0.5 } @quick), 5, 'the pool connection was given back after the read too')
    or diag explain [map { "$_->{status} $_->{dt}" } @quick];

is_deeply([live_workers($n)], \@w, 'no worker died');
ok(responsive($n), 'every worker still answers (/alive)');
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my $log = $n->error_log;
my @alerts = alert_lines($log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts);
$pg->psql('DROP TRIGGER IF EXISTS slow ON music');

done_testing;
