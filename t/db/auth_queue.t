# music_auth_queue (nginx-tests style, with t::Nginx): while as many PBKDF2 checks as the
# directive allows are running in a worker, another first-time login is answered at once with
# 503 {"detail":"Authentication is busy, try again."}, an unknown user too (a 403 there would
# tell which user names exist); with a larger queue the same logins all succeed.
#
# Deterministic, not a race: one login with a very slow hash is sent first and is hashing
# (seconds) before the others are sent; they need only a user query to reach the queue.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 12;

my $BUSY = '{"detail":"Authentication is busy, try again."}';
my $PASSWORD = 'slow-pw';
# About 1 s of PBKDF2 per login here (more on a loaded machine): far longer than the user
# queries of the logins sent after the first one.
my $ITERATIONS = 3_000_000;
my @USERS = map { "slow$_" } 1 .. 5;

# One Django hash for all the users (computed by Python's C PBKDF2; Perl's would take
# minutes); distinct user names keep their checks apart (no shared single flight).
my $hash = `python3 -c 'import hashlib, base64, sys; print("pbkdf2_sha256\$%s\$slowsalt\$%s" % (sys.argv[1], base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"$PASSWORD", b"slowsalt", int(sys.argv[1]))).decode()))' $ITERATIONS`;
chomp $hash;
die "no hash from python3" unless $hash =~ /^pbkdf2_sha256\$/;
t::Music::reset_music();   # the song the logins read
for my $u (@USERS) {
    t::Music::psql(qq{DELETE FROM auth_user WHERE username = '$u';
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
            is_staff, is_active, date_joined)
        VALUES ('$hash', false, '$u', '', '', '', false, true, now());});
}

sub conf {
    my ($port, $queue) = @_;
    return <<"EOC";
worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    music_database "$ENV{TEST_NGINX_PG_URL}";
    server {
        listen 127.0.0.1:$port;
        location /api/ { music_api; $queue }
    }
}
EOC
}

sub login {
    my ($user, $password) = @_;
    return t::Music::request('GET', '/api/musics/1/detail/', headers => t::Music::basic($user, $password), close => 1);
}

# Sends the first user's login, waits until its PBKDF2 is surely running, then sends the
# others (and an unknown user) all at once; returns the first answer and the others'.
sub first_then_rest {
    my ($n) = @_;
    my $first = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
    $first->autoflush(1);
    print $first login($USERS[0], $PASSWORD);
    sleep 0.3;
    my @rest = $n->parallel(60, (map { login($_, $PASSWORD) } @USERS[1 .. $#USERS]), login('nobody-here', 'x'));
    local $/;
    my $raw = <$first> // '';
    my ($status) = $raw =~ m{^HTTP/1\.\d (\d{3})};
    return ($status // 0, @rest);
}

{   # music_auth_queue 1: one check at a time, the others are refused at once
    my $n = t::Nginx->new(name => 'auth-queue-1');
    $n->write_conf(conf($n->port, 'music_auth_queue 1;'));
    $n->start;
    my $t0 = time;
    my ($first, @rest) = first_then_rest($n);
    my $unknown = pop @rest;
    is($first, 200, 'the login holding the one slot succeeds');
    is(scalar(grep { $_->{status} == 503 } @rest), scalar @rest, 'every login sent meanwhile is 503')
        or diag(join ' ', map { $_->{status} } @rest);
    is(scalar(grep { $_->{body} eq $BUSY } @rest), scalar @rest, "... with $BUSY");
    is($unknown->{status}, 503, 'an unknown user is busy like an existing one (not a 403)');
    is($unknown->{body}, $BUSY, '... with the same answer');
    my ($again) = $n->parallel(60, login($USERS[1], $PASSWORD));
    is($again->{status}, 200, 'once the slot is free, a refused user logs in');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the error log');
    diag(sprintf 'queue 1: %.1f s', time - $t0);
}

{   # music_auth_queue 8: all the same logins are checked, none refused
    my $n = t::Nginx->new(name => 'auth-queue-8');
    $n->write_conf(conf($n->port, 'music_auth_queue 8;'));
    $n->start;
    my $t0 = time;
    my ($first, @rest) = first_then_rest($n);
    my $unknown = pop @rest;
    is($first, 200, 'the first login succeeds');
    is(scalar(grep { $_->{status} == 200 } @rest), scalar @rest, 'and every login sent meanwhile')
        or diag(join ' ', map { "$_->{status} $_->{body}" } @rest);
    is($unknown->{status}, 403, 'the unknown user gets the 403 of a wrong user name');
    $n->stop;
    unlike($n->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the error log');
    diag(sprintf 'queue 8: %.1f s', time - $t0);
}

{   # the default (16) is in effect without the directive: the same 5 logins are all checked
    my $n = t::Nginx->new(name => 'auth-queue-default');
    $n->write_conf(conf($n->port, ''));
    $n->start;
    my ($first, @rest) = first_then_rest($n);
    pop @rest;
    is(scalar(grep { $_->{status} == 200 } @rest) + ($first == 200), scalar(@rest) + 1,
        'no 503 with the default queue')
        or diag(join ' ', $first, map { $_->{status} } @rest);
    $n->stop;
}
