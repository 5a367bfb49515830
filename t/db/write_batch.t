# Concurrent POSTs of one worker are written together: the rows that arrive while earlier
# INSERTs are in flight go to the database as one statement, one transaction (one commit). What
# each client sees does not change (nginx-tests style, with t::Nginx):
#   - every request gets its own row, id and timestamps, as GET shows them afterwards;
#   - a row the database refuses fails alone: the batch is written again row by row;
#   - a row a trigger changes is answered as written;
#   - a batch whose backend is terminated answers 503 "outcome unknown" to each of its
#     requests, and none of its rows is in the table;
#   - a batch whose clients have all gone away is cancelled on the server.
# A BEFORE INSERT trigger that sleeps for some songs keeps the first INSERTs in flight while the
# others arrive (one worker, music_pool_size 2: two batches in flight at most, so what arrives
# behind two slow rows waits for the next batch).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use POSIX ();
use JSON::PP;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 29;

my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $JSON = JSON::PP->new;

# Songs starting with "slow" take $seconds in the trigger, every other row none.
sub slow_songs {
    my ($seconds) = @_;
    t::Music::reset_music();
    t::Music::psql("CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS \$\$ BEGIN IF NEW.song LIKE 'slow%' THEN PERFORM pg_sleep($seconds); END IF; RETURN NEW; END \$\$ LANGUAGE plpgsql; DROP TRIGGER IF EXISTS slow ON music; CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();");
}

sub post { t::Music::request('POST', '/api/musics/', headers => $json . $auth, body => qq({"song":"$_[0]","singer":"batch"}), close => 1) }
my $get = t::Music::request('GET', '/api/musics/1/detail/', headers => $auth, close => 1);

sub start {
    my ($name, $http) = @_;
    my $n = t::Nginx->new(name => $name);
    my $port = $n->port;
    $n->write_conf(t::Music::batch_conf($port, http => $http));
    $n->start;
    my ($warm) = $n->parallel(5, $get);
    die "warm-up: $warm->{status}\n" unless $warm->{status} == 200;
    return $n;
}

# Sends the slow POSTs on sockets of their own (they keep the INSERTs in flight), waits a
# moment, then sends @songs all at once; returns the answers to @songs, then the slow ones.
sub behind_slow_ones {
    my ($n, $slow, @songs) = @_;
    my @held = map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
        print $s post("slow-$_");
        $s;
    } 1 .. $slow;
    sleep 0.3;
    my @answers = $n->parallel(20, map { post($_) } @songs);
    my @slow = map {
        local $/;
        my $raw = readline($_) // '';
        my ($status) = $raw =~ m{^HTTP/1\.\d (\d{3})};
        { status => $status // 0, body => (split /\r\n\r\n/, $raw, 2)[1] // '' };
    } @held;
    return (@answers, @slow);
}

