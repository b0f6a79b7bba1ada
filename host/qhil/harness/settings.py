"""What a bench run is: :class:`BenchSettings`, the settings ``qhil bench``'s options are
generated from, saved in the run folder and read back by ``--resume``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qhil.bench.policies import VARIANT_NAMES
from qhil.bench.timing import TimingSettings, clock_list
from qhil.common.errors import ConfigError
from qhil.common.model_dir import load_model_dir
from qhil.common.paths import writable_dir_text
from qhil.common.settings import comma_list, episode_count, non_negative_int, setting
from qhil.quant.pipeline import PTQOptions
from qhil.targets import BOARD_PROFILES, TargetSettings

__all__ = ["BenchSettings", "MatrixSettings", "noise_levels"]


def noise_levels(text: str) -> tuple[float, ...]:
    """``0.05,0.1`` -> ``(0.0, 0.05, 0.1)``: sorted, distinct, the clean level always first."""
    try:
        levels = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--noise '{text}' is not a list of numbers") from None
    if any(v < 0 or v != v for v in levels):
        raise ConfigError("noise levels must be numbers >= 0")
    return tuple(levels if 0.0 in levels else [0.0, *levels])


@dataclass(frozen=True)
class BenchSettings:
    """One bench run. Defaults are ``qhil bench``'s (and the API's and the pytest plugin's)."""

    model: str | None = setting(None, help="model folder (required unless --resume)")
    variants: tuple[str, ...] = setting(
        ("float", "device-f32", "int8"), parse=comma_list,
        help=f"comma-separated variants: {VARIANT_NAMES}")
    blob: tuple[str, ...] = setting((), repeat=True, help="a .qhil blob to run as a variant")
    episodes: int = setting(20, parse=episode_count, help="episodes per variant")
    seed: int = setting(100_000, parse=non_negative_int, help=(
        "base seed; episode i uses SEED+i (100000.. is the test split of docs/evaluation.md)"))
    noise: tuple[float, ...] = setting((0.0,), parse=noise_levels, help=(
        "observation noise levels, std relative to each feature's scale, e.g. 0,0.05,0.1"))
    out: str | None = setting(None, short="-o", parse=writable_dir_text, help=(
        "run folder (default: reports/<env>-<target>); refuses one that holds another run"))
    link_faults: str = setting("", help=(
        "damage the link on purpose, per byte, e.g. flip=1e-3,drop=1e-3,dup=0,delay=0,"
        "delay_ms=5,seed=0 (testing the bench itself)"))
    board_profile: str | None = setting(None, metavar="NAME|JSON", help=(
        "the board's power figures for device energy: a built-in profile "
        f"({', '.join(BOARD_PROFILES)}) or a JSON file (fields: name, mcu, clock_hz, vdd_v, "
        "run_ua_per_mhz, source, verified, flash_wait_table, battery_mah, battery_v); "
        "default: the target's built-in profile, if any"))
    budget: str | None = setting(None, metavar="METRIC=N,...", help=(
        "ceilings the report picks the best variant under, e.g. weight_bytes=2000,cost=30000 "
        "(metrics of qhil compare that are better lower; default: none, the best device "
        "variant)"))
    cycles: bool = setting(False, help=(
        "estimate cycles per action from a QEMU trace of one inference per device variant "
        "(QEMU targets of the M0, M3, M4, M7, M33), shown beside the instruction counts"))
    clock_sweep: tuple[float, ...] = setting((), parse=clock_list, metavar="CLOCKS", help=(
        "decide a clock: per device variant, the return with its latency in the loop at each "
        "clock (e.g. 8M,16M,24M,48M,84M,168M), searched on validation seeds with the golden "
        "executor, then the lowest clock keeping 95 %% of float with no miss and the next "
        "lower one run on the device on the test seeds (--episodes); -o is the sweep's "
        "folder (resumable)"))
    sweep_episodes: int = setting(20, parse=episode_count, help=(
        "validation episodes per clock and variant in the clock search"))
    timing: TimingSettings = setting(default_factory=TimingSettings, help=(
        "time in the loop (docs/evaluation.md#time-in-the-loop)"))
    device: TargetSettings = setting(default_factory=TargetSettings, help="target")
    ptq: PTQOptions = setting(default_factory=PTQOptions, help="calibration")

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.episodes)]

    def out_dir(self, env_id: str) -> Path:
        return Path(self.out or f"reports/{env_id}-{self.device.target}")

    def to_plan(self) -> dict[str, Any]:
        """JSON for ``run.json``, with paths made absolute (a resume may run elsewhere)."""
        data = dataclasses.asdict(self)
        data["model"] = str(Path(self.model).resolve()) if self.model else None
        data["blob"] = [str(Path(b).resolve()) for b in self.blob]
        if self.board_profile and Path(self.board_profile).is_file():
            data["board_profile"] = str(Path(self.board_profile).resolve())
        return data

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> BenchSettings:
        """The inverse of :meth:`to_plan`.

        :raises ConfigError: a plan this version cannot read
        """
        try:
            data = dict(plan)
            data["variants"] = tuple(data["variants"])
            data["blob"] = tuple(data["blob"])
            data["noise"] = tuple(float(v) for v in data["noise"])
            data["clock_sweep"] = tuple(float(v) for v in data.get("clock_sweep", ()))
            data["device"] = TargetSettings(**data["device"])
            data["timing"] = TimingSettings(**data.get("timing", {}))
            data["ptq"] = PTQOptions(**data["ptq"])
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"the saved run's settings cannot be read ({exc}); start a new "
                              "run") from None


@dataclass(frozen=True)
class MatrixSettings:
    """One matrix; a YAML file of these fields, or the options of ``qhil matrix``."""

    models: tuple[str, ...] = setting((), parse=comma_list, help="model folders, comma-separated")
    variants: tuple[str, ...] = setting(("float", "int8"), parse=comma_list, help=(
        f"variants of every run: {VARIANT_NAMES}"))
    blobs: tuple[str, ...] = setting((), parse=comma_list, help=(
        "blobs of every run; a bare file name is taken from each model's folder "
        "(qat_w3.qhil), and a model without it is refused"))
    targets: tuple[str, ...] = setting(("qemu-m4",), parse=comma_list, help=(
        "targets, comma-separated (one run per model and target)"))
    noise: tuple[float, ...] = setting((0.0,), parse=noise_levels, help=(
        "observation noise levels, e.g. 0,0.05,0.1"))
    episodes: int = setting(20, parse=episode_count, help="episodes per variant")
    seed: int = setting(100_000, parse=non_negative_int, help="base seed (test split)")
    out: str = setting("reports/matrix", short="-o", parse=writable_dir_text, help=(
        "matrix folder: one run folder per model and target, and the summary"))
    ptq: PTQOptions = setting(default_factory=PTQOptions, help="calibration")

    def runs(self) -> list[BenchSettings]:
        if not self.models:
            raise ConfigError("the matrix has no models")
        runs = []
        for model in self.models:
            env_id = load_model_dir(model).env_id
            blobs = tuple(str(Path(model) / b) if Path(b).name == b and not Path(b).is_file()
                          else b for b in self.blobs)
            for target in self.targets:
                runs.append(BenchSettings(
                    model=model, variants=self.variants, blob=blobs, episodes=self.episodes,
                    seed=self.seed, noise=self.noise,
                    out=str(Path(self.out) / f"{env_id}-{target}"),
                    device=TargetSettings(target), ptq=self.ptq))
        return runs
