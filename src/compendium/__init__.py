"""An engine that turns an intervention-development study's data package into an executable book.

Layers, each a subpackage: ``contract`` (the study descriptor, Table Schemas, validation,
loading, the synthetic generator), ``analysis`` (pure computations from tables to tables),
``presentation`` (chapters, tables, figures, HTML) and ``build`` (templates, execution,
verification, the Sphinx extension). Nothing in the package is specific to one study: a study's
words live in its own descriptor and data.
"""

__version__ = "0.2.0"
