# music_auth_listen (README "Sessions and CSRF"): with the triggers build/bootstrap-db installs
# when MUSIC_AUTH_LISTEN=1, a changed password, a deactivated user and a deleted session row
# stop working in a worker within milliseconds, although the worker's cache would trust them for
# music_auth_cache_valid (60 s here); after the LISTEN connection is killed the worker listens
# again and invalidation works again, also after PostgreSQL restarted. With
# "music_auth_listen off", or with the triggers
# removed (build/sql/auth_listen_drop.sql), a cached answer persists and ends within
# music_auth_cache_valid, as before.
#
# With the original Django project (NGX_MUSIC_DJANGO_PROJECT, as t/db/sessions_django.t): a
# session Django's login() made is refused once Django's logout() deleted it, and Django's
# set_password() + save() refuses the old password; a reload's old worker exits at once.
#
# A private cluster (t::Fault::Pg): the triggers and the killed backend concern no other file.
# Delays are measured from psql's return (the change is committed) to the first 403.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use List::Util qw(max);
use t::Music qw(request);
use t::Session;
use t::Fault qw(start_nginx stop_nginx wait_until);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
my $sessions = t::Session::django_available();
my $api = $ENV{NGX_MUSIC_DJANGO_PROJECT} // '';
my $django = length $api && -d $api
    && system('/usr/bin/python3 -c "import django, rest_framework, corsheaders, psycopg2" 2>/dev/null') == 0;
plan tests => 32;

# Seconds: far below the 60 s music_auth_cache_valid of the listening nginx, with room for a
# loaded machine (and valgrind, under build/memcheck).
my $bound = 0.3 * t::Nginx::slowdown();
my $slack = 0.5 * t::Nginx::slowdown();
my $root = t::Fault::project_root();

$ENV{MUSIC_AUTH_LISTEN} = 1;   # build/bootstrap-db installs the triggers
my $pg = t::Fault::Pg->new;
delete $ENV{MUSIC_AUTH_LISTEN};
$ENV{TEST_NGINX_PG_URL} = $pg->url;   # t::Music's and t::Session's helpers use this cluster
is($pg->psql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ngx_music_auth_%'"), 4,
    'bootstrap-db with MUSIC_AUTH_LISTEN=1 installs the four triggers');

# The project's manage.py shell on the private cluster.
sub django { t::Session::django_shell($api, $pg->url, $_[0]) }

# Django's SECRET_KEY first (its sessions verify), t::Session's as an older key.
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my @secrets = $django ? (django('from django.conf import settings; print(settings.SECRET_KEY)')) : ();
push @secrets, $t::Session::secret;
for my $i (0 .. $#secrets) {
    open my $fh, '>', "$dir/secret$i" or die $!;
    print $fh "$secrets[$i]\n";
}
my $secret_files = join ' ', map { "$dir/secret$_" } 0 .. $#secrets;

my %hash = map { $_ => t::Music::django_hash($_, "salt$_") } qw(pw-a pw-b);
t::Music::add_user('changer', 'pw-a', salt => 'saltpw-a');
t::Music::add_user('leaver', 'pw-l');

sub nginx {
    my ($listen, $valid) = @_;
    return start_nginx(
        name => "auth-listen-$listen",
        url => $pg->url,
        workers => 1,
        http => "music_auth_listen $listen; music_auth_cache_valid $valid; "
            . "music_django_secret_key_file $secret_files;",
    );
}

sub status {
    my ($n, $headers) = @_;
    my ($r) = $n->parallel(5, request('GET', '/api/musics/', headers => $headers, close => 1));
    return $r->{status};
}

# Seconds from now until the first 403 for $headers, polling for at most $limit (undef: none).
sub until_403 {
    my ($n, $headers, $limit) = @_;
    my $t0 = time;
    while (time - $t0 < $limit) {
        return time - $t0 if status($n, $headers) == 403;
    }
    return undef;
}

sub ms { defined $_[0] ? sprintf('%.1f ms', 1000 * $_[0]) : 'never' }

