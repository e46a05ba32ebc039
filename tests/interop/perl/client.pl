#!/usr/bin/perl
# A Perl client calling Django tasks, as docs/wire-format.md describes.
# Usage: perl client.pl HOST:PORT   (tests/interop/test_perl.py runs it)
use strict;
use warnings;
use Gearman::Client;
use JSON::PP;

my $client = Gearman::Client->new(job_servers => [$ARGV[0]]);
my $json = JSON::PP->new->utf8->canonical->allow_nonref;

# Arguments go out as {"args": [...], "kwargs": {...}}; the reply is the return value as JSON.
sub call_task {
    my ($task, $args, $kwargs) = @_;
    my $reply = $client->do_task($task, $json->encode({args => $args, kwargs => $kwargs || {}}));
    die "$task failed\n" unless defined $reply;
    return $json->decode($$reply);
}

print "add: ", call_task("shop.worker.add", [2, 3]), "\n";
print "add with kwargs: ", call_task("shop.worker.add", [2], {b => 40}), "\n";

# Several jobs at once: a task set waits for all of them.
my @sums;
my $taskset = $client->new_task_set;
for my $n (0 .. 2) {
    $taskset->add_task("shop.worker.add", $json->encode({args => [$n, 10]}),
        {on_complete => sub { $sums[$n] = $json->decode(${ $_[0] }) }});
}
$taskset->wait;
print "task set: @sums\n";

# A task that raises: the job fails, and a warning just before carries
# {"error": {"type": ..., "message": ..., "traceback": ...}}.
my $error;
my $reply = $client->do_task("shop.worker.fail", $json->encode({args => ["out of stock"]}), {
    on_warning => sub { $error = $json->decode(${ $_[0] })->{error} },
});
print "fail: ", (defined $reply ? "no" : "yes"), ", $error->{type}: $error->{message}\n";
