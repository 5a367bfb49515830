# Fault: many slow readers of the streamed list must not deny service to anyone else, on a
# private cluster (t::Fault::Pg) whose list is several megabytes. One worker,
# music_pool_size 2, music_pool_stream_size 2, and 4 x that many slow readers (8): each sends
# GET /api/musics/, reads a few KB and stops reading, so nginx's send buffer fills and the
# stream waits for its client for as long as the client likes.
#   1. while they hang, GET /api/musics/1/, POST and PATCH each answer 2xx quickly (well below
#      music_pool_timeout): list streams never take the connections short requests need;
#   2. the 2 first readers hold the 2 list streams (200, stalled mid-body); the 6 others get,
#      after music_pool_timeout, a 503 of their own that says the list streams are all busy;
#   3. the worker never opens more than music_pool_size + music_pool_stream_size connections;
#   4. once the slow readers close, their stream connections are closed (rows were still on
#      them) and new ones come: two lists at once each answer the complete list.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use POSIX ();
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive alert_lines wait_until start_nginx);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $rows = 100_000;
my ($pool, $streams, $readers) = (2, 2, 8);
my $pool_timeout = 3;    # seconds; short requests must answer well below it
my $pg = t::Fault::Pg->new;
$pg->psql(qq{INSERT INTO music (song, singer, last_modify_date, created)
    SELECT 'song number ' || g || ' with a longer title', 'singer ' || (g % 100), now(), now() FROM generate_series(1, $rows) g});
my $n = start_nginx(
    name => 'fault-slow-streams', url => $pg->url, workers => 1,
    http => "music_pool_size $pool; music_pool_stream_size $streams; music_pool_timeout ${pool_timeout}s;
        music_query_timeout 10s; music_auth_cache_valid 10m;",
);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $list = request('GET', '/api/musics/', headers => $auth, close => 1);

