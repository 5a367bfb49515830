# bench/static_locations.py: the plain nginx of build/bench's composed ceiling answers the
# module's captured responses byte for byte. Each capture below is what `curl -si` saves; the
# locations it makes go into bench/static-nginx.conf as build/bench puts them, and nginx (no
# module) must answer each request with the captured status, the module's own headers
# (Content-Type, Vary: Accept, Allow) and the very body:
#   1. a body with everything nginx's string syntax treats specially (quotes, backslashes,
#      "$name", "${name}") and UTF-8, status 201, to a POST;
#   2. a body longer than `return` can take (a list): served as a file, same bytes;
#   3. a chunked capture (curl has decoded the body; the header remains): same body;
# and bad captures are refused with a message, not turned into a wrong configuration:
#   4. no end of headers; a body with a line break; a long body whose status is not 200.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use lib dirname(abs_path(__FILE__)) . '/..';
use t::Nginx;

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $script = "$ROOT/bench/static_locations.py";
my $n = t::Nginx->new(name => 'bench-static-locations');
my $dir = abs_path($n->root);

sub capture {
    my ($name, $head, $body) = @_;
    open my $fh, '>:raw', "$dir/$name.http" or die $!;
    print $fh $head, "\r\n\r\n", $body;
    close $fh;
    return "$dir/$name.http";
}

# what static_locations.py says for these MATCH=CAPTURE arguments: (exit status, output)
sub run_script {
    my $out = `python3 $script @_ 2>&1`;
    return ($? >> 8, $out);
}

my $tricky = qq({"song":"it's \$HOME \${y} \\\\ \\"q\\" \xc3\xa9t\xc3\xa9","singer":"\$"});
my $long = '[' . join(',', map { qq({"id":$_,"song":"song_$_","singer":"singer_$_"}) } 1 .. 200) . ']';
cmp_ok(length $long, '>', 4096, 'the long body is longer than nginx\'s configuration buffer');
my @args = (
    '=\ /api/musics/=' . capture('post', "HTTP/1.1 201 Created\r\nServer: nginx/1.28.3\r\nDate: x\r\n"
        . "Content-Type: application/json\r\nContent-Length: 99\r\nVary: Accept\r\nAllow: GET, POST, HEAD, OPTIONS", $tricky),
    '=\ /list/=' . capture('list', "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nVary: Accept\r\nAllow: GET", $long),
    '=\ /chunked/=' . capture('chunked', "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        . "Transfer-Encoding: chunked\r\nVary: Accept", '[{"id":1}]'),
);
my ($rc, $locations) = run_script(@args);
is($rc, 0, 'static_locations.py accepts the captures') or diag($locations);

open my $tpl, '<', "$ROOT/bench/static-nginx.conf" or die $!;
my $conf = do { local $/; <$tpl> };
close $tpl;
my $port = $n->port;
$conf =~ s/\@WORKERS\@/1/g;
$conf =~ s/\@PREFIX\@/$dir/g;
$conf =~ s/\@LISTEN\@/127.0.0.1:$port/g;
$conf =~ s/^\@LOCATIONS\@$/$locations/m;
open my $fh, '>', "$dir/conf/nginx.conf" or die $!;
print $fh $conf;
close $fh;
$n->start;

my $http = HTTP::Tiny->new(timeout => 10);
my $r = $http->request('POST', "http://127.0.0.1:$port/api/musics/",
    { content => '{"song":"s","singer":"t"}', headers => { 'Content-Type' => 'application/json' } });
is($r->{status}, 201, '1: the captured status, to a POST');
is($r->{content}, $tricky, '1: the body byte for byte (quotes, backslashes, $, ${}, UTF-8)');
is($r->{headers}{'content-type'}, 'application/json', '1: Content-Type');
is($r->{headers}{vary}, 'Accept', '1: Vary: Accept (no Accept-Encoding: not a 200, as the module)');
is($r->{headers}{allow}, 'GET, POST, HEAD, OPTIONS', '1: Allow');
is(length($r->{content}), $r->{headers}{'content-length'}, '1: Content-Length counts the bytes');

$r = $http->get("http://127.0.0.1:$port/list/");
is($r->{status}, 200, '2: a long body answers 200');
is($r->{content}, $long, '2: the long body byte for byte');
is($r->{headers}{'content-type'}, 'application/json', '2: Content-Type');
is(ref $r->{headers}{vary} ? join(', ', @{ $r->{headers}{vary} }) : $r->{headers}{vary}, 'Accept-Encoding, Accept',
    '2: Vary: gzip_vary\'s Accept-Encoding (a 200), then the module\'s Accept');
is($r->{headers}{allow}, 'GET', '2: Allow');
ok(!exists $r->{headers}{etag}, '2: no ETag');

$r = $http->get("http://127.0.0.1:$port/chunked/");
is($r->{content}, '[{"id":1}]', '3: a chunked capture: the body as curl saved it');
ok(!exists $r->{headers}{'transfer-encoding'}, '3: the Transfer-Encoding header is not copied');
$n->stop;

# (capture() always ends the headers: this one is written without)
open $fh, '>:raw', "$dir/nohead.http" or die $!;
print $fh "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
close $fh;
($rc, my $out) = run_script("=\\ /x/=$dir/nohead.http");
isnt($rc, 0, '4: a capture without the end of its headers is refused');
like($out, qr/no end of headers/, '4: and says so');
($rc, $out) = run_script('=\ /x/=' . capture('newline', "HTTP/1.1 200 OK\r\nContent-Type: text/plain", "a\nb"));
isnt($rc, 0, '4: a body with a line break is refused');
like($out, qr/line breaks/, '4: and says so');
($rc, $out) = run_script('=\ /x/=' . capture('long201', "HTTP/1.1 201 Created\r\nContent-Type: application/json", $long));
isnt($rc, 0, '4: a long body with status 201 is refused (a file answers 200 only)');
like($out, qr/status 200/, '4: and says so');
($rc, $out) = run_script('=\ /x/=' . capture('nostatus', "HTTP/1.1 abc\r\nContent-Type: text/plain", 'x'));
isnt($rc, 0, '4: a capture without a status line is refused');

done_testing();
