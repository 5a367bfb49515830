# The module built against the distribution's nginx (build/distro: Debian 12's nginx 1.22.1,
# --with-compat) in the stock /usr/sbin/nginx:
#
#   1. the stock nginx was built --with-compat and `nginx -t` accepts a configuration that
#      loads the module and uses its directives;
#   2. the module built by build/nginx + cargo (target/release/libngx_music.so, nginx 1.28.3) is
#      refused with nginx's "version N instead of M" message (what users see when the versions
#      differ), when the two versions differ;
#   3. a smoke subset of the suite (t/root.t, t/db/api.t, t/db/auth.t, t/db/input.t,
#      t/nginx_side.t, t/stats.t, and t/db/remote_user.t, whose auth_request blocks run only
#      in an nginx that has the module, as Debian's) run by prove with TEST_NGINX_BINARY=/usr/sbin/nginx and
#      TEST_NGINX_LOAD_MODULES=<the distro module>, against a database of its own (created in
#      the test PostgreSQL of build/test, bootstrapped with build/bootstrap-db, dropped at the
#      end: the t/db files running beside this one keep theirs).
#
# Skips, with the reason, when the distro build is absent (run build/distro), when there is no
# /usr/sbin/nginx, or, for 3., when there is no test PostgreSQL (TEST_NGINX_PG_URL).
#
# env: NGX_MUSIC_DISTRO_SO     the module (.build/distro/ngx_http_music_module.so)
#      NGX_MUSIC_DISTRO_NGINX  the nginx (/usr/sbin/nginx)
#      NGX_MUSIC_DISTRO_SMOKE  the files of 3., space-separated (the list above)
#      TEST_NGINX_LIB          the Test::Nginx to run them with (t/lib), as build/test
#
#   prove -I t/lib -I . t/distro/smoke.t
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find qw(find);
use File::Temp qw(tempdir);
use POSIX ();

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $AREA = $ENV{NGX_MUSIC_BUILD_AREA} // "$ROOT/.build";
my $SO = $ENV{NGX_MUSIC_DISTRO_SO} // "$AREA/distro/ngx_http_music_module.so";
my $NGINX = $ENV{NGX_MUSIC_DISTRO_NGINX} // '/usr/sbin/nginx';
my $MAIN_SO = "$ROOT/target/release/libngx_music.so";
my @SMOKE = split ' ', ($ENV{NGX_MUSIC_DISTRO_SMOKE}
    // 't/root.t t/db/api.t t/db/auth.t t/db/input.t t/nginx_side.t t/stats.t t/db/remote_user.t');
my $LIB = $ENV{TEST_NGINX_LIB} // "$ROOT/t/lib";

plan skip_all => "no distro build ($SO): run build/distro" unless -f $SO;
plan skip_all => "no distribution nginx ($NGINX)" unless -x $NGINX;

$SO = abs_path($SO);

# Runs a command (list form, no shell), stdin from /dev/null, environment changes applied
# (undef deletes); returns (exit code, stdout+stderr).
sub run {
    my ($env, @cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        open(STDIN, '<', '/dev/null');
        for my $k (keys %{ $env || {} }) {
            if (defined $env->{$k}) { $ENV{$k} = $env->{$k} } else { delete $ENV{$k} }
        }
        exec { $cmd[0] } @cmd or do { print "exec $cmd[0]: $!\n"; POSIX::_exit(127) };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub binary_version {
    my ($bin) = @_;
    my (undef, $out) = run({}, $bin, '-v');
    return $out =~ m{nginx version: [^/]*/(\d+)\.(\d+)\.(\d+)} ? $1 * 1_000_000 + $2 * 1_000 + $3 : undef;
}

# A stale build is still tested, but said so.
{
    my $newest = 0;
    find(sub { $newest = (stat _)[9] if -f $_ && (stat _)[9] > $newest }, "$ROOT/src");
    diag("note: $SO is older than src/ (run build/distro to rebuild it)") if (stat $SO)[9] < $newest;
}

# nginx -t of $bin on a configuration that loads $so and uses the module's directives.
sub nginx_t {
    my ($bin, $so) = @_;
    my $dir = tempdir('ngx-music-distro-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/$_" for qw(conf logs);
    open(my $fh, '>', "$dir/conf/nginx.conf") or die $!;
    print $fh <<"CONF";
load_module $so;
pid $dir/logs/nginx.pid;
error_log stderr;
thread_pool music_auth threads=1;
events {}
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    music_database "postgres://postgres:x\@127.0.0.1:5432/postgres";
    music_pool_size 4;
    music_time_zone Europe/Paris;
    server {
        listen 127.0.0.1:8080;
        location /api/ { music_api; music_auth_thread_pool music_auth; music_cors off; }
    }
}
CONF
    close $fh;
    return run({}, $bin, '-p', "$dir/", '-c', "$dir/conf/nginx.conf", '-e', 'stderr', '-t');
}

subtest 'the stock nginx loads the distro module' => sub {
    my (undef, $v) = run({}, $NGINX, '-V');
    like($v, qr/--with-compat\b/, "$NGINX was built --with-compat");
    my ($rc, $out) = nginx_t($NGINX, $SO);
    is($rc, 0, "$NGINX -t loads $SO and accepts its directives") or diag $out;
};

subtest 'a module built for another nginx version is refused, with the version numbers' => sub {
    plan skip_all => "no $MAIN_SO" unless -f $MAIN_SO;
    my $distro_v = binary_version($NGINX);
    my $main_nginx = "$AREA/nginx/sbin/nginx";
    my $main_v = -x $main_nginx ? binary_version($main_nginx) : undef;
    plan skip_all => 'the nginx versions are not known' unless $distro_v && $main_v;
    plan skip_all => "both nginx builds are version $main_v" if $distro_v == $main_v;
    my ($rc, $out) = nginx_t($NGINX, $MAIN_SO);
    isnt($rc, 0, "$NGINX refuses the module built for nginx $main_v");
    like($out, qr/\[emerg\] .*module "\Q$MAIN_SO\E" version $main_v instead of $distro_v/,
        "the message: module \"...\" version $main_v instead of $distro_v") or diag $out;
};

my ($pg_url, $psql, $dbname);

sub psql_admin {
    my ($sql) = @_;
    return run({ PGCONNECT_TIMEOUT => 5 }, $psql, '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $pg_url, '-c', $sql);
}

END {
    local $?;    # the test's exit status
    psql_admin("DROP DATABASE IF EXISTS $dbname WITH (FORCE)") if $dbname;
}

subtest 'the smoke subset of the suite, in the stock nginx' => sub {
    $pg_url = $ENV{TEST_NGINX_PG_URL};
    plan skip_all => 'no test PostgreSQL (TEST_NGINX_PG_URL; build/test sets it)' unless $pg_url;
    plan skip_all => 'TEST_NGINX_PG_URL is not a postgres:// URL with a database name'
        unless $pg_url =~ m{^postgres(?:ql)?://[^/]*/[^/?]*(?:\?.*)?$};
    $psql = ($ENV{PGBIN} // '/usr/lib/postgresql/15/bin') . '/psql';
    $psql = 'psql' unless -x $psql;

    # a database of its own: t/db files running at the same time reset theirs
    my $name = "ngxm_distro_$$";
    my ($rc, $out) = psql_admin("CREATE DATABASE $name");
    is($rc, 0, "database $name created") or return diag $out;
    $dbname = $name;
    (my $url = $pg_url) =~ s{^(postgres(?:ql)?://[^/]*/)[^/?]*}{$1$name};
    ($rc, $out) = run({ ADMIN_USER => undef, ADMIN_PASSWORD => undef, ADMIN_EMAIL => undef },
        "$ROOT/build/bootstrap-db", $url);
    is($rc, 0, 'bootstrapped (build/bootstrap-db)') or return diag $out;

    my %env = (
        TEST_NGINX_BINARY => $NGINX,
        TEST_NGINX_LOAD_MODULES => $SO,
        TEST_NGINX_PG_URL => $url,
        TEST_NGINX_PROJECT => $ROOT,
        TEST_NGINX_RANDOMIZE => 1,
        TEST_NGINX_SERVROOT => undef,
        TEST_NGINX_PORT => undef,
        TEST_NGINX_SERVER_PORT => undef,
    );
    chdir $ROOT or die "chdir $ROOT: $!";
    for my $file (@SMOKE) {
        if (!-f "$ROOT/$file") { fail("$file exists"); next }
        my ($rc, $out) = run(\%env, 'prove', '-I', $LIB, '-I', $ROOT, $file);
        my ($n) = $out =~ /^Files=\d+, Tests=(\d+),/m;
        is($rc, 0, "$file with $NGINX" . (defined $n ? " ($n tests)" : '')) or diag $out;
    }
};

done_testing();
