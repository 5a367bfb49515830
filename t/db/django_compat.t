# Both directions of Django compatibility (issue: "the module runs against a database that
# Django created, and Django can run against one the module created"):
#  1. a database made from Django's own schema (t/fixtures/django_schema.sql, a pg_dump of a
#     database `manage.py migrate` built): bootstrap-db adds only the admin user, and the
#     module serves the API on it;
#  2. a database made by bootstrap-db: the original project's `manage.py migrate` applies only
#     admin (the bootstrap made sessions too), `manage.py check` passes, and Django authenticates the admin user
#     with the hash the bootstrap wrote (skipped when Django is not installed).
use strict;
use warnings;
use Test::More;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 9;

my $root = $ENV{TEST_NGINX_PROJECT} // '.';
my $base = $ENV{TEST_NGINX_PG_URL};
my $psql = ($ENV{PGBIN} // '/usr/lib/postgresql/15/bin') . '/psql';

sub url_for { my ($db) = @_; (my $u = $base) =~ s{/[^/]*$}{/$db}; $u }
sub run_quiet { my $out = `@_ 2>&1`; return ($? == 0, $out) }

for my $db (qw(ngxm_django_made ngxm_module_made)) {
    t::Music::psql("DROP DATABASE IF EXISTS $db");
    t::Music::psql("CREATE DATABASE $db");
}

# 1. Django's database, then the module
my ($ok, $out) = run_quiet("$psql -X -q -v ON_ERROR_STOP=1 -d '" . url_for('ngxm_django_made') . "' -f $root/t/fixtures/django_schema.sql");
ok($ok, 'the Django-made schema loads') or diag $out;
($ok, $out) = run_quiet("MUSIC_AUTH_LISTEN=1 $root/build/bootstrap-db '" . url_for('ngxm_django_made') . "'");
ok($ok && $out =~ /created superuser 'admin'/, 'bootstrap-db only adds the admin user') or diag $out;

my $n = t::Nginx->new(name => 'django-made');
my $port = $n->port;
my $dburl = url_for('ngxm_django_made');
$n->write_conf(<<"EOC");
events { worker_connections 64; }
http {
    access_log off;
    music_database "$dburl";
    server { listen 127.0.0.1:$port; location /api/ { music_api; } }
}
EOC
$n->start;
my $auth = "$t::Music::admin\nContent-Type: application/json";
my ($created) = $n->parallel(5, t::Music::request('POST', '/api/musics/', headers => $auth, body => '{"song":"s","singer":"t"}',
    close => 1));
is($created->{status}, 201, 'the module creates an item in the Django-made database');
my ($list) = $n->parallel(5, t::Music::request('GET', '/api/musics/', headers => $auth, close => 1));
like($list->{body}, qr/"song":"s","singer":"t"/, 'and lists it');
$n->stop;

# 2. the module's database, then Django
($ok, $out) = run_quiet("MUSIC_AUTH_LISTEN=1 $root/build/bootstrap-db '" . url_for('ngxm_module_made') . "'");
ok($ok, 'bootstrap-db creates the schema on an empty database') or diag $out;

# The original Django project (the directory of its manage.py), when there is one to test
# with: build/test passes it in NGX_MUSIC_DJANGO_PROJECT.
my $api = $ENV{NGX_MUSIC_DJANGO_PROJECT} // '';
my $django = length $api && -d $api && system('/usr/bin/python3 -c "import django, rest_framework, corsheaders, psycopg2" 2>/dev/null') == 0;
SKIP: {
    skip 'Django 3.2 / DRF / psycopg2 missing, or NGX_MUSIC_DJANGO_PROJECT not set', 4 unless $django;
    my ($user, $pass, $host, $pgport) = $base =~ m{^postgres(?:ql)?://([^:]+):([^@]+)@([^:/]+):(\d+)/};
    local $ENV{DJANGO_DB_NAME} = 'ngxm_module_made';
    local $ENV{DJANGO_DB_USER} = $user;
    local $ENV{DJANGO_DB_PASSWORD} = $pass;
    local $ENV{DJANGO_DB_HOST} = $host;
    local $ENV{DJANGO_DB_PORT} = $pgport;
    ($ok, $out) = run_quiet("cd $api && /usr/bin/python3 manage.py migrate --noinput");
    ok($ok, 'manage.py migrate succeeds on the module-made database') or diag $out;
    unlike($out, qr/Applying (auth|contenttypes|musics|sessions)\./, '...applying only the apps the module does not create');
    ($ok, $out) = run_quiet("cd $api && /usr/bin/python3 manage.py check");
    ok($ok, 'manage.py check passes') or diag $out;
    ($ok, $out) = run_quiet(qq{cd $api && /usr/bin/python3 manage.py shell -c "from django.contrib.auth import authenticate; print(authenticate(username='admin', password='admin1234') is not None)"});
    like($out, qr/^True$/m, 'Django authenticates the admin user the bootstrap created') or diag $out;
}

$n = undef;
for my $db (qw(ngxm_django_made ngxm_module_made)) {
    t::Music::psql("DROP DATABASE IF EXISTS $db WITH (FORCE)");
}
