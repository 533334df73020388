"""The one path by which anything from data becomes HTML.

Every fragment of HTML the package writes is a Jinja2 template rendered with autoescaping
on, so a site label, a theme name or an id from a data file is escaped before it reaches a
page whatever characters it holds. Templates live in ``resources/html/``; :func:`render`
fills one in. :func:`escape` is for the few places (Styler formatters, attribute values) where
a value is placed into HTML outside a template; it is MarkupSafe's, the same escaping the
templates use.
"""

from __future__ import annotations

from functools import cache

from markupsafe import Markup, escape

from compendium import paths

__all__ = ["Markup", "escape", "render", "fragment"]

TEMPLATES_DIR = paths.RESOURCES_DIR / "html"


@cache
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **context) -> Markup:
    """Return the HTML of ``resources/html/<template>`` filled in with ``context``, escaped.

    Values are escaped unless they are already :class:`markupsafe.Markup` (the output of
    another :func:`render`).
    """
    return Markup(_environment().get_template(template).render(**context).strip())


def fragment(template: str, **context):
    """Return :func:`render`'s HTML as a notebook display object."""
    from IPython.display import HTML

    return HTML(str(render(template, **context)))
