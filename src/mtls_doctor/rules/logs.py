"""Rule family (being written): see rules/__init__.py."""

RULES: tuple = ()
