"""PLACEHOLDER: replaced by the issue that owns this sub-command."""


def register(app):
    pass
