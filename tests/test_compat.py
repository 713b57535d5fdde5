"""Every upstream internal `doit_conductor.glue.compat` relies on, checked against what is installed.

A failure here names the assumption an upgrade of doit or Python broke.
"""
from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
import types

import pytest

from doit import loader
from doit.task import DelayedLoader, Task

from doit_conductor import upstream
from doit_conductor.glue import compat
from doit_conductor.profiling import probe


def test_delayed_loader_has_the_attributes_we_read():
    loader = DelayedLoader(lambda: None, executed="first", creates=["other"])
    for name in compat.LOADER_ATTRIBUTES:
        assert hasattr(loader, name), f"doit.task.DelayedLoader lost `{name}`"
    placeholder = Task("made", None, loader=loader)
    assert compat.delayed_loader(placeholder) is loader
    assert compat.loader_waits_for(loader) == "first"
    assert compat.loader_creates(loader) == ("other",)
    assert not compat.loader_ran(loader)
    # doit puts its own create_after task into the placeholder's task_dep
    assert placeholder.task_dep == ["first"]
    assert compat.delayed_loader(Task("plain", ["true"])) is None


def test_popen_reaping_methods_are_where_the_hook_expects_them():
    for name in upstream.POPEN_REAP_ATTRIBUTES:
        assert name in vars(subprocess.Popen), f"subprocess.Popen lost `{name}`"
    assert list(inspect.signature(subprocess.Popen._try_wait).parameters) == ["self", "wait_flags"]
    assert os.waitpid in subprocess.Popen._internal_poll.__defaults__


@pytest.mark.slow   # starts an interpreter
def test_popen_hook_is_installed_only_while_a_task_is_measured():
    original = vars(subprocess.Popen)["_try_wait"]
    defaults = subprocess.Popen._internal_poll.__defaults__
    started = probe.start()
    try:
        assert vars(subprocess.Popen)["_try_wait"] is not original
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    finally:
        measurement = probe.stop(started)
    assert vars(subprocess.Popen)["_try_wait"] is original
    assert subprocess.Popen._internal_poll.__defaults__ == defaults
    assert measurement.exit_status == 0


def test_run_execute_signature_is_the_one_we_copied():
    from doit.cmd_run import Run

    from doit_conductor.glue.run_command import ProfilingRun
    theirs = inspect.signature(Run._execute)
    assert tuple(theirs.parameters) == compat.RUN_EXECUTE_PARAMETERS, \
        "doit's Run._execute takes other options: update ProfilingRun._execute"
    ours = list(inspect.signature(ProfilingRun._execute).parameters.values())
    assert ours[:len(theirs.parameters)] == list(theirs.parameters.values())
    # the rest are our own `run` options (doit_conductor.scale.run_options)
    assert [p.name for p in ours[len(theirs.parameters):]] == \
        [option["name"] for option in ProfilingRun.cmd_options[-4:]]


def test_run_picks_its_runners_from_the_globals_we_swap():
    from doit import cmd_run, runner
    assert (cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner) == (
        runner.Runner, runner.MRunner, runner.MThreadRunner)
    source = inspect.getsource(cmd_run.Run._execute)
    for name in compat.RUNNER_NAMES:
        assert name in source, f"Run._execute no longer picks `{name}`"
    marker = type("Marker", (), {})
    with compat.runners_of_run(marker, marker, marker):
        assert cmd_run.Runner is cmd_run.MRunner is cmd_run.MThreadRunner is marker
    assert cmd_run.MRunner is runner.MRunner


def test_mrunner_starts_workers_as_the_copy_in_compat_does():
    import hashlib

    from doit.runner import MRunner, Process
    source = inspect.getsource(MRunner._run_start_processes)
    assert hashlib.sha256(source.encode()).hexdigest() == compat.MRUNNER_START_PROCESSES_SHA256, \
        "doit's MRunner._run_start_processes changed: update compat.start_workers"
    assert MRunner.Child is Process
    for name in ("num_process", "get_next_job", "execute_task_subprocess"):
        assert name in source or hasattr(MRunner, name), name
    assert compat.FORK is not None and compat.FORK.get_start_method() == "fork"


