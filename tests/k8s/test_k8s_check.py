"""k8s/check.py: the real overlays pass, and each kind of broken manifest fails by name."""

from __future__ import annotations

import copy
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from k8scheck.accepted import load_acceptances, split_accepted
from k8scheck.build import kustomize, parse_objects
from k8scheck.findings import Finding, Obj
from k8scheck.objectcheck import check_objects
from k8scheck.schemas import strict_schema
from k8scheck.secrets import dockerfile_findings, secret_named

from tests.helpers import skip_unless_ci

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
Mutation = Callable[[list[Obj]], None]


@pytest.fixture(scope="module")
def built(kubectl: str) -> dict[str, list[Obj]]:
    return {
        name: parse_objects(kustomize(K8S / "overlays" / name), name) for name in ("local", "gpu")
    }


def find(objs: list[Obj], kind: str, name: str | None = None) -> Obj:
    return next(o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"]))


def container(objs: list[Obj], kind: str, name: str) -> Obj:
    pod: Obj = find(objs, kind, name)["spec"]["template"]["spec"]
    return pod["containers"][0]  # type: ignore[no-any-return]


def errors_of(objs: list[Obj], validators: Any) -> list[Finding]:
    """Findings that fail the run (the security findings here are not accepted)."""
    return check_objects(objs, "test", validators).findings


def test_real_overlays_pass(
    check_cli: ModuleType, crd_dir: Path, kubectl: str, capsys: Any
) -> None:
    code = check_cli.main(["--checkov", "skip", "--crd-dir", str(crd_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    for oid in ("RayCluster/rdlab/rdlab", "RayJob/rdlab/rd-frontier", "Deployment/rdlab/mlflow"):
        assert oid in out
    assert "local: " in out and "gpu: " in out and "k8s-check: OK" in out


def test_built_overlays_have_no_findings(built: dict[str, list[Obj]], validators: Any) -> None:
    for name, objs in built.items():
        assert errors_of(objs, validators) == [], name


def test_gpu_overlay_adds_a_tolerating_gpu_group(built: dict[str, list[Obj]]) -> None:
    gpu_groups = {}
    for name, objs in built.items():
        spec = find(objs, "RayCluster")["spec"]
        assert spec["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
        assert spec["authOptions"] == {"mode": "token"} and spec["enableInTreeAutoscaling"] is True
        gpu_groups[name] = [
            g
            for g in spec["workerGroupSpecs"]
            if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"]
        ]
    assert gpu_groups["local"] == []
    (group,) = gpu_groups["gpu"]
    assert group["template"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert not any(
        o["kind"] == "StatefulSet" and o["metadata"]["name"] == "minio" for o in built["gpu"]
    )


def _set(path: list[Any], value: Any, kind: str, name: str | None = None) -> Mutation:
    def mutate(objs: list[Obj]) -> None:
        node = find(objs, kind, name)
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _rename(path: list[Any], old: str, new: str, kind: str) -> Mutation:
    def mutate(objs: list[Obj]) -> None:
        node = find(objs, kind)
        for key in path:
            node = node[key]
        node[new] = node.pop(old)

    return mutate


def _env(kind: str, name: str, var: str, value: str) -> Mutation:
    return lambda objs: container(objs, kind, name)["env"].append({"name": var, "value": value})


def _args(old: str, new: str) -> Mutation:
    def mutate(objs: list[Obj]) -> None:
        args = container(objs, "Deployment", "mlflow")["args"]
        args[args.index(old)] = new

    return mutate


HEAD = ["spec", "headGroupSpec"]
WORKER = ["spec", "workerGroupSpecs", 0]
TRACKING = "http://mlflow.rdlab.svc.cluster.local:5000"


def _entrypoint(
    storage: str = "s3://rdlab-runs/runs", tracking: str = TRACKING, resume: str = "--resume auto"
) -> Mutation:
    command = f"python studies/rd_frontier.py --storage {storage} --tracking-uri {tracking}"
    return _set(["spec", "entrypoint"], f"{command} {resume}".strip(), "RayJob")


def _drop_env(group: list[Any], var: str) -> Mutation:
    def mutate(objs: list[Obj]) -> None:
        node = find(objs, "RayCluster")
        for key in group:
            node = node[key]
        ray = node["template"]["spec"]["containers"][0]
        ray["env"] = [e for e in ray["env"] if e["name"] != var]

    return mutate


MUTATIONS: dict[str, tuple[Mutation, str, str]] = {
    "misspelt RayCluster field": (
        _rename(["spec"], "workerGroupSpecs", "workerGroupSpec", "RayCluster"),
        "crd-schema",
        "'workerGroupSpec' was unexpected",
    ),
    "misspelt nested RayCluster field": (
        _rename(HEAD, "rayStartParams", "rayStartParam", "RayCluster"),
        "crd-schema",
        "'rayStartParam' was unexpected",
    ),
    "integer in rayStartParams": (
        _set([*HEAD, "rayStartParams", "num-cpus"], 0, "RayCluster"),
        "crd-schema",
        "rayStartParams.num-cpus: 0 is not of type 'string'",
    ),
    "boolean in a worker's rayStartParams": (
        _set(["spec", "workerGroupSpecs", 0, "rayStartParams"], {"block": True}, "RayCluster"),
        "crd-schema",
        "rayStartParams.block: True is not of type 'string'",
    ),
    "replicas as a word": (
        _set(["spec", "replicas"], "two", "Deployment", "mlflow"),
        "schema",
        "spec.replicas: 'two' is not of type 'integer'",
    ),
    "fractional replicas": (
        _set(["spec", "replicas"], 1.5, "Deployment", "mlflow"),
        "schema",
        "spec.replicas: 1.5 is not of type 'integer'",
    ),
    "misspelt Deployment field": (
        _rename(["spec"], "replicas", "replica", "Deployment"),
        "schema",
        "'replica' was unexpected",
    ),
    "misspelt RayJob field": (
        _rename(["spec"], "entrypoint", "entryPoint", "RayJob"),
        "crd-schema",
        "'entryPoint' was unexpected",
    ),
    "runtimeEnvYAML that does not parse": (
        _set(["spec", "runtimeEnvYAML"], "working_dir: [unclosed\n", "RayJob"),
        "runtime-env",
        "does not parse as YAML",
    ),
    "unknown runtime_env field": (
        _set(["spec", "runtimeEnvYAML"], "workin_dir: /home/ray/rdlab\n", "RayJob"),
        "runtime-env",
        "unknown runtime_env field 'workin_dir'",
    ),
    "literal password in env": (
        _env("Deployment", "mlflow", "DB_PASSWORD", "hunter2"),
        "secret",
        "env DB_PASSWORD has a literal value",
    ),
    "literal Ray token in env": (
        _env("StatefulSet", "postgres", "RAY_AUTH_TOKEN", "abc123"),
        "secret",
        "env RAY_AUTH_TOKEN has a literal value",
    ),
    "password inside the backend URI": (
        _args(
            "postgresql+psycopg://postgres:5432/mlflow",
            "postgresql+psycopg://mlflow:hunter2@postgres:5432/mlflow",
        ),
        "secret",
        "URI with a literal password",
    ),
    "Secret with data": (
        lambda objs: objs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "x", "namespace": "rdlab"},
                "stringData": {"password": "hunter2"},
            }
        ),
        "secret",
        "a Secret with data",
    ),
    "privileged container": (
        _set(
            ["spec", "template", "spec", "containers", 0, "securityContext", "privileged"],
            True,
            "Deployment",
            "mlflow",
        ),
        "RDLAB_PRIVILEGED",
        "runs privileged",
    ),
    "privilege escalation allowed on a Ray worker": (
        _set(
            [
                "spec",
                "workerGroupSpecs",
                0,
                "template",
                "spec",
                "containers",
                0,
                "securityContext",
                "allowPrivilegeEscalation",
            ],
            True,
            "RayCluster",
        ),
        "RDLAB_PRIVILEGE_ESCALATION",
        "allowPrivilegeEscalation must be false",
    ),
    "hostPath volume": (
        lambda objs: find(objs, "RayCluster")["spec"]["headGroupSpec"]["template"]["spec"][
            "volumes"
        ].append({"name": "host", "hostPath": {"path": "/"}}),
        "RDLAB_HOSTPATH",
        "is a hostPath",
    ),
    "trials allowed on the head": (
        _set([*HEAD, "rayStartParams", "num-cpus"], "2", "RayCluster"),
        "ray",
        'num-cpus: "0"',
    ),
    "tracking URI not in --allowed-hosts": (
        _entrypoint(tracking="http://mlflow.other.svc.cluster.local:5000"),
        "ray",
        "not in MLflow's --allowed-hosts",
    ),
    "storage path not mounted": (
        _entrypoint(storage="/data/runs"),
        "ray",
        "--storage /data/runs is not on a volume mounted",
    ),
    "entrypoint without --resume auto": (
        _entrypoint(resume=""),
        "ray",
        "entrypoint must pass --resume auto",
    ),
    "entrypoint with a plain --resume": (
        _entrypoint(resume="--resume"),
        "ray",
        "entrypoint must pass --resume auto",
    ),
    "storage other than ConfigMap rdlab-storage": (
        _entrypoint(storage="s3://elsewhere/runs"),
        "ray",
        "differs from ConfigMap rdlab-storage",
    ),
    "Ray worker without S3 credentials": (
        _drop_env(WORKER, "AWS_SECRET_ACCESS_KEY"),
        "ray",
        "spec.workerGroupSpecs[0]: no AWS credentials for --storage s3://rdlab-runs/runs",
    ),
    "Ray head without the MinIO endpoint": (
        _drop_env(HEAD, "AWS_ENDPOINT_URL"),
        "ray",
        "spec.headGroupSpec: no AWS_ENDPOINT_URL",
    ),
    "MinIO closed to the Ray pods": (
        lambda objs: find(objs, "NetworkPolicy", "minio-from-clients")["spec"]["ingress"][0][
            "from"
        ].pop(),
        "ray",
        "no NetworkPolicy lets the Ray pods (ray.io/cluster: rdlab) reach MinIO",
    ),
    "head with the default grace period": (
        lambda objs: find(objs, "RayCluster")["spec"]["headGroupSpec"]["template"]["spec"].pop(
            "terminationGracePeriodSeconds"
        ),
        "ray",
        "headGroupSpec.template.spec.terminationGracePeriodSeconds must be >= 60",
    ),
    "submitter with a short grace period": (
        _set(
            ["spec", "submitterPodTemplate", "spec", "terminationGracePeriodSeconds"], 30, "RayJob"
        ),
        "ray",
        "submitterPodTemplate.spec.terminationGracePeriodSeconds must be >= 60",
    ),
    "object in the default namespace": (
        _set(["metadata", "namespace"], "default", "Service", "mlflow"),
        "RDLAB_NAMESPACE",
        "namespace is default",
    ),
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_broken_manifest_fails_with_named_problem(
    case: str, built: dict[str, list[Obj]], validators: Any
) -> None:
    mutate, check, fragment = MUTATIONS[case]
    objs = copy.deepcopy(built["local"])
    mutate(objs)
    found = errors_of(objs, validators)
    assert any(f.check == check and fragment in f.message for f in found), "\n".join(
        map(str, found)
    )


def test_cli_exits_nonzero_on_a_broken_build(
    built: dict[str, list[Obj]], crd_dir: Path, tmp_path: Path
) -> None:
    objs = copy.deepcopy(built["local"])
    MUTATIONS["integer in rayStartParams"][0](objs)
    MUTATIONS["replicas as a word"][0](objs)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    cmd = [
        sys.executable,
        str(K8S / "check.py"),
        "--checkov",
        "skip",
        "--manifests",
        str(path),
        "--crd-dir",
        str(crd_dir),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "num-cpus: 0 is not of type 'string'" in proc.stdout
    assert "spec.replicas: 'two' is not of type 'integer'" in proc.stdout
    assert "k8s-check: FAILED" in proc.stdout


def test_misspelling_in_the_source_tree_fails_the_overlay_build_check(
    check_cli: ModuleType, crd_dir: Path, kubectl: str, tmp_path: Path, capsys: Any
) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("__pycache__"))
    raycluster = tree / "base" / "raycluster.yaml"
    raycluster.write_text(raycluster.read_text().replace("rayStartParams: {}", "rayStartParms: {}"))
    code = check_cli.main(
        [
            "--checkov",
            "skip",
            "--crd-dir",
            str(crd_dir),
            "--kustomize-dir",
            str(tree / "overlays" / "local"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "'rayStartParms' was unexpected" in out


def test_strict_schema_respects_preserve_unknown_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "properties": {"type": "object", "properties": {"a": {"type": "string"}}},
            "free": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"b": {"type": "string"}},
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    strict = strict_schema(schema)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["properties"]["additionalProperties"] is False
    assert "additionalProperties" not in strict["properties"]["free"]
    assert strict["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in strict["properties"]  # the name map is not a schema


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("POSTGRES_PASSWORD", True),
        ("PGPASSWORD", True),
        ("RAY_AUTH_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("access-key-id", True),
        ("secretAccessKey", True),
        ("auth_token", True),
        ("POSTGRES_PASSWORD_FILE", False),
        ("secretName", False),
        ("key", False),
        ("enableK8sTokenAuth", False),
        ("MINIO_ROOT_USER", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_named(name) is secret


def test_dockerfile_with_baked_secret_fails(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM scratch\nENV MLFLOW_TRACKING_TOKEN=abc PATH=/bin\nARG TORCH_INDEX=x\n"
    )
    (finding,) = dockerfile_findings(dockerfile)
    assert "MLFLOW_TRACKING_TOKEN" in finding.message and "line 2" in finding.message
    assert dockerfile_findings(K8S / "Dockerfile") == []


def test_acceptances_need_reasons_and_match_by_pattern(tmp_path: Path) -> None:
    path = tmp_path / "accepted.yaml"
    path.write_text("accepted:\n  - check: CKV_K8S_43\n")
    with pytest.raises(ValueError, match="reason"):
        load_acceptances(path)
    path.write_text(
        "accepted:\n  - {check: CKV_K8S_43, resource: 'Deployment/*', reason: tags are pinned}\n"
        "  - {check: CKV_K8S_99, reason: matches nothing at all}\n"
    )
    entries = load_acceptances(path)
    findings = [
        Finding("local", "Deployment/rdlab/mlflow", "CKV_K8S_43", "digest", True),
        Finding("local", "StatefulSet/rdlab/postgres", "CKV_K8S_43", "digest", True),
        Finding("local", "Deployment/rdlab/mlflow", "schema", "bad", False),
    ]
    open_, accepted, stale = split_accepted(findings, entries)
    assert [f.obj for f, _ in accepted] == ["Deployment/rdlab/mlflow"]
    assert {f.check for f in open_} == {"CKV_K8S_43", "schema"}  # schema errors never accepted
    assert [a.check for a in stale] == ["CKV_K8S_99"]


def test_checkov_flags_a_privileged_pod(
    check_cli: ModuleType, crd_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """checkov itself runs (if `make k8s-check` installed it) and its findings fail the run."""
    if not (REPO / ".venv" / "checkov" / "bin" / "checkov").exists():
        skip_unless_ci("checkov not installed yet (make k8s-check installs it into .venv/checkov)")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "rdlab"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox:1.37", "securityContext": {"privileged": True}}
            ]
        },
    }
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    code = check_cli.main(
        ["--checkov", "auto", "--manifests", str(path), "--crd-dir", str(crd_dir)]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "[CKV_K8S_16]" in out  # checkov: "Container should not be privileged"
    assert "[RDLAB_PRIVILEGED]" in out


# --------------------------------------------------------------- object storage, resuming
def ray_pods(objs: list[Obj]) -> list[tuple[str, Obj]]:
    """(group, pod spec) of the RayCluster's head and every worker group."""
    spec = find(objs, "RayCluster")["spec"]
    pods = [("head", spec["headGroupSpec"]["template"]["spec"])]
    pods += [(g["groupName"], g["template"]["spec"]) for g in spec["workerGroupSpecs"]]
    return pods


def entrypoint_flags(objs: list[Obj]) -> dict[str, str]:
    argv = shlex.split(find(objs, "RayJob")["spec"]["entrypoint"])
    return {flag: argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag.startswith("--")}


def storage_configmap(objs: list[Obj]) -> Obj:
    return next(
        o
        for o in objs
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("rdlab-storage-")
    )


def test_rayjob_resumes_a_study_in_the_object_store(built: dict[str, list[Obj]]) -> None:
    storages = {}
    for name, objs in built.items():
        flags = entrypoint_flags(objs)
        assert flags["--resume"] == "auto", name
        assert flags["--storage"].startswith("s3://"), name
        assert flags["--tracking-uri"].startswith("http"), name
        # One place: the overlay's ConfigMap, copied into the entrypoint.
        assert flags["--storage"] == storage_configmap(objs)["data"]["runs"], name
        storages[name] = flags["--storage"]
        job = find(objs, "RayJob")["spec"]
        assert job["backoffLimit"] >= 1, "a retry continues the study (--resume auto)"
    assert storages["local"] == "s3://rdlab-runs/runs"
    assert storages["gpu"] != storages["local"]  # the gpu overlay names its cloud bucket


def _secret_ref(container: Obj, var: str) -> Obj:
    env = {e["name"]: e for e in container["env"]}
    return env[var]["valueFrom"]["secretKeyRef"]  # type: ignore[no-any-return]


def test_every_ray_container_reaches_the_object_store(built: dict[str, list[Obj]]) -> None:
    for name, objs in built.items():
        for group, pod in ray_pods(objs):
            ray = pod["containers"][0]
            where = f"{name}/{group}"
            assert _secret_ref(ray, "AWS_ACCESS_KEY_ID") == {
                "name": "rdlab-s3",
                "key": "access-key-id",
            }, where
            assert _secret_ref(ray, "AWS_SECRET_ACCESS_KEY") == {
                "name": "rdlab-s3",
                "key": "secret-access-key",
            }, where
            env = {e["name"]: e.get("value") for e in ray["env"]}
            if name == "local":
                assert env["AWS_ENDPOINT_URL"] == "http://minio:9000", where
            else:
                assert "AWS_ENDPOINT_URL" not in env, where  # the cloud's own endpoint
            # No shared volume any more: the study lives in the object store.
            assert not any("persistentVolumeClaim" in v for v in pod.get("volumes", [])), where
    for name, objs in built.items():
        assert not any(o["kind"] == "PersistentVolumeClaim" for o in objs), name


def test_minio_serves_the_runs_bucket_to_the_ray_pods(built: dict[str, list[Obj]]) -> None:
    objs = built["local"]
    policy = find(objs, "NetworkPolicy", "minio-from-clients")["spec"]
    peers = [p["podSelector"]["matchLabels"] for p in policy["ingress"][0]["from"]]
    assert {"app.kubernetes.io/name": "mlflow"} in peers
    assert {"ray.io/cluster": "rdlab"} in peers

    def init_env(objs: list[Obj]) -> dict[str, Obj]:
        pod = find(objs, "Deployment", "mlflow")["spec"]["template"]["spec"]
        return {e["name"]: e for e in pod["initContainers"][0]["env"]}

    ref = init_env(objs)["RUNS_STORAGE"]["valueFrom"]["configMapKeyRef"]
    assert ref == {"name": storage_configmap(objs)["metadata"]["name"], "key": "runs"}
    assert "RUNS_STORAGE" not in init_env(built["gpu"])  # the cloud buckets exist already


def test_head_and_submitter_have_time_for_a_clean_stop(built: dict[str, list[Obj]]) -> None:
    for name, objs in built.items():
        head = ray_pods(objs)[0][1]
        submitter = find(objs, "RayJob")["spec"]["submitterPodTemplate"]["spec"]
        assert head["terminationGracePeriodSeconds"] >= 60, name
        assert submitter["terminationGracePeriodSeconds"] >= 60, name
        env = {e["name"]: e.get("value") for e in head["containers"][0]["env"]}
        # `ray job stop` / RayJob deletion wait this long before SIGKILL (Ray's default: 3 s),
        # and it must fit in the grace period with the preStop hook that waits as long.
        assert 60 <= int(env["RAY_JOB_STOP_WAIT_TIME_S"]) < head["terminationGracePeriodSeconds"]
        assert "preStop" in head["containers"][0]["lifecycle"], name


FAKE_DRIVER = """
import signal, sys, time
def stop(signum, frame):
    time.sleep(0.5)  # saving Tune's state
    print("error: the study was terminated (SIGTERM)", flush=True)
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
sys.exit(1)
"""


def test_head_prestop_hook_stops_the_drivers_and_waits(built: dict[str, list[Obj]]) -> None:
    """The hook, as built, on this machine: it sends SIGTERM to the processes that carry the
    driver mark, leaves others alone, and returns once the driver has exited. A unique mark
    replaces Ray's, so no real Ray job driver on this machine is touched."""
    head = ray_pods(built["local"])[0][1]["containers"][0]
    command = head["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    mark = "RAY_JOB_CONFIG_JSON_ENV_VAR"
    assert command[2].count(mark) == 1
    unique = f"RDLAB_TEST_DRIVER_{uuid.uuid4().hex}"
    script = command[2].replace(mark, unique)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RDLAB_TEST_DRIVER_")}
    driver = subprocess.Popen(
        [sys.executable, "-c", FAKE_DRIVER],
        env={**env, unique: "{}"},
        stdout=subprocess.PIPE,
        text=True,
    )
    bystander = subprocess.Popen(
        [sys.executable, "-c", FAKE_DRIVER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "ready"
        assert bystander.stdout is not None and bystander.stdout.readline().strip() == "ready"
        hook = subprocess.run(
            [sys.executable, "-c", script],
            env={**env, "RAY_JOB_STOP_WAIT_TIME_S": "30"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert hook.returncode == 0, hook.stderr
        assert "preStop: 1 Ray job process(es) sent SIGTERM" in hook.stdout
        # The hook returned only after the driver had finished its clean stop (a zombie
        # until reaped here counts as gone).
        assert driver.poll() == 143
        assert "terminated (SIGTERM)" in (driver.stdout.read() or "")
        assert bystander.poll() is None
    finally:
        for proc in (driver, bystander):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _ensure_bucket_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "rdlab_ensure_bucket", K8S / "base" / "ensure_bucket.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ensure_bucket_creates_the_artifact_and_runs_buckets(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import moto  # a dev dependency: its absence is a broken install, not a skip

    ensure_bucket = _ensure_bucket_module()
    for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ARTIFACTS_DESTINATION", "s3://rdlab-artifacts")
    monkeypatch.setenv("RUNS_STORAGE", "s3://rdlab-runs/runs")
    with moto.mock_aws():
        assert ensure_bucket.main() == 0
        assert ensure_bucket.main() == 0  # idempotent: the buckets exist now
        import boto3

        names = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert names == {"rdlab-artifacts", "rdlab-runs"}
    out = capsys.readouterr().out
    assert out.count("created") == 2 and out.count("exists") == 2
    assert ensure_bucket.buckets(
        {"ARTIFACTS_DESTINATION": "s3://a/x", "RUNS_STORAGE": "s3://a/y"}
    ) == ["a"]
    assert ensure_bucket.buckets({"ARTIFACTS_DESTINATION": "s3://a"}) == ["a"]
    with pytest.raises(SystemExit, match="RUNS_STORAGE must look like s3://bucket"):
        ensure_bucket.buckets({"ARTIFACTS_DESTINATION": "s3://a", "RUNS_STORAGE": "/mnt/runs"})
