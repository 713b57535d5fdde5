"""doit glue of the fast no-op: skip loading and walking the tasks when one sweep of
file stats shows nothing the last run's verdicts rest on has changed.

Only for projects with the `conductor` backend (`ProfilingRun` calls it under
the run lock, before the dependency DB is opened and before any task is
created).  The argument, run by run:

1. At the end of a successful `doit run`, once doit has saved its DB, `record`
   asks doit itself whether every task of the run (every task it judged, and
   the selection with all it depends on) is up to date *now*, having swept the
   stats of everything those verdicts rest on just before asking.  Only if
   every verdict is "up-to-date" and every task is eligible (below) is a
   `Snapshot` written, in the backend's directory (`layout.backend_dir`).  A
   file that changes after the sweep can never show its recorded stat again (ctime only grows; a racy file is
   recorded by content), so the snapshot holds either the state the verdicts
   saw or one that does not recur: sweeping again after asking would only
   spot the second case one run earlier.  By the same argument the sweep
   may reuse older stats: when the check at the start of the run found a
   change, it swept every path, and the recording stats again only where
   the run wrote (the targets of the tasks whose values it saved, the
   directories holding watched paths, the DB; `snapshot.swept_again`).  A
   file a task wrote without declaring it keeps the check's stat, which the
   next check finds moved: one walk more, never a change missed.
2. The next `doit run` with the same key (directory, task selection, options
   that decide what is up to date, interpreter) sweeps the same paths.  If all
   are as recorded, every input of every verdict is as it was, so doit's walk
   would find every task up to date again: `check` prints so and the run ends.

What the verdicts rest on: every file_dep of the run's tasks; whether each
target exists (doit asks no more of a target), by its stat if it is also read
(a file_dep, a declared read), else through the entries of its directory that
are targets (listed through `safe_fs`: a target directory that is a link or
below one is never listed, and the run records no snapshot; a target that is
a link, which doit follows, also by its stat); the DB file (so `doit forget`, `ignore`,
`reset-dep` and any run in between count as changes); the dodo file,
`pyproject.toml` and `doit.cfg`; every module file loaded in the process (the
task creators and what they import), and the entries of their directories
that Python could import instead (a new module shadowing one); and every
directory listed in the main process while tasks were created and run (a new
pattern file changes the task list), whole.  One a task creator listed whose
names are not the ones that listing found (a file added while the run went
on) is recorded with its stat from before that listing, so the next run
walks and creates the task for it.  The run records and the template cache
are listed unobserved: no verdict rests on them.  A file written into the project
that is none of these (`report.html` in its root) is not a change.

Eligible tasks: doit decides these from files and saved values alone.  A task
is not if it has `calc_dep`, a `run_once` or `timeout` uptodate, a shell
command as uptodate, or a callable uptodate that does not declare the paths it
reads (`snapshot_paths`: a callable returning them; its answer must depend only
on those files and on the values doit saved for the task).  `config_changed`
is eligible: its value is computed when the task is created, from what the
snapshot covers.  `doit -a` never takes the fast path.  What it assumes, as
doit's own up-to-date checks do: task creators are functions of files (not of
the clock or of environment variables).
"""
from __future__ import annotations

import contextlib
import os
import stat as stat_module
import sys
import time
from collections.abc import Iterator, Set
from typing import TextIO

from doit import tools

from doit_conductor import gc_pause, safe_fs, upstream
from doit_conductor.errors import UserError
from doit_conductor.glue import compat
from doit_conductor.fsio import atomic_write
from doit_conductor.incremental import racy, snapshot
from doit_conductor.incremental.snapshot import Declined, Snapshot
from doit_conductor.profiling.progress import tasks_in_run

# In a directory of its own: writing it must not change a directory it watches
# (the DB's, for one).
FILE_NAME = "noop/snapshot"
CONFIG_FILES = ("pyproject.toml", "doit.cfg")
# Reporters whose output the one "up to date" line may stand in for.
TEXT_REPORTERS = ("console", "conductor")
# Options of `doit run` that change which tasks run or how they are judged.
KEY_OPTIONS = ("dep_file", "backend", "check_file_uptodate", "codec_cls", "dodoFile", "cwdPath",
               "seek_file", "single", "auto_delayed_regex")