def test_mrunner_handles_teardown_reports_as_late_worker_result_does():
    import hashlib

    from doit.runner import MRunner
    source = inspect.getsource(MRunner.run_tasks)
    assert hashlib.sha256(source.encode()).hexdigest() == compat.MRUNNER_RUN_TASKS_SHA256, \
        "doit's MRunner.run_tasks changed: check ProbedMRunner and compat.late_worker_result"
    for key in ("'exit'", "'exception'", "'name'", "'reporter'"):
        assert key in source, key


def test_console_reporter_prints_output_of_what_is_in_failures():
    from io import StringIO

    from doit.exceptions import TaskFailed
    from doit.reporter import ConsoleReporter
    out = StringIO()
    reporter = ConsoleReporter(out, {"failure_verbosity": 0})
    task = Task("t", ["true"], verbosity=1)
    task.executed = True
    task.actions[0].out = "what the task printed"
    task.actions[0].err = ""
    compat.show_output_at_end(reporter, task, TaskFailed("no"))
    reporter.complete_run()
    assert "what the task printed" in out.getvalue()


def test_jinja_bucket_and_bytecode_cache_interface():
    import jinja2
    from jinja2.bccache import Bucket, BytecodeCache
    assert list(inspect.signature(Bucket).parameters) == ["environment", "key", "checksum"]
    assert list(inspect.signature(BytecodeCache.get_bucket).parameters) == [
        "self", "environment", "name", "filename", "source"]
    bucket = upstream.jinja_bucket(jinja2.Environment(), "k")
    assert bucket.key == "k" and bucket.code is None


def test_template_errors_carry_the_template_line_in_the_traceback(tmp_path):
    import jinja2
    (tmp_path / "page.j2").write_text("line one\n{{ missing.attribute }}\n")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)),
                             undefined=jinja2.StrictUndefined)
    try:
        env.get_template("page.j2").render()
    except jinja2.UndefinedError as exc:
        frames = list(upstream.traceback_lines(exc.__traceback__))
    assert (str(tmp_path / "page.j2"), 2) in frames


FORKSERVER_DODO = '''
import multiprocessing
# Python 3.14's default on Linux: workers would get every task pickled.
multiprocessing.set_start_method("forkserver", force=True)

def task_many():
    for i in range(4):
        # a lambda cannot be pickled: only a forked worker can run it
        yield {"name": str(i), "actions": [lambda i=i: print("work", i)]}
'''


@pytest.mark.slow
def test_parallel_profiled_run_forks_whatever_the_default_start_method(tmp_path):
    from tests.profiling.conftest import Project, by_name
    project = Project(tmp_path / "proj")
    project.write_dodo(FORKSERVER_DODO)
    result = project.doit("-n", "2", "--reporter", "conductor")
    assert result.returncode == 0, result.stdout + result.stderr
    records = by_name(project.last_run())
    assert {records[f"many:{i}"].status for i in range(4)} == {"ran"}
    assert {records[f"many:{i}"].worker for i in range(4)} <= {1, 2}


def test_every_command_we_install_answers_to_its_entry_point_name():
    """doit reads a command's `[tool.doit.commands.<name>]` settings by the
    class's name: an override named after its class (`lockedforget`) silently
    lost `forget_disable_default`."""
    from importlib.metadata import entry_points
    ours = [ep for ep in entry_points(group="doit.COMMAND") if ep.value.startswith("doit_conductor.")]
    assert ours
    for ep in ours:
        assert ep.load().get_name() == ep.name, ep.value


def test_creating_doit_run_reads_the_installed_entry_points_once(monkeypatch):
    """doit looks up backends and reporters as `run` is created, each lookup a
    reading of every installed distribution's entry points; ours share one and
    find the same plugins."""
    from doit import plugin
    from doit.cmd_run import Run
    from doit_conductor.glue.run_command import ProfilingRun
    readings = []
    real = plugin.entry_points

    def counted(*args, **kwargs):
        readings.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(plugin, "entry_points", counted)
    from doit.cmd_base import DodoTaskLoader
    plain = Run(task_loader=DodoTaskLoader(), config={})
    plain_readings, readings[:] = len(readings), []
    ours = ProfilingRun(task_loader=DodoTaskLoader(), config={})
    assert (plain_readings, len(readings)) == (2, 1)
    assert sorted(ours.reporters) == sorted(plain.reporters) and "conductor" in ours.reporters
    assert sorted(ours._backends) == sorted(plain._backends) and "conductor" in ours._backends
    assert plugin.entry_points is counted   # put back


