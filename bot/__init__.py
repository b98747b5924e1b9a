"""Channel-neutral core of the budget-guidance assistant.

Nothing in this package imports a chat SDK: handlers/ adapts the core to LINE, Telegram and the web console.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("budgetbot")  # one version, from pyproject.toml
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
