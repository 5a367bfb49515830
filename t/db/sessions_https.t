# The CSRF Referer rule of a session-authenticated write over HTTPS (README "Sessions and
# CSRF"), end to end: nginx listening with "ssl" on 127.0.0.1 (a throwaway self-signed
# certificate made by openssl here), curl as the browser. As Django 3.2's CsrfViewMiddleware
# under DRF: no Referer, an off-site one or an http:// one answers 403 with Django's reason
# (the texts taken from the installed Django itself), a same-origin https:// one lets the write
# through; plain HTTP needs no Referer; Basic over HTTPS is not CSRF-checked at all.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use t::Music ();
use t::Nginx ();
use t::Session ();

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan skip_all => 'Django 3.2 (python3-django) is needed to make the session' unless t::Session::django_available();
for my $tool (qw(openssl curl)) {
    plan skip_all => "$tool is needed" unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

# Django's own reasons, from the installed Django (what DRF puts after "CSRF Failed: ").
my %reason = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, `/usr/bin/python3 -c '
from django.middleware import csrf
print("NO_REFERER=" + csrf.REASON_NO_REFERER)
print("INSECURE=" + csrf.REASON_INSECURE_REFERER)
print("BAD=" + csrf.REASON_BAD_REFERER)
print("BAD_TOKEN=" + csrf.REASON_BAD_TOKEN)
'`;
is(scalar keys %reason, 4, "Django's CSRF reasons read from the installed Django") or diag explain \%reason;

my $key = 'h' x 24 . 'https000';
t::Music::reset_music();
t::Session::login($key, 'admin');
my $csrf = $t::Session::csrf_cookie;

my $plain_port = t::Nginx::free_port();
my $n = t::Nginx->new(name => 'sessions_https');
my $conf = $n->root . '/conf';
my $out = `openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout $conf/key.pem -out $conf/cert.pem 2>&1`;
die "openssl req:\n$out" if $?;
open my $fh, '>', "$conf/django_secret" or die $!;
print $fh "$t::Session::secret\n";
close $fh;
my $https_port = $n->port;
(my $db = $t::Music::http_config) =~ s/\$(TEST_NGINX_\w+)/$ENV{$1}/g;
$n->write_conf(<<"EOC");
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
$db
    music_django_secret_key_file django_secret;
    server {
        listen 127.0.0.1:$https_port ssl;
        ssl_certificate cert.pem;
        ssl_certificate_key key.pem;
        location /api/ { music_api; }
    }
    server {
        listen 127.0.0.1:$plain_port;
        location /api/ { music_api; }
    }
}
EOC
$n->start;

# A POST of a new song as curl sends it; returns (status, body).
sub post {
    my ($scheme, $port, @headers) = @_;
    my @cmd = ('curl', '-sk', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST',
        '-H', 'Content-Type: application/json', (map { ('-H', $_) } @headers),
        '--data', '{"song":"https-song","singer":"https-singer"}', "$scheme://127.0.0.1:$port/api/musics/");
    open my $fh, '-|', @cmd or die "curl: $!";
    local $/;
    my $text = <$fh> // '';
    close $fh;
    my ($body, $status) = $text =~ /\A(.*)\n(\d{3})\z/s or return (0, $text);
    return ($status, $body);
}

my @session = ("Cookie: sessionid=$key; csrftoken=$csrf", "X-CSRFToken: $t::Session::csrf_other_mask");
my $origin = "https://127.0.0.1:$https_port";
sub failed { encode_json({ detail => "CSRF Failed: $_[0]" }) }

my ($status, $body) = post('https', $https_port, @session);
is("$status $body", '403 ' . failed($reason{NO_REFERER}), 'HTTPS, session, no Referer: 403, Django\'s "no Referer." reason');

my $evil = 'https://evil.example/page';
($status, $body) = post('https', $https_port, @session, "Referer: $evil");
is("$status $body", '403 ' . failed(sprintf $reason{BAD}, $evil),
    'HTTPS, session, an off-site Referer: 403, Django\'s "does not match any trusted origins." reason');

($status, $body) = post('https', $https_port, @session, "Referer: https://127.0.0.1:$plain_port/static/");
is("$status $body", '403 ' . failed(sprintf $reason{BAD}, "https://127.0.0.1:$plain_port/static/"),
    'HTTPS, session, the same host on another port: not the same origin, 403');

($status, $body) = post('https', $https_port, @session, "Referer: http://127.0.0.1:$https_port/static/");
is("$status $body", '403 ' . failed($reason{INSECURE}), 'HTTPS, session, an http:// Referer: 403, Django\'s "insecure" reason');

($status, $body) = post('https', $https_port, "Cookie: sessionid=$key; csrftoken=$csrf", "Referer: $origin/static/");
is("$status $body", '403 ' . failed($reason{BAD_TOKEN}), 'HTTPS, session, same-origin Referer but no token: still 403 (the token is checked after)');

($status, $body) = post('https', $https_port, @session, "Referer: $origin/static/");
is($status, 201, 'HTTPS, session, a same-origin https:// Referer and the token: 201') or diag $body;
like($body, qr/"song":"https-song"/, '...the song is written');

($status, $body) = post('http', $plain_port, @session);
is($status, 201, 'plain HTTP, session, no Referer: 201 (the Referer is checked over HTTPS only)') or diag $body;

($status, $body) = post('https', $https_port, $t::Music::admin);
is($status, 201, 'HTTPS, Basic, no Referer and no token: 201 (Basic is not CSRF-checked)') or diag $body;

unlike($n->error_log, qr/\[(?:alert|crit|emerg)\]|\Q$t::Session::secret\E/, 'no alert in the error log, and no secret');
$n->stop;
done_testing();
