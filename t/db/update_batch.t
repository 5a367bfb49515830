# Concurrent PUTs, PATCHes and DELETEs of one worker are written together, as POSTs are (see
# write_batch.t): the requests that arrive while earlier ones are in flight go to the database
# as one statement, one transaction. What each client sees does not change (nginx-tests style,
# with t::Nginx):
#   - each request gets its own answer and changes its own row; a PATCH changes only the
#     fields it gives;
#   - two writes of one row behave as one after the other, in the order they arrived;
#   - a request for an id with no row gets its 404 alone;
#   - a change the database refuses fails alone (the batch is written again request by request);
#   - a batch whose backend is terminated answers 503 "outcome unknown" to each of its
#     requests, and none of its changes is in the table;
#   - batches in flight on several connections do not deadlock.
# A trigger that sleeps for songs starting with "slow" keeps the first writes in flight while
# the others arrive (one worker, music_pool_size 2).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use JSON::PP;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 41;

my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $JSON = JSON::PP->new;
my $not_found = '{"detail":"Not found."}';

# 40 rows "row-N" / "keep-N"; an UPDATE to a song starting with "slow", and a DELETE of a row
# whose song does, take $seconds in a trigger; each deleted row's id and transaction is logged.
sub fixture {
    my ($seconds) = @_;
    t::Music::psql(qq{TRUNCATE music RESTART IDENTITY;
        INSERT INTO music (song, singer, last_modify_date, created)
            SELECT 'row-' || n, 'keep-' || n, '2022-04-05 03:45:05+00', '2022-04-05 03:45:05+00' FROM generate_series(1, 40) AS n;
        CREATE OR REPLACE FUNCTION slow_write() RETURNS trigger AS \$\$ BEGIN
            IF TG_OP = 'UPDATE' AND NEW.song LIKE 'slow%' OR TG_OP = 'DELETE' AND OLD.song LIKE 'slow%' THEN PERFORM pg_sleep($seconds); END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END \$\$ LANGUAGE plpgsql;
        DROP TRIGGER IF EXISTS slow ON music;
        CREATE TRIGGER slow BEFORE UPDATE OR DELETE ON music FOR EACH ROW EXECUTE FUNCTION slow_write();
        CREATE TABLE IF NOT EXISTS batch_test_deleted (id bigint, tx bigint); TRUNCATE batch_test_deleted;
        CREATE OR REPLACE FUNCTION log_delete() RETURNS trigger AS \$\$ BEGIN
            INSERT INTO batch_test_deleted VALUES (OLD.id, txid_current()); RETURN OLD; END \$\$ LANGUAGE plpgsql;
        DROP TRIGGER IF EXISTS log_delete ON music;
        CREATE TRIGGER log_delete AFTER DELETE ON music FOR EACH ROW EXECUTE FUNCTION log_delete();});
}

