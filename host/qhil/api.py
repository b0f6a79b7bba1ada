"""qhil from Python: every command of the CLI as a typed function (docs/api.md).

    import qhil.api as qhil

    model = qhil.load_model("models/Pendulum-v1")
    q = qhil.quantize(model, "w4a4")
    print(qhil.evaluate(model, q, episodes=100))            # test split, paired with float
    report = qhil.bench(model, variants=["float", "int8"], blobs=[...], target="qemu-m4")
    verdict = qhil.compare(base_report, report, fail_on="return=-2%")

The functions take the same settings dataclasses the CLI options are generated from, so
a default is the same wherever it is used; heavy parts (torch, SB3, the firmware build)
load only when a function needs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qhil.bench.policies import (
    F32_TOLERANCE,
    DeviceFloat32,
    DeviceInteger,
    EpisodeContext,
    host_f32,
)
from qhil.bench.results import EpisodeResult
from qhil.bench.session import DeviceSession
from qhil.common.actor import FloatActor
from qhil.common.episode import FunctionPolicy, Policy
from qhil.common.errors import ConfigError
from qhil.common.evaluation import Comparison, EvalResult, compare_paired, evaluate_policy
from qhil.common.model_dir import ModelDir, actor_sha256, load_model_dir, save_model_dir
from qhil.common.paths import check_writable_file
from qhil.common.protocol import TEST_EPISODES, SeedRange, Split, split_seeds
from qhil.harness.distribute import RayOptions
from qhil.harness.run import BenchProgress, BenchReport, run_bench
from qhil.harness.settings import BenchSettings, MatrixSettings
from qhil.quant.blob import load_blob, relayout_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.pipeline import Calibrator, PTQOptions
from qhil.quant.policy import QuantPolicy
from qhil.quant.qmodel import QuantModel
from qhil.report.build import write_report
from qhil.report.compare import Comparison as ReportComparison
from qhil.report.compare import compare_reports, parse_gates
from qhil.targets import TARGETS, TargetInfo, TargetSettings

if TYPE_CHECKING:  # torch and SB3 load only when qat, autoquant or train is called
    from qhil.autoquant.sensitivity import SensitivityRow
    from qhil.autoquant.settings import AutoquantArgs
    from qhil.train.qat import QATResult
    from qhil.train.settings import QATArgs

__all__ = ["load_model", "save_model", "quantize", "save_blob", "load_blob", "golden_codes",
           "export_tflite",
           "doctor", "evaluate",
           "Evaluation", "bench", "compare", "load_report", "write_report", "qat", "autoquant",
           "train", "targets", "infer", "Inference", "BenchReport", "BenchSettings",
           "TargetSettings", "PTQOptions", "Split", "FunctionPolicy", "SeedRange", "matrix",
           "MatrixSettings", "RayOptions", "sweep", "sensitivity", "export_c", "flash",
           "import_policy"]

ModelLike = ModelDir | str | Path
PolicyLike = Policy | QuantModel | FloatActor | str | Path


def load_model(path: ModelLike) -> ModelDir:
    """A model folder (``actor.npz`` + ``meta.json``, docs/model-format.md)."""
    return path if isinstance(path, ModelDir) else load_model_dir(path)


def save_model(path: str | Path, actor: FloatActor, env_id: str, *, algo: str = "external",
               **meta: Any) -> ModelDir:
    """Write a model folder for a float actor trained elsewhere (``actor.npz`` + ``meta.json``,
    docs/model-format.md); ``meta`` adds fields (provenance, notes)."""
    out = Path(path)
    save_model_dir(out, actor, {"env_id": env_id, "algo": algo, **meta})
    return load_model_dir(out)


def quantize(model: ModelLike, bits: str = "int8", ptq: PTQOptions | None = None) -> QuantModel:
    """Post-training quantization at ``bits`` (``int8``, ``w4a4``, ``w=8,3,8 a=8,3,8 in=12``),
    calibrated on the fit split (``qhil quantize``)."""
    m = load_model(model)
    return Calibrator(m, ptq or PTQOptions()).quantize(parse_bits(bits, len(m.actor.weights)))


def sweep(model: ModelLike, settings: Sequence[str], *, episodes: int = TEST_EPISODES,
          split: Split = Split.TEST, ptq: PTQOptions | None = None) -> dict[str, Evaluation]:
    """``qhil sweep-bits``: each bit setting quantized (PTQ) and evaluated against float on
    the same seeds; keyed by setting."""
    m = load_model(model)
    calibrator = Calibrator(m, ptq or PTQOptions())
    configs = {text: parse_bits(text, len(m.actor.weights)) for text in settings}  # fail early
    seeds = split_seeds(split, episodes)
    float_res = evaluate_policy(m.actor, m.env_id, seeds, split)
    out = {}
    for text, bits in configs.items():
        res = evaluate_policy(QuantPolicy(calibrator.quantize(bits)), m.env_id, seeds, split)
        out[text] = Evaluation(res, float_res, compare_paired(res, float_res))
    return out


def sensitivity(model: ModelLike, *, episodes: int = 5, widths: Sequence[int] | None = None,
                in_widths: Sequence[int] | None = None,
                ptq: PTQOptions | None = None) -> list[SensitivityRow]:
    """``qhil sensitivity``: % of float (validation seeds) and action error when only one
    part (a layer's weights or activations, or the input) is quantized, per width."""
    from qhil.autoquant.sensitivity import IN_WIDTHS, WIDTHS, probes, profile

    m = load_model(model)
    todo = probes(len(m.actor.weights), tuple(widths or WIDTHS), tuple(in_widths or IN_WIDTHS))
    return profile(m, Calibrator(m, ptq or PTQOptions()), todo, episodes)


def export_c(blob: str | Path, out: str | Path, name: str = "qhil_model",
             order: str | None = None, full_blob: bool = False) -> Path:
    """``qhil export-c``: a blob as a C header, for a model compiled into flash.

    :param order: ``"dsp"`` or ``"rows"``: lay the integer weights out for that kernel
        (docs/model-format.md#layouts); None keeps the blob's layout
    :param full_blob: the whole blob (host section and metadata, for firmware that reads
        no version 4); default: the device image (docs/model-format.md#device-images)
    """
    from qhil.quant.blob import blob_layouts, device_blob, relayout_blob
    from qhil.quant.cheader import blob_to_c_header
    from qhil.quant.layout import KernelOrder

    data, model = load_blob(blob)  # a malformed blob is refused here, not compiled in
    source = Path(blob).name
    try:
        kernel_order = KernelOrder.parse(order) if order is not None else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if kernel_order is not None and not isinstance(model, QuantModel):
        raise ConfigError(f"{source} is a float32 model; --order lays out integer weights")
    if kernel_order is None and isinstance(model, QuantModel):  # the blob's own
        kernel_order = next((k for k in KernelOrder if blob_layouts(data) == [
            k.layout_for(layer.w_bits) for layer in model.layers]), None)
        if kernel_order is None and not full_blob:
            raise ConfigError(f"{source}: its weight layouts are no kernel's order; give "
                              "--order rows or dsp")
    if full_blob:
        data = relayout_blob(data, kernel_order, source) if kernel_order else data
    else:
        data = device_blob(data, kernel_order or KernelOrder.ROWS, source=source)
    path = Path(out)
    try:
        path.write_text(blob_to_c_header(data, name, source=source))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return path


def flash(target: str, upload_protocol: str | None = None, port: str | None = None) -> Path:
    """``qhil flash``: build a target's firmware and put it where the target runs it (a
    board: uploaded through ``upload_protocol``, default its board's first; an emulator:
    the build, or an upload to its GDB server at ``port``); the ELF's path."""
    from qhil.targets import target_info
    from qhil.targets.drivers import open_target

    return open_target(target_info(target)).flash(upload_protocol, port)


def doctor(target: str | TargetSettings = "qemu-m4") -> list[Any]:
    """``qhil doctor``: the first checks with a new board, in order
    (:class:`qhil.harness.doctor.Check`: ``name``, ``ok``, ``detail``, ``fix``)."""
    from qhil.harness.doctor import run_checks

    return list(run_checks(target if isinstance(target, TargetSettings) else TargetSettings(target)))


def golden_codes(model: QuantModel | str | Path, codes: Sequence[Sequence[int]] | np.ndarray
                 ) -> np.ndarray:
    """The golden executor on input codes (what a device must answer, docs/quantization.md):
    ``codes`` is ``[obs_dim]`` or ``[B, obs_dim]`` integers in ``±(2^(IN-1)-1)``; returns the
    action codes, ``[act_dim]`` or ``[B, act_dim]`` (tanh-table codes, or the last layer's
    codes for a linear output). ``model`` is a :class:`QuantModel` or a blob path.

    :raises ValueError: a code outside the input range (the device's BAD_INPUT)
    :raises ConfigError: a float32 blob (it has no golden executor: its check has a
        tolerance, docs/model-format.md)
    """
    if isinstance(model, (str, Path)):
        _, loaded = load_blob(model)
        if not isinstance(loaded, QuantModel):
            raise ConfigError(f"{model} is a float32 blob: it has no integer golden executor")
        model = loaded
    return GoldenExecutor(model).action_codes(np.asarray(codes, dtype=np.int64))


def save_blob(model: QuantModel | FloatActor, path: str | Path, env_id: str | None = None) -> Path:
    """Write a ``.qhil`` blob (docs/model-format.md); returns its path."""
    out = Path(path)
    check_writable_file(out)
    meta: dict[str, object] = {}
    if isinstance(model, FloatActor):
        meta["actor_sha256"] = actor_sha256(model)
    out.write_bytes(write_blob(model, env_id=env_id, meta=meta))
    return out


@dataclass(frozen=True)
class Evaluation:
    """A policy on held-out episodes, paired with the float actor on the same seeds."""

    result: EvalResult
    float_result: EvalResult | None
    comparison: Comparison | None
    """% of float with its 95 % paired bootstrap interval (None without a model)"""

    def __str__(self) -> str:
        text = (f"{self.result.mean:.1f} +- {self.result.std:.1f} on seeds {self.result.seeds} "
                f"({self.result.early_terminations} ended early)")
        return text + (f"; {self.comparison}" if self.comparison is not None else "")


def _policy(p: PolicyLike) -> Policy:
    if isinstance(p, (str, Path)):
        _, p = load_blob(p)
    if isinstance(p, QuantModel):
        return QuantPolicy(p)
    return p


def evaluate(model: ModelLike, policy: PolicyLike | None = None, *, episodes: int = TEST_EPISODES,
             split: Split = Split.TEST, noise: float = 0.0) -> Evaluation:
    """``qhil eval``: ``policy`` (default: the float actor) on the first ``episodes`` seeds of
    ``split``, and the float actor on the same seeds.

    :param policy: a :class:`QuantModel` (run by the golden executor), a blob path, a
        :class:`FloatActor` or anything with ``act(obs) -> action``
    :param noise: observation noise, std relative to each feature's std (``--obs-noise``)
    """
    m = load_model(model)
    seeds = split_seeds(split, episodes)
    scale = np.maximum(np.abs(m.actor.obs_std), 1e-6)
    float_res = evaluate_policy(m.actor, m.env_id, seeds, split, obs_noise=noise, obs_scale=scale)
    if policy is None:
        return Evaluation(float_res, float_res, compare_paired(float_res, float_res))
    res = evaluate_policy(_policy(policy), m.env_id, seeds, split, obs_noise=noise,
                          obs_scale=scale)
    return Evaluation(res, float_res, compare_paired(res, float_res))


def bench(model: ModelLike | None = None, *, variants: Sequence[str] = ("float", "int8"),
          blobs: Sequence[str | Path] = (), target: str | TargetSettings = "qemu-m4",
          episodes: int = 20, out: str | Path | None = None,
          settings: BenchSettings | None = None, resume: str | Path | None = None,
          progress: BenchProgress | None = None, ray: RayOptions | None = None,
          **more: Any) -> BenchReport:
    """``qhil bench``: a closed-loop run on a target; returns the report it wrote.

    The keywords build a :class:`BenchSettings` (``more`` takes its other fields: ``seed``,
    ``noise``, ``budget``, ``link_faults``, ``board_profile``, ``ptq``); or pass
    ``settings`` whole. ``resume`` finishes a stopped run in that folder; ``ray`` spreads
    the episodes over a Ray cluster as jobs (``qhil bench --ray``).

    :raises qhil.common.errors.QhilError: bad input or a device that cannot run a variant
    :raises qhil.harness.run.BenchStopped: the run stopped part-way (partial report saved)
    """
    if settings is None:
        device = target if isinstance(target, TargetSettings) else TargetSettings(target)
        path = model.path if isinstance(model, ModelDir) else model
        settings = BenchSettings(model=str(path) if path is not None else None,
                                 variants=tuple(variants), blob=tuple(str(b) for b in blobs),
                                 episodes=episodes, out=str(out) if out else None,
                                 device=device, **more)
    if ray is not None:
        from qhil.harness.distribute import run_on_ray

        return run_on_ray([settings], ray, [Path(resume) if resume else None], progress)[0]
    return run_bench(settings, resume=resume, progress=progress)


def matrix(settings: MatrixSettings | str | Path, ray: RayOptions | None = None,
           **fields: Any) -> tuple[list[BenchReport], Path]:
    """``qhil matrix``: one bench per model and target (a :class:`MatrixSettings`, or a
    matrix YAML file whose fields ``fields`` override), here or as jobs on Ray
    (``ray=RayOptions(address)``); returns the runs' reports and the summary's path."""
    from qhil.harness.matrix import load_matrix, run_matrix

    if isinstance(settings, MatrixSettings):
        chosen = dataclasses.replace(settings, **fields)
    else:
        chosen = load_matrix(Path(settings), **fields)
    return run_matrix(chosen, ray)


def load_report(path: str | Path) -> BenchReport:
    """A bench report from its run folder or ``report.json``."""
    return BenchReport.load(path)


def compare(base: BenchReport | str | Path | Sequence[BenchReport | str | Path],
            *candidates: BenchReport | str | Path, fail_on: str | None = None,
            allow_env_mismatch: bool = False) -> ReportComparison:
    """``qhil compare``: metric changes of ``candidates`` against ``base`` and the verdict of
    the gates (``fail_on``, the syntax of ``--fail-on``: ``return=-2%,cost=+5%``). Reports
    of different envs are refused unless ``allow_env_mismatch``.

    ``base`` may be several runs of the base (``--base-runs``): host-timed gates are then
    judged against the worst of them. ``result.failed`` is the gates' verdict,
    ``result.failures`` the messages per gate.
    """
    bases = list(base) if isinstance(base, Sequence) and not isinstance(base, (str, Path)) \
        else [base]
    reports = [r if isinstance(r, BenchReport) else BenchReport.load(r)
               for r in [*bases, *candidates]]
    if not candidates:
        raise ConfigError("compare needs a candidate report besides the base")
    return compare_reports([r.data for r in reports], parse_gates(fail_on), len(bases),
                           allow_env_mismatch=allow_env_mismatch)


def qat(model: ModelLike, bits: str, out: str | Path | None = None,
        args: QATArgs | None = None, ptq: PTQOptions | None = None) -> QATResult:
    """``qhil qat``: the QAT recipe at ``bits``; writes ``out`` (+ its ``.json``) if given.

    :param args: the recipe's settings, :class:`qhil.train.qat.QATArgs` (``bits`` is taken
        from the argument; with ``hidden`` set it counts the student's layers)
    """
    from qhil.train.qat import qat as _qat
    from qhil.train.qat import save_qat
    from qhil.train.settings import QATArgs

    m = load_model(model)
    base = args or QATArgs(bits=parse_bits("int8", 1))
    depth = len(base.hidden) + 1 if base.hidden else len(m.actor.weights)
    qargs = dataclasses.replace(base, bits=parse_bits(bits, depth))
    result = _qat(m, qargs, Calibrator(m, ptq or PTQOptions()))
    if out is not None:
        save_qat(result, m, qargs, Path(out))
    return result


def autoquant(model: ModelLike, budget: str, work: str | Path, *, target: str | None = None,
              args: AutoquantArgs | None = None, ptq: PTQOptions | None = None) -> dict[str, Any]:
    """``qhil autoquant``: widths under ``budget`` (``weight_bytes=1000``...), trained and
    verified; returns the summary written to ``work/autoquant.json`` (resumable).

    :param args: :class:`qhil.autoquant.AutoquantArgs` (``budget`` and ``target`` are taken
        from the arguments)
    """
    from qhil.autoquant.pipeline import autoquant as _autoquant
    from qhil.autoquant.search import parse_budget
    from qhil.autoquant.settings import AutoquantArgs

    m = load_model(model)
    aq = dataclasses.replace(args or AutoquantArgs(parse_budget(budget)),
                             budget=parse_budget(budget), target=target)
    return _autoquant(m, aq, Path(work), Calibrator(m, ptq or PTQOptions()))


def train(env_id: str, out: str | Path, **settings: Any) -> Path:
    """``qhil train``: a float baseline with stable-baselines3 (``settings``: the fields of
    :class:`qhil.train.train.Args`); returns the model folder."""
    from qhil.train.settings import Args
    from qhil.train.train import train as _train

    return _train(Args(env_id=env_id, out=Path(out), **settings), show_progress=False)


def import_policy(out: str | Path, env_id: str, **source: Any) -> ModelDir:
    """``qhil import``: a policy trained elsewhere as a model folder (``source``: the fields
    of :class:`qhil.train.settings.ImportArgs`, e.g. ``sb3="ppo.zip"``, ``onnx=...``,
    ``torch=...``, ``tflite=...``, ``vecnormalize=...``, ``env_kwargs={...}``); checked
    against the source's own actions (a .tflite: equal to TFLM's interpreter), its float
    test return measured. Returns the loaded folder (a .tflite's holds ``tflite.qhil``)."""
    from qhil.tflite.importer import import_tflite
    from qhil.train.importer import import_policy as _import
    from qhil.train.settings import ImportArgs

    paths: dict[str, Any] = {
        k: Path(v) if k in ("sb3", "onnx", "torch", "tflite", "vecnormalize") and v is not None
        else v for k, v in source.items()}
    args = ImportArgs(env_id=env_id, out=Path(out), **paths)
    run = import_tflite if args.tflite is not None else _import
    return load_model_dir(run(args, show_progress=False))


def export_tflite(model: str | Path, out: str | Path, blob: str | Path | None = None,
                  int8_io: bool = False) -> Path:
    """``qhil export --tflite``: the model folder's actor quantized as TFLite's converter
    would, written as ``out`` (.tflite) and as the same model in a qhil blob (``blob``,
    default ``out`` with .qhil); TFLM's interpreter is checked to answer as the golden
    executor does on 10,000 inputs first; ``int8_io``: int8 input and output tensors
    instead of QUANTIZE and DEQUANTIZE. Returns the .tflite path."""
    from qhil.tflite.export import export_tflite as _export

    return _export(Path(model), Path(out), Path(blob) if blob is not None else None,
                   int8_io).tflite


def targets() -> list[TargetInfo]:
    """``qhil devices``: the targets qhil can start or connect to."""
    return list(TARGETS.values())


@dataclass(frozen=True)
class Inference:
    """``qhil run``: one inference on a device, checked against the host."""

    target: str
    board: str
    input: np.ndarray
    """what was sent: the input codes (integer) or the normalized observation (float32)"""
    device_output: np.ndarray
    expected: np.ndarray
    """the golden executor's action codes, or the host's float32 output"""
    exact: bool
    """bit-exact (integer), or within 1e-4 (float32)"""
    action: np.ndarray
    cost: float
    cost_unit: str
    repeats: dict[str, float] | None = None
    """min/median/max cost over ``repeats`` inferences on the device (BENCH)"""
    cycles: dict[str, Any] | None = None
    """estimated cycles from a QEMU trace of the same inference (``cycles=True``):
    :meth:`qhil.targets.cycles.CycleEstimate.as_dict` plus ``clock_hz``, ``us`` and, with
    the board profile's flash wait states, ``cycles_with_flash`` and ``us_with_flash``"""


def infer(blob: str | Path, obs: Sequence[float] | np.ndarray, target: str | TargetSettings = "qemu-m4",
          repeats: int = 0, cycles: bool = False) -> Inference:
    """Start the target, load ``blob``, run one inference on ``obs`` (a raw observation),
    checked as in a bench; with ``repeats`` the device also repeats it and times each; with
    ``cycles`` (QEMU targets of the M0, M3, M4, M7, M33) the same request is traced and
    its cycles estimated from the core's published timings (:mod:`qhil.targets.cycles`)."""
    data, model = load_blob(blob)
    device = target if isinstance(target, TargetSettings) else TargetSettings(target)
    if cycles:
        from qhil.targets.trace import check_traceable

        check_traceable(device.target)
    x = np.asarray(obs, dtype=np.float64)
    if x.shape != (model.obs_dim,):
        raise ConfigError(f"the observation has {x.size} values, the blob expects "
                          f"{model.obs_dim}")
    if not np.isfinite(x).all():
        raise ConfigError(f"the observation holds NaN/inf at index {int(np.argmin(np.isfinite(x)))}")
    policy = (DeviceInteger.of(Path(blob).stem, model, data) if isinstance(model, QuantModel)
              else DeviceFloat32(Path(blob).stem, data))
    with device.start() as running:
        info = running.device.info
        assert info is not None
        # put there as qhil bench puts it: laid out for the device's kernel, widened or
        # compiled into flash as the settings say (which restarts the target)
        data = relayout_blob(data, info.weight_order)
        DeviceSession(running, prep=device.load_prep,
                      weights_in=device.where_weights).load(data)
        info = running.device.info
        assert info is not None
        dev = running.device
        record = EpisodeResult(policy.name, 0, 0.0)
        acting = policy.episode(EpisodeContext(model if isinstance(model, FloatActor) else None,
                                               dev, 1.0, record))
        action = acting.act(x)
        acting.finish()
        sent, got = acting.last
        if isinstance(policy, DeviceInteger):
            expected, exact = policy.golden.action_codes(sent), record.mismatch_count == 0
        else:
            assert isinstance(model, FloatActor)
            expected, exact = host_f32(model, sent), record.f32_max_error <= F32_TOLERANCE
        stats = None
        if repeats:
            lo, med, hi, _ = dev.bench(sent, repeats, float32=not isinstance(policy, DeviceInteger))
            stats = {"repeats": repeats, "min": info.cost(lo), "median": info.cost(med),
                     "max": info.cost(hi)}
        result = Inference(running.info.name, info.board, sent, got, expected, exact, action,
                           info.cost(record.cost[0]), info.cost_kind, stats)
    if cycles:
        result = dataclasses.replace(
            result, cycles=_cycles(device, data, sent))
    return result


def _cycles(device: TargetSettings, blob: bytes, sent: np.ndarray) -> dict[str, Any]:
    import tempfile

    from qhil.targets.trace import trace_inference

    with tempfile.TemporaryDirectory(prefix="qhil-trace-") as work:
        trace = trace_inference(device.target, blob, sent, Path(work), prep=device.load_prep,
                                weights_in=device.where_weights)
    return trace.summary(device.info.profile)
