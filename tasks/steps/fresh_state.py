"""State files are trusted only while they hold what their task last wrote.

doit re-runs a task when a file it depends on changed, but never when its own
target was replaced: copy an older, valid `.conductor/state/patterns.json` back
after a later build and task 3 stays "up to date" while tasks 6-22 run on the
old index, publishing old output with exit 0.  The envelope digest only says a
file is intact, not that it is the current one.

`StateWritten` is the `uptodate` check of every task that writes state (tasks
1-7): doit saves, when the task succeeds, the envelope digest of each state file
it wrote (`state_files.envelope_digest`: the first 43 bytes of each file), and
the task runs again whenever one of them holds anything else.  So a rolled-back,
swapped or deleted state file is rebuilt by its own task before any consumer
reads it, in the same run.
"""
from __future__ import annotations


from doit_conductor import layout, safe_fs
from doit_conductor.errors import UserError
from doit_conductor.state_files import envelope_digest


class StateWritten:
    """`uptodate` check: the task's state files hold what it last wrote.

    The files are the task's targets under `.conductor/` and, for a task that
    writes a directory of them (task 7's batch plans), every `*.json` in the
    directories given."""

    key = "state-written"

    def __init__(self, *directories: str):
        self.directories = directories
        self._task = None   # one instance per task: set by configure_task

    def paths(self, task) -> list[str]:
        found = [t for t in task.targets
                 if t.startswith(layout.CONDUCTOR + "/") and t not in self.directories]
        for directory in self.directories:
            try:
                names = safe_fs.names(directory)
            except UserError:
                continue  # a link or a file there: refused where it is written
            found += [f"{directory}/{n}" for n in names
                      if n.endswith(".json") and not n.startswith(".")]
        return found

    def digests(self, task) -> dict[str, str | None]:
        return {path: envelope_digest(path) for path in self.paths(task)}

    def configure_task(self, task) -> None:
        self._task = task   # doit calls this before the task's targets are set
        task.value_savers.append(lambda: {self.key: self.digests(task)})

    def snapshot_paths(self) -> list[str]:
        """What the check reads (for doit-conductor's fast no-op)."""
        if self._task is None:
            return []
        return [*self.paths(self._task), *self.directories]

    def __call__(self, task, values: dict) -> bool:
        saved = values.get(self.key)
        return saved is not None and saved == self.digests(task)

    def __repr__(self) -> str:
        return f"StateWritten{self.directories!r}"
