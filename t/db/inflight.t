# What needs concurrency (nginx-tests style, with t::Nginx): a full pool queue gives 503 at
# once, a pool wait over music_pool_timeout gives 503, and a graceful reload (HUP) while
# requests wait on PostgreSQL loses none of them and leaves no [alert].
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use IO::Socket::INET;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 17;

my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";

sub slow_inserts {
    my ($seconds) = @_;
    t::Music::reset_music();
    t::Music::psql("CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS \$\$ BEGIN PERFORM pg_sleep($seconds); RETURN NEW; END \$\$ LANGUAGE plpgsql; DROP TRIGGER IF EXISTS slow ON music; CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();");
}

sub conf {
    my ($port, $workers, $location) = @_;
    return <<"EOC";
worker_processes $workers;
events { worker_connections 256; }
http {
    access_log off;
    music_database "$ENV{TEST_NGINX_PG_URL}";
    server {
        listen 127.0.0.1:$port;
        location /api/ { music_api; $location }
    }
}
EOC
}

my $post = t::Music::request('POST', '/api/musics/', headers => $json . $auth, body => '{"song":"s","singer":"t"}', close => 1);
my $get = t::Music::request('GET', '/api/musics/1/detail/', headers => $auth, close => 1);

{   # queue 0: the second request is refused at once
    slow_inserts(1);
    my $n = t::Nginx->new(name => 'queue-full');
    $n->write_conf(conf($n->port, 1, 'music_pool_size 1; music_pool_pipeline 1; music_pool_queue 0;'));
    $n->start;
    # warm the connection (and the auth cache) so both requests race for the pipeline slot
    my ($warm) = $n->parallel(5, $get);
    is($warm->{status}, 200, 'warm-up answered');
    my $t0 = time;
    my ($slow, $refused) = $n->parallel(5, $post, $get);
    is($slow->{status}, 201, 'the slow insert completes');
    is($refused->{status}, 503, 'a request beyond the queue is 503');
    like($refused->{body}, qr/too many requests waiting/, '...saying why');
    $n->stop;
}

{   # queue 1, pool timeout 300ms: the waiting request gives up after the pool timeout
    slow_inserts(1.5);
    my $n = t::Nginx->new(name => 'pool-timeout');
    $n->write_conf(conf($n->port, 1, 'music_pool_size 1; music_pool_pipeline 1; music_pool_queue 10; music_pool_timeout 300ms;'));
    $n->start;
    my ($warm) = $n->parallel(5, $get);
    my $t0 = time;
    my ($slow, $waited) = $n->parallel(5, $post, $get);
    is($slow->{status}, 201, 'the slow insert completes');
    is($waited->{status}, 503, 'the waiting request times out with 503');
    like($waited->{body}, qr/no connection became free in time/, '...saying why');
    $n->stop;
}

{   # reload with requests in flight
    slow_inserts(1);
    my $n = t::Nginx->new(name => 'reload');
    $n->write_conf(conf($n->port, 2, 'music_pool_size 2;'));
    $n->start;
    my @before = $n->workers;
    my $count = 8;
    my $pid = fork // die;
    if ($pid == 0) {
        sleep 0.3;
        $n->signal('HUP');
        POSIX::_exit(0);
    }
    my @answers = $n->parallel(15, ($post) x $count);
    waitpid($pid, 0);
    is(scalar(grep { $_->{status} == 201 } @answers), $count, "all $count in-flight inserts answered 201 across the reload");
    is(t::Music::psql("SELECT count(*) FROM music WHERE song = 's'"), $count, 'and all of them are in the table');
    my $deadline = time + 10;
    my %old = map { $_ => 1 } @before;
    sleep 0.1 while time < $deadline && grep { $old{$_} } $n->workers;
    ok(!(grep { $old{$_} } $n->workers), 'the old workers exited');
    is(scalar(my @now = $n->workers), 2, 'two new workers serve');
    my ($after) = $n->parallel(5, $get);
    is($after->{status}, 200, 'the new workers answer');
    $n->stop;
    my $log = $n->error_log;
    unlike($log, qr/\[alert\]/, 'no [alert] in the error log');
    unlike($log, qr/open socket #\d+ left/, 'no socket left open at worker exit');
}

{   # a client that goes away mid-query: the statement is cancelled on the server
    slow_inserts(3);
    my $n = t::Nginx->new(name => 'client-abort');
    $n->write_conf(conf($n->port, 1, ''));
    $n->start;
    my ($warm) = $n->parallel(5, $get);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die;
    print $s $post;
    sleep 0.5;
    is(t::Music::psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'"), 1, 'the slow insert runs');
    close $s;
    my $deadline = time + 2;
    sleep 0.05 while time < $deadline && t::Music::psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'") ne '0';
    cmp_ok(time, '<', $deadline, 'it is cancelled soon after the client closed its connection');
    is(t::Music::psql("SELECT count(*) FROM music WHERE song = 's'"), 0, 'and left no row');
    $n->stop;
}

t::Music::psql('DROP TRIGGER IF EXISTS slow ON music');
