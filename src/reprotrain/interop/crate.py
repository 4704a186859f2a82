"""A run as a Workflow Run RO-Crate (Process, Workflow and Provenance Run Crate 0.5): the
workflow and each rule as a tool, each job as an action with its inputs and outputs (sha256
and size from the manifest), the data versions, the parameters, the environment (locks,
interpreter, packages, numerics pin), the code version and the checksum verdict.

A driver-side tool built with ro-crate-py (not in the rule environment). It reads a run
only after hashing every file its manifest covers, and copies those files into the crate,
so the crate stands alone. It is made from the manifest and the source tree only, with the
date fixed (SOURCE_DATE_EPOCH, else the code's commit time): the same run gives the same
crate bytes on every machine.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from reprotrain import fileio, layout, source_tree
from reprotrain.audit import verify
from reprotrain.environment import numerics
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_file
from reprotrain.records import manifest
from reprotrain.records.types import Manifest, Provenance

PROFILES = {
    "process-run-crate": "https://w3id.org/ro/wfrun/process/0.5",
    "workflow-run-crate": "https://w3id.org/ro/wfrun/workflow/0.5",
    "provenance-run-crate": "https://w3id.org/ro/wfrun/provenance/0.5",
    "workflow-ro-crate": "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
}
WORKFLOW_RUN_TERMS = "https://w3id.org/ro/terms/workflow-run#"
_RUN_TERMS = (
    "ParameterConnection",
    "connection",
    "environment",
    "sourceParameter",
    "targetParameter",
)
CONTEXT_URL = "https://w3id.org/ro/crate/1.1/context"
# A verbatim copy of that context (CC0), exported by tools/export-rocrate-context.sh.
CONTEXT_COPY = source_tree.PACKAGE_DATA / "ro-crate-1.1-context.jsonld"
PROFILE = "provenance-run-crate-0.5"
_FORMAL_PARAMETER = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
_OUTPUT_KEYS = {output.path: output.key for output in layout.OUTPUTS}


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    inputs: set[str] = field(default_factory=set)  # covered files
    data: set[str] = field(default_factory=set)  # dataset/version names

    @property
    def id(self) -> str:
        values = "/".join(self.wildcards.values())
        return f"#job-{self.rule}" + (f"-{values}" if values else "")


def _wildcards(pattern: str, path: str) -> dict[str, str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
    found = re.fullmatch(regex, path)
    return found.groupdict() if found else {}


def _output_key(pattern: str) -> str:
    """The layout's name for an output pattern (model, card, metrics...)."""
    for path, key in _OUTPUT_KEYS.items():
        if pattern == path or pattern.endswith(f"/{path}"):
            return key
    return Path(pattern).name


def jobs_of(document: Manifest) -> list[Job]:
    """The jobs that made a manifest's covered outputs, from each output's recipe."""
    jobs: dict[tuple[str, tuple[tuple[str, str], ...]], Job] = {}
    for path, entry in sorted(document["files"].items()):
        wildcards = _wildcards(entry["pattern"], path)
        job = jobs.setdefault(
            (entry["rule"], tuple(wildcards.items())), Job(entry["rule"], wildcards)
        )
        job.outputs.append(path)
        for name, used in entry["inputs"].items():
            if used["kind"] == "output":
                job.inputs.add(name)
            elif used["kind"] == "data":
                job.data.add(f"{wildcards['dataset']}/{wildcards['version']}")
    return list(jobs.values())


