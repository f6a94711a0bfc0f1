"""Running a job: its tasks and their check, objects, folders, resuming, console, results and checkpoints."""
