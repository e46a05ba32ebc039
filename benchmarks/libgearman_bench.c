/* The C reference for benchmarks/django.py: a libgearman client and worker doing what the Python
 * measurements do, built at run time (cc -O2 libgearman_bench.c -lgearman) when libgearman-dev is there.
 *
 *   libgearman_bench worker SERVER FUNCTION JOBS        echo JOBS jobs, then print {"jobs", "seconds", "cpu"}
 *   libgearman_bench foreground SERVER FUNCTION JOBS    JOBS gearman_client_do() one after another
 *   libgearman_bench background SERVER FUNCTION JOBS    JOBS gearman_client_do_background() one after another
 *   libgearman_bench batch SERVER FUNCTION JOBS SIZE    background tasks added SIZE at a time, then run
 *
 * A client prints {"jobs", "seconds", "cpu", "latencies"} (latencies in seconds, foreground only).
 * SERVER is host:port. Every job carries the same 100-byte payload.
 */
#include <libgearman/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char PAYLOAD[] =
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
#define PAYLOAD_SIZE (sizeof(PAYLOAD) - 1)

static double clock_seconds(clockid_t clock) {
  struct timespec now;
  clock_gettime(clock, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

static void fail(const char *what, const char *error) {
  fprintf(stderr, "libgearman_bench: %s: %s\n", what, error);
  exit(1);
}

static long jobs_done, jobs_wanted;
static double first_job, latest_job, first_cpu;

static void *echo(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret) {
  (void)context;
  latest_job = clock_seconds(CLOCK_MONOTONIC);
  if (jobs_done++ == 0) {
    first_job = latest_job;
    first_cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
  }
  size_t size = gearman_job_workload_size(job);
  void *result = malloc(size ? size : 1);
  memcpy(result, gearman_job_workload(job), size);
  *result_size = size;
  *ret = GEARMAN_SUCCESS;
  return result;
}

static int work(const char *host, in_port_t port, const char *function) {
  gearman_worker_st *worker = gearman_worker_create(NULL);
  if (gearman_worker_add_server(worker, host, port) != GEARMAN_SUCCESS) fail("add_server", gearman_worker_error(worker));
  if (gearman_worker_add_function(worker, function, 0, echo, NULL) != GEARMAN_SUCCESS)
    fail("add_function", gearman_worker_error(worker));
  while (jobs_done < jobs_wanted) {
    if (gearman_worker_work(worker) != GEARMAN_SUCCESS) fail("work", gearman_worker_error(worker));
  }
  printf("{\"jobs\": %ld, \"seconds\": %.9f, \"cpu\": %.9f}\n", jobs_done, latest_job - first_job,
         clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - first_cpu);
  gearman_worker_free(worker);
  return 0;
}

static int submit(const char *mode, const char *host, in_port_t port, const char *function, long jobs, long size) {
  gearman_client_st *client = gearman_client_create(NULL);
  if (gearman_client_add_server(client, host, port) != GEARMAN_SUCCESS) fail("add_server", gearman_client_error(client));
  double *latencies = calloc(jobs, sizeof(double));
  double started = clock_seconds(CLOCK_MONOTONIC), cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
  for (long done = 0; done < jobs;) {
    gearman_return_t ret;
    if (strcmp(mode, "foreground") == 0) {
      double call = clock_seconds(CLOCK_MONOTONIC);
      size_t result_size;
      void *result = gearman_client_do(client, function, NULL, PAYLOAD, PAYLOAD_SIZE, &result_size, &ret);
      if (ret != GEARMAN_SUCCESS || result_size != PAYLOAD_SIZE) fail("do", gearman_client_error(client));
      free(result);
      latencies[done++] = clock_seconds(CLOCK_MONOTONIC) - call;
    } else if (strcmp(mode, "background") == 0) {
      ret = gearman_client_do_background(client, function, NULL, PAYLOAD, PAYLOAD_SIZE, NULL);
      if (ret != GEARMAN_SUCCESS) fail("do_background", gearman_client_error(client));
      done++;
    } else {
      for (long added = 0; added < size && done < jobs; added++, done++) {
        if (!gearman_client_add_task_background(client, NULL, NULL, function, NULL, PAYLOAD, PAYLOAD_SIZE, &ret))
          fail("add_task_background", gearman_client_error(client));
      }
      if (gearman_client_run_tasks(client) != GEARMAN_SUCCESS) fail("run_tasks", gearman_client_error(client));
      gearman_client_task_free_all(client);
    }
  }
  printf("{\"jobs\": %ld, \"seconds\": %.9f, \"cpu\": %.9f, \"latencies\": [", jobs,
         clock_seconds(CLOCK_MONOTONIC) - started, clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu);
  if (strcmp(mode, "foreground") == 0) {
    for (long index = 0; index < jobs; index++) printf(index ? ", %.9f" : "%.9f", latencies[index]);
  }
  printf("]}\n");
  free(latencies);
  gearman_client_free(client);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) fail("usage", "worker|foreground|background|batch HOST:PORT FUNCTION JOBS [SIZE]");
  char host[256];
  const char *colon = strrchr(argv[2], ':');
  if (colon == NULL || (size_t)(colon - argv[2]) >= sizeof(host)) fail("server", "expected HOST:PORT");
  memcpy(host, argv[2], colon - argv[2]);
  host[colon - argv[2]] = '\0';
  in_port_t port = (in_port_t)atoi(colon + 1);
  long jobs = atol(argv[4]);
  if (strcmp(argv[1], "worker") == 0) {
    jobs_wanted = jobs;
    return work(host, port, argv[3]);
  }
  return submit(argv[1], host, port, argv[3], jobs, argc > 5 ? atol(argv[5]) : 1000);
}
