# t/db/fault_failover.t again with every session over TLS (sslmode=verify-full against a primary
# with ssl = on, t::Fault::Pg with NGX_MUSIC_FAULT_TLS, and its standby, which has the
# primary's certificate): the same rules (no 500, no hang, writes back within 10 s, every 201
# on the new primary with synchronous replication), and the module's sessions on the promoted
# standby are TLS in pg_stat_ssl.
use strict;
use warnings;
use FindBin;

$ENV{NGX_MUSIC_FAULT_TLS} = 1;
my $scenario = "$FindBin::Bin/fault_failover.t";
do $scenario;
die "$scenario: $@" if $@;
