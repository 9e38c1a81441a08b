"""The RQ worker process: jobs in threads, its scheduler kept alive, the sweeper that recovers
lost work, and housekeeping."""

from hub.worker.runner import build_worker, run_worker

__all__ = ["build_worker", "run_worker"]