def snapshot_file(dep_file: str) -> str:
    from doit_conductor.layout import backend_dir
    return os.path.join(backend_dir(dep_file), FILE_NAME)


def run_key(params: dict, args: list[str]) -> tuple[str, ...]:
    """What must be the same for the last run's snapshot to apply."""
    options = [f"{name}={params.get(name)!r}" for name in KEY_OPTIONS]
    return (os.getcwd(), sys.executable, sys.version, *options, "tasks", *args)


class FastNoop:
    """The fast no-op of one `doit run`: `check` at the start, `record` at the end."""

    def __init__(self, params: dict, args: list[str], out: TextIO) -> None:
        self.params = params
        self.args = list(args)
        self.out = out
        self.file = snapshot_file(params["dep_file"])
        self.key = run_key(params, args)
        # every directory listed; those a task creator listed, with their stat
        # and names when it first did (taken before its listing)
        self.listed: dict[str, snapshot.Listed | None] = {}
        self.said: set[str] = set()
        self.declined: str | None = None
        self.swept: snapshot.Sweep | None = None   # every watched path, as `check` found it
        snapshot.starting(None)

    def say(self, line: str) -> None:
        """One line at `-v 2`, never the same one twice in a run; on stderr, which
        no reporter's document (doit's json reporter's, say) is written to."""
        if (self.params.get("verbosity") or 0) >= 2 and line not in self.said:
            self.said.add(line)
            sys.stderr.write(line + "\n")

    def check(self) -> bool:
        """True if the run is a no-op (said on stdout); otherwise the reason is
        said at `-v 2`."""
        started, started_ns = time.perf_counter(), time.time_ns()
        with gc_pause.paused():   # a stat tuple per watched path, no cycles
            reason = self._change(started_ns)
        if reason is not None:
            # The snapshot stays: a stat that moved never moves back (ctime only
            # grows), so it cannot match again unless this run leaves all as it was.
            self.declined = reason
            self.say(f"fast no-op not taken: {reason}")
            return False
        elapsed = (time.perf_counter() - started) * 1000
        tasks = f"{self._tasks:,} task{'' if self._tasks == 1 else 's'}"
        if self.params.get("verbosity") != 0:   # -v 0: quiet, like the run's closing line
            self.out.write(f"up to date: {tasks}, checked in {elapsed:.0f} ms\n")
        return True

    def _change(self, started_ns: int) -> str | None:
        if self.params.get("always"):
            return "--always given"
        reporter = self.params.get("reporter")
        if reporter not in TEXT_REPORTERS:
            # e.g. doit's json reporter: its readers expect a document of every task
            return f"the {reporter!r} reporter is not a text reporter"
        try:
            record = snapshot.decode(safe_fs.read_bytes(self.file))
        except FileNotFoundError:
            return "no snapshot: the last run did not end in a recorded no-op state"
        except UserError:  # a link or a FIFO at its name: never read
            record = None
        if record is None:
            return f"{self.file} is unreadable"
        if isinstance(record, Declined):
            return record.reason if record.key == self.key else \
                "the command line, directory or interpreter differs from the last run's"
        if record.key != self.key:
            return snapshot.first_change(record, self.key)
        moved: dict[str, snapshot.Stat | None] = {}
        now: list[snapshot.Stat | None] = []
        change = snapshot.first_change(record, self.key, moved=moved, into=now)
        if change is None:
            self._tasks = record.tasks
            if record.contents or moved:
                self._settle(record, started_ns, moved)
        elif now:
            # the run's recording sweeps again only where the run wrote
            self.swept = snapshot.Sweep(dict(zip(record.paths, now)), started_ns)
            snapshot.starting(self.swept)
        return change

    def _settle(self, record: Snapshot, started_ns: int,
                moved: dict[str, snapshot.Stat | None]) -> None:
        """Rewrite a snapshot whose recent entries were just verified by content,
        keeping only those still recent, so later checks stat and do not read;
        and take the new stat of a directory where only entries that do not
        matter came or went, so later checks do not list it again (kept by
        content while that stat is recent).  The digests kept are the recorded
        ones (the state the verdicts saw)."""
        stats = dict(zip(record.paths, record.stats))
        stats.update(moved)
        fine = racy.fine_devices()
        contents = {path: digest for path, digest in record.contents.items()
                    if snapshot.is_recent(stats[path], started_ns, fine)}
        for path, stat in moved.items():
            if stat is not None and snapshot.is_recent(stat, started_ns, fine):
                contents[path] = record.listings[path][1]
        if len(contents) < len(record.contents) or moved:
            self._write(Snapshot(record.key, record.paths,
                                 tuple(stats[path] for path in record.paths), contents,
                                 record.tasks, started_ns, record.listings))

    @contextlib.contextmanager
    def recording_listings(self) -> Iterator[None]:
        """Note every directory listed in this process while the run creates and
        runs its tasks (doit's own process only; its workers do not create tasks)."""
        def note(path) -> None:
            if isinstance(path, (str, bytes, os.PathLike)):
                path = os.path.abspath(os.fsdecode(path))
                if self.listed.get(path) is None:
                    self.listed[path] = snapshot.listed_now(path) if compat.creating_tasks() \
                        else None
        # what glob and pathlib list, and what safe_fs lists by descriptor
        with upstream.directory_listings_noted(note), safe_fs.listings_observed(note):
            yield

    def record(self, tasks: dict, selected: list[str], dep_manager) -> None:
        """After a successful run: write the snapshot, or why there is none."""
        listed = dict(sorted(self.listed.items()))
        if not self._snapshot_directory():
            return
        started_ns = time.time_ns()
        if self.params.get("always"):
            self._write(Declined(self.key, "the last run was --always"))
            return
        # What doit judged in this run (get_status sets dep_changed): this also
        # covers what a create_after waited for, which no task_dep records.
        judged = {task.name: task for task in tasks.values() if task.dep_changed is not None}
        in_run = {name: tasks[name] for name in sorted(tasks_in_run(tasks, selected))}
        run = list({**judged, **in_run}.values())
        with gc_pause.paused():   # a stat tuple per watched path, no cycles
            self._take(run, tasks, listed, dep_manager, started_ns)

    def _snapshot_directory(self) -> bool:
        """Make the snapshot's own directory: whatever else stands at its name
        (a file, a link) is ours to remove, as itself; a link above it is
        refused.  False, said at -v 2, when it cannot be made: the next run
        then walks the tasks, slower and never wrong."""
        directory = os.path.dirname(self.file)
        try:
            info = safe_fs.lstat(directory)
            if info is not None and not stat_module.S_ISDIR(info.st_mode):
                safe_fs.unlink(directory)
            safe_fs.make_dirs(directory)
        except (OSError, UserError) as exc:
            self.say(f"fast no-op not recorded for the next run: {exc}")
            return False
        return True

    def _take(self, run: list, tasks: dict, listed: dict[str, snapshot.Listed | None],
              dep_manager, started_ns: int) -> None:
        """Sweep what the run's verdicts rest on, ask doit for them again, and
        write the snapshot or why there is none."""
        paths, reason = watched_paths(run)
        if reason is None:
            modules = module_files()
            paths += [*listed, self.params["dep_file"], *CONFIG_FILES, *modules]
            if self.params.get("dodoFile"):
                paths.append(self.params["dodoFile"])
            written = None if self.swept is None else \
                written_paths(run, dep_manager, [self.params["dep_file"], *listed])
            taken = snapshot.take(self.key, paths, len(run), started_ns, racy.fine_devices(),
                                  watched_listings(run, modules, set(paths)),
                                  self.swept, written,
                                  {path: then for path, then in listed.items() if then})
            refused = snapshot.refused_listing(taken)
            if refused is not None:
                reason = (f"{refused} is a symbolic link or below one: its targets are "
                          "not watched through it")
            else:
                with snapshot.judging(taken):
                    reason = stale_task(run, tasks, dep_manager)
        self._write(taken if reason is None else Declined(self.key, reason))
        if reason is not None and reason != self.declined:
            self.say(f"fast no-op not recorded for the next run: {reason}")

    def _write(self, record: Snapshot | Declined) -> None:
        try:
            atomic_write(self.file, snapshot.encode(record))
        except OSError:
            # Without a snapshot the next run walks the tasks: slower, never wrong.
            with contextlib.suppress(OSError, UserError):
                safe_fs.unlink(self.file)


