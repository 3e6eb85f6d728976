"""channelsim: an agent-based simulator of a vendor's indirect sales channel."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("channelsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from sim.model import ChannelModel
from sim.params import ParameterError, Scenario
from sim.partners import Partner
from sim.vendors import Vendor

__all__ = ["ChannelModel", "Partner", "ParameterError", "Scenario", "Vendor", "__version__"]
