"""Loop banks: every stem a graph needs, content-addressed on disk with a manifest, built in
parallel (processes or a Dask cluster), verified, and loaded for playback.

- `plan`: which stems a graph needs and their cache keys (pure).
- `render`: the worker side: generate, loudness-match, encode one stem.
- `build`: orchestration, executors, the manifest; `store`: files, atomic writes, the lock.
- `verify`: check a bank against its manifest, summarise it; `load`: `Bank` for playback.
- `manifest`: the format's checks and limits (a bank is untrusted input); `lock`: the build
  lock (POSIX and Windows); `shared`: a stems folder shared by several banks, and safe pruning;
  `workers`: build workers that die with their parent; `import_folder`: `bank import DIR`.

The on-disk format is described in loops/README.md.
"""

from soundtrack.bank.build import BuildReport, Progress, build_bank, default_out, make_plan, open_bank
from soundtrack.bank.import_folder import FilesGenerator, import_bank
from soundtrack.bank.load import DEFAULT_MAX_DECODED_BYTES, Bank
from soundtrack.bank.plan import BankPlan, PlannedStem, derive_seed, plan_bank, stem_key
from soundtrack.bank.verify import VerifyReport, bank_info, verify_bank
from soundtrack.errors import BankError

__all__ = [
    "Bank",
    "BankError",
    "BankPlan",
    "BuildReport",
    "DEFAULT_MAX_DECODED_BYTES",
    "FilesGenerator",
    "PlannedStem",
    "Progress",
    "VerifyReport",
    "bank_info",
    "build_bank",
    "default_out",
    "derive_seed",
    "import_bank",
    "make_plan",
    "open_bank",
    "plan_bank",
    "stem_key",
    "verify_bank",
]