sub median {
    my @s = sort { $a <=> $b } @_;
    return $s[$#s / 2];
}

# 'changer''s password now: pw-a or pw-b.
sub current_password {
    return $pg->psql("SELECT password FROM auth_user WHERE username = 'changer'") eq $hash{'pw-a'}
        ? 'pw-a' : 'pw-b';
}

# $rounds password changes of 'changer' (pw-a <-> pw-b): each time the old password is
# cached (200), the UPDATE commits, then the old password is polled until it is refused.
# Returns the delays (undef: still accepted after $limit seconds).
sub password_changes {
    my ($n, $rounds, $limit) = @_;
    my @delays;
    for my $i (1 .. $rounds) {
        my $old = current_password();
        my $new = $old eq 'pw-a' ? 'pw-b' : 'pw-a';
        my $cached = status($n, t::Music::basic('changer', $old)) == 200
            && status($n, t::Music::basic('changer', $old)) == 200;
        die "round $i: the old password was not accepted before the change" unless $cached;
        $pg->psql("UPDATE auth_user SET password = '$hash{$new}' WHERE username = 'changer'");
        push @delays, until_403($n, t::Music::basic('changer', $old), $limit);
    }
    return @delays;
}

sub listen_backends {
    $pg->psql("SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN ngx_music_auth' ORDER BY pid");
}

# ---- music_auth_listen on, triggers installed
my $n = nginx('on', '60s');
status($n, t::Music::basic('leaver', 'pw-l'));
ok(wait_until(5, sub { listen_backends() ne '' }, 0.05), 'the worker opens its LISTEN connection with its first request');

my @delays = password_changes($n, 20, 2);
my $worst = max(map { $_ // 99 } @delays);
cmp_ok($worst, '<', $bound, sprintf('20 password changes: the old password is refused within %s of the commit (median %s, max %s)',
    ms($bound), ms(median(map { $_ // 99 } @delays)), ms($worst)));
diag sprintf 'with LISTEN: %d password changes, delay from commit to the first 403: median %s, max %s',
    scalar @delays, ms(median(map { $_ // 99 } @delays)), ms($worst);
is(status($n, t::Music::basic('changer', current_password())), 200, 'the new password works');

is(status($n, t::Music::basic('leaver', 'pw-l')), 200, 'a user is cached');
$pg->psql("UPDATE auth_user SET is_active = false WHERE username = 'leaver'");
my $d = until_403($n, t::Music::basic('leaver', 'pw-l'), 2);
ok(defined $d && $d < $bound, 'deactivated: refused within ' . ms($bound) . ' (' . ms($d) . ')');
$pg->psql("UPDATE auth_user SET is_active = true WHERE username = 'leaver'");
is(status($n, t::Music::basic('leaver', 'pw-l')), 200, 'active again: accepted again');
$pg->psql("UPDATE auth_user SET last_login = now() WHERE username = 'leaver'");
is(status($n, t::Music::basic('leaver', 'pw-l')), 200, "an update of another column (last_login, as Django's login writes) goes through and changes nothing");

SKIP: {
    skip 'python3-django is needed to make the sessions', 3 unless $sessions;
    my $cookie = t::Session::login('listenlistenlistenlistenlisten01', 'leaver');
    is(status($n, $cookie), 200, 'a session is cached');
    $pg->psql("DELETE FROM django_session WHERE session_key = 'listenlistenlistenlistenlisten01'");
    $d = until_403($n, $cookie, 2);
    ok(defined $d && $d < $bound, 'its row deleted (a logout elsewhere): refused within ' . ms($bound) . ' (' . ms($d) . ')');
    $cookie = t::Session::login('listenlistenlistenlistenlisten02', 'changer');
    status($n, $cookie);
    my $other = current_password() eq 'pw-a' ? 'pw-b' : 'pw-a';
    $pg->psql("UPDATE auth_user SET password = '$hash{$other}' WHERE username = 'changer'");
    $d = until_403($n, $cookie, 2);
    ok(defined $d && $d < $bound, "the user's password changed: the session is refused within " . ms($bound) . ' (' . ms($d) . ')');
}

SKIP: {
    skip 'Django 3.2 / DRF / psycopg2 missing, or NGX_MUSIC_DJANGO_PROJECT not set', 4 unless $django;
    my $key = django(q{from django.test import Client
c = Client()
assert c.login(username='leaver', password='pw-l')
print(c.cookies['sessionid'].value)});
    my $cookie = "Cookie: sessionid=$key";
    is(status($n, $cookie), 200, "a session Django's login() made is accepted (and cached)");
    django(qq{from django.test import Client
c = Client()
c.cookies['sessionid'] = '$key'
c.logout()});
    $d = until_403($n, $cookie, 2);
    ok(defined $d && $d < $bound, "Django's logout(): refused within " . ms($bound) . ' (' . ms($d) . ')');
    my $old = current_password();
    is(status($n, t::Music::basic('changer', $old)), 200, 'cached');
    django(q{from django.contrib.auth.models import User
u = User.objects.get(username='changer')
u.set_password('pw-django')
u.save()});
    # the first check after the change hashes the old password with Django's 260000 iterations
    my $hashing = 1 * t::Nginx::slowdown();
    $d = until_403($n, t::Music::basic('changer', $old), 10 * t::Nginx::slowdown());
    ok(defined $d && $d < $hashing, "Django's set_password() and save(): the old password refused within "
        . ms($hashing) . ', PBKDF2 included (' . ms($d) . ')');
    $pg->psql("UPDATE auth_user SET password = '$hash{'pw-a'}' WHERE username = 'changer'");
}

# ---- the LISTEN connection killed
my $before = listen_backends();
$pg->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN ngx_music_auth'");
my $again = wait_until(5, sub { my $now = listen_backends(); $now ne '' && $now ne $before }, 0.05);
ok($again, 'the LISTEN connection killed: the worker listens again');
@delays = password_changes($n, 2, 2);
$worst = max(map { $_ // 99 } @delays);
cmp_ok($worst, '<', $bound, 'and a password change is refused within ' . ms($bound) . ' again (' . ms($worst) . ')');
my $log = $n->error_log;
like($log, qr/\[warn\].*music: the connection listening for auth changes on \S+ was lost/, 'the loss is logged as a warning');
is(scalar(() = $log =~ /\[notice\].*music: listening for auth changes on/g), 2, 'listening is logged at start and after the loss');
my @errors = grep { /\[(error|alert|crit|emerg)\]/ && !/ user "\w+":? (password mismatch|is inactive)/ } split /\n/, $log;
is_deeply(\@errors, [], 'no error in the log but the refused logins');

# ---- PostgreSQL restarted: attempts fail while it is down, then the worker listens again
$pg->stop('fast');
sleep 1;
$pg->start;
ok(wait_until(10, sub { listen_backends() ne '' }, 0.05), 'PostgreSQL restarted: the worker listens again');
wait_until(10, sub { status($n, t::Music::basic('changer', current_password())) == 200 }, 0.1);
@delays = password_changes($n, 1, 2);
ok(defined $delays[0] && $delays[0] < $bound, 'and a password change is refused within ' . ms($bound) . ' (' . ms($delays[0]) . ')');
like($n->error_log, qr/\[warn\].*music: cannot listen for auth changes: .* \(next attempt in \d+ ms\)/,
    'the failed attempts are logged as warnings');

# ---- a reload: the old worker's LISTEN connection does not keep it
my @old = $n->workers;
$n->signal('HUP');
ok(wait_until(5 * t::Nginx::slowdown(), sub { !grep { kill 0, $_ } @old }, 0.05),
    'reload: the old worker exits at once');
@delays = password_changes($n, 1, 2);
ok(defined $delays[0] && $delays[0] < $bound, 'the new worker listens: refused within ' . ms($bound) . ' (' . ms($delays[0]) . ')');
is_deeply([stop_nginx($n)], [], 'QUIT: the worker exits');
unlike($n->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log (no socket left open at exit)');

# ---- music_auth_listen off: the time bound
$n = nginx('off', '1s');
@delays = password_changes($n, 2, 3);
ok((grep { defined && $_ > 0.3 && $_ < 1 + $slack } @delays) == 2,
    'off: the old password is accepted for a while, then refused within music_auth_cache_valid (' . join(', ', map { ms($_) } @delays) . ')');
is(listen_backends(), '', 'off: nothing listens');
stop_nginx($n);

# ---- music_auth_listen on, triggers removed
my $drop = join ' ', t::Music::psql_bin(), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', "'" . $pg->url . "'",
    '-f', "$root/build/sql/auth_listen_drop.sql";
my $out = `$drop 2>&1 && $drop 2>&1`;
my $dropped = $? == 0;
ok($dropped && $pg->psql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ngx_music_auth_%'") == 0,
    'build/sql/auth_listen_drop.sql removes the triggers (twice: no error)') or diag $out;
$n = nginx('on', '1s');
status($n, t::Music::basic('leaver', 'pw-l'));
ok(wait_until(5, sub { listen_backends() ne '' }, 0.05), 'on, without triggers: the worker listens');
@delays = password_changes($n, 2, 3);
ok((grep { defined && $_ > 0.3 && $_ < 1 + $slack } @delays) == 2,
    'but hears nothing: the time bound stays (' . join(', ', map { ms($_) } @delays) . ')');
stop_nginx($n);
