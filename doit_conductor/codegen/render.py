"""Render one template for one pattern; template errors become user errors."""
from __future__ import annotations

import jinja2
from jinja2.exceptions import SecurityError

from doit_conductor import upstream
from doit_conductor.codegen.patterns import Pattern, pattern_to_json
from doit_conductor.codegen.limits import LimitExceeded, bounded_render
from doit_conductor.config import RenderLimits
from doit_conductor.errors import UserError

GENERATOR = "doit-conductor"


def render_context(pattern: Pattern, deps: dict[str, Pattern]) -> dict:
    """What a template sees.  Only relative paths: outputs must not depend on where
    the project is checked out."""
    return {
        "pattern": pattern_to_json(pattern),
        "deps": {name: pattern_to_json(dep) for name, dep in sorted(deps.items())},
        "source": pattern.source,
        "generator": GENERATOR,
    }


def render(env: jinja2.Environment, template_name: str, context: dict,
           limits: RenderLimits | None = None) -> str:
    """`template_name` rendered with `context`; with `limits`, stopped at the
    first excess (size, time, nesting: codegen/limits.py).  Every failure is a
    UserError naming the template (and line) and the pattern."""
    templates_dir = env.loader.searchpath[0]
    try:
        template = env.get_template(template_name)
        if limits is not None:
            return bounded_render(template, context, limits)
        return template.render(context)
    except LimitExceeded as exc:
        raise UserError(f"rendering {context['source']} stopped: {exc.reason}",
                        f"{templates_dir}/{template_name}") from None
    except RecursionError:
        raise UserError(f"rendering {context['source']} stopped: templates nest too deeply "
                        "(recursive macro or include?)", f"{templates_dir}/{template_name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"template syntax error: {exc.message}",
                        exc.filename or f"{templates_dir}/{template_name}", exc.lineno) from None
    except jinja2.TemplateNotFound as exc:
        raise UserError(f"template '{exc.name}' does not exist", f"{templates_dir}/{template_name}") from None
    except (jinja2.UndefinedError, SecurityError, jinja2.TemplateError) as exc:
        filename, line = _template_frame(exc, templates_dir)
        kind = "unsafe operation blocked by the sandbox" if isinstance(exc, SecurityError) \
            else "undefined variable" if isinstance(exc, jinja2.UndefinedError) else "template error"
        raise UserError(f"{kind} while rendering {context['source']}: {exc}",
                        filename or f"{templates_dir}/{template_name}", line) from None
    except Exception as exc:
        # Any other error raised while template code runs (a division by zero,
        # a huge integer turned into text, a bad operand type), or while Jinja2
        # compiles a constant expression of it, is the template's or the
        # pattern's doing: one line at the template line.  An error with no
        # template frame is ours, and keeps its traceback.
        filename, line = upstream.jinja_compile_site(exc.__traceback__) \
            or _template_frame(exc, templates_dir)
        if filename is None:
            raise
        raise UserError(f"template failed while rendering {context['source']}: "
                        f"{type(exc).__name__}: {_one_line(exc)}", filename, line) from None


def _template_frame(exc: BaseException, templates_dir: str) -> tuple[str | None, int | None]:
    """The innermost template line in the traceback (Jinja2 rewrites frames so that
    compiled-template frames carry the template's file name and line)."""
    found: tuple[str | None, int | None] = (None, None)
    for filename, line in upstream.traceback_lines(exc.__traceback__):
        if filename.startswith(templates_dir) or filename.endswith(".j2"):
            found = (filename, line)
    return found


def _one_line(exc: BaseException) -> str:
    """The error's text cut to its first line and a readable length (a huge
    value in it would otherwise be quoted whole)."""
    text = str(exc).split("\n", 1)[0]
    return text if len(text) <= 200 else text[:200] + "..."
