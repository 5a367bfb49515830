# Long variant of t/db/fault_slow_client.t (its header says what is checked):
#   12 slow readers of a 150,000-row list (30 MB), and a stalled reader.
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

my $file = './t/db/fault_slow_client.t';
-r $file or die "cannot read $file (run from the project root)\n";
do $file;
die $@ if $@;
