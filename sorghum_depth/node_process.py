# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Start ``depth_node`` as a separate process on a private DDS domain (demo, benchmarks, tests).

ROS-free: only the environment, a parameters YAML and ``subprocess``.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import yaml


def private_domain_id(slot: int = 0, process_index: int | None = None) -> int:
    """
    Return a DDS domain id for this process and ``slot`` (0-9), within 1-100.

    ROS 2 allows domain ids 0-101 with the default ports on Linux (higher ones collide
    with other domains' ports or do not exist); 0, the default, is left to real robots.
    The tens digit is ``process_index`` (mod 10) when given, else the process id's last
    digit: processes whose digits differ never share a domain.
    """
    if not 0 <= slot <= 9:
        raise ValueError(f'slot {slot} is not in 0-9')
    index = os.getpid() if process_index is None else process_index
    return 1 + 10 * (index % 10) + slot


def private_ros_env(domain_id: int) -> dict:
    """Return this environment on DDS domain ``domain_id``, discovery on localhost only."""
    return {**os.environ, 'ROS_DOMAIN_ID': str(domain_id),
            'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'PYTHONUNBUFFERED': '1'}


def node_executable() -> str:
    """Return the path of the installed ``depth_node`` console script."""
    return shutil.which('depth_node') or str(Path(sys.executable).with_name('depth_node'))


def start_depth_node(params: dict, workdir: Path, domain_id: int,
                     remaps: dict[str, str] | None = None) -> subprocess.Popen:
    """
    Write ``workdir/params.yaml`` and start ``depth_node`` with it.

    :param params: node parameters (``model_path`` and any others).
    :param workdir: folder for ``params.yaml`` and the node's log ``node.log``.
    :param domain_id: private DDS domain.
    :param remaps: topic remappings, e.g. ``{'image': '/stereo/left/image_rect'}``.
    :returns: the running process (stdout and stderr go to ``node.log``).
    """
    params_file = Path(workdir) / 'params.yaml'
    params_file.write_text(yaml.safe_dump({'/**': {'ros__parameters': params}}))
    cmd = [node_executable(), '--ros-args', '--params-file', str(params_file)]
    for src, dst in (remaps or {}).items():
        cmd += ['-r', f'{src}:={dst}']
    log = open(Path(workdir) / 'node.log', 'w')
    return subprocess.Popen(cmd, env=private_ros_env(domain_id), stdout=log,
                            stderr=subprocess.STDOUT)
