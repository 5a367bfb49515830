# Long variant of t/db/fault_keepalive_10k.t (its header says what is checked):
#   20,000 idle keep-alive connections on one worker (as far as the hard fd limit allows).
# Runs only under ./build/stress (NGX_MUSIC_STRESS=1); the default suite (build/test) skips it.
use strict;
use warnings;

BEGIN {
    unless ($ENV{NGX_MUSIC_STRESS}) {
        require Test::More;
        Test::More::plan(skip_all => 'long fault/stress variant: run ./build/stress');
    }
    $ENV{NGX_MUSIC_STRESS_LONG} = 1;
}

my $file = './t/db/fault_keepalive_10k.t';
-r $file or die "cannot read $file (run from the project root)\n";
do $file;
die $@ if $@;