@pytest.mark.parametrize("where", sorted(compat.SOURCE_SHA256))
def test_doit_functions_compat_relies_on_are_unchanged(where):
    import hashlib
    import importlib

    module, _, qualname = where.partition(":")
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    source = inspect.getsource(target)
    assert hashlib.sha256(source.encode()).hexdigest() == compat.SOURCE_SHA256[where], \
        f"doit's {qualname} changed: check what doit_conductor.glue.compat assumes of it"


def test_runner_bookkeeping_attributes_exist():
    from doit.runner import Runner
    runner = Runner(None, None)
    assert compat.stop_requested(runner) is False
    compat.add_teardown(runner, "task")
    assert runner.teardown_list == ["task"]


def test_compile_time_errors_name_the_template_and_node_being_compiled(tmp_path):
    import jinja2
    # Jinja2 folds the constant and fails writing its repr: at compile time.
    (tmp_path / "page.j2").write_text("line one\n\n{{ 10 ** 5000 }}\n")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)))
    with pytest.raises(ValueError) as caught:
        env.get_template("page.j2")
    assert upstream.jinja_compile_site(caught.value.__traceback__) == (str(tmp_path / "page.j2"), 3)
    with pytest.raises(ZeroDivisionError) as caught:
        env.from_string("{{ 1 // x }}").render(x=0)
    assert upstream.jinja_compile_site(caught.value.__traceback__) is None


def test_mrunner_applies_worker_results_with_the_keys_failed_worker_result_writes():
    from doit.runner import MRunner
    from doit.task import Task
    source = inspect.getsource(MRunner._process_result)
    for key in compat.MRUNNER_RESULT_KEYS:
        assert f"'{key}'" in source, f"doit's MRunner._process_result no longer reads {key!r}"
    task = Task("t", [lambda: True])
    result = compat.failed_worker_result(task, "failed")
    assert result["name"] == "t" and result["failure"] == "failed"
    task.update_from_pickle(result["task"])   # what _process_result does with it
    # and a replacement worker is started as doit starts one (its loop, these arguments)
    assert "target=_worker" in inspect.getsource(compat.start_worker)
    assert "runner.execute_task_subprocess(job_q, result_q, runner.reporter.__class__)" in \
        inspect.getsource(compat._worker)
    assert "job_q, result_q, self.reporter.__class__" in inspect.getsource(MRunner._run_start_processes)


def test_directory_listings_are_noted_only_inside_the_block(tmp_path):
    """glob and pathlib list through os.scandir: what the fast no-op relies on."""
    import glob
    seen = []
    with upstream.directory_listings_noted(seen.append):
        glob.glob(str(tmp_path / "*"))
        list(tmp_path.iterdir())
    os.listdir(tmp_path)   # after the block: not noted
    assert seen and all(os.fsdecode(path).startswith(str(tmp_path)) for path in seen)
    assert len(seen) == 2


def _plain():
    return {"actions": []}


def _wrapper(function):
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        return function(*args, **kwargs)
    return wrapped


@_wrapper
def _decorated():
    return {"actions": []}


class _Creators:
    @staticmethod
    def task_static():
        return {"actions": []}

    def create_doit_tasks(self):
        return {"actions": []}


_lambda = lambda: {"actions": []}   # noqa: E731 - a creator doit accepts


@pytest.mark.parametrize("creator", [_plain, _decorated, _Creators().create_doit_tasks,
                                     _Creators.task_static, _lambda],
                         ids=["function", "decorated", "method", "staticmethod", "lambda"])
def test_creator_lines_from_code_are_the_lines_inspect_reads(creator):
    with compat.creator_lines_from_code():
        line = loader.inspect.getsourcelines(creator)[1]
    assert line == inspect.getsourcelines(creator)[1]
    assert loader.inspect is inspect   # put back


