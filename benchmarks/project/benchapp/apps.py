import os

from django.apps import AppConfig


class BenchAppConfig(AppConfig):
    name = "benchapp"

    def ready(self):
        if os.environ.get("BENCH_REPORT"):
            from django_gearman.signals import worker_stopping

            from .gearman_workers.bench import write_report

            worker_stopping.connect(write_report)