# The whole list, read as fast as possible: (status, number of rows).
sub full_list {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
    print $s $list;
    my $r = t::Fault::read_response($s, time + 60);
    my $count = () = ($r->{body} // '') =~ /\{"id":/g;
    $count = -1 unless ($r->{body} // '') =~ /^\[.*\]\z/s;
    return ($r->{status}, $count, length($r->{body} // ''));
}

my ($st, $count, $size) = full_list();   # also fills the auth cache
is("$st $count", "200 $rows", "the list answers 200 with all $rows rows");
diag(sprintf 'the list is %.1f MB', $size / 1e6);

# ---- the slow readers: a small receive buffer (set before connecting: it bounds the window)
my $t_sent = time;
my @slow;
for (1 .. $readers) {
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 8192)) or die "setsockopt: $!";
    connect($s, pack_sockaddr_in($n->port, inet_aton('127.0.0.1'))) or die "connect: $!";
    print $s $list;
    push @slow, { sock => $s, got => '' };
}

# Reads what has arrived on each slow reader, at most a few KB each (then it stops reading).
sub read_a_little {
    my ($wait) = @_;
    my $deadline = time + $wait;
    while (1) {
        my @open = grep { length $_->{got} < 4096 && !$_->{closed} } @slow;
        last unless @open;
        my $sel = IO::Select->new(map { $_->{sock} } @open);
        my $left = $deadline - time;
        last if $left <= 0;
        for my $fh ($sel->can_read($left)) {
            my ($r) = grep { $_->{sock} == $fh } @open;
            my $k = sysread($fh, my $buf, 4096 - length $r->{got});
            if ($k) { $r->{got} .= $buf } else { $r->{closed} = 1 }
        }
    }
}
read_a_little(0.5);

# ---- 1. short requests while the readers hang and the streams beyond the limit wait
my @short;
my $t_end = $t_sent + $pool_timeout - 0.5;
my $i = 0;
while (time < $t_end) {
    $i++;
    my $t = time;
    my @r = $n->parallel($pool_timeout + 2,
        request('GET', '/api/musics/1/', headers => $auth, close => 1),
        request('POST', '/api/musics/', headers => $json . $auth, body => qq({"song":"during $i","singer":"slow"}), close => 1),
        request('PATCH', '/api/musics/1/', headers => $json . $auth, body => qq({"singer":"patched $i"}), close => 1));
    my $dt = time - $t;
    push @short, map { [$_->[0], $_->[1]{status}, $dt, $_->[1]{body}] } (['GET', $r[0]], ['POST', $r[1]], ['PATCH', $r[2]]);
    sleep 0.1;
}
my @bad = grep { $_->[1] !~ /^2\d\d$/ || $_->[2] > 1 } @short;
ok(@short >= 6, sprintf '%d short requests sent while %d slow readers hang', scalar @short, $readers);
is(scalar @bad, 0, 'GET /api/musics/1/, POST and PATCH all answer 2xx within 1s (music_pool_timeout is 3s)')
    or diag(join "\n", map { sprintf '%s %d %.2fs %s', @$_ } @bad[0 .. ($#bad > 5 ? 5 : $#bad)]);
my ($max) = sort { $b <=> $a } map { $_->[2] } @short;
diag(sprintf 'short requests: %d, slowest round %.3fs', scalar @short, $max // 0);

cmp_ok($pg->count_backends, '<=', $pool + $streams, "the worker holds at most music_pool_size + music_pool_stream_size = @{[$pool + $streams]} connections");

# ---- 2. the readers: two streams, the rest a 503 of their own after the pool timeout
read_a_little($pool_timeout + 3 - (time - $t_sent));
my $t_503 = time - $t_sent;
my (@streaming, @busy, @other);
for my $r (@slow) {
    my ($status) = $r->{got} =~ m{^HTTP/1\.1 (\d{3})};
    if (($status // 0) == 200) { push @streaming, $r }
    elsif (($status // 0) == 503 && $r->{got} =~ /\r\n\r\n\{"detail":"All list streams are busy, try again later\."\}\z/) { push @busy, $r }
    else { push @other, $r }
}
is(scalar @streaming, $streams, "$streams readers hold the list streams (200)");
is(scalar @busy, $readers - $streams, sprintf('the %d others get 503 {"detail":"All list streams are busy, ..."}', $readers - $streams))
    or diag(join "\n", map { substr($_->{got}, 0, 300) } @other);
my @active = grep { $_->{state} eq 'active' } $pg->backends;
is(scalar @active, $streams, "the $streams held streams are still under way, stalled mid-list, each on its own connection");
cmp_ok($t_503, '>=', $pool_timeout - 0.5, "they waited for a list connection for music_pool_timeout (${pool_timeout}s) first")
    or diag(sprintf 'the 503s had all arrived %.1fs after the lists were requested', $t_503);
diag(sprintf 'the 503s had all arrived %.1fs after the lists were requested', $t_503);

# short requests still fine while the two streams stay stalled
my @r = $n->parallel(3, request('GET', '/api/musics/1/', headers => $auth, close => 1),
    request('POST', '/api/musics/', headers => $json . $auth, body => '{"song":"after","singer":"slow"}', close => 1));
is(join(' ', map { $_->{status} } @r), '200 201', 'with both streams still held, GET and POST still answer');

# ---- 4. the readers go away: the stream connections come back
close $_->{sock} for @slow;
# a stream whose client left mid-list still has rows on its connection: it is closed, not reused
my %held = map { $_->{pid} => 1 } @active;
my $closed = wait_until(5, sub { !grep { $held{$_->{pid}} } $pg->backends }, 0.1);
ok($closed, 'the connections of the streams whose readers left mid-list are closed');
my $total = $pg->psql('SELECT count(*) FROM music') + 0;
my @both;
my $back = wait_until(10, sub {
    my @kids;
    for my $k (1 .. $streams) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            my ($s, $c) = full_list();
            print $wr "$s $c\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    @both = map { my $l = readline($_->[1]) // "0 -1\n"; waitpid($_->[0], 0); chomp $l; $l } @kids;
    !grep { $_ ne "200 $total" } @both;
}, 0.5);
ok($back, "after the slow readers closed, $streams lists at once each answer 200 with all $total rows")
    or diag("@both");
cmp_ok($pg->count_backends, '<=', $pool + $streams, 'still no more than music_pool_size + music_pool_stream_size connections');

ok(responsive($n), 'the worker still answers (/alive)');
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)');
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts);

done_testing;
