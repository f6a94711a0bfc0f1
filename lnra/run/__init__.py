"""Running a job: the tasks ``run.py`` dispatches and the check before them, the run's objects, its folders,
resuming, console lines, results and checkpoint files."""
