"""What a chapter imports: the chapter handle, the NVivo-style counts, and the display helpers.

A chapter's first code cell is::

    import pandas as pd
    from compendium.book import Chapter, code_counts, figures, sections

so the cells below it can show the few pandas steps behind each number and hand the result to
a helper in :mod:`compendium.presentation.sections` or :mod:`compendium.presentation.figures`,
which style it, caption it and give it a text alternative.
"""

from compendium.analysis.themes import code_counts
from compendium.presentation import figures, sections
from compendium.presentation.chapter import Chapter

__all__ = ["Chapter", "code_counts", "figures", "sections"]