sub write_req {
    my ($method, $id, $body) = @_;
    t::Music::request($method, "/api/musics/$id/", headers => (defined $body ? $json : '') . $auth, body => $body // '', close => 1);
}
sub patch { write_req('PATCH', @_) }
sub put { write_req('PUT', $_[0], qq({"song":"$_[1]","singer":"$_[2]"})) }
sub del { write_req('DELETE', $_[0]) }

sub start {
    my ($name, %opt) = @_;
    my $n = t::Nginx->new(name => $name);
    my $port = $n->port;
    my $workers = $opt{workers} // 1;
    $n->write_conf(t::Music::batch_conf($port, workers => $workers, http => 'music_connect_timeout 1s;'));
    $n->start;
    my ($warm) = $n->parallel(5, t::Music::request('GET', '/api/musics/1/', headers => $auth, close => 1));
    die "warm-up: $warm->{status}\n" unless $warm->{status} == 200;
    return $n;
}

# Sends each request on a socket of its own and leaves it there; `answer` reads it later.
sub held {
    my ($n, @requests) = @_;
    return map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
        $s->autoflush(1);
        print $s $_;
        $s;
    } @requests;
}
sub answer {
    my ($s) = @_;
    local $/;
    my $raw = readline($s) // '';
    my ($status) = $raw =~ m{^HTTP/1\.\d (\d{3})};
    return { status => $status // 0, body => (split /\r\n\r\n/, $raw, 2)[1] // '' };
}

# Two slow writes keep both runners busy; then @requests, all at once. Returns their answers,
# then the slow ones'.
sub behind_slow_ones {
    my ($n, $slow, @requests) = @_;
    my @gates = held($n, @$slow);
    sleep 0.3;
    my @answers = $n->parallel(20, @requests);
    return (@answers, map { answer($_) } @gates);
}
sub slow_patches { [patch(1, '{"song":"slow-gate-1"}'), patch(2, '{"song":"slow-gate-2"}')] }
sub decoded { map { $JSON->decode($_->{status} == 200 ? $_->{body} : '{}') } @_ }
sub transactions { t::Music::psql("SELECT count(DISTINCT xmin::text) FROM music WHERE $_[0]") }

{   # concurrent PATCHes of different rows: each its own answer and row, written together
    fixture(1);
    my $n = start('patch-rows');
    my @ids = 3 .. 14;
    my @answers = behind_slow_ones($n, slow_patches(), map { patch($_, qq({"song":"p-$_"})) } @ids);
    is(scalar(grep { $_->{status} == 200 } @answers), @ids + 2, 'every PATCH answered 200')
        or diag explain [map { "$_->{status} $_->{body}" } @answers];
    my @rows = decoded(@answers[0 .. $#ids]);
    is_deeply([map { "$_->{id}:$_->{song}:$_->{singer}" } @rows], [map { "$_:p-$_:keep-$_" } @ids],
        'each answers its own row, the singer it did not give left as it was');
    is(t::Music::psql(q{SELECT string_agg(id || ':' || song || ':' || singer, ',' ORDER BY id) FROM music WHERE song LIKE 'p-%'}),
        join(',', map { "$_:p-$_:keep-$_" } @ids), 'the table holds each change');
    my @again = $n->parallel(10, map { t::Music::request('GET', "/api/musics/$_/", headers => $auth, close => 1) } @ids);
    is_deeply([map { $_->{body} } @again], [map { $_->{body} } @answers[0 .. $#ids]], 'GET answers the row each PATCH answered');
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'p-%' AND created = '2022-04-05 03:45:05+00' AND last_modify_date > now() - interval '1 minute'}),
        scalar @ids, 'last_modify_date is the time of the change, created is left as it was');
    my $tx = transactions(q{song LIKE 'p-%'});
    cmp_ok($tx, '<', scalar @ids, "the PATCHes that waited were written together ($tx transactions for " . @ids . ' rows)');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|error)\]/, 'no error in the log');
}

{   # two PATCHes of one row: one after the other, in their order; other rows batched meanwhile
    fixture(1);
    my $n = start('patch-same-row');
    my @gates = held($n, @{slow_patches()});
    sleep 0.3;
    my ($first) = held($n, patch(20, '{"song":"first-song"}'));
    sleep 0.1;
    my @answers = $n->parallel(20, patch(20, '{"singer":"second-singer"}'), map { patch($_, qq({"song":"o-$_"})) } 3 .. 8);
    $first = answer($first);
    answer($_) for @gates;
    is_deeply([map { $_->{status} } $first, @answers], [(200) x 8], 'both PATCHes of the row, and the others, 200');
    my ($one, $two) = decoded($first, $answers[0]);
    is("$one->{song}/$one->{singer}", 'first-song/keep-20', 'the first changed the song');
    is("$two->{song}/$two->{singer}", 'first-song/second-singer', 'the second saw the first\'s change and changed the singer');
    cmp_ok($two->{last_modify_date}, 'gt', $one->{last_modify_date}, '...later');
    is(t::Music::psql(q{SELECT song || '/' || singer FROM music WHERE id = 20}), 'first-song/second-singer', 'the row holds both changes');
    my $tx = transactions(q{song LIKE 'o-%'});
    cmp_ok($tx, '<', 6, "the other rows were written together ($tx transactions for 6 rows)");
    $n->stop;
}

