# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Install the ROS 2 package `sorghum_depth` and its training tools.

`training/` installs as `sorghum_depth_training`: a top-level package called just
`training` would clash with other projects in site-packages or a ROS install space.
Dependencies are pinned in requirements.txt (pip) and package.xml (rosdep).
"""

from glob import glob

from setuptools import setup

PACKAGE = 'sorghum_depth'
# training/ grouped by stage: each folder is a subpackage of sorghum_depth_training.
TRAINING_STAGES = ('data', 'nets', 'objectives', 'loop', 'export', 'evaluation')

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=[PACKAGE, 'sorghum_depth_training'] + [
        f'sorghum_depth_training.{stage}' for stage in TRAINING_STAGES],
    package_dir={'sorghum_depth_training': 'training'},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        # the shipped demo model: the launch file's default when no model is given
        ('share/' + PACKAGE + '/models',
         glob('models/*.ts') + glob('models/*.onnx') + glob('models/*.json')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='sorghum_depth maintainers',
    maintainer_email='maintainers@sorghum-depth.invalid',
    description='Self-supervised monocular depth for field stereo rigs, with a ROS 2 node.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depth_node = sorghum_depth.depth_node:main',
            'sorghum-depth-replay = sorghum_depth.bag_replay:main',
            'sorghum-depth-quickstart = sorghum_depth_training.loop.quickstart:main',
            'sorghum-depth-train = sorghum_depth_training.loop.train:main',
            'sorghum-depth-export = sorghum_depth_training.export.main:main',
            'sorghum-depth-extract = sorghum_depth_training.data.extract:main',
            'sorghum-depth-import = sorghum_depth_training.data.folder_import:main',
            'sorghum-depth-synth = sorghum_depth_training.data.synthetic:main',
            'sorghum-depth-hints = sorghum_depth_training.data.hints:main',
            'sorghum-depth-evaluate = sorghum_depth_training.evaluation.evaluate:main',
            'sorghum-depth-infer-bag = sorghum_depth.infer_bag:main',
        ],
    },
)
