"""Evaluation: task files (JSONL) of several kinds run against any backend, stored runs,
before/after comparison with an HTML report."""

from finassist.evaluate.runs import (
    Row,
    Run,
    compare,
    list_runs,
    load_run,
    render_html,
    run_tasks,
    runs_dir,
    save_run,
)
from finassist.evaluate.tasks import (
    Subject,
    Task,
    TaskFile,
    TaskFileError,
    TaskResult,
    get_task,
    load_task_file,
    register_task,
    task_kinds,
)

__all__ = [
    "Row",
    "Run",
    "Subject",
    "Task",
    "TaskFile",
    "TaskFileError",
    "TaskResult",
    "compare",
    "get_task",
    "list_runs",
    "load_run",
    "load_task_file",
    "register_task",
    "render_html",
    "run_tasks",
    "runs_dir",
    "save_run",
    "task_kinds",
]
