"""Running a job: the tasks ``run.py`` dispatches, the one place that builds a run's objects from the
config, run and sweep folders, resuming, the pre-flight input check, the console lines, results and
checkpoint files."""
