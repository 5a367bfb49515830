# Failover without a reload: music_database lists a primary and its streaming standby with
# target_session_attrs=read-write; while forked keep-alive clients write (POSTs of unique songs)
# and read, the test kills the primary (pg_ctl stop -m immediate) and promotes the standby
# (pg_ctl promote). Counted by status: no 500, no hang, every failure a 503 with a JSON
# detail, and writes succeed again within 10 s of the promotion; the failover time (from the
# kill) is measured.
# With synchronous replication (synchronous_standby_names = '*', synchronous_commit = on)
# every 201 is on the new primary exactly once, with its id; with asynchronous replication a
# 201 acknowledged just before the crash may be missing there (PostgreSQL's limit): counted and
# printed, and nothing else may be wrong.
# Also: a connection opened for target_session_attrs=standby learns from the server's own
# report that its standby was promoted, and is retired (the next request finds no standby).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Fault qw(start_nginx stop_nginx load summarize alert_lines wait_until write_outcomes);
use t::Music ();
use t::Replica qw(standby_of);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $auth = "$t::Music::admin\r\n";
my $json = "Content-Type: application/json\r\n";

sub url_of {
    my ($pg, $attrs, @ports) = @_;
    my ($pass) = $pg->url =~ m{://[^:]+:([^@]+)@} or die 'no password in ' . $pg->url;
    # over TLS (NGX_MUSIC_FAULT_TLS: the standby is a copy of the primary, its certificate too)
    my $host = $pg->{tls} ? 'localhost' : '127.0.0.1';
    my $list = join ',', map { "$host:$_" } @ports;
    my $tls = $pg->{tls} ? "&sslmode=verify-full&sslrootcert=$pg->{tls}/ca.pem" : '';
    return "postgres://postgres:$pass\@$list/postgres?target_session_attrs=$attrs$tls";
}

for my $mode (qw(sync async)) {
    my $primary = t::Fault::Pg->new;
    $primary->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
    my $standby = standby_of($primary, sync => $mode eq 'sync');
    my @ports = ($primary->port, $standby->port);
    my $n = start_nginx(name => "failover-$mode", url => url_of($primary, 'read-write', @ports), workers => 2,
        http => 'music_connect_timeout 1s; music_pool_timeout 1s; music_query_timeout 3s; music_auth_cache_valid 10m;');
    # reads from the standby only, to see its connection retired at the promotion
    my $reader = $mode eq 'sync' && start_nginx(name => 'failover-standby-reader', workers => 1,
        url => url_of($primary, 'standby', @ports), http => 'music_connect_timeout 1s; music_auth_cache_valid 10m;');
    my $get = t::Music::request('GET', '/api/musics/1/', headers => $auth, close => 1);
    if ($reader) {
        my ($r) = $reader->parallel(10, $get);
        is($r->{status}, 200, 'target_session_attrs=standby reads from the standby before the failover');
    }

    my $load = load(
        port => $n->port, clients => 4, timeout => 10, pace => 0.005, seconds => 40,
        make => sub {
            my ($c, $seq) = @_;
            return $seq % 2
                ? { tag => 'get', req => t::Music::request('GET', '/api/musics/1/', headers => $auth) }
                : { tag => "post:fo-$mode-$c-$seq", req => t::Music::request('POST', '/api/musics/', headers => $json . $auth,
                    body => qq({"song":"fo-$mode-$c-$seq","singer":"s"})) };
        },
   );
    sleep 2;
    my $killed_at = time;
    $primary->stop('immediate');
    $standby->promote;
    my $promoted_at = time;
    sleep 12;
    $load->stop;
    my @res = $load->finish;
    diag("$mode replication, primary killed, standby promoted " . sprintf('%.2f s later', $promoted_at - $killed_at)
        . ":\n" . summarize(@res));

    is(scalar(grep { $_->{status} == 0 } @res), 0, "$mode: no request hung or lost its connection");
    my @bad = grep { $_->{status} !~ /^2/ && !($_->{status} == 503 && defined $_->{detail}) } @res;
    is(scalar @bad, 0, "$mode: no 500; every failure is a 503 with a JSON detail")
        or diag explain [map { "$_->{status} $_->{body}" } @bad[0 .. ($#bad > 9 ? 9 : $#bad)]];
    my @failed = grep { $_->{t0} >= $killed_at && $_->{status} != 201 && $_->{tag} ne 'get' } @res;
    my ($back) = grep { $_->{t0} >= $killed_at && $_->{status} == 201 && $_->{t0} > ($failed[-1]{t0} // 0) } @res;
    my $failover = $back ? $back->{t1} - $killed_at : 99;
    diag(sprintf "$mode: failover time (kill to the first 201 after the last failed write): %.2f s", $failover);
    # The clock for the module starts when the standby is promoted: pg_ctl promote itself took
    # up to 5 s on a loaded 2-core machine, and that is PostgreSQL's time, not the module's.
    my $after_promotion = $back ? $back->{t1} - $promoted_at : 99;
    ok($back && $after_promotion < 10,
        sprintf("$mode: writes succeed again %.2f s after the promotion (under 10 s)", $after_promotion));
    my @tail = grep { $_->{t0} > $killed_at + 10 } @res;
    ok(@tail && !grep({ $_->{status} !~ /^2/ } @tail), "$mode: every request after that answers 2xx")
        or diag(summarize(@tail));

    my ($counts, $problems) = write_outcomes($standby, "fo-$mode-%", \@res);
    diag("$mode writes: " . join(', ', map { "$_ $counts->{$_}" } sort keys %$counts));
    my @lost = grep { /answered 201 but is not in the table/ } @$problems;
    my @other = grep { !/answered 201 but is not in the table/ } @$problems;
    if ($mode eq 'sync') {
        is(scalar @$problems, 0, 'sync: every 201 is on the new primary exactly once with its id; no error left a row')
            or diag(join "\n", @$problems[0 .. ($#$problems > 19 ? 19 : $#$problems)]);
    } else {
        is(scalar @other, 0, 'async: no row twice, none from an error, every id right')
            or diag(join "\n", @other[0 .. ($#other > 19 ? 19 : $#other)]);
        diag(sprintf 'async: %d of %d acknowledged writes (201) are not on the promoted standby', scalar @lost,
            $counts->{created} // 0);
    }

    if ($reader) {
        # its first query after the promotion carries the server's in_hot_standby = off
        my @answers;
        for (1 .. 5) {
            my ($r) = $reader->parallel(10, $get);
            push @answers, $r->{status};
            last if $r->{status} == 503;
        }
        is($answers[-1], 503, "target_session_attrs=standby after the promotion: 503 (answers @answers)");
        like($reader->error_log, qr/\[error\].*is a primary, not a server for target_session_attrs=standby/,
            'its connection was retired and no standby qualifies');
        stop_nginx($reader);
    }
    if ($primary->{tls}) {
        my ($sessions, $over_tls) = $standby->ssl_sessions;
        ok($sessions > 0 && $over_tls == $sessions, "$mode: every session on the new primary is TLS ($over_tls of $sessions)");
    }
    my @stuck = stop_nginx($n);
    is(scalar @stuck, 0, "$mode: nginx exits on QUIT");
    my @alerts = alert_lines($n->error_log);
    is(scalar @alerts, 0, "$mode: no [alert], [crit] or crash") or diag(join "\n", @alerts[0 .. 9]);
    $_->cleanup for $primary, $standby;
}

done_testing;
