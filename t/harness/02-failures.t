# Blocks that must fail do fail (and only the assertion concerned), an
# unknown section is rejected, an undefined $TEST_NGINX_* fails the block
# without a BAIL_OUT, and client timeouts behave as in the real harness.
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

=== TEST 1: wrong body
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
not ok

=== TEST 2: wrong status
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_code: 404

=== TEST 3: an [error] line trips no_error_log
--- config
    location /files/ { root html; }
--- request
GET /files/missing.txt
--- error_code: 404
--- no_error_log
[error]

=== TEST 4: missing error_log pattern
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log
this line is never logged

=== TEST 5: header that must be absent is present
--- config
    location = /t { add_header X-Present yes; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
!X-Present

=== TEST 6: unknown section
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- request_body
hello

=== TEST 7: undefined $TEST_NGINX_ variable
--- config
    location = /t { return 200 "$TEST_NGINX_NO_SUCH_VAR\n"; }
--- request
GET /t

=== TEST 8: still runs after the failures above
--- config
    location = /t { return 200 "fine\n"; }
--- request
GET /t
--- response_body
fine

=== TEST 9: timeout without abort: an extra failing test
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 200ms
--- ignore_response

=== TEST 10: timeout with abort is not a failure
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 0.2
--- abort
--- ignore_response
--- no_error_log
[error]

=== TEST 11: header value mismatch and body_like mismatch
--- config
    location = /t { add_header X-A real; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-A: expected
--- response_body_like: ^nope$

=== TEST 12: response_body with response_body_like is rejected
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- response_body_like: ok
EOT

isnt($r->{rc}, 0, 'the file fails (non-zero exit)');
unlike($r->{out} . $r->{err}, qr/Bail out!/, 'no BAIL_OUT');
my @l = @{ $r->{lines} };
my $lines_of = sub { my $t = shift; [ grep { /\b\Q$t\E:/ } @l ] };
my $failed   = sub { my ($t, $re) = @_; [ grep { /^not ok/ && /\b\Q$t\E:/ && $_ =~ $re } @l ] };

is(@{ $failed->('TEST 1', qr/response_body - response is expected/) }, 1, 'wrong body: not ok');
is(@{ $failed->('TEST 2', qr/status code ok/) }, 1, 'wrong status: not ok');
my $t3 = $lines_of->('TEST 3');
is(scalar(grep { /^ok .*status code ok/ } @$t3), 1, 'no_error_log block: status 404 ok');
is(scalar(grep { /^not ok .*\[error\].*should not match/ } @$t3), 1, 'no_error_log: not ok');
like($r->{err}, qr/matched: .*\[error\].*open\(\)/, 'the matching [error] line is shown');
is(@{ $failed->('TEST 4', qr/never logged.*should match/) }, 1, 'missing error_log pattern: not ok');
is(@{ $failed->('TEST 5', qr/header X-Present not present/) }, 1, '!Name present: not ok');
like($r->{err}, qr/got: X-Present: yes/, '!Name: the header is shown');
is_deeply($failed->('TEST 6', qr/unknown section '--- request_body': unsupported here; real Test::Nginx may accept it/),
          [ grep { /TEST 6:/ } @l ], 'unknown section: one failure with the message');
is_deeply($failed->('TEST 7', qr/undefined environment variable \$TEST_NGINX_NO_SUCH_VAR/),
          [ grep { /TEST 7:/ } @l ], 'undefined variable: one failure for the block');
is_deeply([ grep { /TEST 8:/ } @l ],
          [ grep { /^ok / && /TEST 8:/ } @l ], 'later block passes');
is(scalar @{ $lines_of->('TEST 8') }, 2, 'later block: 2 assertions');
is_deeply([ map { /(client socket timed out)/ } grep { /^not ok/ } @{ $lines_of->('TEST 9') } ],
          ['client socket timed out'], 'timeout without abort: one failing test');
is(@{ $failed->('TEST 10', qr/./) }, 0, 'timeout with abort: no failure');
is(scalar @{ $lines_of->('TEST 10') }, 1, 'abort + ignore_response: only the log check');
is(@{ $failed->('TEST 11', qr/header X-A ok|response_body_like/) }, 2, 'header value and body_like mismatches');
is(@{ $failed->('TEST 12', qr/cannot be combined/) }, 1, 'response_body + _like rejected');
like($r->{err}, qr/Looks like you failed/, 'Test::More summary');

done_testing;