def watched_paths(run: list) -> tuple[list[str], str | None]:
    """Every path the run's verdicts read, or why a task's verdict cannot be
    reduced to file stats."""
    paths: list[str] = []
    for task in run:
        loader = compat.delayed_loader(task)
        if loader is not None and not compat.loader_ran(loader):
            return [], f"task {task.name} was never created"
        if task.calc_dep:
            return [], f"task {task.name} has calc_dep"
        paths += task.file_dep
        # Targets: see watched_listings.
        for check, _args, _kwargs in task.uptodate:
            declared = getattr(check, "snapshot_paths", None)
            if check is True or check is None or isinstance(check, tools.config_changed):
                continue
            if check is tools.run_once or isinstance(check, tools.timeout):
                return [], f"task {task.name} uses {getattr(check, '__name__', 'timeout')}"
            if not callable(check):
                return [], f"task {task.name} has uptodate {check!r}: it always runs"
            if declared is None:
                what = getattr(check, "__qualname__", type(check).__qualname__)
                return [], (f"task {task.name}: uptodate {what} does not declare the "
                            "files it reads (snapshot_paths)")
            paths += declared()
    return paths, None


def watched_listings(run: list, modules: list[str],
                     swept: Set[str] = frozenset()) -> dict[str, snapshot.Listing]:
    """The directories watched for some of their entries only: for its targets
    (doit asks of a target only that it exists) and for what Python could import
    from it (the directories of loaded modules).  A target among the paths
    `swept` by their stat (another task's file_dep, an uptodate's declared read)
    is watched by it: the stat follows a link as doit's `exists` does, and
    missing is a stat too.  (At 10,000 patterns every output is such a
    target: 37,000 names neither grouped nor listed.)"""
    targets: dict[str, set[str]] = {}
    for task in run:
        for target in task.targets:
            if target in swept:
                continue
            directory, name = os.path.split(target)
            targets.setdefault(directory or ".", set()).add(name)
    imported = {os.path.dirname(path) or "." for path in modules}
    return {directory: snapshot.Listing(tuple(sorted(targets.get(directory, ()))),
                                        directory in imported)
            for directory in sorted(targets.keys() | imported)}


