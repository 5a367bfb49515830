# Pins the number of assertions each section produces (they must equal the
# real Test::Nginx's, see the POD of t/lib/Test/Nginx/Socket.pm).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SelfTest;
use Test::More;

plan skip_all => 'no nginx binary (set TEST_NGINX_BINARY)' unless nginx_binary();

my $r = run_t(<<'EOT');
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: status only
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t

=== TEST 2: status + body
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok

=== TEST 3: distinct header names, duplicates counted once, !Name
--- config
    location = /t { add_header X-A 1; add_header X-B 2; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-A: 1
X-A: 1
X-B: 2
!X-Missing

=== TEST 4: request array: everything per request, log patterns too
--- config
    location = /t { return 200 "ok\n"; }
--- request eval
["GET /t", "GET /t"]
--- response_body eval
["ok\n", "ok\n"]
--- no_error_log
[error]
[alert]

=== TEST 5: pipelined requests
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 200 "b\n"; }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /a"]
--- response_body eval
["a\n", "b\n", "a\n"]
--- error_log
GET /b

=== TEST 6: response_headers_like
--- config
    location = /t { add_header X-A abc; return 200 "ok\n"; }
--- request
GET /t
--- response_headers_like
X-A: a.c
Content-Type: text/.*

=== TEST 7: ignore_response keeps only the log checks
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- ignore_response
--- no_error_log
[error]

=== TEST 8: grep_error_log
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- grep_error_log eval: qr/http request line: "[^"]+"/
--- grep_error_log_out
http request line: "GET /t HTTP/1.1"

=== TEST 9: raw_request + response_body_like
--- config
    location = /t { return 200 "hello world\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body_like: ^hello world$

=== TEST 10: access_log / no_access_log
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- access_log
"GET /t HTTP/1.1" 200
--- no_access_log
POST

=== TEST 11: must_die: 1 + log patterns
--- config
    bogus_directive on;
--- must_die
--- error_log
unknown directive "bogus_directive"
--- no_error_log
[alert]

=== TEST 12: skip_nginx emits exactly n skips
--- skip_nginx: 3: < 999.0
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t

=== TEST 13: response_body_json_sort adds nothing
--- config
    location = /t { return 200 '{"b": 2, "a": {"z": 1, "y": [3, 1]}}'; }
--- request
GET /t
--- response_body_json_sort
--- response_body
{"a":{"y":[3,1],"z":1},"b":2}

=== TEST 14: no config: reuses the running nginx
--- request
GET /t
--- response_body_json_sort
--- response_body
{"a":{"y":[3,1],"z":1},"b":2}

=== TEST 15: shutdown_error_log: once, after the stop
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- shutdown_error_log
signal 3 (SIGQUIT) received
--- no_shutdown_error_log
[alert]

=== TEST 16: skip_eval
--- skip_eval: 2: 1
--- request
GET /t

=== TEST 17: skip_eval false: block runs
--- skip_eval: 2: 0
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok

=== TEST 18: a SKIPped block does not count
--- SKIP
--- request
GET /t
EOT

my %want = (
    'TEST 1' => 1,  'TEST 2' => 2,  'TEST 3' => 4,  'TEST 4' => 8,
    'TEST 5' => 9,  'TEST 6' => 3,  'TEST 7' => 1,  'TEST 8' => 2,
    'TEST 9' => 2,  'TEST 10' => 3, 'TEST 11' => 3, 'TEST 12' => 3,
    'TEST 13' => 2, 'TEST 14' => 2, 'TEST 15' => 3, 'TEST 16' => 2,
    'TEST 17' => 2,
);
my $c = per_block_counts($r);
is_deeply({ map { $_ => $c->{$_}{total} } keys %$c }, \%want, 'assertions per block')
    or diag $r->{out}, $r->{err};
is_deeply([ grep { $c->{$_}{not_ok} } sort keys %$c ], [], 'no failures') or diag $r->{err};
is($c->{'TEST 12'}{skip}, 3, 'skip_nginx: 3 skips');
is($c->{'TEST 16'}{skip}, 2, 'skip_eval: 2 skips');
is($r->{rc}, 0, 'exit status 0');
my $total = 0;
$total += $_ for values %want;
is($r->{plan}, $total, "no_plan trailer counts $total");

# repeat_each(2): everything per repeat except must_die; an explicit plan
# computed with the documented rule must be right.
$r = run_t(<<'EOT');
use Test::Nginx::Socket;
repeat_each(2);
plan tests => repeat_each() * (3 + 2 * 2) + 2;
run_tests();
__DATA__

=== TEST 1: body + 1 log pattern
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]

=== TEST 2: two requests, one pattern
--- config
    location = /t { return 200 "ok\n"; }
--- request eval
["GET /t", "GET /t"]
--- error_log
http request line

=== TEST 3: must_die is not repeated
--- config
    nope;
--- must_die
--- error_log
unknown directive "nope"
EOT
$c = per_block_counts($r);
is($c->{'TEST 1'}{total}, 6, 'repeat_each(2): 2 x 3');
is($c->{'TEST 2'}{total}, 8, 'repeat_each(2): 2 x 2 requests x 2');
is($c->{'TEST 3'}{total}, 2, 'repeat_each(2): must_die block: 1 + 1');
is($r->{rc}, 0, 'explicit plan matches') or diag $r->{out}, $r->{err};
unlike($r->{err}, qr/Looks like you planned/, 'no plan mismatch');

done_testing;
