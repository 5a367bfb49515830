# Concurrent single-row GETs of one worker are read together: the GETs that arrive while
# earlier ones are in flight go to the database as one statement (`id = ANY(...)`). What each
# client sees does not change (nginx-tests style, with t::Nginx):
#   - every GET gets exactly its own row, byte for byte what it gets alone; a missing id is a
#     404; two GETs of one id both get it; HEAD gets the headers alone;
#   - the statements counted on the metrics page are fewer than the GETs;
#   - the same with music_prepared_statements off (the statement sent unnamed, typed);
#   - a client that goes away while its GET is queued leaves the others' answers alone.
# A lock on the table, taken by another session, keeps the first GETs in flight while the others
# arrive (one worker, music_pool_size 2: two statements of a kind in flight at most, so what
# arrives behind them waits for the next batch).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use POSIX ();
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 18;

my $auth = $t::Music::admin;

sub get { t::Music::request($_[1] // 'GET', "/api/musics/$_[0]/", headers => $auth, close => 1) }

sub start {
    my ($name, $http) = @_;
    my $n = t::Nginx->new(name => $name);
    my $port = $n->port;
    $n->write_conf(t::Music::batch_conf($port, http => $http));
    $n->start;
    my ($warm) = $n->parallel(5, get(1));
    die "warm-up: $warm->{status} $warm->{body}\n" unless $warm->{status} == 200;
    return $n;
}

sub statements {
    my ($n, $name) = @_;
    my ($r) = $n->parallel(5, t::Music::request('GET', '/metrics', close => 1));
    my ($count) = $r->{body} =~ /^ngx_music_db_statement_duration_seconds_count\{pool="primary",statement="\Q$name\E"\} (\d+)$/m;
    return $count // 0;
}

# GETs of @ids sent on sockets of their own, not read yet.
sub hold {
    my ($n, @ids) = @_;
    return map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
        print $s get($_);
        $s;
    } @ids;
}

# Two GETs on sockets of their own keep both statements in flight behind the lock, then
# @requests go all at once; returns their answers.
sub behind_the_lock {
    my ($n, @requests) = @_;
    my $locker = t::Music::lock_music_table(1.5);
    my @held = hold($n, 1, 2);
    sleep 0.3;
    my @answers = $n->parallel(20, @requests);
    for my $s (@held) { local $/; readline($s) }
    waitpid($locker, 0);
    return @answers;
}

for my $mode ('on', 'off') {
    t::Music::reset_music();
    my $n = start("read-batch-$mode", "music_prepared_statements $mode;");
    my @alone = $n->parallel(10, get(1), get(2), get(999));
    my %body = (1 => $alone[0]{body}, 2 => $alone[1]{body});
    my @ids = (1, 2, 999, 1, 2, 1, 2, 2, 1, 999, 1, 2, 1, 2, 1, 2);
    my $singles = statements($n, 'retrieve');
    my @answers = behind_the_lock($n, (map { get($_) } @ids), get(1, 'HEAD'));
    my $head = pop @answers;
    is_deeply([map { $_->{status} } @answers], [map { $_ == 999 ? 404 : 200 } @ids],
        "prepared statements $mode: each GET of a batch answered 200, or 404 for the missing id")
        or diag explain [map { "$_->{status} $_->{body}" } @answers];
    is_deeply([map { $_->{body} } @answers], [map { $_ == 999 ? '{"detail":"Not found."}' : $body{$_} } @ids],
        "prepared statements $mode: each body is its own id's row, as alone");
    is($head->{status}, 200, "prepared statements $mode: HEAD in a batch: 200");
    is($head->{body}, '', "prepared statements $mode: HEAD in a batch: no body");
    my $batches = statements($n, 'retrieve_many');
    my $alone = statements($n, 'retrieve') - $singles;
    cmp_ok($batches, '>=', 1, "prepared statements $mode: the GETs that waited were read together ($batches batch statements)");
    cmp_ok($batches + $alone, '<', scalar(@ids) + 3,
        "prepared statements $mode: fewer statements than GETs ($alone alone, $batches batched, for " . (scalar(@ids) + 3) . ' GETs)');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|error)\]/, "prepared statements $mode: no error in the log");
}

{   # a client gone while its GET waits in the queue: the others are answered as before
    t::Music::reset_music();
    my $n = start('read-batch-gone', '');
    my ($one, $two) = $n->parallel(10, get(1), get(2));
    my $locker = t::Music::lock_music_table(1.5);
    my @held = hold($n, 1, 2);
    sleep 0.2;
    my @gone = hold($n, 1, 1, 1);
    sleep 0.2;
    close $_ for @gone;
    my @answers = $n->parallel(20, map { get($_) } 2, 1, 2);
    my @first = map { local $/; my $raw = readline($_) // ''; (split /\r\n\r\n/, $raw, 2)[1] // '' } @held;
    waitpid($locker, 0);
    is_deeply([map { $_->{status} } @answers], [200, 200, 200], 'the GETs queued beside the gone ones: 200')
        or diag explain [map { "$_->{status} $_->{body}" } @answers];
    is_deeply([map { $_->{body} } @answers], [$two->{body}, $one->{body}, $two->{body}], 'each its own row');
    is_deeply(\@first, [$one->{body}, $two->{body}], 'the two in flight were answered too');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|error)\]/, 'no error in the log');
}
