# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
r"""
Launch depth_node on a robot, or against a recorded bag.

  ros2 launch sorghum_depth sorghum_depth.launch.py model:=/path/model.ts \
      image:=/stereo/left/image_rect camera_info:=/stereo/left/camera_info
  ros2 launch sorghum_depth sorghum_depth.launch.py model:=model.ts bag:=recording/ \
      image:=/stereo/left/image_raw camera_info:=/stereo/left/camera_info

With ``bag:=PATH`` it also runs ``ros2 bag play PATH --clock`` and the node uses the
bag's clock (``use_sim_time`` is then forced on). If ``ros2 bag play`` fails (rosbag2
not installed, a bad bag), the launch says what to install and shuts down; so it does
when the node exits (for example exit 2 on a bad model). With neither ``model:=`` nor a
``model_path`` in the params file, the node runs the shipped demo model installed in
``share/sorghum_depth/models`` (trained on synthetic sorghum rows: train your own): its
ONNX file when onnxruntime is installed, else its TorchScript file.
"""

import importlib.util
from pathlib import Path

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction,
                            Shutdown)
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare
import yaml

ARGUMENTS = {
    'namespace': ('', 'namespace of the node and its relative topics'),
    'params_file': (PathJoinSubstitution([FindPackageShare('sorghum_depth'), 'config',
                                          'depth_node.yaml']), 'node parameters YAML'),
    'model': ('', 'exported model.ts or model.onnx; overrides model_path of params_file when '
              'set; with neither, the shipped demo model (share/sorghum_depth/models: the '
              '.onnx when onnxruntime is installed, else the .ts)'),
    'image': ('image', 'left camera image topic (remapped to the node input image)'),
    'camera_info': ('camera_info', 'left camera_info topic (focal length for depth)'),
    'right_image': ('right/image', 'right image topic, used when right_check is true'),
    'use_sim_time': ('false', 'use /clock (forced on when bag is set)'),
    'bag': ('', 'replay this bag with `ros2 bag play --clock` alongside the node'),
    'right_check': ('', 'true/false: override right_check of params_file (subscribe '
                    "right_image, publish photometric_error); '' keeps the file's"),
    'fastdds_profile': ('', 'true: the shipped Fast DDS large-image profile (shared memory) '
                        "for the node and the bag replay; or a profile's path; '' none"),
}


def _is_true(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _node_exit(event, context):
    """Shut the launch down with the node: a node that exited is not doing its job."""
    return [LogInfo(msg=f'depth_node exited with code {event.returncode}; shutting down'),
            Shutdown(reason='depth_node exited')]


def _bag_exit(event, context):
    """On a failed ``ros2 bag play``, say what to install, then shut down."""
    if event.returncode == 0:
        return [LogInfo(msg='ros2 bag play finished')]
    return [LogInfo(msg=f'ros2 bag play failed (exit code {event.returncode}): it needs '
                    'rosbag2 (ros-<distro>-ros2bag, ros-<distro>-rosbag2-storage-mcap) and a '
                    'readable bag; without rosbag2, replay with `sorghum-depth-replay BAG` '
                    'in another terminal. Shutting down.'),
            Shutdown(reason='ros2 bag play failed')]


SHIPPED_MODEL = 'sorghum_synth_small'     # .onnx and .ts: one model, two runtimes


def _shipped_model(models_dir: str) -> str:
    """
    Return the shipped model: its ONNX file when onnxruntime and onnx import, else the .ts.

    ONNX Runtime ran the node's forward 1.3-2x faster than TorchScript on a 2-core CPU
    with half the memory (docs/runtime.md, benchmarks/results/node_backends.json).
    """
    onnx = Path(models_dir) / f'{SHIPPED_MODEL}.onnx'
    runtime = all(importlib.util.find_spec(m) is not None for m in ('onnxruntime', 'onnx'))
    if onnx.is_file() and runtime:
        return str(onnx)
    return str(Path(models_dir) / f'{SHIPPED_MODEL}.ts')


def _params_model_path(params_file: str) -> str:
    """Return the ``model_path`` a params file sets for any node ('' if none or unreadable)."""
    try:
        values = yaml.safe_load(Path(params_file).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ''       # the node itself reports a params file it cannot read
    sections = values.values() if isinstance(values, dict) else []
    for section in sections:
        params = section.get('ros__parameters', {}) if isinstance(section, dict) else {}
        if isinstance(params, dict) and params.get('model_path'):
            return str(params['model_path'])
    return ''


def _model_override(context, value: dict) -> str:
    """Return the model_path to pass: model:=, else none, else the shipped model."""
    if value['model']:
        return value['model']
    if _params_model_path(value['params_file']):
        return ''
    share = FindPackageShare('sorghum_depth').perform(context)
    return _shipped_model(f'{share}/models')


def _actions(context):
    """Build the node (and the bag replay) with the resolved arguments."""
    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    overrides = {'use_sim_time': _is_true(value['use_sim_time']) or bool(value['bag'])}
    model = _model_override(context, value)
    if model:
        overrides['model_path'] = model
    if value['right_check']:
        overrides['right_check'] = _is_true(value['right_check'])
    env = {}
    if value['fastdds_profile']:
        share = FindPackageShare('sorghum_depth').perform(context)
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = (
            f'{share}/config/fastdds_large_images.xml'
            if _is_true(value['fastdds_profile']) else value['fastdds_profile'])
    actions = [Node(
        package='sorghum_depth', executable='depth_node', name='depth_node',
        namespace=value['namespace'], output='screen', emulate_tty=True,
        parameters=[value['params_file'], overrides], on_exit=_node_exit, additional_env=env,
        remappings=[('image', value['image']), ('camera_info', value['camera_info']),
                    ('right/image', value['right_image'])])]
    if value['bag']:    # a plain string: any character in the path is safe
        actions.append(ExecuteProcess(cmd=['ros2', 'bag', 'play', value['bag'], '--clock'],
                                      name='ros2_bag_play', output='screen',
                                      additional_env=env, on_exit=_bag_exit))
    return actions


def generate_launch_description():
    """Declare the arguments, the node and the optional bag replay."""
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, (default, text) in ARGUMENTS.items()]
    return LaunchDescription(declared + [OpaqueFunction(function=_actions)])
