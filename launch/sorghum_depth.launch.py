# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
r"""
Launch depth_node on a robot, or against a recorded bag.

  ros2 launch sorghum_depth sorghum_depth.launch.py model:=/path/model.ts \
      image:=/stereo/left/image_rect camera_info:=/stereo/left/camera_info
  ros2 launch sorghum_depth sorghum_depth.launch.py model:=model.ts bag:=recording/ \
      image:=/stereo/left/image_raw camera_info:=/stereo/left/camera_info

With ``bag:=PATH`` it also runs ``ros2 bag play PATH --clock`` and the node uses the
bag's clock (``use_sim_time`` is then forced on).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = {
    'namespace': ('', 'namespace of the node and its relative topics'),
    'params_file': (PathJoinSubstitution([FindPackageShare('sorghum_depth'), 'config',
                                          'depth_node.yaml']), 'node parameters YAML'),
    'model': ('', 'exported model.ts; overrides model_path of params_file when set'),
    'image': ('image', 'left camera image topic (remapped to the node input image)'),
    'camera_info': ('camera_info', 'left camera_info topic (focal length for depth)'),
    'right_image': ('right/image', 'right image topic, used when right_check is true'),
    'use_sim_time': ('false', 'use /clock (forced on when bag is set)'),
    'bag': ('', 'replay this bag with `ros2 bag play --clock` alongside the node'),
}


def _is_true(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _depth_node(context):
    """Build the node with the resolved arguments (conditional model override)."""
    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    overrides = {'use_sim_time': _is_true(value['use_sim_time']) or bool(value['bag'])}
    if value['model']:
        overrides['model_path'] = value['model']
    return [Node(
        package='sorghum_depth', executable='depth_node', name='depth_node',
        namespace=value['namespace'], output='screen', emulate_tty=True,
        parameters=[value['params_file'], overrides],
        remappings=[('image', value['image']), ('camera_info', value['camera_info']),
                    ('right/image', value['right_image'])])]


def generate_launch_description():
    """Declare the arguments, the node and the optional bag replay."""
    bag = LaunchConfiguration('bag')
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, (default, text) in ARGUMENTS.items()]
    replay = ExecuteProcess(cmd=['ros2', 'bag', 'play', bag, '--clock'], output='screen',
                            condition=IfCondition(PythonExpression(["'", bag, "' != ''"])))
    return LaunchDescription(declared + [OpaqueFunction(function=_depth_node), replay])
