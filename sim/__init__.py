"""channelsim: an agent-based simulator of a vendor's indirect sales channel.

The model's names are imported on first use, so that `import sim.cli` (the command line) starts
without loading Mesa, pandas and the parameter tree before it can answer Ctrl-C.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("channelsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

_HOMES = {"ChannelModel": "sim.model", "Partner": "sim.partners", "ParameterError": "sim.tree",
          "Scenario": "sim.params", "Vendor": "sim.vendors"}

__all__ = [*_HOMES, "__version__"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
