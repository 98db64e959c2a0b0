"""The export's errors, split by what the caller should do:

CollectorError
└── ExportError                      anything the export raises on purpose
    ├── ExportUnavailable (Permanent) pyarrow is not installed: install the `export` extra
    └── ManifestError     (Permanent) the target's manifest is unreadable or of another kind
"""

from collector.errors import CollectorError
from shared.errors import PermanentError, RetryableError


class ExportError(CollectorError):
    """Base of every error the warehouse export raises on purpose."""


class ExportUnavailable(ExportError, PermanentError):
    """The Parquet writer (pyarrow) is missing; the message says how to install it."""


class ManifestError(ExportError, PermanentError):
    """The target directory's manifest cannot be read or belongs to something else."""


class ExportBusy(ExportError, RetryableError):
    """Another export holds the target folder: try again when it has finished."""
