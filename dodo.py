"""doit-conductor's workflow.  `doit` runs it all, `doit list` shows the tasks,
`doit -n 3 codegen` generates patterns in parallel.  Task creators live in
tasks/workflow.py; this file only wires them to doit."""
from doit_conductor.glue.checker import XXHashChecker
from tasks.workflow import *  # noqa: F401,F403  (the task_* creators)

DOIT_CONFIG = {
    "check_file_uptodate": XXHashChecker,
    "action_string_formatting": "new",
}
