"""The ledger: one row per run of a job, by job id, which the reliability tests count
(the tasks that write it are in tests/apps/gearman_ledger)."""
