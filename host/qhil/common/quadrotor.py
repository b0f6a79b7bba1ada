"""A Crazyflie 2.x quadrotor to hover, flown by four normalized motor commands at 500 Hz
(``qhil/QuadrotorHover-v0``).

The dynamics are the first-principles rigid-body model of the ``drone-models`` package
(Newton-Euler with quadratic thrust and drag-torque curves, linear body drag, propeller
gyroscopic torque and first-order rotor lag), written here in numpy with that package's
identified parameters for the Crazyflie 2.x with 250 mm propellers (``cf2x_L250``):
``tests/test_quadrotor.py`` checks every derivative against ``drone_models`` itself on
random states and commands. numpy rather than the package at run time: it pulls casadi
and scipy (~390 MB) and needs ``SCIPY_ARRAY_API=1`` set before scipy loads, for one
function of a few dozen flops; a step here takes ~10 µs and repeats exactly.

State: position and velocity (world frame, z up), attitude (quaternion xyzw, body to
world), body rates, the four rotor speeds (RPM). A control step (2 ms at the default
500 Hz) is ``frame_skip`` physics steps of 0.5 ms (qhil's ``--physics-substeps`` refines
them for the latency model, :mod:`qhil.common.timing`), each integrated semi-implicitly
(rates and velocities first), the attitude by the exact rotation of the body rates over
the step.

Action: 4 motor commands in [-1, 1], each mapped linearly to a thrust between the
motor's minimum and maximum and commanded as the RPM that gives it (the rotors then lag).
Observation (18 + 4 k): position error to the hover point (target minus position),
velocity, the rotation matrix (9, row by row), body rates, the last k actions, newest
first (``action_history``, default 1). Episodes start within 0.5 m of the hover point
with roll, pitch and yaw up to ``max_tilt_deg`` (30°), small velocities and rates,
rotors at hover speed; they last 5 s (2,500 steps at 500 Hz) and end early on a crash
(below 5 cm) or outside a 1.5 m box around the hover point. Reward per step: 1 (alive)
minus the position error (m), 0.1 x the speed, 0.02 x the body rate norm and 0.05 x the
change of action norm: a return near 2,500 is a steady hover (training may scale the
penalties down at first: :meth:`QuadrotorHover.qhil_curriculum`). The keyword arguments
(``action_history``, ``max_tilt_deg``, ``control_hz``) are the rungs of issue 31's
training ladder; a model records the ones it was trained with in its env reference.
``info["qhil_metric_sq"]`` carries the squared position error, which reports turn into
an RMS position error;
``qhil_platform_power_w`` the hover power reports set inference energy against.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["QuadrotorHover", "HoverController", "CF2X_L250", "ENV_ID"]

ENV_ID = "qhil/QuadrotorHover-v0"

#: drone-models' identified Crazyflie 2.x parameters, ``cf2x_L250`` (data/params.toml)
CF2X_L250: dict[str, Any] = {
    "mass": 0.0319, "L": 0.03253, "gravity": 9.81,
    "J": np.diag([16.8e-6, 16.8e-6, 29.8e-6]),
    "rpm2thrust": np.array([0.0, -5.382196214637237e-7, 2.4582929831265485e-10]),
    "rpm2torque": np.array([0.0, 1.410454111996297e-9, 1.4592584373980652e-12]),
    "rotor_dyn_coef": np.array([7.355623702172756, 0.0, 0.0, 0.00024443862952110715]),
    "mixing_matrix": np.array([[-1.0, -1.0, 1.0, 1.0],
                               [-1.0, 1.0, 1.0, -1.0],
                               [-1.0, 1.0, -1.0, 1.0]]),
    "drag_matrix": np.diag([-0.01471782, -0.01471782, -0.01277641]),
    "prop_inertia": 34.52e-9,
    "thrust_min": 0.012817578393224994, "thrust_max": 0.12,
}
TARGET = np.array([0.0, 0.0, 1.0])
RPM_TO_RAD = 2 * math.pi / 60


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (body to world) of a unit quaternion xyzw."""
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` of two 3-vectors, bit for bit (the same products and differences), at a
    fraction of its cost: it was 40 % of a physics step."""
    a0, a1, a2 = a
    b0, b1, b2 = b
    return np.array([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz])


def euler_to_quat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """xyzw of the rotation yaw (z), then pitch (y), then roll (x), body to world."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return np.array([sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
                     cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy])


def derivatives(quat: np.ndarray, vel: np.ndarray, ang_vel: np.ndarray, rotor: np.ndarray,
                cmd: np.ndarray, p: dict[str, Any] = CF2X_L250
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(acceleration, body angular acceleration, rotor acceleration in RPM/s) of the
    first-principles model, for rotor speeds ``rotor`` and commanded speeds ``cmd``."""
    c = p["rotor_dyn_coef"]
    up = cmd > rotor
    rotor_dot = np.where(up, c[0] * (cmd - rotor) + c[1] * (cmd ** 2 - rotor ** 2),
                         c[2] * (cmd - rotor) + c[3] * (cmd ** 2 - rotor ** 2))
    a0, a1, a2 = p["rpm2thrust"]
    forces = a0 + a1 * rotor + a2 * rotor ** 2
    t0, t1, t2 = p["rpm2torque"]
    torques = t0 + t1 * rotor + t2 * rotor ** 2
    rot = quat_to_matrix(quat)
    thrust_world = rot[:, 2] * forces.sum()
    drag = rot @ (p["drag_matrix"] @ (rot.T @ vel))
    acc = (thrust_world + drag) / p["mass"] + np.array([0.0, 0.0, -p["gravity"]])
    mix = p["mixing_matrix"]
    torque = (mix @ forces) * np.array([p["L"], p["L"], 0.0])
    torque = torque + (mix @ torques) * np.array([0.0, 0.0, 1.0])
    spin = float(mix[2] @ (rotor * RPM_TO_RAD))
    spin_dot = float(mix[2] @ (rotor_dot * RPM_TO_RAD))
    torque = torque + p["prop_inertia"] * np.array([-ang_vel[1] * spin, -ang_vel[0] * spin,
                                                    spin_dot])
    J = p["J"]
    torque = torque - cross3(ang_vel, J @ ang_vel)
    ang_acc = np.linalg.solve(J, torque)
    return acc, ang_acc, rotor_dot


def thrust_to_rpm(thrust: np.ndarray, p: dict[str, Any] = CF2X_L250) -> np.ndarray:
    """The rotor speed whose thrust is ``thrust`` (N per motor): the thrust curve inverted."""
    a0, a1, a2 = p["rpm2thrust"]
    return (-a1 + np.sqrt(a1 * a1 - 4 * a2 * (a0 - thrust))) / (2 * a2)


class HoverController:
    """A cascaded geometric PD controller (position to thrust direction, attitude to
    torque, then the mixer inverted to four motor commands): the expert ``qhil train
    --set imitate=N`` clones, and proof that the task can be flown from the observation.
    Gains place the attitude loop at ``attitude_hz`` rad/s natural frequency (damping
    0.8) on the Crazyflie's inertia; the rotor lag is left to the loop's margin."""

    YAW_TORQUE_PER_THRUST = 0.00704  # N m per N at hover speed: rpm2torque / rpm2thrust

    def __init__(self, p: dict[str, Any] = CF2X_L250, kp: float = 1.5, kd: float = 2.0,
                 attitude_wn: float = 8.0) -> None:
        self.p = p
        self.kp, self.kd = kp, kd
        jx, jz = float(p["J"][0, 0]), float(p["J"][2, 2])
        wn = attitude_wn
        self.k_att = np.array([jx * wn * wn, jx * wn * wn, jz * wn * wn / 4])
        self.k_rate = np.array([1.6 * wn * jx, 1.6 * wn * jx, 0.8 * wn * jz])
        mix = p["mixing_matrix"]
        self.wrench_to_force = np.linalg.inv(np.vstack([np.ones(4), mix]))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        p = self.p
        error, vel, rot, rates = obs[0:3], obs[3:6], obs[6:15].reshape(3, 3), obs[15:18]
        acc = self.kp * error - self.kd * vel + np.array([0.0, 0.0, p["gravity"]])
        thrust = p["mass"] * float(acc @ rot[:, 2])
        z_d = acc / np.linalg.norm(acc)
        y_d = np.cross(z_d, np.array([1.0, 0.0, 0.0]))
        y_d /= np.linalg.norm(y_d)
        rot_d = np.column_stack([np.cross(y_d, z_d), y_d, z_d])
        skew = 0.5 * (rot_d.T @ rot - rot.T @ rot_d)
        att_error = np.array([skew[2, 1], skew[0, 2], skew[1, 0]])
        torque = -self.k_att * att_error - self.k_rate * rates
        wrench = np.array([thrust, torque[0] / p["L"], torque[1] / p["L"],
                           torque[2] / self.YAW_TORQUE_PER_THRUST])
        force = self.wrench_to_force @ wrench
        span = p["thrust_max"] - p["thrust_min"]
        return np.clip(2 * (force - p["thrust_min"]) / span - 1, -1.0, 1.0)


class QuadrotorHover(gym.Env[np.ndarray, np.ndarray]):
    """Hover a Crazyflie 2.x at 1 m (module docstring)."""

    metadata = {"render_modes": []}
    PHYSICS_DT = 0.0005
    EPISODE_S = 5.0

    def __init__(self, max_tilt_deg: float = 30.0, action_history: int = 1,
                 control_hz: int = 500) -> None:
        if not 0.0 < max_tilt_deg <= 90.0:
            raise ValueError(f"max_tilt_deg must be in (0, 90], got {max_tilt_deg}")
        if not 1 <= action_history <= 64:
            raise ValueError(f"action_history must be 1..64, got {action_history}")
        if control_hz <= 0 or 2000 % control_hz:
            raise ValueError(f"control_hz must divide 2000 (0.5 ms physics steps), got "
                             f"{control_hz}")
        self.p = CF2X_L250
        self.max_tilt = math.radians(max_tilt_deg)
        self.physics_dt = self.PHYSICS_DT
        self.frame_skip = 2000 // control_hz
        self.history = action_history
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (18 + 4 * action_history,),
                                                np.float64)
        hover = self.p["mass"] * self.p["gravity"] / 4
        self.hover_rpm = float(thrust_to_rpm(np.array([hover]))[0])
        span = self.p["thrust_max"] - self.p["thrust_min"]
        self.hover_action = 2 * (hover - self.p["thrust_min"]) / span - 1
        self.penalty_scale = 1.0
        self.steps = 0
        self.pos = np.zeros(3)
        self.vel = np.zeros(3)
        self.quat = np.array([0.0, 0.0, 0.0, 1.0])
        self.ang_vel = np.zeros(3)
        self.rotor = np.zeros(4)
        self.actions = np.zeros((action_history, 4))
        self.expert = HoverController(self.p)

    @property
    def last_action(self) -> np.ndarray:
        return self.actions[0]

    def qhil_curriculum(self, progress: float) -> None:
        """Training's reward curriculum (``qhil train`` calls it as training goes,
        ``progress`` 0 to 1): the error penalties grow from a tenth to their full weight
        over the first half, so that staying up is learned first. Validation and test envs
        are never called: they keep the full reward."""
        self.penalty_scale = min(1.0, 0.1 + 1.8 * max(progress, 0.0))

    def qhil_expert(self, obs: np.ndarray) -> np.ndarray:
        """The action :class:`HoverController` takes on ``obs`` (``qhil train --set
        imitate=N`` clones it before reinforcement learning)."""
        return self.expert(obs)

    @property
    def dt(self) -> float:
        """The control period (2 ms at 500 Hz)."""
        return self.physics_dt * self.frame_skip

    @property
    def qhil_platform_power_w(self) -> float:
        """The power hovering takes: the four rotors' drag torque times their speed at
        hover (shaft power; the motors' losses come on top, so a report's share of it
        spent on inference is an upper bound). Reports set inference energy against it."""
        t0, t1, t2 = self.p["rpm2torque"]
        rpm = self.hover_rpm
        return 4 * (t0 + t1 * rpm + t2 * rpm * rpm) * rpm * RPM_TO_RAD

    def command_rpm(self, action: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        p = self.p
        thrust = p["thrust_min"] + 0.5 * (u + 1.0) * (p["thrust_max"] - p["thrust_min"])
        return thrust_to_rpm(thrust, p)

    def step_physics(self, action: np.ndarray, n: int) -> None:
        """``n`` physics steps with ``action`` commanded (qhil.common.timing splits a
        control step into two of these when an action lands late)."""
        cmd = self.command_rpm(action)
        h = self.physics_dt
        for _ in range(n):
            acc, ang_acc, rotor_dot = derivatives(self.quat, self.vel, self.ang_vel,
                                                  self.rotor, cmd, self.p)
            self.rotor = self.rotor + h * rotor_dot
            self.ang_vel = self.ang_vel + h * ang_acc
            self.vel = self.vel + h * acc
            self.pos = self.pos + h * self.vel
            rate = float(np.linalg.norm(self.ang_vel))
            if rate > 0.0:  # body rates: the attitude turns about them, exactly, for h
                half = 0.5 * rate * h
                turn = np.concatenate([self.ang_vel / rate * math.sin(half), [math.cos(half)]])
                self.quat = quat_mul(self.quat, turn)
                self.quat /= np.linalg.norm(self.quat)

    def _obs(self) -> np.ndarray:
        rot = quat_to_matrix(self.quat)
        return np.concatenate([TARGET - self.pos, self.vel, rot.ravel(), self.ang_vel,
                               self.actions.ravel()])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        rng = self.np_random
        self.pos = TARGET + rng.uniform(-0.5, 0.5, 3)
        self.pos[2] = max(self.pos[2], 0.5)
        roll, pitch, yaw = rng.uniform(-self.max_tilt, self.max_tilt, 3)
        self.quat = euler_to_quat(roll, pitch, yaw)
        self.vel = rng.uniform(-0.1, 0.1, 3)
        self.ang_vel = rng.uniform(-0.1, 0.1, 3)
        self.rotor = np.full(4, self.hover_rpm)
        self.actions = np.full((self.history, 4), self.hover_action)
        self.steps = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        self.step_physics(action, self.frame_skip)
        error = TARGET - self.pos
        dist = float(np.linalg.norm(error))
        change = float(np.linalg.norm(action - self.last_action))
        penalty = (dist + 0.1 * float(np.linalg.norm(self.vel))
                   + 0.02 * float(np.linalg.norm(self.ang_vel)) + 0.05 * change)
        reward = 1.0 - self.penalty_scale * penalty
        self.actions = np.vstack([action[None], self.actions[:-1]])
        crashed = self.pos[2] < 0.05
        outside = bool(np.any(np.abs(error) > 1.5))
        terminated = bool(crashed or outside or not np.all(np.isfinite(self.pos)))
        self.steps += 1
        truncated = self.steps * self.dt >= self.EPISODE_S - 1e-9
        return self._obs(), reward, terminated, truncated, {"qhil_metric_sq":
                                                        {"position_error_m": dist * dist}}
