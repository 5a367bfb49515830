# Request building, response parsing and the less common sections, all with
# plain nginx directives (no project module needed).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SelfTest;
use Test::More;

plan skip_all => 'no nginx binary (set TEST_NGINX_BINARY)' unless nginx_binary();

my $r = run_t(<<'EOT', env => { TEST_NGINX_MY_GREETING => 'howdy' });
use Test::Nginx::Socket 'no_plan';

push @Test::Nginx::Socket::ExtraSections, 'body_length';
add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeat_idx, $dry_run) = @_;
    return unless defined $block->body_length;
    Test::More::is(length($body), $block->body_length, $block->name . " - body_length");
});
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('request', "GET /t\n") unless defined $block->request
        || defined $block->pipelined_requests || defined $block->raw_request;
});

our $InitRan = 0;
no_shuffle();
run_tests();
__DATA__

=== TEST 1: request body is trimmed, Content-Length computed from it; more_headers
--- config
    location = /t { return 200 "len=$content_length x=$http_x_foo host=$host conn=$http_connection\n"; }
--- request
POST /t
  {"a": 1}

--- more_headers
# a comment line is skipped
X-Foo: bar
--- response_body
len=8 x=bar host=localhost conn=close

=== TEST 2: pipelined requests: keep-alive on all but the last
--- config
    location = /t { return 200 "$uri $http_connection\n"; }
    location = /u { return 200 "$uri $http_connection\n"; }
--- pipelined_requests eval
["GET /t", "GET /u", "POST /t\nbody"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["/t keep-alive\n", "/u keep-alive\n", "/t close\n"]
--- no_error_log
[error]

=== TEST 3: raw_request packets, sent as given
--- config
    location = /t { return 200 "raw $request_method $server_protocol\n"; }
--- raw_request eval
["GET /t HTT", "P/1.0\r\nHost: x\r\n\r\n"]
--- response_body
raw GET HTTP/1.0

=== TEST 4: response_body_json_sort and chunked decoding (ssi drops Content-Length)
--- config
    location = /t {
        ssi on;
        ssi_types *;
        set $v YY;
        return 200 '{"z": [3, 1], "a": {"y": "<!--# echo var="v" -->", "b": null}, "m": true}';
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body_json_sort
--- response_body
{"a":{"b":null,"y":"YY"},"m":true,"z":[3,1]}

=== TEST 5: $TEST_NGINX_* in config and expected body, $ServerPort, RAND_PORT
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend says $TEST_NGINX_MY_GREETING\n"; }
    }
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
    location = /p { return 200 "$server_port\n"; }
--- request eval
["GET /t", "GET /p"]
--- response_body eval
['backend says $TEST_NGINX_MY_GREETING' . "\n", '$ServerPort' . "\n"]

=== TEST 6: HEAD has no body; error_code_like; response_headers_like
--- config
    location = /t { add_header X-Num 12345; return 204; }
--- request
HEAD /t
--- error_code_like: ^20[04]$
--- response_headers_like
X-Num: \d+

=== TEST 7: init, curl, wait, extra section, preprocessor default request
--- config
    location = /t { return 200 "0123456789"; }
--- init
$main::InitRan = 1;
--- curl
--- wait: 0.05
--- body_length: 10
--- response_body_unlike: [a-z]

=== TEST 8: response_body eval with binary bytes
--- config
    location = /t { return 200 "\x01\x02"; }
--- response_body eval
"\\x01\\x02"

=== TEST 9: more_headers eval per request; init of TEST 7 ran
--- init
die "the init section of TEST 7 did not run\n" unless $main::InitRan;
--- config
    location = /t { return 200 "$http_x_n\n"; }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-N: 1", "X-N: 2"]
--- response_body eval
["1\n", "2\n"]
--- error_log eval
[qr/http request line: "GET \/t HTTP\/1\.1"/, "X-N: 2"]

=== TEST 10: main_config, post_main_config, per-block log_level
--- main_config
    worker_rlimit_nofile 1024;
--- post_main_config
    stream { server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2; return "hi\n"; } }
--- config
    location = /t { return 200 "ok\n"; }
--- log_level: info
--- response_body
ok
--- no_error_log
[debug]
EOT
is($r->{rc}, 0, 'features file passes') or diag $r->{out}, $r->{err};
is_deeply($r->{not_ok}, [], 'no failures');
like($r->{err}, qr{^# curl -i -sS http://127\.0\.0\.1:\d+/t$}m, 'curl command printed on stderr');
is(scalar(grep { /TEST 7:.*body_length/ } @{ $r->{lines} }), 1, 'add_response_body_check ran');
is(scalar(grep { /TEST 9:/ } @{ $r->{lines} }), 2 * (1 + 1 + 2), 'TEST 9 count');
unlike($r->{err}, qr/WARNING/, 'no harness warnings');

$r = run_t(<<'EOT');
use Test::Nginx::Socket 'no_plan';
master_on();
workers(2);
run_tests();
__DATA__

=== TEST 1: master on, two workers
--- config
    location = /t { return 200 "$pid\n"; }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- response_body_like eval
[qr/^\d+$/, qr/^\d+$/, qr/^\d+$/]
--- no_error_log
[alert]
EOT
is($r->{rc}, 0, 'master_on() + workers(2)') or diag $r->{out}, $r->{err};
open my $fh, '<', "$r->{dir}/t/servroot/x/conf/nginx.conf" or die;
my $conf = do { local $/; <$fh> };
like($conf, qr/^master_process on;$/m, 'master_process on in nginx.conf');
like($conf, qr/^worker_processes 2;$/m, 'worker_processes 2 in nginx.conf');

# An unexpected [alert] line is a WARNING by default and a failure under
# TEST_NGINX_STRICT_LOG=1.  worker_connections(2) makes a proxied request
# log "[alert] 2 worker_connections are not enough".
my $alert_t = <<'EOT';
use Test::Nginx::Socket 'no_plan';
worker_connections(2);
run_tests();
__DATA__

=== TEST 1: an [alert] line
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/u; }
    location = /u { return 200 "u\n"; }
--- request
GET /t
--- error_code_like: ^5\d\d$
EOT
$r = run_t($alert_t);
is($r->{rc}, 0, 'unexpected [alert]: not a failure by default') or diag $r->{out}, $r->{err};
like($r->{err}, qr/WARNING: .*TEST 1: .*\[alert\].*worker_connections are not enough/,
     'unexpected [alert]: WARNING diag');
$r = run_t($alert_t, env => { TEST_NGINX_STRICT_LOG => 1 });
isnt($r->{rc}, 0, 'TEST_NGINX_STRICT_LOG=1: the file fails');
like($r->{out}, qr/^not ok \d+ - .*unexpected line in error\.log/m, 'TEST_NGINX_STRICT_LOG=1: not ok line');

# the [alert] is no warning when an error_log pattern expects it
$alert_t =~ s/(--- error_code_like)/--- error_log\nworker_connections are not enough\n$1/;
$r = run_t($alert_t, env => { TEST_NGINX_STRICT_LOG => 1 });
is($r->{rc}, 0, 'an expected [alert] is fine even when strict') or diag $r->{out}, $r->{err};

done_testing;
