# A cancel request cannot name a statement: PostgreSQL cancels whatever the backend runs when
# it arrives. On a pipelined connection (one worker, music_pool_size 1, music_pool_pipeline 8)
# a request whose client leaves while its statement waits behind another request's can cancel
# that other statement; that one must still get its own answer, not a timeout it never had.
# The slow statement is a POST whose row goes through a BEFORE INSERT trigger sleeping $slow s
# (songs named 'slow...'), on a private cluster (t::Fault::Pg).
#   1. the victim: a slow POST runs; a GET is pipelined behind it and its client leaves. The
#      POST answers 201 (it ran again after the cancel) and its row is there once;
#   2. the other way round: a slow POST whose client leaves is the statement running; it is
#      cancelled and leaves no row; the GET pipelined behind it answers 200;
#   3. a server statement_timeout cancels the statement each time: it runs twice, then the
#      answer is the timeout one (504 "Database query timed out."), and no row.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive alert_lines wait_until start_nginx detail_of);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $slow = 2;
my $pg = t::Fault::Pg->new;
$pg->psql(qq{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now());
    CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS \$\$ BEGIN IF NEW.song LIKE 'slow%' THEN PERFORM pg_sleep($slow); END IF; RETURN NEW; END \$\$ LANGUAGE plpgsql;
    CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});
my $http = 'music_pool_size 1; music_pool_pipeline 8; music_pool_queue 16; music_pool_timeout 5s;
    music_query_timeout 10s; music_auth_cache_valid 10m;';
my $n = start_nginx(name => 'cancel-pipelined', url => $pg->url, workers => 1, http => $http);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $get = request('GET', '/api/musics/1/', headers => $auth, close => 1);
is(($n->parallel(8, $get))[0]{status}, 200, 'warm-up answered 200 (the credentials are cached)');

sub active_insert { grep { $_->{state} eq 'active' && $_->{query} =~ /^INSERT/ } $pg->backends }
sub connect_nginx { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_[0]->port) or die "connect: $!" }
sub post { request('POST', '/api/musics/', headers => $json . $auth, body => qq({"song":"$_[0]","singer":"s"}), close => 1) }
sub rows_of { $pg->psql("SELECT count(*) FROM music WHERE song = '$_[0]'") }

# ---- 1. the victim is the running statement
my $victim = connect_nginx($n);
print $victim post('slow-victim');
my $t0 = time;
ok(wait_until(2, sub { active_insert() }), 'the slow INSERT runs on the server');
my $gone = connect_nginx($n);
print $gone $get;
sleep 0.3;   # the GET is pipelined behind the INSERT on the only connection
close $gone;
my $r = t::Fault::read_response($victim, time + $slow * 3 + 5);
my $dt = time - $t0;
is($r->{status}, 201, sprintf('the POST whose statement another request cancelled answers 201 (%.2fs)', $dt))
    or diag explain $r;
like($r->{body}, qr/"song":"slow-victim"/, 'with its row');
is(rows_of('slow-victim'), '1', 'the row was written once');
close $victim;

# ---- 2. the statement cancelled is that of the request whose client left
my $leaver = connect_nginx($n);
print $leaver post('slow-gone');
ok(wait_until(2, sub { active_insert() }), 'the slow INSERT runs on the server');
my $behind = connect_nginx($n);
print $behind $get;
sleep 0.3;
close $leaver;
my $t_abort = time;
$r = t::Fault::read_response($behind, time + $slow + 5);
$dt = time - $t_abort;
is($r->{status}, 200, 'the GET pipelined behind it answers 200') or diag explain $r;
cmp_ok($dt, '<', $slow - 0.5, sprintf('without waiting for the cancelled INSERT (%.2fs)', $dt));
ok(wait_until(2, sub { !active_insert() }, 0.05), 'the INSERT of the client that left is gone');
is(rows_of('slow-gone'), '0', 'and left no row');
close $behind;

my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT');
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts);

# ---- 3. the server's statement_timeout
my $limit = 0.7;
$pg->psql("ALTER ROLE CURRENT_USER SET statement_timeout = '${\ int($limit * 1000)}ms'");
$n = start_nginx(name => 'cancel-statement-timeout', url => $pg->url, workers => 1, http => $http);
$t0 = time;
($r) = $n->parallel(10, post('slow-timeout'));
$dt = time - $t0;
is($r->{status}, 504, sprintf('a statement the server times out answers 504 (%.2fs)', $dt)) or diag explain $r;
is(detail_of($r->{body}), 'Database query timed out.', 'with the timeout detail');
cmp_ok($dt, '>', 2 * $limit - 0.1, 'after running twice');
cmp_ok($dt, '<', $slow + 1, 'not after the whole trigger sleep');
$pg->psql('ALTER ROLE CURRENT_USER RESET statement_timeout');
is(rows_of('slow-timeout'), '0', 'no row');
is(($n->parallel(8, $get))[0]{status}, 200, 'the connection still answers');

@stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT');
@alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts);
$pg->psql('DROP TRIGGER IF EXISTS slow ON music');

done_testing;
