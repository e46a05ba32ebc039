<?php
// A PHP client calling Django tasks, as docs/wire-format.md describes.
// Usage: php client.php HOST:PORT   (tests/interop/test_php.py runs it)

[$host, $port] = explode(":", $argv[1]);
$client = new GearmanClient();
$client->addServer($host, (int) $port);

// Arguments go out as {"args": [...], "kwargs": {...}}; the reply is the return value as JSON.
function call_task(GearmanClient $client, string $task, array $args, array $kwargs = [])
{
    // (object) keeps an empty kwargs a JSON object: json_encode([]) would give a list.
    $reply = $client->doNormal($task, json_encode(["args" => $args, "kwargs" => (object) $kwargs]));
    if ($client->returnCode() != GEARMAN_SUCCESS) {
        throw new RuntimeException("$task failed: " . $client->error());
    }
    return json_decode($reply, true);
}

echo "add: ", call_task($client, "shop.worker.add", [2, 3]), "\n";
echo "add with kwargs: ", call_task($client, "shop.worker.add", [2], ["b" => 40]), "\n";
$words = call_task($client, "shop.recipes.count_words", ["Le café, le thé"]);
echo "count_words: ", json_encode($words, JSON_UNESCAPED_UNICODE), "\n";
// Python types JSON lacks arrive tagged: a Decimal is {"__gearman__": "decimal", "value": "9.50"}.
$price = call_task($client, "shop.recipes.price", ["mug"]);
echo "price: ", $price["__gearman__"], " ", $price["value"], "\n";

// A task that raises: the job fails, and a WORK_WARNING just before the failure carries
// {"error": {"type": ..., "message": ..., "traceback": ...}}.
$error = null;
$client->setWarningCallback(function (GearmanTask $task) use (&$error) {
    $error = json_decode($task->data(), true)["error"];
});
$client->setFailCallback(function (GearmanTask $task) use (&$error) {
    echo "fail: {$error['type']}: {$error['message']}\n";
});
$client->addTask("shop.worker.fail", json_encode(["args" => ["out of stock"]]));
$client->runTasks();

// Raw tasks take and give bytes; progress, data and warnings arrive as the worker sends them.
$client->setWarningCallback(function (GearmanTask $task) {
    echo "warning: ", $task->data(), "\n";
});
$client->setDataCallback(function (GearmanTask $task) {
    echo "data: ", rtrim($task->data()), "\n";
});
$client->setStatusCallback(function (GearmanTask $task) {
    echo "status: ", $task->taskNumerator(), "/", $task->taskDenominator(), "\n";
});
$client->setCompleteCallback(function (GearmanTask $task) {
    echo "complete: ", $task->data(), "\n";
});
$client->addTask("shop.recipes.grep_log", "GET");  // nothing collected yet: a warning
$client->runTasks();
foreach (["GET /index.html 200", "GET /missing 404", "POST /cart 500"] as $line) {
    $client->doNormal("shop.recipes.collect_log", $line);
}
$client->addTask("shop.recipes.grep_log", "GET");
$client->runTasks();
