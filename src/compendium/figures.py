"""Figures for the book, and the plotly renderer that shows them offline.

Plotly figures inside a Jupyter kernel normally emit only the
``application/vnd.plotly.v1+json`` MIME type, which the book builder cannot
display. :func:`use_offline_renderer` adds an HTML fragment next to it that
relies on the page's own ``plotly.min.js`` (served by :mod:`compendium.sphinx_ext`),
so figures render with no CDN and no copy of plotly.js per page.
"""

from __future__ import annotations

from typing import Any

import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

RENDERER_NAME = "compendium"
DEFAULT_RENDERER = f"plotly_mimetype+{RENDERER_NAME}"


class OfflineHTMLRenderer(MimetypeRenderer):
    """Render a figure as a ``text/html`` fragment that loads no JavaScript itself.

    The fragment contains only the figure's ``<div>`` and the call to
    ``Plotly.newPlot``; ``plotly.js`` and MathJax are not embedded or fetched.
    """

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
        """Return the MIME bundle for one figure.

        Parameters
        ----------
        fig_dict : dict
            The figure as a validated dictionary, as plotly passes it to renderers.

        Returns
        -------
        dict
            ``{"text/html": fragment}``.
        """
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            validate=False,
        )
        return {"text/html": html}


def use_offline_renderer() -> str:
    """Register :class:`OfflineHTMLRenderer` and make it plotly's default renderer.

    The default becomes ``"plotly_mimetype+compendium"``: JupyterLab keeps its
    native plotly display, and the built book gets the HTML fragment.

    Returns
    -------
    str
        The name of the default renderer now in force.
    """
    pio.renderers[RENDERER_NAME] = OfflineHTMLRenderer()
    pio.renderers.default = DEFAULT_RENDERER
    return DEFAULT_RENDERER
