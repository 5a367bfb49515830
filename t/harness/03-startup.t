# nginx start/stop: config errors fail fast with the [emerg] line, must_die,
# the default "location /", TEST_NGINX_LOAD_MODULES, stale pid files and
# TEST_NGINX_NO_CLEAN.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SelfTest;
use Test::More;
use Time::HiRes ();

plan skip_all => 'no nginx binary (set TEST_NGINX_BINARY)' unless nginx_binary();

# --- a config error fails that block at once, the next block still runs
my $r = run_t(<<'EOT');
use Test::Nginx::Socket tests => 3;
no_shuffle();
run_tests();
__DATA__

=== TEST 1: config error
--- config
    location = /t { bogus_directive 1; return 200; }
--- request
GET /t
--- response_body
never

=== TEST 2: ok afterwards
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
EOT
isnt($r->{rc}, 0, 'config error: the file fails');
ok($r->{elapsed} < 3, sprintf('config error: fails fast (%.2f s for the whole file)', $r->{elapsed}));
like($r->{out}, qr/^not ok 1 - x\.t TEST 1: config error - nginx failed to start$/m,
     'config error: one failing test for the block');
like($r->{err}, qr/\[emerg\].*unknown directive "bogus_directive"/, 'config error: the [emerg] line is shown');
like($r->{out}, qr/^ok 2 - x\.t TEST 2: ok afterwards - status code ok$/m, 'next block runs');
like($r->{err}, qr/planned 3 tests but ran 3|failed 1 test of 3/, 'block failure costs the plan nothing more');
unlike($r->{out}, qr/Bail out/, 'no BAIL_OUT');

# --- must_die: passes when nginx refuses the config, fails when it starts
$r = run_t(<<'EOT');
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: refused
--- config
    location = /t { return 200 "$no_such_variable"; }
--- must_die
--- error_log
unknown "no_such_variable" variable

=== TEST 2: must_die with an exit code
--- http_config
    server_names_hash_bucket_size x;
--- must_die: 1

=== TEST 3: starts fine, so must_die fails
--- config
    location = /t { return 200 "ok\n"; }
--- must_die
EOT
like($r->{out}, qr/^ok 1 - .*TEST 1: refused - nginx failed to start \(must_die\)$/m, 'must_die ok');
like($r->{out}, qr/^ok 2 - .*TEST 1: refused - pattern .*should match/m, 'must_die: error_log checked');
like($r->{out}, qr/^ok 3 - .*TEST 2: .*exit code 1$/m, 'must_die: exit code');
like($r->{out}, qr/^not ok 4 - .*TEST 3: .*nginx should fail to start/m, 'must_die on a good config fails');
is($r->{plan}, 4, 'must_die: 4 assertions');

# --- the default "location /" clashes unless no_root_location()
my $body = <<'EOT';
run_tests();
__DATA__

=== TEST 1: own location /
--- config
    location / { return 200 "mine\n"; }
--- request
GET /
--- response_body
mine
EOT
$r = run_t("use Test::Nginx::Socket 'no_plan';\n$body");
like($r->{err}, qr/duplicate location "\/"/, 'location / clashes with the default one');
$r = run_t("use Test::Nginx::Socket 'no_plan';\nno_root_location();\n$body");
is($r->{rc}, 0, 'no_root_location() avoids the clash') or diag $r->{out}, $r->{err};

# --- default location / serves html/index.html and user_files
$r = run_t(<<'EOT');
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: index.html
--- config
--- request
GET /
--- response_body chomp
It works!

=== TEST 2: user_files
--- config
--- user_files
>>> a.txt
hello a
>>> sub/b.txt
hello b
--- request eval
["GET /a.txt", "GET /sub/b.txt"]
--- response_body eval
["hello a\n", "hello b\n"]
EOT
is($r->{rc}, 0, 'default location and user_files') or diag $r->{out}, $r->{err};

