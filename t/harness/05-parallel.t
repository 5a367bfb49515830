# prove -j2 on two files works out of the box (random port held by a UDP
# lock, per-file server root), and with TEST_NGINX_RANDOMIZE=1.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SelfTest;
use Test::More;

plan skip_all => 'no nginx binary (set TEST_NGINX_BINARY)' unless nginx_binary();

my $t = <<'EOT';
use Test::Nginx::Socket;
plan tests => 2 * blocks();
run_tests();
__DATA__

=== TEST 1: a
--- config
    location = /t { return 200 "NAME $server_port\n"; }
--- request
GET /t
--- response_body
NAME $TEST_NGINX_SERVER_PORT

=== TEST 2: b
--- config
    location = /t { return 200 "NAME 2\n"; }
--- request
GET /t
--- response_body
NAME 2

=== TEST 3: c
--- config
    location = /t { return 200 "NAME 3\n"; }
--- request
GET /t
--- response_body
NAME 3
EOT

for my $env ({}, { TEST_NGINX_RANDOMIZE => 1 }) {
    my $mode = %$env ? 'TEST_NGINX_RANDOMIZE=1' : 'defaults';
    my $dir = scratch_dir();
    mkdir "$dir/t";
    for my $name (qw(one two)) {
        (my $c = $t) =~ s/NAME/$name/g;
        write_file("$dir/t/$name.t", $c);
    }
    my $r = run_cmd($dir, [ 'prove', '-I', harness_lib(), '-j2', 't/one.t', 't/two.t' ], $env);
    is($r->{rc}, 0, "prove -j2 ($mode)") or diag $r->{out}, $r->{err};
    like($r->{out}, qr/Files=2, Tests=12/, "all 12 tests ran ($mode)");
    if (%$env) {
        ok(!glob("$dir/t/servroot_*"), 'RANDOMIZE: t/servroot_<port> removed at the end');
    } else {
        ok(-f "$dir/t/servroot/one/conf/nginx.conf" && -f "$dir/t/servroot/two/conf/nginx.conf",
           'per-file server roots t/servroot/one and t/servroot/two, kept after the run');
    }
}

done_testing;
