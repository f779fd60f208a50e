"""Pick MuJoCo's OpenGL backend on machines without a display, before ``mujoco`` is imported.

MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first imported, and defaults to GLFW, which
needs a display: ``render()`` on a headless server then fails with an OpenGL error. So
:mod:`prm_gym.envs.manipulation.env` calls :func:`choose_gl_backend` before it imports
``mujoco``: on Linux with no ``DISPLAY``/``WAYLAND_DISPLAY`` and no ``MUJOCO_GL`` set, it sets
``MUJOCO_GL`` to the first headless backend whose library is installed: ``egl`` (``libEGL``;
GPU drivers or Mesa, Debian package ``libegl1``) then ``osmesa`` (``libOSMesa``, software
rendering, package ``libosmesa6``). A ``MUJOCO_GL`` you set is never changed. If neither library
is found, or ``mujoco`` was imported before ``prm_gym`` chose, ``render()`` raises a
``RuntimeError`` that says what to set or install.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

__all__ = ["HEADLESS_BACKENDS", "choose_gl_backend", "gl_help"]

#: Headless backends in the order tried, with the library each needs.
HEADLESS_BACKENDS: tuple[tuple[str, str], ...] = (("egl", "EGL"), ("osmesa", "OSMesa"))


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def choose_gl_backend() -> str | None:
    """Set ``MUJOCO_GL`` for a headless Linux machine; return the backend set, or ``None``.

    Does nothing (returns ``None``) when ``MUJOCO_GL`` is set, a display is present, the
    platform is not Linux, ``mujoco`` is already imported (too late to choose), or no headless
    library is installed.
    """
    if os.environ.get("MUJOCO_GL") or _has_display() or not sys.platform.startswith("linux"):
        return None
    if "mujoco" in sys.modules:
        return None
    platform = os.environ.get("PYOPENGL_PLATFORM", "").lower()
    for backend, library in HEADLESS_BACKENDS:
        if platform and platform != backend:
            continue  # PyOpenGL is pinned to another platform; MuJoCo would refuse this one
        if ctypes.util.find_library(library):
            os.environ["MUJOCO_GL"] = backend
            return backend
    return None


def gl_help() -> str:
    """What to do when MuJoCo cannot create an OpenGL context (for error messages)."""
    chosen = os.environ.get("MUJOCO_GL") or "unset (GLFW: needs a display)"
    return (
        f"MuJoCo could not create an OpenGL context (MUJOCO_GL={chosen}). On a machine without "
        "a display set MUJOCO_GL=egl (GPU or Mesa EGL; Debian/Ubuntu package libegl1) or "
        "MUJOCO_GL=osmesa (software; package libosmesa6) before importing mujoco or prm_gym"
    )
