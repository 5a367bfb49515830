# Writes of one worker wait for a batch in flight to end so that they go together (a few
# batches of many cost the database less than many of few), but not for long: a batch that
# takes its time (here a trigger that sleeps, as a row lock held elsewhere would make it wait)
# holds up the writes that arrive behind it only a few milliseconds while the pool has another
# connection; they go there. What each client sees does not change (nginx-tests style, with
# t::Nginx).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use JSON::PP;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 7;

my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $JSON = JSON::PP->new;

# 20 rows; an UPDATE to a song starting with "slow" takes 3 s.
t::Music::psql(q{TRUNCATE music RESTART IDENTITY;
    INSERT INTO music (song, singer, last_modify_date, created)
        SELECT 'row-' || n, 'keep-' || n, '2022-04-05 03:45:05+00', '2022-04-05 03:45:05+00' FROM generate_series(1, 20) AS n;
    CREATE OR REPLACE FUNCTION slow_write() RETURNS trigger AS $$ BEGIN
        IF NEW.song LIKE 'slow%' THEN PERFORM pg_sleep(3); END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS slow ON music;
    CREATE TRIGGER slow BEFORE UPDATE ON music FOR EACH ROW EXECUTE FUNCTION slow_write();});

sub patch { t::Music::request('PATCH', "/api/musics/$_[0]/", headers => $json . $auth, body => $_[1], close => 1) }
sub connections { t::Music::psql(q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ngx-music'}) }

my $n = t::Nginx->new(name => 'write-batch-hold');
my $port = $n->port;
$n->write_conf(t::Music::batch_conf($port, pool_size => 4));
$n->start;
# concurrent reads make the pool open more than one connection
my $get = t::Music::request('GET', '/api/musics/1/', headers => $auth, close => 1);
for (1 .. 20) {
    my @warm = $n->parallel(5, ($get) x 30);
    die "warm-up: $warm[0]{status}\n" unless $warm[0]{status} == 200;
    last if connections() >= 2;
    sleep 0.1;
}
cmp_ok(connections(), '>=', 2, 'the pool has more than one connection');

my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die "connect: $!";
print $slow patch(1, '{"song":"slow-1"}');
sleep 0.3;
my @ids = 2 .. 13;
my $start = time;
my @answers = $n->parallel(10, map { patch($_, qq({"song":"h-$_"})) } @ids);
my $took = time - $start;
is_deeply([map { $_->{status} } @answers], [(200) x @ids], 'every PATCH behind the slow one answered 200');
cmp_ok($took, '<', 1.5, sprintf('...long before the slow one ends (%.2f s of its 3 s)', $took));
is_deeply([map { my $r = $JSON->decode($_->{body} || '{}'); "$r->{id}:$r->{song}" } @answers], [map { "$_:h-$_" } @ids],
    'each answers its own row');
my $tx = t::Music::psql(q{SELECT count(DISTINCT xmin::text) FROM music WHERE song LIKE 'h-%'});
cmp_ok($tx, '<', scalar @ids, "they were written in batches ($tx transactions for " . @ids . ' rows)');
my $raw = do { local $/; readline($slow) // '' };
like($raw, qr{^HTTP/1\.1 200 .*"song":"slow-1"}s, 'the slow PATCH is answered in its time');
$n->stop;
unlike($n->error_log, qr/\[(alert|crit|error)\]/, 'no error in the log');

t::Music::psql('DROP TRIGGER IF EXISTS slow ON music');
t::Music::reset_music();