def test_tasks_load_in_the_same_order_with_lines_from_code():
    namespace = {f"task_{name}": _plain for name in ("a", "b")}
    namespace.update(task_decorated=_decorated, task_lambda=_lambda, obj=_Creators())
    plain = [task.name for task in loader.load_tasks(namespace)]
    with compat.creator_lines_from_code():
        fast = [task.name for task in loader.load_tasks(namespace)]
    assert fast == plain and len(plain) == 5


def test_doit_names_the_option_whose_value_it_could_not_convert():
    from doit.cmdparse import CmdOption, CmdParse, CmdParseError
    from doit_conductor.glue.compat import option_not_converted
    parser = CmdParse([CmdOption({"name": "top_n", "long": "top", "type": int, "default": 1})])
    with pytest.raises(CmdParseError) as info:
        parser.parse(["--top", "many"])
    assert option_not_converted(info.value) == "top_n"


WORKER_FORKED_DURING_A_CTRL_C = """
import os, queue, signal
from doit_conductor.glue import compat

class Runner:
    num_process = 1
    reporter = object()
    jobs = ["job"]
    def get_next_job(self, _):
        return self.jobs.pop() if self.jobs else None
    def execute_task_subprocess(self, job_q, result_q, reporter_class):
        os._exit(0)

armed = []
# a Ctrl-C that lands in a fork hook, as in doit's process while -n starts a worker
os.register_at_fork(after_in_parent=lambda: armed and os.kill(os.getpid(), signal.SIGINT))
armed.append(True)
processes = []
try:
    processes = compat.start_workers(Runner(), queue.Queue(), None)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
armed.clear()
os.wait()
"""


@pytest.mark.slow
def test_a_ctrl_c_while_a_worker_is_forked_interrupts_the_run():
    """Python drops an exception raised in a fork hook ('Exception ignored'):
    the Ctrl-C must wait until the fork is done, then interrupt."""
    result = subprocess.run([sys.executable, "-c", WORKER_FORKED_DURING_A_CTRL_C],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "interrupted", result.stdout + result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr


def test_importlib_lazy_modules_are_the_class_upstream_extends(tmp_path):
    import importlib.util
    (tmp_path / "lazily.py").write_text("value = 1\n")
    spec = importlib.util.spec_from_file_location("lazily", tmp_path / "lazily.py")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert type(module) is importlib.util._LazyModule
    module.__class__ = upstream.LazyModule
    assert module.__spec__.name == "lazily"
    assert "value" not in object.__getattribute__(module, "__dict__")   # read, not executed
    assert module.value == 1 and type(module) is types.ModuleType    # executed on first use


def test_a_worker_ignores_ctrl_c_once_its_loop_ends():
    """What is left of a worker after doit's loop is multiprocessing's exit: a
    second Ctrl-C there printed "Process ForkProcess-1:" and a traceback."""
    import signal

    class Runner:
        reporter = object()

        def execute_task_subprocess(self, job_q, result_q, reporter_class):
            raise KeyboardInterrupt   # the first Ctrl-C, inside the loop

    saved = signal.getsignal(signal.SIGINT)
    try:
        compat._worker(Runner(), None, None)   # ends quietly
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved)


def test_a_profiled_run_raises_one_keyboard_interrupt_and_ignores_the_next():
    """From the moment a run is set up: one Ctrl-C interrupts it, later ones
    are ignored (they used to land in doit's closing steps, the lock's release
    or multiprocessing's exit, each a traceback); a run not interrupted leaves
    the handler as it found it."""
    import os
    import signal
    from doit_conductor.glue.run_command import _interrupt_once
    saved = signal.getsignal(signal.SIGINT)
    try:
        with _interrupt_once():
            pass
        assert signal.getsignal(signal.SIGINT) is saved
        with pytest.raises(KeyboardInterrupt):
            with _interrupt_once():
                os.kill(os.getpid(), signal.SIGINT)   # handled at the next bytecode
                for _ in range(1000):
                    pass
        os.kill(os.getpid(), signal.SIGINT)   # ignored: nothing raised
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved)
