"""What pins the software and the numerics every job runs with: the lock files, drift
from them, the numerics pin, the job environment, the hermetic check. Used by the
driver and by every job; standard library only at import."""
