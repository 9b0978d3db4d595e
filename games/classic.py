"""(placeholder: filled in by the issue that builds this module)"""


def register_bundled(registry) -> None:
    """Register this module's games in ``registry``."""
