"""Build the server's runtime from the settings: the store, the test PKI, the seeding of new workspaces."""
from __future__ import annotations

from datetime import timedelta
from functools import partial

from .config import Settings
from .dmp.service import Runtime
from .pki import TestPKI
from .seed import SeedSummary, seed_workspace
from .store import Store


def build_runtime(settings: Settings, *, store: Store | None = None, pki: TestPKI | None = None) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = store or Store(settings.database_url, durable_read_log=settings.pg_durable_read_log)
    pki = pki or TestPKI.open(settings.data_dir / "pki", settings.seed, base_url=f"{settings.base_url}/pki")
    runtime = Runtime(store=store, pki=pki, vihf_lenient=settings.vihf_lenient,
                      clock_skew=timedelta(seconds=settings.clock_skew_seconds),
                      vihf_max_age=timedelta(seconds=settings.vihf_max_age_seconds),
                      require_xades=settings.require_xades, tls_vihf_check=settings.tls_vihf_check,
                      soap_threads=settings.soap_threads)
    runtime.populate = partial(populate, runtime, settings)
    return runtime


def populate(runtime: Runtime, settings: Settings, workspace: str) -> SeedSummary:
    feed = None
    if settings.documents_per_patient:
        from .dmp.feeding import seed_documents

        feed = partial(seed_documents, runtime)
    return seed_workspace(runtime.store, workspace, seed=settings.seed, patients=settings.patients,
                          documents_per_patient=settings.documents_per_patient, feed=feed)