def written_paths(run: list, dep_manager, also: list[str]) -> snapshot.Written | None:
    """Where this run may have written: the targets of every task whose values
    it saved (the tasks it executed), the directories holding them (a file
    written, replaced or made moves its directory's stat, and a directory made
    its parent's), everything below those targets that are directories, and
    `also` (the DB, the directories listed); None when that is not known:
    the backend does not say which tasks it saved, or one with actions
    declares no targets (`doit codegen:<pattern>` writes its batch's files)
    or is not in `run` (every path is swept again)."""
    saved = getattr(dep_manager.backend, "saved", None)
    if saved is None:
        return None
    executed = [task for task in run if task.name in saved]
    if len(executed) < len(saved) or any(task.actions and not task.targets
                                         for task in executed):
        return None
    targets = {target for task in executed for target in task.targets}
    exact = set(targets)
    for target in targets:   # a target's own pass adds its ancestors
        directory = os.path.dirname(target)
        while directory and directory not in exact:
            exact.add(directory)
            directory = os.path.dirname(directory)
    exact.update(also)
    exact.add(".")
    under = [os.path.join(target, "") for target in targets if os.path.isdir(target)]
    # the directories listed are watched by their absolute paths
    exact.update([os.path.abspath(path) for path in exact])
    under += [os.path.join(os.path.abspath(path), "") for path in under]
    return snapshot.Written(frozenset(exact), tuple(sorted(set(under))))


def stale_task(run: list, tasks: dict, dep_manager) -> str | None:
    """The first task with actions doit would not find up to date now, as a reason
    (one without actions, such as a group of sub-tasks, does nothing either way)."""
    for task in run:
        if not task.actions:
            continue
        status = dep_manager.get_status(task, tasks).status
        if status != "up-to-date":
            return f"task {task.name} is not up to date at the end of the run ({status})"
    return None


def module_files() -> list[str]:
    """Every module file this process has loaded: the dodo, the task creators and
    what they import (a changed creator may create other tasks)."""
    # Read past the module's own attribute lookup: a module imported lazily
    # (doit_conductor.lazy) and not used yet would be executed by it.
    return sorted({file for module in list(sys.modules.values())
                   if isinstance(file := _file_of(module), str)})


def _file_of(module) -> object:
    try:
        return object.__getattribute__(module, "__file__")
    except AttributeError:
        return None

