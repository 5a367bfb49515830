# How the module reaches PostgreSQL (music_database): TCP with SCRAM-SHA-256 (the suite's
# default), TCP with an md5 password, a unix socket directory, a host name, and a wrong
# password (a quick 503 and the server's own message in the error log, never the password).
use strict;
use warnings;
use Test::More;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan skip_all => 'TEST_NGINX_PG_DATA not set (run build/test)' unless $ENV{TEST_NGINX_PG_DATA};
plan tests => 6;

my ($pass, $port) = $ENV{TEST_NGINX_PG_URL} =~ m{://[^:]+:([^@]+)@[^:/]+:(\d+)/} or die;
my $sockdir = $ENV{TEST_NGINX_PG_SOCKET_DIR} // "$ENV{TEST_NGINX_PG_DATA}.sock";
my $hba = "$ENV{TEST_NGINX_PG_DATA}/pg_hba.conf";

# an md5 role, allowed by an md5 line ahead of the scram-sha-256 ones
t::Music::psql(q{DROP ROLE IF EXISTS ngxm_md5});
t::Music::psql(q{SET password_encryption = 'md5'; CREATE ROLE ngxm_md5 LOGIN SUPERUSER PASSWORD 'md5-secret'});
open my $in, '<', $hba or die "$hba: $!";
my @lines = grep { !/ngxm_md5/ } <$in>;
close $in;
open my $outfh, '>', $hba or die $!;
print $outfh "host all ngxm_md5 127.0.0.1/32 md5\n", @lines;
close $outfh;
t::Music::psql('SELECT pg_reload_conf()');
t::Music::reset_music();

sub detail_via {
    my ($conninfo) = @_;
    my $n = t::Nginx->new(name => 'pg-auth');
    my $p = $n->port;
    $n->write_conf(<<"EOC");
events { worker_connections 64; }
http {
    access_log off;
    music_database "$conninfo";
    server { listen 127.0.0.1:$p; location /api/ { music_api; } }
}
EOC
    $n->start;
    my ($r) = $n->parallel(5, t::Music::request('GET', '/api/musics/1/detail/', headers => $t::Music::admin, close => 1));
    $n->stop;
    return ($r, $n->error_log);
}

my ($r) = detail_via($ENV{TEST_NGINX_PG_URL});
is($r->{status}, 200, 'TCP + SCRAM-SHA-256');
($r) = detail_via("host=127.0.0.1 port=$port user=ngxm_md5 password=md5-secret dbname=postgres");
is($r->{status}, 200, 'TCP + md5 password, key=value form');
($r) = detail_via("host=$sockdir port=$port user=postgres dbname=postgres");
is($r->{status}, 200, 'unix socket directory');
($r) = detail_via("postgres://postgres:$pass\@localhost:$port/postgres");
is($r->{status}, 200, 'a host name (resolved when the configuration is read)');
my $log;
($r, $log) = detail_via("host=127.0.0.1 port=$port user=ngxm_md5 password=wrong-pw dbname=postgres");
is($r->{status}, 503, 'a wrong database password is a 503');
ok($log =~ /password authentication failed/ && $log !~ /wrong-pw/, 'the server\'s message is logged, the password is not')
    or diag $log;

open $outfh, '>', $hba or die $!;
print $outfh @lines;
close $outfh;
t::Music::psql('SELECT pg_reload_conf()');
t::Music::psql(q{DROP ROLE IF EXISTS ngxm_md5});
