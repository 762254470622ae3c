"""The one command line, ``segur-sandbox``: a group per area (serve, fixtures, credentials, cards, conformance)."""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import click

from segur_sandbox.conformance.cli import conformance_group, validate_command
from segur_sandbox.fixtures.cli import fixtures_group

from .cards.cli import cards_group
from .config import Settings, from_environment


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("segur-sandbox"), prog_name="segur-sandbox")
def main() -> None:
    """Ségur Sandbox: an offline replica of the French e-health services (DMP, INSi, CPS and Vitale cards)."""


main.add_command(fixtures_group)
main.add_command(cards_group)
main.add_command(conformance_group)
main.add_command(validate_command)


def _server_options(func):  # type: ignore[no-untyped-def]
    options = [
        click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1]."),
        click.option("--port", type=int, default=None, help="Port [default: 8080]."),
        click.option("--db", default=None, help="sqlite:///path or postgresql://user@host/db "
                                                "[default: embedded SQLite in --data-dir]."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Where the sandbox keeps its SQLite file and test PKI [default: .sandbox]."),
        click.option("--seed", type=int, default=None, help="Seed of the population and the PKI [default: 1]."),
        click.option("--patients", type=click.IntRange(min=1), default=None,
                     help="Patients seeded on first start [default: 200]."),
        click.option("--documents-per-patient", type=click.IntRange(min=0), default=None,
                     help="Documents seeded in each open DMP on first start [default: 3]."),
        click.option("--vihf-lenient/--vihf-strict", default=None,
                     help="Accept unsigned VIHF assertions (as in the official examples) [default: strict]."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Server processes sharing the database (PostgreSQL, or SQLite on one machine) [default: 1]."),
        click.option("--tls/--no-tls", default=None,
                     help="Serve HTTPS with the sandbox's server certificate from the test PKI [default: off]."),
        click.option("--tls-client-cert", type=click.Choice(["none", "optional", "required"]), default=None,
                     help="With --tls: ask for client certificates, checked against the test CA [default: optional]."),
        click.option("--tls-vihf-check/--no-tls-vihf-check", default=None,
                     help="With --tls: a DMP client certificate must fit the VIHF's authentication mode (CPx card "
                          "in DIRECTE, the structure's ORG AUTH_CLI otherwise) [default: on]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(**flags: object) -> Settings:
    return from_environment().with_overrides(**flags)


@main.command(name="serve")
@_server_options
@click.option("--cards", "cards", default=None, metavar="SPEC[,SPEC…]",
              help="Virtual cards to keep inserted while serving (needs pcscd + vpcd), e.g. "
                   "'cps:PS-00001,vitale:2730399127242@1' (cps:|cpe:|vitale: + id, optional @slot).")
def serve_command(cards: str | None, **flags: object) -> None:
    """Start the DMP and INSi servers (and the admin API), seeding the population on first start."""
    settings = _settings(**flags)
    if not cards:
        _serve(settings)
        return
    from .cards.cli import insert_cards

    try:
        bay = insert_cards(settings, [spec for spec in cards.split(",") if spec.strip()])
    except (ValueError, LookupError) as exc:
        raise click.BadParameter(str(exc), param_hint="--cards") from exc
    try:
        _serve(settings)
    finally:
        bay.close()


@main.command(name="start")
@_server_options
def start_command(**flags: object) -> None:
    """The README's start command: `serve` with the defaults (embedded SQLite, seeded patients, test PKI), plus the
    first professional's CPS and a Vitale card in the PC/SC readers when pcscd and vpcd are running."""
    settings = _settings(**flags)
    bay = _default_cards(settings)
    try:
        _serve(settings)
    finally:
        if bay is not None:
            bay.close()


def _default_cards(settings: Settings):  # type: ignore[no-untyped-def]
    """Insert the scenario professional's CPS and the first scenario patient's Vitale card, if a PC/SC stack with
    the vpcd driver is there; otherwise say how to get one (the servers work without)."""
    from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
    from segur_sandbox.fixtures.professionals import ProfessionalDirectory

    from .cards.cli import insert_cards

    professional = ProfessionalDirectory(settings.seed, 12).professionals[0]
    patient = next(iter(PopulationGenerator(PopulationConfig(seed=settings.seed, patients=settings.patients)).patients()))
    try:
        bay = insert_cards(settings, [f"cps:{professional['id_nat']}@0", f"vitale:{patient['ins']['nir']}@1"])
    except (OSError, ValueError, LookupError) as exc:
        click.echo(f"Virtual cards: not inserted ({exc}); install pcscd and vsmartcard-vpcd and start pcscd to get "
                   "them (see README, Virtual cards)")
        return None
    click.echo(f"Virtual cards: CPS of {professional['given']} {professional['family']} in 'Virtual PCD 00 00' "
               f"(PIN 1234), Vitale card of {patient['id']} in 'Virtual PCD 00 01'")
    return bay


def _serve(settings: Settings) -> None:
    import uvicorn

    from .app import create_app
    from .runtime import build_runtime

    click.echo("Ségur Sandbox " + version("segur-sandbox"))
    click.echo("Settings: " + ", ".join(f"{k}={v}" for k, v in settings.describe().items()))
    runtime = build_runtime(settings)
    with runtime.store.transaction(readonly=True) as tx:
        seeded = tx.workspaces.get("default") is not None and tx.patients.count("default") > 0
    if not seeded:
        click.echo(f"First start: seeding {settings.patients} patients (seed {settings.seed}) …")
        summary = runtime.populate("default")
    else:
        from .seed import describe_seeded

        summary = describe_seeded(runtime.store, "default", settings)
    _print_banner(settings, summary)
    tls = _tls_options(settings, runtime.pki) if settings.tls else {}
    if settings.workers > 1:
        import os

        from . import workers
        from .config import to_environment

        runtime.store.dispose()
        os.environ.update(to_environment(settings))  # the workers build their runtime from these
        if workers.available():  # one listening socket per worker: the kernel spreads the connections
            workers.run(settings.host, settings.port, settings.workers, {"log_level": "info", **tls})
        else:
            uvicorn.run(workers.APP, factory=True, workers=settings.workers, host=settings.host, port=settings.port,
                        log_level="info", **tls)
        return
    app = create_app(runtime, max_body_bytes=settings.max_body_bytes, cards_dir=settings.data_dir / "cards")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", **tls)


def _tls_options(settings: Settings, pki) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Server certificate and key from the test PKI, and the CA chain clients' certificates must chain to."""
    import ssl

    from .asgi_tls import tls_protocol

    folder = settings.data_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    hosts = tuple(dict.fromkeys([settings.host, "localhost", "127.0.0.1"]))
    server = pki.server(hosts)
    (folder / "server.cert.pem").write_bytes(server.cert_pem() + server.chain_pem())
    (folder / "server.key.pem").write_bytes(server.key_pem())
    (folder / "ca-chain.pem").write_bytes(pki.ca_chain_pem())
    requirement = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
    click.echo(f"TLS: server certificate {folder / 'server.cert.pem'} (trust {folder / 'ca-chain.pem'}), "
               f"client certificates {settings.tls_client_cert}")
    return {"ssl_certfile": str(folder / "server.cert.pem"), "ssl_keyfile": str(folder / "server.key.pem"),
            "ssl_ca_certs": str(folder / "ca-chain.pem"), "ssl_cert_reqs": requirement[settings.tls_client_cert],
            # uvicorn's HTTP protocol plus the ASGI TLS extension: the client certificate reaches the DMP and INSi
            "http": tls_protocol()}


def _print_banner(settings: Settings, summary) -> None:  # type: ignore[no-untyped-def]
    base = settings.base_url
    click.echo("")
    click.echo(f"Population: {summary.patients} patients, {summary.professionals} professionals, "
               f"{summary.structures} structures, {summary.documents} documents")
    click.echo("\nEndpoints (also under /w/{workspace}/… for an isolated workspace):")
    for service in ("patients", "patientsPDQ", "patientsSpecific", "habilitations", "registry", "repository"):
        click.echo(f"  DMP  {base}/si-dmp-server/v2/services/{service}")
    click.echo(f"  INSi {base}/lps   (WSDL {base}/lps?wsdl)")
    click.echo(f"  API  {base}/api   (OpenAPI {base}/openapi.json, docs {base}/docs)")
    click.echo(f"  CRL  {base}/pki/crl/fort-personnes.crl")
    ps = summary.scenario_professional
    click.echo(f"\nTest credentials: professional {ps['given']} {ps['family']} ({ps['profession']['label']}), "
               f"idNat {ps['id_nat']}, structure {ps['structure_id']}")
    click.echo(f"  certificates and keys: `segur-sandbox credentials export --out DIR` "
               f"(PEM + PKCS#12, password 1234); CA chain in {settings.data_dir / 'pki'}")
    click.echo("  scenario patients for that professional (INS, OID 1.2.250.1.213.1.4.10):")
    for label, ins, patient_id in summary.scenarios:
        click.echo(f"    {ins}  {patient_id}  {label}")
    click.echo("")


@main.group(name="credentials")
def credentials_group() -> None:
    """The sandbox's test PKI material, for clients that sign without a virtual card."""


@credentials_group.command(name="export")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--seed", type=int, default=None, help="Seed of the population and the PKI [default: 1].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the PKI cache lives [default: .sandbox].")
@click.option("--professionals", type=click.IntRange(min=1), default=6, show_default=True,
              help="How many seeded professionals get their certificates exported.")
@click.option("--structures", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many seeded structures get their organisation certificates exported.")
@click.option("--negatives", is_flag=True, help="Also export expired, revoked and wrong-usage variants.")
def export_command(out: Path, seed: int | None, data_dir: Path | None, professionals: int, structures: int,
                   negatives: bool) -> None:
    """Write the CA chain, CRLs and, for seeded professionals and structures, their authentication and
    signature certificates and keys (PEM and PKCS#12, password 1234), with index.json saying whose is which."""
    from segur_sandbox.fixtures.professionals import ProfessionalDirectory

    from .pki import TestPKI

    settings = from_environment().with_overrides(seed=seed, data_dir=data_dir)
    directory = ProfessionalDirectory(settings.seed, max(professionals, 12))
    pki = TestPKI.open(settings.data_dir / "pki", settings.seed, base_url=f"{settings.base_url}/pki")
    chosen = directory.professionals[:professionals]
    structure_ids = list(dict.fromkeys(p["structure_id"] for p in chosen))[:structures]
    index = pki.export(out, chosen, [directory.structures_by_id[s] for s in structure_ids], negatives=negatives)
    click.echo(f"Wrote the test credentials of {len(chosen)} professionals and {len(structure_ids)} structures "
               f"to {out} (index: {index})")


if __name__ == "__main__":
    main()
