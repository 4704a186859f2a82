"""reprotrain: bit-for-bit reproducible machine-learning training with Snakemake.

Modules used by the Snakemake driver (``errors``, ``fileio``, ``hashing``,
``registry``, ``provenance``, ``manifest``, ``locks``) import only the standard
library and PyYAML, so the Snakefile can load them from any Snakemake
installation. The heavy stack (pandas, scikit-learn, matplotlib) is imported only by
the modules that run inside rules (``data``, ``models``, ``evaluate``).
"""

__version__ = "0.1.0"

import sys

# The modules loaded before this package: in a rule job, Snakemake's script preamble (its
# own packages, which it may take from the driver's environment). Every module a job loads
# after them must come from the job's own environment (reprotrain.environment.hermetic).
LOADED_BEFORE = frozenset(sys.modules)
