# Database faults (docs/api.md, Other errors): a database that does not answer gives a quick
# 503 JSON, a query over music_query_timeout gives 504 and is cancelled on the server, a full
# pool gives 503, and nginx keeps serving everything else meanwhile.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 13;
# Log patterns are matched against the whole log since nginx started: the real Test::Nginx
# otherwise checks each request of a block against only the lines since the previous one.
check_accum_error_log();
no_shuffle();
{ no warnings 'once'; push @Test::Nginx::Socket::ExtraSections, 'same_nginx'; }
$ENV{TEST_NGINX_DEAD_PORT} = do {   # a port nothing listens on
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die;
    my $p = $s->sockport; close $s; $p;
};
run_tests();

__DATA__

=== TEST 1: database unreachable: 503 with a JSON detail, quickly
--- http_config
    music_database "postgres://postgres:x@127.0.0.1:$TEST_NGINX_DEAD_PORT/postgres";
--- config
    location /api/ { music_api; }
    location = /alive { return 200 "still here\n"; }
--- request eval
["GET /api/musics/1/", "GET /api/musics/1/", "GET /alive"]
--- more_headers eval
[$t::Music::admin, $t::Music::admin, ""]
--- error_code eval
[503, 503, 200]
--- response_body eval
['{"detail":"Database unavailable."}', '{"detail":"Database unavailable."}', "still here\n"]
--- error_log
database unavailable
--- timeout: 5



=== TEST 2: a query over music_query_timeout is 504 and is cancelled on the server
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_query_timeout 300ms; }
--- init
t::Music::reset_music(); t::Music::psql("CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS \$\$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END \$\$ LANGUAGE plpgsql; DROP TRIGGER IF EXISTS slow ON music; CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();")
--- request
POST /api/musics/
{"song": "slow", "singer": "s"}
--- more_headers eval: "Content-Type: application/json\n" . $t::Music::admin
--- error_code: 504
--- response_body chomp
{"detail":"Database query timed out."}
--- wait: 0.5



=== TEST 3: (same nginx) the cancelled INSERT left no row, and the pool still works
--- same_nginx
--- init
t::Music::psql("DROP TRIGGER IF EXISTS slow ON music");
die "the cancelled insert is still running\n" if t::Music::psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'") ne '0';
die "the cancelled insert committed\n" if t::Music::psql("SELECT count(*) FROM music WHERE song = 'slow'") ne '0';
--- request
GET /api/musics/1/detail/
--- more_headers eval: $t::Music::admin
--- response_body chomp
{"singer":"singer_test","song":"song_test"}

