"""Sphinx configuration (``make docs``): the Markdown pages of docs/ through MyST and
an API reference generated from the numpydoc docstrings, built with warnings as
errors."""

project = "isoforest"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "generated/*.md"]
# the pages link each other's sections by their GitHub-style anchors
myst_heading_anchors = 3
# `name` in a docstring is code, as in scikit-learn's documentation
default_role = "literal"
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "alabaster"
