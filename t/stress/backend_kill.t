# Long variant of t/db/fault_backend_kill.t (its header says what is checked):
#   pg_terminate_backend of the module's backends 30 times, 16 clients.
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

my $file = './t/db/fault_backend_kill.t';
-r $file or die "cannot read $file (run from the project root)\n";
do $file;
die $@ if $@;
