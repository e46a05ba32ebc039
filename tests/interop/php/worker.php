<?php
// A PHP worker that Django clients call, as docs/wire-format.md describes.
// Usage: php worker.php HOST:PORT   (tests/interop/test_php.py runs it)

[$host, $port] = explode(":", $argv[1]);
$worker = new GearmanWorker();
$worker->addServer($host, (int) $port);

// client.submit_job("php.add", args=[1, 2], c=3) sends {"args": [1, 2], "kwargs": {"c": 3}}
// and decodes the JSON reply.
$worker->addFunction("php.add", function (GearmanJob $job) {
    $request = json_decode($job->workload(), true);
    return json_encode(array_sum($request["args"]) + array_sum($request["kwargs"] ?? []));
});

// client.submit_job("php.divide", args=[1, 0]) raises GearmanJobFailed with this type and message.
$worker->addFunction("php.divide", function (GearmanJob $job) {
    [$dividend, $divisor] = json_decode($job->workload(), true)["args"];
    if ($divisor == 0) {
        $job->sendWarning(json_encode(["error" => [
            "type" => "DivisionByZeroError", "message" => "cannot divide $dividend by zero", "traceback" => "",
        ]]));
        $job->sendFail();
        return;
    }
    return json_encode($dividend / $divisor);
});

// client.submit_job("php.strrev", data=b"...") sends and receives bytes untouched.
$worker->addFunction("php.strrev", fn (GearmanJob $job) => strrev($job->workload()));

while ($worker->work());
