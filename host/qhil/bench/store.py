"""A bench run on disk: what was asked for, and every episode finished so far.

    <out>/run.json                  the plan: the settings, variants and their model ids
    <out>/episodes/<v>~<noise>~<seed>.json   one file per finished episode
    <out>/incidents.json            device incidents of episodes that did not finish

Every file is written to a temporary name and renamed, so a kill at any moment leaves
only whole files; ``qhil bench --resume <out>`` runs what is missing and nothing twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qhil.bench.results import EpisodeResult
from qhil.common.errors import ConfigError

__all__ = ["RunStore", "RUN_SCHEMA", "atomic_write"]

RUN_SCHEMA = "qhil-run/1"


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _key(variant: str, noise: float, seed: int) -> str:
    return f"{variant}~{noise:g}~{seed}"


class RunStore:
    """The run folder. Create with :meth:`create` (new run) or :meth:`open` (resume)."""

    def __init__(self, out: Path, plan: dict[str, Any]) -> None:
        self.out = out
        self.plan = plan
        self.episode_dir = out / "episodes"

    @staticmethod
    def check_free(out: Path) -> None:
        """Refuse a folder that holds another run (nothing is overwritten)."""
        if (out / "run.json").exists():
            raise ConfigError(f"'{out}' already holds a bench run: finish it with "
                              f"'qhil bench --resume {out}', or choose another -o")

    @classmethod
    def create(cls, out: Path, plan: dict[str, Any]) -> RunStore:
        """A new run; refuses a folder that holds another run (nothing is overwritten)."""
        cls.check_free(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "episodes").mkdir(exist_ok=True)
        atomic_write(out / "run.json", json.dumps({"schema": RUN_SCHEMA, **plan}, indent=2) + "\n")
        return cls(out, plan)

    @classmethod
    def open(cls, out: Path) -> RunStore:
        path = out / "run.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"'{out}' holds no bench run to resume (no run.json: a run is "
                              "saved only once every check has passed, so a refused start "
                              "left nothing); start it again with --model ... -o "
                              f"{out}") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read '{path}': {exc}") from None
        if not isinstance(data, dict) or data.pop("schema", None) != RUN_SCHEMA:
            raise ConfigError(f"'{path}' is not a {RUN_SCHEMA} run file")
        (out / "episodes").mkdir(exist_ok=True)
        return cls(out, data)

    def save_incidents(self, incidents: list[dict[str, Any]]) -> None:
        """Incidents of an episode that did not finish (the run stopped in it): kept in
        ``<out>/incidents.json`` so that the report of the resumed run still lists them."""
        if not incidents:
            return
        atomic_write(self.out / "incidents.json",
                     json.dumps(self.stopped_incidents() + incidents, indent=2) + "\n")

    def stopped_incidents(self) -> list[dict[str, Any]]:
        path = self.out / "incidents.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"'{path}' is damaged ({exc}); delete it to go on") from None
        return list(data)

    def save(self, ep: EpisodeResult) -> None:
        path = self.episode_dir / f"{_key(ep.variant, ep.noise, ep.seed)}.json"
        atomic_write(path, json.dumps(ep.to_json()) + "\n")

    def done(self) -> dict[str, EpisodeResult]:
        """Finished episodes by key; leftovers of interrupted writes are ignored."""
        found: dict[str, EpisodeResult] = {}
        for path in sorted(self.episode_dir.glob("*.json")):
            try:
                ep = EpisodeResult.from_json(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError, TypeError, KeyError) as exc:
                raise ConfigError(f"episode file '{path}' is damaged ({exc}); delete it to "
                                  "run that episode again") from None
            found[_key(ep.variant, ep.noise, ep.seed)] = ep
        return found

    @staticmethod
    def key(variant: str, noise: float, seed: int) -> str:
        return _key(variant, noise, seed)