{   # a PATCH of an id with no row, inside a batch: 404 alone
    fixture(1);
    my $n = start('patch-missing');
    my @ids = (3, 4, 99999, 5, 6);
    my @answers = behind_slow_ones($n, slow_patches(), map { patch($_, qq({"song":"m-$_"})) } @ids);
    is_deeply([map { $_->{status} } @answers[0 .. $#ids]], [200, 200, 404, 200, 200], 'only the missing id is 404');
    is($answers[2]{body}, $not_found, '...with the answer it gets alone');
    is(t::Music::psql(q{SELECT string_agg(id || ':' || song, ',' ORDER BY id) FROM music WHERE song LIKE 'm-%'}),
        '3:m-3,4:m-4,5:m-5,6:m-6', 'the others are changed');
    my $tx = transactions(q{song LIKE 'm-%'});
    cmp_ok($tx, '<', 4, "written together ($tx transactions for 4 rows)");
    $n->stop;
}

{   # a change the database refuses: the batch is written again request by request
    fixture(1);
    t::Music::psql(q{ALTER TABLE music DROP CONSTRAINT IF EXISTS batch_test_refused; ALTER TABLE music ADD CONSTRAINT batch_test_refused CHECK (song <> 'refused')});
    my $n = start('patch-refused');
    my @ids = 3 .. 11;
    my @songs = ((map { "r-$_" } 3 .. 6), 'refused', (map { "r-$_" } 8 .. 11));
    my @answers = behind_slow_ones($n, slow_patches(), map { patch($ids[$_], qq({"song":"$songs[$_]"})) } 0 .. $#ids);
    t::Music::psql(q{ALTER TABLE music DROP CONSTRAINT batch_test_refused});
    is_deeply([map { $_->{status} } @answers[0 .. $#ids]], [200, 200, 200, 200, 500, 200, 200, 200, 200], 'only the refused change fails');
    is($answers[4]{body}, '{"detail":"Database error."}', '...with the answer it gets alone');
    is(t::Music::psql(q{SELECT string_agg(id || ':' || song, ',' ORDER BY id) FROM music WHERE id BETWEEN 3 AND 11}),
        '3:r-3,4:r-4,5:r-5,6:r-6,7:row-7,8:r-8,9:r-9,10:r-10,11:r-11', 'the others are changed, the refused row is as it was');
    is(scalar(grep { $_->{status} == 200 } @answers[@ids .. $#answers]), 2, 'the slow changes before them are written');
    $n->stop;
    my @lines = $n->error_log =~ /(\[error\][^\n]*batch_test_refused[^\n]*)/g;
    is(scalar @lines, 1, 'one error-log line, for the refused request') or diag $n->error_log;
    like($lines[0] // '', qr/music: PATCH \/api\/musics\/7\/: Database error: ERROR: .*check constraint "batch_test_refused"/, '...naming the constraint');
}

{   # concurrent PUTs: each its own row, written together
    fixture(1);
    my $n = start('put-rows');
    my @ids = 3 .. 10;
    my @answers = behind_slow_ones($n, slow_patches(), map { put($_, "u-$_", "s-$_") } @ids);
    is_deeply([map { $_->{status} } @answers], [(200) x (@ids + 2)], 'every PUT answered 200');
    is_deeply([map { "$_->{id}:$_->{song}:$_->{singer}" } decoded(@answers[0 .. $#ids])], [map { "$_:u-$_:s-$_" } @ids], 'each answers its own row');
    is(t::Music::psql(q{SELECT string_agg(id || ':' || song || ':' || singer, ',' ORDER BY id) FROM music WHERE song LIKE 'u-%'}),
        join(',', map { "$_:u-$_:s-$_" } @ids), 'the table holds each row');
    my $tx = transactions(q{song LIKE 'u-%'});
    cmp_ok($tx, '<', scalar @ids, "written together ($tx transactions for " . @ids . ' rows)');
    $n->stop;
}

{   # concurrent DELETEs: each 204 once; a second DELETE of a row and one of no row: 404
    fixture(1);
    t::Music::psql(q{UPDATE music SET song = 'slow-del-' || id WHERE id IN (1, 2)});
    my $n = start('delete-rows');
    my @gates = held($n, del(1), del(2));
    sleep 0.3;
    my ($early) = held($n, del(5));
    sleep 0.1;
    my @answers = $n->parallel(20, del(5), (map { del($_) } 3, 4, 6 .. 10), del(99999));
    $early = answer($early);
    my @gated = map { answer($_) } @gates;
    is_deeply([map { $_->{status} } @gated, $early, @answers], [204, 204, 204, 404, (204) x 7, 404],
        'each row deleted once: 204; again, or no row: 404');
    is($answers[0]{body} . $answers[-1]{body}, $not_found x 2, '...with the answer they get alone');
    is(t::Music::psql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM music WHERE id <= 12}), '11,12', 'the rows are gone');
    my $tx = t::Music::psql(q{SELECT count(DISTINCT tx) FROM batch_test_deleted WHERE id BETWEEN 3 AND 10 AND id <> 5});
    cmp_ok($tx, '<', 7, "the DELETEs that waited were written together ($tx transactions for 7 rows)");
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|error)\]/, 'no error in the log');
}

{   # the backend of a batch in flight is terminated: each of its requests is "outcome unknown"
    fixture(1.5);
    my $n = start('patch-terminated');
    my @gates = held($n, patch(1, '{"song":"slow-first-1"}'), patch(2, '{"song":"slow-first-2"}'));
    sleep 0.3;
    my @batch = held($n, map { patch($_, qq({"song":"slow-k-$_"})) } 3 .. 7);
    my $deadline = time + 8;
    sleep 0.05 while time < $deadline
        && t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'slow-first-%'}) ne '2';
    sleep 0.5;
    like(t::Music::psql(q{SELECT string_agg(query, ' | ') FROM pg_stat_activity WHERE application_name = 'ngx-music' AND query LIKE '%UPDATE music%' AND state = 'active'}),
        qr/^WITH new AS \(SELECT id, song, singer FROM unnest\(\$1::bigint\[\][^|]*$/, 'one statement runs the five PATCHes');
    my $terminated = t::Music::psql(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ngx-music' AND query LIKE '%UPDATE music%' AND state = 'active'});
    is($terminated, 1, 'the batch\'s backend was terminated mid-UPDATE');
    answer($_) for @gates;
    my @got = map { my $a = answer($_); "$a->{status} $a->{body}" } @batch;
    is(scalar(grep { m{^503 \{"detail":"Database connection lost during the write; its outcome is unknown\."\}$} } @got), 5,
        'each request of the batch: 503, outcome unknown') or diag explain \@got;
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE song LIKE 'slow-k-%'}), 0, 'none of its changes was committed');
    my ($after) = $n->parallel(10, patch(3, '{"song":"after"}'));
    is($after->{status}, 200, 'the next PATCH is written on a new connection');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit)\]/, 'no [alert] or [crit] in the log');
}

{   # many PATCHes of a few rows, in no order, on two workers' connections: no deadlock, each
    # 200 (a table large enough that its rows are found through the index, in the order the
    # statement is given the ids, as a real table's are)
    fixture(1);
    t::Music::psql(q{INSERT INTO music (song, singer, last_modify_date, created) SELECT 'more', 'x', now(), now() FROM generate_series(1, 20000); ANALYZE music});
    my $deadlocks = q{SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()};
    my $before = t::Music::psql($deadlocks);
    my $n = start('patch-contention', workers => 2);
    srand(7);
    my @requests = map { my $id = 3 + int(rand(6)); patch($id, qq({"song":"c-$_"})) } 1 .. 240;
    my @answers = $n->parallel(30, @requests);
    is(scalar(grep { $_->{status} == 200 } @answers), 240, 'every PATCH answered 200')
        or diag explain [map { "$_->{status} $_->{body}" } grep { $_->{status} != 200 } @answers];
    $n->stop;
    # the backends' counters reach the statistics when their connections close
    sleep 1;
    is(t::Music::psql($deadlocks) - $before, 0, 'no deadlock in the database (a batch that deadlocked would be retried row by row)');
    unlike($n->error_log, qr/deadlock|\[(alert|crit|error)\]/, 'no deadlock, no error in the log');
}

t::Music::psql('DROP TRIGGER IF EXISTS slow ON music; DROP TRIGGER IF EXISTS log_delete ON music; DROP TABLE IF EXISTS batch_test_deleted');
t::Music::reset_music();
