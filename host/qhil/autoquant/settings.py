"""``qhil autoquant``'s settings (its options are generated from them)."""

from __future__ import annotations

from dataclasses import dataclass

from qhil.autoquant.search import Budget, parse_budget
from qhil.autoquant.sensitivity import IN_WIDTHS, WIDTHS
from qhil.common.settings import episode_count, positive_int, setting, width_list

__all__ = ["AutoquantArgs"]


@dataclass
class AutoquantArgs:
    """``qhil autoquant``'s settings (its options are generated from them)."""

    budget: Budget = setting(parse=parse_budget, metavar="METRIC=N", help=(
        "the limit the chosen widths must meet: weight_bytes=N, energy=PJ or cycles=N "
        "(cycles need --target)"))
    candidates: int = setting(3, parse=positive_int, help=(
        "configurations to train and verify"))
    probe_episodes: int = setting(5, parse=episode_count, help=(
        "validation episodes per sensitivity probe"))
    widths: tuple[int, ...] = setting(WIDTHS, parse=width_list, help=(
        "weight/activation widths to consider"))
    in_widths: tuple[int, ...] = setting(IN_WIDTHS, parse=width_list, help=(
        "input widths to consider"))
    qat_iterations: int = setting(12, flag="--iterations", parse=positive_int, help=(
        "DAgger iterations per candidate"))
    qat_grad_steps: int = setting(300, flag="--grad-steps", parse=positive_int, help=(
        "gradient steps per iteration"))
    target: str | None = setting(None, help=(
        "verify candidates (and measure cycles budgets) on this target, e.g. qemu-m4"))
    seed: int = setting(0, cli=False, help="QAT seed")