{   # concurrent POSTs: each its own row, id and timestamps; fewer transactions than rows
    slow_songs(1);
    my $n = start('batch-rows', '');
    my @songs = map { sprintf 'b-%02d', $_ } 1 .. 20;
    my @answers = behind_slow_ones($n, 2, @songs);
    my @mine = @answers[0 .. $#songs];
    is(scalar(grep { $_->{status} == 201 } @answers), 22, 'every POST answered 201')
        or diag explain [map { "$_->{status} $_->{body}" } @answers];
    my @rows = map { $JSON->decode($_->{body} || '{}') } @mine;
    is_deeply([map { $_->{song} } @rows], \@songs, 'each answer is its own request\'s row');
    my %ids = map { ($_->{id} // 0) => 1 } @rows;
    is(scalar(keys %ids), 20, 'each its own id');
    my %stamps = map { ($_->{created} // '') => 1 } @rows;
    is(scalar(keys %stamps), 20, 'each its own created timestamp');
    is(scalar(grep { defined $_->{created} && $_->{created} eq $_->{last_modify_date} } @rows), 20,
        'created and last_modify_date are the same instant in each row');
    my @again = $n->parallel(10, map { t::Music::request('GET', "/api/musics/$_->{id}/", headers => $auth, close => 1) } @rows);
    is_deeply([map { $_->{body} } @again], [map { $_->{body} } @mine], 'GET of each id answers the row the POST answered');
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'b-%'}), 20, 'twenty rows in the table');
    my $transactions = t::Music::psql(q{SELECT count(DISTINCT xmin::text) FROM music WHERE song LIKE 'b-%'});
    cmp_ok($transactions, '<', 20, "the rows that waited were written together ($transactions transactions for 20 rows)");
    my $order = t::Music::psql(q{SELECT string_agg(song, ',' ORDER BY id) FROM music WHERE song LIKE 'b-%' AND xmin::text = (SELECT xmin::text FROM music WHERE song LIKE 'b-%' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)});
    my @batch = split /,/, $order;
    cmp_ok(scalar @batch, '>', 1, 'a batch holds several rows (' . scalar(@batch) . ')');
    is_deeply(\@batch, [sort @batch], 'ids in a batch follow the order of its requests');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|error)\]/, 'no error in the log');
}

