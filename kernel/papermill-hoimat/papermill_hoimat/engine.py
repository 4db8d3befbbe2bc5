"""Engine `hoimat` = papermill's NBClientEngine: its entry point is only the hook
that makes papermill import this package (registering the Rust translator). No
import from `papermill_hoimat` here: papermill may load this entry point while
the package's `__init__` is still half run (when the package is imported first)."""
from papermill.engines import NBClientEngine


class HoimatEngine(NBClientEngine):
    """Same as `--engine nbclient`; selecting it is never needed."""
