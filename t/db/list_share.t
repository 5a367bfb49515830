# Concurrent GETs of the same whole list in one worker share one read: the requests that
# arrive while the list is being read wait for that read to end and are answered by the next
# one, read after they arrived (nginx-tests style, with t::Nginx):
#   - each gets 200 and the same bytes a GET alone gets;
#   - the list statements counted on the metrics page: two for all of them;
#   - a location with another time zone reads its own (its rows render differently);
#   - all_singer/ is a list of its own;
#   - a client that goes away while it waits leaves the others' answers alone.
# A lock on the table, taken by another session, keeps the first read waiting while the others
# arrive.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use POSIX ();
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 11;

my $auth = $t::Music::admin;

sub get { t::Music::request('GET', $_[0], headers => $auth, close => 1) }

my $n = t::Nginx->new(name => 'list-share');
my $port = $n->port;
$n->write_conf(t::Music::batch_conf($port, locations => 'location /utc/api/ { music_api; music_time_zone UTC; }'));
t::Music::reset_music();
$n->start;

sub lists {
    my ($r) = $n->parallel(5, t::Music::request('GET', '/metrics', close => 1));
    my ($count) = $r->{body} =~ /^ngx_music_db_statement_duration_seconds_count\{pool="primary",statement="list"\} (\d+)$/m;
    return $count // 0;
}

# Requests on sockets of their own, not read yet.
sub hold {
    return map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die "connect: $!";
        print $s get($_);
        $s;
    } @_;
}

sub body_of { my ($s) = @_; local $/; my $raw = readline($s) // ''; (split /\r\n\r\n/, $raw, 2)[1] // '' }

my ($alone, $alone_utc, $singers) = $n->parallel(10, get('/api/musics/'), get('/utc/api/musics/'), get('/api/musics/all_singer/'));
isnt($alone->{body}, $alone_utc->{body}, 'the two locations render the list differently (time zones)');

{   # ten GETs behind one read: each the bytes alone, two list statements for eleven
    my $before = lists();
    my $locker = t::Music::lock_music_table(1);
    my @first = hold('/api/musics/');
    sleep 0.2;
    my @answers = $n->parallel(20, map { get('/api/musics/') } 1 .. 10);
    my $first = body_of($first[0]);
    waitpid($locker, 0);
    is_deeply([map { $_->{status} } @answers], [(200) x 10], 'each GET that waited: 200')
        or diag explain [map { "$_->{status} $_->{body}" } @answers];
    is(scalar(grep { $_->{body} eq $alone->{body} } @answers), 10, 'each the bytes of the list alone');
    is($first, $alone->{body}, 'the first, read while the others waited, too');
    is(lists() - $before, 2, 'two list statements for the eleven GETs');
}

{   # another location and another list beside: each read on its own
    my $before = lists();
    my $locker = t::Music::lock_music_table(1);
    my @first = hold('/api/musics/');
    sleep 0.2;
    my @answers = $n->parallel(20, get('/utc/api/musics/'), get('/api/musics/all_singer/'), get('/api/musics/'), get('/utc/api/musics/'));
    body_of($_) for @first;
    waitpid($locker, 0);
    is_deeply([map { $_->{status} } @answers], [(200) x 4], 'all 200');
    is_deeply([map { $_->{body} } @answers], [$alone_utc->{body}, $singers->{body}, $alone->{body}, $alone_utc->{body}],
        'each its own location\'s list, all_singer its own');
    is(lists() - $before, 4, 'four list statements: the first, the one its waiter shared, the other location\'s first and its waiter\'s (all_singer counts apart)');
}

{   # clients gone while they wait: the others are answered
    my $locker = t::Music::lock_music_table(1);
    my @first = hold('/api/musics/');
    sleep 0.2;
    my @gone = hold(('/api/musics/') x 3);
    sleep 0.2;
    close $_ for @gone;
    my @answers = $n->parallel(20, map { get('/api/musics/') } 1 .. 3);
    my $first = body_of($first[0]);
    waitpid($locker, 0);
    is_deeply([map { $_->{status} } @answers], [(200) x 3], 'the GETs that waited beside the gone ones: 200');
    is(scalar(grep { $_->{body} eq $alone->{body} } @answers) + ($first eq $alone->{body}), 4, 'each the list');
}

$n->stop;
unlike($n->error_log, qr/\[(alert|crit|error)\]/, 'no error in the log');
