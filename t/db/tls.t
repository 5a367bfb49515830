# TLS to PostgreSQL (music_database's sslmode, sslrootcert, sslcert/sslkey, channel_binding),
# against a private cluster (t::Fault::Pg) with ssl = on, a CA and a server certificate for
# "localhost" made by openssl, and a pg_hba.conf that takes TCP sessions only over TLS
# (hostssl): SCRAM-SHA-256 for passwords, `cert` for the role ngxm_cert. The handshake runs on
# nginx's own OpenSSL: the module links no TLS library of its own.
use strict;
use warnings;
use Test::More;
use t::Music qw(request);
use t::Fault qw(start_nginx stop_nginx);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $pg = t::Fault::Pg->new;
my $tls = $pg->enable_tls(client => 'ngxm_cert');
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
$pg->psql(q{CREATE ROLE ngxm_cert LOGIN SUPERUSER});
my ($pass) = $pg->url =~ m{://[^:]+:([^@]+)@} or die 'no password in ' . $pg->url;
my $port = $pg->port;
my $sockdir = $pg->dir . '.sock';
{
    # TCP only over TLS; the unix socket as build/pg has it (peer)
    open my $fh, '>', $pg->dir . '/pg_hba.conf' or die $!;
    print $fh "local   all all                 peer map=ngx_music\n",
        "hostssl all ngxm_cert 127.0.0.1/32  cert\n",
        "hostssl all all       127.0.0.1/32  scram-sha-256\n";
    close $fh;
    $pg->psql('SELECT pg_reload_conf()');
}

my $auth = $t::Music::admin;
my $unavailable = '{"detail":"Database unavailable."}';
my $password = "user=postgres password=$pass dbname=postgres";

# nginx with this music_database (one worker), one GET of a single row; returns the answer,
# the error log and the running nginx (for pg_stat_ssl), which the caller stops.
sub get_via {
    my ($conninfo) = @_;
    my $n = start_nginx(name => 'tls', url => $conninfo, workers => 1,
        http => 'music_connect_timeout 2s; music_pool_timeout 2s;');
    my ($r) = $n->parallel(5, request('GET', '/api/musics/1/detail/', headers => $auth, close => 1));
    return ($r, $n->error_log, $n);
}

sub answers_200 {
    my ($conninfo, $name, $want_tls) = @_;
    my ($r, $log, $n) = get_via($conninfo);
    my $ok = is($r->{status}, 200, $name);
    diag $log unless $ok;
    my ($sessions, $over_tls) = $pg->ssl_sessions;
    if ($want_tls) {
        ok($sessions > 0 && $over_tls == $sessions, "$name: the module's sessions are TLS in pg_stat_ssl ($over_tls of $sessions)");
    } else {
        ok($sessions > 0 && $over_tls == 0, "$name: the module's sessions are not TLS ($over_tls of $sessions)");
    }
    stop_nginx($n);
}

# A refusal: 503 "Database unavailable." for the client, the reason in an [error] line, and
# no session at all (never a clear-text one instead).
sub refused {
    my ($conninfo, $name, $reason) = @_;
    my ($r, $log, $n) = get_via($conninfo);
    is("$r->{status} $r->{body}", "503 $unavailable", "$name: 503 for the client");
    my @lines = grep { /\[error\]/ && /$reason/ } split /\n/, $log;
    ok(@lines >= 1, "$name: the error log says why") or diag $log;
    my ($sessions) = $pg->ssl_sessions;
    is($sessions, 0, "$name: no session was opened");
    stop_nginx($n);
    return $lines[0] // '';
}

answers_200("host=localhost port=$port $password sslmode=verify-full sslrootcert=$tls/ca.pem",
    'verify-full against the right CA and host name', 1);
answers_200("postgres://postgres:$pass\@localhost:$port/postgres?sslmode=verify-full&sslrootcert=$tls/ca.pem&channel_binding=require",
    'URL form, channel_binding=require (SCRAM-SHA-256-PLUS, tls-server-end-point)', 1);
answers_200("host=localhost port=$port user=ngxm_cert dbname=postgres sslmode=verify-full sslrootcert=$tls/ca.pem sslcert=$tls/client.pem sslkey=$tls/client.key",
    'a client certificate (pg_hba cert)', 1);
answers_200("host=127.0.0.1 port=$port $password sslmode=require", 'require: TLS, the certificate unchecked', 1);
answers_200("host=127.0.0.1 port=$port $password", 'the default (prefer) uses TLS where the server offers it', 1);
answers_200("host=127.0.0.1 port=$port $password sslmode=allow", 'allow: TLS once the server refuses clear text', 1);
answers_200("host=$sockdir port=$port user=postgres dbname=postgres sslmode=require", 'a unix socket never uses TLS', 0);

my $line = refused("host=localhost port=$port $password sslmode=verify-full sslrootcert=$tls/other-ca.pem",
    'a CA that did not sign the server certificate', 'certificate verify failed');
like($line, qr/TLS to "localhost": certificate verify failed: self-signed certificate in certificate chain/,
    'the line names the host and the reason');
refused("host=localhost port=$port $password sslmode=require sslrootcert=$tls/other-ca.pem",
    'require with sslrootcert checks the chain (verify-ca)', 'TLS to "localhost": certificate verify failed');
refused("host=127.0.0.1 port=$port $password sslmode=verify-full sslrootcert=$tls/ca.pem",
    'a host name the certificate does not name',
    qr/TLS to "127\.0\.0\.1": the server's certificate does not match host name "127\.0\.0\.1"/);
refused("host=127.0.0.1 port=$port $password sslmode=disable", 'sslmode=disable against a TLS-only server',
    qr/no pg_hba\.conf entry for host "127\.0\.0\.1", user "postgres", database "postgres", no encryption/);

# sslcrl: a CRL of the test CA, first empty, then with the server's certificate revoked
{
    my $cnf = "$tls/ca.cnf";
    open my $fh, '>', $cnf or die $!;
    print $fh "[ca]\ndefault_ca = test\n[test]\ndatabase = $tls/index.txt\ncrlnumber = $tls/crlnumber\n",
        "default_md = sha256\ndefault_crl_days = 2\n";
    close $fh;
    open $fh, '>', "$tls/index.txt" or die $!; close $fh;
    open $fh, '>', "$tls/crlnumber" or die $!; print $fh "01\n"; close $fh;
    my $ca = "-config $cnf -keyfile $tls/ca.key -cert $tls/ca.pem";
    for my $cmd ("ca $ca -gencrl -out $tls/crl-empty.pem", "ca $ca -revoke $tls/server.pem",
        "ca $ca -gencrl -out $tls/crl-revoked.pem") {
        my $out = `openssl $cmd 2>&1`;
        die "openssl $cmd:\n$out" if $?;
    }
}
answers_200("host=localhost port=$port $password sslmode=verify-full sslrootcert=$tls/ca.pem sslcrl=$tls/crl-empty.pem",
    'sslcrl that revokes nothing', 1);
refused("host=localhost port=$port $password sslmode=verify-full sslrootcert=$tls/ca.pem sslcrl=$tls/crl-revoked.pem",
    'sslcrl revoking the server certificate', 'TLS to "localhost": certificate verify failed: certificate revoked');
refused("host=localhost port=$port $password sslrootcert=system",
    'sslrootcert=system (verify-full against the system CAs, which do not know the test CA)',
    'TLS to "localhost": certificate verify failed');

# A statement over music_query_timeout is cancelled on the server over TLS too (the cancel
# request goes with the session's sslmode): 504, and the statement is gone at once.
{
    $pg->psql(q{CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS $$ BEGIN IF NEW.song = 'slow' THEN PERFORM pg_sleep(8); END IF; RETURN NEW; END $$ LANGUAGE plpgsql});
    $pg->psql(q{CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song()});
    my $n = start_nginx(name => 'tls-cancel', workers => 1, http => 'music_query_timeout 1s;',
        url => "host=localhost port=$port $password sslmode=verify-full sslrootcert=$tls/ca.pem");
    my ($r) = $n->parallel(10, request('POST', '/api/musics/', headers => "Content-Type: application/json\r\n$auth",
        body => '{"song":"slow","singer":"s"}', close => 1));
    is($r->{status}, 504, 'a statement over music_query_timeout: 504');
    my $gone = t::Fault::wait_until(4, sub {
        $pg->psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'}) eq '0' });
    ok($gone, 'it was cancelled on the server over TLS (not left running)');
    is($pg->psql(q{SELECT count(*) FROM music WHERE song = 'slow'}), '0', 'and left no row');
    stop_nginx($n);
}

# Many records over TLS: 40 concurrent single-row GETs (batched and pipelined on the worker's
# connections, so that several answers arrive in one socket read, or a read ends between two)
# each get their own row, and 10 concurrent lists of 1,000 rows (about 170 kB each, read whole,
# pipelined on one connection: records that fill OpenSSL's read buffer while the socket holds
# more) have every row, in order.
{
    $pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created)
        SELECT 'song_' || i, 'singer_' || i, now(), now() FROM generate_series(1, 999) AS i});
    my @ids = split /\n/, $pg->psql(q{SELECT id FROM music ORDER BY id DESC LIMIT 40});
    my @all = split /\n/, $pg->psql(q{SELECT id FROM music ORDER BY id});
    my $n = start_nginx(name => 'tls-records', workers => 1,
        url => "host=localhost port=$port $password sslmode=require");
    my @r = $n->parallel(10, map { request('GET', "/api/musics/$_/", headers => $auth, close => 1) } @ids);
    my @got = map { $_->{status} == 200 && $_->{body} =~ /^\{"id":(\d+),"song":"song_/ ? $1 : $_->{status} } @r;
    is("@got", "@ids", '40 concurrent GETs over TLS: 200, each with its own row');
    my @lists = $n->parallel(20, map { request('GET', '/api/musics/', headers => $auth, close => 1) } 1 .. 10);
    my @whole = grep {
        my @listed = $_->{body} =~ /\{"id":(\d+),/g;
        $_->{status} == 200 && "@listed" eq "@all" && $_->{body} =~ /\]\z/
    } @lists;
    ok(@all == 1000 && @whole == 10, '10 concurrent lists of 1,000 rows over TLS: 200, every row in order, the array closed')
        or diag scalar(@whole) . ' of 10 whole; statuses ' . join ' ', map { $_->{status} } @lists;
    stop_nginx($n);
}

# channel_binding=require where the server has no TLS (the suite's shared database): refused
{
    my $plain = $ENV{TEST_NGINX_PG_URL};
    if (t::Music::psql('SHOW ssl') eq 'off') {
        my $sep = $plain =~ /\?/ ? '&' : '?';
        my $n = start_nginx(name => 'tls-cb', url => "$plain${sep}channel_binding=require", workers => 1);
        my ($r) = $n->parallel(5, request('GET', '/api/musics/', headers => $auth, close => 1));
        is("$r->{status} $r->{body}", "503 $unavailable", 'channel_binding=require without TLS: 503');
        like($n->error_log, qr/\[error\].*server did not use channel binding/, 'and the log says why');
        stop_nginx($n);
    } else {
        pass('the shared database has TLS: no clear-text server for channel_binding=require') for 1 .. 2;
    }
}

# nginx -t: what cannot be used is refused with the parameter named
sub nginx_t {
    my ($conninfo) = @_;
    my $n = t::Nginx->new(name => 'tls-t');
    $n->write_conf(t::Fault::nginx_conf(port => $n->port, url => $conninfo));
    my $bin = t::Nginx::binary();
    my $root = $n->root;
    my $out = `$bin -p $root/ -c conf/nginx.conf -e logs/error.log -t 2>&1`;
    return ($? == 0, $out);
}
for (
    ["host=localhost user=u sslcrldir=/etc/crl", qr/\[emerg\].*unsupported parameter "sslcrldir"/],
    ["host=localhost user=u sslmode=verify-full", qr/\[emerg\].*sslmode=verify-full needs sslrootcert=/],
    ["host=localhost user=u sslmode=verify-full sslrootcert=$tls/missing.pem", qr/\[emerg\].*cannot load sslrootcert "\Q$tls\E\/missing\.pem"/],
    ["host=localhost user=u sslcert=$tls/client.pem sslkey=$tls/ca.key", qr/\[emerg\].*cannot use sslcert "\Q$tls\E\/client\.pem" with sslkey/],
) {
    my ($conninfo, $why) = @$_;
    my ($ok, $out) = nginx_t($conninfo);
    ok(!$ok && $out =~ $why, "nginx -t refuses: $conninfo") or diag $out;
}

# One libssl in the process: the module links none; its OpenSSL symbols are nginx's.
SKIP: {
    my ($so) = grep { /\.so$/ } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    skip 'no module path (TEST_NGINX_LOAD_MODULES)', 3 unless $so && -e $so;
    my $needed = `readelf -d $so 2>&1`;
    unlike($needed, qr/NEEDED.*(libssl|libcrypto)/, 'readelf -d: the module needs no libssl or libcrypto');
    like(`nm -D --undefined-only $so 2>&1`, qr/\bSSL_get_verify_result\b/, 'its SSL calls are undefined symbols, resolved from nginx');
    my $bin = t::Nginx::binary();
    $bin = `command -v $bin` =~ s/\s+$//r unless $bin =~ m{/};
    my @libssl = grep { /libssl/ } split /\n/, `ldd $bin 2>&1`;
    is(scalar @libssl, 1, 'nginx itself has one libssl') or diag `ldd $bin`;
}

done_testing;
