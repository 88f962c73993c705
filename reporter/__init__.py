"""reporter: nightly flakiness digests for the CCExtractor Sample Platform CI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sample-platform-reporter")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
