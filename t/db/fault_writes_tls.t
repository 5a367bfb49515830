# t/db/fault_writes.t's database-kill scenario again with every session over TLS (sslmode=verify-full
# against a private cluster with ssl = on, t::Fault::Pg with NGX_MUSIC_FAULT_TLS): the same
# rules (no lost or duplicated write, no hung request, every failure a 503 with its JSON
# detail, reconnection), and the module's sessions are TLS in pg_stat_ssl.
use strict;
use warnings;
use FindBin;

$ENV{NGX_MUSIC_FAULT_TLS} = 1;
my $scenario = "$FindBin::Bin/fault_writes.t";
do $scenario;
die "$scenario: $@" if $@;
