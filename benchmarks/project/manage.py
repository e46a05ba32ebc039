#!/usr/bin/env python
"""The benchmark's Django project (benchmarks/django.py runs it; settings come from BENCH_* variables)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
