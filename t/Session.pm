package t::Session;
# Django sessions for the t/ files: session rows written by Django 3.2 itself (python3-django),
# and CSRF tokens masked as Django masks them.
use strict;
use warnings;
use t::Music ();

our $secret = 'ngxm-test-secret-current';
our $old_secret = 'ngxm-test-secret-older';

# The secret files a block's user_files writes (the config names them relative to conf/).
our $secret_files = ">>> django_secret\n$secret\n>>> django_secret_old\n$old_secret\n";
our $directive = "music_django_secret_key_file ../html/django_secret ../html/django_secret_old;";

sub django_available {
    return system('/usr/bin/python3 -c "import django" 2>/dev/null') == 0;
}

# Django's own SessionStore.encode of a logged-in session (legacy => 1: the pre-3.1 format).
sub django_session_data {
    my (%o) = @_;
    local $ENV{NGXM_SECRET} = $o{secret} // $secret;
    local $ENV{NGXM_USER_ID} = $o{user_id};
    local $ENV{NGXM_PASSWORD} = $o{password_hash};
    local $ENV{NGXM_LEGACY} = $o{legacy} ? 1 : 0;
    local $ENV{NGXM_BACKEND} = $o{backend} // 'django.contrib.auth.backends.ModelBackend';
    my $py = <<'_PY_';
import os
from django.conf import settings
settings.configure(SECRET_KEY=os.environ['NGXM_SECRET'], INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.sessions'])
import django
django.setup()
from django.contrib.sessions.backends.db import SessionStore
from django.utils.crypto import salted_hmac
h = salted_hmac('django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash', os.environ['NGXM_PASSWORD'], algorithm='sha256').hexdigest()
d = {'_auth_user_id': os.environ['NGXM_USER_ID'], '_auth_user_backend': os.environ['NGXM_BACKEND'], '_auth_user_hash': h}
s = SessionStore()
print(s._legacy_encode(d) if os.environ['NGXM_LEGACY'] == '1' else s.encode(d))
_PY_
    open(my $fh, '-|', '/usr/bin/python3', '-c', $py) or die "python3: $!";
    local $/;
    my $out = <$fh>;
    close $fh or die "python3 failed\n";
    $out =~ s/\s+\z//;
    return $out;
}

sub add_session {
    my ($key, $data, $expire) = @_;
    $expire //= "now() + interval '1 day'";
    t::Music::psql(qq{DELETE FROM django_session WHERE session_key = '$key';
        INSERT INTO django_session VALUES ('$key', '$data', $expire);});
}

# A session row for $username as Django's login writes it; returns the cookie header line.
sub login {
    my ($key, $username, %o) = @_;
    my ($id, $pw) = split /\|/, t::Music::psql("SELECT id, password FROM auth_user WHERE username = '$username'");
    add_session($key, django_session_data(%o, user_id => $id, password_hash => $pw), $o{expire});
    return "Cookie: sessionid=$key";
}

my @CHARS = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
my %INDEX = map { $CHARS[$_] => $_ } 0 .. $#CHARS;

# Django's _mask_cipher_secret with a given mask.
sub mask {
    my ($secret32, $mask32) = @_;
    my @s = split //, $secret32;
    my @m = split //, $mask32;
    return $mask32 . join '', map { $CHARS[($INDEX{$s[$_]} + $INDEX{$m[$_]}) % 62] } 0 .. 31;
}

our $csrf_secret = 'Abcdefghijklmnopqrstuvwxyz012345';
our $csrf_cookie = mask($csrf_secret, 'a' x 32);
our $csrf_other_mask = mask($csrf_secret, 'Zz09' x 8);

# Runs Python in the original Django project's `manage.py shell` (in $project) against the
# database of $url; returns what it printed.
sub django_shell {
    my ($project, $url, $code) = @_;
    my ($user, $pass, $host, $port, $db) =
        $url =~ m{^postgres(?:ql)?://([^:]+):([^@]+)@([^:/]+):(\d+)/([^?]+)} or die "no database in $url\n";
    local $ENV{DJANGO_DB_NAME} = $db;
    local $ENV{DJANGO_DB_USER} = $user;
    local $ENV{DJANGO_DB_PASSWORD} = $pass;
    local $ENV{DJANGO_DB_HOST} = $host;
    local $ENV{DJANGO_DB_PORT} = $port;
    open(my $fh, '-|', 'sh', '-c', 'cd "$0" && /usr/bin/python3 manage.py shell -c "$1" 2>&1', $project, $code)
        or die "manage.py: $!";
    local $/;
    my $out = <$fh>;
    close $fh or die "manage.py shell failed: $out\n";
    $out =~ s/\s+\z//;
    return $out;
}

1;