def _publication_date(root: Path, commit: str | None) -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None and commit:
        try:
            epoch = subprocess.run(
                ["git", "-C", str(root), "show", "-s", "--format=%ct", commit],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            epoch = None
    moment = datetime.datetime.fromtimestamp(int(epoch or 0), tz=datetime.UTC)
    return moment.isoformat()


def _check_source(root: Path, recorded: str) -> None:
    """The crate holds the source tree as the workflow: refuse one that is not the code the
    run was made with."""
    from reprotrain.records import provenance

    actual = provenance.code_digest(root)
    if actual != recorded:
        raise ReprotrainError(
            root,
            "code",
            f"is not the code that made this run (code digest {actual[:12]}, the manifest's "
            f"{recorded[:12]})",
            "check out the commit the manifest names (provenance.code.git_commit) or give "
            "that source with --source, then make the crate again",
        )


def _typed(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    return "Text"


class _Builder:
    def __init__(self) -> None:
        from rocrate.rocrate import ROCrate

        # RO-Crate 1.1: the version the Workflow Run Crate 0.5 profiles are built on.
        self.crate = ROCrate(gen_preview=False, version="1.1")
        # The Workflow Run Crate terms, inline: a second remote context would be one more
        # fetch for every reader.
        self.crate.metadata.extra_terms.update(
            {term: f"{WORKFLOW_RUN_TERMS}{term}" for term in _RUN_TERMS}
            # schema.org's checksum term, which the RO-Crate 1.2 context maps too.
            | {"sha256": "http://schema.org/sha256"}
        )
        self.entities: dict[str, Any] = {}

    def entity(self, identifier: str, properties: dict[str, Any]) -> Any:
        from rocrate.model.contextentity import ContextEntity

        if identifier not in self.entities:
            self.entities[identifier] = self.crate.add(
                ContextEntity(self.crate, identifier, properties=properties)
            )
        return self.entities[identifier]

    def file(self, path: str, source: Path, properties: dict[str, Any]) -> Any:
        if path not in self.entities:
            self.entities[path] = self.crate.add_file(source, dest_path=path, properties=properties)
        return self.entities[path]

    def parameter(self, identifier: str, name: str, kind: str) -> Any:
        return self.entity(
            identifier,
            {
                "@type": "FormalParameter",
                "name": name,
                "additionalType": kind,
                "conformsTo": {"@id": _FORMAL_PARAMETER},
            },
        )

    def link(self, value: Any, parameter: Any) -> None:
        value.append_to("exampleOfWork", parameter)
        parameter.append_to("workExample", value)


def _data_entities(builder: _Builder, provenance: Provenance) -> dict[str, Any]:
    data = {}
    for name, record in sorted(provenance["data"].items()):
        source = record.get("source")
        if source and record["kind"] == "file" and manifest.stays_inside(source):
            location = Path(source)
            # The crate says these bytes are the registered ones: hash them first.
            if not location.is_file() or sha256_file(location) != record["sha256"]:
                raise ReprotrainError(
                    location,
                    "sha256",
                    f"is not the data the run used ({name}, sha256 {record['sha256'][:12]})",
                    "restore the registered data file, then make the crate again",
                )
            data[name] = builder.file(
                source,
                location,
                {
                    "name": f"dataset {name}",
                    "sha256": record["sha256"],
                    "contentSize": str(location.stat().st_size),
                    "encodingFormat": "text/csv",
                },
            )
        else:
            data[name] = builder.entity(
                f"#data-{name}",
                {
                    "@type": "PropertyValue",
                    "name": "dataset",
                    "value": f"{name} ({record['kind']}, {source or 'generated from its seed'})",
                },
            )
    return data


def build(
    run_manifest: str | Path,
    out: str | Path,
    source_root: str | Path,
    checksum: str | Path | None = None,
    log: str | Path | None = None,
    *,
    expected: str | Path,
    public_key: str | Path | None = None,
    strict: bool = False,
) -> Path:
    """Write the crate of a run into ``out``: a directory, or a zip when it ends in .zip
    (replaced whole; a folder only when it is new or a crate's). The run is judged
    against its record ``expected`` in this call, and refused unless it reproduces it;
    ``checksum``, the run's verdict file, is included as it is. ``log`` gets one line
    saying what the crate holds."""
    from rocrate.model.softwareapplication import SoftwareApplication

    _check_out(Path(out))
    vouched = verify.against_record(run_manifest, expected, "a crate", public_key, strict)
    document, judgement = vouched.run, vouched.judgement
    root = Path(source_root)
    provenance = document["provenance"]
    environment = provenance["environment"]
    code = provenance["code"]
    _check_source(root, code["digest"])
    builder = _Builder()
    crate = builder.crate
    crate.name = "reprotrain run"
    crate.description = (
        "A reproducible training run of the reprotrain Snakemake workflow: every covered "
        "output with its sha256, the jobs that made it, and the record it was checked against."
    )
    crate.license = "https://spdx.org/licenses/MIT"
    crate.datePublished = _publication_date(root, code.get("git_commit"))

    workflow = crate.add_workflow(
        root / "workflow/Snakefile",
        dest_path="workflow/Snakefile",
        main=True,
        lang="snakemake",
        properties={
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
            "name": "reprotrain",
            "identifier": f"sha256:{code['digest']}",
        },
    )
    if code.get("git_commit"):
        workflow["version"] = code["git_commit"]
    for relative in source_tree.matching(root, source_tree.DESCRIBED):
        if relative != "workflow/Snakefile":
            builder.file(relative, root / relative, {"name": relative})
    profiles = [
        builder.entity(
            url, {"@type": "CreativeWork", "name": name, "version": url.rsplit("/", 1)[1]}
        )
        for name, url in PROFILES.items()
    ]
    crate.root_dataset["conformsTo"] = profiles

    engine = builder.entity(
        "#snakemake",
        {"@type": "SoftwareApplication", "name": "Snakemake", "version": _version("snakemake")},
    )
    requirements = [
        builder.entity(
            f"#package-{name}",
            {"@type": "SoftwareApplication", "name": name, "version": version},
        )
        for name, version in sorted((environment.get("packages") or {}).items())
    ]
    requirements.append(
        builder.entity(
            "#python",
            {
                "@type": "SoftwareApplication",
                "name": f"Python ({environment['python']['implementation']})",
                "version": environment["python"]["version"],
            },
        )
    )
    workflow["softwareRequirements"] = requirements

    hardware = environment.get("hardware") or {}
    pin = hardware.get("pin")
    variables = []
    if pin:
        job_environment = numerics.Pin(
            hardware["machine"], pin["blas_kernel"], pin["simd"]
        ).job_environment()
        variables = [
            builder.entity(f"#env-{name}", {"@type": "PropertyValue", "name": name, "value": value})
            for name, value in sorted(job_environment.items())
        ]

    data = _data_entities(builder, provenance)
    workflow_data = builder.parameter("#workflow-in-dataset", "dataset", "File")
    for entity in data.values():
        builder.link(entity, workflow_data)
    workflow["input"] = [workflow_data]

    # Every covered output, copied, with what the manifest says of it.
    files = {}
    for path, entry in sorted(document["files"].items()):
        files[path] = builder.file(
            path,
            Path(path),
            {"sha256": entry["sha256"], "contentSize": str(entry["size"])},
        )
    manifest_file = builder.file(
        Path(run_manifest).as_posix(),
        Path(run_manifest),
        {"name": "run manifest", "encodingFormat": "application/json"},
    )

    jobs = jobs_of(document)
    tools: dict[str, Any] = {}
    steps: dict[str, Any] = {}
    produced_by: dict[str, Any] = {}  # covered path -> its tool's output parameter
    workflow_outputs = {}
    for job in jobs:
        tool = tools.get(job.rule)
        if tool is None:
            tool = tools[job.rule] = crate.add(
                SoftwareApplication(
                    crate,
                    f"#rule-{job.rule}",
                    properties={
                        "name": f"rule {job.rule}",
                        "description": f"Snakemake rule {job.rule}",
                    },
                )
            )
            steps[job.rule] = builder.entity(
                f"#step-{job.rule}",
                {
                    "@type": "HowToStep",
                    "name": job.rule,
                    "position": str(len(steps)),
                    "workExample": {"@id": tool.id},
                },
            )
        for path in job.outputs:
            key = _output_key(document["files"][path]["pattern"])
            parameter = builder.parameter(f"#{job.rule}-out-{key}", key, "File")
            if parameter not in (tool.get("output") or []):
                tool.append_to("output", parameter)
            builder.link(files[path], parameter)
            produced_by[path] = parameter
            if key not in workflow_outputs:
                workflow_outputs[key] = builder.parameter(f"#workflow-out-{key}", key, "File")
            builder.link(files[path], workflow_outputs[key])
        if job.data:
            parameter = builder.parameter(f"#{job.rule}-in-dataset", "dataset", "File")
            if parameter not in (tool.get("input") or []):
                tool.append_to("input", parameter)
            for name in job.data:
                builder.link(data[name], parameter)
    workflow["output"] = list(workflow_outputs.values())
    workflow["hasPart"] = list(tools.values())
    workflow["step"] = list(steps.values())

    connections = {}
    controls = []
    for job in jobs:
        tool = tools[job.rule]
        objects = [data[name] for name in sorted(job.data)]
        for path in sorted(job.inputs):
            key = _output_key(document["files"][path]["pattern"])
            parameter = builder.parameter(f"#{job.rule}-in-{key}", key, "File")
            if parameter not in (tool.get("input") or []):
                tool.append_to("input", parameter)
            builder.link(files[path], parameter)
            source = produced_by[path]
            connection_id = f"#connection-{source.id[1:]}-to-{job.rule}"
            if connection_id not in connections:
                connections[connection_id] = builder.entity(
                    connection_id,
                    {
                        "@type": "ParameterConnection",
                        "sourceParameter": {"@id": source.id},
                        "targetParameter": {"@id": parameter.id},
                    },
                )
            objects.append(files[path])
        objects += _job_parameters(builder, job, tool)
        action = crate.add_action(
            tool,
            identifier=job.id,
            object=objects,
            result=[files[path] for path in job.outputs],
            properties={
                "name": f"{job.rule} " + " ".join(f"{k}={v}" for k, v in job.wildcards.items()),
                "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
            },
        )
        if variables:
            action["environment"] = variables
        controls.append(
            builder.entity(
                f"#control-{job.id[1:]}",
                {
                    "@type": "ControlAction",
                    "name": f"orchestrate {action['name']}",
                    "instrument": {"@id": steps[job.rule].id},
                    "object": {"@id": action.id},
                },
            )
        )
    if connections:
        workflow["connection"] = list(connections.values())

    verdict = f"checked against the record {Path(expected).as_posix()}: {judgement.line()}"
    status = "CompletedActionStatus"
    config = builder.entity(
        "#config",
        {"@type": "PropertyValue", "name": "config digest", "value": provenance["config_digest"]},
    )
    run_objects = [*data.values(), config]
    run_results = [*files.values(), manifest_file]
    if checksum is not None and _verdict_of_this_run(checksum, run_manifest):
        run_results.append(
            builder.file(
                Path(checksum).as_posix(),
                Path(checksum),
                {"name": "checksum verdict", "encodingFormat": "application/json"},
            )
        )
    run = crate.add_action(
        workflow,
        identifier="#run",
        object=run_objects,
        result=run_results,
        properties={
            "name": "reprotrain run",
            "actionStatus": {"@id": f"http://schema.org/{status}"},
            "description": verdict,
        },
    )
    builder.entity(
        "#orchestration",
        {
            "@type": "OrganizeAction",
            "name": "Snakemake run of reprotrain",
            "instrument": {"@id": engine.id},
            "object": [{"@id": control.id} for control in controls],
            "result": {"@id": run.id},
        },
    )
    written = _write(crate, Path(out))
    if log is not None:
        fileio.atomic_write_bytes(
            log,
            f"crate of {run_manifest}: {len(files)} covered outputs, {len(jobs)} jobs, "
            f"verdict: {run['description']}; written to {written}\n".encode(),
        )
    return written


def _job_parameters(builder: _Builder, job: Job, tool: Any) -> list[Any]:
    """The values a job was run with, readable from the covered records it made."""
    values: dict[str, Any] = {}
    for path in job.outputs:
        if path.endswith("/data/data.json"):
            split = fileio.read_json(path, what="data record")["split"]
            values |= {"seed": split["seed"], "test_fraction": split["test_fraction"]}
        elif path.endswith("/model_card.json"):
            model = fileio.read_json(path, what="model card")["model"]
            values["model"] = model["type"]
            values |= {
                f"model.{name}": value
                for name, value in sorted(model["hyperparameters"].items())
                if value is None or isinstance(value, str | int | float | bool)
            }
    made = []
    for name, value in values.items():
        parameter = builder.parameter(f"#{job.rule}-param-{name}", name, _typed(value))
        if parameter not in (tool.get("input") or []):
            tool.append_to("input", parameter)
        entity = builder.entity(
            f"{job.id}-param-{name}",
            {"@type": "PropertyValue", "name": name, "value": json.dumps(value)},
        )
        builder.link(entity, parameter)
        made.append(entity)
    return made


def _verdict_of_this_run(checksum: str | Path, run_manifest: str | Path) -> bool:
    """Whether the verdict file is the checksum job's on this run manifest (it is then
    part of the crate; the crate's own check is what vouches for the run)."""
    if not Path(checksum).is_file():
        return False
    verdict = fileio.read_json(checksum, what="checksum verdict", fix="rerun the pipeline")
    if not isinstance(verdict, dict) or verdict.get("run_manifest_sha256") != sha256_file(
        run_manifest
    ):
        raise ReprotrainError(
            checksum,
            "run_manifest_sha256",
            f"is not the verdict on {run_manifest}",
            "rerun the pipeline so that the checksum job checks this run",
        )
    return True


def _check_out(out: Path) -> None:
    """A crate replaces only a crate: a new path, a crate zip, or a folder a crate made."""
    if out.suffix == ".zip":
        if out.is_symlink() or (out.exists() and not out.is_file()):
            raise ReprotrainError(out, "--out", "is not a file", "name a new .zip")
        if out.is_file() and not zipfile.is_zipfile(out):
            raise ReprotrainError(
                out, "--out", "exists and is not a zip: it may be yours", "name a new .zip"
            )
        return
    fileio.check_output_directory(out, "crate", file=str(out), field="--out")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _write(crate: Any, out: Path) -> Path:
    """A crate directory, or a zip of one when ``out`` ends in .zip; either is replaced
    whole, never left half-written. It is made in a scratch folder of TMPDIR, so a crate
    killed midway leaves nothing beside ``out``."""
    with tempfile.TemporaryDirectory(prefix="reprotrain-crate-") as scratch:
        directory = Path(scratch) / "crate"
        crate.write(directory)
        # ro-crate-py writes entities in the order they were added, indented its way:
        # normalise, so the same run gives the same bytes.
        metadata_file = directory / "ro-crate-metadata.json"
        document = fileio.read_json(metadata_file, what="crate metadata")
        document["@graph"].sort(
            key=lambda entity: (entity["@id"] != "ro-crate-metadata.json", entity["@id"])
        )
        fileio.atomic_write_bytes(
            metadata_file, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        )
        if out.suffix == ".zip":
            made = Path(scratch) / "crate.zip"
            _zip(directory, made)
            fileio.atomic_write_bytes(out, made.read_bytes())
            return out
        fileio.mark_output_directory(directory, "crate")
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
        try:
            shutil.copytree(directory, staged / "crate")
            if out.is_dir():
                _check_out(out)  # still a crate's, just before it is replaced
                shutil.rmtree(out)
            (staged / "crate").replace(out)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return out


def _zip(directory: Path, out: Path) -> None:
    """A zip whose bytes depend on the files only: sorted names, one fixed date."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())


def seed_context_cache(cache_path: str | Path) -> None:
    """An HTTP cache (requests-cache, as rocrate-validator keeps it) holding the RO-Crate
    1.1 context from the packaged copy: validation then needs no network."""
    import io

    import requests
    import urllib3
    from requests_cache import CachedSession

    content = CONTEXT_COPY.read_bytes()
    session = CachedSession(cache_name=str(cache_path), backend="sqlite", expire_after=-1)
    headers = {"Content-Type": "application/ld+json"}
    response = requests.Response()
    response.status_code, response.url, response._content = 200, CONTEXT_URL, content
    response.headers.update(headers)
    response.raw = urllib3.HTTPResponse(
        body=io.BytesIO(content),
        headers=headers,
        status=200,
        preload_content=False,
        request_url=CONTEXT_URL,
    )
    response.request = session.prepare_request(
        requests.Request(
            "GET",
            CONTEXT_URL,
            headers={"Accept": "application/ld+json, application/json, */*;q=0.1"},
        )
    )
    session.cache.save_response(response)
    session.close()


def validate(crate_path: str | Path, profile: str = PROFILE) -> list[str]:
    """rocrate-validator's verdict on a crate at the REQUIRED level of ``profile`` (and
    the profiles it builds on), offline: one line per failed check, none when valid."""
    from rocrate_validator import models, services

    with tempfile.TemporaryDirectory(prefix="reprotrain-rocrate-cache-") as scratch:
        cache = Path(scratch) / "http_cache"
        seed_context_cache(cache)
        settings = models.ValidationSettings(
            rocrate_uri=str(Path(crate_path).resolve()),
            profile_identifier=profile,
            requirement_severity=models.Severity.REQUIRED,
            offline=True,
            cache_path=cache,
        )
        result = services.validate(settings)
        return sorted(f"{issue.check.identifier}: {issue.message}" for issue in result.get_issues())