# --- TEST_NGINX_LOAD_MODULES becomes load_module lines at the top
$r = run_t(<<'EOT', env => { TEST_NGINX_LOAD_MODULES => '/nonexistent/ngx_a.so rel/ngx_b.so' });
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__

=== TEST 1: module cannot be loaded
--- config
--- must_die
--- error_log
/nonexistent/ngx_a.so
EOT
is($r->{rc}, 0, 'load_module of a missing .so: must_die passes') or diag $r->{out}, $r->{err};
open my $fh, '<', "$r->{dir}/t/servroot/x/conf/nginx.conf" or die;
my @conf = <$fh>;
like($conf[1], qr{^load_module /nonexistent/ngx_a\.so;$}, 'load_module line first');
like($conf[2], qr{^load_module \Q$r->{dir}\E/rel/ngx_b\.so;$}, 'relative module path made absolute');

# --- a stale pid file naming a non-nginx process is left alone;
#     TEST_NGINX_NO_CLEAN leaves nginx running
my $dir = scratch_dir();
my $sleeper = fork // die;
if (!$sleeper) { exec 'sleep', '30'; exit 127 }
mkdir "$dir/t"; mkdir "$dir/t/servroot"; mkdir "$dir/t/servroot/x"; mkdir "$dir/t/servroot/x/logs";
write_file("$dir/t/servroot/x/logs/nginx.pid", "$sleeper\n");
$r = run_t(<<'EOT', dir => $dir, env => { TEST_NGINX_NO_CLEAN => 1 });
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__

=== TEST 1: hello
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
EOT
is($r->{rc}, 0, 'run with a stale pid file') or diag $r->{out}, $r->{err};
ok(kill(0, $sleeper), 'the unrelated process named by the stale pid file survives');
kill 'KILL', $sleeper;
waitpid $sleeper, 0;
open $fh, '<', "$dir/t/servroot/x/logs/nginx.pid" or die;
chomp(my $npid = <$fh> // '');
ok($npid && kill(0, $npid), 'TEST_NGINX_NO_CLEAN: nginx is still running');
# the next run finds it through the pid file and /proc and replaces it
$r = run_t(<<'EOT', dir => $dir);
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__

=== TEST 1: again
--- config
    location = /t { return 200 "again\n"; }
--- request
GET /t
--- response_body
again
EOT
is($r->{rc}, 0, 'next run after NO_CLEAN') or diag $r->{out}, $r->{err};
like($r->{err}, qr/killing stale nginx $npid/, 'stale nginx of our servroot is killed');
Time::HiRes::sleep(0.2);
ok(!kill(0, $npid), 'the NO_CLEAN nginx is gone') or kill 'KILL', $npid;

# --- nginx dying mid-block: the requests fail, and the stop reports the
#     signal (a failure only under TEST_NGINX_STRICT_LOG=1)
my $crash_t = <<'EOT';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: nginx is killed by SIGSEGV before the request
--- config
    location = /t { return 200 "ok\n"; }
--- init
open my $fh, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid" or die;
my $pid = <$fh>;
chomp $pid;
kill 'SEGV', $pid;
select undef, undef, undef, 0.2;
--- request
GET /t

=== TEST 2: the next block starts a fresh nginx
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
EOT
$r = run_t($crash_t);
like($r->{out}, qr/^not ok 1 - .*TEST 1: .*status code ok$/m, 'crash: the request fails');
like($r->{err}, qr/WARNING: .*TEST 1: .*exited with status 11 \(signal 11\)/, 'crash: WARNING with the signal');
like($r->{out}, qr/^ok 2 - .*TEST 2: /m, 'crash: the next block passes');
$r = run_t($crash_t, env => { TEST_NGINX_STRICT_LOG => 1 });
like($r->{out}, qr/^not ok 2 - .*TEST 1: .*signal 11.*STRICT_LOG/m, 'crash: a failure under STRICT_LOG');

done_testing;
