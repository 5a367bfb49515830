package t::Replica;

# A streaming standby of a t::Fault::Pg cluster, for the multi-host, read-replica and failover
# tests: pg_basebackup -R from the primary (over TCP, with the primary's password) into a
# new temporary area, then build/pg start on a free 127.0.0.1 port. The standby is a
# t::Fault::Pg too (psql, stop, start, backends, cleanup at exit); promote() runs pg_ctl
# promote on it. Stopped by pid (pg_ctl) only, as every cluster of t::Fault.

use strict;
use warnings;
use Exporter 'import';
use File::Temp ();
use POSIX ();
use Time::HiRes qw(sleep);
use t::Fault;
use t::Nginx;

our @EXPORT_OK = qw(standby_of);

# Runs a command (no shell: a URL's "&" and "?" stay as they are) from / (the test's directory
# may be one the postgres user cannot enter); returns its output, stderr included; $? is set.
sub run_from_root {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        chdir '/';
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

# The primary must accept replication connections over TCP with its password.
sub allow_replication {
    my ($primary) = @_;
    open my $fh, '>>', $primary->dir . '/pg_hba.conf' or die $!;
    print $fh "host replication all 127.0.0.1/32 scram-sha-256\n";
    close $fh;
    $primary->psql('SELECT pg_reload_conf()');
}

# A started standby of $primary. sync => 1: the primary then waits for it at every commit
# (synchronous_standby_names = '*', synchronous_commit = on).
sub standby_of {
    my ($primary, %o) = @_;
    allow_replication($primary) unless $primary->{replication}++;
    my $area = File::Temp::tempdir('ngx-music-standby.XXXXXX', TMPDIR => 1, CLEANUP => 0);
    chmod 0755, $area;
    my $port = t::Nginx::free_port();
    my $self = bless { area => $area, dir => "$area/pg", port => $port, root => $primary->{root},
        owner => $$, frozen => [] }, 't::Fault::Pg';
    push @t::Fault::Pg::CLUSTERS, $self;
    my ($uid, $gid) = (stat $primary->dir)[4, 5];
    mkdir $self->{dir} or die "$self->{dir}: $!";
    chmod 0700, $self->{dir};
    chown $uid, $gid, $self->{dir};
    # the same password (build/pg prints the URL from DIR.password)
    my $pwfile = $primary->dir . '.password';
    system('cp', $pwfile, "$self->{dir}.password") == 0 or die "cp $pwfile: $?";
    my $name = getpwuid($uid);
    my @as = $uid == $> ? () : ('runuser', '-u', $name, '--');
    my @cmd = (@as, t::Fault::Pg::pgbin() . '/pg_basebackup', '-d', $primary->url, '-D', $self->{dir},
        '-R', '-X', 'stream', '-c', 'fast');
    my $out = run_from_root(@cmd);
    die "pg_basebackup failed: $out" if $?;
    my $dir = $self->{dir};
    $out = `"$self->{root}/build/pg" start "$dir" $port 2>&1`;
    die "build/pg start (standby) failed:\n$out" if $?;
    ($self->{url}) = $out =~ m{^(postgres://\S+)\s*$}m or die "no URL from build/pg:\n$out";
    if ($o{sync}) {
        $primary->psql("ALTER SYSTEM SET $_") for ("synchronous_standby_names = '*'", "synchronous_commit = on");
        $primary->psql('SELECT pg_reload_conf()');
    }
    # streaming before the test goes on
    t::Fault::wait_until(30, sub {
        ($primary->psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            allow_fail => 1) // 0) >= 1
    }, 0.1) or die 'the standby does not stream';
    return $self;
}

# pg_ctl promote, waiting until it accepts writes.
sub t::Fault::Pg::promote {
    my ($self) = @_;
    my @cmd = $self->_as_owner(t::Fault::Pg::pgbin() . '/pg_ctl', '-D', $self->{dir}, '-w', '-t', '60', 'promote');
    my $out = run_from_root(@cmd);
    die "pg_ctl promote failed: $out" if $?;
    return 1;
}

1;
