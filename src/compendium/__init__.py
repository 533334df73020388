"""Executable research compendium for Milton et al. (2017), BMC Research Notes 10:588.

The package holds every computation the book shows; the chapters only call it.
"""

__version__ = "0.1.0"