{   # a row the database refuses: the batch is retried row by row, only that row fails
    slow_songs(1);
    t::Music::psql(q{ALTER TABLE music DROP CONSTRAINT IF EXISTS batch_test_refused; ALTER TABLE music ADD CONSTRAINT batch_test_refused CHECK (song <> 'refused')});
    my $n = start('batch-refused', '');
    my @songs = ((map { "r-$_" } 1 .. 4), 'refused', (map { "r-$_" } 5 .. 8));
    my @answers = behind_slow_ones($n, 2, @songs);
    t::Music::psql(q{ALTER TABLE music DROP CONSTRAINT batch_test_refused});
    my @status = map { $_->{status} } @answers[0 .. $#songs];
    is_deeply(\@status, [201, 201, 201, 201, 500, 201, 201, 201, 201], 'only the refused row fails');
    is($answers[4]{body}, '{"detail":"Database error."}', '...with the answer a refused row gets alone');
    is(t::Music::psql(q{SELECT string_agg(song, ',' ORDER BY song) FROM music WHERE song LIKE 'r-%' OR song = 'refused'}),
        join(',', map { "r-$_" } 1 .. 8), 'the others are in the table, the refused one is not');
    my %by_song = map { my $r = $JSON->decode($_->{body}); ($r->{song} => $r->{id}) } grep { $_->{status} == 201 } @answers[0 .. $#songs];
    is(t::Music::psql(q{SELECT string_agg(song || '=' || id, ',' ORDER BY song) FROM music WHERE song LIKE 'r-%'}),
        join(',', map { "$_=$by_song{$_}" } sort keys %by_song), 'with the ids their answers gave');
    is(scalar(grep { $_->{status} == 201 } @answers[$#songs + 1 .. $#answers]), 2, 'the slow rows before them are written');
    $n->stop;
    my $log = $n->error_log;
    my @lines = $log =~ /(\[error\][^\n]*batch_test_refused[^\n]*)/g;
    is(scalar @lines, 1, 'one error-log line, for the refused request') or diag $log;
    like($lines[0] // '', qr/music: POST \/api\/musics\/: Database error: ERROR: .*check constraint "batch_test_refused"/, '...naming the constraint');
}

{   # a trigger of the schema changes the rows: each request answers its row as written
    slow_songs(1);
    t::Music::psql(q{CREATE OR REPLACE FUNCTION shout() RETURNS trigger AS $$ BEGIN NEW.singer := upper(NEW.singer); RETURN NEW; END $$ LANGUAGE plpgsql; DROP TRIGGER IF EXISTS shout ON music; CREATE TRIGGER shout BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION shout();});
    my $n = start('batch-trigger', '');
    my @songs = map { "t-$_" } 1 .. 6;
    my @answers = behind_slow_ones($n, 2, @songs);
    t::Music::psql('DROP TRIGGER shout ON music');
    is(scalar(grep { $_->{status} == 201 } @answers), 8, 'every POST answered 201') or diag explain [map { "$_->{status} $_->{body}" } @answers];
    my @rows = map { $JSON->decode($_->{status} == 201 ? $_->{body} : '{}') } @answers[0 .. $#songs];
    is_deeply([map { ($_->{song} // '') . '/' . ($_->{singer} // '') } @rows], [map { "$_/BATCH" } @songs], 'each answers its own row as the trigger wrote it');
    cmp_ok(t::Music::psql(q{SELECT count(DISTINCT xmin::text) FROM music WHERE song LIKE 't-%'}), '<', 6, 'in fewer transactions than rows');
    $n->stop;
}

{   # the backend of a batch in flight is terminated: each of its requests is "outcome unknown"
    slow_songs(1.5);
    my $n = start('batch-terminated', 'music_connect_timeout 1s;');
    my @held = map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
        print $s post("slow-first-$_");
        $s;
    } 1 .. 2;
    sleep 0.3;
    # these wait while the first two are in flight, then go as one batch (slow rows too)
    my @pids;
    my @kids = map {
        my $song = "slow-k-$_";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my ($r) = $n->parallel(20, post($song));
            open my $out, '>', "$n->{root}/answer-$song" or die;
            print $out "$r->{status} $r->{body}";
            close $out;
            POSIX::_exit(0);
        }
        $pid;
    } 1 .. 5;
    # the first two are done after 1.5 s each (pipelined, one after the other: ~3 s); then
    # the batch of five starts; terminate it while its trigger sleeps
    my $deadline = time + 8;
    sleep 0.05 while time < $deadline
        && t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'slow-first-%'}) ne '2';
    sleep 0.5;
    my $terminated = t::Music::psql(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ngx-music' AND query LIKE 'INSERT INTO music%' AND state = 'active'});
    is($terminated, 1, 'the batch\'s backend was terminated mid-INSERT');
    waitpid($_, 0) for @kids;
    for my $s (@held) { local $/; readline($s) }
    my @got = map { open my $in, '<', "$n->{root}/answer-slow-k-$_" or die "no answer $_"; local $/; scalar <$in> } 1 .. 5;
    is(scalar(grep { m{^503 \{"detail":"Database connection lost during the write; its outcome is unknown\."\}$} } @got), 5,
        'each request of the batch: 503, outcome unknown') or diag explain \@got;
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'slow-k-%'}), 0, 'none of its rows was committed');
    my ($after) = $n->parallel(10, post('after'));
    is($after->{status}, 201, 'the next POST is written on a new connection');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit)\]/, 'no [alert] or [crit] in the log');
}

{   # every client of a batch in flight goes away: the statement is cancelled, no row is kept
    slow_songs(2);
    my $n = start('batch-gone', '');
    my @gates = map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
        print $s post("slow-gate-$_");
        $s;
    } 1 .. 2;
    sleep 0.3;
    my @gone = map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
        print $s post("slow-gone-$_");
        $s;
    } 1 .. 3;
    # the gates are written one after the other (2 s each), then the batch of three starts
    my $deadline = time + 8;
    sleep 0.05 while time < $deadline
        && t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'slow-gate-%'}) ne '2';
    sleep 0.5;
    is(t::Music::psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'}), 1,
        'the batch runs');
    close $_ for @gone;
    $deadline = time + 3;
    sleep 0.05 while time < $deadline
        && t::Music::psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'}) ne '0';
    cmp_ok(time, '<', $deadline, 'it is cancelled soon after its last client closed its connection');
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'slow-gone-%'}), 0, 'and left no row');
    for my $s (@gates) { local $/; readline($s) }
    $n->stop;
}

t::Music::psql('DROP TRIGGER IF EXISTS slow ON music');
t::Music::reset_music();
